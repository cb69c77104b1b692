/* Scheduled tasks and their runs (see store_tasks.h). */
#include "orch/store_tasks.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "orch/store_internal.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define TASK_COLS                                                                                  \
    "t.id, g.folder, t.chat_jid, t.prompt, t.script, t.schedule_type, t.schedule_value,"           \
    " t.context_mode, t.status, t.next_run_ms, t.last_run_ms, t.last_result, t.created_by,"        \
    " t.created_ms"
#define TASK_FROM " FROM tasks t JOIN groups g ON g.id = t.group_id"

void store_task_release(store_task *t)
{
    if (!t)
        return;
    free(t->id);
    free(t->group);
    free(t->chat_jid);
    free(t->prompt);
    free(t->script);
    free(t->schedule_type);
    free(t->schedule_value);
    free(t->context_mode);
    free(t->status);
    free(t->last_result);
    free(t->created_by);
    *t = (store_task){0};
}

void store_tasks_free(store_task *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_task_release(&v[i]);
    free(v);
}

static void read_task(sqlite3_stmt *st, store_task *t)
{
    *t = (store_task){
        .id = store_col_text0(st, 0),
        .group = store_col_text0(st, 1),
        .chat_jid = store_col_text0(st, 2),
        .prompt = store_col_text0(st, 3),
        .script = store_col_text(st, 4),
        .schedule_type = store_col_text0(st, 5),
        .schedule_value = store_col_text0(st, 6),
        .context_mode = store_col_text0(st, 7),
        .status = store_col_text0(st, 8),
        .next_run_ms = sqlite3_column_int64(st, 9),
        .last_run_ms = sqlite3_column_int64(st, 10),
        .last_result = store_col_text(st, 11),
        .created_by = store_col_text0(st, 12),
        .created_ms = sqlite3_column_int64(st, 13),
    };
}

static int collect(store *s, sqlite3_stmt *st, store_task **ret, size_t *n, nc_error **err)
{
    int r;
    while ((r = store_step(s, st, err, "list tasks")) == 1) {
        *ret = xreallocarray(*ret, *n + 1, sizeof(**ret));
        read_task(st, &(*ret)[(*n)++]);
    }
    return r;
}

/* Ends a read that built a list: hands it on after the commit, frees it after a failure. */
static int end_list(store *s, int r, store_task *v, size_t len, store_task **ret, size_t *n,
                    nc_error **err)
{
    r = store_tx_end(s, r, err);
    if (r < 0) {
        store_tasks_free(v, len);
        return r;
    }
    *ret = v;
    *n = len;
    return 0;
}

static int task_add(store *s, const store_task *t, nc_error **err)
{
    int64_t gid;
    int r = store_group_id(s, t->group, &gid, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "INSERT INTO tasks (id, group_id, chat_jid, prompt, script, schedule_type,"
                      " schedule_value, context_mode, status, next_run_ms, created_by, created_ms)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, t->id) || store_bind_int(st, 2, gid) ||
        store_bind_text(st, 3, t->chat_jid) || store_bind_text(st, 4, t->prompt) ||
        store_bind_text(st, 5, t->script) || store_bind_text(st, 6, t->schedule_type) ||
        store_bind_text(st, 7, t->schedule_value) ||
        store_bind_text(st, 8, t->context_mode ? t->context_mode : "isolated") ||
        store_bind_text(st, 9, t->status ? t->status : "active") ||
        store_bind_int(st, 10, t->next_run_ms) ||
        store_bind_text(st, 11, t->created_by ? t->created_by : "") ||
        store_bind_int(st, 12, t->created_ms ? t->created_ms : (int64_t)wall_ms()))
        return store_fail(s, err, "add task '%s'", t->id);
    r = store_step(s, st, err, "add task '%s'", t->id);
    if (r < 0 && r == -EEXIST) {
        nc_error_free(*err);
        *err = NULL;
        return nc_error_set(err, EEXIST, "task '%s' exists already", t->id);
    }
    return r < 0 ? r : 0;
}

int store_task_add(store *s, const store_task *t, nc_error **err)
{
    if (!t->id || !*t->id || !t->chat_jid || !*t->chat_jid || !t->prompt || !t->schedule_type ||
        !t->schedule_value)
        return nc_error_set(err, EINVAL, "add task: a field is missing");
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, task_add(s, t, err), err);
}

static int task_get(store *s, const char *id, store_task *ret, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT " TASK_COLS TASK_FROM " WHERE t.id = ?1", &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, id))
        return store_fail(s, err, "read task '%s'", id);
    if ((r = store_step(s, st, err, "read task '%s'", id)) < 0)
        return r;
    if (r == 0)
        return nc_error_set(err, ENOENT, "no task '%s'", id);
    read_task(st, ret);
    return 0;
}

int store_task_get(store *s, const char *id, store_task *ret, nc_error **err)
{
    store_task t = {0};
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    r = store_tx_end(s, task_get(s, id, &t, err), err);
    if (r < 0) {
        store_task_release(&t);
        return r;
    }
    *ret = t;
    return 0;
}

int store_task_list(store *s, const char *folder, store_task **ret, size_t *n, nc_error **err)
{
    store_task *v = NULL;
    size_t len = 0;
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "SELECT " TASK_COLS TASK_FROM " WHERE ?1 IS NULL OR g.folder = ?1"
                      " ORDER BY g.folder, t.created_ms, t.id",
                      &st, err);
    if (r >= 0 && store_bind_text(st, 1, folder))
        r = store_fail(s, err, "list tasks");
    if (r >= 0)
        r = collect(s, st, &v, &len, err);
    sqlite3_finalize(TAKE_PTR(st));
    return end_list(s, r, v, len, ret, n, err);
}

/* Runs a constant UPDATE of task ?1; -ENOENT when no row changed. */
static int update_one(store *s, sqlite3_stmt *st, const char *id, nc_error **err)
{
    int r = store_step(s, st, err, "update task '%s'", id);
    if (r < 0)
        return r;
    if (sqlite3_changes(s->db) == 0)
        return nc_error_set(err, ENOENT, "no task '%s'", id);
    return 0;
}

static int set_status(store *s, const char *id, const char *status, int64_t next, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "UPDATE tasks SET status = ?2, next_run_ms = CASE WHEN ?3 < 0 THEN"
                          " next_run_ms ELSE ?3 END WHERE id = ?1",
                          &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, id) || store_bind_text(st, 2, status) || store_bind_int(st, 3, next))
        return store_fail(s, err, "update task '%s'", id);
    return update_one(s, st, id, err);
}

int store_task_set_status(store *s, const char *id, const char *status, int64_t next_run_ms,
                          nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, set_status(s, id, status, next_run_ms, err), err);
}

static int task_update(store *s, const store_task *t, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "UPDATE tasks SET prompt = ?2, script = ?3, schedule_type = ?4,"
                          " schedule_value = ?5, next_run_ms = ?6 WHERE id = ?1",
                          &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, t->id) || store_bind_text(st, 2, t->prompt) ||
        store_bind_text(st, 3, t->script) || store_bind_text(st, 4, t->schedule_type) ||
        store_bind_text(st, 5, t->schedule_value) || store_bind_int(st, 6, t->next_run_ms))
        return store_fail(s, err, "update task '%s'", t->id);
    return update_one(s, st, t->id, err);
}

int store_task_update(store *s, const store_task *t, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, task_update(s, t, err), err);
}

static int task_remove(store *s, const char *id, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "DELETE FROM tasks WHERE id = ?1", &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, id))
        return store_fail(s, err, "remove task '%s'", id);
    return update_one(s, st, id, err);
}

int store_task_remove(store *s, const char *id, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, task_remove(s, id, err), err);
}

int store_task_due(store *s, int64_t now_ms, store_task **ret, size_t *n, nc_error **err)
{
    store_task *v = NULL;
    size_t len = 0;
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "SELECT " TASK_COLS TASK_FROM " WHERE t.status = 'active' AND"
                      " t.next_run_ms > 0 AND t.next_run_ms <= ?1 ORDER BY t.next_run_ms, t.id",
                      &st, err);
    if (r >= 0 && store_bind_int(st, 1, now_ms))
        r = store_fail(s, err, "list due tasks");
    if (r >= 0)
        r = collect(s, st, &v, &len, err);
    sqlite3_finalize(TAKE_PTR(st));
    return end_list(s, r, v, len, ret, n, err);
}

static int next_due(store *s, int64_t after, int64_t *ret, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "SELECT coalesce(min(next_run_ms), 0) FROM tasks WHERE status = 'active'"
                          " AND next_run_ms > ?1",
                          &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, after > 0 ? after : 0))
        return store_fail(s, err, "find the next due task");
    if ((r = store_step(s, st, err, "find the next due task")) < 0)
        return r;
    *ret = r ? sqlite3_column_int64(st, 0) : 0;
    return 0;
}

int store_task_next_due(store *s, int64_t after_ms, int64_t *ret, nc_error **err)
{
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    return store_tx_end(s, next_due(s, after_ms, ret, err), err);
}

static int run_add(store *s, const store_task_run *run, int64_t next, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *ex = NULL;
    int r = store_prepare(s, "SELECT 1 FROM tasks WHERE id = ?1", &ex, err);
    if (r < 0)
        return r;
    if (store_bind_text(ex, 1, run->task_id))
        return store_fail(s, err, "record a run of task '%s'", run->task_id);
    if ((r = store_step(s, ex, err, "record a run of task '%s'", run->task_id)) <= 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "INSERT INTO task_runs (task_id, run_id, due_ms, run_ms, duration_ms, status,"
                      " result, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, run->task_id) || store_bind_text(st, 2, run->run_id) ||
        store_bind_int(st, 3, run->due_ms) || store_bind_int(st, 4, run->run_ms) ||
        store_bind_int(st, 5, run->duration_ms) || store_bind_text(st, 6, run->status) ||
        store_bind_text(st, 7, run->result) || store_bind_text(st, 8, run->error))
        return store_fail(s, err, "record a run of task '%s'", run->task_id);
    if ((r = store_step(s, st, err, "record a run of task '%s'", run->task_id)) < 0)
        return r;
    /* NanoClaw's last_result: "Error: ...", the result's first 200 bytes, or "Completed". */
    _cleanup_free_ char *last = run->error    ? xasprintf("Error: %s", run->error)
                                : run->result ? xstrndup(run->result, 200)
                                              : xstrdup("Completed");
    _cleanup_stmt_ sqlite3_stmt *up = NULL;
    r = store_prepare(s,
                      "UPDATE tasks SET last_run_ms = ?2, last_result = ?3, next_run_ms = ?4,"
                      " status = CASE WHEN ?4 = 0 THEN 'completed' ELSE status END WHERE id = ?1",
                      &up, err);
    if (r < 0)
        return r;
    if (store_bind_text(up, 1, run->task_id) || store_bind_int(up, 2, run->run_ms) ||
        store_bind_text(up, 3, last) || store_bind_int(up, 4, next))
        return store_fail(s, err, "update task '%s'", run->task_id);
    return update_one(s, up, run->task_id, err);
}

int store_task_run_add(store *s, const store_task_run *run, int64_t next_run_ms, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, run_add(s, run, next_run_ms, err), err);
}

void store_task_runs_free(store_task_run *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].task_id);
        free(v[i].run_id);
        free(v[i].status);
        free(v[i].result);
        free(v[i].error);
    }
    free(v);
}

int store_task_runs(store *s, const char *id, size_t limit, store_task_run **ret, size_t *n,
                    nc_error **err)
{
    store_task_run *v = NULL;
    size_t len = 0;
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "SELECT id, task_id, run_id, due_ms, run_ms, duration_ms, status, result,"
                      " error FROM task_runs WHERE task_id = ?1 ORDER BY id DESC LIMIT ?2",
                      &st, err);
    if (r >= 0 && (store_bind_text(st, 1, id) || store_bind_int(st, 2, store_limit(limit))))
        r = store_fail(s, err, "list runs of task '%s'", id);
    while (r >= 0 && (r = store_step(s, st, err, "list runs of task '%s'", id)) == 1) {
        v = xreallocarray(v, len + 1, sizeof(*v));
        v[len++] = (store_task_run){
            .id = sqlite3_column_int64(st, 0),
            .task_id = store_col_text0(st, 1),
            .run_id = store_col_text(st, 2),
            .due_ms = sqlite3_column_int64(st, 3),
            .run_ms = sqlite3_column_int64(st, 4),
            .duration_ms = sqlite3_column_int64(st, 5),
            .status = store_col_text0(st, 6),
            .result = store_col_text(st, 7),
            .error = store_col_text(st, 8),
        };
    }
    sqlite3_finalize(TAKE_PTR(st));
    r = store_tx_end(s, r, err);
    if (r < 0) {
        store_task_runs_free(v, len);
        return r;
    }
    *ret = v;
    *n = len;
    return 0;
}
