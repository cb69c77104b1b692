/* The TOML subset parser (see toml.h for the subset and its limits): tree building and TOML's
 * table rules. The lexical half (positions, encoding, strings, scalars) is in toml_lex.c.
 *
 * One pass over the text after a check of its encoding. Every node is attached to the tree as
 * soon as it exists, except a value being parsed, which its parser holds in a cleanup variable
 * until the caller attaches it; so an error at any point frees everything with the root.
 * Nothing here recurses except toml_free(), whose depth the key limit bounds. */
#include "util/toml.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/toml_lex.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* How a table came to exist, for TOML's redefinition rules. A table with neither flag was
 * created implicitly by a header path (`a` in `[a.b]`) and may still be defined once by `[a]`. */
enum {
    TABLE_DEFINED = 1 << 0, /* by its own header, or an element of an array of tables */
    TABLE_DOTTED = 1 << 1,  /* by a dotted key; only dotted keys of the same section extend it */
};

/* Every node is allocated as a pnode, so a toml_node * can be cast back to reach the private
 * fields. */
typedef struct pnode {
    toml_node pub;
    size_t cap; /* allocated length of pub.items (and pub.keys) */
    unsigned flags;
} pnode;

static pnode *P(toml_node *n)
{
    return (pnode *)n;
}

typedef struct parser {
    toml_lexer lx;
    size_t nnodes;
    toml_node *root;
    toml_node *cur;   /* the table that key/value lines go into */
    size_t cur_depth; /* number of header keys that lead to cur */
} parser;

/* A key as written: up to TOML_MAX_DEPTH parts (owned) and the byte position of each. */
typedef struct keypath {
    char *part[TOML_MAX_DEPTH];
    size_t pos[TOML_MAX_DEPTH];
    size_t n;
} keypath;

static void keypath_clear(keypath *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->part[i]);
    k->n = 0;
}

static int new_node(parser *p, toml_type type, size_t pos, toml_node **ret)
{
    if (p->nnodes >= TOML_MAX_VALUES)
        return toml_lex_error(&p->lx, pos, "too many values (the limit is %d)", TOML_MAX_VALUES);
    p->nnodes++;
    pnode *n = xnew0(pnode);
    n->pub.type = type;
    toml_lex_locate(&p->lx, pos, &n->pub.line, &n->pub.col);
    *ret = &n->pub;
    return 0;
}

/* Appends child (and, for a table, key) to parent, which takes ownership of both. */
static void append(toml_node *parent, char *key, toml_node *child)
{
    pnode *pp = P(parent);
    if (parent->len == pp->cap) {
        pp->cap = pp->cap ? pp->cap * 2 : 4;
        parent->items = xreallocarray(parent->items, pp->cap, sizeof(*parent->items));
        if (parent->type == TOML_TABLE)
            parent->keys = xreallocarray(parent->keys, pp->cap, sizeof(*parent->keys));
    }
    if (parent->type == TOML_TABLE)
        parent->keys[parent->len] = key;
    parent->items[parent->len++] = child;
}

static toml_node *find(toml_node *table, const char *key)
{
    for (size_t i = 0; i < table->len; i++)
        if (strcmp(table->keys[i], key) == 0)
            return table->items[i];
    return NULL;
}

/* Keys are quoted in messages up to this many bytes. */
#define KEY_SHOWN_MAX 100

/* Renders k->part[0..n) for messages: bare parts as they are, others quoted with escapes. */
static char *key_str(const keypath *k, size_t n)
{
    strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *s = (const unsigned char *)k->part[i];
        bool bare = *s != '\0';
        for (const unsigned char *c = s; *c; c++)
            bare = bare && toml_lex_is_bare(*c);
        if (i > 0)
            strbuf_addch(&sb, '.');
        if (bare) {
            strbuf_addstr(&sb, k->part[i]);
            continue;
        }
        strbuf_addch(&sb, '"');
        for (const unsigned char *c = s; *c; c++) {
            if (*c == '"' || *c == '\\')
                strbuf_addf(&sb, "\\%c", *c);
            else if (*c < 0x20 || *c == 0x7F)
                strbuf_addf(&sb, "\\u%04X", *c);
            else
                strbuf_addch(&sb, (char)*c);
        }
        strbuf_addch(&sb, '"');
    }
    /* A key can be as long as the file; keep messages readable, cut at a character boundary. */
    if (sb.len > KEY_SHOWN_MAX) {
        size_t cut = KEY_SHOWN_MAX;
        while (cut > 0 && ((unsigned char)sb.buf[cut] & 0xC0) == 0x80)
            cut--;
        strbuf_truncate(&sb, cut);
        strbuf_addstr(&sb, "...");
    }
    return strbuf_detach(&sb, NULL);
}

static const char *type_phrase(const toml_node *n)
{
    switch (n->type) {
    case TOML_STRING:
        return "a string";
    case TOML_INTEGER:
        return "an integer";
    case TOML_BOOL:
        return "a boolean";
    case TOML_ARRAY:
        return n->is_table_array ? "an array of tables" : "an array";
    case TOML_TABLE:
        return "a table";
    default:
        return "a value";
    }
}

/* The key k->part[0..n) already exists as something that cannot be used here. */
static int conflict(parser *p, const keypath *k, size_t n, const toml_node *existing)
{
    _cleanup_free_ char *name = key_str(k, n);
    return toml_lex_error(&p->lx, k->pos[n - 1], "key '%s' is already defined as %s", name,
                          type_phrase(existing));
}

/* A possibly dotted key below a table `depth` keys deep; consumes trailing whitespace. */
static int parse_key(parser *p, size_t depth, keypath *k)
{
    for (;;) {
        if (depth + k->n >= TOML_MAX_DEPTH)
            return toml_lex_error(&p->lx, p->lx.pos, "keys are nested more than %d levels deep",
                                  TOML_MAX_DEPTH);
        k->pos[k->n] = p->lx.pos;
        int r = toml_lex_key_part(&p->lx, &k->part[k->n]);
        if (r < 0)
            return r;
        k->n++;
        toml_lex_skip_ws(&p->lx);
        if (!toml_lex_at(&p->lx, '.'))
            return 0;
        p->lx.pos++;
        toml_lex_skip_ws(&p->lx);
    }
}

static int parse_scalar(parser *p, toml_node **ret)
{
    size_t start = p->lx.pos;
    toml_type type;
    int64_t v;
    int r = toml_lex_scalar(&p->lx, &type, &v);
    if (r < 0)
        return r;
    r = new_node(p, type, start, ret);
    if (r < 0)
        return r;
    if (type == TOML_BOOL)
        (*ret)->boolean = v != 0;
    else
        (*ret)->integer = v;
    return 0;
}

static int parse_string_value(parser *p, toml_node **ret)
{
    size_t start = p->lx.pos;
    _cleanup_free_ char *s = NULL;
    int r = toml_lex_string(&p->lx, &s);
    if (r < 0)
        return r;
    r = new_node(p, TOML_STRING, start, ret);
    if (r == 0)
        (*ret)->str = TAKE_PTR(s);
    return r;
}

static int parse_array(parser *p, toml_node **ret)
{
    size_t start = p->lx.pos++;
    _cleanup_toml_ toml_node *arr = NULL;
    int r = new_node(p, TOML_ARRAY, start, &arr);
    if (r < 0)
        return r;
    for (bool after_item = false;;) {
        r = toml_lex_skip_blank(&p->lx);
        if (r < 0)
            return r;
        if (p->lx.pos >= p->lx.len)
            return toml_lex_error(&p->lx, start, "unterminated array");
        if (toml_lex_at(&p->lx, ']'))
            break;
        if (after_item) {
            if (!toml_lex_at(&p->lx, ',')) {
                char buf[TOML_LEX_DESCRIBE_SIZE];
                return toml_lex_error(&p->lx, p->lx.pos, "expected ',' or ']' in array, found %s",
                                      toml_lex_describe(&p->lx, p->lx.pos, buf));
            }
            p->lx.pos++;
            after_item = false;
            continue;
        }
        if (toml_lex_at(&p->lx, ','))
            return toml_lex_error(&p->lx, p->lx.pos, "unexpected ',' in array");
        if (!toml_lex_at(&p->lx, '"') && !toml_lex_at(&p->lx, '\''))
            return toml_lex_error(&p->lx, p->lx.pos, "arrays may only hold strings");
        toml_node *item;
        r = parse_string_value(p, &item);
        if (r < 0)
            return r;
        append(arr, NULL, item);
        after_item = true;
    }
    p->lx.pos++;
    *ret = TAKE_PTR(arr);
    return 0;
}

static int parse_value(parser *p, toml_node **ret)
{
    if (toml_lex_at_eol(&p->lx) || toml_lex_at(&p->lx, '#'))
        return toml_lex_error(&p->lx, p->lx.pos, "missing value");
    switch (p->lx.s[p->lx.pos]) {
    case '"':
    case '\'':
        return parse_string_value(p, ret);
    case '[':
        return parse_array(p, ret);
    case '{':
        return toml_lex_error(&p->lx, p->lx.pos, "inline tables are not supported");
    default:
        return parse_scalar(p, ret);
    }
}

static int parse_keyval(parser *p)
{
    _cleanup_(keypath_clear) keypath k = {.n = 0};
    int r = parse_key(p, p->cur_depth, &k);
    if (r < 0)
        return r;
    if (!toml_lex_at(&p->lx, '=')) {
        char buf[TOML_LEX_DESCRIBE_SIZE];
        return toml_lex_error(&p->lx, p->lx.pos, "expected '=' after key, found %s",
                              toml_lex_describe(&p->lx, p->lx.pos, buf));
    }
    p->lx.pos++;
    toml_lex_skip_ws(&p->lx);

    toml_node *t = p->cur;
    for (size_t i = 0; i + 1 < k.n; i++) {
        toml_node *child = find(t, k.part[i]);
        if (!child) {
            r = new_node(p, TOML_TABLE, k.pos[i], &child);
            if (r < 0)
                return r;
            P(child)->flags = TABLE_DOTTED;
            append(t, xstrdup(k.part[i]), child);
        } else if (child->type == TOML_TABLE && !(P(child)->flags & TABLE_DOTTED)) {
            _cleanup_free_ char *name = key_str(&k, i + 1);
            return toml_lex_error(
                &p->lx, k.pos[i],
                "table '%s' is defined elsewhere and cannot be extended by dotted keys", name);
        } else if (child->type != TOML_TABLE) {
            return conflict(p, &k, i + 1, child);
        }
        t = child;
    }
    size_t last = k.n - 1;
    if (find(t, k.part[last])) {
        _cleanup_free_ char *name = key_str(&k, k.n);
        return toml_lex_error(&p->lx, k.pos[last], "duplicate key '%s'", name);
    }
    toml_node *v;
    r = parse_value(p, &v);
    if (r < 0)
        return r;
    append(t, TAKE_PTR(k.part[last]), v);
    return toml_lex_end_line(&p->lx, "value");
}

/* `[key]` or `[[key]]`, with p->lx.pos at the first '['. */
static int parse_header(parser *p)
{
    size_t start = p->lx.pos;
    bool array = p->lx.pos + 1 < p->lx.len && p->lx.s[p->lx.pos + 1] == '[';
    p->lx.pos += array ? 2 : 1;
    toml_lex_skip_ws(&p->lx);
    _cleanup_(keypath_clear) keypath k = {.n = 0};
    int r = parse_key(p, 0, &k);
    if (r < 0)
        return r;
    if (!toml_lex_at(&p->lx, ']') ||
        (array && (p->lx.pos + 1 >= p->lx.len || p->lx.s[p->lx.pos + 1] != ']'))) {
        char buf[TOML_LEX_DESCRIBE_SIZE];
        size_t at_pos = toml_lex_at(&p->lx, ']') ? p->lx.pos + 1 : p->lx.pos;
        return toml_lex_error(&p->lx, at_pos, "expected '%s' to close %s header, found %s",
                              array ? "]]" : "]", array ? "array of tables" : "table",
                              toml_lex_describe(&p->lx, at_pos, buf));
    }
    p->lx.pos += array ? 2 : 1;

    toml_node *t = p->root;
    for (size_t i = 0; i + 1 < k.n; i++) {
        toml_node *child = find(t, k.part[i]);
        if (!child) {
            r = new_node(p, TOML_TABLE, k.pos[i], &child);
            if (r < 0)
                return r;
            append(t, xstrdup(k.part[i]), child);
        } else if (child->is_table_array) {
            child = child->items[child->len - 1]; /* TOML: the most recent element */
        } else if (child->type != TOML_TABLE) {
            return conflict(p, &k, i + 1, child);
        }
        t = child;
    }
    size_t last = k.n - 1;
    toml_node *node = find(t, k.part[last]);
    if (array) {
        if (!node) {
            r = new_node(p, TOML_ARRAY, start, &node);
            if (r < 0)
                return r;
            node->is_table_array = true;
            append(t, xstrdup(k.part[last]), node);
        } else if (!node->is_table_array) {
            return conflict(p, &k, k.n, node);
        }
        toml_node *elem;
        r = new_node(p, TOML_TABLE, start, &elem);
        if (r < 0)
            return r;
        P(elem)->flags = TABLE_DEFINED;
        append(node, NULL, elem);
        node = elem;
    } else if (!node) {
        r = new_node(p, TOML_TABLE, start, &node);
        if (r < 0)
            return r;
        P(node)->flags = TABLE_DEFINED;
        append(t, xstrdup(k.part[last]), node);
    } else if (node->type != TOML_TABLE) {
        return conflict(p, &k, k.n, node);
    } else if (P(node)->flags & (TABLE_DEFINED | TABLE_DOTTED)) {
        _cleanup_free_ char *name = key_str(&k, k.n);
        return toml_lex_error(&p->lx, k.pos[last], "table '%s' is already defined%s", name,
                              P(node)->flags & TABLE_DOTTED ? " by dotted keys" : "");
    } else {
        /* Created implicitly by an earlier header path; this header defines it. */
        P(node)->flags |= TABLE_DEFINED;
        toml_lex_locate(&p->lx, start, &node->line, &node->col);
    }
    p->cur = node;
    p->cur_depth = k.n;
    return toml_lex_end_line(&p->lx, "table header");
}

int toml_parse(const char *text, size_t len, const char *filename, toml_node **ret_root,
               nc_error **err)
{
    if (!filename)
        filename = "<input>";
    if (len > TOML_MAX_FILE_SIZE)
        return nc_error_set(err, EFBIG, "%s: larger than the limit of %d bytes", filename,
                            TOML_MAX_FILE_SIZE);
    parser p = {.nnodes = 0};
    toml_lex_init(&p.lx, text, len, filename, err);
    int r = toml_lex_check_encoding(&p.lx);
    if (r < 0)
        return r;
    _cleanup_toml_ toml_node *root = &xnew0(pnode)->pub;
    root->type = TOML_TABLE;
    root->line = root->col = 1;
    P(root)->flags = TABLE_DEFINED;
    p.root = p.cur = root;

    for (;;) {
        toml_lex_skip_ws(&p.lx);
        if (p.lx.pos >= p.lx.len)
            break;
        if (toml_lex_at(&p.lx, '#') || toml_lex_at_eol(&p.lx))
            r = toml_lex_end_line(&p.lx, "comment"); /* a blank or comment line */
        else if (toml_lex_at(&p.lx, '['))
            r = parse_header(&p);
        else
            r = parse_keyval(&p);
        if (r < 0)
            return r;
    }
    *ret_root = TAKE_PTR(root);
    return 0;
}

int toml_parse_file(const char *path, toml_node **ret_root, nc_error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        return nc_error_set(err, e, "open '%s': %s", path, strerror(e));
    }
    _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
    char chunk[16384]; /* read size only; the document accumulates in sb */
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            return nc_error_set(err, e, "read '%s': %s", path, strerror(e));
        }
        if (n == 0)
            break;
        /* Checked while reading, not from st_size, so a growing file or a pipe is bounded too. */
        if (sb.len + (size_t)n > TOML_MAX_FILE_SIZE)
            return nc_error_set(err, EFBIG, "read '%s': file is larger than the limit of %d bytes",
                                path, TOML_MAX_FILE_SIZE);
        strbuf_add(&sb, chunk, (size_t)n);
    }
    return toml_parse(strbuf_str(&sb), sb.len, path, ret_root, err);
}

void toml_free(toml_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->len; i++) {
        if (n->keys)
            free(n->keys[i]);
        toml_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->str);
    free(P(n));
}

const toml_node *toml_get(const toml_node *table, const char *key)
{
    if (!table || table->type != TOML_TABLE || !key)
        return NULL;
    return find((toml_node *)table, key);
}

const char *toml_type_name(toml_type t)
{
    switch (t) {
    case TOML_STRING:
        return "string";
    case TOML_INTEGER:
        return "integer";
    case TOML_BOOL:
        return "boolean";
    case TOML_ARRAY:
        return "array";
    case TOML_TABLE:
        return "table";
    default:
        return "unknown";
    }
}
