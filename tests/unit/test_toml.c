/* Unit tests for the TOML subset parser: every supported construct, and every error with its
 * exact message and position. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/toml.h"
#include "util/xalloc.h"

/* Parses from an exact-size copy (no NUL after the text), so ASan sees any read past the end. */
static int parse(const char *text, toml_node **root, nc_error **err)
{
    size_t len = strlen(text);
    char *copy = xmalloc(len);
    memcpy(copy, text, len);
    int r = toml_parse(copy, len, "t.toml", root, err);
    free(copy);
    return r;
}

static toml_node *parse_ok(const char *text)
{
    toml_node *root = NULL;
    nc_error *err = NULL;
    int r = parse(text, &root, &err);
    if (r < 0)
        fail_msg("unexpected error: %s", nc_error_msg(err));
    assert_null(err);
    assert_non_null(root);
    assert_int_equal(root->type, TOML_TABLE);
    return root;
}

static void check_error(const char *text, const char *expected)
{
    toml_node *root = (toml_node *)(uintptr_t)0x1; /* must stay untouched on failure */
    nc_error *err = NULL;
    int r = parse(text, &root, &err);
    assert_int_equal(r, -EINVAL);
    assert_ptr_equal(root, (toml_node *)(uintptr_t)0x1);
    assert_non_null(err);
    assert_int_equal(err->code, EINVAL);
    assert_string_equal(err->msg, expected);
    nc_error_free(err);
}

typedef struct error_case {
    const char *text;
    const char *msg;
} error_case;

static void check_errors(const error_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        check_error(cases[i].text, cases[i].msg);
}

static const toml_node *get_path(const toml_node *t, const char *a, const char *b)
{
    const toml_node *n = toml_get(t, a);
    return b ? toml_get(n, b) : n;
}

static void assert_str_node(const toml_node *n, const char *s, unsigned line, unsigned col)
{
    assert_non_null(n);
    assert_int_equal(n->type, TOML_STRING);
    assert_string_equal(n->str, s);
    assert_int_equal(n->line, line);
    assert_int_equal(n->col, col);
}

static void assert_int_node(const toml_node *n, int64_t v)
{
    assert_non_null(n);
    assert_int_equal(n->type, TOML_INTEGER);
    assert_true(n->integer == v);
}

static void test_config_document(void **state)
{
    (void)state;
    _cleanup_toml_ toml_node *root = parse_ok("# nanocell configuration\n"
                                              "data_dir = \"/var/lib/nanocell\"\n"
                                              "\n"
                                              "[engine]\n"
                                              "socket = '/run/docker.sock'  # default\n"
                                              "timeout = 30\n"
                                              "\n"
                                              "[sandbox]\n"
                                              "read_only = true\n"
                                              "memory = \"512m\"\n"
                                              "\n"
                                              "[[group]]\n"
                                              "name = \"main\"\n"
                                              "mounts = [\"/srv/a\", \"/srv/b\"]\n"
                                              "[group.sandbox]\n"
                                              "network = false\n"
                                              "\n"
                                              "[[group]]\n"
                                              "name = \"side\"\n"
                                              "sandbox.pids = 64\n");
    assert_int_equal(root->len, 4);
    assert_string_equal(root->keys[0], "data_dir");
    assert_string_equal(root->keys[1], "engine");
    assert_string_equal(root->keys[2], "sandbox");
    assert_string_equal(root->keys[3], "group");
    assert_str_node(toml_get(root, "data_dir"), "/var/lib/nanocell", 2, 12);

    const toml_node *engine = toml_get(root, "engine");
    assert_int_equal(engine->type, TOML_TABLE);
    assert_int_equal(engine->line, 4);
    assert_int_equal(engine->col, 1);
    assert_int_equal(engine->len, 2);
    assert_str_node(toml_get(engine, "socket"), "/run/docker.sock", 5, 10);
    assert_int_node(toml_get(engine, "timeout"), 30);

    const toml_node *ro = get_path(root, "sandbox", "read_only");
    assert_int_equal(ro->type, TOML_BOOL);
    assert_true(ro->boolean);
    assert_str_node(get_path(root, "sandbox", "memory"), "512m", 10, 10);

    const toml_node *groups = toml_get(root, "group");
    assert_int_equal(groups->type, TOML_ARRAY);
    assert_true(groups->is_table_array);
    assert_null(groups->keys);
    assert_int_equal(groups->len, 2);
    assert_int_equal(groups->line, 12);

    const toml_node *g0 = groups->items[0];
    assert_int_equal(g0->type, TOML_TABLE);
    assert_int_equal(g0->line, 12);
    assert_str_node(toml_get(g0, "name"), "main", 13, 8);
    const toml_node *mounts = toml_get(g0, "mounts");
    assert_int_equal(mounts->type, TOML_ARRAY);
    assert_false(mounts->is_table_array);
    assert_int_equal(mounts->len, 2);
    assert_str_node(mounts->items[0], "/srv/a", 14, 11);
    assert_str_node(mounts->items[1], "/srv/b", 14, 21);
    const toml_node *sb0 = toml_get(g0, "sandbox");
    assert_int_equal(sb0->type, TOML_TABLE);
    assert_int_equal(sb0->line, 15);
    const toml_node *net = toml_get(sb0, "network");
    assert_int_equal(net->type, TOML_BOOL);
    assert_false(net->boolean);

    const toml_node *g1 = groups->items[1];
    assert_str_node(toml_get(g1, "name"), "side", 19, 8);
    assert_null(toml_get(g1, "mounts"));
    const toml_node *sb1 = toml_get(g1, "sandbox");
    assert_int_equal(sb1->line, 20); /* a table made by a dotted key sits at that key */
    assert_int_equal(sb1->col, 1);
    assert_int_node(toml_get(sb1, "pids"), 64);
}

static void test_keys(void **state)
{
    (void)state;
    _cleanup_toml_ toml_node *root = parse_ok("bare_Key-09 = 1\n"
                                              "1234 = 2\n"
                                              "\"quoted key\" = 3\n"
                                              "'literal \\ key' = 4\n"
                                              "\"\" = 5\n"
                                              "\"a.b\" = 6\n"
                                              "x . \"y z\" .'w' = 7\n"
                                              "x.v = 8\n"
                                              "\"\\u00e9t\\u00e9\" = 9\n"
                                              "  indented\t=\t10\n");
    assert_int_node(toml_get(root, "bare_Key-09"), 1);
    assert_int_node(toml_get(root, "1234"), 2);
    assert_int_node(toml_get(root, "quoted key"), 3);
    assert_int_node(toml_get(root, "literal \\ key"), 4);
    assert_int_node(toml_get(root, ""), 5);
    assert_int_node(toml_get(root, "a.b"), 6);
    assert_null(toml_get(root, "a"));
    const toml_node *x = toml_get(root, "x");
    assert_int_equal(x->type, TOML_TABLE);
    assert_int_equal(x->len, 2);
    assert_string_equal(x->keys[0], "y z");
    assert_string_equal(x->keys[1], "v");
    assert_int_node(get_path(x, "y z", "w"), 7);
    assert_int_node(toml_get(x, "v"), 8);
    assert_int_node(toml_get(root, "\xc3\xa9t\xc3\xa9"), 9);
    const toml_node *ind = toml_get(root, "indented");
    assert_int_node(ind, 10);
    assert_int_equal(ind->col, 14); /* a tab is one column */
}

static void test_headers(void **state)
{
    (void)state;
    _cleanup_toml_ toml_node *root = parse_ok("[a.b]\n"
                                              "x = 1\n"
                                              "[a]\n" /* defines the table [a.b] made implicitly */
                                              "y = 2\n"
                                              "[ \"quoted key\" . x ]\n"
                                              "z = 3\n"
                                              "[fruit]\n"
                                              "apple.color = \"red\"\n"
                                              "[fruit.apple.texture]\n" /* below a dotted table */
                                              "smooth = true\n");
    const toml_node *a = toml_get(root, "a");
    assert_int_equal(a->line, 3); /* moved to its own header */
    assert_string_equal(a->keys[0], "b");
    assert_string_equal(a->keys[1], "y");
    assert_int_node(get_path(a, "b", "x"), 1);
    assert_int_node(toml_get(a, "y"), 2);
    assert_int_node(get_path(toml_get(root, "quoted key"), "x", "z"), 3);
    const toml_node *apple = get_path(root, "fruit", "apple");
    assert_str_node(toml_get(apple, "color"), "red", 8, 15);
    assert_true(get_path(apple, "texture", "smooth")->boolean);
}

static void test_table_arrays(void **state)
{
    (void)state;
    _cleanup_toml_ toml_node *root = parse_ok("[[a.list]]\n"
                                              "n = 1\n"
                                              "[a.list.sub]\n"
                                              "k = 'x'\n"
                                              "[[a.list]]\n"
                                              "n = 2\n"
                                              "deep.er = 3\n"
                                              "[[a.list.items]]\n"
                                              "[[a.list.items]]\n"
                                              "v = 4\n"
                                              "[a]\n" /* implicit so far: may be defined once */
                                              "top = 5\n");
    const toml_node *a = toml_get(root, "a");
    assert_int_node(toml_get(a, "top"), 5);
    const toml_node *list = toml_get(a, "list");
    assert_true(list->is_table_array);
    assert_int_equal(list->len, 2);
    assert_int_node(toml_get(list->items[0], "n"), 1);
    assert_str_node(get_path(list->items[0], "sub", "k"), "x", 4, 5);
    assert_null(toml_get(list->items[1], "sub"));
    assert_int_node(toml_get(list->items[1], "n"), 2);
    assert_int_node(get_path(list->items[1], "deep", "er"), 3);
    const toml_node *items = toml_get(list->items[1], "items");
    assert_true(items->is_table_array);
    assert_int_equal(items->len, 2);
    assert_int_equal(items->items[0]->len, 0);
    assert_int_node(toml_get(items->items[1], "v"), 4);
}

static void test_strings(void **state)
{
    (void)state;
    _cleanup_toml_ toml_node *root =
        parse_ok("esc = \"b\\bt\\tn\\nf\\fr\\rq\\\"s\\\\\"\n"
                 "u = \"\\u00E9\\u20ac\\U0001F600\\u007f\\U0000000A\"\n"
                 "lit = 'C:\\path\\\"x\"'\n"
                 "raw = \"caf\xc3\xa9 \xf0\x9f\x98\x80\ttab\"\n"
                 "empty = \"\"\n"
                 "empty_lit = ''\n"
                 "hash = \"# not a comment\" # a comment\n");
    assert_string_equal(toml_get(root, "esc")->str, "b\bt\tn\nf\fr\rq\"s\\");
    assert_string_equal(toml_get(root, "u")->str, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\n");
    assert_string_equal(toml_get(root, "lit")->str, "C:\\path\\\"x\"");
    assert_string_equal(toml_get(root, "raw")->str, "caf\xc3\xa9 \xf0\x9f\x98\x80\ttab");
    assert_string_equal(toml_get(root, "empty")->str, "");
    assert_string_equal(toml_get(root, "empty_lit")->str, "");
    assert_string_equal(toml_get(root, "hash")->str, "# not a comment");
}

static void test_integers_and_booleans(void **state)
{
    (void)state;
    _cleanup_toml_ toml_node *root = parse_ok("a = 0\n"
                                              "b = -0\n"
                                              "c = +42\n"
                                              "d = 1_000_000\n"
                                              "e = -17\n"
                                              "max = 9223372036854775807\n"
                                              "min = -9223372036854775808\n"
                                              "t = true\n"
                                              "f = false\n");
    assert_int_node(toml_get(root, "a"), 0);
    assert_int_node(toml_get(root, "b"), 0);
    assert_int_node(toml_get(root, "c"), 42);
    assert_int_node(toml_get(root, "d"), 1000000);
    assert_int_node(toml_get(root, "e"), -17);
    assert_int_node(toml_get(root, "max"), INT64_MAX);
    assert_int_node(toml_get(root, "min"), INT64_MIN);
    assert_true(toml_get(root, "t")->boolean);
    assert_int_equal(toml_get(root, "f")->type, TOML_BOOL);
    assert_false(toml_get(root, "f")->boolean);
}

static void test_arrays(void **state)
{
    (void)state;
    _cleanup_toml_ toml_node *root = parse_ok("empty = []\n"
                                              "blank = [ # nothing here\n"
                                              "\n"
                                              "]\n"
                                              "one = ['x']\n"
                                              "trail = [\"a\",]\n"
                                              "multi = [  # first\n"
                                              "  \"a\",   # second\n"
                                              "  # a whole-line comment\n"
                                              "  'b' ,\n"
                                              "  \"c\"\n"
                                              "  ,\n"
                                              "] # after\n");
    const toml_node *empty = toml_get(root, "empty");
    assert_int_equal(empty->type, TOML_ARRAY);
    assert_int_equal(empty->len, 0);
    assert_false(empty->is_table_array);
    assert_int_equal(toml_get(root, "blank")->len, 0);
    assert_str_node(toml_get(root, "one")->items[0], "x", 5, 8);
    assert_int_equal(toml_get(root, "trail")->len, 1);
    const toml_node *multi = toml_get(root, "multi");
    assert_int_equal(multi->len, 3);
    assert_int_equal(multi->line, 7);
    assert_int_equal(multi->col, 9);
    assert_str_node(multi->items[0], "a", 8, 3);
    assert_str_node(multi->items[1], "b", 10, 3);
    assert_str_node(multi->items[2], "c", 11, 3);
}

static void test_crlf_comments_and_empty(void **state)
{
    (void)state;
    _cleanup_toml_ toml_node *root = parse_ok("# c\r\n"
                                              "a = 1 # c\r\n"
                                              "\r\n"
                                              "[t] # c\r\n"
                                              "  # indented comment\r\n"
                                              "b = [\r\n"
                                              "  'x', # c\r\n"
                                              "]\r\n"
                                              "c = \"no newline at end\"");
    assert_int_node(toml_get(root, "a"), 1);
    const toml_node *b = get_path(root, "t", "b");
    assert_int_equal(b->line, 6);
    assert_str_node(b->items[0], "x", 7, 3);
    assert_string_equal(get_path(root, "t", "c")->str, "no newline at end");

    const char *blank[] = {"", "\n", "\r\n", "   \t\n", "# only a comment", "#\n#\n"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(blank); i++) {
        _cleanup_toml_ toml_node *r = parse_ok(blank[i]);
        assert_int_equal(r->len, 0);
    }
}

static void test_error_syntax(void **state)
{
    (void)state;
    static const error_case cases[] = {
        {"a 1\n", "t.toml:1:3: expected '=' after key, found '1'"},
        {"a\n", "t.toml:1:2: expected '=' after key, found end of line"},
        {"a", "t.toml:1:2: expected '=' after key, found end of file"},
        {"\"a\"b = 1\n", "t.toml:1:4: expected '=' after key, found 'b'"},
        {"a = \n", "t.toml:1:5: missing value"},
        {"a =", "t.toml:1:4: missing value"},
        {"x = 1\na = # c\n", "t.toml:2:5: missing value"},
        {"a = 1 x\n", "t.toml:1:7: unexpected 'x' after value"},
        {"a = 'x' 'y'\n", "t.toml:1:9: unexpected \"'\" after value"},
        {"a = \"\xc3\xa9\" \xc3\xa9\n", "t.toml:1:9: unexpected U+00E9 after value"},
        {"a = 1 b = 2\n", "t.toml:1:7: unexpected 'b' after value"},
        {"a = []]\n", "t.toml:1:7: unexpected ']' after value"},
        {"[a] b = 1\n", "t.toml:1:5: unexpected 'b' after table header"},
        {"[a]]\n", "t.toml:1:4: unexpected ']' after table header"},
        {"= 1\n", "t.toml:1:1: expected a key, found '='"},
        {"a. = 1\n", "t.toml:1:4: expected a key, found '='"},
        {"a..b = 1\n", "t.toml:1:3: expected a key, found '.'"},
        {".a = 1\n", "t.toml:1:1: expected a key, found '.'"},
        {"[]\n", "t.toml:1:2: expected a key, found ']'"},
        {"[a.]\n", "t.toml:1:4: expected a key, found ']'"},
        {"a$ = 1\n", "t.toml:1:2: invalid character '$' in bare key"},
        {"\xc3\xa9t\xc3\xa9 = 1\n", "t.toml:1:1: invalid character U+00E9 in bare key"},
        {"[a\n", "t.toml:1:3: expected ']' to close table header, found end of line"},
        {"[a b]\n", "t.toml:1:4: expected ']' to close table header, found 'b'"},
        {"[[a]\n", "t.toml:1:5: expected ']]' to close array of tables header, found end of line"},
        {"[[a\n", "t.toml:1:4: expected ']]' to close array of tables header, found end of line"},
        {"a = \"abc\n", "t.toml:1:5: unterminated string"},
        {"a = \"abc", "t.toml:1:5: unterminated string"},
        {"a = \"abc\\\n", "t.toml:1:5: unterminated string"},
        {"a = 'abc\r\n", "t.toml:1:5: unterminated string"},
        {"\"key = 1\n", "t.toml:1:1: unterminated string"},
        {"a = [\n  \"x\",\n", "t.toml:1:5: unterminated array"},
        {"a = [\"x\"", "t.toml:1:5: unterminated array"},
        {"a = [\"x\" \"y\"]\n", "t.toml:1:10: expected ',' or ']' in array, found '\"'"},
        {"a = [\"x\"\n 'y']\n", "t.toml:2:2: expected ',' or ']' in array, found \"'\""},
        {"a = [,]\n", "t.toml:1:6: unexpected ',' in array"},
        {"a = [\"x\",,]\n", "t.toml:1:10: unexpected ',' in array"},
        {"a = @\n", "t.toml:1:5: expected a value, found '@'"},
        {"a = foo\n", "t.toml:1:5: invalid value 'foo': strings must be quoted"},
        {"a = True\n", "t.toml:1:5: invalid value 'True': strings must be quoted"},
        {"a = truex\n", "t.toml:1:5: invalid value 'truex': strings must be quoted"},
        {"a = \"\\x\"\n", "t.toml:1:6: invalid escape '\\x'"},
        {"a = \"\\e\"\n", "t.toml:1:6: invalid escape '\\e'"},
        {"a = \"x\\ y\"\n", "t.toml:1:7: invalid escape: backslash followed by U+0020"},
        {"a = \"\\u12\"\n", "t.toml:1:6: invalid escape '\\u': expected 4 hex digits"},
        {"a = \"\\u12", "t.toml:1:6: invalid escape '\\u': expected 4 hex digits"},
        {"a = \"\\U0001F60\"\n", "t.toml:1:6: invalid escape '\\U': expected 8 hex digits"},
        {"a = \"\\u0000\"\n", "t.toml:1:6: invalid escape '\\u0000': strings may not contain NUL"},
        {"a = \"\\U00000000\"\n",
         "t.toml:1:6: invalid escape '\\U00000000': strings may not contain NUL"},
        {"a = \"\\uD800\"\n", "t.toml:1:6: invalid escape '\\uD800': not a unicode scalar value"},
        {"a = \"\\udfff\"\n", "t.toml:1:6: invalid escape '\\udfff': not a unicode scalar value"},
        {"a = \"\\U00110000\"\n",
         "t.toml:1:6: invalid escape '\\U00110000': not a unicode scalar value"},
        {"a = 01\n", "t.toml:1:5: leading zeros are not allowed in integers"},
        {"a = -007\n", "t.toml:1:5: leading zeros are not allowed in integers"},
        {"a = 0_1\n", "t.toml:1:5: leading zeros are not allowed in integers"},
        {"a = 1__0\n", "t.toml:1:5: underscores in integers must be between digits"},
        {"a = 1_\n", "t.toml:1:5: underscores in integers must be between digits"},
        {"a = -_1\n", "t.toml:1:5: invalid integer '-_1'"},
        {"a = +\n", "t.toml:1:5: invalid integer '+'"},
        {"a = 12abc\n", "t.toml:1:5: invalid integer '12abc'"},
        {"a = 1-2\n", "t.toml:1:5: invalid integer '1-2'"},
        {"a = 9223372036854775808\n", "t.toml:1:5: integer '9223372036854775808' is out of range"},
        {"a = -9223372036854775809\n",
         "t.toml:1:5: integer '-9223372036854775809' is out of range"},
        {"a = 99999999999999999999999\n",
         "t.toml:1:5: integer '99999999999999999999999' is out of range"},
    };
    check_errors(cases, NC_ARRAY_SIZE(cases));
}

static void test_error_unsupported(void **state)
{
    (void)state;
    static const error_case cases[] = {
        {"a = \"\"\"x\"\"\"\n", "t.toml:1:5: multi-line strings are not supported"},
        {"a = '''x'''\n", "t.toml:1:5: multi-line strings are not supported"},
        {"a = [\"\"\"x\"\"\"]\n", "t.toml:1:6: multi-line strings are not supported"},
        {"a = 1.5\n", "t.toml:1:5: floats are not supported"},
        {"a = -0.1\n", "t.toml:1:5: floats are not supported"},
        {"a = 1e6\n", "t.toml:1:5: floats are not supported"},
        {"a = 1_000E-2\n", "t.toml:1:5: floats are not supported"},
        {"a = inf\n", "t.toml:1:5: floats are not supported"},
        {"a = -inf\n", "t.toml:1:5: floats are not supported"},
        {"a = +nan\n", "t.toml:1:5: floats are not supported"},
        {"a = 1979-05-27\n", "t.toml:1:5: dates and times are not supported"},
        {"a = 1979-05-27T07:32:00Z\n", "t.toml:1:5: dates and times are not supported"},
        {"a = 1979-05-27 07:32:00\n", "t.toml:1:5: dates and times are not supported"},
        {"a = 07:32:00\n", "t.toml:1:5: dates and times are not supported"},
        {"a = {x = 1}\n", "t.toml:1:5: inline tables are not supported"},
        {"a = 0x1F\n", "t.toml:1:5: only decimal integers are supported"},
        {"a = 0o17\n", "t.toml:1:5: only decimal integers are supported"},
        {"a = 0b101\n", "t.toml:1:5: only decimal integers are supported"},
        {"a = [1, 2]\n", "t.toml:1:6: arrays may only hold strings"},
        {"a = [\"x\", true]\n", "t.toml:1:11: arrays may only hold strings"},
        {"a = [[\"x\"]]\n", "t.toml:1:6: arrays may only hold strings"},
        {"a = [{}]\n", "t.toml:1:6: arrays may only hold strings"},
    };
    check_errors(cases, NC_ARRAY_SIZE(cases));
}

static void test_error_semantic(void **state)
{
    (void)state;
    static const error_case cases[] = {
        {"a = 1\na = 2\n", "t.toml:2:1: duplicate key 'a'"},
        {"a = 1\n\"a\" = 2\n", "t.toml:2:1: duplicate key 'a'"},
        {"[t]\nx.y = 1\nx . y = 2\n", "t.toml:3:5: duplicate key 'x.y'"},
        {"\"a b\".c = 1\n\"a b\".c = 2\n", "t.toml:2:7: duplicate key '\"a b\".c'"},
        {"a.b = 1\na = 2\n", "t.toml:2:1: duplicate key 'a'"},
        {"[a.b]\n[a]\nb = 1\n", "t.toml:3:1: duplicate key 'b'"},
        {"a = 1\na.b = 2\n", "t.toml:2:1: key 'a' is already defined as an integer"},
        {"a = 'x'\n[a]\n", "t.toml:2:2: key 'a' is already defined as a string"},
        {"a = true\n[a.b]\n", "t.toml:2:2: key 'a' is already defined as a boolean"},
        {"a = []\n[[a]]\n", "t.toml:2:3: key 'a' is already defined as an array"},
        {"a = []\n[a.b]\n", "t.toml:2:2: key 'a' is already defined as an array"},
        {"[a]\n[a]\n", "t.toml:2:2: table 'a' is already defined"},
        {"[a.b]\n[a.\"b\"]\n", "t.toml:2:4: table 'a.b' is already defined"},
        {"[a]\n[[a]]\n", "t.toml:2:3: key 'a' is already defined as a table"},
        {"a.b = 1\n[[a]]\n", "t.toml:2:3: key 'a' is already defined as a table"},
        {"[[a]]\n[a]\n", "t.toml:2:2: key 'a' is already defined as an array of tables"},
        {"[[a]]\n[t]\na = 1\n[t.a]\n", "t.toml:4:4: key 't.a' is already defined as an integer"},
        {"a.b = 1\n[a]\n", "t.toml:2:2: table 'a' is already defined by dotted keys"},
        {"[[g]]\nsandbox.x = 1\n[g.sandbox]\n",
         "t.toml:3:4: table 'g.sandbox' is already defined by dotted keys"},
        {"[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
         "t.toml:4:1: table 'b' is defined elsewhere and cannot be extended by dotted keys"},
        /* The strict reading (see toml.h): b was only created implicitly, still refused. */
        {"[a.b.c]\n[a]\nb.x = 1\n",
         "t.toml:3:1: table 'b' is defined elsewhere and cannot be extended by dotted keys"},
        {"[a.b.c.d]\n[a]\nb.c.d.k = 1\n",
         "t.toml:3:1: table 'b' is defined elsewhere and cannot be extended by dotted keys"},
        {"[[a.g]]\n[a]\ng.x = 1\n", "t.toml:3:1: key 'g' is already defined as an array of tables"},
        {"[t]\n\"\\n\".x = 1\n\"\\n\".x = 2\n", "t.toml:3:6: duplicate key '\"\\u000A\".x'"},
    };
    check_errors(cases, NC_ARRAY_SIZE(cases));
}

static void test_error_long_key(void **state)
{
    (void)state;
    /* Keys in messages are cut after 100 bytes, at a character boundary: here the quote and 98
     * 'k' fill 99 bytes and the 'é' that would straddle the cut is dropped whole. */
    char ks[99];
    memset(ks, 'k', sizeof(ks) - 1);
    ks[sizeof(ks) - 1] = '\0';
    _cleanup_free_ char *text = xasprintf("\"%s\xc3\xa9kkk\" = 1\n\"%s\xc3\xa9kkk\" = 2\n", ks, ks);
    _cleanup_free_ char *want = xasprintf("t.toml:2:1: duplicate key '\"%s...'", ks);
    check_error(text, want);
}

static void test_error_encoding(void **state)
{
    (void)state;
    static const error_case cases[] = {
        {"a = 1\rb = 2\n", "t.toml:1:6: carriage return must be followed by a newline"},
        {"a = 1\r", "t.toml:1:6: carriage return must be followed by a newline"},
        {"# \r\n# \r \n", "t.toml:2:3: carriage return must be followed by a newline"},
        {"a = \"\xff\"\n", "t.toml:1:6: invalid utf-8"},
        {"a = \"\xc3\"\n", "t.toml:1:6: invalid utf-8"},
        {"a = \"\xc3", "t.toml:1:6: invalid utf-8"},
        {"a = \"\xc0\xaf\"\n", "t.toml:1:6: invalid utf-8"},         /* overlong '/' */
        {"a = \"\xed\xa0\x80\"\n", "t.toml:1:6: invalid utf-8"},     /* surrogate */
        {"a = \"\xf4\x90\x80\x80\"\n", "t.toml:1:6: invalid utf-8"}, /* > U+10FFFF */
        {"a = \"\xc3\xa9\"\n# \x80\n", "t.toml:2:3: invalid utf-8"},
        {"a = \"\x01\"\n", "t.toml:1:6: control character U+0001 is not allowed in strings"},
        {"a = '\x1b[0m'\n", "t.toml:1:6: control character U+001B is not allowed in strings"},
        {"a = \"\x7f\"\n", "t.toml:1:6: control character U+007F is not allowed in strings"},
        {"# bell \x07\n", "t.toml:1:8: control character U+0007 is not allowed in comments"},
        {"a = 1 # \x7f\n", "t.toml:1:9: control character U+007F is not allowed in comments"},
        {"a = [ # \x01\n]\n", "t.toml:1:9: control character U+0001 is not allowed in comments"},
        {"a = 1\x0c\n", "t.toml:1:6: unexpected U+000C after value"},
    };
    check_errors(cases, NC_ARRAY_SIZE(cases));

    /* NUL cannot be written in a C string literal test case: pass lengths. */
    toml_node *root = NULL;
    nc_error *err = NULL;
    assert_int_equal(toml_parse("a = \"x\0y\"\n", 10, "t.toml", &root, &err), -EINVAL);
    assert_null(root);
    assert_string_equal(nc_error_msg(err), "t.toml:1:7: null bytes are not allowed");
    nc_error_free(err);
    err = NULL;
    assert_int_equal(toml_parse("a = 1\n\0", 7, "t.toml", &root, &err), -EINVAL);
    assert_string_equal(nc_error_msg(err), "t.toml:2:1: null bytes are not allowed");
    nc_error_free(err);
}

/* Builds "k1.k2...kn" with n parts. */
static char *dotted(size_t n)
{
    char *s = xstrdup("k1");
    for (size_t i = 2; i <= n; i++) {
        char *t = xasprintf("%s.k%zu", s, i);
        free(s);
        s = t;
    }
    return s;
}

static void test_limit_depth(void **state)
{
    (void)state;
    _cleanup_free_ char *k15 = dotted(15);
    _cleanup_free_ char *k16 = dotted(16);
    _cleanup_free_ char *k17 = dotted(17);

    _cleanup_free_ char *ok1 = xasprintf("%s = 1\n", k16);
    _cleanup_toml_ toml_node *r1 = parse_ok(ok1);
    const toml_node *n = r1;
    for (int i = 0; i < 15; i++)
        n = n->items[0];
    assert_int_node(n->items[0], 1);

    _cleanup_free_ char *ok2 = xasprintf("[%s]\nk16 = 1\n[[%s.t16]]\n", k15, k15);
    _cleanup_toml_ toml_node *r2 = parse_ok(ok2);

    /* In "k1.k2...k17" the 17th part follows 16 parts (9 of 2 characters, 7 of 3) and 16 dots,
     * 55 characters in all. */
    _cleanup_free_ char *bad1 = xasprintf("%s = 1\n", k17);
    check_error(bad1, "t.toml:1:56: keys are nested more than 16 levels deep");
    _cleanup_free_ char *bad2 = xasprintf("[%s]\n", k17);
    check_error(bad2, "t.toml:1:57: keys are nested more than 16 levels deep");
    _cleanup_free_ char *bad3 = xasprintf("[[%s]]\n", k17);
    check_error(bad3, "t.toml:1:58: keys are nested more than 16 levels deep");
    /* Header parts and key parts add up. */
    _cleanup_free_ char *bad4 = xasprintf("[%s]\na.b = 1\n", k15);
    check_error(bad4, "t.toml:2:3: keys are nested more than 16 levels deep");
    _cleanup_free_ char *bad5 = xasprintf("[[%s]]\nx = 1\n", k16);
    check_error(bad5, "t.toml:2:1: keys are nested more than 16 levels deep");
}

static void test_limit_values(void **state)
{
    (void)state;
    /* 9999 strings plus their array: exactly TOML_MAX_VALUES nodes. */
    strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "a = [");
    for (int i = 0; i < TOML_MAX_VALUES - 1; i++)
        strbuf_addstr(&sb, "'x',");
    strbuf_addstr(&sb, "]\n");
    _cleanup_toml_ toml_node *root = parse_ok(sb.buf);
    assert_int_equal(toml_get(root, "a")->len, TOML_MAX_VALUES - 1);

    strbuf_reset(&sb);
    for (int i = 0; i < TOML_MAX_VALUES; i++)
        strbuf_addf(&sb, "k%d = %d\n", i, i);
    _cleanup_toml_ toml_node *root2 = parse_ok(sb.buf);
    assert_int_equal(root2->len, TOML_MAX_VALUES);
    strbuf_addstr(&sb, "one.more = 1\n");
    check_error(sb.buf, "t.toml:10001:1: too many values (the limit is 10000)");
    strbuf_release(&sb);
}

static char *write_temp(const char *content, size_t len)
{
    char *path = xstrdup("/tmp/test_toml_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_parse_file(void **state)
{
    (void)state;
    nc_error *err = NULL;
    toml_node *root = NULL;

    _cleanup_free_ char *good = write_temp("[s]\nx = 'y'\n", 12);
    assert_int_equal(toml_parse_file(good, &root, &err), 0);
    assert_null(err);
    assert_string_equal(get_path(root, "s", "x")->str, "y");
    toml_free(root);
    root = NULL;

    /* The file name leads parse errors. */
    _cleanup_free_ char *bad = write_temp("x = \n", 5);
    assert_int_equal(toml_parse_file(bad, &root, &err), -EINVAL);
    _cleanup_free_ char *want = xasprintf("%s:1:5: missing value", bad);
    assert_string_equal(nc_error_msg(err), want);
    nc_error_free(err);
    err = NULL;

    /* Exactly the limit is read; one byte more is refused. */
    char *big = xmalloc(TOML_MAX_FILE_SIZE + 1);
    memset(big, '\n', TOML_MAX_FILE_SIZE + 1);
    memcpy(big, "# x", 3);
    _cleanup_free_ char *at_limit = write_temp(big, TOML_MAX_FILE_SIZE);
    assert_int_equal(toml_parse_file(at_limit, &root, &err), 0);
    toml_free(root);
    root = NULL;
    _cleanup_free_ char *over = write_temp(big, TOML_MAX_FILE_SIZE + 1);
    assert_int_equal(toml_parse_file(over, &root, &err), -EFBIG);
    assert_null(root);
    _cleanup_free_ char *want_big =
        xasprintf("read '%s': file is larger than the limit of 1048576 bytes", over);
    assert_string_equal(nc_error_msg(err), want_big);
    nc_error_free(err);
    err = NULL;
    /* toml_parse itself holds the same bound. */
    assert_int_equal(toml_parse(big, TOML_MAX_FILE_SIZE + 1, "big.toml", &root, &err), -EFBIG);
    assert_string_equal(nc_error_msg(err), "big.toml: larger than the limit of 1048576 bytes");
    nc_error_free(err);
    err = NULL;
    free(big);

    assert_int_equal(toml_parse_file("/nonexistent/nanocell.toml", &root, &err), -ENOENT);
    assert_string_equal(nc_error_msg(err),
                        "open '/nonexistent/nanocell.toml': No such file or directory");
    nc_error_free(err);
    err = NULL;
    assert_int_equal(toml_parse_file("/tmp", &root, &err), -EISDIR);
    assert_string_equal(nc_error_msg(err), "read '/tmp': Is a directory");
    nc_error_free(err);
    assert_null(root);

    unlink(good);
    unlink(bad);
    unlink(at_limit);
    unlink(over);
}

static void test_get_and_type_names(void **state)
{
    (void)state;
    _cleanup_toml_ toml_node *root = parse_ok("s = 'x'\n");
    assert_null(toml_get(NULL, "s"));
    assert_null(toml_get(root, "missing"));
    assert_null(toml_get(toml_get(root, "s"), "s")); /* not a table */
    assert_null(toml_get(root, NULL));
    assert_string_equal(toml_type_name(TOML_STRING), "string");
    assert_string_equal(toml_type_name(TOML_INTEGER), "integer");
    assert_string_equal(toml_type_name(TOML_BOOL), "boolean");
    assert_string_equal(toml_type_name(TOML_ARRAY), "array");
    assert_string_equal(toml_type_name(TOML_TABLE), "table");
    toml_free(NULL);
}

static void test_positions(void **state)
{
    (void)state;
    /* Columns count characters, not bytes; a NULL filename still gives a usable message. */
    _cleanup_toml_ toml_node *root = parse_ok("\"\xc3\xa9\xf0\x9f\x98\x80\" = 'x'\n");
    assert_str_node(toml_get(root, "\xc3\xa9\xf0\x9f\x98\x80"), "x", 1, 8);
    check_error("\"\xc3\xa9\xf0\x9f\x98\x80\" = x\n",
                "t.toml:1:8: invalid value 'x': strings must be quoted");
    nc_error *err = NULL;
    toml_node *r = NULL;
    assert_int_equal(toml_parse("a", 1, NULL, &r, &err), -EINVAL);
    assert_string_equal(nc_error_msg(err),
                        "<input>:1:2: expected '=' after key, found end of file");
    nc_error_free(err);
    /* An error reported at an earlier line than the last one located. */
    check_error("a = [\n'1',\n'2',\n'3'\n# end\n", "t.toml:1:5: unterminated array");
}

int main(void)
{
    /* clang-format off: one test per line */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_document),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_table_arrays),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_integers_and_booleans),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_crlf_comments_and_empty),
        cmocka_unit_test(test_error_syntax),
        cmocka_unit_test(test_error_unsupported),
        cmocka_unit_test(test_error_semantic),
        cmocka_unit_test(test_error_long_key),
        cmocka_unit_test(test_error_encoding),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_values),
        cmocka_unit_test(test_parse_file),
        cmocka_unit_test(test_get_and_type_names),
        cmocka_unit_test(test_positions),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
