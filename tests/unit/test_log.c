/* src/util/log.c: every log line is made safe for a terminal after formatting (an agent's error
 * text, an engine's Server header), newlines kept; text passed through (an agent's stderr) is
 * made safe as it comes, and a log line after it that did not end its line starts a new one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* A literal, NUL bytes and all, without its terminator. */
#define PASS(lit) log_passthrough((lit), sizeof(lit) - 1)

static FILE *capture;
static int saved_stderr = -1;

/* stderr goes to a temporary file for the test. */
static int setup(void **state)
{
    (void)state;
    fflush(stderr);
    capture = tmpfile();
    assert_non_null(capture);
    saved_stderr = dup(2);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(capture), 2) == 2);
    return 0;
}

/* Stops the capture: stderr is the test's again, so failures show. */
static void restore(void)
{
    if (saved_stderr < 0)
        return;
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    saved_stderr = -1;
}

static int teardown(void **state)
{
    (void)state;
    log_passthrough_end(); /* into the capture, if still on */
    restore();
    fclose(capture);
    return 0;
}

/* Everything written to stderr since setup; ends the capture. */
static char *captured(void)
{
    restore();
    off_t n = lseek(fileno(capture), 0, SEEK_END);
    assert_true(n >= 0);
    char *buf = xmalloc((size_t)n + 1);
    assert_int_equal(pread(fileno(capture), buf, (size_t)n, 0), n);
    buf[n] = '\0';
    return buf;
}

static void test_lines_made_safe(void **state)
{
    (void)state;
    /* What an error result or a hostile engine would put into a message. */
    log_error("agent error: %s", "\x1b]52;c;aGk=\x07 \x1b[2J");
    log_info("engine Docker %s (API 1.41)", "\x1b]0;PWN\x07\xc2\x9b"
                                            "2J\x9b");
    /* Newlines and tabs in a message stay; CR does not. */
    log_warn("two\n\tlines\r");
    _cleanup_free_ char *got = captured();
    assert_string_equal(got, "nanocell: error: agent error: ?]52;c;aGk=? ?[2J\n"
                             "nanocell: engine Docker ?]0;PWN???2J? (API 1.41)\n"
                             "nanocell: warning: two\n\tlines?\n");
    assert_null(strchr(got, '\x1b'));
}

static void test_passthrough(void **state)
{
    (void)state;
    /* Pieces as they arrive: a character cut between two is kept whole, controls replaced. */
    PASS("agent says caf\xc3");
    PASS("\xa9 \x1b[2J\n");
    PASS("no newline at the end");
    /* nanocell's next line starts on a line of its own. */
    log_info("sandbox verified");
    PASS("more\n");
    log_info("ended its line");
    PASS("open");
    log_passthrough_end();
    log_passthrough_end();
    _cleanup_free_ char *got = captured();
    assert_string_equal(got, "agent says caf\xc3\xa9 ?[2J\n"
                             "no newline at the end\n"
                             "nanocell: sandbox verified\n"
                             "more\n"
                             "nanocell: ended its line\n"
                             "open\n");
}

static void test_passthrough_end_replaces_a_cut_character(void **state)
{
    (void)state;
    PASS("cut \xe2\x9c");
    log_warn("after");
    _cleanup_free_ char *got = captured();
    assert_string_equal(got, "cut ??\nnanocell: warning: after\n");
}

int main(void)
{
    unsetenv("NANOCELL_LOG");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lines_made_safe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_passthrough, setup, teardown),
        cmocka_unit_test_setup_teardown(test_passthrough_end_replaces_a_cut_character, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
