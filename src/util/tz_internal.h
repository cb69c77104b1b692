/* Internals of util/tz shared by its two files: tz.c (TZif files, lookups, loading) and
 * tz_posix.c (POSIX TZ strings, the rules of a TZif footer). Not for other modules. */
#ifndef NC_UTIL_TZ_INTERNAL_H
#define NC_UTIL_TZ_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* The longest POSIX TZ string accepted (real ones are under 60 bytes). */
#define POSIX_MAX_LEN 255

/* A date rule of a POSIX TZ string, and the local time of day of the change. */
struct tz_rule {
    char kind;    /* 'J': day 1-365, no 29 February; 'D': day 0-365; 'M': month.week.weekday */
    int day;      /* J, D: the day; M: the weekday 0-6 */
    int week;     /* M: 1-5, 5 = the last */
    int month;    /* M: 1-12 */
    int32_t time; /* seconds after local midnight, -167 h..167 h */
};

struct tz_posix {
    char *std_name, *dst_name;
    int32_t std_off, dst_off; /* seconds east of UTC */
    bool has_dst;
    struct tz_rule start, end; /* start: in standard time; end: in daylight time */
};

/* Parses spec into *px; false (and nothing allocated) when it is not a valid TZ string. */
bool posix_parse(const char *spec, struct tz_posix *px);
void posix_release(struct tz_posix *px);
/* Whether DST is on at utc under the rules, and the changes before (at or before utc) and
 * after it: *prev is TZ_TIME_MIN and *next TZ_TIME_MAX + 1 when there are none. */
bool posix_at(const struct tz_posix *px, int64_t utc, int64_t *prev, int64_t *next);

static inline int64_t tz_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static inline bool tz_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

#endif
