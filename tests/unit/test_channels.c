/* Channels (src/channels/): the reply splitter, the backoff, the Telegram parser, mentions,
 * error redaction, HMAC-SHA256 (RFC 4231), webhook signatures and bodies, and the store's
 * channel tables (cursors committed with their message, chats, allowlists, replays). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channels/channel.h"
#include "config.h"
#include "channels/split.h"
#include "channels/tg_parse.h"
#include "channels/webclient.h"
#include "channels/webhook.h"
#include "orch/store.h"
#include "util/hmac.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define OK(call)                                                                                   \
    do {                                                                                           \
        nc_error *e = NULL;                                                                        \
        int r_ = (call);                                                                           \
        if (r_ < 0)                                                                                \
            fail_msg("%s: %d %s", #call, r_, nc_error_msg(e));                                     \
        assert_null(e);                                                                            \
    } while (0)

/* call fails with -code and an error whose message contains substr. */
#define ERR(code, substr, call)                                                                    \
    do {                                                                                           \
        nc_error *e = NULL;                                                                        \
        int r_ = (call);                                                                           \
        if (r_ != -(code))                                                                         \
            fail_msg("%s: %d, want %d (%s)", #call, r_, -(code), e ? nc_error_msg(e) : "-");       \
        if (!strstr(nc_error_msg(e), substr))                                                      \
            fail_msg("%s: '%s' does not contain '%s'", #call, nc_error_msg(e), substr);            \
        nc_error_free(e);                                                                          \
    } while (0)

/* ---- the splitter ---- */

static size_t units(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n += *p >= 0xF0 ? 2 : 1;
    return n;
}

static void test_split_short_and_empty(void **state)
{
    (void)state;
    char **v = split_text("hello\nworld", 4096);
    assert_int_equal(strv_len(v), 1);
    assert_string_equal(v[0], "hello\nworld");
    strv_free(v);
    v = split_text("", 4096);
    assert_int_equal(strv_len(v), 0);
    strv_free(v);
    v = split_text(" \n \n", 4096);
    assert_int_equal(strv_len(v), 0);
    strv_free(v);
}

static void test_split_on_lines(void **state)
{
    (void)state;
    /* Three lines of 4 and a limit of 10: "aaaa\nbbbb" fits (9), the break after it is dropped. */
    char **v = split_text("aaaa\nbbbb\ncccc", 10);
    assert_int_equal(strv_len(v), 2);
    assert_string_equal(v[0], "aaaa\nbbbb");
    assert_string_equal(v[1], "cccc");
    strv_free(v);
    /* Exactly the limit stays whole. */
    v = split_text("0123456789", 10);
    assert_int_equal(strv_len(v), 1);
    strv_free(v);
}

static void test_split_on_spaces_then_hard(void **state)
{
    (void)state;
    char **v = split_text("one two three four", 9);
    assert_int_equal(strv_len(v), 3);
    assert_string_equal(v[0], "one two");
    assert_string_equal(v[1], "three");
    assert_string_equal(v[2], "four");
    strv_free(v);
    v = split_text("abcdefghijklmnopqrstuvwxyz", 10);
    assert_int_equal(strv_len(v), 3);
    assert_string_equal(v[0], "abcdefghij");
    assert_string_equal(v[2], "uvwxyz");
    strv_free(v);
}

static void test_split_utf8(void **state)
{
    (void)state;
    /* "é" is 2 bytes, one unit; an emoji 4 bytes, two units (as Telegram counts). */
    char **v = split_text("ééééé", 2);
    assert_int_equal(strv_len(v), 3);
    assert_string_equal(v[0], "éé");
    assert_string_equal(v[2], "é");
    strv_free(v);
    v = split_text("\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80", 5);
    assert_int_equal(strv_len(v), 2);
    assert_string_equal(v[0], "\xF0\x9F\x98\x80\xF0\x9F\x98\x80");
    strv_free(v);
}

static void test_split_big_reply(void **state)
{
    (void)state;
    strbuf sb = STRBUF_INIT;
    for (int i = 0; i < 2000; i++)
        strbuf_addf(&sb, "line %d with some words é\n", i);
    char **v = split_text(sb.buf, 4096);
    assert_true(strv_len(v) > 1);
    strbuf joined = STRBUF_INIT;
    for (size_t i = 0; v[i]; i++) {
        assert_true(units(v[i]) <= 4096);
        /* Each part starts where a line started (the break between two is dropped). */
        assert_true(strncmp(v[i], "line ", 5) == 0);
        strbuf_addf(&joined, "%s%s", i ? "\n" : "", v[i]);
    }
    assert_string_equal(joined.buf, sb.buf);
    strv_free(v);
    strbuf_release(&sb);
    strbuf_release(&joined);
}

/* ---- backoff ---- */

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(channel_backoff_ms(0, 1000, 60000, 7), 0);
    /* Equal jitter: half fixed, half drawn. */
    assert_int_equal(channel_backoff_ms(1, 1000, 60000, 0), 500);
    assert_int_equal(channel_backoff_ms(1, 1000, 60000, 500), 1000);
    assert_int_equal(channel_backoff_ms(2, 1000, 60000, 0), 1000);
    assert_int_equal(channel_backoff_ms(3, 1000, 60000, 0), 2000);
    for (uint32_t r = 0; r < 50000; r += 977) {
        uint64_t d = channel_backoff_ms(4, 1000, 60000, r);
        assert_true(d >= 4000 && d <= 8000);
    }
    /* Capped, whatever the attempt. */
    assert_int_equal(channel_backoff_ms(40, 1000, 60000, 0), 30000);
    assert_true(channel_backoff_ms(1000, 1000, 60000, UINT32_MAX) <= 60000);
}

/* ---- Telegram ---- */

static void test_tg_updates(void **state)
{
    (void)state;
    const char *body =
        "{\"ok\":true,\"result\":["
        "{\"update_id\":10,\"message\":{\"message_id\":1,\"date\":1700000000,"
        "\"chat\":{\"id\":100,\"type\":\"private\",\"first_name\":\"Ada\",\"last_name\":\"L\"},"
        "\"from\":{\"id\":7,\"is_bot\":false,\"first_name\":\"Ada\",\"last_name\":\"L\"},"
        "\"text\":\"hello\"}},"
        "{\"update_id\":11,\"message\":{\"message_id\":2,\"date\":1,"
        "\"chat\":{\"id\":-200,\"type\":\"supergroup\",\"title\":\"Team\"},"
        "\"from\":{\"id\":8,\"is_bot\":true,\"username\":\"otherbot\"},"
        "\"photo\":[{\"file_id\":\"x\"}]}},"
        "{\"update_id\":12,\"edited_message\":{\"message_id\":1,\"text\":\"x\"}},"
        "{\"update_id\":13,\"message\":{\"message_id\":3,\"chat\":{\"type\":\"private\"},"
        "\"text\":\"no chat id\"}}"
        "]}";
    tg_update *v = NULL;
    size_t n = 0;
    OK(tg_parse_updates(body, strlen(body), &v, &n, NULL, &e));
    assert_int_equal(n, 4);
    assert_int_equal(v[0].update_id, 10);
    assert_int_equal(v[0].kind, TG_TEXT);
    assert_int_equal(v[0].chat_id, 100);
    assert_string_equal(v[0].chat_type, "private");
    assert_string_equal(v[0].chat_title, "Ada L");
    assert_string_equal(v[0].from_name, "Ada L");
    assert_int_equal(v[0].from_id, 7);
    assert_false(v[0].from_bot);
    assert_string_equal(v[0].text, "hello");
    assert_int_equal(v[1].kind, TG_OTHER);
    assert_int_equal(v[1].chat_id, -200);
    assert_string_equal(v[1].chat_title, "Team");
    assert_string_equal(v[1].from_name, "@otherbot");
    assert_true(v[1].from_bot);
    assert_null(v[1].text);
    assert_int_equal(v[2].kind, TG_NONE);
    assert_int_equal(v[3].kind, TG_NONE); /* no chat to answer: only its id counts */
    assert_int_equal(v[3].update_id, 13);
    tg_updates_free(v, n);
    const char *empty = "{\"ok\":true,\"result\":[]}";
    OK(tg_parse_updates(empty, strlen(empty), &v, &n, NULL, &e));
    assert_int_equal(n, 0);
    tg_updates_free(v, n);
}

static void test_tg_errors(void **state)
{
    (void)state;
    tg_update *v = NULL;
    size_t n = 0;
    tg_error fail = {0};
    const char *r429 = "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: "
                       "retry after 7\",\"parameters\":{\"retry_after\":7}}";
    ERR(EREMOTEIO, "error 429: Too Many Requests",
        tg_parse_updates(r429, strlen(r429), &v, &n, &fail, &e));
    assert_int_equal(fail.code, 429);
    assert_int_equal(fail.retry_after, 7);
    assert_string_equal(fail.description, "Too Many Requests: retry after 7");
    tg_error_release(&fail);
    const char *r409 = "{\"ok\":false,\"error_code\":409,\"description\":\"Conflict: terminated "
                       "by other getUpdates request\"}";
    ERR(EREMOTEIO, "409", tg_parse_ok(r409, strlen(r409), &fail, &e));
    assert_int_equal(fail.retry_after, 0);
    tg_error_release(&fail);
    const char *html = "<html>502 Bad Gateway</html>";
    ERR(EPROTO, "not JSON", tg_parse_updates(html, strlen(html), &v, &n, NULL, &e));
    const char *noid = "{\"ok\":true,\"result\":[{\"message\":{}}]}";
    ERR(EPROTO, "no update_id", tg_parse_updates(noid, strlen(noid), &v, &n, NULL, &e));
    const char *notarr = "{\"ok\":true,\"result\":{}}";
    ERR(EPROTO, "not an array", tg_parse_updates(notarr, strlen(notarr), &v, &n, NULL, &e));
    const char *nook = "{\"result\":[]}";
    ERR(EPROTO, "no 'ok'", tg_parse_updates(nook, strlen(nook), &v, &n, NULL, &e));
    strbuf many = STRBUF_INIT;
    strbuf_addstr(&many, "{\"ok\":true,\"result\":[");
    for (int i = 0; i <= TG_MAX_UPDATES; i++)
        strbuf_addf(&many, "%s{\"update_id\":%d}", i ? "," : "", i);
    strbuf_addstr(&many, "]}");
    ERR(EPROTO, "updates in one reply", tg_parse_updates(many.buf, many.len, &v, &n, NULL, &e));
    strbuf_release(&many);
    char *user = NULL;
    const char *me = "{\"ok\":true,\"result\":{\"id\":1,\"is_bot\":true,\"username\":\"nc_bot\"}}";
    OK(tg_parse_me(me, strlen(me), &user, NULL, &e));
    assert_string_equal(user, "nc_bot");
    free(user);
    const char *anon = "{\"ok\":true,\"result\":{\"id\":1}}";
    ERR(EPROTO, "no username", tg_parse_me(anon, strlen(anon), &user, NULL, &e));
}

static void test_tg_mentions(void **state)
{
    (void)state;
    assert_true(tg_mentions("@nc_bot hi", "nc_bot"));
    assert_true(tg_mentions("hi @NC_Bot, there", "nc_bot"));
    assert_true(tg_mentions("hi @nc_bot", "nc_bot"));
    assert_false(tg_mentions("hi @nc_bots", "nc_bot"));
    assert_false(tg_mentions("mail x@nc_bot", "nc_bot"));
    assert_false(tg_mentions("hi", "nc_bot"));
    assert_false(tg_mentions("@nc_bot", ""));
}

static void test_redact(void **state)
{
    (void)state;
    char *s = web_redact("Could not resolve https://x/bot12:AB/getMe and 12:AB again", "12:AB");
    assert_string_equal(s, "Could not resolve https://x/bot<redacted>/getMe and <redacted> again");
    free(s);
    s = web_redact("nothing", NULL);
    assert_string_equal(s, "nothing");
    free(s);
}

/* ---- HMAC-SHA256, RFC 4231 ---- */

static void check_hmac(const void *key, size_t klen, const void *data, size_t dlen,
                       const char *want)
{
    char got[SHA256_HEX_SIZE];
    hmac_sha256_hex(key, klen, data, dlen, got);
    assert_memory_equal(got, want, strlen(want));
}

static void test_hmac_rfc4231(void **state)
{
    (void)state;
    uint8_t k[131];
    memset(k, 0x0b, 20);
    check_hmac(k, 20, "Hi There", 8,
               "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    check_hmac("Jefe", 4, "what do ya want for nothing?", 28,
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    uint8_t d[50];
    memset(k, 0xaa, 20);
    memset(d, 0xdd, 50);
    check_hmac(k, 20, d, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    for (int i = 0; i < 25; i++)
        k[i] = (uint8_t)(i + 1);
    memset(d, 0xcd, 50);
    check_hmac(k, 25, d, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    memset(k, 0x0c, 20); /* test case 5 is truncated to 128 bits */
    check_hmac(k, 20, "Test With Truncation", 20, "a3b6167473100ee06e0c796c2955552b");
    memset(k, 0xaa, 131);
    const char *t6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    check_hmac(k, 131, t6, strlen(t6),
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    const char *t7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the HMAC "
                     "algorithm.";
    check_hmac(k, 131, t7, strlen(t7),
               "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    assert_true(hmac_equal("abc", "abc", 3));
    assert_false(hmac_equal("abc", "abd", 3));
}

/* ---- webhook signatures and bodies ---- */

#define SECRET "0123456789abcdef-secret"

static void test_webhook_sign_verify(void **state)
{
    (void)state;
    const char *body = "{\"text\":\"hi\"}";
    char *sig = webhook_sign(SECRET, 1700000000, body, strlen(body));
    /* The same as any HMAC-SHA256 tool computes over "1700000000.{...}" (python's hmac). */
    assert_string_equal(sig,
                        "sha256=f3df24daf63aed6e14067000ed651f73a7c295c99adf98e0d3f4c3fe3608d5e6");
    OK(webhook_verify(SECRET, sig, "1700000000", 1700000000, body, strlen(body), &e));
    OK(webhook_verify(SECRET, sig, "1700000000", 1700000000 + 300, body, strlen(body), &e));
    ERR(ETIME, "more than 300 seconds",
        webhook_verify(SECRET, sig, "1700000000", 1700000000 + 301, body, strlen(body), &e));
    ERR(ETIME, "more than 300 seconds",
        webhook_verify(SECRET, sig, "1700000000", 1700000000 - 301, body, strlen(body), &e));
    ERR(ETIME, "missing", webhook_verify(SECRET, sig, NULL, 1700000000, body, strlen(body), &e));
    ERR(ETIME, "not Unix seconds",
        webhook_verify(SECRET, sig, "17e8", 1700000000, body, strlen(body), &e));
    ERR(ETIME, "not Unix seconds",
        webhook_verify(SECRET, sig, "-1700000000", 1700000000, body, strlen(body), &e));
    ERR(EACCES, "missing",
        webhook_verify(SECRET, NULL, "1700000000", 1700000000, body, strlen(body), &e));
    /* A changed body, a changed time (signed with the body), another secret, a cut signature. */
    ERR(EACCES, "does not match",
        webhook_verify(SECRET, sig, "1700000000", 1700000000, "{\"text\":\"ho\"}", 13, &e));
    ERR(EACCES, "does not match",
        webhook_verify(SECRET, sig, "1700000001", 1700000000, body, strlen(body), &e));
    ERR(EACCES, "does not match",
        webhook_verify(SECRET "x", sig, "1700000000", 1700000000, body, strlen(body), &e));
    sig[strlen(sig) - 1] = '\0';
    ERR(EACCES, "does not match",
        webhook_verify(SECRET, sig, "1700000000", 1700000000, body, strlen(body), &e));
    free(sig);
}

static void test_webhook_body(void **state)
{
    (void)state;
    char *text = NULL, *sender = NULL;
    const char *b = "{\"text\":\"deploy done\",\"sender\":\"ci\"}";
    OK(webhook_parse_body(b, strlen(b), &text, &sender, &e));
    assert_string_equal(text, "deploy done");
    assert_string_equal(sender, "ci");
    free(text);
    free(sender);
    b = "{\"text\":\"x\"}";
    OK(webhook_parse_body(b, strlen(b), &text, &sender, &e));
    assert_string_equal(sender, "");
    free(text);
    free(sender);
    ERR(EINVAL, "field 'text'", webhook_parse_body("{}", 2, &text, &sender, &e));
    ERR(EINVAL, "field 'text'", webhook_parse_body("{\"text\":\"\"}", 11, &text, &sender, &e));
    ERR(EINVAL, "unknown field 'x'",
        webhook_parse_body("{\"text\":\"a\",\"x\":1}", 18, &text, &sender, &e));
    ERR(EINVAL, "expected a JSON object", webhook_parse_body("[1]", 3, &text, &sender, &e));
    assert_true(webhook_parse_body("{", 1, &text, &sender, NULL) < 0);
}

static void test_webhook_unknown_hook(void **state)
{
    (void)state;
    int64_t id = 0;
    ERR(ENOENT, "no hook 'x'", webhook_receive(NULL, NULL, "x", "s", "1", "{}", 2, &id, &e));
}

/* ---- configuration: [telegram], [[hook]], api.tcp_listen ---- */

static int parse(const char *text, nc_config **c, nc_error **e)
{
    return config_parse(text, strlen(text), "t.toml", c, e);
}

static void test_config(void **state)
{
    (void)state;
    nc_config *c = NULL;
    OK(parse("[api]\ntcp_listen = \"127.0.0.1:8080\"\n[telegram]\ntoken_file = \"/x\"\n"
             "[[hook]]\nname = \"ci\"\ngroup = \"builds\"\nsecret = \"0123456789abcdef\"\n"
             "url = \"https://example.com/x\"\n[[hook]]\nname = \"b\"\ngroup = \"g\"\n"
             "secret_file = \"/etc/s\"\n",
             &c, &e));
    assert_string_equal(c->api_tcp_listen, "127.0.0.1:8080");
    assert_string_equal(c->telegram_api_base, "https://api.telegram.org");
    assert_int_equal(c->nhooks, 2);
    assert_string_equal(c->hooks[0].name, "ci");
    assert_string_equal(c->hooks[0].url, "https://example.com/x");
    assert_null(c->hooks[1].url);
    assert_string_equal(c->hooks[1].secret_file, "/etc/s");
    config_free(c);
    OK(parse("[api]\ntcp_listen = \"[::1]:1\"\n", &c, &e));
    config_free(c);
    /* No TLS: never anything but loopback. */
    ERR(EINVAL, "has no TLS", parse("[api]\ntcp_listen = \"0.0.0.0:8080\"\n", &c, &e));
    ERR(EINVAL, "has no TLS", parse("[api]\ntcp_listen = \"127.0.0.1:0\"\n", &c, &e));
    ERR(EINVAL, "has no TLS", parse("[api]\ntcp_listen = \"127.0.0.1\"\n", &c, &e));
    ERR(EINVAL, "must start with https://", parse("[telegram]\napi_base = \"ftp://x\"\n", &c, &e));
    ERR(EINVAL, "must not end with '/'", parse("[telegram]\napi_base = \"https://x/\"\n", &c, &e));
    ERR(EINVAL, "needs secret or secret_file (one)",
        parse("[[hook]]\nname = \"a\"\ngroup = \"g\"\n", &c, &e));
    ERR(EINVAL, "at least 16 characters",
        parse("[[hook]]\nname = \"a\"\ngroup = \"g\"\nsecret = \"short\"\n", &c, &e));
    ERR(EINVAL, "needs a name and a group",
        parse("[[hook]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\n", &c, &e));
    ERR(EINVAL, "unknown key in [[hook]]", parse("[[hook]]\nname = \"a\"\nport = \"1\"\n", &c, &e));
    ERR(EEXIST, "defined twice",
        parse("[[hook]]\nname = \"a\"\ngroup = \"g\"\nsecret = \"0123456789abcdef\"\n"
              "[[hook]]\nname = \"a\"\ngroup = \"g\"\nsecret = \"0123456789abcdef\"\n",
              &c, &e));
    ERR(EINVAL, "1-64 letters",
        parse("[[hook]]\nname = \"../x\"\ngroup = \"g\"\nsecret = \"0123456789abcdef\"\n", &c, &e));
    ERR(EINVAL, "hooks are written as [[hook]] tables", parse("hook = 1\n", &c, &e));
}

/* ---- the store's channel tables ---- */

struct fx {
    char dir[64];
    store *s;
};

static int setup(void **state)
{
    struct fx *f = xnew0(struct fx);
    strcpy(f->dir, "/tmp/nc-test-channels.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    OK(store_open(f->dir, &f->s, &e));
    store_group g = {
        .folder = "g", .name = "", .trigger = "", .requires_trigger = false, .image = ""};
    OK(store_group_add(f->s, &g, &e));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    char *cmd = xasprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f);
    return 0;
}

static void test_store_cursor(void **state)
{
    struct fx *f = *state;
    int64_t v = -1;
    OK(store_cursor_get(f->s, "telegram.offset", &v, &e));
    assert_int_equal(v, 0);
    int64_t id = 0;
    OK(store_message_add_cursor(f->s, "g", "tg:1", "Ada", "hi", 1000, "telegram.offset", 11, &id,
                                &e));
    assert_true(id > 0);
    OK(store_cursor_get(f->s, "telegram.offset", &v, &e));
    assert_int_equal(v, 11);
    /* A message that cannot be stored leaves the cursor where it was: one transaction. */
    ERR(ENOENT, "no group 'nope'",
        store_message_add_cursor(f->s, "nope", "tg:1", "Ada", "hi", 1000, "telegram.offset", 12,
                                 &id, &e));
    OK(store_cursor_get(f->s, "telegram.offset", &v, &e));
    assert_int_equal(v, 11);
    OK(store_cursor_set(f->s, "telegram.offset", 15, &e));
    OK(store_cursor_get(f->s, "telegram.offset", &v, &e));
    assert_int_equal(v, 15);
    store_message m = {0};
    OK(store_message_get(f->s, id, &m, &e));
    assert_string_equal(m.chat_jid, "tg:1");
    assert_string_equal(m.state, "pending");
    store_message_release(&m);
}

static void test_store_chats(void **state)
{
    struct fx *f = *state;
    OK(store_chat_map(f->s, "tg:1", "g", &e));
    OK(store_chat_seen(f->s, "tg:1", "Ada", "private", &e));
    OK(store_chat_seen(f->s, "tg:-5", "Team", "group", &e));
    OK(store_chat_seen(f->s, "tg:-5", "Team renamed", "supergroup", &e));
    store_chat *v = NULL;
    size_t n = 0;
    OK(store_chat_list(f->s, &v, &n, &e));
    assert_int_equal(n, 2);
    assert_string_equal(v[0].jid, "tg:-5");
    assert_null(v[0].group);
    assert_string_equal(v[0].name, "Team renamed");
    assert_string_equal(v[0].kind, "supergroup");
    assert_true(v[0].last_ms > 0);
    assert_string_equal(v[1].jid, "tg:1");
    assert_string_equal(v[1].group, "g");
    store_chats_free(v, n);
}

static void test_store_allowlist(void **state)
{
    struct fx *f = *state;
    bool ok = false;
    OK(store_sender_allowed(f->s, "g", "7", &ok, &e));
    assert_true(ok); /* no list: everyone */
    OK(store_sender_allow(f->s, "g", "7", &e));
    OK(store_sender_allow(f->s, "g", "7", &e)); /* twice is once */
    OK(store_sender_allowed(f->s, "g", "7", &ok, &e));
    assert_true(ok);
    OK(store_sender_allowed(f->s, "g", "8", &ok, &e));
    assert_false(ok);
    ERR(ENOENT, "no group", store_sender_allow(f->s, "nope", "7", &e));
    /* Removing the group removes its list. */
    OK(store_group_remove(f->s, "g", &e));
    store_group g = {.folder = "g", .name = "", .trigger = "", .image = ""};
    OK(store_group_add(f->s, &g, &e));
    OK(store_sender_allowed(f->s, "g", "8", &ok, &e));
    assert_true(ok);
}

static void test_store_replay(void **state)
{
    struct fx *f = *state;
    OK(store_hook_seen(f->s, "ci", "sha256=aa", 600000, &e));
    ERR(EALREADY, "already received", store_hook_seen(f->s, "ci", "sha256=aa", 600000, &e));
    OK(store_hook_seen(f->s, "other", "sha256=aa", 600000, &e)); /* per hook */
    OK(store_hook_seen(f->s, "ci", "sha256=bb", 600000, &e));
    /* An entry older than keep_ms is dropped: after 2 ms, a keep of 1 ms drops every one. */
    usleep(2000);
    OK(store_hook_seen(f->s, "ci", "sha256=cc", 1, &e));
    OK(store_hook_seen(f->s, "ci", "sha256=aa", 600000, &e));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_short_and_empty),
        cmocka_unit_test(test_split_on_lines),
        cmocka_unit_test(test_split_on_spaces_then_hard),
        cmocka_unit_test(test_split_utf8),
        cmocka_unit_test(test_split_big_reply),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_tg_updates),
        cmocka_unit_test(test_tg_errors),
        cmocka_unit_test(test_tg_mentions),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_webhook_sign_verify),
        cmocka_unit_test(test_webhook_body),
        cmocka_unit_test(test_webhook_unknown_hook),
        cmocka_unit_test(test_config),
        cmocka_unit_test_setup_teardown(test_store_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_chats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_allowlist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_replay, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
