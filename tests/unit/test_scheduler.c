/* The scheduler's next-run rules (src/orch/scheduler.c over orch/schedule.c) for each task type
 * in a configured zone, interval anchoring, the missed-run rule, and the tasks in the store
 * (src/orch/store_tasks.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "orch/scheduler.h"
#include "orch/store.h"
#include "orch/store_tasks.h"
#include "util/xalloc.h"

#define S 1000LL
#define MIN (60 * S)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
/* 2027-01-15 09:00:00 in Europe/Paris (CET, +01:00). */
#define JAN15_9H_PARIS (1800000000LL * S)

static scheduler *paris(void)
{
    nc_config cfg = {.orch_timezone = (char *)"Europe/Paris"};
    scheduler *s = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (scheduler_new(&cfg, &s, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    return s;
}

static int64_t first(scheduler *s, const char *type, const char *value, int64_t now)
{
    int64_t next = -1;
    _cleanup_error_ nc_error *err = NULL;
    if (scheduler_first_run(s, type, value, now, &next, &err) < 0)
        fail_msg("%s %s: %s", type, value, nc_error_msg(err));
    return next;
}

static int64_t after(scheduler *s, const char *type, const char *value, int64_t due, int64_t now)
{
    int64_t next = -1;
    _cleanup_error_ nc_error *err = NULL;
    if (scheduler_after_run(s, type, value, due, now, &next, &err) < 0)
        fail_msg("%s %s: %s", type, value, nc_error_msg(err));
    return next;
}

static void test_zone(void **state)
{
    (void)state;
    scheduler *s = paris();
    assert_string_equal(scheduler_zone(s), "Europe/Paris");
    char *t = scheduler_format(s, JAN15_9H_PARIS);
    assert_string_equal(t, "2027-01-15T09:00:00+01:00");
    free(t);
    scheduler_free(s);
    nc_config bad = {.orch_timezone = (char *)"Mars/Olympus_Mons"};
    scheduler *b = NULL;
    _cleanup_error_ nc_error *err = NULL;
    assert_true(scheduler_new(&bad, &b, &err) < 0);
    assert_non_null(strstr(nc_error_msg(err), "orch.timezone"));
}

/* cron is read in the zone: 09:00 is 09:00 Paris time, in winter and in summer. */
static void test_cron(void **state)
{
    (void)state;
    scheduler *s = paris();
    assert_int_equal(first(s, "cron", "0 9 * * *", JAN15_9H_PARIS - HOUR), JAN15_9H_PARIS);
    assert_int_equal(first(s, "cron", "0 9 * * *", JAN15_9H_PARIS), JAN15_9H_PARIS + DAY);
    /* After a run due at 09:00 that ended at 09:00:05: the next day's. */
    assert_int_equal(after(s, "cron", "0 9 * * *", JAN15_9H_PARIS, JAN15_9H_PARIS + 5 * S),
                     JAN15_9H_PARIS + DAY);
    /* 2027-07-15 09:00 CEST is 07:00 UTC. */
    int64_t jul15 = JAN15_9H_PARIS + 181 * DAY - HOUR; /* the same wall time, one hour earlier */
    assert_int_equal(first(s, "cron", "0 9 * * *", jul15 - HOUR), jul15);
    scheduler_free(s);
}

static void test_interval_anchored(void **state)
{
    (void)state;
    scheduler *s = paris();
    int64_t t = JAN15_9H_PARIS;
    assert_int_equal(first(s, "interval", "60000", t), t + MIN);
    assert_int_equal(first(s, "interval", "5m", t), t + 5 * MIN);
    /* A run due at D that took 150 ms: the next is due at D + 1 min, not at its end + 1 min. */
    assert_int_equal(after(s, "interval", "60000", t + MIN, t + MIN + 150), t + 2 * MIN);
    /* A run that outlasted three periods: the next is on the grid, in the future, once. */
    int64_t next = after(s, "interval", "60000", t + MIN, t + 4 * MIN + 500);
    assert_int_equal(next, t + 5 * MIN);
    scheduler_free(s);
}

static void test_once(void **state)
{
    (void)state;
    scheduler *s = paris();
    int64_t now = JAN15_9H_PARIS - DAY;
    /* A local time in the zone, never UTC: NanoClaw's issues #386, #483, #517. */
    assert_int_equal(first(s, "once", "2027-01-15T09:00:00", now), JAN15_9H_PARIS);
    /* In the spring-forward gap (02:00 -> 03:00 on 2027-03-28): 02:30 is 03:30 CEST. */
    assert_int_equal(first(s, "once", "2027-03-28T02:30:00", now), 1806197400LL * S);
    /* A time in the past is due at once. */
    assert_true(first(s, "once", "2020-01-01T00:00:00", now) <= now);
    /* After its run, never again. */
    assert_int_equal(after(s, "once", "2027-01-15T09:00:00", JAN15_9H_PARIS, JAN15_9H_PARIS + S),
                     0);
    scheduler_free(s);
}

/* The daemon was down for three and a half periods: the task is due (its next_run is in the
 * past), runs once, and its next run is on the grid in the future, so it is not run once more
 * per missed period. */
static void test_missed_run(void **state)
{
    (void)state;
    scheduler *s = paris();
    int64_t t = JAN15_9H_PARIS;
    int64_t due = first(s, "interval", "600000", t); /* every 10 min, first at t + 10 min */
    int64_t restart = due + 35 * MIN;
    assert_true(due <= restart); /* due at the restart */
    int64_t next = after(s, "interval", "600000", due, restart + 200);
    assert_true(next > restart);
    assert_int_equal(next, due + 40 * MIN);
    /* cron: the same, the next fire time after now. */
    int64_t c = after(s, "cron", "*/15 * * * *", t, t + 2 * HOUR + MIN);
    assert_int_equal(c, t + 2 * HOUR + 15 * MIN);
    scheduler_free(s);
}

static void test_bad_schedules(void **state)
{
    (void)state;
    scheduler *s = paris();
    const char *const bad[][2] = {{"cron", "61 * * * *"}, {"cron", "* * *"},    {"interval", "0"},
                                  {"interval", "-5"},     {"once", "tomorrow"}, {"weekly", "1"},
                                  {"cron", "0 0 30 2 *"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t next;
        nc_error *err = NULL;
        if (scheduler_first_run(s, bad[i][0], bad[i][1], JAN15_9H_PARIS, &next, &err) != -EINVAL)
            fail_msg("%s '%s' was accepted", bad[i][0], bad[i][1]);
        nc_error_free(err);
    }
    scheduler_free(s);
}

/* ---- the store ---- */

static char *dir;

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/nanocell-sched-XXXXXX";
    dir = xstrdup(mkdtemp(tmpl));
    chmod(dir, 0700);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    _cleanup_free_ char *db = xasprintf("%s/nanocell.db", dir);
    _cleanup_free_ char *wal = xasprintf("%s-wal", db);
    _cleanup_free_ char *shm = xasprintf("%s-shm", db);
    unlink(db);
    unlink(wal);
    unlink(shm);
    rmdir(dir);
    free(dir);
    return 0;
}

static void test_store_tasks(void **state)
{
    (void)state;
    store *st = NULL;
    nc_error *err = NULL;
    assert_int_equal(store_open(dir, &st, &err), 0);
    store_group g = {.folder = "fam", .name = "", .trigger = "", .image = ""};
    assert_int_equal(store_group_add(st, &g, &err), 0);
    store_task t = {.id = "t1",
                    .group = "fam",
                    .chat_jid = "local:fam",
                    .prompt = "echo hi",
                    .schedule_type = "interval",
                    .schedule_value = "60000",
                    .next_run_ms = 1000,
                    .created_by = "cli"};
    assert_int_equal(store_task_add(st, &t, &err), 0);
    assert_int_equal(store_task_add(st, &t, &err), -EEXIST);
    nc_error_free(TAKE_PTR(err));
    store_task t2 = t;
    t2.id = "t2";
    t2.next_run_ms = 5000;
    assert_int_equal(store_task_add(st, &t2, &err), 0);
    t2.id = "t3";
    t2.group = "nobody";
    assert_int_equal(store_task_add(st, &t2, &err), -ENOENT);
    nc_error_free(TAKE_PTR(err));

    store_task *v = NULL;
    size_t n = 0;
    assert_int_equal(store_task_due(st, 2000, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, "t1");
    assert_string_equal(v[0].status, "active");
    assert_string_equal(v[0].context_mode, "isolated");
    store_tasks_free(v, n);
    int64_t next = 0;
    assert_int_equal(store_task_next_due(st, 2000, &next, &err), 0);
    assert_int_equal(next, 5000);

    /* A paused task is not due and does not wake the scheduler. */
    assert_int_equal(store_task_set_status(st, "t2", "paused", -1, &err), 0);
    assert_int_equal(store_task_next_due(st, 2000, &next, &err), 0);
    assert_int_equal(next, 0);
    assert_int_equal(store_task_set_status(st, "nope", "paused", -1, &err), -ENOENT);
    nc_error_free(TAKE_PTR(err));

    /* A run is logged with the task's next run; next 0 completes it. */
    store_task_run run = {.task_id = "t1",
                          .run_id = "r1",
                          .due_ms = 1000,
                          .run_ms = 1003,
                          .duration_ms = 40,
                          .status = "success",
                          .result = "hi"};
    assert_int_equal(store_task_run_add(st, &run, 61000, &err), 0);
    store_task got = {0};
    assert_int_equal(store_task_get(st, "t1", &got, &err), 0);
    assert_int_equal(got.next_run_ms, 61000);
    assert_int_equal(got.last_run_ms, 1003);
    assert_string_equal(got.last_result, "hi");
    store_task_release(&got);
    run.error = "boom";
    run.status = "error";
    assert_int_equal(store_task_run_add(st, &run, 0, &err), 0);
    assert_int_equal(store_task_get(st, "t1", &got, &err), 0);
    assert_string_equal(got.status, "completed");
    assert_string_equal(got.last_result, "Error: boom");
    store_task_release(&got);
    store_task_run *runs = NULL;
    assert_int_equal(store_task_runs(st, "t1", 0, &runs, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(runs[0].status, "error"); /* newest first */
    assert_int_equal(runs[1].due_ms, 1000);
    store_task_runs_free(runs, n);

    /* Removing a task removes its runs; removing a group removes its tasks. A run of a task
     * removed while it ran records nothing. */
    assert_int_equal(store_task_remove(st, "t1", &err), 0);
    assert_int_equal(store_task_runs(st, "t1", 0, &runs, &n, &err), 0);
    assert_int_equal(n, 0);
    free(runs);
    assert_int_equal(store_task_run_add(st, &run, 0, &err), 0);
    assert_int_equal(store_group_remove(st, "fam", &err), 0);
    assert_int_equal(store_task_list(st, NULL, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    free(v);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zone),
        cmocka_unit_test(test_cron),
        cmocka_unit_test(test_interval_anchored),
        cmocka_unit_test(test_once),
        cmocka_unit_test(test_missed_run),
        cmocka_unit_test(test_bad_schedules),
        cmocka_unit_test_setup_teardown(test_store_tasks, setup, teardown),
    };
    return cmocka_run_group_tests_name("scheduler", tests, NULL, NULL);
}
