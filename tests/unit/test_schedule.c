/* Unit tests for orch/schedule: parsing each task type's value (with its refusals), once and
 * cron read in the same zone, the next due time of each type, intervals anchored to their
 * schedule, and the missed-run rule: after downtime a task runs once, not once per missed
 * period, checked by simulating a scheduler over the downtime. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orch/schedule.h"

#define SEC INT64_C(1000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

static nc_tz *load(const char *name)
{
    nc_tz *tz = NULL;
    nc_error *err = NULL;
    if (tz_load(name, &tz, &err) < 0)
        fail_msg("load '%s': %s", name, nc_error_msg(err));
    return tz;
}

/* Milliseconds of a UTC calendar time. */
static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s)
{
    return (tz_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s) *
           1000;
}

static sched parse(enum sched_kind kind, const char *value, const nc_tz *tz)
{
    sched s;
    nc_error *err = NULL;
    if (sched_parse(kind, value, tz, &s, &err) < 0)
        fail_msg("'%s': %s", value, nc_error_msg(err));
    assert_int_equal(s.kind, kind);
    return s;
}

static void expect_bad(enum sched_kind kind, const char *value, const nc_tz *tz, const char *msg)
{
    sched s = {.kind = SCHED_ONCE, .once_ms = 42};
    nc_error *err = NULL;
    if (sched_parse(kind, value, tz, &s, &err) != -EINVAL)
        fail_msg("'%s' was accepted", value);
    assert_int_equal(s.once_ms, 42); /* untouched */
    if (strcmp(err->msg, msg) != 0)
        fail_msg("'%s':\n got  %s\n want %s", value, err->msg, msg);
    nc_error_free(err);
}

static void test_kinds(void **state)
{
    (void)state;
    enum sched_kind k;
    assert_int_equal(sched_kind_parse("cron", &k, NULL), 0);
    assert_int_equal(k, SCHED_CRON);
    assert_int_equal(sched_kind_parse("interval", &k, NULL), 0);
    assert_int_equal(k, SCHED_INTERVAL);
    assert_int_equal(sched_kind_parse("once", &k, NULL), 0);
    assert_int_equal(k, SCHED_ONCE);
    assert_string_equal(sched_kind_name(SCHED_CRON), "cron");
    assert_string_equal(sched_kind_name(SCHED_INTERVAL), "interval");
    assert_string_equal(sched_kind_name(SCHED_ONCE), "once");
    assert_string_equal(sched_kind_name((enum sched_kind)7), "unknown");
    nc_error *err = NULL;
    assert_int_equal(sched_kind_parse("Cron", &k, &err), -EINVAL);
    assert_string_equal(err->msg, "unknown schedule type 'Cron' (want cron, interval or once)");
    nc_error_free(err);
    sched s;
    err = NULL;
    assert_int_equal(sched_parse((enum sched_kind)7, "x", NULL, &s, &err), -EINVAL);
    assert_string_equal(err->msg, "unknown schedule type 7");
    nc_error_free(err);
}

static void test_parse_interval(void **state)
{
    (void)state;
    struct {
        const char *in;
        int64_t ms;
    } ok[] = {
        {"300000", 300000}, {"1", 1},       {"5m", 5 * MIN},    {"30s", 30 * SEC},
        {"1.5h", 90 * MIN}, {"250ms", 250}, {"720h", 30 * DAY}, {"2592000000", 30 * DAY},
        {"0.5s", 500},      {"007", 7},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        sched s = parse(SCHED_INTERVAL, ok[i].in, NULL);
        if (s.interval_ms != ok[i].ms)
            fail_msg("'%s': %lld", ok[i].in, (long long)s.interval_ms);
    }
    expect_bad(SCHED_INTERVAL, "0", NULL, "invalid interval '0': must be more than 0");
    expect_bad(SCHED_INTERVAL, "0s", NULL, "invalid interval '0s': must be more than 0");
    expect_bad(SCHED_INTERVAL, "", NULL, "invalid interval '': empty");
    expect_bad(SCHED_INTERVAL, "-5", NULL, "invalid interval '-5': must not be negative");
    expect_bad(SCHED_INTERVAL, "abc", NULL, "invalid interval 'abc': expected a number");
    expect_bad(SCHED_INTERVAL, "5d", NULL, "invalid interval '5d': unknown unit 'd'");
    expect_bad(SCHED_INTERVAL, "1.5ms", NULL, "invalid interval '1.5ms': finer than a millisecond");
    expect_bad(SCHED_INTERVAL, "721h", NULL, "invalid interval '721h': more than 30 days");
    expect_bad(SCHED_INTERVAL, "2592000001", NULL,
               "invalid interval '2592000001': more than 30 days");
    expect_bad(SCHED_INTERVAL, "99999999999999999999999999", NULL,
               "invalid interval '99999999999999999999999999': more than 30 days");
}

static void test_parse_cron(void **state)
{
    (void)state;
    sched s = parse(SCHED_CRON, "*/5 9-17 * * mon-fri", NULL);
    assert_int_equal(s.cron.hours, 0x3fe00);
    expect_bad(SCHED_CRON, "61 * * * *", NULL,
               "invalid cron expression '61 * * * *': minute '61': 61 is out of range 0-59");
}

static void test_parse_once(void **state)
{
    (void)state;
    nc_tz *ny = load("America/New_York"), *berlin = load("Europe/Berlin");
    struct {
        const nc_tz *tz;
        const char *in;
        int64_t ms;
    } ok[] = {
        {ny, "2026-03-07T09:00:00", utc_ms(2026, 3, 7, 14, 0, 0)},
        {ny, "2026-07-07T09:00:00", utc_ms(2026, 7, 7, 13, 0, 0)},
        {berlin, "2026-07-07T09:00:00", utc_ms(2026, 7, 7, 7, 0, 0)},
        {NULL, "2026-07-07T09:00:00", utc_ms(2026, 7, 7, 9, 0, 0)},
        {ny, "2026-07-07 09:00", utc_ms(2026, 7, 7, 13, 0, 0)},
        {ny, "2026-07-07T09:00", utc_ms(2026, 7, 7, 13, 0, 0)},
        {ny, "2026-07-07T09:00:00.5", utc_ms(2026, 7, 7, 13, 0, 0) + 500},
        {ny, "2026-07-07T09:00:00.123456", utc_ms(2026, 7, 7, 13, 0, 0) + 123},
        /* In the gap: moved forward by the gap (02:30 -> 03:30 EDT). */
        {ny, "2026-03-08T02:30:00", utc_ms(2026, 3, 8, 7, 30, 0)},
        /* In the overlap: the first 01:30 (EDT). */
        {ny, "2026-11-01T01:30:00", utc_ms(2026, 11, 1, 5, 30, 0)},
        {berlin, "2026-10-25T02:30:00", utc_ms(2026, 10, 25, 0, 30, 0)},
        /* 29 February of a leap year. */
        {berlin, "2028-02-29T12:00:00", utc_ms(2028, 2, 29, 11, 0, 0)},
        /* With its own zone: that instant, whatever tz is. */
        {ny, "2026-07-07T09:00:00Z", utc_ms(2026, 7, 7, 9, 0, 0)},
        {berlin, "2026-07-07T09:00:00z", utc_ms(2026, 7, 7, 9, 0, 0)},
        {ny, "2026-07-07T09:00:00+05:30", utc_ms(2026, 7, 7, 3, 30, 0)},
        {ny, "2026-07-07T09:00:00-0800", utc_ms(2026, 7, 7, 17, 0, 0)},
        {ny, "2026-07-07T09:00:00+01", utc_ms(2026, 7, 7, 8, 0, 0)},
        {ny, "2026-07-07T09:00:00.250Z", utc_ms(2026, 7, 7, 9, 0, 0) + 250},
        /* In the past: accepted, due at once. */
        {ny, "2001-01-01T00:00:00", utc_ms(2001, 1, 1, 5, 0, 0)},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        sched s = parse(SCHED_ONCE, ok[i].in, ok[i].tz);
        if (s.once_ms != ok[i].ms)
            fail_msg("'%s' in %s: %lld, want %lld", ok[i].in, ok[i].tz ? tz_name(ok[i].tz) : "UTC",
                     (long long)s.once_ms, (long long)ok[i].ms);
    }
    const char *fmt_err[] = {
        "tomorrow",
        "",
        "2026-7-7T09:00:00",
        "2026-07-07",
        "2026-07-07T9:00",
        "2026-07-07T09",
        "2026/07/07T09:00:00",
        "2026-07-07X09:00:00",
        "2026-07-07T09:00:0",
        "2026-07-07T09:00:00.",
        "2026-07-07T09:00:00 ",
        "2026-07-07T09:00:00EST",
        "2026-07-07T09:00:00+5",
        "2026-07-07T09:00:00+05:3",
        "2026-07-07T09:00:00+24:00",
        "2026-07-07T09:00:00Z ",
        "+2026-07-07T09:00:00",
    };
    for (size_t i = 0; i < sizeof(fmt_err) / sizeof(fmt_err[0]); i++) {
        char want[160];
        snprintf(want, sizeof(want),
                 "invalid time '%s': want YYYY-MM-DDTHH:MM:SS, local time in 'America/New_York'",
                 fmt_err[i]);
        expect_bad(SCHED_ONCE, fmt_err[i], ny, want);
    }
    const char *date_err[] = {
        "2026-02-29T10:00:00", "2100-02-29T10:00:00", "2026-13-01T00:00:00",
        "2026-00-01T00:00:00", "2026-04-31T00:00:00", "2026-04-00T00:00:00",
        "2026-04-01T24:00:00", "2026-04-01T23:60:00", "2026-04-01T23:59:60",
    };
    for (size_t i = 0; i < sizeof(date_err) / sizeof(date_err[0]); i++) {
        char want[160];
        snprintf(want, sizeof(want), "invalid time '%s': no such date or time", date_err[i]);
        expect_bad(SCHED_ONCE, date_err[i], ny, want);
    }
    tz_free(ny);
    tz_free(berlin);
}

/* NanoClaw #483: "remind me at 9" and "0 9 * * *" must mean the same 9 o'clock. */
static void test_once_and_cron_share_the_zone(void **state)
{
    (void)state;
    nc_tz *la = load("America/Los_Angeles");
    sched once = parse(SCHED_ONCE, "2026-02-25T09:00:00", la);
    sched cron = parse(SCHED_CRON, "0 9 * * *", la);
    int64_t created = utc_ms(2026, 2, 25, 12, 0, 0); /* 04:00 in Los Angeles */
    assert_int_equal(sched_next_ms(&once, la, 0, created, created), once.once_ms);
    assert_int_equal(sched_next_ms(&cron, la, 0, created, created), once.once_ms);
    assert_int_equal(once.once_ms, utc_ms(2026, 2, 25, 17, 0, 0));
    tz_free(la);
}

static void test_next_once(void **state)
{
    (void)state;
    sched s = parse(SCHED_ONCE, "2026-07-07T09:00:00", NULL);
    int64_t at = utc_ms(2026, 7, 7, 9, 0, 0);
    assert_int_equal(sched_next_ms(&s, NULL, 0, at - DAY, at - DAY), at);
    /* Missed while down: due now, once. */
    assert_int_equal(sched_next_ms(&s, NULL, 0, at - DAY, at + DAY), at);
    /* Ran: never again. */
    assert_int_equal(sched_next_ms(&s, NULL, at, at - DAY, at + 1), -1);
    assert_int_equal(sched_next_ms(&s, NULL, at, at - DAY, at - DAY), -1);
}

static void test_next_interval(void **state)
{
    (void)state;
    sched s = parse(SCHED_INTERVAL, "1h", NULL);
    int64_t c = utc_ms(2026, 1, 1, 10, 0, 0) + 123;
    /* First run one interval after creation. */
    assert_int_equal(sched_next_ms(&s, NULL, 0, c, c), c + HOUR);
    assert_int_equal(sched_next_ms(&s, NULL, 0, c, c + HOUR - 1), c + HOUR);
    /* Anchored: a run that started 7 s late and took 5 minutes moves nothing. */
    int64_t due = c + HOUR;
    assert_int_equal(sched_next_ms(&s, NULL, due, c, due + 7 * SEC + 5 * MIN), due + HOUR);
    /* Exactly at the next due time: due now. */
    assert_int_equal(sched_next_ms(&s, NULL, due, c, due + HOUR), due + HOUR);
    /* Missed 10.5 periods: one run, at the latest due time passed, then on the grid again. */
    int64_t now = due + 10 * HOUR + 30 * MIN;
    int64_t late = sched_next_ms(&s, NULL, due, c, now);
    assert_int_equal(late, due + 10 * HOUR);
    assert_int_equal(sched_next_ms(&s, NULL, late, c, now + SEC), due + 11 * HOUR);
    /* Never ran and the daemon was down since creation. */
    assert_int_equal(sched_next_ms(&s, NULL, 0, c, c + 3 * HOUR + 1), c + 3 * HOUR);
    /* A clock set back before the last due time: the next one, not a burst. */
    assert_int_equal(sched_next_ms(&s, NULL, due, c, due - DAY), due + HOUR);
    /* The smallest interval. */
    s = parse(SCHED_INTERVAL, "1", NULL);
    assert_int_equal(sched_next_ms(&s, NULL, 1000, 0, 1000), 1001);
    assert_int_equal(sched_next_ms(&s, NULL, 1000, 0, 5000), 5000);
}

static void test_next_cron(void **state)
{
    (void)state;
    sched s = parse(SCHED_CRON, "*/5 * * * *", NULL);
    int64_t c = utc_ms(2026, 1, 1, 10, 2, 30);
    assert_int_equal(sched_next_ms(&s, NULL, 0, c, c), utc_ms(2026, 1, 1, 10, 5, 0));
    /* Created on a fire time: the next one (strictly after creation). */
    int64_t c2 = utc_ms(2026, 1, 1, 10, 5, 0);
    assert_int_equal(sched_next_ms(&s, NULL, 0, c2, c2), utc_ms(2026, 1, 1, 10, 10, 0));
    assert_int_equal(sched_next_ms(&s, NULL, 0, c2 + 999, c2 + 999), utc_ms(2026, 1, 1, 10, 10, 0));
    /* After a run on time. */
    int64_t due = utc_ms(2026, 1, 1, 10, 5, 0);
    assert_int_equal(sched_next_ms(&s, NULL, due, c, due + 50), utc_ms(2026, 1, 1, 10, 10, 0));
    /* Missed: the latest passed fire time, then the future. */
    int64_t now = utc_ms(2026, 1, 1, 13, 17, 30);
    int64_t late = sched_next_ms(&s, NULL, due, c, now);
    assert_int_equal(late, utc_ms(2026, 1, 1, 13, 15, 0));
    assert_int_equal(sched_next_ms(&s, NULL, late, c, now + 20 * SEC),
                     utc_ms(2026, 1, 1, 13, 20, 0));
    /* A dense hour once a day, missed for three days: the last minute of the last 03:xx. */
    s = parse(SCHED_CRON, "* 3 * * *", NULL);
    late = sched_next_ms(&s, NULL, utc_ms(2026, 1, 5, 3, 0, 0), c, utc_ms(2026, 1, 8, 12, 0, 0));
    assert_int_equal(late, utc_ms(2026, 1, 8, 3, 59, 0));
    /* A yearly task missed for three years. */
    s = parse(SCHED_CRON, "@yearly", NULL);
    late = sched_next_ms(&s, NULL, utc_ms(2023, 1, 1, 0, 0, 0), c, utc_ms(2026, 6, 1, 0, 0, 0));
    assert_int_equal(late, utc_ms(2026, 1, 1, 0, 0, 0));
    /* Never ran, created before the downtime. */
    late = sched_next_ms(&s, NULL, 0, utc_ms(2020, 5, 5, 0, 0, 0), utc_ms(2026, 6, 1, 0, 0, 0));
    assert_int_equal(late, utc_ms(2026, 1, 1, 0, 0, 0));
    /* No fire time within the horizon: none. */
    s = parse(SCHED_CRON, "0 12 29 2 */7", NULL);
    assert_int_equal(
        sched_next_ms(&s, NULL, 0, utc_ms(2033, 1, 1, 0, 0, 0), utc_ms(2033, 1, 1, 0, 0, 0)), -1);
    /* In a zone, across its DST change: 02:30 skipped in New York runs at 03:00 EDT. */
    nc_tz *ny = load("America/New_York");
    s = parse(SCHED_CRON, "30 2 * * *", ny);
    int64_t before = utc_ms(2026, 3, 7, 8, 0, 0);
    assert_int_equal(sched_next_ms(&s, ny, before, before, before), utc_ms(2026, 3, 8, 7, 0, 0));
    tz_free(ny);
}

/* A scheduler loop in miniature: runs each due task at once and records its due time. Returns
 * how many runs happened between from and to while the daemon was up (it is down in
 * [down_from, down_to)). */
static int simulate(const sched *s, const nc_tz *tz, int64_t created, int64_t from, int64_t to,
                    int64_t step, int64_t down_from, int64_t down_to, int *runs_at_restart)
{
    int64_t last = 0;
    int runs = 0;
    *runs_at_restart = 0;
    for (int64_t now = from; now < to; now += step) {
        if (now >= down_from && now < down_to)
            continue;
        for (;;) {
            int64_t due = sched_next_ms(s, tz, last, created, now);
            if (due < 0 || due > now)
                break;
            last = due;
            runs++;
            if (now == down_to)
                (*runs_at_restart)++;
        }
    }
    return runs;
}

static void test_missed_run_rule(void **state)
{
    (void)state;
    nc_tz *berlin = load("Europe/Berlin");
    int64_t t0 = utc_ms(2026, 3, 27, 0, 0, 0);
    int64_t down_from = t0 + 6 * HOUR, down_to = t0 + 3 * DAY + 7 * MIN; /* over the DST change */
    struct {
        enum sched_kind kind;
        const char *value;
        int up_runs; /* runs in the 4 days with the daemon up all the time */
    } cases[] = {
        /* Every 10 real minutes, the DST change included (01:50 CET, then 03:00 CEST). */
        {SCHED_CRON, "*/10 * * * *", 4 * 24 * 6 - 1},
        {SCHED_CRON, "30 2 * * *", 4},           /* the skipped 02:30 runs at 03:00 */
        {SCHED_INTERVAL, "15m", 4 * 24 * 4 - 1}, /* 96 per day, minus the first */
        {SCHED_ONCE, "2026-03-28T12:00:00", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sched s = parse(cases[i].kind, cases[i].value, berlin);
        int at_restart;
        int up = simulate(&s, berlin, t0, t0, t0 + 4 * DAY, MIN, 0, 0, &at_restart);
        if (up != cases[i].up_runs)
            fail_msg("'%s': %d runs with no downtime, want %d", cases[i].value, up,
                     cases[i].up_runs);
        /* With three days down: exactly one catch-up run at restart, none lost after it. */
        int down = simulate(&s, berlin, t0, t0, t0 + 4 * DAY, MIN, down_from, down_to, &at_restart);
        if (at_restart != 1)
            fail_msg("'%s': %d runs at restart, want 1", cases[i].value, at_restart);
        /* Runs after the restart are on schedule: compare with an always-up daemon that
         * started then. */
        int tail = 0;
        if (cases[i].kind != SCHED_ONCE) {
            int64_t last = sched_next_ms(&s, berlin, 0, t0, down_to); /* the catch-up */
            for (int64_t now = down_to + MIN; now < t0 + 4 * DAY; now += MIN) {
                int64_t due = sched_next_ms(&s, berlin, last, t0, now);
                if (due >= 0 && due <= now) {
                    last = due;
                    tail++;
                }
            }
        }
        int before_down = simulate(&s, berlin, t0, t0, down_from, MIN, 0, 0, &at_restart);
        if (down != before_down + 1 + tail)
            fail_msg("'%s': %d runs with downtime, want %d + 1 + %d", cases[i].value, down,
                     before_down, tail);
    }
    tz_free(berlin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_parse_interval),
        cmocka_unit_test(test_parse_cron),
        cmocka_unit_test(test_parse_once),
        cmocka_unit_test(test_once_and_cron_share_the_zone),
        cmocka_unit_test(test_next_once),
        cmocka_unit_test(test_next_interval),
        cmocka_unit_test(test_next_cron),
        cmocka_unit_test(test_missed_run_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
