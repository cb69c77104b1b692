/* Channels (src/channels/): the reply splitter, the backoff, the Telegram parser, mentions,
 * error redaction, HMAC-SHA256 (RFC 4231), webhook signatures and bodies, and the store's
 * channel tables (cursors committed with their message, chats, allowlists, replays). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channels/channel.h"
#include "channels/checks.h"
#include "config.h"
#include "channels/split.h"
#include "channels/tg_parse.h"
#include "channels/webclient.h"
#include "channels/webhook.h"
#include "orch/store.h"
#include "util/hmac.h"
#include "util/json.h"
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

/* Whether s is well-formed UTF-8 (RFC 3629), checked by brute force over code points. */
static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, n = c < 0x80             ? 1
                             : (c & 0xE0) == 0xC0 ? 2
                             : (c & 0xF0) == 0xE0 ? 3
                             : (c & 0xF8) == 0xF0 ? 4
                                                  : 0;
        if (!n)
            return false;
        unsigned cp = n == 1 ? c : c & (0x7F >> n);
        for (unsigned i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += n;
    }
    return true;
}

static void test_utf8_clean(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } v[] = {
        {"plain é \xF0\x9F\x98\x80", "plain é \xF0\x9F\x98\x80"},
        {"a\xFF"
         "b",
         "a\xEF\xBF\xBD"
         "b"},
        {"\x80", "\xEF\xBF\xBD"},                                 /* stray continuation */
        {"x\xC3", "x\xEF\xBF\xBD"},                               /* cut at the end */
        {"\xE2\x82y", "\xEF\xBF\xBD\xEF\xBF\xBDy"},               /* cut before ASCII */
        {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                 /* overlong '/' */
        {"\xE0\x80\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* overlong */
        {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate */
        {"\xF4\x90\x80\x80",
         "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* past U+10FFFF */
        {"\xF5\x80\x80z", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
        char *got = split_utf8_clean(v[i].in);
        assert_string_equal(got, v[i].want);
        assert_true(utf8_ok(got));
        free(got);
    }
    /* Every byte value in every position: the result is always well-formed, and the JSON
     * generator (which validates UTF-8, as Telegram does) takes it. */
    for (unsigned a = 0x80; a < 0x100; a++)
        for (unsigned b = 0x01; b < 0x100; b++) {
            char in[] = {'q', (char)a, (char)b, (char)0x80, (char)0xBF, 'z', '\0'};
            char *got = split_utf8_clean(in);
            if (!utf8_ok(got))
                fail_msg("not well-formed after cleaning: %02x %02x", a, b);
            nc_jgen *g = jgen_new();
            jgen_obj_open(g);
            jgen_kv_str(g, "text", got);
            jgen_obj_close(g);
            strbuf out = STRBUF_INIT;
            OK(jgen_finish(g, &out, &e));
            strbuf_release(&out);
            jgen_free(g);
            free(got);
        }
}

/* The splitter never cuts a well-formed sequence, whatever the limit: each part is valid. */
static void test_split_never_cuts(void **state)
{
    (void)state;
    char *text = split_utf8_clean("a\xE2\x82\xAC"
                                  "b\xF0\x9F\x98\x80\xFF\xC3\xA9\xED\xA0\x80"
                                  "\xE2\x82\xAC\xE2\x82\xAC\xF0\x9F\x98\x80"
                                  "c");
    for (size_t limit = 2; limit < 12; limit++) {
        char **v = split_text(text, limit);
        strbuf joined = STRBUF_INIT;
        for (size_t i = 0; v[i]; i++) {
            if (!utf8_ok(v[i]))
                fail_msg("limit %zu: part %zu is cut inside a character", limit, i);
            if (units(v[i]) > limit)
                fail_msg("limit %zu: part %zu has %zu units", limit, i, units(v[i]));
            strbuf_addstr(&joined, v[i]);
        }
        assert_string_equal(joined.buf, text);
        strbuf_release(&joined);
        strv_free(v);
    }
    free(text);
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
    /* update_id + 1 is the next offset: the largest int64 would overflow it. */
    const char *maxid = "{\"ok\":true,\"result\":[{\"update_id\":9223372036854775807}]}";
    ERR(EPROTO, "out of range", tg_parse_updates(maxid, strlen(maxid), &v, &n, NULL, &e));
    const char *negid = "{\"ok\":true,\"result\":[{\"update_id\":-1}]}";
    ERR(EPROTO, "out of range", tg_parse_updates(negid, strlen(negid), &v, &n, NULL, &e));
    const char *bigid = "{\"ok\":true,\"result\":[{\"update_id\":9223372036854775806}]}";
    OK(tg_parse_updates(bigid, strlen(bigid), &v, &n, NULL, &e));
    assert_int_equal(n, 1);
    assert_true(v[0].update_id == INT64_MAX - 1);
    tg_updates_free(v, n);
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
    /* A group upgraded to a supergroup: the 400 names the new chat. */
    const char *mig = "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: group "
                      "chat was upgraded to a supergroup chat\",\"parameters\":"
                      "{\"migrate_to_chat_id\":-1001234567890}}";
    ERR(EREMOTEIO, "upgraded to a supergroup", tg_parse_ok(mig, strlen(mig), &fail, &e));
    assert_int_equal(fail.code, 400);
    assert_true(fail.migrate_to == -1001234567890LL);
    assert_int_equal(fail.retry_after, 0);
    tg_error_release(&fail);
    ERR(EREMOTEIO, "409", tg_parse_ok(r409, strlen(r409), &fail, &e));
    assert_int_equal(fail.migrate_to, 0);
    tg_error_release(&fail);
    char *user = NULL;
    const char *me = "{\"ok\":true,\"result\":{\"id\":1,\"is_bot\":true,\"username\":\"nc_bot\"}}";
    OK(tg_parse_me(me, strlen(me), &user, NULL, &e));
    assert_string_equal(user, "nc_bot");
    free(user);
    const char *anon = "{\"ok\":true,\"result\":{\"id\":1}}";
    ERR(EPROTO, "no username", tg_parse_me(anon, strlen(anon), &user, NULL, &e));
}

/* The service messages of a group upgraded to a supergroup, in the old and the new chat. */
static void test_tg_migrate_updates(void **state)
{
    (void)state;
    tg_update *v = NULL;
    size_t n = 0;
    const char *body =
        "{\"ok\":true,\"result\":["
        "{\"update_id\":5,\"message\":{\"message_id\":1,\"date\":1,\"chat\":{\"id\":-300,"
        "\"type\":\"group\",\"title\":\"T\"},\"from\":{\"id\":7,\"first_name\":\"A\"},"
        "\"migrate_to_chat_id\":-1000000000300}},"
        "{\"update_id\":6,\"message\":{\"message_id\":1,\"date\":1,\"chat\":{\"id\":"
        "-1000000000300,\"type\":\"supergroup\",\"title\":\"T\"},\"from\":{\"id\":7,"
        "\"first_name\":\"A\"},\"migrate_from_chat_id\":-300}},"
        "{\"update_id\":7,\"message\":{\"message_id\":2,\"date\":1,\"chat\":{\"id\":-300,"
        "\"type\":\"group\"},\"text\":\"hi\"}}]}";
    OK(tg_parse_updates(body, strlen(body), &v, &n, NULL, &e));
    assert_int_equal(n, 3);
    assert_int_equal(v[0].chat_id, -300);
    assert_true(v[0].migrate_to == -1000000000300LL);
    assert_int_equal(v[0].migrate_from, 0);
    assert_true(v[1].chat_id == -1000000000300LL);
    assert_int_equal(v[1].migrate_from, -300);
    assert_int_equal(v[1].migrate_to, 0);
    assert_int_equal(v[2].migrate_to, 0);
    assert_int_equal(v[2].migrate_from, 0);
    assert_int_equal(v[2].kind, TG_TEXT);
    tg_updates_free(v, n);
}

/* ---- delivery failures ---- */

/* A server's delay is cut before it is turned into milliseconds: 2^63/1000 s and more would
 * wrap to a short or zero wait. */
static void test_retry_after_clamp(void **state)
{
    (void)state;
    assert_int_equal(channel_retry_after_ms_of(0), 0);
    assert_int_equal(channel_retry_after_ms_of(-5), 0);
    assert_int_equal(channel_retry_after_ms_of(INT64_MIN), 0);
    assert_int_equal(channel_retry_after_ms_of(3), 3000);
    assert_int_equal(channel_retry_after_ms_of(CHANNEL_RETRY_AFTER_MAX_MS / 1000),
                     CHANNEL_RETRY_AFTER_MAX_MS);
    assert_int_equal(channel_retry_after_ms_of(CHANNEL_RETRY_AFTER_MAX_MS / 1000 + 1),
                     CHANNEL_RETRY_AFTER_MAX_MS);
    /* (uint64_t)s * 1000 wraps for these: 18446744073709552 * 1000 = 2^64 + 384 -> 384 ms. */
    assert_int_equal(channel_retry_after_ms_of(18446744073709552LL), CHANNEL_RETRY_AFTER_MAX_MS);
    assert_int_equal(channel_retry_after_ms_of(INT64_MAX), CHANNEL_RETRY_AFTER_MAX_MS);
}

static void test_give_up(void **state)
{
    (void)state;
    /* A refusal for good ends a reply at its first try, whatever the limit. */
    assert_true(channel_give_up(CHANNEL_PERMANENT, 1, 50));
    assert_true(channel_give_up(CHANNEL_PERMANENT, 1, 0));
    /* Anything else is retried until max_attempts (0: no end). */
    assert_false(channel_give_up(EREMOTEIO, 1, 50));
    assert_false(channel_give_up(EAGAIN, 49, 50));
    assert_true(channel_give_up(EAGAIN, 50, 50));
    assert_true(channel_give_up(ECONNREFUSED, 51, 50));
    assert_false(channel_give_up(ECONNREFUSED, 1000000, 0));
}

static void test_webhook_status(void **state)
{
    (void)state;
    static const long permanent[] = {400, 401, 403, 404, 405, 410, 413, 422, 499};
    static const long transient[] = {200, 301, 408, 429, 500, 502, 503, 504, 0, 599};
    for (size_t i = 0; i < sizeof(permanent) / sizeof(*permanent); i++)
        assert_true(webhook_status_permanent(permanent[i]));
    for (size_t i = 0; i < sizeof(transient) / sizeof(*transient); i++)
        assert_false(webhook_status_permanent(transient[i]));
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
    assert_int_equal(c->channels_max_attempts, 50);
    config_free(c);
    OK(parse("[channels]\nmax_attempts = 0\n", &c, &e));
    assert_int_equal(c->channels_max_attempts, 0);
    config_free(c);
    OK(parse("[channels]\nmax_attempts = 3\n", &c, &e));
    assert_int_equal(c->channels_max_attempts, 3);
    config_free(c);
    ERR(ERANGE, "max_attempts", parse("[channels]\nmax_attempts = -1\n", &c, &e));
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

/* Plain http carries the bot token (in every URL) or a hook's replies in the clear: refused
 * unless it stays on this host. */
static void test_config_cleartext(void **state)
{
    (void)state;
    nc_config *c = NULL;
    static const char *const refused[] = {"http://example.com", "http://10.0.0.1:8081",
                                          "http://localhost.example.com", "http://[::2]:80",
                                          "http://localhost@evil.example"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
        char *t = xasprintf("[telegram]\napi_base = \"%s\"\n", refused[i]);
        ERR(EINVAL, "plain http to another host: the bot token (in every URL) would cross",
            parse(t, &c, &e));
        free(t);
        t = xasprintf("[[hook]]\nname = \"a\"\ngroup = \"g\"\nsecret = \"0123456789abcdef\"\n"
                      "url = \"%s/in\"\n",
                      refused[i]);
        ERR(EINVAL, "plain http to another host would send every reply in the clear",
            parse(t, &c, &e));
        free(t);
    }
    static const char *const fine[] = {"http://127.0.0.1:8081", "http://127.9.9.9",
                                       "http://[::1]:80", "http://localhost:1",
                                       "https://example.com"};
    for (size_t i = 0; i < sizeof(fine) / sizeof(*fine); i++) {
        char *t = xasprintf("[telegram]\napi_base = \"%s\"\n[[hook]]\nname = \"a\"\n"
                            "group = \"g\"\nsecret = \"0123456789abcdef\"\nurl = \"%s/in\"\n",
                            fine[i], fine[i]);
        OK(parse(t, &c, &e));
        assert_string_equal(c->telegram_api_base, fine[i]);
        config_free(c);
        free(t);
    }
}

/* ---- doctor's channel checks ---- */

static void test_url_cleartext(void **state)
{
    (void)state;
    static const char *const remote[] = {
        "http://example.com",
        "http://example.com/x",
        "http://10.0.0.1:80/x",
        "http://localhost.example.com/",
        "http://127.0.0.1.example.com/",
        "http://[::2]/x",
        "http://user@example.com/",
        "HTTP://example.com",
        "http://localhost@evil.example/x",
    };
    static const char *const fine[] = {
        "https://api.telegram.org", "https://10.0.0.1/x", "http://localhost:8081",
        "http://127.0.0.1:9/x",     "http://127.1.2.3/",  "http://[::1]:80/x",
        "HTTPS://x.example",        "http://LOCALHOST/x", "http://user@127.0.0.1/",
    };
    for (size_t i = 0; i < sizeof(remote) / sizeof(*remote); i++)
        if (!channel_url_cleartext_remote(remote[i]))
            fail_msg("'%s' is plain http to another host", remote[i]);
    for (size_t i = 0; i < sizeof(fine) / sizeof(*fine); i++)
        if (channel_url_cleartext_remote(fine[i]))
            fail_msg("'%s' is https or this host", fine[i]);
}

static void collect_check(void *ud, channel_check_status st, const char *text)
{
    static const char *const names[] = {"ok", "warn", "problem"};
    strv_push_take(ud, xasprintf("%s %s", names[st], text));
}

/* The verdicts on text's configuration, one "status text" a line. */
static char *checks_of(const char *text)
{
    nc_config *c = NULL;
    OK(parse(text, &c, &e));
    char **v = NULL;
    channels_check_config(c, collect_check, &v);
    config_free(c);
    strbuf all = STRBUF_INIT;
    for (size_t i = 0; v && v[i]; i++)
        strbuf_addf(&all, "%s\n", v[i]);
    strv_free(v);
    return all.buf ? strbuf_detach(&all, NULL) : xstrdup("");
}

#define HAS(all, line)                                                                             \
    do {                                                                                           \
        if (!strstr(all, line))                                                                    \
            fail_msg("no '%s' in:\n%s", line, all);                                                \
    } while (0)

static void test_channel_checks(void **state)
{
    (void)state;
    char dir[] = "/tmp/nc-test-chk.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *tok = xasprintf("%s/token", dir), *sec = xasprintf("%s/secret", dir);
    char *cmd =
        xasprintf("printf '123:abc\\n' >'%s' && chmod 644 '%s' && printf 'short-secret-1234' "
                  ">'%s' && chmod 600 '%s'",
                  tok, tok, sec, sec);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    char *conf = xasprintf("[telegram]\ntoken_file = \"%s\"\napi_base = \"http://127.0.0.1:1\"\n"
                           "[[hook]]\nname = \"a\"\ngroup = \"g\"\nsecret_file = \"%s\"\n"
                           "url = \"https://10.1.2.3/in\"\n[[hook]]\nname = \"b\"\ngroup = \"g\"\n"
                           "secret = \"0123456789abcdef0123456789abcdef\"\n"
                           "url = \"http://127.0.0.1:8080/in\"\n",
                           tok, sec);
    char *all = checks_of(conf);
    HAS(all, "problem telegram.token_file '");
    HAS(all, "has mode 0644: others can read the secret, and the daemon refuses it; run chmod 600");
    HAS(all, "ok telegram.api_base 'http://127.0.0.1:1' is plain http, but to this host");
    HAS(all, "warn hook 'a': the secret is only 17 bytes");
    HAS(all, "ok hook 'a': url 'https://10.1.2.3/in' is https");
    HAS(all, "ok hook 'b': the secret is 32 bytes");
    HAS(all, "ok hook 'b': url 'http://127.0.0.1:8080/in' is plain http, but to this host");
    assert_null(strstr(all, "123:abc")); /* never the secret */
    assert_null(strstr(all, "short-secret"));
    free(all);
    free(conf);
    assert_int_equal(chmod(tok, 0600), 0);
    conf = xasprintf("[telegram]\ntoken_file = \"%s\"\n", tok);
    all = checks_of(conf);
    HAS(all, "ok telegram.token_file '");
    HAS(all, "': mode 0600, owned by this user");
    HAS(all, "ok telegram.api_base 'https://api.telegram.org' is https");
    assert_null(strstr(all, "problem"));
    free(all);
    free(conf);
    conf = xasprintf("[telegram]\ntoken_file = \"%s/missing\"\n", dir);
    all = checks_of(conf);
    HAS(all, "/missing' does not exist: the daemon will not start");
    free(all);
    free(conf);
    /* A FIFO is reported, not waited on (the alarm turns a blocked open into a failure). */
    char *fifo = xasprintf("%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    conf = xasprintf("[telegram]\ntoken_file = \"%s\"\n", fifo);
    alarm(20);
    all = checks_of(conf);
    alarm(0);
    HAS(all, "/fifo' is not a regular file: the daemon will not start");
    free(all);
    free(conf);
    free(fifo);
    /* No channel configured: nothing to say. */
    all = checks_of("");
    assert_string_equal(all, "");
    free(all);
    cmd = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(tok);
    free(sec);
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

static int64_t add_reply(store *s, const char *jid, const char *text)
{
    int64_t id = 0;
    OK(store_reply_add(s, "g", jid, 0, "r", text, 2000, &id, &e));
    return id;
}

static void test_store_give_up(void **state)
{
    struct fx *f = *state;
    int64_t a = add_reply(f->s, "tg:1", "first"), b = add_reply(f->s, "tg:1", "second");
    OK(store_outbox_failed(f->s, a, "HTTP 500", &e));
    store_message m = {0};
    OK(store_message_get(f->s, a, &m, &e));
    assert_string_equal(m.state, "pending");
    assert_int_equal(m.attempts, 1); /* a reply's delivery tries */
    assert_string_equal(m.error, "HTTP 500");
    store_message_release(&m);
    OK(store_outbox_give_up(f->s, a, "Forbidden: bot was blocked by the user", &e));
    OK(store_message_get(f->s, a, &m, &e));
    assert_string_equal(m.state, "failed");
    assert_int_equal(m.attempts, 2);
    assert_string_equal(m.error, "Forbidden: bot was blocked by the user");
    store_message_release(&m);
    /* Never delivered, never tried again; the chat's next reply is what is pending. */
    ERR(EALREADY, "failed: never delivered", store_outbox_delivered(f->s, a, &e));
    ERR(EALREADY, "failed: never delivered", store_outbox_give_up(f->s, a, "x", &e));
    ERR(ENOENT, "no reply", store_outbox_give_up(f->s, 999999, "x", &e));
    store_message *v = NULL;
    size_t n = 0;
    OK(store_outbox_pending(f->s, "tg:", 0, &v, &n, &e));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, b);
    assert_int_equal(v[0].attempts, 0);
    assert_null(v[0].error);
    store_messages_free(v, n);
    store_group_counts *c = NULL;
    OK(store_counts(f->s, &c, &n, &e));
    assert_int_equal(n, 1);
    assert_int_equal(c[0].undelivered, 1);
    assert_int_equal(c[0].undeliverable, 1);
    store_counts_free(c, n);
}

static void test_store_chat_migrate(void **state)
{
    struct fx *f = *state;
    OK(store_chat_map(f->s, "tg:-300", "g", &e));
    OK(store_chat_seen(f->s, "tg:-300", "Team", "group", &e));
    int64_t done = add_reply(f->s, "tg:-300", "delivered before");
    OK(store_outbox_delivered(f->s, done, &e));
    int64_t pend = add_reply(f->s, "tg:-300", "still to go");
    bool moved = false;
    OK(store_chat_migrate(f->s, "tg:-300", "tg:-100300", &moved, &e));
    assert_true(moved);
    char *folder = NULL;
    ERR(ENOENT, "", store_chat_group(f->s, "tg:-300", &folder, &e));
    OK(store_chat_group(f->s, "tg:-100300", &folder, &e));
    assert_string_equal(folder, "g");
    free(folder);
    /* The pending reply goes to the new chat; what was delivered keeps its chat. */
    store_message m = {0};
    OK(store_message_get(f->s, pend, &m, &e));
    assert_string_equal(m.chat_jid, "tg:-100300");
    store_message_release(&m);
    OK(store_message_get(f->s, done, &m, &e));
    assert_string_equal(m.chat_jid, "tg:-300");
    store_message_release(&m);
    store_chat *v = NULL;
    size_t n = 0;
    OK(store_chat_list(f->s, &v, &n, &e));
    assert_int_equal(n, 1);
    assert_string_equal(v[0].jid, "tg:-100300");
    assert_string_equal(v[0].name, "Team");
    store_chats_free(v, n);
    /* Again (the 400 and the update both say so): nothing left to move. */
    OK(store_chat_migrate(f->s, "tg:-300", "tg:-100300", &moved, &e));
    assert_false(moved);
    /* The new id already registered: it keeps its group, the old mapping goes. */
    store_group g2 = {.folder = "h", .name = "", .trigger = "", .image = ""};
    OK(store_group_add(f->s, &g2, &e));
    OK(store_chat_map(f->s, "tg:-400", "g", &e));
    OK(store_chat_map(f->s, "tg:-100400", "h", &e));
    OK(store_chat_migrate(f->s, "tg:-400", "tg:-100400", &moved, &e));
    assert_true(moved);
    ERR(ENOENT, "", store_chat_group(f->s, "tg:-400", &folder, &e));
    OK(store_chat_group(f->s, "tg:-100400", &folder, &e));
    assert_string_equal(folder, "h");
    free(folder);
    /* An unregistered chat: nothing moves. */
    OK(store_chat_migrate(f->s, "tg:-500", "tg:-100500", &moved, &e));
    assert_false(moved);
}

/* A database of schema 3 with replies in every state of its time: migration 4 keeps them and
 * lets a row end "failed". */
static void test_store_migrate_outbox(void **state)
{
    struct fx *f = *state;
    int64_t a = add_reply(f->s, "tg:1", "delivered"), b = add_reply(f->s, "tg:1", "pending");
    OK(store_outbox_delivered(f->s, a, &e));
    OK(store_outbox_failed(f->s, b, "HTTP 502", &e));
    store_close(f->s);
    f->s = NULL;
    char *path = xasprintf("%s/%s", f->dir, STORE_FILE);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    /* Back to schema 3's outbox, as a database written by the previous release has it. */
    const char *v2 =
        "PRAGMA foreign_keys = OFF; BEGIN;"
        "CREATE TABLE outbox_v3 ("
        "  message_id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,"
        "  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'superseded')),"
        "  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, created_ms INTEGER NOT NULL,"
        "  delivered_ms INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO outbox_v3 SELECT * FROM outbox; DROP TABLE outbox;"
        "ALTER TABLE outbox_v3 RENAME TO outbox;"
        "CREATE INDEX outbox_state ON outbox (state, message_id);"
        "DELETE FROM schema_version WHERE version = 4; COMMIT;";
    char *msg = NULL;
    if (sqlite3_exec(db, v2, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s", msg);
    sqlite3_close(db);
    OK(store_open(f->dir, &f->s, &e));
    assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
    store_message m = {0};
    OK(store_message_get(f->s, a, &m, &e));
    assert_string_equal(m.state, "delivered");
    store_message_release(&m);
    OK(store_message_get(f->s, b, &m, &e));
    assert_string_equal(m.state, "pending");
    assert_int_equal(m.attempts, 1);
    assert_string_equal(m.error, "HTTP 502");
    store_message_release(&m);
    OK(store_outbox_give_up(f->s, b, "HTTP 404", &e));
    OK(store_message_get(f->s, b, &m, &e));
    assert_string_equal(m.state, "failed");
    assert_int_equal(m.attempts, 2);
    store_message_release(&m);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_short_and_empty),
        cmocka_unit_test(test_split_on_lines),
        cmocka_unit_test(test_split_on_spaces_then_hard),
        cmocka_unit_test(test_split_utf8),
        cmocka_unit_test(test_split_big_reply),
        cmocka_unit_test(test_utf8_clean),
        cmocka_unit_test(test_split_never_cuts),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_tg_updates),
        cmocka_unit_test(test_tg_errors),
        cmocka_unit_test(test_tg_migrate_updates),
        cmocka_unit_test(test_give_up),
        cmocka_unit_test(test_retry_after_clamp),
        cmocka_unit_test(test_webhook_status),
        cmocka_unit_test(test_tg_mentions),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_webhook_sign_verify),
        cmocka_unit_test(test_webhook_body),
        cmocka_unit_test(test_webhook_unknown_hook),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_cleartext),
        cmocka_unit_test(test_url_cleartext),
        cmocka_unit_test(test_channel_checks),
        cmocka_unit_test_setup_teardown(test_store_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_chats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_allowlist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_give_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_chat_migrate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_migrate_outbox, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
