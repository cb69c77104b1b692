/* IANA time zones, read from the TZif files of /usr/share/zoneinfo (RFC 8536, versions 1 to 4),
 * with the POSIX TZ string of the footer for instants after the last transition.
 *
 * Nothing here touches the process's time zone: no TZ, tzset(), localtime_r() or mktime(). An
 * nc_tz is immutable once loaded, so any number of threads may use one at once.
 *
 * Instants are UTC seconds since the epoch; offsets are seconds east of UTC. Conversions are
 * defined for TZ_TIME_MIN..TZ_TIME_MAX (years 1 to 9999) and clamp instants outside it. */
#ifndef NC_UTIL_TZ_H
#define NC_UTIL_TZ_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/error.h"

#define TZ_ZONEINFO_DIR "/usr/share/zoneinfo"
/* The largest TZif file read (real ones are under 4 KiB). */
#define TZ_MAX_FILE_SIZE (256 * 1024)
/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
#define TZ_TIME_MIN INT64_C(-62135596800)
#define TZ_TIME_MAX INT64_C(253402300799)

typedef struct nc_tz nc_tz;

/* Loads the zone `name` ("Europe/Berlin", "UTC") from TZ_ZONEINFO_DIR.
 *
 * NULL or "" is the host's zone: the TZ environment variable when set (a zone name, optionally
 * after ':', a path inside TZ_ZONEINFO_DIR, or a POSIX TZ string such as "EST5EDT,M3.2.0,M11.1.0"),
 * else /etc/localtime (named after its link into the zoneinfo dir, or /etc/timezone), else UTC.
 *
 * A name is letters, digits and "._+-" in '/'-separated components; "..", ".", empty components
 * and absolute paths outside TZ_ZONEINFO_DIR are refused (EINVAL) before any file is opened, so a
 * name from configuration cannot read other files. An unknown zone is ENOENT; a file that is not
 * valid TZif is EINVAL ("time zone 'x': ..."); leap-second ("right/") zones are refused (a
 * scheduler wants civil time). "UTC" works without tzdata installed. */
int tz_load(const char *name, nc_tz **out, nc_error **err);
/* Parses a TZif image of len bytes (the loader's and the fuzz target's entry). name is copied
 * and is what tz_name() returns. */
int tz_parse(const char *name, const void *data, size_t len, nc_tz **out, nc_error **err);
/* A zone from a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3", "<+0330>-3:30", "UTC0"), with the
 * RFC 8536 extensions (hours -167..167 in rule times). A std-and-dst string without rules uses
 * the US rules "M3.2.0,M11.1.0", as glibc does. tz_name() is the string itself. */
int tz_parse_posix(const char *spec, nc_tz **out, nc_error **err);
void tz_free(nc_tz *tz);
NC_DEFINE_CLEANUP(nc_tz *, tz_free)
#define _cleanup_tz_ _cleanup_(tz_freep)

/* A built-in UTC zone, shared and never freed (tz_free must not be called on it). */
const nc_tz *tz_utc(void);

/* The name it was loaded as: "America/New_York", or for the host zone the resolved name
 * ("Europe/Berlin" when /etc/localtime links there; "UTC" when nothing is configured). */
const char *tz_name(const nc_tz *tz);

/* UTC seconds -> local broken-down time (all fields set: tm_wday, tm_yday, tm_isdst, tm_gmtoff,
 * and tm_zone pointing into tz, valid while tz lives) and the UTC offset in seconds (offset may
 * be NULL). */
void tz_to_local(const nc_tz *tz, int64_t utc, struct tm *local, int32_t *offset);

/* Flags of tz_from_local. */
#define TZ_LOCAL_GAP 1       /* the wall time does not exist: clocks jumped over it */
#define TZ_LOCAL_AMBIGUOUS 2 /* the wall time happened twice: clocks were set back over it */

/* Local wall time -> UTC seconds. Only tm_year, tm_mon, tm_mday, tm_hour, tm_min and tm_sec are
 * read (tm_isdst, tm_wday, tm_yday are ignored); out-of-range fields are normalised as mktime
 * does (tm_mday 32 is the next month's first). flags (may be NULL) receives 0 or one of:
 *   TZ_LOCAL_AMBIGUOUS: an overlap (02:30 twice when clocks go back at 03:00). The earlier
 *     instant is returned: the first time the wall clock shows it.
 *   TZ_LOCAL_GAP: a gap (02:30 when clocks jump from 02:00 to 03:00). The wall time is read with
 *     the offset in effect before the gap, so the result lies after the jump by as much as the
 *     time was into the gap: 02:30 -> 03:30 new time (what mktime, Java and Python do).
 * The returned instant is never inside a gap, so tz_to_local() of it is the wall time asked for
 * unless TZ_LOCAL_GAP is set. */
int64_t tz_from_local(const nc_tz *tz, const struct tm *local, int *flags);

/* The offset in effect at utc and the span [*start, *end) around utc in which the zone has no
 * transition (a transition may keep the offset and change only the abbreviation or isdst). An
 * unbounded side is TZ_TIME_MIN or TZ_TIME_MAX + 1. start and end may be NULL. Cron walks time
 * span by span with this. */
int32_t tz_offset_span(const nc_tz *tz, int64_t utc, int64_t *start, int64_t *end);

/* "2026-03-08T03:00:00-04:00": utc as local ISO 8601 time with its offset ("+05:30", "+00:19:32"
 * for an offset with seconds, "+00:00" for UTC). Allocated. */
char *tz_format(const nc_tz *tz, int64_t utc);

/* Proleptic Gregorian calendar helpers, shared with cron and schedule. Days are counted from
 * 1970-01-01; month is 1-12. */
int64_t tz_days_from_civil(int64_t year, unsigned month, unsigned day);
void tz_civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day);
unsigned tz_days_in_month(int64_t year, unsigned month);

#endif
