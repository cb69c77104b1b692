/* src/util/json.c: the parser's refusals (NUL, comments, depth, duplicates, trailing bytes,
 * bad UTF-8), accessors on absent values, and the generator (escaping, misuse, canonical
 * sorted output). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "util/json.h"
#include "util/xalloc.h"

static nc_json *parse_ok(const char *s)
{
    nc_json *root = NULL;
    nc_error *err = NULL;
    if (json_parse(s, strlen(s), &root, &err) < 0)
        fail_msg("parse '%s': %s", s, nc_error_msg(err));
    return root;
}

static void parse_fails(const char *s, size_t len, const char *want)
{
    nc_json *root = NULL;
    nc_error *err = NULL;
    assert_int_equal(json_parse(s, len, &root, &err), -EINVAL);
    assert_null(root);
    if (!strstr(err->msg, want))
        fail_msg("error for input %zu bytes: got '%s', want '%s'", len, err->msg, want);
    nc_error_free(err);
}

static void test_accessors(void **state)
{
    (void)state;
    _cleanup_json_ nc_json *r = parse_ok("{\"State\":{\"Status\":\"exited\",\"ExitCode\":137,"
                                         "\"OOMKilled\":true,\"Pid\":0},\"Names\":[\"/a\",\"/b\"],"
                                         "\"F\":1.5,\"Big\":99999999999999999999,\"N\":null,"
                                         "\"S\":\"caf\\u00e9 \\\"q\\\"\"}");
    const nc_json *st = json_get(r, "State");
    assert_string_equal(json_string(json_get(st, "Status")), "exited");
    int64_t code = 0;
    assert_true(json_int(json_get(st, "ExitCode"), &code));
    assert_int_equal(code, 137);
    bool oom = false;
    assert_true(json_bool(json_get(st, "OOMKilled"), &oom));
    assert_true(oom);
    assert_int_equal(json_array_len(json_get(r, "Names")), 2);
    assert_string_equal(json_string(json_array_at(json_get(r, "Names"), 1)), "/b");
    assert_null(json_array_at(json_get(r, "Names"), 2));
    /* Wrong types and absent members answer "absent". */
    int64_t v = 42;
    assert_false(json_int(json_get(r, "F"), &v));
    assert_false(json_int(json_get(r, "Big"), &v));
    assert_int_equal(v, 42);
    assert_true(json_is_null(json_get(r, "N")));
    assert_null(json_string(json_get(st, "ExitCode")));
    assert_null(json_get(json_get(json_get(r, "Nope"), "x"), "y"));
    assert_int_equal(json_array_len(st), 0);
    assert_int_equal(json_object_len(st), 4);
    assert_string_equal(json_object_key(st, 1), "ExitCode");
    assert_string_equal(json_string(json_get(r, "S")), "caf\xc3\xa9 \"q\"");
}

static void test_refusals(void **state)
{
    (void)state;
    parse_fails("{\"a\":1} x", 9, "invalid json");
    parse_fails("{\"a\":1}\0", 8, "NUL byte at offset 7");
    parse_fails("{\"a\":1 /* c */}", 15, "comment");
    parse_fails("{\"a\":1,\"a\":2}", 13, "duplicate key 'a'");
    parse_fails("{\"x\":{\"b\":1,\"b\":2}}", 19, "duplicate key 'b'");
    parse_fails("", 0, "invalid json");
    parse_fails("[1,]", 4, "invalid json");
    parse_fails("{\"s\":\"\xff\"}", 8, "invalid json");
    strbuf deep = STRBUF_INIT;
    for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
        strbuf_addch(&deep, '[');
    for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
        strbuf_addch(&deep, ']');
    parse_fails(deep.buf, deep.len, "nesting deeper than 64");
    /* Exactly the bound is fine. */
    strbuf_reset(&deep);
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        strbuf_addch(&deep, '[');
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        strbuf_addch(&deep, ']');
    json_free(parse_ok(deep.buf));
    /* Brackets inside strings do not count. */
    json_free(parse_ok("{\"s\":\"[[[[[[{{{{/*\\\"]]\"}"));
    strbuf_release(&deep);
}

#define PARSE_FAILS(s, want) parse_fails((s), sizeof(s) - 1, (want))

/* A string with \u0000 would come out of the tree cut at the NUL: refused, saying where. */
static void test_nul_escape(void **state)
{
    (void)state;
    PARSE_FAILS("{\"result\":\"a\\u0000b\"}", "NUL character (\\u0000) in the string at 'result'");
    PARSE_FAILS("{\"a\":{\"b\":[1,true,null,{\"c\":2},\"x\\u0000\"]}}",
                "in the string at 'a.b[4]'");
    PARSE_FAILS("[\"\\u0000\"]", "in the string at '[0]'");
    PARSE_FAILS("\"\\u0000\"", "NUL character (\\u0000) in the string");
    PARSE_FAILS("{\"k\\u0000\":1}", "NUL character (\\u0000) in a key at the top level");
    PARSE_FAILS("{\"o\":{\"\\u0000\":1}}", "in a key at 'o'");
    /* Long keys are cut in the path. */
    PARSE_FAILS("{\""
                "0123456789012345678901234567890123456789012345678901234567890123456789"
                "\":\"\\u0000\"}",
                "at '0123456789012345678901234567890123456789012345678901234567890123...'");
    /* An escaped backslash before "u0000" is no NUL; nor are other \u escapes. */
    _cleanup_json_ nc_json *r = parse_ok("{\"a\":\"\\\\u0000\",\"b\":\"\\u00010000\"}");
    assert_string_equal(json_string(json_get(r, "a")), "\\u0000");
    assert_string_equal(json_string(json_get(r, "b")), "\x01"
                                                       "0000");
    _cleanup_json_ nc_json *r2 = parse_ok("{\"b\":\"\\u0001\\u1000\"}");
    assert_string_equal(json_string(json_get(r2, "b")), "\x01\xe1\x80\x80");
}

/* Every control character is escaped in generated text, DEL and C1 included (yajl leaves those
 * two raw), so --json output cannot drive a terminal and still says exactly what was sent. */
static void test_generator_escapes_controls(void **state)
{
    (void)state;
    strbuf in = STRBUF_INIT;
    for (int c = 0; c < 0x20; c++)
        strbuf_addch(&in, (char)c);
    strbuf_addstr(&in, "\x7f\xc2\x80\xc2\x9b\xc2\x9f\xc2\xa0\xc3\xa9\xe2\x9c\x97");
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_arr_open(g);
    jgen_strn(g, in.buf, in.len);
    jgen_arr_close(g);
    strbuf out = STRBUF_INIT;
    assert_int_equal(jgen_finish(g, &out, NULL), 0);
    for (size_t i = 0; i < out.len; i++) {
        unsigned char c = (unsigned char)out.buf[i];
        if (c < 0x20 || c == 0x7f || (c == 0xc2 && (unsigned char)out.buf[i + 1] < 0xa0))
            fail_msg("raw control 0x%02x at %zu in %s", c, i, out.buf);
    }
    assert_non_null(strstr(out.buf, "\\u0000\\u0001"));
    assert_non_null(strstr(out.buf, "\\u001B\\u001C\\u001D\\u001E\\u001F"
                                    "\\u007F\\u0080\\u009B\\u009F\xc2\xa0\xc3\xa9\xe2\x9c\x97\"]"));
    /* It reads back as the same bytes; with the NUL, it is refused, never cut. */
    nc_json *r = NULL;
    nc_error *err = NULL;
    assert_int_equal(json_parse(out.buf, out.len, &r, &err), -EINVAL);
    nc_error_free(err);
    _cleanup_jgen_ nc_jgen *g2 = jgen_new();
    jgen_strn(g2, in.buf + 1, in.len - 1);
    strbuf_reset(&out);
    assert_int_equal(jgen_finish(g2, &out, NULL), 0);
    _cleanup_json_ nc_json *back = parse_ok(out.buf);
    assert_string_equal(json_string(back), in.buf + 1);
    strbuf_release(&out);
    strbuf_release(&in);
}

static void test_generator(void **state)
{
    (void)state;
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "s", "a\"b\\c\n\x01/");
    jgen_kv_int(g, "i", -5);
    jgen_kv_bool(g, "t", true);
    jgen_key(g, "n");
    jgen_null(g);
    jgen_key(g, "a");
    jgen_arr_open(g);
    jgen_strn(g, "xyz", 2);
    jgen_arr_close(g);
    jgen_kv_strv(g, "v", (char *[]){"p", "q", NULL});
    jgen_kv_strv(g, "e", NULL);
    jgen_obj_close(g);
    strbuf out = STRBUF_INIT;
    assert_int_equal(jgen_finish(g, &out, NULL), 0);
    assert_string_equal(out.buf, "{\"s\":\"a\\\"b\\\\c\\n\\u0001/\",\"i\":-5,\"t\":true,\"n\":null,"
                                 "\"a\":[\"xy\"],\"v\":[\"p\",\"q\"],\"e\":[]}");
    /* Round trip. */
    _cleanup_json_ nc_json *r = parse_ok(out.buf);
    assert_string_equal(json_string(json_get(r, "s")), "a\"b\\c\n\x01/");
    strbuf_release(&out);
}

static void test_generator_misuse(void **state)
{
    (void)state;
    strbuf out = STRBUF_INIT;
    nc_error *err = NULL;
    nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_int(g, 1); /* a number where a key belongs */
    jgen_obj_close(g);
    assert_int_equal(jgen_finish(g, &out, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "key"));
    nc_error_free(err);
    err = NULL;
    jgen_free(g);

    g = jgen_new();
    jgen_arr_open(g);
    assert_int_equal(jgen_finish(g, &out, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "not complete"));
    nc_error_free(err);
    err = NULL;
    jgen_free(g);

    g = jgen_new();
    jgen_str(g, "bad \xc3\x28 utf8");
    assert_int_equal(jgen_finish(g, &out, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "utf-8"));
    nc_error_free(err);
    jgen_free(g);
    assert_int_equal(out.len, 0);
}

static void test_canonical(void **state)
{
    (void)state;
    _cleanup_json_ nc_json *a = parse_ok("{ \"b\": [1, 2.50, {\"z\":1,\"a\":2}], \"a\": \"x\" }");
    _cleanup_json_ nc_json *b = parse_ok("{\"a\":\"x\",\"b\":[1,2.50,{\"a\":2,\"z\":1}]}");
    strbuf sa = STRBUF_INIT, sb = STRBUF_INIT;
    nc_jgen *g = jgen_new();
    jgen_value(g, a, true);
    assert_int_equal(jgen_finish(g, &sa, NULL), 0);
    jgen_free(g);
    g = jgen_new();
    jgen_value(g, b, true);
    assert_int_equal(jgen_finish(g, &sb, NULL), 0);
    jgen_free(g);
    assert_string_equal(sa.buf, "{\"a\":\"x\",\"b\":[1,2.50,{\"a\":2,\"z\":1}]}");
    assert_string_equal(sa.buf, sb.buf);
    /* Unsorted keeps the order of the input. */
    strbuf_reset(&sa);
    g = jgen_new();
    jgen_value(g, a, false);
    assert_int_equal(jgen_finish(g, &sa, NULL), 0);
    jgen_free(g);
    assert_string_equal(sa.buf, "{\"b\":[1,2.50,{\"z\":1,\"a\":2}],\"a\":\"x\"}");
    strbuf_release(&sa);
    strbuf_release(&sb);
}

/* yajl grows an object's arrays by one realloc per key. Under AddressSanitizer every realloc
 * copies, which makes the parse itself quadratic, so that build checks the sort on fewer keys. */
#if defined(__SANITIZE_ADDRESS__)
#define MANY_KEYS 5000
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MANY_KEYS 5000
#endif
#endif
#ifndef MANY_KEYS
#define MANY_KEYS 50000
#endif

/* Duplicate detection must not be quadratic: an agent result of a few MiB can hold hundreds of
 * thousands of keys, and the turn loop is single-threaded. 200k keys took minutes pairwise. */
static void test_many_keys(void **state)
{
    (void)state;
    enum { NKEYS = MANY_KEYS };
    strbuf sb = STRBUF_INIT;
    strbuf_addch(&sb, '{');
    for (int i = 0; i < NKEYS; i++)
        strbuf_addf(&sb, "%s\"key-%d\":%d", i ? "," : "", i, i);
    strbuf_addch(&sb, '}');
    _cleanup_json_ nc_json *r = parse_ok(sb.buf);
    assert_int_equal(json_object_len(r), NKEYS);
    int64_t v = 0;
    assert_true(json_int(json_get(r, "key-1234"), &v));
    assert_int_equal(v, 1234);
    /* The same object with one key repeated at the very end is still refused, by name. */
    strbuf_truncate(&sb, sb.len - 1);
    strbuf_addstr(&sb, ",\"key-4711\":0}");
    parse_fails(sb.buf, sb.len, "duplicate key 'key-4711'");
    strbuf_release(&sb);
}

/* Unsigned 64-bit values come from the number's text, so masks above INT64_MAX survive. */
static void test_uint64(void **state)
{
    (void)state;
    _cleanup_json_ nc_json *r = parse_ok("[0,42,9223372036854775807,9223372036854775808,"
                                         "18446744073709551615,18446744073709551616,-1,1.0,1e3,"
                                         "\"7\",null,-0]");
    static const struct {
        bool ok;
        uint64_t v;
    } want[] = {
        {true, 0},          {true, 42}, {true, INT64_MAX}, {true, (uint64_t)INT64_MAX + 1},
        {true, UINT64_MAX}, {false, 0}, {false, 0},        {false, 0},
        {false, 0},         {false, 0}, {false, 0},        {false, 0},
    };
    assert_int_equal(json_array_len(r), sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        uint64_t v = 12345;
        bool ok = json_uint64(json_array_at(r, i), &v);
        if (ok != want[i].ok || (ok && v != want[i].v) || (!ok && v != 12345))
            fail_msg("element %zu: ok=%d v=%llu", i, ok, (unsigned long long)v);
    }
    assert_false(json_uint64(NULL, &(uint64_t){0}));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_generator),
        cmocka_unit_test(test_generator_misuse),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_uint64),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_nul_escape),
        cmocka_unit_test(test_generator_escapes_controls),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
