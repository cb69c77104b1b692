/* src/agent/turn.c without an engine: the timeouts a request gets, and the stderr line quoted
 * when an agent exits non-zero. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agent/turn.h"
#include "util/timeutil.h"
#include "util/units.h"
#include "util/xalloc.h"

static turn_timeouts timeouts_for(const nc_config *cfg, uint64_t timeout_ms, bool one_shot)
{
    turn_request req = {.cfg = cfg, .timeout_ms = timeout_ms, .close_when_idle = one_shot};
    return turn_compute_timeouts(&req);
}

/* NanoClaw's rule without --timeout: the hard timeout leaves the idle close 30 s to act. */
static void test_configured_timeouts(void **state)
{
    (void)state;
    _cleanup_config_ nc_config *cfg = config_defaults();
    turn_timeouts to = timeouts_for(cfg, 0, false);
    assert_int_equal(to.hard_ms, 1830000);
    assert_int_equal(to.idle_ms, 1800000);
    assert_int_equal(to.quiet_ms, 0); /* the quiet close is for one-shot turns only */
    to = timeouts_for(cfg, 0, true);
    assert_int_equal(to.quiet_ms, 10000);
    cfg->agent_timeout_ms = 3600000;
    assert_int_equal(timeouts_for(cfg, 0, true).hard_ms, 3600000);
    /* Whatever the values, the sum saturates instead of wrapping to a deadline in the past. */
    cfg->agent_idle_timeout_ms = UINT64_MAX - 1;
    assert_true(timeouts_for(cfg, 0, true).hard_ms == UINT64_MAX);
    assert_true(deadline_after(UINT64_MAX - 5, 10) == UINT64_MAX);
    assert_true(deadline_after(1000, DURATION_MAX_MS) == 1000 + DURATION_MAX_MS);
}

/* --timeout S is the hard timeout as given, and nothing brings the idle close forward: a turn
 * still at work runs until it ends or S pass with no result. */
static void test_explicit_timeout(void **state)
{
    (void)state;
    _cleanup_config_ nc_config *cfg = config_defaults();
    turn_timeouts to = timeouts_for(cfg, 60000, true);
    assert_int_equal(to.hard_ms, 60000);
    assert_int_equal(to.idle_ms, 1800000);
    assert_int_equal(to.quiet_ms, 10000);
    to = timeouts_for(cfg, 5000, true);
    assert_int_equal(to.hard_ms, 5000);
    assert_int_equal(to.idle_ms, 1800000);
    to = timeouts_for(cfg, DURATION_MAX_MS, true);
    assert_true(to.hard_ms == DURATION_MAX_MS);
    /* A configured idle close shorter than the timeout is the user's own choice, kept. */
    cfg->agent_idle_timeout_ms = 2000;
    cfg->agent_quiet_close_ms = 0;
    to = timeouts_for(cfg, 60000, true);
    assert_int_equal(to.hard_ms, 60000);
    assert_int_equal(to.idle_ms, 2000);
    assert_int_equal(to.quiet_ms, 0);
}

/* tail is given with its length, so it may hold NUL bytes. want NULL: no line to quote. */
static void expect_line(const char *tail, size_t len, const char *want)
{
    _cleanup_free_ char *got = turn_stderr_line(tail, len);
    if (!want && got)
        fail_msg("stderr %zu bytes: got '%s', want no line", len, got);
    if (want && (!got || strcmp(got, want) != 0))
        fail_msg("stderr %zu bytes: got '%s', want '%s'", len, got ? got : "(none)", want);
}

#define LINE(tail, want) expect_line((tail), sizeof(tail) - 1, (want))

static void test_last_line(void **state)
{
    (void)state;
    /* The last line says why; the first is often a banner. */
    LINE("Starting agent...\nError: API key not set\n", "Error: API key not set");
    LINE("one\r\ntwo\r\n", "two");
    LINE("Traceback:\n  File \"x\"\nValueError: bad\n\n  \n\t\r\n", "ValueError: bad");
    LINE("  indented and no newline", "indented and no newline");
    LINE("only", "only");
    LINE("", NULL);
    LINE("\n \r\n\t\n", NULL);
    expect_line(NULL, 0, NULL);
}

/* Whatever the agent writes, the line cannot drive the user's terminal. */
static void test_controls_replaced(void **state)
{
    (void)state;
    LINE("x\x1b[31mred\x1b[0m\x07\n", "x?[31mred?[0m?");
    LINE("a\0b\177c\n", "a?b?c");
    LINE("50%\r100%\n", "50%?100%");
    LINE("tab\there\n", "tab?here");
    /* UTF-8 text stays; C1 controls (U+009B is CSI), invalid and cut sequences do not. */
    LINE("Fehler: ung\xc3\xbcltiger Schl\xc3\xbcssel \xe2\x9c\x97\n",
         "Fehler: ung\xc3\xbcltiger Schl\xc3\xbcssel \xe2\x9c\x97");
    LINE("c1 \302\2332J\n", "c1 ??2J");
    LINE("raw \2332J \xff \xc0\xaf end \xe2\x9c\n", "raw ?2J ? ?? end ??");
    LINE("surrogate \xed\xa0\x80\n", "surrogate ???");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configured_timeouts),
        cmocka_unit_test(test_explicit_timeout),
        cmocka_unit_test(test_last_line),
        cmocka_unit_test(test_controls_replaced),
    };
    return cmocka_run_group_tests_name("turn", tests, NULL, NULL);
}
