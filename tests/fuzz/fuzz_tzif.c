/* libFuzzer target for the TZif reader and the POSIX TZ string parser. Input that begins with
 * "TZif" is a TZif image, anything else a TZ string. Besides memory errors and undefined
 * behaviour it checks what cron relies on: a zone that loads converts consistently. At
 * instants taken from the input and fixed ones, the offset span holds the instant and has one
 * offset, and tz_from_local inverts tz_to_local (the instant itself, or the earlier one of an
 * overlap, never a gap). A failure gives an error and no zone. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void check_instant(const nc_tz *tz, int64_t t)
{
    /* Away from the range's ends, where wall times are clamped. */
    const int64_t lo = TZ_TIME_MIN + 3 * 86400, hi = TZ_TIME_MAX - 3 * 86400;
    if (t < lo || t > hi)
        t = lo + (int64_t)((uint64_t)t % (uint64_t)(hi - lo));
    int64_t s, e;
    int32_t off = tz_offset_span(tz, t, &s, &e);
    CHECK(s <= t && t < e);
    CHECK(tz_offset_span(tz, s, NULL, NULL) == off);
    if (e - 1 > t)
        CHECK(tz_offset_span(tz, e - 1, NULL, NULL) == off);
    struct tm l, back;
    int32_t off2;
    tz_to_local(tz, t, &l, &off2);
    CHECK(off2 == off && l.tm_gmtoff == off && l.tm_zone != NULL);
    int flags = -1;
    int64_t r = tz_from_local(tz, &l, &flags);
    CHECK(flags == 0 || flags == TZ_LOCAL_AMBIGUOUS);
    CHECK(r <= t);
    if (flags == 0)
        CHECK(r == t);
    tz_to_local(tz, r, &back, NULL);
    CHECK(back.tm_year == l.tm_year && back.tm_yday == l.tm_yday && back.tm_hour == l.tm_hour &&
          back.tm_min == l.tm_min && back.tm_sec == l.tm_sec);
    free(tz_format(tz, t));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nc_tz *tz = NULL;
    nc_error *err = NULL;
    int rc;
    if (size >= 4 && memcmp(data, "TZif", 4) == 0) {
        rc = tz_parse("fuzz", data, size, &tz, &err);
    } else {
        char *s = malloc(size + 1);
        if (!s)
            abort();
        memcpy(s, data, size);
        s[size] = '\0';
        rc = tz_parse_posix(s, &tz, &err);
        free(s);
    }
    if (rc < 0) {
        CHECK(tz == NULL && err != NULL && err->msg != NULL);
        nc_error_free(err);
        return 0;
    }
    CHECK(tz != NULL && err == NULL);
    static const int64_t fixed[] = {0,          -1,          1000000000,   2000000000, 4102444800,
                                    1774746000, -2208988800, 253402300799, INT64_MIN,  INT64_MAX};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        check_instant(tz, fixed[i]);
    /* Instants from the input's last bytes, and the spans' edges around them. */
    for (size_t i = 0; i + 8 <= size && i < 64; i += 8) {
        int64_t t;
        memcpy(&t, data + size - 8 - i, 8);
        check_instant(tz, t);
        int64_t s, e;
        tz_offset_span(tz, t, &s, &e);
        check_instant(tz, s);
        check_instant(tz, s - 1);
        check_instant(tz, e);
    }
    tz_free(tz);
    return 0;
}
