/* Cron expressions: the five fields of crontab(5), evaluated in one IANA time zone.
 *
 * Syntax, per field (minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, day-of-week 0-7):
 * '*', a number, a range "a-b", a step '*'/n, "a-b/n" or "a/n" (from a to the field's end),
 * and comma-separated lists of these. Months and weekdays also take English names of three
 * letters in any case (jan-dec, sun-sat), in ranges too ("mon-fri"); 7 is sunday like 0. The
 * macros @yearly (@annually), @monthly, @weekly, @daily (@midnight) and @hourly stand for their
 * five fields; @reboot, seconds fields, and the non-standard L, W, # and ? are refused.
 *
 * Day-of-month and day-of-week follow Vixie cron: when both fields are restricted (neither
 * begins with '*'), a day matches when EITHER matches ("0 0 1 * mon": the 1st and every
 * monday); when either begins with '*' (including '*'/2), both must match.
 *
 * Daylight saving time, as cronie (Vixie cron with ISC's DST handling) does. A job is "fixed"
 * when neither its minute nor its hour field begins with '*' ("30 2 * * *"), else "wildcard"
 * ('*'/15 in the minute field, "0 * * * *").
 *   Gap (clocks jump forward, 02:00 -> 03:00): a fixed job whose time falls in the skipped wall
 *     time runs once at the instant of the jump (03:00 new time), even when several of its
 *     times were skipped; a wildcard job just has no runs in the skipped wall time.
 *   Overlap (clocks go back, 02:00 -> 01:00): a fixed job runs once, at the first occurrence
 *     of its wall time; a wildcard job runs at every matching instant, in both passes (a
 *     '*'/15 job keeps running every 15 real minutes).
 * cronie applies this only to changes under 3 hours; here it applies to every change, so the
 * fixed jobs of a skipped day (Pacific/Apia, 30 December 2011) run once at the jump.
 * Jobs fire at the start of a local minute (local seconds 0). */
#ifndef NC_ORCH_CRON_H
#define NC_ORCH_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "util/tz.h"

/* The longest expression accepted, in bytes. */
#define CRON_MAX_LEN 256
/* How far cron_next looks ahead: 8 years covers 29 February across 2100, which is no leap
 * year. */
#define CRON_HORIZON_YEARS 8

#define CRON_MIN_STAR 1  /* the minute field begins with '*' */
#define CRON_HOUR_STAR 2 /* the hour field begins with '*' */
#define CRON_DOM_STAR 4  /* the day-of-month field begins with '*' */
#define CRON_DOW_STAR 8  /* the day-of-week field begins with '*' */

/* A parsed expression: bit n set when value n matches. A plain value, copyable. */
typedef struct cron_expr {
    uint64_t minutes; /* bits 0-59 */
    uint32_t hours;   /* bits 0-23 */
    uint32_t days;    /* bits 1-31 (day of month) */
    uint16_t months;  /* bits 1-12 */
    uint8_t weekdays; /* bits 0-6, 0 = sunday (7 is folded into 0) */
    uint8_t flags;    /* CRON_*_STAR */
} cron_expr;

/* Parses text into *out (untouched on failure). Errors are EINVAL and quote the expression and
 * the field: "invalid cron expression '61 * * * *': minute '61': 61 is out of range 0-59". An
 * expression that can never fire ("0 0 30 2 *") is refused at parse time. */
int cron_parse(const char *text, cron_expr *out, nc_error **err);

/* Whether the expression matches a local wall time given as broken-down fields (tm_min,
 * tm_hour, tm_mday, tm_mon, tm_wday; no time zone involved). */
bool cron_matches(const cron_expr *c, const struct tm *local);

/* A fixed job (neither minute nor hour begins with '*'): see the DST rules above. */
bool cron_is_fixed(const cron_expr *c);

/* The first fire time strictly after `after` (UTC seconds), the expression read in tz (NULL is
 * UTC), with the DST rules above. 0 and *next on success; -ERANGE when there is none within
 * CRON_HORIZON_YEARS (e.g. 29 February on a sunday, "0 12 29 2 '*'/7" with the AND rule: 2032,
 * then 2060) or after is outside TZ_TIME_MIN..TZ_TIME_MAX. */
int cron_next(const cron_expr *c, const nc_tz *tz, int64_t after, int64_t *next, nc_error **err);

#endif
