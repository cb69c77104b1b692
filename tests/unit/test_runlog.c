/* src/agent/runlog.c: every turn gets its own log file, whoever else writes one in the same
 * millisecond, and a log is never overwritten or skipped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/runlog.h"
#include "util/fileutil.h"
#include "util/xalloc.h"

/* 2026-12-03T06:42:35.445Z, the moment of the report that two parallel runs collided. */
#define STARTED UINT64_C(1796280155445)

static char *make_dir(void)
{
    char tmpl[] = "/tmp/nanocell-runlog-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return xstrdup(tmpl);
}

static void remove_dir(const char *dir)
{
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(rm), 0);
}

static char *write_log(const char *dir, const char *run_id)
{
    turn_record r = {.started_ms = STARTED, .group = "main", .run_id = run_id, .exit_code = 0};
    char *path = NULL;
    nc_error *err = NULL;
    if (runlog_write(dir, &r, &path, &err) < 0)
        fail_msg("runlog_write: %s", nc_error_msg(err));
    assert_non_null(path);
    return path;
}

static char *slurp(const char *path)
{
    _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
    nc_error *err = NULL;
    if (read_file(path, 1 << 20, &sb, &err) < 0)
        fail_msg("read '%s': %s", path, nc_error_msg(err));
    return strbuf_detach(&sb, NULL);
}

static void expect_log(const char *path, const char *want_name, const char *want_run)
{
    const char *slash = strrchr(path, '/');
    assert_non_null(slash);
    assert_string_equal(slash + 1, want_name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    _cleanup_free_ char *text = slurp(path);
    _cleanup_free_ char *line = xasprintf("\nrun: %s\n", want_run);
    if (!strstr(text, line))
        fail_msg("'%s' does not record %s", path, line + 1);
}

/* Two parallel turns of one group, started in the same millisecond: two logs. */
static void test_same_millisecond(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = make_dir();
    _cleanup_free_ char *a = write_log(dir, "20261203T064235-0000beef");
    _cleanup_free_ char *b = write_log(dir, "20261203T064235-0000cafe");
    expect_log(a, "run-20261203T064235-0000beef.log", "20261203T064235-0000beef");
    expect_log(b, "run-20261203T064235-0000cafe.log", "20261203T064235-0000cafe");
    remove_dir(dir);
}

/* Even the same run id twice (or a file already there) costs no log and overwrites none. */
static void test_name_taken(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = make_dir();
    _cleanup_free_ char *first = write_log(dir, "r1");
    _cleanup_free_ char *second = write_log(dir, "r1");
    _cleanup_free_ char *third = write_log(dir, "r1");
    expect_log(first, "run-r1.log", "r1");
    expect_log(second, "run-r1-2.log", "r1");
    expect_log(third, "run-r1-3.log", "r1");

    _cleanup_free_ char *planted = xasprintf("%s/run-r2.log", dir);
    FILE *f = fopen(planted, "w");
    assert_non_null(f);
    fputs("not a run log\n", f);
    fclose(f);
    _cleanup_free_ char *next = write_log(dir, "r2");
    expect_log(next, "run-r2-2.log", "r2");
    _cleanup_free_ char *kept = slurp(planted);
    assert_string_equal(kept, "not a run log\n");
    remove_dir(dir);
}

/* Without a run id fit for a file name, the start time names the log, just as uniquely. */
static void test_no_run_id(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = make_dir();
    _cleanup_free_ char *a = write_log(dir, NULL);
    _cleanup_free_ char *b = write_log(dir, NULL);
    _cleanup_free_ char *c = write_log(dir, "../../etc/x");
    expect_log(a, "run-20261203T064235.445Z.log", "-");
    expect_log(b, "run-20261203T064235.445Z-2.log", "-");
    expect_log(c, "run-20261203T064235.445Z-3.log", "../../etc/x");
    remove_dir(dir);
}

static void test_missing_dir(void **state)
{
    (void)state;
    turn_record r = {.started_ms = STARTED, .run_id = "r"};
    char *path = NULL;
    nc_error *err = NULL;
    assert_true(runlog_write("/nonexistent/logs", &r, &path, &err) < 0);
    assert_null(path);
    assert_non_null(strstr(nc_error_msg(err), "/nonexistent/logs"));
    nc_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_millisecond),
        cmocka_unit_test(test_name_taken),
        cmocka_unit_test(test_no_run_id),
        cmocka_unit_test(test_missing_dir),
    };
    return cmocka_run_group_tests_name("runlog", tests, NULL, NULL);
}
