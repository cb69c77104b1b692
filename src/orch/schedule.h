/* When scheduled tasks are due: the next-run rules of the three task types of NanoClaw v1.
 *
 *   cron      a cron expression (orch/cron.h), read in the daemon's one zone;
 *   interval  every N milliseconds, anchored to the scheduled times (no drift): runs are due at
 *             created + k * N whatever the runs' durations;
 *   once      one local wall time, read in the same zone as cron (so "09:00" means the same for
 *             both; NanoClaw issues #386, #483, #517), then never again.
 *
 * The missed-run rule: a task whose due times passed while the daemon was down (or busy) runs
 * once, as soon as it can, not once per missed period. sched_next_ms() returns the LATEST due
 * time that has passed in that case; the caller runs the task and records that time as the
 * task's last due time, so the next due time lies in the future again.
 *
 * Times here are milliseconds since the epoch (UTC), as the store keeps them. */
#ifndef NC_ORCH_SCHEDULE_H
#define NC_ORCH_SCHEDULE_H

#include <stdint.h>

#include "orch/cron.h"
#include "util/error.h"
#include "util/tz.h"
#include "util/units.h"

/* The longest interval accepted: 30 days, as for every duration (util/units.h). Longer
 * periods are what cron is for. */
#define SCHED_INTERVAL_MAX_MS ((int64_t)DURATION_MAX_MS)

enum sched_kind { SCHED_CRON, SCHED_INTERVAL, SCHED_ONCE };

/* Only the member of the kind is meaningful. */
typedef struct sched {
    enum sched_kind kind;
    cron_expr cron;
    int64_t interval_ms;
    int64_t once_ms;
} sched;

/* "cron", "interval", "once" (NanoClaw's schedule_type values) and back; an unknown name is
 * EINVAL quoting it. */
int sched_kind_parse(const char *name, enum sched_kind *out, nc_error **err);
const char *sched_kind_name(enum sched_kind kind);

/* Parses a task's schedule value:
 *   SCHED_CRON      a cron expression;
 *   SCHED_INTERVAL  milliseconds as digits ("300000", NanoClaw's form), or a duration with a
 *                   unit ("5m", "1.5h", "30s", util/units.h); more than 0 and at most
 *                   SCHED_INTERVAL_MAX_MS;
 *   SCHED_ONCE      "YYYY-MM-DDTHH:MM[:SS[.fff]]" ('T' or a space), a local wall time read in tz
 *                   (NULL is UTC): in a DST gap it moves forward by the gap ("02:30" -> 03:30
 *                   new time), in an overlap it is the first occurrence (util/tz.h). A time that
 *                   carries its own zone ("Z", "+01:00") is that instant. A time in the past is
 *                   accepted (it is due at once).
 * *out is untouched on failure; errors are EINVAL and quote the value. */
int sched_parse(enum sched_kind kind, const char *value, const nc_tz *tz, sched *out,
                nc_error **err);

/* The next due time in ms, or -1 when there is none (a once task that ran; a cron expression
 * with no fire time within its horizon).
 *   last_due_ms  the due time of the last run (the value this function returned for it), 0 when
 *                the task never ran;
 *   created_ms   when the task was made: the anchor of an interval task's first run, and the
 *                instant after which a cron task's first run falls;
 *   now_ms       the current time.
 * A result <= now_ms means the task is due now. Per the missed-run rule it is then the latest
 * due time <= now_ms, so that after the caller records it as last_due_ms the next result is in
 * the future. once: once_ms until it ran, then -1. tz (NULL is UTC) must be the zone cron was
 * parsed for. */
int64_t sched_next_ms(const sched *s, const nc_tz *tz, int64_t last_due_ms, int64_t created_ms,
                      int64_t now_ms);

#endif
