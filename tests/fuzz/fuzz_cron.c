/* libFuzzer target for cron expressions and their next fire times. Byte 0 picks a zone (from
 * POSIX TZ strings, so no tzdata is needed), bytes 1-8 the instant to start from, the rest is
 * the expression. Besides memory errors and undefined behaviour it checks the contract: a
 * refusal gives an EINVAL error; a fire time lies strictly after its start, and either
 * matches the expression at a local minute's start or, for a fixed job, is the instant the
 * clocks jumped over a matching wall time. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "orch/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static const char *const zones[] = {
    "UTC0",
    "EST5EDT,M3.2.0,M11.1.0",
    "CET-1CEST,M3.5.0,M10.5.0/3",
    "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
    "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
    "EST5EDT,0/0,J365/25",
};

/* Whether a fire time at t is allowed by the DST rules when it does not match itself. */
static int at_gap_end(const cron_expr *c, const nc_tz *tz, int64_t t)
{
    int64_t s;
    int32_t off = tz_offset_span(tz, t, &s, NULL);
    int32_t before = tz_offset_span(tz, t - 1, NULL, NULL);
    return cron_is_fixed(c) && s == t && before < off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9)
        return 0;
    nc_tz *tz = NULL;
    if (tz_parse_posix(zones[data[0] % (sizeof(zones) / sizeof(zones[0]))], &tz, NULL) < 0)
        abort();
    int64_t t;
    memcpy(&t, data + 1, 8);
    /* Years 1970-2470: every start is valid, and the horizon stays in range. */
    t = (int64_t)((uint64_t)t % (UINT64_C(500) * 365 * 86400));
    char *text = malloc(size - 9 + 1);
    if (!text)
        abort();
    memcpy(text, data + 9, size - 9);
    text[size - 9] = '\0';
    cron_expr c;
    nc_error *err = NULL;
    if (cron_parse(text, &c, &err) < 0) {
        CHECK(err && err->code == EINVAL && err->msg);
        nc_error_free(err);
    } else {
        for (int i = 0; i < 4; i++) {
            int64_t next = -1;
            if (cron_next(&c, tz, t, &next, &err) < 0) {
                CHECK(err && err->code == ERANGE);
                nc_error_free(err);
                break;
            }
            CHECK(next > t);
            struct tm l;
            tz_to_local(tz, next, &l, NULL);
            CHECK((cron_matches(&c, &l) && l.tm_sec == 0) || at_gap_end(&c, tz, next));
            t = next;
        }
    }
    free(text);
    tz_free(tz);
    return 0;
}
