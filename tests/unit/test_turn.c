/* src/agent/turn.c without an engine: the stderr line quoted when an agent exits non-zero. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agent/turn.h"
#include "util/xalloc.h"

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
        cmocka_unit_test(test_last_line),
        cmocka_unit_test(test_controls_replaced),
    };
    return cmocka_run_group_tests_name("turn", tests, NULL, NULL);
}
