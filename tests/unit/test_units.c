/* Unit tests for sizes and durations: every unit, the boundaries, and every kind of bad input
 * with its exact message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/units.h"

typedef struct ok_case {
    const char *in;
    uint64_t want;
} ok_case;

typedef struct bad_case {
    const char *in;
    int code;
    const char *msg;
} bad_case;

typedef int (*parse_fn)(const char *s, uint64_t *ret, nc_error **err);

static void check_ok(parse_fn fn, const ok_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 12345;
        nc_error *err = NULL;
        int r = fn(cases[i].in, &v, &err);
        if (r < 0)
            fail_msg("'%s': unexpected error: %s", cases[i].in, nc_error_msg(err));
        assert_null(err);
        if (v != cases[i].want)
            fail_msg("'%s': got %ju, want %ju", cases[i].in, (uintmax_t)v,
                     (uintmax_t)cases[i].want);
    }
}

static void check_bad(parse_fn fn, const bad_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 12345;
        nc_error *err = NULL;
        assert_int_equal(fn(cases[i].in, &v, &err), -cases[i].code);
        assert_true(v == 12345); /* untouched on failure */
        assert_non_null(err);
        assert_int_equal(err->code, cases[i].code);
        assert_string_equal(err->msg, cases[i].msg);
        nc_error_free(err);
    }
}

static void test_parse_size(void **state)
{
    (void)state;
    static const ok_case cases[] = {
        {"0", 0},
        {"100", 100},
        {"100b", 100},
        {"100B", 100},
        {"1k", 1024},
        {"1K", 1024},
        {"2kb", 2048},
        {"2KiB", 2048},
        {"512m", 536870912},
        {"512M", 536870912},
        {"1mb", 1048576},
        {"1MiB", 1048576},
        {"1g", 1073741824},
        {"4GB", UINT64_C(4294967296)},
        {"1gib", 1073741824},
        {"1t", UINT64_C(1099511627776)},
        {"2TiB", UINT64_C(2199023255552)},
        {"007m", 7340032},
        {"18446744073709551615", UINT64_MAX},
        {"18446744073709551615b", UINT64_MAX},
        {"16777215t", UINT64_C(16777215) << 40},
        {"17179869183g", UINT64_C(17179869183) << 30},
    };
    check_ok(parse_size, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_parse_size_errors(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"", EINVAL, "invalid size '': empty"},
        {"12x", EINVAL, "invalid size '12x': unknown unit 'x'"},
        {"12 m", EINVAL, "invalid size '12 m': unknown unit ' m'"},
        {"1mm", EINVAL, "invalid size '1mm': unknown unit 'mm'"},
        {"1kibb", EINVAL, "invalid size '1kibb': unknown unit 'kibb'"},
        {"-1", EINVAL, "invalid size '-1': must not be negative"},
        {"-1g", EINVAL, "invalid size '-1g': must not be negative"},
        {"+1", EINVAL, "invalid size '+1': expected a number"},
        {"g", EINVAL, "invalid size 'g': expected a number"},
        {" 1", EINVAL, "invalid size ' 1': expected a number"},
        {"1.5g", EINVAL, "invalid size '1.5g': fractions are not allowed"},
        {"1,5g", EINVAL, "invalid size '1,5g': fractions are not allowed"},
        {"18446744073709551616", ERANGE, "invalid size '18446744073709551616': out of range"},
        {"99999999999999999999999k", ERANGE,
         "invalid size '99999999999999999999999k': out of range"},
        {"16777216t", ERANGE, "invalid size '16777216t': out of range"},
        {"17179869184g", ERANGE, "invalid size '17179869184g': out of range"},
    };
    check_bad(parse_size, cases, sizeof(cases) / sizeof(cases[0]));

    nc_error *err = NULL;
    uint64_t v;
    assert_int_equal(parse_size(NULL, &v, &err), -EINVAL);
    assert_string_equal(nc_error_msg(err), "invalid size '': empty");
    nc_error_free(err);
}

static void test_parse_duration(void **state)
{
    (void)state;
    static const ok_case cases[] = {
        {"0", 0},
        {"0ms", 0},
        {"0s", 0},
        {"500ms", 500},
        {"1s", 1000},
        {"30s", 30000},
        {"5m", 300000},
        {"2h", 7200000},
        {"90m", 5400000},
        {"18446744073709551615ms", UINT64_MAX},
        {"18446744073709551s", UINT64_C(18446744073709551000)},
        {"5124095576030h", UINT64_C(5124095576030) * 3600000},
    };
    check_ok(parse_duration_ms, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_parse_duration_errors(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"", EINVAL, "invalid duration '': empty"},
        {"10", EINVAL, "invalid duration '10': missing unit"},
        {"00", EINVAL, "invalid duration '00': missing unit"},
        {"5d", EINVAL, "invalid duration '5d': unknown unit 'd'"},
        {"5S", EINVAL, "invalid duration '5S': unknown unit 'S'"},
        {"5sec", EINVAL, "invalid duration '5sec': unknown unit 'sec'"},
        {"5 s", EINVAL, "invalid duration '5 s': unknown unit ' s'"},
        {"-5s", EINVAL, "invalid duration '-5s': must not be negative"},
        {"s", EINVAL, "invalid duration 's': expected a number"},
        {"1.5s", EINVAL, "invalid duration '1.5s': fractions are not allowed"},
        {"18446744073709552s", ERANGE, "invalid duration '18446744073709552s': out of range"},
        {"5124095576031h", ERANGE, "invalid duration '5124095576031h': out of range"},
        {"18446744073709551616ms", ERANGE,
         "invalid duration '18446744073709551616ms': out of range"},
    };
    check_bad(parse_duration_ms, cases, sizeof(cases) / sizeof(cases[0]));
}

static void check_format(char *(*fmt)(uint64_t), parse_fn parse, uint64_t v, const char *want)
{
    char *s = fmt(v);
    assert_string_equal(s, want);
    uint64_t back = 0;
    nc_error *err = NULL;
    assert_int_equal(parse(s, &back, &err), 0);
    assert_true(back == v);
    free(s);
}

static void test_format_size(void **state)
{
    (void)state;
    check_format(format_size, parse_size, 0, "0b");
    check_format(format_size, parse_size, 100, "100b");
    check_format(format_size, parse_size, 1023, "1023b");
    check_format(format_size, parse_size, 1024, "1k");
    check_format(format_size, parse_size, 1536, "1536b");
    check_format(format_size, parse_size, 1536 * 1024, "1536k");
    check_format(format_size, parse_size, UINT64_C(64) << 20, "64m");
    check_format(format_size, parse_size, UINT64_C(1) << 30, "1g");
    check_format(format_size, parse_size, UINT64_C(1024) << 30, "1t");
    check_format(format_size, parse_size, UINT64_C(3) << 40, "3t");
    check_format(format_size, parse_size, UINT64_MAX, "18446744073709551615b");
    check_format(format_size, parse_size, UINT64_MAX & ~((UINT64_C(1) << 40) - 1), "16777215t");
}

static void test_format_duration(void **state)
{
    (void)state;
    check_format(format_duration_ms, parse_duration_ms, 0, "0s");
    check_format(format_duration_ms, parse_duration_ms, 1, "1ms");
    check_format(format_duration_ms, parse_duration_ms, 500, "500ms");
    check_format(format_duration_ms, parse_duration_ms, 1500, "1500ms");
    check_format(format_duration_ms, parse_duration_ms, 30000, "30s");
    check_format(format_duration_ms, parse_duration_ms, 90000, "90s");
    check_format(format_duration_ms, parse_duration_ms, 300000, "5m");
    check_format(format_duration_ms, parse_duration_ms, 5400000, "90m");
    check_format(format_duration_ms, parse_duration_ms, 7200000, "2h");
    check_format(format_duration_ms, parse_duration_ms, UINT64_MAX, "18446744073709551615ms");
}

static void expect_human(uint64_t v, const char *want)
{
    char *s = format_size_human(v);
    if (strcmp(s, want) != 0)
        fail_msg("%ju: got '%s', want '%s'", (uintmax_t)v, s, want);
    free(s);
}

static void test_format_size_human(void **state)
{
    (void)state;
    expect_human(0, "0 bytes");
    expect_human(1, "1 byte");
    expect_human(1023, "1023 bytes");
    expect_human(1024, "1 KiB");
    expect_human(1536, "1.5 KiB");
    expect_human(1000000, "976.6 KiB");
    expect_human(UINT64_C(512) << 20, "512 MiB");
    expect_human((UINT64_C(1) << 20) + 1, "1.0 MiB");
    expect_human((UINT64_C(1) << 20) - 1, "1.0 MiB");     /* 1023.999 KiB */
    expect_human((UINT64_C(1) << 20) - 51, "1.0 MiB");    /* 1023.950 KiB rounds up */
    expect_human((UINT64_C(1) << 20) - 52, "1023.9 KiB"); /* 1023.949 KiB */
    expect_human(UINT64_C(10) << 20, "10 MiB");
    expect_human(UINT64_C(1) << 30, "1 GiB");
    expect_human(UINT64_C(3) << 40, "3 TiB");
    expect_human(UINT64_C(5) << 50, "5 PiB");
    expect_human(UINT64_C(1) << 60, "1 EiB");
    expect_human(UINT64_MAX, "16.0 EiB");
}

int main(void)
{
    /* clang-format off: one test per line */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size),        cmocka_unit_test(test_parse_size_errors),
        cmocka_unit_test(test_parse_duration),    cmocka_unit_test(test_parse_duration_errors),
        cmocka_unit_test(test_format_size),       cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_format_size_human),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
