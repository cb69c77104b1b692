/* The agent protocol: the input payload, and the marker parser at every split point, with bad
 * JSON, missing end markers, markers quoted inside results, output over the result cap, CRLF
 * lines and text around the blocks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agent/protocol.h"
#include "util/json.h"
#include "util/xalloc.h"

#define S PROTOCOL_START "\n"
#define E "\n" PROTOCOL_END "\n"

struct seen {
    strbuf log; /* one line per result: "ok:<result>|<session>" or "err:<error>" */
    int warnings;
    strbuf warn_log;
};

static void on_result(const agent_result *r, void *ud)
{
    struct seen *s = ud;
    if (r->success)
        strbuf_addf(&s->log, "ok:%s|%s\n", r->result ? r->result : "(null)",
                    r->session ? r->session : "");
    else
        strbuf_addf(&s->log, "err:%s\n", r->error ? r->error : "(none)");
}

static void on_warn(const char *msg, void *ud)
{
    struct seen *s = ud;
    s->warnings++;
    strbuf_addf(&s->warn_log, "%s\n", msg);
}

static void run_split(const char *in, size_t len, size_t i, size_t j, size_t cap, struct seen *out)
{
    marker_parser p;
    marker_parser_init(&p, cap, on_result, on_warn, out);
    marker_feed(&p, in, i);
    marker_feed(&p, in + i, j - i);
    marker_feed(&p, in + j, len - j);
    marker_finish(&p);
    marker_parser_release(&p);
}

/* Feeds in cut at every pair of points and checks the results and warnings never change. */
static void expect_everywhere(const char *in, size_t cap, const char *want, int want_warnings)
{
    size_t len = strlen(in);
    for (size_t i = 0; i <= len; i++)
        for (size_t j = i; j <= len; j += (len > 400 ? 7 : 1)) {
            struct seen s = {STRBUF_INIT, 0, STRBUF_INIT};
            run_split(in, len, i, j, cap, &s);
            if (strcmp(strbuf_str(&s.log), want) != 0 || s.warnings != want_warnings)
                fail_msg("cut at %zu,%zu:\n got  '%s' (%d warnings: %s)\n want '%s' (%d)", i, j,
                         strbuf_str(&s.log), s.warnings, strbuf_str(&s.warn_log), want,
                         want_warnings);
            strbuf_release(&s.log);
            strbuf_release(&s.warn_log);
        }
}

static void test_results_in_order(void **state)
{
    (void)state;
    expect_everywhere("starting up\n" S "{\"status\":\"success\",\"result\":\"one\","
                      "\"newSessionId\":\"s1\"}" E "noise between\n" S
                      "{\"status\":\"success\",\"result\":\"two\"}" E S
                      "{\"status\":\"success\",\"result\":null,\"newSessionId\":\"s1\"}" E
                      "trailing text",
                      1 << 20, "ok:one|s1\nok:two|\nok:(null)|s1\n", 0);
}

static void test_errors_and_bad_blocks(void **state)
{
    (void)state;
    expect_everywhere(S "{\"status\":\"error\",\"result\":null,\"error\":\"boom\"}" E S
                        "{not json}" E S "{\"status\":\"maybe\"}" E S
                        "{\"status\":\"success\",\"result\":7}" E S "[1]" E S
                        "{\"status\":\"success\",\"result\":\"after\"}" E,
                      1 << 20, "err:boom\nok:after|\n", 4);
}

/* A marker inside a result's text is quoted on the JSON line, never at a line start. */
static void test_fake_markers_inside_json(void **state)
{
    (void)state;
    expect_everywhere(S "{\"status\":\"success\",\"result\":\"a " PROTOCOL_END
                        " b\\n" PROTOCOL_START " c\"}" E,
                      1 << 20, "ok:a " PROTOCOL_END " b\n" PROTOCOL_START " c|\n", 0);
    /* Outside a block a start marker counts mid-line (text without a newline before it)... */
    expect_everywhere("progress 42%" S "{\"status\":\"success\",\"result\":\"mid\"}" E, 1 << 20,
                      "ok:mid|\n", 0);
    /* ...so stray marker text outside blocks opens a block, which the next real one replaces. */
    expect_everywhere("log: " PROTOCOL_START " not really\n" S
                      "{\"status\":\"success\",\"result\":\"real\"}" E,
                      1 << 20, "ok:real|\n", 1);
}

static void test_missing_end(void **state)
{
    (void)state;
    /* A new block before the end: the first is skipped, the second delivered. */
    expect_everywhere(S "{\"status\":\"success\",\"result\":\"lost\"}\n" S
                        "{\"status\":\"success\",\"result\":\"kept\"}" E,
                      1 << 20, "ok:kept|\n", 1);
    /* Output ends inside a block. */
    expect_everywhere("x\n" S "{\"status\":\"success\",\"result\":\"cut\"}", 1 << 20, "", 1);
}

static void test_crlf_and_whitespace(void **state)
{
    (void)state;
    expect_everywhere(PROTOCOL_START
                      "\r\n  {\"status\":\"success\",\"result\":\"w\"}  \r\n" PROTOCOL_END "\r\n",
                      1 << 20, "ok:w|\n", 0);
}

/* A NUL character (\u0000) in a string would cut it short as a C string: the block is skipped
 * with a warning that names the field, never delivered cut. */
static void test_nul_in_a_string(void **state)
{
    (void)state;
    expect_everywhere(S
                      "{\"status\":\"success\",\"result\":\"a\\u0000b\"}" E S
                      "{\"status\":\"error\",\"result\":null,\"error\":\"x\\u0000\"}" E S
                      "{\"status\":\"success\",\"result\":\"c\",\"newSessionId\":\"s\\u0000t\"}" E S
                      "{\"status\":\"success\",\"result\":\"kept \\\\u0000\"}" E,
                      1 << 20, "ok:kept \\u0000|\n", 3);
    struct seen s = {STRBUF_INIT, 0, STRBUF_INIT};
    const char *in = S "{\"status\":\"success\",\"result\":\"a\\u0000b\"}" E S
                       "{\"status\":\"success\",\"result\":null,\"newSessionId\":\"s\\u0000\"}" E;
    run_split(in, strlen(in), 0, 0, 1 << 20, &s);
    assert_string_equal(strbuf_str(&s.warn_log),
                        "skipped an output block that is not a valid result: invalid json: NUL "
                        "character (\\u0000) in the string at 'result'\n"
                        "skipped an output block that is not a valid result: invalid json: NUL "
                        "character (\\u0000) in the string at 'newSessionId'\n");
    strbuf_release(&s.log);
    strbuf_release(&s.warn_log);
}

/* A session id is an identifier: one with a control character is refused, not cleaned up. Text
 * in a result may hold controls: it is made safe where it is printed. */
static void test_session_id_with_controls(void **state)
{
    (void)state;
    expect_everywhere(
        S "{\"status\":\"success\",\"result\":\"a\",\"newSessionId\":\"s\\u001b[2J\"}" E S
          "{\"status\":\"success\",\"result\":null,\"newSessionId\":\"s\\n1\"}" E S
          "{\"status\":\"success\",\"result\":null,\"newSessionId\":\"\\u009b1\"}" E S
          "{\"status\":\"success\",\"result\":\"\\u001b]0;t\\u0007\",\"newSessionId\":"
          "\"caf\\u00e9-42\"}" E,
        1 << 20, "ok:\x1b]0;t\x07|caf\xc3\xa9-42\n", 3);
    struct seen s = {STRBUF_INIT, 0, STRBUF_INIT};
    const char *in = S "{\"status\":\"success\",\"result\":null,\"newSessionId\":\"s\\t\"}" E;
    run_split(in, strlen(in), 0, 0, 1 << 20, &s);
    assert_string_equal(strbuf_str(&s.warn_log),
                        "skipped an output block that is not a valid result: newSessionId holds "
                        "a control character\n");
    strbuf_release(&s.log);
    strbuf_release(&s.warn_log);
}

/* Over the cap: an error result, and memory bounded by the cap. */
static void test_oversize_result(void **state)
{
    (void)state;
    strbuf in = STRBUF_INIT;
    strbuf_addstr(&in, S "{\"status\":\"success\",\"result\":\"");
    for (int i = 0; i < 3000; i++)
        strbuf_addch(&in, 'x');
    strbuf_addstr(&in, "\"}" E S "{\"status\":\"success\",\"result\":\"small\"}" E);
    struct seen s = {STRBUF_INIT, 0, STRBUF_INIT};
    marker_parser p;
    marker_parser_init(&p, 1024, on_result, on_warn, &s);
    for (size_t i = 0; i < in.len; i += 100) {
        marker_feed(&p, in.buf + i, in.len - i < 100 ? in.len - i : 100);
        assert_true(p.block.alloc <= 4096); /* never holds the oversize block */
    }
    marker_finish(&p);
    assert_string_equal(strbuf_str(&s.log), "err:the agent's result is 3.0 KiB, more than the "
                                            "limit of 1 KiB\nok:small|\n");
    assert_int_equal(s.warnings, 1);
    marker_parser_release(&p);
    strbuf_release(&s.log);
    strbuf_release(&s.warn_log);
    strbuf_release(&in);
    /* The same cut at every point gives the same. */
    strbuf_reset(&in);
    strbuf_addstr(&in, S "{\"status\":\"success\",\"result\":\"");
    for (int i = 0; i < 200; i++)
        strbuf_addch(&in, 'y');
    strbuf_addstr(&in, "\"}" E);
    expect_everywhere(in.buf, 64,
                      "err:the agent's result is 233 bytes, more than the limit of 64 bytes\n", 1);
    strbuf_release(&in);
}

/* Text outside blocks is never kept: a flood of it leaves memory bounded. */
static void test_bounded_outside_blocks(void **state)
{
    (void)state;
    struct seen s = {STRBUF_INIT, 0, STRBUF_INIT};
    marker_parser p;
    marker_parser_init(&p, 1024, on_result, on_warn, &s);
    char chunk[65536];
    memset(chunk, 'n', sizeof(chunk));
    for (int i = 0; i < 200; i++) { /* 12.5 MiB */
        marker_feed(&p, chunk, sizeof(chunk));
        assert_true(p.pending.len < 64);
    }
    marker_feed(&p, "\n" S "{\"status\":\"success\",\"result\":\"late\"}" E,
                strlen("\n" S "{\"status\":\"success\",\"result\":\"late\"}" E));
    marker_finish(&p);
    assert_string_equal(strbuf_str(&s.log), "ok:late|\n");
    marker_parser_release(&p);
    strbuf_release(&s.log);
    strbuf_release(&s.warn_log);
}

static void test_input_payload(void **state)
{
    (void)state;
    agent_input in = {.prompt = "hi \"there\"\n",
                      .group_folder = "main",
                      .chat_jid = "cli:main",
                      .is_main = true,
                      .assistant_name = "Andy"};
    strbuf out = STRBUF_INIT;
    assert_int_equal(protocol_input_json(&in, &out, NULL), 0);
    assert_string_equal(out.buf, "{\"prompt\":\"hi \\\"there\\\"\\n\",\"groupFolder\":\"main\","
                                 "\"chatJid\":\"cli:main\",\"isMain\":true,\"assistantName\":"
                                 "\"Andy\"}");
    strbuf_reset(&out);
    in = (agent_input){.prompt = "p",
                       .session_id = "s9",
                       .group_folder = "g",
                       .chat_jid = "c",
                       .is_scheduled_task = true};
    assert_int_equal(protocol_input_json(&in, &out, NULL), 0);
    assert_string_equal(out.buf, "{\"prompt\":\"p\",\"sessionId\":\"s9\",\"groupFolder\":\"g\","
                                 "\"chatJid\":\"c\",\"isMain\":false,\"isScheduledTask\":true}");
    strbuf_reset(&out);
    nc_error *err = NULL;
    in.prompt = "bad \xff utf-8";
    assert_true(protocol_input_json(&in, &out, &err) < 0);
    nc_error_free(err);
    strbuf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results_in_order),
        cmocka_unit_test(test_errors_and_bad_blocks),
        cmocka_unit_test(test_fake_markers_inside_json),
        cmocka_unit_test(test_missing_end),
        cmocka_unit_test(test_crlf_and_whitespace),
        cmocka_unit_test(test_nul_in_a_string),
        cmocka_unit_test(test_session_id_with_controls),
        cmocka_unit_test(test_oversize_result),
        cmocka_unit_test(test_bounded_outside_blocks),
        cmocka_unit_test(test_input_payload),
    };
    return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}
