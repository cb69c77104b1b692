/* A strict parser for the subset of TOML 1.0 that nanocell's configuration needs. Debian 12
 * packages no C TOML library, so this is ours; anything outside the subset is an error with a
 * position, never a silent misreading.
 *
 * The subset:
 * - Text: valid UTF-8 with no NUL byte, at most TOML_MAX_FILE_SIZE bytes. Lines end in LF or
 *   CRLF; a CR that is not followed by LF is an error. Whitespace is space and tab.
 * - Comments: `#` to the end of the line, on a line of their own or after a value, a table header
 *   or an array element. Control characters other than tab are not allowed in comments.
 * - Key/value pairs `key = value`, one per line. Keys are bare (`A-Za-z0-9_-`), basic-quoted
 *   ("...", with escapes) or literal-quoted ('...'), and may be dotted (`a.b.c = 1`, whitespace
 *   allowed around the dots): the parts before the last create or extend sub-tables.
 * - Table headers `[a.b]` and array-of-tables headers `[[a.b]]`. After `[[group]]`, a header
 *   `[group.sandbox]` and dotted keys refer to the last element of `group`.
 * - Values:
 *   - basic strings "..." with the escapes \b \t \n \f \r \" \\ \uXXXX \UXXXXXXXX (Unicode
 *     scalar values only; \u0000 is refused because strings are C strings);
 *   - literal strings '...' (no escapes);
 *   - decimal integers that fit in int64_t: optional sign, no leading zeros, `_` only between
 *     digits;
 *   - booleans `true` and `false`;
 *   - arrays of strings only, which may span lines and hold comments and a trailing comma.
 *   Control characters other than tab are not allowed in strings.
 * - Left out, each with its own error: multi-line strings, floats (also inf and nan), dates and
 *   times, inline tables, hexadecimal/octal/binary integers, arrays of anything but strings.
 * - TOML 1.0's rules on redefinition hold: no duplicate key, no table defined twice, a dotted
 *   key cannot extend a table defined elsewhere, a header cannot name a table made by dotted
 *   keys, `[[x]]` cannot name a table or a value, `[x]` cannot name an array of tables. Where
 *   readers disagree we take the strict side: dotted keys extend only tables that dotted keys
 *   of the same section made, so `[a.b.c]` then `[a]` then `b.x = 1` is an error here (tomllib
 *   accepts it; toml-lang/toml#846). Every document this parser accepts means the same to
 *   other TOML 1.0 readers.
 *
 * Limits, so that hostile input costs bounded memory and stack: TOML_MAX_FILE_SIZE bytes,
 * TOML_MAX_DEPTH keys on the path from the root to any value (header parts plus key parts), and
 * TOML_MAX_VALUES nodes in the tree (every value, array element and table, the root excepted).
 * The parser does not recurse; toml_free() recurses at most about 2 * TOML_MAX_DEPTH levels.
 *
 * Errors read "FILENAME:LINE:COL: what was wrong". LINE and COL are 1-based and COL counts
 * characters (Unicode code points, a tab is one). */
#ifndef NC_UTIL_TOML_H
#define NC_UTIL_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"

#define TOML_MAX_FILE_SIZE (1024 * 1024)
#define TOML_MAX_DEPTH 16
#define TOML_MAX_VALUES 10000

typedef enum toml_type { TOML_STRING, TOML_INTEGER, TOML_BOOL, TOML_ARRAY, TOML_TABLE } toml_type;

/* A parsed tree. The root (a table) owns every node, key and string below it; toml_free(root)
 * releases them all. Within a table keys are unique and in file order. */
typedef struct toml_node toml_node;
struct toml_node {
    toml_type type;
    unsigned line,
        col;         /* 1-based position of the value (for tables: of their header or first key) */
    char *str;       /* TOML_STRING: NUL-terminated, valid UTF-8, never contains NUL */
    int64_t integer; /* TOML_INTEGER */
    bool boolean;    /* TOML_BOOL */
    /* TOML_TABLE: keys[i] -> items[i], in file order. TOML_ARRAY: items[i], keys == NULL. */
    char **keys;
    toml_node **items;
    size_t len;
    bool is_table_array; /* TOML_ARRAY built from [[name]] headers: its items are tables */
};

/* Parses text[0..len) (need not be NUL-terminated). `filename` is used only in error messages.
 * On success stores the root table in *ret_root; on failure leaves *ret_root untouched and the
 * error message is "FILENAME:LINE:COL: what was wrong" (lowercase, no trailing period). Text
 * larger than TOML_MAX_FILE_SIZE is refused with EFBIG; every other failure is EINVAL. */
int toml_parse(const char *text, size_t len, const char *filename, toml_node **ret_root,
               nc_error **err);
/* Reads and parses a file; refuses files larger than TOML_MAX_FILE_SIZE (1 MiB) with EFBIG.
 * Open and read errors name the path and strerror and return -errno. */
int toml_parse_file(const char *path, toml_node **ret_root, nc_error **err);
void toml_free(toml_node *n); /* accepts NULL */
NC_DEFINE_CLEANUP(toml_node *, toml_free)
#define _cleanup_toml_ _cleanup_(toml_freep)

/* Member of a table, or NULL (also NULL when table is NULL or not a table). Borrowed from the
 * tree. */
const toml_node *toml_get(const toml_node *table, const char *key);
/* "string", "integer", "boolean", "array", "table". */
const char *toml_type_name(toml_type t);

#endif
