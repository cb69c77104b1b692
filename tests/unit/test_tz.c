/* Unit tests for util/tz: glibc's localtime_r (which reads the same tzdata files) is the oracle
 * for every zone over two centuries, including the years after 2037 that only the POSIX footer
 * describes; gaps and overlaps in four zones; POSIX TZ strings; zone names that must be refused;
 * the host zone; and malformed TZif images, each with its message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/fileutil.h"
#include "util/tz.h"

static nc_tz *load(const char *name)
{
    nc_tz *tz = NULL;
    nc_error *err = NULL;
    if (tz_load(name, &tz, &err) < 0)
        fail_msg("load '%s': %s", name, nc_error_msg(err));
    return tz;
}

static nc_tz *posix(const char *spec)
{
    nc_tz *tz = NULL;
    nc_error *err = NULL;
    if (tz_parse_posix(spec, &tz, &err) < 0)
        fail_msg("parse '%s': %s", spec, nc_error_msg(err));
    return tz;
}

/* UTC seconds of a UTC calendar time. */
static int64_t utc_of(int y, int mo, int d, int h, int mi, int s)
{
    return tz_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s;
}

static struct tm wall(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s,
                    .tm_isdst = -1};
    return tm;
}

static void assert_fmt(const nc_tz *tz, int64_t utc, const char *want)
{
    char *got = tz_format(tz, utc);
    if (strcmp(got, want) != 0)
        fail_msg("%s at %lld: got %s, want %s", tz_name(tz), (long long)utc, got, want);
    free(got);
}

static void test_calendar(void **state)
{
    (void)state;
    assert_int_equal(tz_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tz_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(tz_days_from_civil(1, 1, 1), -719162);
    assert_int_equal(tz_days_in_month(2024, 2), 29);
    assert_int_equal(tz_days_in_month(2100, 2), 28);
    assert_int_equal(tz_days_in_month(2000, 2), 29);
    assert_int_equal(tz_days_in_month(2026, 4), 30);
    assert_int_equal(tz_days_in_month(2026, 13), 0);
    /* Round trip over 20,000 years of days. */
    for (int64_t d = -3000000; d < 4000000; d += 7) {
        int64_t y;
        unsigned m, dd;
        tz_civil_from_days(d, &y, &m, &dd);
        assert_true(m >= 1 && m <= 12 && dd >= 1 && dd <= tz_days_in_month(y, m));
        assert_int_equal(tz_days_from_civil(y, m, dd), d);
    }
}

static void test_utc(void **state)
{
    (void)state;
    const nc_tz *utc = tz_utc();
    assert_string_equal(tz_name(utc), "UTC");
    struct tm tm;
    int32_t off = 99;
    tz_to_local(utc, 0, &tm, &off);
    assert_int_equal(off, 0);
    assert_int_equal(tm.tm_year, 70);
    assert_int_equal(tm.tm_wday, 4);
    assert_string_equal(tm.tm_zone, "UTC");
    assert_fmt(utc, utc_of(2024, 2, 29, 23, 59, 59), "2024-02-29T23:59:59+00:00");
    int flags = -1;
    struct tm w = wall(2024, 2, 29, 12, 0, 0);
    assert_int_equal(tz_from_local(utc, &w, &flags), utc_of(2024, 2, 29, 12, 0, 0));
    assert_int_equal(flags, 0);
    int64_t s, e;
    assert_int_equal(tz_offset_span(utc, 12345, &s, &e), 0);
    assert_int_equal(s, TZ_TIME_MIN);
    assert_int_equal(e, TZ_TIME_MAX + 1);
    /* The file-backed UTC agrees. */
    nc_tz *f = load("UTC");
    assert_fmt(f, 1700000000, "2023-11-14T22:13:20+00:00");
    tz_free(f);
    /* Clamped at the ends of the range. */
    tz_to_local(utc, INT64_MAX, &tm, NULL);
    assert_int_equal(tm.tm_year + 1900, 9999);
    tz_to_local(utc, INT64_MIN, &tm, NULL);
    assert_int_equal(tm.tm_year + 1900, 1);
}

static const char *const oracle_zones[] = {
    "America/New_York", "Europe/London",      "Europe/Berlin",   "Australia/Lord_Howe",
    "Asia/Kolkata",     "America/Sao_Paulo",  "Pacific/Apia",    "Africa/Casablanca",
    "America/St_Johns", "Asia/Tehran",        "Pacific/Chatham", "Antarctica/Troll",
    "America/Nuuk",     "Europe/Dublin",      "Asia/Kathmandu",  "Australia/Sydney",
    "America/Santiago", "Pacific/Kiritimati", "Europe/Moscow",   "UTC",
};

/* Compares tz_to_local with glibc at t; returns the offset. */
static int32_t check_oracle(const nc_tz *tz, int64_t t)
{
    struct tm want, got;
    time_t tt = (time_t)t;
    assert_non_null(localtime_r(&tt, &want));
    int32_t off;
    tz_to_local(tz, t, &got, &off);
    if (got.tm_year != want.tm_year || got.tm_mon != want.tm_mon || got.tm_mday != want.tm_mday ||
        got.tm_hour != want.tm_hour || got.tm_min != want.tm_min || got.tm_sec != want.tm_sec ||
        got.tm_wday != want.tm_wday || got.tm_yday != want.tm_yday ||
        got.tm_isdst != want.tm_isdst || got.tm_gmtoff != want.tm_gmtoff ||
        strcmp(got.tm_zone, want.tm_zone) != 0) {
        char *s = tz_format(tz, t);
        fail_msg("%s at %lld: got %s %s isdst %d, glibc %04d-%02d-%02dT%02d:%02d:%02d %ld %s "
                 "isdst %d",
                 tz_name(tz), (long long)t, s, got.tm_zone, got.tm_isdst, want.tm_year + 1900,
                 want.tm_mon + 1, want.tm_mday, want.tm_hour, want.tm_min, want.tm_sec,
                 want.tm_gmtoff, want.tm_zone, want.tm_isdst);
    }
    return off;
}

/* tz_from_local inverts tz_to_local: a wall time read back gives the instant, or the earlier
 * instant of an overlap, and never claims a gap. */
static void check_inverse(const nc_tz *tz, int64_t t)
{
    struct tm l, back;
    tz_to_local(tz, t, &l, NULL);
    int flags = -1;
    int64_t r = tz_from_local(tz, &l, &flags);
    if (flags == TZ_LOCAL_GAP || r > t || (flags == 0 && r != t))
        fail_msg("%s: from_local(to_local(%lld)) = %lld flags %d", tz_name(tz), (long long)t,
                 (long long)r, flags);
    tz_to_local(tz, r, &back, NULL);
    assert_int_equal(back.tm_hour * 3600 + back.tm_min * 60 + back.tm_sec,
                     l.tm_hour * 3600 + l.tm_min * 60 + l.tm_sec);
    assert_int_equal(back.tm_mday, l.tm_mday);
}

static void test_against_glibc(void **state)
{
    (void)state;
    const char *saved = getenv("TZ");
    char *saved_copy = saved ? strdup(saved) : NULL;
    for (size_t z = 0; z < sizeof(oracle_zones) / sizeof(oracle_zones[0]); z++) {
        nc_tz *tz = load(oracle_zones[z]);
        setenv("TZ", oracle_zones[z], 1);
        tzset();
        /* 1900 to 2150 in steps of a bit more than 3 days, and every offset change found on
         * the way checked to the second on both sides. */
        int64_t prev_off = INT32_MIN, prev_t = 0;
        for (int64_t t = utc_of(1900, 1, 1, 0, 0, 0); t < utc_of(2150, 1, 1, 0, 0, 0);
             t += 3 * 86400 + 3607) {
            int32_t off = check_oracle(tz, t);
            check_inverse(tz, t);
            if (prev_off != INT32_MIN && off != prev_off) {
                int64_t s;
                tz_offset_span(tz, t, &s, NULL);
                assert_true(s > prev_t && s <= t);
                for (int64_t d = -2; d <= 1; d++) {
                    check_oracle(tz, s + d);
                    check_inverse(tz, s + d);
                }
            }
            prev_off = off;
            prev_t = t;
        }
        tz_free(tz);
    }
    if (saved_copy)
        setenv("TZ", saved_copy, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved_copy);
}

struct local_case {
    const char *zone;
    struct tm wall;
    int flags;
    const char *want; /* tz_format of the result */
};

static void test_gaps_and_overlaps(void **state)
{
    (void)state;
    const struct local_case cases[] = {
        /* New York: 02:00 EST -> 03:00 EDT on 8 March 2026, 02:00 EDT -> 01:00 EST on 1 Nov. */
        {"America/New_York", wall(2026, 3, 8, 1, 59, 59), 0, "2026-03-08T01:59:59-05:00"},
        {"America/New_York", wall(2026, 3, 8, 2, 0, 0), TZ_LOCAL_GAP, "2026-03-08T03:00:00-04:00"},
        {"America/New_York", wall(2026, 3, 8, 2, 30, 0), TZ_LOCAL_GAP, "2026-03-08T03:30:00-04:00"},
        {"America/New_York", wall(2026, 3, 8, 3, 0, 0), 0, "2026-03-08T03:00:00-04:00"},
        {"America/New_York", wall(2026, 11, 1, 0, 59, 59), 0, "2026-11-01T00:59:59-04:00"},
        {"America/New_York", wall(2026, 11, 1, 1, 0, 0), TZ_LOCAL_AMBIGUOUS,
         "2026-11-01T01:00:00-04:00"},
        {"America/New_York", wall(2026, 11, 1, 1, 30, 0), TZ_LOCAL_AMBIGUOUS,
         "2026-11-01T01:30:00-04:00"},
        {"America/New_York", wall(2026, 11, 1, 2, 0, 0), 0, "2026-11-01T02:00:00-05:00"},
        /* Berlin: 02:00 -> 03:00 on 29 March, 03:00 -> 02:00 on 25 October 2026. */
        {"Europe/Berlin", wall(2026, 3, 29, 2, 30, 0), TZ_LOCAL_GAP, "2026-03-29T03:30:00+02:00"},
        {"Europe/Berlin", wall(2026, 10, 25, 2, 30, 0), TZ_LOCAL_AMBIGUOUS,
         "2026-10-25T02:30:00+02:00"},
        {"Europe/Berlin", wall(2026, 10, 25, 3, 0, 0), 0, "2026-10-25T03:00:00+01:00"},
        /* London: 01:00 -> 02:00 on 29 March 2026. */
        {"Europe/London", wall(2026, 3, 29, 1, 15, 0), TZ_LOCAL_GAP, "2026-03-29T02:15:00+01:00"},
        {"Europe/London", wall(2026, 10, 25, 1, 15, 0), TZ_LOCAL_AMBIGUOUS,
         "2026-10-25T01:15:00+01:00"},
        /* Lord Howe moves by 30 minutes: 02:00 -> 02:30 on 4 October, 02:00 -> 01:30 on 5 April
         * 2026. */
        {"Australia/Lord_Howe", wall(2026, 10, 4, 2, 15, 0), TZ_LOCAL_GAP,
         "2026-10-04T02:45:00+11:00"},
        {"Australia/Lord_Howe", wall(2026, 10, 4, 2, 30, 0), 0, "2026-10-04T02:30:00+11:00"},
        {"Australia/Lord_Howe", wall(2026, 4, 5, 1, 45, 0), TZ_LOCAL_AMBIGUOUS,
         "2026-04-05T01:45:00+11:00"},
        {"Australia/Lord_Howe", wall(2026, 4, 5, 1, 29, 59), 0, "2026-04-05T01:29:59+11:00"},
        /* Beyond 2037 only the footer's rules say when the clocks change. */
        {"America/New_York", wall(2100, 3, 14, 2, 30, 0), TZ_LOCAL_GAP,
         "2100-03-14T03:30:00-04:00"},
        {"America/New_York", wall(2100, 11, 7, 1, 30, 0), TZ_LOCAL_AMBIGUOUS,
         "2100-11-07T01:30:00-04:00"},
        {"Europe/Berlin", wall(2200, 3, 30, 2, 30, 0), TZ_LOCAL_GAP, "2200-03-30T03:30:00+02:00"},
        {"Australia/Lord_Howe", wall(2150, 10, 4, 2, 10, 0), TZ_LOCAL_GAP,
         "2150-10-04T02:40:00+11:00"},
        /* Out-of-range fields normalise as mktime's do. */
        {"Europe/Berlin", wall(2026, 1, 32, 12, 0, 0), 0, "2026-02-01T12:00:00+01:00"},
        {"Europe/Berlin", wall(2026, 0, 1, 12, 0, 0), 0, "2025-12-01T12:00:00+01:00"},
        {"Europe/Berlin", wall(2026, 13, 1, 25, 0, 0), 0, "2027-01-02T01:00:00+01:00"},
        {"Europe/Berlin", wall(2026, 3, 1, 0, -1, 0), 0, "2026-02-28T23:59:00+01:00"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nc_tz *tz = load(cases[i].zone);
        int flags = -1;
        int64_t t = tz_from_local(tz, &cases[i].wall, &flags);
        if (flags != cases[i].flags)
            fail_msg("case %zu (%s): flags %d, want %d", i, cases[i].zone, flags, cases[i].flags);
        assert_fmt(tz, t, cases[i].want);
        /* flags may be NULL. */
        assert_int_equal(tz_from_local(tz, &cases[i].wall, NULL), t);
        tz_free(tz);
    }
}

static void test_offset_span(void **state)
{
    (void)state;
    nc_tz *ny = load("America/New_York");
    int64_t s, e;
    assert_int_equal(tz_offset_span(ny, utc_of(2026, 6, 1, 0, 0, 0), &s, &e), -4 * 3600);
    assert_int_equal(s, utc_of(2026, 3, 8, 7, 0, 0));
    assert_int_equal(e, utc_of(2026, 11, 1, 6, 0, 0));
    /* The span starts at its first second and ends before the next change. */
    assert_int_equal(tz_offset_span(ny, s, NULL, NULL), -4 * 3600);
    assert_int_equal(tz_offset_span(ny, s - 1, NULL, NULL), -5 * 3600);
    assert_int_equal(tz_offset_span(ny, e, NULL, NULL), -5 * 3600);
    /* From the footer. */
    assert_int_equal(tz_offset_span(ny, utc_of(2100, 6, 1, 0, 0, 0), &s, &e), -4 * 3600);
    assert_int_equal(s, utc_of(2100, 3, 14, 7, 0, 0));
    assert_int_equal(e, utc_of(2100, 11, 7, 6, 0, 0));
    assert_int_equal(tz_offset_span(ny, utc_of(2100, 12, 1, 0, 0, 0), &s, &e), -5 * 3600);
    assert_int_equal(s, utc_of(2100, 11, 7, 6, 0, 0));
    assert_int_equal(e, utc_of(2101, 3, 13, 7, 0, 0));
    tz_free(ny);
    /* A zone without DST today: its last span is unbounded. */
    nc_tz *k = load("Asia/Kolkata");
    assert_int_equal(tz_offset_span(k, utc_of(2026, 1, 1, 0, 0, 0), &s, &e), 5 * 3600 + 1800);
    assert_int_equal(e, TZ_TIME_MAX + 1);
    assert_fmt(k, utc_of(2026, 1, 1, 0, 0, 0), "2026-01-01T05:30:00+05:30");
    tz_free(k);
}

static void test_format(void **state)
{
    (void)state;
    nc_tz *tz = load("America/St_Johns");
    assert_fmt(tz, utc_of(2026, 1, 15, 12, 0, 0), "2026-01-15T08:30:00-03:30");
    tz_free(tz);
    tz = load("Europe/Amsterdam"); /* local mean time, with seconds in its offset */
    assert_fmt(tz, utc_of(1900, 1, 1, 0, 0, 0), "1900-01-01T00:19:32+00:19:32");
    tz_free(tz);
    tz = load("America/New_York");
    assert_fmt(tz, utc_of(1850, 1, 1, 0, 0, 0), "1849-12-31T19:03:58-04:56:02");
    tz_free(tz);
}

static void test_posix_strings(void **state)
{
    (void)state;
    struct {
        const char *spec;
        int64_t utc;
        const char *want;
        int isdst;
        const char *abbr;
    } cases[] = {
        {"EST5EDT,M3.2.0,M11.1.0", utc_of(2026, 7, 1, 12, 0, 0), "2026-07-01T08:00:00-04:00", 1,
         "EDT"},
        {"EST5EDT,M3.2.0,M11.1.0", utc_of(2026, 3, 8, 6, 59, 59), "2026-03-08T01:59:59-05:00", 0,
         "EST"},
        {"EST5EDT,M3.2.0,M11.1.0", utc_of(2026, 3, 8, 7, 0, 0), "2026-03-08T03:00:00-04:00", 1,
         "EDT"},
        /* Without rules: the US rules. */
        {"EST5EDT", utc_of(2026, 3, 8, 7, 0, 0), "2026-03-08T03:00:00-04:00", 1, "EDT"},
        {"UTC0", utc_of(2026, 7, 1, 12, 0, 0), "2026-07-01T12:00:00+00:00", 0, "UTC"},
        {"<+0330>-3:30", utc_of(2026, 7, 1, 12, 0, 0), "2026-07-01T15:30:00+03:30", 0, "+0330"},
        {"CET-1CEST,M3.5.0,M10.5.0/3", utc_of(2026, 10, 25, 0, 59, 59), "2026-10-25T02:59:59+02:00",
         1, "CEST"},
        {"CET-1CEST,M3.5.0,M10.5.0/3", utc_of(2026, 10, 25, 1, 0, 0), "2026-10-25T02:00:00+01:00",
         0, "CET"},
        /* Southern hemisphere, a 30-minute change. */
        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", utc_of(2026, 1, 1, 0, 0, 0),
         "2026-01-01T11:00:00+11:00", 1, "+11"},
        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", utc_of(2026, 7, 1, 0, 0, 0),
         "2026-07-01T10:30:00+10:30", 0, "+1030"},
        /* Negative rule times (RFC 8536 version 3), as Nuuk's footer has. */
        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", utc_of(2026, 3, 29, 1, 0, 0),
         "2026-03-29T00:00:00-01:00", 1, "-01"},
        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", utc_of(2026, 3, 29, 0, 59, 59),
         "2026-03-28T22:59:59-02:00", 0, "-02"},
        /* Julian days: Jn never counts 29 February, n counts from 0. */
        {"AAA3BBB,J60/0,J300/0", utc_of(2024, 3, 1, 3, 0, 0), "2024-03-01T01:00:00-02:00", 1,
         "BBB"},
        {"AAA3BBB,J60/0,J300/0", utc_of(2024, 2, 29, 12, 0, 0), "2024-02-29T09:00:00-03:00", 0,
         "AAA"},
        {"AAA3BBB,59/0,300/0", utc_of(2024, 2, 29, 3, 0, 0), "2024-02-29T01:00:00-02:00", 1, "BBB"},
        /* Permanent daylight time, the form zic writes for it. */
        {"EST5EDT,0/0,J365/25", utc_of(2026, 1, 1, 5, 0, 0), "2026-01-01T01:00:00-04:00", 1, "EDT"},
        {"EST5EDT,0/0,J365/25", utc_of(2026, 12, 31, 23, 0, 0), "2026-12-31T19:00:00-04:00", 1,
         "EDT"},
        /* Hours with a sign and seconds. */
        {"XXX+4:30:15", 0, "1969-12-31T19:29:45-04:30:15", 0, "XXX"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nc_tz *tz = posix(cases[i].spec);
        assert_string_equal(tz_name(tz), cases[i].spec);
        assert_fmt(tz, cases[i].utc, cases[i].want);
        struct tm tm;
        tz_to_local(tz, cases[i].utc, &tm, NULL);
        if (tm.tm_isdst != cases[i].isdst || strcmp(tm.tm_zone, cases[i].abbr) != 0)
            fail_msg("'%s': isdst %d abbr %s", cases[i].spec, tm.tm_isdst, tm.tm_zone);
        check_inverse(tz, cases[i].utc);
        tz_free(tz);
    }
    const char *bad[] = {
        "",
        "E5",
        "EST",
        "EST5EDT,M13.1.0,M11.1.0",
        "EST5EDT,M3.2.0",
        "EST25",
        "EST5EDT,M3.2.0/168,M11.1.0",
        "EST5EDT,M3.6.0,M11.1.0",
        "EST5EDT,M3.2.7,M11.1.0",
        "EST5EDT,J0,J365",
        "EST5EDT,366,J365",
        "<+0>0",
        "EST5:60",
        "EST5 ",
        "EST5EDT,M3.2.0,M11.1.0,",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        nc_tz *tz = NULL;
        nc_error *err = NULL;
        if (tz_parse_posix(bad[i], &tz, &err) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_null(tz);
        char want[128];
        snprintf(want, sizeof(want), "invalid TZ string '%s'", bad[i]);
        assert_string_equal(err->msg, want);
        nc_error_free(err);
    }
}

static void expect_load_error(const char *name, int code, const char *msg)
{
    nc_tz *tz = NULL;
    nc_error *err = NULL;
    int rc = tz_load(name, &tz, &err);
    if (rc != -code)
        fail_msg("'%s': rc %d, want %d (%s)", name, rc, -code, err ? err->msg : "no error");
    assert_null(tz);
    assert_non_null(err);
    if (msg)
        assert_string_equal(err->msg, msg);
    nc_error_free(err);
}

static void test_names(void **state)
{
    (void)state;
    nc_tz *tz = load("US/Eastern"); /* a link inside the zoneinfo dir */
    assert_string_equal(tz_name(tz), "US/Eastern");
    assert_fmt(tz, utc_of(2026, 7, 1, 12, 0, 0), "2026-07-01T08:00:00-04:00");
    tz_free(tz);
    tz = load("/usr/share/zoneinfo/Europe/Berlin");
    assert_string_equal(tz_name(tz), "Europe/Berlin");
    tz_free(tz);
    tz = load("Etc/GMT+5"); /* '+' in a name; POSIX sign, so UTC-5 */
    assert_fmt(tz, 0, "1969-12-31T19:00:00-05:00");
    tz_free(tz);

    expect_load_error("../etc/passwd", EINVAL,
                      "invalid time zone '../etc/passwd': not a zone name");
    expect_load_error("America/../../../etc/passwd", EINVAL,
                      "invalid time zone 'America/../../../etc/passwd': not a zone name");
    expect_load_error("/etc/passwd", EINVAL,
                      "invalid time zone '/etc/passwd': a path outside /usr/share/zoneinfo");
    expect_load_error("/usr/share/zoneinfo/../../../etc/shadow", EINVAL,
                      "invalid time zone '/usr/share/zoneinfo/../../../etc/shadow': not a zone "
                      "name");
    expect_load_error("/usr/share/zoneinfoX/UTC", EINVAL, NULL);
    expect_load_error("America//New_York", EINVAL, NULL);
    expect_load_error("./UTC", EINVAL, NULL);
    expect_load_error("Europe/Berlin/", EINVAL, NULL);
    expect_load_error("Europe/Berlin\n", EINVAL, NULL);
    expect_load_error("Europe Berlin", EINVAL, NULL);
    expect_load_error("Europe/Berlin;rm", EINVAL, NULL);
    expect_load_error("Mars/Olympus_Mons", ENOENT,
                      "unknown time zone 'Mars/Olympus_Mons': no file "
                      "'/usr/share/zoneinfo/Mars/Olympus_Mons'");
    expect_load_error("America", ENOENT, NULL); /* a directory */
    expect_load_error("UTC/x", ENOENT, NULL);   /* under a file */
    expect_load_error("zone.tab", EINVAL, "time zone 'zone.tab': not a TZif file");
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    expect_load_error(longname, EINVAL, NULL);
    struct stat st;
    if (stat("/usr/share/zoneinfo/right/UTC", &st) == 0)
        expect_load_error("right/UTC", EINVAL,
                          "time zone 'right/UTC': leap-second zones are not supported");
}

static void with_tz_env(const char *value, const char *want_name, int64_t at, const char *want)
{
    if (value)
        setenv("TZ", value, 1);
    else
        unsetenv("TZ");
    nc_tz *tz = NULL;
    nc_error *err = NULL;
    if (tz_load(NULL, &tz, &err) < 0)
        fail_msg("TZ=%s: %s", value ? value : "(unset)", nc_error_msg(err));
    if (want_name)
        assert_string_equal(tz_name(tz), want_name);
    if (want)
        assert_fmt(tz, at, want);
    tz_free(tz);
    /* "" means the host's zone too. */
    assert_int_equal(tz_load("", &tz, NULL), 0);
    tz_free(tz);
}

static void test_host_zone(void **state)
{
    (void)state;
    const char *saved = getenv("TZ");
    char *saved_copy = saved ? strdup(saved) : NULL;
    int64_t at = utc_of(2026, 7, 1, 12, 0, 0);

    with_tz_env("Europe/Berlin", "Europe/Berlin", at, "2026-07-01T14:00:00+02:00");
    with_tz_env(":Asia/Tokyo", "Asia/Tokyo", at, "2026-07-01T21:00:00+09:00");
    with_tz_env("/usr/share/zoneinfo/Asia/Kolkata", "Asia/Kolkata", at,
                "2026-07-01T17:30:00+05:30");
    with_tz_env("EST5EDT,M3.2.0,M11.1.0", "EST5EDT,M3.2.0,M11.1.0", at,
                "2026-07-01T08:00:00-04:00");
    with_tz_env("<+03>-3", "<+03>-3", at, "2026-07-01T15:00:00+03:00");
    with_tz_env(":", "UTC", at, "2026-07-01T12:00:00+00:00");

    /* Without TZ: /etc/localtime, compared with what glibc makes of it. */
    unsetenv("TZ");
    tzset();
    struct tm want;
    time_t tt = (time_t)at;
    localtime_r(&tt, &want);
    with_tz_env(NULL, NULL, 0, NULL);
    nc_tz *host = load(NULL);
    struct tm got;
    tz_to_local(host, at, &got, NULL);
    assert_int_equal(got.tm_gmtoff, want.tm_gmtoff);
    assert_int_equal(got.tm_hour, want.tm_hour);
    assert_true(strlen(tz_name(host)) > 0);
    tz_free(host);

    setenv("TZ", "Nowhere/Zone", 1);
    nc_tz *tz = NULL;
    nc_error *err = NULL;
    assert_int_equal(tz_load(NULL, &tz, &err), -ENOENT);
    assert_string_equal(err->msg, "TZ: unknown time zone 'Nowhere/Zone': no file "
                                  "'/usr/share/zoneinfo/Nowhere/Zone'");
    nc_error_free(err);
    err = NULL;
    setenv("TZ", "/etc/passwd", 1);
    assert_int_equal(tz_load(NULL, &tz, &err), -EINVAL);
    assert_string_equal(err->msg,
                        "TZ: invalid time zone '/etc/passwd': a path outside /usr/share/zoneinfo");
    nc_error_free(err);
    assert_null(tz);

    /* A loaded zone ignores later changes of TZ: nothing reads the process's zone. */
    setenv("TZ", "Asia/Tokyo", 1);
    tzset();
    nc_tz *berlin = load("Europe/Berlin");
    setenv("TZ", "America/Los_Angeles", 1);
    tzset();
    assert_fmt(berlin, at, "2026-07-01T14:00:00+02:00");
    tz_free(berlin);

    if (saved_copy)
        setenv("TZ", saved_copy, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved_copy);
}

/* ---- TZif images built by hand ---- */

struct img {
    unsigned char b[4096];
    size_t n;
};

static void put(struct img *im, const void *p, size_t n)
{
    assert_true(im->n + n <= sizeof(im->b));
    memcpy(im->b + im->n, p, n);
    im->n += n;
}

static void put32(struct img *im, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(im, b, 4);
}

static void put64(struct img *im, int64_t v)
{
    put32(im, (uint32_t)((uint64_t)v >> 32));
    put32(im, (uint32_t)v);
}

struct spec {
    char version; /* 0, '2', '3', '4' */
    int ntrans;
    int64_t trans[4];
    unsigned char idx[4];
    int ntypes;
    int32_t off[3];
    unsigned char isdst[3], abbr[3];
    const char *chars; /* NUL-separated, length charcnt */
    int charcnt;
    uint32_t leapcnt;
    const char *footer; /* NULL: no footer line at all */
};

static void header(struct img *im, char version, const struct spec *s, uint32_t ntrans,
                   uint32_t ntypes, uint32_t chars)
{
    put(im, "TZif", 4);
    put(im, &version, 1);
    static const unsigned char zero[15] = {0};
    put(im, zero, 15);
    put32(im, 0);
    put32(im, 0);
    put32(im, s->leapcnt);
    put32(im, ntrans);
    put32(im, ntypes);
    put32(im, chars);
}

static void block(struct img *im, const struct spec *s, int tsize)
{
    for (int i = 0; i < s->ntrans; i++) {
        if (tsize == 8)
            put64(im, s->trans[i]);
        else
            put32(im, (uint32_t)s->trans[i]);
    }
    put(im, s->idx, (size_t)s->ntrans);
    for (int i = 0; i < s->ntypes; i++) {
        put32(im, (uint32_t)s->off[i]);
        put(im, &s->isdst[i], 1);
        put(im, &s->abbr[i], 1);
    }
    put(im, s->chars, (size_t)s->charcnt);
    for (uint32_t i = 0; i < s->leapcnt; i++) {
        if (tsize == 8)
            put64(im, 0);
        else
            put32(im, 0);
        put32(im, 0);
    }
}

static void build(struct img *im, const struct spec *s)
{
    im->n = 0;
    if (s->version == 0) {
        header(im, 0, s, (uint32_t)s->ntrans, (uint32_t)s->ntypes, (uint32_t)s->charcnt);
        block(im, s, 4);
        return;
    }
    /* A version 2+ file with an empty version 1 block, as zic -b slim writes. */
    struct spec empty = {0};
    header(im, s->version, &empty, 0, 0, 0);
    header(im, s->version, s, (uint32_t)s->ntrans, (uint32_t)s->ntypes, (uint32_t)s->charcnt);
    block(im, s, 8);
    if (s->footer) {
        put(im, "\n", 1);
        put(im, s->footer, strlen(s->footer));
        put(im, "\n", 1);
    }
}

static const struct spec good = {
    .version = '2',
    .ntrans = 2,
    .trans = {1000000000, 1100000000},
    .idx = {1, 0},
    .ntypes = 2,
    .off = {3600, 7200},
    .isdst = {0, 1},
    .abbr = {0, 4},
    .chars = "AAA\0BBB",
    .charcnt = 8,
    .footer = "CCC-3",
};

static void expect_parse_error(const struct spec *s, const char *msg)
{
    struct img im;
    build(&im, s);
    nc_tz *tz = NULL;
    nc_error *err = NULL;
    assert_int_equal(tz_parse("t", im.b, im.n, &tz, &err), -EINVAL);
    assert_null(tz);
    assert_string_equal(err->msg, msg);
    nc_error_free(err);
}

static void test_tzif_images(void **state)
{
    (void)state;
    struct img im;
    nc_tz *tz = NULL;
    nc_error *err = NULL;

    /* Version 2: types before, between and after the transitions, then the footer. */
    build(&im, &good);
    assert_int_equal(tz_parse("t", im.b, im.n, &tz, &err), 0);
    assert_string_equal(tz_name(tz), "t");
    assert_fmt(tz, 999999999, "2001-09-09T02:46:39+01:00");
    assert_fmt(tz, 1000000000, "2001-09-09T03:46:40+02:00");
    assert_fmt(tz, 1099999999, "2004-11-09T13:33:19+02:00");
    assert_fmt(tz, 1100000000, "2004-11-09T14:33:20+03:00"); /* the footer from here on */
    struct tm tm;
    tz_to_local(tz, 1000000000, &tm, NULL);
    assert_string_equal(tm.tm_zone, "BBB");
    assert_int_equal(tm.tm_isdst, 1);
    tz_to_local(tz, 2000000000, &tm, NULL);
    assert_string_equal(tm.tm_zone, "CCC");
    tz_free(tz);

    /* Version 1: 32-bit times, no footer, the last type stays. */
    struct spec v1 = good;
    v1.version = 0;
    build(&im, &v1);
    assert_int_equal(tz_parse("v1", im.b, im.n, &tz, &err), 0);
    assert_fmt(tz, 2000000000, "2033-05-18T04:33:20+01:00");
    tz_free(tz);

    /* Versions 3 and 4, and an empty footer (no rule after the last transition). */
    struct spec v3 = good;
    v3.version = '3';
    v3.footer = "";
    build(&im, &v3);
    assert_int_equal(tz_parse("v3", im.b, im.n, &tz, &err), 0);
    assert_fmt(tz, 2000000000, "2033-05-18T04:33:20+01:00");
    tz_free(tz);
    v3.version = '4';
    build(&im, &v3);
    assert_int_equal(tz_parse("v4", im.b, im.n, &tz, &err), 0);
    tz_free(tz);

    /* No transitions at all: the footer is the whole zone (a slim UTC). */
    struct spec slim = {.version = '2',
                        .ntypes = 1,
                        .off = {0},
                        .chars = "UTC",
                        .charcnt = 4,
                        .footer = "EST5EDT,M3.2.0,M11.1.0"};
    build(&im, &slim);
    assert_int_equal(tz_parse("slim", im.b, im.n, &tz, &err), 0);
    assert_fmt(tz, utc_of(2026, 7, 1, 12, 0, 0), "2026-07-01T08:00:00-04:00");
    tz_free(tz);

    /* Transitions far outside years 1-9999 only decide the type at the edges. */
    struct spec far = good;
    far.trans[0] = INT64_MIN / 2;
    far.trans[1] = INT64_MAX / 2;
    far.footer = "";
    build(&im, &far);
    assert_int_equal(tz_parse("far", im.b, im.n, &tz, &err), 0);
    assert_fmt(tz, 0, "1970-01-01T02:00:00+02:00");
    tz_free(tz);

    struct spec s;
    s = good;
    s.ntypes = 0;
    s.ntrans = 0;
    expect_parse_error(&s, "time zone 't': 0 local time types (want 1-256)");
    s = good;
    s.charcnt = 0;
    expect_parse_error(&s, "time zone 't': no abbreviations");
    s = good;
    s.idx[1] = 2;
    expect_parse_error(&s, "time zone 't': bad type index");
    s = good;
    s.trans[1] = s.trans[0];
    expect_parse_error(&s, "time zone 't': transitions out of order");
    s = good;
    s.off[1] = 26 * 3600;
    expect_parse_error(&s, "time zone 't': utc offset 93600 out of range");
    s = good;
    s.off[0] = INT32_MIN;
    expect_parse_error(&s, "time zone 't': utc offset -2147483648 out of range");
    s = good;
    s.isdst[0] = 2;
    expect_parse_error(&s, "time zone 't': bad isdst flag");
    s = good;
    s.abbr[1] = 8;
    expect_parse_error(&s, "time zone 't': bad abbreviation index");
    s = good;
    s.chars = "AAA\0BBBB";
    s.charcnt = 8; /* "BBBB" runs to the end without a NUL */
    expect_parse_error(&s, "time zone 't': bad abbreviation index");
    s = good;
    s.leapcnt = 1;
    expect_parse_error(&s, "time zone 't': leap-second zones are not supported");
    s = good;
    s.footer = NULL;
    expect_parse_error(&s, "time zone 't': missing the TZ string footer");
    s = good;
    s.footer = "EST5EDT,M3.2.0,M99.1.0";
    expect_parse_error(&s, "time zone 't': invalid TZ string 'EST5EDT,M3.2.0,M99.1.0' in the "
                           "footer");
    s = good;
    s.version = '5';
    expect_parse_error(&s, "time zone 't': unsupported TZif version");

    build(&im, &good);
    im.b[0] = 'X';
    assert_int_equal(tz_parse("t", im.b, im.n, &tz, &err), -EINVAL);
    assert_string_equal(err->msg, "time zone 't': not a TZif file");
    nc_error_free(err);
    err = NULL;
    /* The second header missing its magic. */
    build(&im, &good);
    im.b[44] = 'X';
    assert_int_equal(tz_parse("t", im.b, im.n, &tz, &err), -EINVAL);
    assert_string_equal(err->msg, "time zone 't': missing the 64-bit TZif header");
    nc_error_free(err);
    err = NULL;
    /* Counts that promise more data than there is. */
    build(&im, &good);
    im.b[44 + 32] = 0x7f;
    assert_int_equal(tz_parse("t", im.b, im.n, &tz, &err), -EINVAL);
    assert_string_equal(err->msg, "time zone 't': truncated TZif data");
    nc_error_free(err);
    err = NULL;
}

/* Every prefix of a real file is refused cleanly; the whole file loads. */
static void test_truncated_real_file(void **state)
{
    (void)state;
    strbuf sb = STRBUF_INIT;
    nc_error *err = NULL;
    assert_int_equal(read_file("/usr/share/zoneinfo/America/New_York", TZ_MAX_FILE_SIZE, &sb, &err),
                     0);
    for (size_t n = 0; n < sb.len; n++) {
        nc_tz *tz = NULL;
        if (tz_parse("ny", sb.buf, n, &tz, &err) == 0)
            fail_msg("a prefix of %zu bytes out of %zu parsed", n, sb.len);
        nc_error_free(err);
        err = NULL;
    }
    nc_tz *tz = NULL;
    assert_int_equal(tz_parse("ny", sb.buf, sb.len, &tz, &err), 0);
    tz_free(tz);
    strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_utc),
        cmocka_unit_test(test_against_glibc),
        cmocka_unit_test(test_gaps_and_overlaps),
        cmocka_unit_test(test_offset_span),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_posix_strings),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_host_zone),
        cmocka_unit_test(test_tzif_images),
        cmocka_unit_test(test_truncated_real_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
