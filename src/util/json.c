/* The only file that includes yajl (see json.h). Parsing uses yajl's tree API after a pre-scan
 * that enforces what yajl_tree_parse does not: no embedded NUL (yajl reads up to strlen), no
 * comments (yajl_tree_parse turns them on), and a nesting bound (yajl_tree_free recurses). The
 * tree keeps strings as C strings, so a string holding an escaped NUL (\u0000) would be cut at
 * it: such a document is refused, naming where the string is (found by a second pass with
 * yajl's callbacks, which see each string with its length). */
#include "util/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "util/xalloc.h"
#include "util/banned.h"

/* nc_json is never defined: a nc_json * is a yajl_val in disguise. */
static inline yajl_val Y(const nc_json *v)
{
    return (yajl_val)(uintptr_t)v;
}

/* Sets *ret_nul_escape when a string holds the escape \u0000. */
static int prescan(const char *text, size_t len, bool *ret_nul_escape, nc_error **err)
{
    size_t depth = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '\0')
            return nc_error_set(err, EINVAL, "invalid json: NUL byte at offset %zu", i);
        if (in_string) {
            if (escaped) {
                escaped = false;
                if (c == 'u' && len - i > 4 && memcmp(text + i + 1, "0000", 4) == 0)
                    *ret_nul_escape = true;
            } else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
            break;
        case '[':
        case '{':
            if (++depth > JSON_MAX_DEPTH)
                return nc_error_set(err, EINVAL,
                                    "invalid json: nesting deeper than %d at offset %zu",
                                    JSON_MAX_DEPTH, i);
            break;
        case ']':
        case '}':
            if (depth)
                depth--;
            break;
        case '/':
            return nc_error_set(err, EINVAL, "invalid json: comment or stray '/' at offset %zu", i);
        default:
            break;
        }
    }
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts a copy of each object's key pointers and compares neighbours: O(n log n) per object, as
 * an agent's result may hold hundreds of thousands of keys. Returns a duplicated key or NULL. */
static const char *find_duplicate_key(yajl_val v)
{
    if (YAJL_IS_OBJECT(v)) {
        size_t n = v->u.object.len;
        if (n > 1) {
            _cleanup_free_ const char **keys = xreallocarray(NULL, n, sizeof(*keys));
            memcpy(keys, v->u.object.keys, n * sizeof(*keys));
            qsort(keys, n, sizeof(*keys), cmp_key);
            for (size_t i = 1; i < n; i++)
                if (strcmp(keys[i - 1], keys[i]) == 0)
                    return keys[i];
        }
        for (size_t i = 0; i < n; i++) {
            const char *d = find_duplicate_key(v->u.object.values[i]);
            if (d)
                return d;
        }
    } else if (YAJL_IS_ARRAY(v)) {
        for (size_t i = 0; i < v->u.array.len; i++) {
            const char *d = find_duplicate_key(v->u.array.values[i]);
            if (d)
                return d;
        }
    }
    return NULL;
}

/* The second pass for a document with \u0000 in it: follows the path to each value ("a.b[2]")
 * and stops at the first key or string that holds a NUL. */
#define NUL_PATH_KEY_MAX 64 /* bytes of each key quoted in the path */

struct nul_finder {
    struct {
        bool array;
        size_t index; /* the next element's, in an array */
        size_t base;  /* path length at this container */
    } frames[JSON_MAX_DEPTH + 1];
    size_t depth;
    strbuf path;
    const char *found; /* NULL, "the string" or "a key" */
};

static void nul_value_begins(struct nul_finder *f)
{
    if (!f->depth || !f->frames[f->depth - 1].array)
        return;
    strbuf_truncate(&f->path, f->frames[f->depth - 1].base);
    strbuf_addf(&f->path, "[%zu]", f->frames[f->depth - 1].index++);
}

static int nul_push(struct nul_finder *f, bool array)
{
    nul_value_begins(f);
    if (f->depth >= NC_ARRAY_SIZE(f->frames))
        return 0; /* cannot happen after prescan; stop rather than overflow */
    f->frames[f->depth].array = array;
    f->frames[f->depth].index = 0;
    f->frames[f->depth].base = f->path.len;
    f->depth++;
    return 1;
}

static int nul_pop(void *ctx)
{
    struct nul_finder *f = ctx;
    if (f->depth)
        f->depth--;
    return 1;
}

static int nul_start_map(void *ctx)
{
    return nul_push(ctx, false);
}

static int nul_start_array(void *ctx)
{
    return nul_push(ctx, true);
}

static int nul_map_key(void *ctx, const unsigned char *key, size_t len)
{
    struct nul_finder *f = ctx;
    if (!f->depth)
        return 0;
    strbuf_truncate(&f->path, f->frames[f->depth - 1].base);
    if (memchr(key, 0, len)) {
        f->found = "a key";
        return 0;
    }
    if (f->path.len)
        strbuf_addch(&f->path, '.');
    strbuf_add(&f->path, key, len < NUL_PATH_KEY_MAX ? len : NUL_PATH_KEY_MAX);
    if (len > NUL_PATH_KEY_MAX)
        strbuf_addstr(&f->path, "...");
    return 1;
}

static int nul_string(void *ctx, const unsigned char *s, size_t len)
{
    struct nul_finder *f = ctx;
    nul_value_begins(f);
    if (memchr(s, 0, len)) {
        f->found = "the string";
        return 0;
    }
    return 1;
}

static int nul_scalar(void *ctx)
{
    nul_value_begins(ctx);
    return 1;
}

static int nul_bool(void *ctx, int b)
{
    (void)b;
    return nul_scalar(ctx);
}

static int nul_number(void *ctx, const char *s, size_t len)
{
    (void)s;
    (void)len;
    return nul_scalar(ctx);
}

/* text is valid JSON that holds \u0000 somewhere: says where, as an error. */
static int refuse_nul(const char *text, size_t len, nc_error **err)
{
    static const yajl_callbacks cb = {
        .yajl_null = nul_scalar,
        .yajl_boolean = nul_bool,
        .yajl_number = nul_number,
        .yajl_string = nul_string,
        .yajl_start_map = nul_start_map,
        .yajl_map_key = nul_map_key,
        .yajl_end_map = nul_pop,
        .yajl_start_array = nul_start_array,
        .yajl_end_array = nul_pop,
    };
    struct nul_finder f = {.path = STRBUF_INIT};
    yajl_handle h = yajl_alloc(&cb, NULL, &f);
    if (!h)
        abort(); /* yajl_alloc fails only on OOM */
    if (yajl_parse(h, (const unsigned char *)text, len) == yajl_status_ok)
        yajl_complete_parse(h);
    yajl_free(h);
    int r;
    if (!f.found) /* "\\u0000" is an escaped backslash, not a NUL */
        r = 0;
    else if (f.path.len)
        r = nc_error_set(err, EINVAL, "invalid json: NUL character (\\u0000) in %s at '%s'",
                         f.found, f.path.buf);
    else
        r = nc_error_set(err, EINVAL, "invalid json: NUL character (\\u0000) in %s%s", f.found,
                         f.depth ? " at the top level" : "");
    strbuf_release(&f.path);
    return r;
}

int json_parse(const char *text, size_t len, nc_json **ret_root, nc_error **err)
{
    bool nul_escape = false;
    int r = prescan(text, len, &nul_escape, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *copy = xstrndup(text, len);
    char errbuf[256]; /* yajl's message; truncated by yajl itself to this size */
    errbuf[0] = '\0';
    yajl_val root = yajl_tree_parse(copy, errbuf, sizeof(errbuf));
    if (!root) {
        /* yajl's messages span lines and quote the input; keep the first line. */
        errbuf[strcspn(errbuf, "\n")] = '\0';
        return nc_error_set(err, EINVAL, "invalid json: %s", errbuf[0] ? errbuf : "parse error");
    }
    const char *dup = find_duplicate_key(root);
    if (dup) {
        r = nc_error_set(err, EINVAL, "invalid json: duplicate key '%s'", dup);
        yajl_tree_free(root);
        return r;
    }
    if (nul_escape && (r = refuse_nul(text, len, err)) < 0) {
        yajl_tree_free(root);
        return r;
    }
    *ret_root = (nc_json *)root;
    return 0;
}

void json_free(nc_json *root)
{
    if (root)
        yajl_tree_free(Y(root));
}

bool json_is_object(const nc_json *v)
{
    return v && YAJL_IS_OBJECT(Y(v));
}

bool json_is_array(const nc_json *v)
{
    return v && YAJL_IS_ARRAY(Y(v));
}

bool json_is_string(const nc_json *v)
{
    return v && YAJL_IS_STRING(Y(v));
}

bool json_is_number(const nc_json *v)
{
    return v && YAJL_IS_NUMBER(Y(v));
}

bool json_is_integer(const nc_json *v)
{
    return v && YAJL_IS_INTEGER(Y(v));
}

bool json_is_bool(const nc_json *v)
{
    return v && (YAJL_IS_TRUE(Y(v)) || YAJL_IS_FALSE(Y(v)));
}

bool json_is_null(const nc_json *v)
{
    return v && YAJL_IS_NULL(Y(v));
}

const nc_json *json_get(const nc_json *v, const char *key)
{
    if (!json_is_object(v))
        return NULL;
    yajl_val o = Y(v);
    for (size_t i = 0; i < o->u.object.len; i++)
        if (strcmp(o->u.object.keys[i], key) == 0)
            return (const nc_json *)o->u.object.values[i];
    return NULL;
}

const char *json_string(const nc_json *v)
{
    return json_is_string(v) ? Y(v)->u.string : NULL;
}

bool json_int(const nc_json *v, int64_t *out)
{
    if (!json_is_integer(v))
        return false;
    *out = YAJL_GET_INTEGER(Y(v));
    return true;
}

bool json_uint64(const nc_json *v, uint64_t *out)
{
    if (!json_is_number(v))
        return false;
    const char *t = Y(v)->u.number.r;
    if (!t || !*t)
        return false;
    uint64_t n = 0;
    for (; *t; t++) {
        if (*t < '0' || *t > '9')
            return false;
        unsigned d = (unsigned)(*t - '0');
        if (n > (UINT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

bool json_bool(const nc_json *v, bool *out)
{
    if (!json_is_bool(v))
        return false;
    *out = YAJL_IS_TRUE(Y(v));
    return true;
}

size_t json_array_len(const nc_json *v)
{
    return json_is_array(v) ? Y(v)->u.array.len : 0;
}

const nc_json *json_array_at(const nc_json *v, size_t i)
{
    return i < json_array_len(v) ? (const nc_json *)Y(v)->u.array.values[i] : NULL;
}

size_t json_object_len(const nc_json *v)
{
    return json_is_object(v) ? Y(v)->u.object.len : 0;
}

const char *json_object_key(const nc_json *v, size_t i)
{
    return i < json_object_len(v) ? Y(v)->u.object.keys[i] : NULL;
}

const nc_json *json_object_value(const nc_json *v, size_t i)
{
    return i < json_object_len(v) ? (const nc_json *)Y(v)->u.object.values[i] : NULL;
}

/* --- generator --- */

struct nc_jgen {
    yajl_gen gen;
    yajl_gen_status first_error; /* yajl_gen_status_ok until a call fails */
    int depth;
    bool any_value;
};

nc_jgen *jgen_new(void)
{
    nc_jgen *g = xnew0(nc_jgen);
    g->gen = yajl_gen_alloc(NULL);
    if (!g->gen)
        abort(); /* yajl_gen_alloc fails only on OOM */
    yajl_gen_config(g->gen, yajl_gen_validate_utf8, 1);
    g->first_error = yajl_gen_status_ok;
    return g;
}

void jgen_free(nc_jgen *g)
{
    if (!g)
        return;
    yajl_gen_free(g->gen);
    free(g);
}

static void note(nc_jgen *g, yajl_gen_status s)
{
    if (s != yajl_gen_status_ok && g->first_error == yajl_gen_status_ok)
        g->first_error = s;
    g->any_value = true;
}

void jgen_obj_open(nc_jgen *g)
{
    note(g, yajl_gen_map_open(g->gen));
    g->depth++;
}

void jgen_obj_close(nc_jgen *g)
{
    note(g, yajl_gen_map_close(g->gen));
    g->depth--;
}

void jgen_arr_open(nc_jgen *g)
{
    note(g, yajl_gen_array_open(g->gen));
    g->depth++;
}

void jgen_arr_close(nc_jgen *g)
{
    note(g, yajl_gen_array_close(g->gen));
    g->depth--;
}

void jgen_strn(nc_jgen *g, const char *s, size_t n)
{
    note(g, yajl_gen_string(g->gen, (const unsigned char *)s, n));
}

void jgen_str(nc_jgen *g, const char *s)
{
    jgen_strn(g, s, strlen(s));
}

void jgen_key(nc_jgen *g, const char *key)
{
    jgen_str(g, key);
}

void jgen_int(nc_jgen *g, int64_t v)
{
    note(g, yajl_gen_integer(g->gen, (long long)v));
}

void jgen_bool(nc_jgen *g, bool v)
{
    note(g, yajl_gen_bool(g->gen, v));
}

void jgen_null(nc_jgen *g)
{
    note(g, yajl_gen_null(g->gen));
}

void jgen_kv_str(nc_jgen *g, const char *key, const char *s)
{
    jgen_key(g, key);
    jgen_str(g, s);
}

void jgen_kv_strv(nc_jgen *g, const char *key, char *const *v)
{
    jgen_key(g, key);
    jgen_arr_open(g);
    for (size_t i = 0; v && v[i]; i++)
        jgen_str(g, v[i]);
    jgen_arr_close(g);
}

void jgen_kv_int(nc_jgen *g, const char *key, int64_t v)
{
    jgen_key(g, key);
    jgen_int(g, v);
}

void jgen_kv_bool(nc_jgen *g, const char *key, bool v)
{
    jgen_key(g, key);
    jgen_bool(g, v);
}

static int cmp_keys(const void *a, const void *b, void *ctx)
{
    const char *const *keys = ctx;
    return strcmp(keys[*(const size_t *)a], keys[*(const size_t *)b]);
}

void jgen_value(nc_jgen *g, const nc_json *jv, bool sort_keys)
{
    yajl_val v = Y(jv);
    if (!v) {
        jgen_null(g);
    } else if (YAJL_IS_OBJECT(v)) {
        size_t n = v->u.object.len;
        _cleanup_free_ size_t *order = xreallocarray(NULL, n ? n : 1, sizeof(size_t));
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        if (sort_keys)
            qsort_r(order, n, sizeof(size_t), cmp_keys, (void *)v->u.object.keys);
        jgen_obj_open(g);
        for (size_t i = 0; i < n; i++) {
            jgen_key(g, v->u.object.keys[order[i]]);
            jgen_value(g, (const nc_json *)v->u.object.values[order[i]], sort_keys);
        }
        jgen_obj_close(g);
    } else if (YAJL_IS_ARRAY(v)) {
        jgen_arr_open(g);
        for (size_t i = 0; i < v->u.array.len; i++)
            jgen_value(g, (const nc_json *)v->u.array.values[i], sort_keys);
        jgen_arr_close(g);
    } else if (YAJL_IS_STRING(v)) {
        jgen_str(g, v->u.string);
    } else if (YAJL_IS_NUMBER(v)) {
        /* Keep the number's original text (yajl keeps it), so doubles round-trip exactly. */
        const char *t = v->u.number.r;
        note(g, yajl_gen_number(g->gen, t, strlen(t)));
    } else if (YAJL_IS_TRUE(v)) {
        jgen_bool(g, true);
    } else if (YAJL_IS_FALSE(v)) {
        jgen_bool(g, false);
    } else {
        jgen_null(g);
    }
}

static const char *gen_status_str(yajl_gen_status s)
{
    switch (s) {
    case yajl_gen_status_ok:
        return "ok";
    case yajl_gen_keys_must_be_strings:
        return "a value was written where an object key belongs";
    case yajl_max_depth_exceeded:
        return "nesting too deep";
    case yajl_gen_in_error_state:
        return "generator already failed";
    case yajl_gen_generation_complete:
        return "more than one top-level value";
    case yajl_gen_invalid_number:
        return "invalid number";
    case yajl_gen_no_buf:
        return "no buffer";
    case yajl_gen_invalid_string:
        return "string is not valid utf-8";
    default:
        return "unknown generator error";
    }
}

int jgen_finish(nc_jgen *g, strbuf *out, nc_error **err)
{
    if (g->first_error != yajl_gen_status_ok)
        return nc_error_set(err, EINVAL, "generate json: %s", gen_status_str(g->first_error));
    if (!g->any_value || g->depth != 0)
        return nc_error_set(err, EINVAL, "generate json: document is not complete");
    const unsigned char *buf;
    size_t len;
    yajl_gen_status s = yajl_gen_get_buf(g->gen, &buf, &len);
    if (s != yajl_gen_status_ok)
        return nc_error_set(err, EINVAL, "generate json: %s", gen_status_str(s));
    /* yajl escapes C0 controls (< 0x20) but writes DEL and the C1 controls (U+0080..U+009F)
     * raw, and a terminal may obey those. Escape them too: the same JSON value, and output that
     * is safe to print. Outside strings the output is ASCII, and the UTF-8 is validated, so a
     * raw 0x7f is DEL and 0xc2 always starts a two-byte character. */
    strbuf_grow(out, len);
    size_t done = 0;
    for (size_t i = 0; i < len; i++) {
        bool del = buf[i] == 0x7f;
        bool c1 = buf[i] == 0xc2 && i + 1 < len && buf[i + 1] >= 0x80 && buf[i + 1] <= 0x9f;
        if (!del && !c1)
            continue;
        strbuf_add(out, buf + done, i - done);
        strbuf_addf(out, "\\u00%02X", del ? 0x7fu : buf[++i]);
        done = i + 1;
    }
    strbuf_add(out, buf + done, len - done);
    return 0;
}
