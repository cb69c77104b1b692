/* Unit tests for orch/cron: every field's syntax (ranges, steps, lists, names, 7 = sunday,
 * macros), the day-of-month/day-of-week OR rule, 29 February, each refusal with its message,
 * next fire times in UTC and across DST gaps and overlaps in four zones (now and in footer
 * years), and a differential check against a minute-by-minute scan that applies the same DST
 * rules independently. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orch/cron.h"

static nc_tz *load(const char *name)
{
    nc_tz *tz = NULL;
    nc_error *err = NULL;
    if (tz_load(name, &tz, &err) < 0)
        fail_msg("load '%s': %s", name, nc_error_msg(err));
    return tz;
}

static cron_expr parse(const char *text)
{
    cron_expr c;
    nc_error *err = NULL;
    if (cron_parse(text, &c, &err) < 0)
        fail_msg("'%s': %s", text, nc_error_msg(err));
    return c;
}

/* Bits lo..hi step s. */
static uint64_t bits(int lo, int hi, int step)
{
    uint64_t b = 0;
    for (int v = lo; v <= hi; v += step)
        b |= UINT64_C(1) << v;
    return b;
}

#define ALL_MIN bits(0, 59, 1)
#define ALL_HOUR bits(0, 23, 1)
#define ALL_DOM bits(1, 31, 1)
#define ALL_MON bits(1, 12, 1)
#define ALL_DOW bits(0, 6, 1)
#define STARS (CRON_MIN_STAR | CRON_HOUR_STAR | CRON_DOM_STAR | CRON_DOW_STAR)

struct parse_case {
    const char *text;
    uint64_t min, hour, dom, mon, dow;
    unsigned flags;
};

static void test_parse_fields(void **state)
{
    (void)state;
    const struct parse_case cases[] = {
        {"* * * * *", ALL_MIN, ALL_HOUR, ALL_DOM, ALL_MON, ALL_DOW, STARS},
        {"0 0 1 1 0", 1, 1, 2, 2, 1, 0},
        {"59 23 31 12 6", UINT64_C(1) << 59, 1u << 23, 1u << 31, 1u << 12, 1u << 6, 0},
        /* lists, ranges, steps */
        {"1,2,3 */6 1-5 1-3 1-5", bits(1, 3, 1), bits(0, 23, 6), bits(1, 5, 1), bits(1, 3, 1),
         bits(1, 5, 1), CRON_HOUR_STAR},
        {"0-30/10 1-23/2 */10 */4 */2", bits(0, 30, 10), bits(1, 23, 2), bits(1, 31, 10),
         bits(1, 12, 4), bits(0, 6, 2), CRON_DOM_STAR | CRON_DOW_STAR},
        {"5/15 5/6 5/10 5/3 5/1", bits(5, 59, 15), bits(5, 23, 6), bits(5, 31, 10), bits(5, 12, 3),
         bits(5, 6, 1) | 1, 0},
        {"1,1,1-2,2 0 1 1 1", bits(1, 2, 1), 1, 2, 2, 2, 0},
        {"*/60 */24 */31 */12 */8", 1, 1, 2, 2, 1, STARS},
        {"0,15,30,45 9-17 * * 1-5", bits(0, 45, 15), bits(9, 17, 1), ALL_DOM, ALL_MON,
         bits(1, 5, 1), CRON_DOM_STAR},
        /* names in any case, in ranges and lists and with steps */
        {"0 0 * jan,MAR,Dec sun,Sat", 1, 1, ALL_DOM, (1u << 1) | (1u << 3) | (1u << 12),
         (1u << 0) | (1u << 6), CRON_DOM_STAR},
        {"0 0 * Jan-Jun/2 mon-FRI", 1, 1, ALL_DOM, bits(1, 6, 2), bits(1, 5, 1), CRON_DOM_STAR},
        {"0 0 * * tue-sat/2", 1, 1, ALL_DOM, ALL_MON, (1u << 2) | (1u << 4) | (1u << 6),
         CRON_DOM_STAR},
        /* 7 is sunday, alone and at the end of a range */
        {"0 0 * * 7", 1, 1, ALL_DOM, ALL_MON, 1, CRON_DOM_STAR},
        {"0 0 * * 5-7", 1, 1, ALL_DOM, ALL_MON, bits(5, 6, 1) | 1, CRON_DOM_STAR},
        {"0 0 * * 0-7", 1, 1, ALL_DOM, ALL_MON, ALL_DOW, CRON_DOM_STAR},
        {"0 0 * * 0,7", 1, 1, ALL_DOM, ALL_MON, 1, CRON_DOM_STAR},
        {"0 0 * * fri-7", 1, 1, ALL_DOM, ALL_MON, bits(5, 6, 1) | 1, CRON_DOM_STAR},
        /* leading zeros, spaces and tabs */
        {"  05\t\t 09 01 02 03  ", 1u << 5, 1u << 9, 1u << 1, 1u << 2, 1u << 3, 0},
        /* macros */
        {"@yearly", 1, 1, 2, 2, ALL_DOW, CRON_DOW_STAR},
        {"@annually", 1, 1, 2, 2, ALL_DOW, CRON_DOW_STAR},
        {"@monthly", 1, 1, 2, ALL_MON, ALL_DOW, CRON_DOW_STAR},
        {"@weekly", 1, 1, ALL_DOM, ALL_MON, 1, CRON_DOM_STAR},
        {"@daily", 1, 1, ALL_DOM, ALL_MON, ALL_DOW, CRON_DOM_STAR | CRON_DOW_STAR},
        {"@midnight", 1, 1, ALL_DOM, ALL_MON, ALL_DOW, CRON_DOM_STAR | CRON_DOW_STAR},
        {" @HOURLY ", 1, ALL_HOUR, ALL_DOM, ALL_MON, ALL_DOW, STARS & ~CRON_MIN_STAR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct parse_case *pc = &cases[i];
        cron_expr c = parse(pc->text);
        if (c.minutes != pc->min || c.hours != pc->hour || c.days != pc->dom ||
            c.months != pc->mon || c.weekdays != pc->dow || c.flags != pc->flags)
            fail_msg("'%s': min %#llx hour %#x dom %#x mon %#x dow %#x flags %#x", pc->text,
                     (unsigned long long)c.minutes, c.hours, c.days, c.months, c.weekdays, c.flags);
    }
    assert_true(cron_is_fixed(&(cron_expr){.flags = CRON_DOM_STAR | CRON_DOW_STAR}));
    cron_expr c = parse("0 * * * *");
    assert_false(cron_is_fixed(&c));
    c = parse("*/5 3 * * *");
    assert_false(cron_is_fixed(&c));
    c = parse("5 3 * * *");
    assert_true(cron_is_fixed(&c));
}

struct bad_case {
    const char *text;
    const char *msg;
};

static void test_parse_errors(void **state)
{
    (void)state;
    const struct bad_case cases[] = {
        {"", "invalid cron expression '': expected 5 fields (minute hour day-of-month month "
             "day-of-week), got 0"},
        {"* * * *", "invalid cron expression '* * * *': expected 5 fields (minute hour "
                    "day-of-month month day-of-week), got 4"},
        {"0 * * * * *", "invalid cron expression '0 * * * * *': expected 5 fields (minute hour "
                        "day-of-month month day-of-week), got 6"},
        {"60 * * * *", "invalid cron expression '60 * * * *': minute '60': 60 is out of range "
                       "0-59"},
        {"* 24 * * *", "invalid cron expression '* 24 * * *': hour '24': 24 is out of range "
                       "0-23"},
        {"* * 0 * *", "invalid cron expression '* * 0 * *': day-of-month '0': 0 is out of range "
                      "1-31"},
        {"* * 32 * *", "invalid cron expression '* * 32 * *': day-of-month '32': 32 is out of "
                       "range 1-31"},
        {"* * * 0 *", "invalid cron expression '* * * 0 *': month '0': 0 is out of range 1-12"},
        {"* * * 13 *", "invalid cron expression '* * * 13 *': month '13': 13 is out of range "
                       "1-12"},
        {"* * * * 8", "invalid cron expression '* * * * 8': day-of-week '8': 8 is out of range "
                      "0-7"},
        {"99999999999 * * * *", "invalid cron expression '99999999999 * * * *': minute "
                                "'99999999999': number '99999999999' is out of range 0-59"},
        {"5-1 * * * *", "invalid cron expression '5-1 * * * *': minute '5-1': range 5-1 is "
                        "backwards"},
        {"* * * * fri-mon", "invalid cron expression '* * * * fri-mon': day-of-week 'fri-mon': "
                            "range 5-1 is backwards"},
        {"*/0 * * * *", "invalid cron expression '*/0 * * * *': minute '*/0': step 0 is out of "
                        "range 1-60"},
        {"*/61 * * * *", "invalid cron expression '*/61 * * * *': minute '*/61': step 61 is out "
                         "of range 1-60"},
        {"* */25 * * *", "invalid cron expression '* */25 * * *': hour '*/25': step 25 is out of "
                         "range 1-24"},
        {"*/ * * * *", "invalid cron expression '*/ * * * *': minute '*/': step '' is not a "
                       "number"},
        {"*/x * * * *", "invalid cron expression '*/x * * * *': minute '*/x': step 'x' is not a "
                        "number"},
        {"*/2/3 * * * *", "invalid cron expression '*/2/3 * * * *': minute '*/2/3': unexpected "
                          "'/'"},
        {"1,,2 * * * *", "invalid cron expression '1,,2 * * * *': minute '1,,2': empty list "
                         "item"},
        {"1, * * * *", "invalid cron expression '1, * * * *': minute '1,': empty list item"},
        {",1 * * * *", "invalid cron expression ',1 * * * *': minute ',1': empty list item"},
        {"1-2-3 * * * *", "invalid cron expression '1-2-3 * * * *': minute '1-2-3': unexpected "
                          "'-'"},
        {"*-5 * * * *", "invalid cron expression '*-5 * * * *': minute '*-5': unexpected '-'"},
        {"1-* * * * *", "invalid cron expression '1-* * * * *': minute '1-*': unexpected '*'"},
        {"1- * * * *", "invalid cron expression '1- * * * *': minute '1-': a value is missing"},
        {"-1 * * * *", "invalid cron expression '-1 * * * *': minute '-1': unexpected '-'"},
        {"a * * * *", "invalid cron expression 'a * * * *': minute 'a': names are only allowed "
                      "in month and day-of-week"},
        {"* * L * *", "invalid cron expression '* * L * *': day-of-month 'L': names are only "
                      "allowed in month and day-of-week"},
        {"* * * foo *", "invalid cron expression '* * * foo *': month 'foo': unknown name "
                        "'foo'"},
        {"* * * january *", "invalid cron expression '* * * january *': month 'january': "
                            "unknown name 'january'"},
        {"* * * * mon#2", "invalid cron expression '* * * * mon#2': day-of-week 'mon#2': "
                          "unexpected '#'"},
        {"* * * * 5L", "invalid cron expression '* * * * 5L': day-of-week '5L': unexpected 'L'"},
        {"* * ? * *", "invalid cron expression '* * ? * *': day-of-month '?': unexpected '?'"},
        {"* * * * sun-mon-tue", "invalid cron expression '* * * * sun-mon-tue': day-of-week "
                                "'sun-mon-tue': unexpected '-'"},
        {"0 0 30 2 *", "invalid cron expression '0 0 30 2 *': day-of-month '30' never occurs in "
                       "month '2'"},
        {"0 0 31 apr,jun,sep,nov *", "invalid cron expression '0 0 31 apr,jun,sep,nov *': "
                                     "day-of-month '31' never occurs in month "
                                     "'apr,jun,sep,nov'"},
        {"0 0 30,31 feb */2", "invalid cron expression '0 0 30,31 feb */2': day-of-month "
                              "'30,31' never occurs in month 'feb'"},
        {"@reboot", "invalid cron expression '@reboot': @reboot is not supported"},
        {"@every", "invalid cron expression '@every': unknown macro '@every'"},
        {"@daily 5", "invalid cron expression '@daily 5': text after '@daily'"},
        {"0 0 * * *\n", "invalid cron expression: a control or non-ASCII character"},
        {"0 0 * * \x1b[31m", "invalid cron expression: a control or non-ASCII character"},
        {"0 0 * * \xc3\xa9", "invalid cron expression: a control or non-ASCII character"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cron_expr c = {.minutes = 42};
        nc_error *err = NULL;
        int rc = cron_parse(cases[i].text, &c, &err);
        if (rc != -EINVAL)
            fail_msg("'%s': accepted", cases[i].text);
        assert_int_equal(c.minutes, 42); /* untouched */
        assert_int_equal(err->code, EINVAL);
        if (strcmp(err->msg, cases[i].msg) != 0)
            fail_msg("'%s':\n got  %s\n want %s", cases[i].text, err->msg, cases[i].msg);
        nc_error_free(err);
    }
    /* The OR rule gives 30 February days: every monday. */
    parse("0 0 30 2 mon");
    /* Too long. */
    char lng[CRON_MAX_LEN + 2];
    memset(lng, ' ', sizeof(lng) - 1);
    lng[sizeof(lng) - 1] = '\0';
    cron_expr c;
    nc_error *err = NULL;
    assert_int_equal(cron_parse(lng, &c, &err), -EINVAL);
    assert_string_equal(err->msg, "invalid cron expression: longer than 256 bytes");
    nc_error_free(err);
}

static struct tm day(int y, int mo, int d, int h, int mi)
{
    /* tm_wday from the calendar, as tz_to_local would give. */
    int64_t days = tz_days_from_civil(y, (unsigned)mo, (unsigned)d);
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_wday = (int)(((days + 4) % 7 + 7) % 7)};
    return tm;
}

static void test_or_rule(void **state)
{
    (void)state;
    /* 2026-03-13 is a friday, 2026-03-20 a friday, 2026-04-13 a monday. */
    struct tm fri13 = day(2026, 3, 13, 0, 0), fri20 = day(2026, 3, 20, 0, 0),
              mon13 = day(2026, 4, 13, 0, 0), sat14 = day(2026, 3, 14, 0, 0);
    cron_expr either = parse("0 0 13 * fri"); /* both restricted: OR */
    assert_true(cron_matches(&either, &fri13));
    assert_true(cron_matches(&either, &fri20));
    assert_true(cron_matches(&either, &mon13));
    assert_false(cron_matches(&either, &sat14));
    cron_expr both = parse("0 0 */13 * fri");    /* day-of-month begins with '*': AND */
    assert_false(cron_matches(&both, &fri13));   /* days 1, 14 and 27 */
    cron_expr both2 = parse("0 0 1-31/2 * fri"); /* restricted, no '*': OR again */
    assert_true(cron_matches(&both2, &fri20));
    assert_true(cron_matches(&both2, &sat14) == false);
    cron_expr odd_fri = parse("0 0 13 * */5"); /* day-of-week begins with '*': AND */
    assert_true(cron_matches(&odd_fri, &fri13));
    assert_false(cron_matches(&odd_fri, &mon13));
    cron_expr dom_only = parse("0 0 13 * *");
    assert_true(cron_matches(&dom_only, &mon13));
    assert_false(cron_matches(&dom_only, &fri20));
    cron_expr dow_only = parse("0 0 * * fri");
    assert_true(cron_matches(&dow_only, &fri20));
    assert_false(cron_matches(&dow_only, &mon13));
    /* The other fields must match too. */
    struct tm t = day(2026, 3, 13, 0, 1);
    assert_false(cron_matches(&either, &t));
    t = day(2026, 3, 13, 1, 0);
    assert_false(cron_matches(&either, &t));
    cron_expr march = parse("0 0 13 3 *");
    assert_true(cron_matches(&march, &fri13));
    assert_false(cron_matches(&march, &mon13));
    /* Nonsense fields never match. */
    t.tm_min = 60;
    assert_false(cron_matches(&dow_only, &t));
}

/* The fire times after `from` (a local wall time in zone, "YYYY-MM-DDTHH:MM"), formatted. */
static void expect_next(const char *zone, const char *expr, int y, int mo, int d, int h, int mi,
                        const char *const *want, size_t n)
{
    nc_tz *tz = zone ? load(zone) : NULL;
    cron_expr c = parse(expr);
    struct tm w = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    int64_t t = tz_from_local(tz ? tz : tz_utc(), &w, NULL);
    for (size_t i = 0; i < n; i++) {
        nc_error *err = NULL;
        int64_t prev = t;
        if (cron_next(&c, tz, t, &t, &err) < 0)
            fail_msg("%s '%s' #%zu: %s", zone, expr, i, nc_error_msg(err));
        assert_true(t > prev);
        char *got = tz_format(tz ? tz : tz_utc(), t);
        if (strcmp(got, want[i]) != 0)
            fail_msg("%s '%s' #%zu: got %s, want %s", zone ? zone : "UTC", expr, i, got, want[i]);
        free(got);
    }
    tz_free(tz);
}

#define EXPECT_NEXT(zone, expr, y, mo, d, h, mi, ...)                                              \
    do {                                                                                           \
        static const char *const w_[] = {__VA_ARGS__};                                             \
        expect_next(zone, expr, y, mo, d, h, mi, w_, sizeof(w_) / sizeof(w_[0]));                  \
    } while (0)

static void test_next_utc(void **state)
{
    (void)state;
    /* Strictly after: a fire time equal to `after` is not returned. */
    EXPECT_NEXT(NULL, "*/15 * * * *", 2026, 1, 1, 10, 0, "2026-01-01T10:15:00+00:00",
                "2026-01-01T10:30:00+00:00", "2026-01-01T10:45:00+00:00",
                "2026-01-01T11:00:00+00:00");
    EXPECT_NEXT("UTC", "* * * * *", 2026, 12, 31, 23, 58, "2026-12-31T23:59:00+00:00",
                "2027-01-01T00:00:00+00:00");
    /* Weekdays at 9 over a weekend (2026-01-02 is a friday). */
    EXPECT_NEXT("UTC", "0 9 * * mon-fri", 2026, 1, 2, 9, 0, "2026-01-05T09:00:00+00:00",
                "2026-01-06T09:00:00+00:00");
    /* The 31st skips short months. */
    EXPECT_NEXT("UTC", "0 0 31 * *", 2026, 1, 31, 0, 0, "2026-03-31T00:00:00+00:00",
                "2026-05-31T00:00:00+00:00", "2026-07-31T00:00:00+00:00",
                "2026-08-31T00:00:00+00:00");
    /* 29 February: leap years only, and 2100 is none. */
    EXPECT_NEXT("UTC", "0 12 29 2 *", 2024, 3, 1, 0, 0, "2028-02-29T12:00:00+00:00",
                "2032-02-29T12:00:00+00:00");
    EXPECT_NEXT("UTC", "0 12 29 2 *", 2096, 3, 1, 0, 0, "2104-02-29T12:00:00+00:00");
    EXPECT_NEXT("UTC", "0 0 28-29 feb *", 2027, 1, 1, 0, 0, "2027-02-28T00:00:00+00:00",
                "2028-02-28T00:00:00+00:00", "2028-02-29T00:00:00+00:00",
                "2029-02-28T00:00:00+00:00");
    /* OR: 29 February or any monday of February (2028-02-28 is a monday). */
    EXPECT_NEXT("UTC", "0 12 29 2 mon", 2028, 2, 27, 0, 0, "2028-02-28T12:00:00+00:00",
                "2028-02-29T12:00:00+00:00", "2029-02-05T12:00:00+00:00");
    /* AND: 29 February that is a sunday (2032; then 2060, beyond the horizon). */
    EXPECT_NEXT("UTC", "0 12 29 2 */7", 2026, 1, 1, 0, 0, "2032-02-29T12:00:00+00:00");
    /* Month names with a step; the year turns. */
    EXPECT_NEXT("UTC", "30 6 1 jan-dec/5 *", 2026, 7, 1, 0, 0, "2026-11-01T06:30:00+00:00",
                "2027-01-01T06:30:00+00:00", "2027-06-01T06:30:00+00:00");
    EXPECT_NEXT("UTC", "@yearly", 2026, 6, 1, 0, 0, "2027-01-01T00:00:00+00:00");
    EXPECT_NEXT("UTC", "@weekly", 2026, 1, 1, 0, 0, "2026-01-04T00:00:00+00:00");
    EXPECT_NEXT("UTC", "0 0 * * 7", 2026, 1, 1, 0, 0, "2026-01-04T00:00:00+00:00");
    /* A fixed offset with minutes. */
    EXPECT_NEXT("Asia/Kathmandu", "0 9 * * *", 2026, 5, 1, 9, 0, "2026-05-02T09:00:00+05:45");

    /* Seconds within the minute: the next whole minute. */
    cron_expr c = parse("* * * * *");
    int64_t next;
    assert_int_equal(cron_next(&c, NULL, 1700000001, &next, NULL), 0);
    assert_int_equal(next, 1700000040);
    assert_int_equal(cron_next(&c, NULL, 1700000039, &next, NULL), 0);
    assert_int_equal(next, 1700000040);
    assert_int_equal(cron_next(&c, NULL, 1700000040, &next, NULL), 0);
    assert_int_equal(next, 1700000100);
}

static void test_next_none(void **state)
{
    (void)state;
    cron_expr c = parse("0 12 29 2 */7");
    int64_t next = 7;
    nc_error *err = NULL;
    struct tm w = {.tm_year = 2033 - 1900, .tm_mday = 1};
    int64_t after = tz_from_local(tz_utc(), &w, NULL);
    assert_int_equal(cron_next(&c, NULL, after, &next, &err), -ERANGE);
    assert_int_equal(next, 7);
    assert_string_equal(err->msg, "no fire time within 8 years after 2033-01-01T00:00:00+00:00");
    nc_error_free(err);
    err = NULL;
    c = parse("* * * * *");
    assert_int_equal(cron_next(&c, NULL, TZ_TIME_MAX, &next, &err), -ERANGE);
    nc_error_free(err);
    err = NULL;
    assert_int_equal(cron_next(&c, NULL, INT64_MIN, &next, &err), -ERANGE);
    nc_error_free(err);
    /* Near the end of the range: found if it exists, else ERANGE, never a wrap. */
    assert_int_equal(cron_next(&c, NULL, TZ_TIME_MAX - 120, &next, NULL), 0);
    assert_true(next <= TZ_TIME_MAX);
}

static void test_next_dst(void **state)
{
    (void)state;
    /* New York, clocks forward 02:00 -> 03:00 on 8 March 2026: a fixed 02:30 runs at the
     * jump; a wildcard job has no runs in the skipped hour. */
    EXPECT_NEXT("America/New_York", "30 2 * * *", 2026, 3, 7, 0, 0, "2026-03-07T02:30:00-05:00",
                "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00");
    EXPECT_NEXT("America/New_York", "0,30 2 * * *", 2026, 3, 8, 0, 0, "2026-03-08T03:00:00-04:00",
                "2026-03-09T02:00:00-04:00");
    EXPECT_NEXT("America/New_York", "15 2,3 * * *", 2026, 3, 8, 0, 0, "2026-03-08T03:00:00-04:00",
                "2026-03-08T03:15:00-04:00");
    EXPECT_NEXT("America/New_York", "*/30 * * * *", 2026, 3, 8, 1, 0, "2026-03-08T01:30:00-05:00",
                "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00");
    EXPECT_NEXT("America/New_York", "*/30 2 * * *", 2026, 3, 7, 23, 0, "2026-03-09T02:00:00-04:00");
    /* Clocks back 02:00 -> 01:00 on 1 November 2026: a fixed 01:30 runs once, on the first
     * pass; a wildcard job runs in both passes. */
    EXPECT_NEXT("America/New_York", "30 1 * * *", 2026, 10, 31, 0, 0, "2026-10-31T01:30:00-04:00",
                "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00");
    EXPECT_NEXT("America/New_York", "0 1-2 * * *", 2026, 11, 1, 0, 0, "2026-11-01T01:00:00-04:00",
                "2026-11-01T02:00:00-05:00");
    EXPECT_NEXT("America/New_York", "*/20 1 * * *", 2026, 11, 1, 0, 50, "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:20:00-04:00", "2026-11-01T01:40:00-04:00",
                "2026-11-01T01:00:00-05:00", "2026-11-01T01:20:00-05:00",
                "2026-11-01T01:40:00-05:00", "2026-11-02T01:00:00-05:00");
    EXPECT_NEXT("America/New_York", "0 * * * *", 2026, 11, 1, 0, 30, "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00");
    /* Beyond 2037 (the footer's rules): 14 March and 7 November 2100. */
    EXPECT_NEXT("America/New_York", "30 2 * * *", 2100, 3, 13, 12, 0, "2100-03-14T03:00:00-04:00",
                "2100-03-15T02:30:00-04:00");
    EXPECT_NEXT("America/New_York", "30 1 * * *", 2100, 11, 6, 12, 0, "2100-11-07T01:30:00-04:00",
                "2100-11-08T01:30:00-05:00");

    /* Berlin, 02:00 -> 03:00 on 29 March, 03:00 -> 02:00 on 25 October 2026. */
    EXPECT_NEXT("Europe/Berlin", "30 2 * * *", 2026, 3, 28, 12, 0, "2026-03-29T03:00:00+02:00",
                "2026-03-30T02:30:00+02:00");
    EXPECT_NEXT("Europe/Berlin", "30 2 * * *", 2026, 10, 24, 12, 0, "2026-10-25T02:30:00+02:00",
                "2026-10-26T02:30:00+01:00");
    EXPECT_NEXT("Europe/Berlin", "*/30 2 * * *", 2026, 10, 25, 0, 0, "2026-10-25T02:00:00+02:00",
                "2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00",
                "2026-10-25T02:30:00+01:00", "2026-10-26T02:00:00+01:00");
    /* London, 01:00 -> 02:00 on 29 March 2026. */
    EXPECT_NEXT("Europe/London", "15 1 * * *", 2026, 3, 28, 12, 0, "2026-03-29T02:00:00+01:00",
                "2026-03-30T01:15:00+01:00");

    /* Lord Howe moves by 30 minutes: 02:00 -> 02:30 on 4 October 2026, 02:00 -> 01:30 on
     * 5 April 2026. */
    EXPECT_NEXT("Australia/Lord_Howe", "15 2 * * *", 2026, 10, 3, 0, 0, "2026-10-03T02:15:00+10:30",
                "2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00");
    EXPECT_NEXT("Australia/Lord_Howe", "45 1 * * *", 2026, 4, 4, 12, 0, "2026-04-05T01:45:00+11:00",
                "2026-04-06T01:45:00+10:30");
    EXPECT_NEXT("Australia/Lord_Howe", "*/15 1 * * *", 2026, 4, 5, 1, 0,
                "2026-04-05T01:15:00+11:00", "2026-04-05T01:30:00+11:00",
                "2026-04-05T01:45:00+11:00", "2026-04-05T01:30:00+10:30",
                "2026-04-05T01:45:00+10:30", "2026-04-06T01:00:00+10:30");
    /* And in 2150, from the footer. */
    EXPECT_NEXT("Australia/Lord_Howe", "15 2 * * *", 2150, 10, 3, 12, 0,
                "2150-10-04T02:30:00+11:00");

    /* A gap of a whole day: Apia skipped 30 December 2011. The fixed 12:00 of that day runs
     * at the jump, a wildcard job just resumes. */
    EXPECT_NEXT("Pacific/Apia", "0 12 * * *", 2011, 12, 29, 13, 0, "2011-12-31T00:00:00+14:00",
                "2011-12-31T12:00:00+14:00");
    EXPECT_NEXT("Pacific/Apia", "0 */12 * * *", 2011, 12, 29, 13, 0, "2011-12-31T00:00:00+14:00",
                "2011-12-31T12:00:00+14:00");
    EXPECT_NEXT("Pacific/Apia", "0 12 * * *", 2011, 12, 28, 13, 0, "2011-12-29T12:00:00-10:00",
                "2011-12-31T00:00:00+14:00");
    EXPECT_NEXT("Pacific/Apia", "0 12 30 12 *", 2011, 12, 29, 13, 0, "2011-12-31T00:00:00+14:00");
}

/* ---- the differential check ---- */

static bool same_wall(const struct tm *a, const struct tm *b)
{
    return a->tm_year == b->tm_year && a->tm_yday == b->tm_yday && a->tm_hour == b->tm_hour &&
           a->tm_min == b->tm_min && a->tm_sec == b->tm_sec;
}

/* Whether cron fires at instant u (a UTC minute), decided from the rules alone. */
static bool oracle_fires(const cron_expr *c, const nc_tz *tz, int64_t u)
{
    struct tm l;
    int32_t off, before;
    tz_to_local(tz, u, &l, &off);
    before = tz_offset_span(tz, u - 1, NULL, NULL);
    bool fixed = cron_is_fixed(c);
    int64_t s;
    tz_offset_span(tz, u, &s, NULL);
    if (fixed && before < off && s == u) {
        /* Clocks jumped at u over the wall times [u + before, u + off): one of them matching
         * fires at u. */
        for (int64_t wall = u + before; wall < u + off; wall += 60) {
            int64_t days = wall / 86400 - (wall % 86400 < 0);
            int64_t y;
            unsigned m, d;
            tz_civil_from_days(days, &y, &m, &d);
            struct tm t = {.tm_year = (int)y - 1900,
                           .tm_mon = (int)m - 1,
                           .tm_mday = (int)d,
                           .tm_hour = (int)((wall - days * 86400) / 3600),
                           .tm_min = (int)((wall - days * 86400) / 60 % 60),
                           .tm_wday = (int)(((days + 4) % 7 + 7) % 7)};
            if (cron_matches(c, &t))
                return true;
        }
    }
    if (!cron_matches(c, &l) || l.tm_sec != 0)
        return false;
    if (fixed) {
        /* A second pass: the same wall time shown earlier, up to a day back. */
        for (int64_t d = 60; d <= 26 * 3600; d += 60) {
            struct tm e;
            tz_to_local(tz, u - d, &e, NULL);
            if (same_wall(&e, &l))
                return false;
        }
    }
    return true;
}

static void test_next_differential(void **state)
{
    (void)state;
    static const char *const zones[] = {"America/New_York", "Europe/Berlin", "Australia/Lord_Howe",
                                        "Europe/London"};
    /* Local dates of changes: 2026 and, from the footer, 2100. */
    static const int windows[][4][3] = {
        {{2026, 3, 8}, {2026, 11, 1}, {2100, 3, 14}, {2100, 11, 7}},
        {{2026, 3, 29}, {2026, 10, 25}, {2100, 3, 28}, {2100, 10, 31}},
        {{2026, 4, 5}, {2026, 10, 4}, {2100, 4, 4}, {2100, 10, 3}},
        {{2026, 3, 29}, {2026, 10, 25}, {2100, 3, 28}, {2100, 10, 31}},
    };
    static const char *const exprs[] = {
        "30 2 * * *", "0,30 1-3 * * *", "*/15 * * * *",  "0 * * * *",      "45 1 * * *",
        "15 2 * * 0", "* 2 * * *",      "*/7 1-2 * * *", "0 0 * * *",      "59 1 * * *",
        "0 2 * * *",  "1 3 * * *",      "10-20 2 * * *", "30 1,2 * * sun", "*/30 * * * *",
    };
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        nc_tz *tz = load(zones[z]);
        for (size_t w = 0; w < 4; w++) {
            const int *dt = windows[z][w];
            int64_t mid = tz_days_from_civil(dt[0], (unsigned)dt[1], (unsigned)dt[2]) * 86400;
            int64_t from = mid - 2 * 86400, to = mid + 2 * 86400;
            for (size_t e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++) {
                cron_expr c = parse(exprs[e]);
                int64_t t = from;
                nc_error *err = NULL;
                assert_int_equal(cron_next(&c, tz, t, &t, &err), 0);
                for (int64_t u = from + 60; u <= to; u += 60) {
                    bool fires = oracle_fires(&c, tz, u);
                    if (fires != (t == u)) {
                        char *a = tz_format(tz, u), *b = tz_format(tz, t);
                        fail_msg("%s '%s': oracle %s at %s, cron_next gave %s", zones[z], exprs[e],
                                 fires ? "fires" : "does not fire", a, b);
                    }
                    if (t == u)
                        assert_int_equal(cron_next(&c, tz, t, &t, &err), 0);
                }
            }
        }
        tz_free(tz);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fields),      cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_or_rule),           cmocka_unit_test(test_next_utc),
        cmocka_unit_test(test_next_none),         cmocka_unit_test(test_next_dst),
        cmocka_unit_test(test_next_differential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
