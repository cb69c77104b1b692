/* The scheduler: scheduled tasks (NanoClaw v1 §5) in the daemon.
 *
 * Tasks live in the store (store_tasks.h). The dispatcher sleeps until the next due task (the
 * earliest next_run_ms folds into its poll timeout), then each due task joins its group's queue
 * (queue_add_task: before the group's messages) once; when a slot is free it runs as a turn of
 * its own with the task's prompt, isScheduledTask and its script, in the group's session
 * (context "group") or a fresh one ("isolated"). Its results go to the task's chat through the
 * outbox, like replies. Its container is closed 10 s after its first result. The run is logged
 * in task_runs, and the next run computed: cron in orch.timezone, an interval anchored to the
 * time it was due (no drift), once never again. A run missed while the daemon was down fires
 * once at start, not once per missed period.
 *
 * The functions below run on the dispatcher's thread unless said otherwise. */
#ifndef NC_ORCH_SCHEDULER_H
#define NC_ORCH_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "util/error.h"

typedef struct scheduler scheduler;
struct nc_daemon;
struct slot;

/* Loads orch.timezone ("" : the host's zone). */
int scheduler_new(const nc_config *cfg, scheduler **ret, nc_error **err);
void scheduler_free(scheduler *s);
/* The zone's name ("Europe/Paris"). */
const char *scheduler_zone(const scheduler *s);

/* Checks a schedule and gives its first run after now_ms (wall): cron in the zone, an interval
 * (ms, > 0) from now, a once time ("YYYY-MM-DDTHH:MM:SS", local to the zone). -EINVAL with a
 * message for a bad one. Any thread. */
int scheduler_first_run(const scheduler *s, const char *type, const char *value, int64_t now_ms,
                        int64_t *next_ms, nc_error **err);
/* The run after one that was due at due_ms and ran at now_ms: 0 for once; cron: the first
 * occurrence after now; interval: due + k*interval, the first after now. Any thread. */
int scheduler_after_run(const scheduler *s, const char *type, const char *value, int64_t due_ms,
                        int64_t now_ms, int64_t *next_ms, nc_error **err);
/* Formats a wall time in the zone: "2026-03-01 09:00:00 +0100". Allocated. Any thread. */
char *scheduler_format(const scheduler *s, int64_t ms);

/* ---- the daemon's side ---- */

/* Queues every due task that is not queued or running yet. Returns the ms until the next due
 * task or a task container's close, -1 when none. */
int scheduler_tick(struct nc_daemon *d);
/* The queue chose a task turn for group: starts it (or settles the queue if none is due). */
void scheduler_start_turn(struct nc_daemon *d, const char *group, const nc_config *cfg,
                          uint64_t now);
/* A task turn's thread ended: logs the run and sets the next. Called from daemon_turn_finish. */
void scheduler_turn_finished(struct nc_daemon *d, struct slot *s);
/* A task turn's result came (turn thread): its container closes 10 s later; results are kept
 * for the run's log. */
void scheduler_on_result(struct slot *s, const char *result, const char *error);
/* Tasks changed (added, paused, removed): the dispatcher looks again. Any thread. */
void scheduler_changed(struct nc_daemon *d);
void scheduler_slot_free(struct slot *s);
/* The task's pre-check script, or NULL. */
const char *scheduler_task_script(const struct slot *s);
/* Whether the task runs in a session of its own (context "isolated"). */
bool scheduler_task_isolated(const struct slot *s);

#endif
