/* JSON parsing and generation. src/util/json.c is the only file that includes yajl; everything
 * else sees the opaque types below, so replacing the library costs one file.
 *
 * Parsed trees: json_parse() returns a root that owns every node below it. Nodes returned by the
 * accessors are borrowed from the root and stay valid until json_free(root). Accessors accept
 * NULL and answer "absent", so lookups chain without checks:
 *   json_string(json_get(json_get(root, "State"), "Status")). */
#ifndef NC_UTIL_JSON_H
#define NC_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"
#include "util/strbuf.h"

typedef struct nc_json nc_json;

/* Nesting deeper than this is refused before parsing: yajl frees trees recursively. */
#define JSON_MAX_DEPTH 64

/* Parses exactly one JSON value from text[0..len). The text need not be NUL-terminated. A
 * syntax error, trailing garbage, an embedded NUL byte, nesting past JSON_MAX_DEPTH, a duplicate
 * key, or a string or key holding a NUL character (\u0000: the tree keeps C strings, which would
 * be cut at it) is an error (EINVAL) that says what was wrong and where, e.g.
 * "invalid json: NUL character (\u0000) in the string at 'result'". */
int json_parse(const char *text, size_t len, nc_json **ret_root, nc_error **err);
void json_free(nc_json *root);
NC_DEFINE_CLEANUP(nc_json *, json_free)
#define _cleanup_json_ _cleanup_(json_freep)

bool json_is_object(const nc_json *v);
bool json_is_array(const nc_json *v);
bool json_is_string(const nc_json *v);
bool json_is_number(const nc_json *v);
bool json_is_integer(const nc_json *v);
bool json_is_bool(const nc_json *v);
bool json_is_null(const nc_json *v);

/* Member `key` of an object; NULL when v is not an object or has no such key. */
const nc_json *json_get(const nc_json *v, const char *key);
/* The string value, or NULL when v is not a string. */
const char *json_string(const nc_json *v);
/* Stores an integer value in *out and returns true; false (and *out untouched) when v is not an
 * integer that fits in int64_t. */
bool json_int(const nc_json *v, int64_t *out);
/* Stores a non-negative integer up to UINT64_MAX in *out and returns true; false (and *out
 * untouched) for anything else: negative, fractional or exponent forms, or too large. Reads the
 * number's text, so values above INT64_MAX (bit masks, seccomp argument values) survive. */
bool json_uint64(const nc_json *v, uint64_t *out);
/* Stores a boolean in *out and returns true; false when v is not true/false. */
bool json_bool(const nc_json *v, bool *out);

size_t json_array_len(const nc_json *v);
const nc_json *json_array_at(const nc_json *v, size_t i);
size_t json_object_len(const nc_json *v);
const char *json_object_key(const nc_json *v, size_t i);
const nc_json *json_object_value(const nc_json *v, size_t i);

/* Generator. Calls never fail individually; a misuse (a key outside an object, a value where a
 * key belongs) is remembered and reported by jgen_finish(). */
typedef struct nc_jgen nc_jgen;

nc_jgen *jgen_new(void);
void jgen_free(nc_jgen *g);
NC_DEFINE_CLEANUP(nc_jgen *, jgen_free)
#define _cleanup_jgen_ _cleanup_(jgen_freep)

void jgen_obj_open(nc_jgen *g);
void jgen_obj_close(nc_jgen *g);
void jgen_arr_open(nc_jgen *g);
void jgen_arr_close(nc_jgen *g);
void jgen_key(nc_jgen *g, const char *key);
void jgen_str(nc_jgen *g, const char *s);
void jgen_strn(nc_jgen *g, const char *s, size_t n);
void jgen_int(nc_jgen *g, int64_t v);
void jgen_bool(nc_jgen *g, bool v);
void jgen_null(nc_jgen *g);
/* Writes a parsed value (and everything below it). With sort_keys, object members are written
 * in byte order of their keys: the canonical form used for digests. */
void jgen_value(nc_jgen *g, const nc_json *v, bool sort_keys);

/* Shorthands for one object member. */
void jgen_kv_str(nc_jgen *g, const char *key, const char *s);
void jgen_kv_int(nc_jgen *g, const char *key, int64_t v);
void jgen_kv_bool(nc_jgen *g, const char *key, bool v);
/* key: an array of the NULL-terminated strings v (empty for NULL). */
void jgen_kv_strv(nc_jgen *g, const char *key, char *const *v);

/* Appends the generated text to out. Fails if any call was misused or the document is not
 * complete. Every control character in a string is escaped, C0 (as yajl does), DEL and C1
 * (U+0080..U+009F) included, so the text is safe to print as it is; a NUL is \u0000. */
int jgen_finish(nc_jgen *g, strbuf *out, nc_error **err);

#endif
