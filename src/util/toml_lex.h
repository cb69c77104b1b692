/* The lexical half of the TOML parser, private to src/util/toml.c: it turns text into keys,
 * strings and scalars with positions, and reports errors as "FILE:LINE:COL: what". Tree
 * building and TOML's table rules live in toml.c. Nothing else includes this header.
 *
 * Every function reads lx->s[lx->pos..len) and advances lx->pos past what it consumed. On
 * failure it stores an error in *lx->err and returns -EINVAL. The text must have passed
 * toml_lex_check_encoding() first: the rest relies on valid UTF-8, no NUL and CR only in CRLF. */
#ifndef NC_UTIL_TOML_LEX_H
#define NC_UTIL_TOML_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/toml.h"

typedef struct toml_lexer {
    const unsigned char *s;
    size_t len, pos;
    const char *filename;
    nc_error **err;
    /* A cursor for toml_lex_locate(): byte loc_pos is at loc_line:loc_col. Positions are asked
     * for almost in text order, so moving the cursor keeps the total cost linear. */
    size_t loc_pos;
    unsigned loc_line, loc_col;
} toml_lexer;

/* The longest description toml_lex_describe() writes: "U+10FFFF" and a NUL. */
#define TOML_LEX_DESCRIBE_SIZE 12

void toml_lex_init(toml_lexer *lx, const char *text, size_t len, const char *filename,
                   nc_error **err);
/* Refuses NUL bytes, invalid UTF-8 (overlong forms, surrogates, above U+10FFFF) and a CR not
 * followed by LF. */
int toml_lex_check_encoding(toml_lexer *lx);
/* 1-based line and column (in characters) of byte pos. */
void toml_lex_locate(toml_lexer *lx, size_t pos, unsigned *line, unsigned *col);
/* Stores "FILE:LINE:COL: message" for byte pos and returns -EINVAL. */
int toml_lex_error(toml_lexer *lx, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Names what is at pos for "found X" messages: 'c', U+XXXX, "end of line" or "end of file".
 * Returns buf or a constant. */
const char *toml_lex_describe(const toml_lexer *lx, size_t pos,
                              char buf[static TOML_LEX_DESCRIBE_SIZE]);

/* Whitespace, an optional comment, then a line end (consumed) or the end of the text; anything
 * else is "unexpected X after <after>". */
int toml_lex_end_line(toml_lexer *lx, const char *after);
/* Whitespace, comments and line ends, as allowed between array elements. */
int toml_lex_skip_blank(toml_lexer *lx);

/* A basic or literal string at its opening quote; *ret is allocated (never NULL). */
int toml_lex_string(toml_lexer *lx, char **ret);
/* One part of a key: bare, or a quoted string. Consumes no whitespace. */
int toml_lex_key_part(toml_lexer *lx, char **ret);
/* A value that is not a string, array or inline table: stores TOML_BOOL (value 0 or 1) or
 * TOML_INTEGER in *ret_type and *ret_value. Floats, dates, non-decimal integers and unquoted
 * words are errors that say so. */
int toml_lex_scalar(toml_lexer *lx, toml_type *ret_type, int64_t *ret_value);

static inline bool toml_lex_is_bare(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static inline bool toml_lex_at(const toml_lexer *lx, char c)
{
    return lx->pos < lx->len && lx->s[lx->pos] == (unsigned char)c;
}

/* At a line end (CR or LF) or at the end of the text. */
static inline bool toml_lex_at_eol(const toml_lexer *lx)
{
    return lx->pos >= lx->len || lx->s[lx->pos] == '\n' || lx->s[lx->pos] == '\r';
}

static inline void toml_lex_skip_ws(toml_lexer *lx)
{
    while (lx->pos < lx->len && (lx->s[lx->pos] == ' ' || lx->s[lx->pos] == '\t'))
        lx->pos++;
}

#endif
