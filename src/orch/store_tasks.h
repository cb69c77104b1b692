/* Scheduled tasks and their runs in the store (NanoClaw's scheduled_tasks and task_run_logs).
 * The same rules as store.h: each function is one transaction, 0 or a negative errno with
 * *err; -ENOENT for an unknown task or group, -EEXIST for a task id in use. Times are wall
 * milliseconds; next_run_ms 0 means none. */
#ifndef NC_ORCH_STORE_TASKS_H
#define NC_ORCH_STORE_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "orch/store.h"

typedef struct store_task {
    char *id;
    char *group; /* folder */
    char *chat_jid;
    char *prompt;
    char *script;         /* NULL: none */
    char *schedule_type;  /* "cron", "interval", "once" */
    char *schedule_value; /* the expression, the interval in ms, the local time */
    char *context_mode;   /* "group", "isolated" */
    char *status;         /* "active", "paused", "completed" */
    int64_t next_run_ms;
    int64_t last_run_ms;
    char *last_result; /* NULL: never ran */
    char *created_by;  /* "cli", "ipc:<folder>", "api" */
    int64_t created_ms;
} store_task;

void store_task_release(store_task *t);
void store_tasks_free(store_task *v, size_t n);

/* Adds t (every field but last_*; status NULL: "active"). */
int store_task_add(store *s, const store_task *t, nc_error **err);
int store_task_get(store *s, const char *id, store_task *ret, nc_error **err);
/* Tasks of one group (NULL: all), ordered by group then id. */
int store_task_list(store *s, const char *folder, store_task **ret, size_t *n, nc_error **err);
/* Sets status and next_run_ms (next_run_ms < 0: unchanged). */
int store_task_set_status(store *s, const char *id, const char *status, int64_t next_run_ms,
                          nc_error **err);
/* Replaces prompt, script, schedule_type, schedule_value and next_run_ms of t->id. */
int store_task_update(store *s, const store_task *t, nc_error **err);
/* Removes the task and its runs. */
int store_task_remove(store *s, const char *id, nc_error **err);
/* Active tasks with 0 < next_run_ms <= now_ms, oldest due first. */
int store_task_due(store *s, int64_t now_ms, store_task **ret, size_t *n, nc_error **err);
/* The smallest next_run_ms > after_ms of the active tasks, 0 when none. */
int store_task_next_due(store *s, int64_t after_ms, int64_t *ret, nc_error **err);

typedef struct store_task_run {
    int64_t id;
    char *task_id;
    char *run_id;
    int64_t due_ms, run_ms, duration_ms;
    char *status; /* "success", "error" */
    char *result;
    char *error;
} store_task_run;

/* Records one run and, in the same transaction, the task's last_run_ms (= run->run_ms),
 * last_result (the error, or the result's first 200 bytes, or "Completed") and next_run_ms;
 * next_run_ms 0 marks the task completed. The task may be gone (removed while it ran): then
 * nothing is recorded and 0 is returned. */
int store_task_run_add(store *s, const store_task_run *run, int64_t next_run_ms, nc_error **err);
/* The task's runs, newest first, at most limit (0: all). */
int store_task_runs(store *s, const char *id, size_t limit, store_task_run **ret, size_t *n,
                    nc_error **err);
void store_task_runs_free(store_task_run *v, size_t n);

#endif
