/* The scheduler in the daemon (see scheduler.h). The time rules are orch/schedule.c's; this
 * file queues due tasks, runs them as turns, and logs their runs. */
#include "orch/scheduler.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/workspace.h"
#include "orch/daemon_internal.h"
#include "orch/schedule.h"
#include "orch/store_tasks.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/tz.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* A task's container is closed this long after its first result (NanoClaw's
 * TASK_CLOSE_DELAY_MS). */
#define TASK_CLOSE_DELAY_MS 10000
/* Each turn thread's stack, as daemon.c's. */
#define TASK_STACK_SIZE (2u * 1024 * 1024)

struct queued {
    char *group;
    char *id;
    bool running;
};

struct scheduler {
    nc_tz *tz;
    struct queued *q; /* (daemon lock) tasks queued or running, oldest first */
    size_t nq;
    /* The store is asked for due tasks only when tasks changed (dirty: any thread) or the next
     * due time came (next_due, wall ms, 0: none; the dispatcher's). */
    atomic_bool dirty;
    int64_t next_due;
};

/* A task turn's own state (struct slot's task). */
struct task_slot {
    char *id;
    char *script;
    int64_t due_ms;
    int64_t started_ms; /* wall */
    bool isolated;
    char *result;      /* the first result (turn thread until done) */
    char *error;       /* the last error */
    uint64_t close_at; /* (lock) mono ms at which _close is written; 0: none yet */
};

int scheduler_new(const nc_config *cfg, scheduler **ret, nc_error **err)
{
    scheduler *s = xnew0(scheduler);
    atomic_store(&s->dirty, true);
    int r = tz_load(cfg->orch_timezone, &s->tz, err);
    if (r < 0) {
        free(s);
        return nc_error_wrap(err, "orch.timezone");
    }
    *ret = s;
    return 0;
}

void scheduler_free(scheduler *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nq; i++) {
        free(s->q[i].group);
        free(s->q[i].id);
    }
    free(s->q);
    tz_free(s->tz);
    free(s);
}

const char *scheduler_zone(const scheduler *s)
{
    return tz_name(s->tz);
}

static int parse(const scheduler *s, const char *type, const char *value, sched *out,
                 nc_error **err)
{
    enum sched_kind kind;
    int r = sched_kind_parse(type ? type : "", &kind, err);
    if (r < 0)
        return r;
    return sched_parse(kind, value ? value : "", s->tz, out, err);
}

int scheduler_first_run(const scheduler *s, const char *type, const char *value, int64_t now_ms,
                        int64_t *next_ms, nc_error **err)
{
    sched sc;
    int r = parse(s, type, value, &sc, err);
    if (r < 0)
        return r;
    int64_t next = sched_next_ms(&sc, s->tz, 0, now_ms, now_ms);
    if (next < 0)
        return nc_error_set(err, EINVAL, "schedule %s '%s' never fires", type, value);
    *next_ms = next ? next : 1;
    return 0;
}

int scheduler_after_run(const scheduler *s, const char *type, const char *value, int64_t due_ms,
                        int64_t now_ms, int64_t *next_ms, nc_error **err)
{
    sched sc;
    int r = parse(s, type, value, &sc, err);
    if (r < 0)
        return r;
    /* An interval is anchored to its due times: due + k * interval (created = due). */
    int64_t next = sched_next_ms(&sc, s->tz, due_ms, due_ms, now_ms);
    if (next > 0 && next <= now_ms && sc.kind != SCHED_ONCE) {
        /* Due again already (the run outlasted a period): the latest missed time runs once,
         * next; never a burst of missed runs. */
        next = sched_next_ms(&sc, s->tz, next, due_ms, now_ms);
    }
    *next_ms = next < 0 ? 0 : next;
    return 0;
}

char *scheduler_format(const scheduler *s, int64_t ms)
{
    return tz_format(s->tz, ms / 1000);
}

/* ---- the daemon's side ---- */

static struct queued *find_locked(scheduler *s, const char *id)
{
    for (size_t i = 0; i < s->nq; i++)
        if (strcmp(s->q[i].id, id) == 0)
            return &s->q[i];
    return NULL;
}

static void unqueue_locked(scheduler *s, const char *id)
{
    for (size_t i = 0; i < s->nq; i++)
        if (strcmp(s->q[i].id, id) == 0) {
            free(s->q[i].group);
            free(s->q[i].id);
            memmove(s->q + i, s->q + i + 1, (s->nq - i - 1) * sizeof(*s->q));
            s->nq--;
            return;
        }
}

void scheduler_changed(nc_daemon *d)
{
    if (d->sched)
        atomic_store(&d->sched->dirty, true);
    daemon_wake(d);
}

/* Writes _close into the group's ipc/input: its agent finishes. */
static void send_close(const char *data_dir, const char *group, const char *why)
{
    _cleanup_free_ char *ipc = xasprintf("%s/groups/%s/ipc", data_dir, group);
    workspace ws = {.ipc = ipc};
    _cleanup_error_ nc_error *err = NULL;
    if (workspace_send_close(&ws, &err) < 0)
        log_warn("group %s: could not close the agent: %s", group, nc_error_msg(err));
    else
        log_info("group %s: agent closed (%s)", group, why);
}

/* Writes _close for task turns whose result came TASK_CLOSE_DELAY_MS ago; returns the ms until
 * the next such close, -1 when none. */
static int close_due(nc_daemon *d)
{
    uint64_t now = mono_ms();
    int next = -1;
    char **groups = NULL;
    pthread_mutex_lock(&d->lock);
    const char *data_dir = d->cfg->cfg->data_dir;
    _cleanup_free_ char *dd = xstrdup(data_dir);
    for (struct slot *s = d->slots; s; s = s->next) {
        if (!s->task || !s->task->close_at || s->close_sent || s->done)
            continue;
        if (s->task->close_at <= now) {
            s->close_sent = true;
            strv_push(&groups, s->group);
        } else {
            uint64_t in = s->task->close_at - now;
            if (next < 0 || in < (uint64_t)next)
                next = (int)in;
        }
    }
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; groups && groups[i]; i++)
        send_close(dd, groups[i], "10 s after the task's result");
    strv_free(groups);
    return next;
}

/* Queues the due tasks not queued yet; returns 0 or a negative errno (logged). */
static int queue_due(nc_daemon *d, int64_t now)
{
    store_task *v = NULL;
    size_t n = 0;
    _cleanup_error_ nc_error *err = NULL;
    if (store_task_due(d->st, now, &v, &n, &err) < 0) {
        log_error("scheduler: %s", nc_error_msg(err));
        return -EIO;
    }
    bool added = false;
    char **close = NULL;
    pthread_mutex_lock(&d->lock);
    _cleanup_free_ char *data_dir = xstrdup(d->cfg->cfg->data_dir);
    for (size_t i = 0; i < n && !d->stopping; i++) {
        scheduler *s = d->sched;
        if (find_locked(s, v[i].id))
            continue;
        s->q = xreallocarray(s->q, s->nq + 1, sizeof(*s->q));
        s->q[s->nq++] = (struct queued){.group = xstrdup(v[i].group), .id = xstrdup(v[i].id)};
        queue_add_task(d->q, v[i].group);
        added = true;
        /* The group's agent idles after its answer: it gives its place up now, so the task
         * runs at its time (NanoClaw preempts an idle container for a task too). */
        for (struct slot *sl = d->slots; sl; sl = sl->next)
            if (strcmp(sl->group, v[i].group) == 0 && sl->idle && !sl->close_sent && !sl->done) {
                sl->close_sent = true;
                strv_push(&close, sl->group);
            }
        log_info("group %s: task %s due (%lld ms ago): queued", v[i].group, v[i].id,
                 (long long)(now - v[i].next_run_ms));
    }
    if (added)
        daemon_changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    store_tasks_free(v, n);
    for (size_t i = 0; close && close[i]; i++)
        send_close(data_dir, close[i], "a task of the group is due");
    strv_free(close);
    return 0;
}

int scheduler_tick(nc_daemon *d)
{
    scheduler *s = d->sched;
    if (!s)
        return -1;
    int64_t now = (int64_t)wall_ms();
    int timeout = -1;
    if (atomic_exchange(&s->dirty, false) || (s->next_due && now >= s->next_due)) {
        _cleanup_error_ nc_error *err = NULL;
        int64_t next = 0;
        if (queue_due(d, now) < 0 || store_task_next_due(d->st, now, &next, &err) < 0) {
            if (err)
                log_error("scheduler: %s", nc_error_msg(err));
            atomic_store(&s->dirty, true); /* asked again in a second */
            timeout = 1000;
        }
        s->next_due = next;
    }
    if (s->next_due) {
        int64_t in = s->next_due - (int64_t)wall_ms();
        int t = in <= 0 ? 0 : in > 60000 ? 60000 : (int)in;
        if (timeout < 0 || t < timeout)
            timeout = t;
    }
    int c = close_due(d);
    if (c >= 0 && (timeout < 0 || c < timeout))
        timeout = c;
    return timeout;
}

void scheduler_slot_free(struct slot *s)
{
    if (!s || !s->task)
        return;
    free(s->task->id);
    free(s->task->script);
    free(s->task->result);
    free(s->task->error);
    free(s->task);
    s->task = NULL;
}

void scheduler_on_result(struct slot *s, const char *result, const char *error)
{
    struct task_slot *t = s->task;
    if (error) {
        free(t->error);
        t->error = xstrdup(error);
    } else if (result && !t->result) {
        t->result = xstrdup(result);
    }
    pthread_mutex_lock(&s->d->lock);
    bool first = !t->close_at;
    if (first)
        t->close_at = mono_ms() + TASK_CLOSE_DELAY_MS;
    pthread_mutex_unlock(&s->d->lock);
    if (first)
        daemon_wake(s->d); /* the dispatcher's timeout now includes the close */
}

/* The queue's task turn could not run: the queue is settled and the group looked at again. */
static void give_up(nc_daemon *d, const char *group, const char *id, uint64_t now)
{
    atomic_store(&d->sched->dirty, true);
    pthread_mutex_lock(&d->lock);
    if (id)
        unqueue_locked(d->sched, id);
    queue_finished(d->q, group, QUEUE_OK, now);
    daemon_mark_dirty_locked(d, group);
    pthread_mutex_unlock(&d->lock);
    daemon_wake(d);
}

void scheduler_start_turn(nc_daemon *d, const char *group, const nc_config *cfg, uint64_t now)
{
    (void)cfg;
    _cleanup_free_ char *id = NULL;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->sched->nq && !id; i++)
        if (!d->sched->q[i].running && strcmp(d->sched->q[i].group, group) == 0) {
            d->sched->q[i].running = true;
            id = xstrdup(d->sched->q[i].id);
        }
    pthread_mutex_unlock(&d->lock);
    if (!id) {
        give_up(d, group, NULL, now);
        return;
    }
    store_task t = {0};
    store_group g = {0};
    _cleanup_error_ nc_error *err = NULL;
    if (store_task_get(d->st, id, &t, &err) < 0 || strcmp(t.status, "active") != 0 ||
        store_group_get(d->st, group, &g, &err) < 0) {
        if (err)
            log_warn("group %s: task %s not run: %s", group, id, nc_error_msg(err));
        store_task_release(&t);
        store_group_release(&g);
        give_up(d, group, id, now);
        return;
    }
    struct slot *s = xnew0(struct slot);
    s->d = d;
    s->cancel[0] = s->cancel[1] = -1;
    s->group = xstrdup(group);
    s->run_id = turn_make_run_id();
    s->is_main = g.is_main;
    s->image = g.image && *g.image ? xstrdup(g.image) : NULL;
    s->chat_jid = xstrdup(t.chat_jid);
    s->chat = xstrdup(t.chat_jid);
    s->prompt = xstrdup(t.prompt);
    s->task = xnew0(struct task_slot);
    s->task->id = xstrdup(t.id);
    s->task->script = t.script ? xstrdup(t.script) : NULL;
    s->task->due_ms = t.next_run_ms;
    s->task->started_ms = (int64_t)wall_ms();
    s->task->isolated = strcmp(t.context_mode, "group") != 0;
    store_group_release(&g);
    store_task_release(&t);
    if ((!s->task->isolated && store_session_get(d->st, group, &s->session, &err) < 0) ||
        pipe2(s->cancel, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_error("group %s: could not start task %s: %s", group, id,
                  err ? nc_error_msg(err) : strerror(errno));
        daemon_slot_free(s);
        give_up(d, group, id, now);
        return;
    }
    /* The agent sees the tasks as they are when it starts. */
    daemon_ipc_snapshots(d, group);
    s->started_mono = now;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, TASK_STACK_SIZE);
    pthread_mutex_lock(&d->lock);
    s->cfg = daemon_cfg_take_locked(d);
    s->next = d->slots;
    d->slots = s;
    int r = pthread_create(&s->thread, &attr, daemon_turn_main, s);
    if (r != 0) {
        d->slots = s->next;
        daemon_cfg_drop_locked(s->cfg);
    }
    daemon_changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        log_error("group %s: could not start a turn thread for task %s: %s", group, id,
                  strerror(r));
        daemon_slot_free(s);
        give_up(d, group, id, now);
        return;
    }
    if (store_run_begin(d->st, s->run_id, group, (int64_t)wall_ms(), &err) < 0)
        log_warn("group %s: record run %s: %s", group, s->run_id, nc_error_msg(err));
    log_info("group %s: run %s started for task %s (due %lld ms ago)", group, s->run_id, id,
             (long long)(s->task->started_ms - s->task->due_ms));
}

void scheduler_turn_finished(nc_daemon *d, struct slot *s)
{
    struct task_slot *ts = s->task;
    int64_t now = (int64_t)wall_ms();
    bool ok = s->res.status == TURN_OK && !ts->error;
    const char *error = ts->error        ? ts->error
                        : ok             ? NULL
                        : s->res.message ? s->res.message
                                         : "the turn failed";
    store_task_run run = {
        .task_id = ts->id,
        .run_id = s->run_id,
        .due_ms = ts->due_ms,
        .run_ms = ts->started_ms,
        .duration_ms = now - ts->started_ms,
        .status = ok ? "success" : "error",
        .result = ts->result,
        .error = (char *)error,
    };
    _cleanup_error_ nc_error *err = NULL;
    store_task t = {0};
    int64_t next = 0;
    if (store_task_get(d->st, ts->id, &t, NULL) == 0) {
        if (t.next_run_ms != ts->due_ms)
            next = t.next_run_ms; /* its schedule changed while it ran: the new one stands */
        else if (scheduler_after_run(d->sched, t.schedule_type, t.schedule_value, ts->due_ms, now,
                                     &next, &err) < 0)
            log_warn("group %s: task %s: %s", s->group, ts->id, nc_error_msg(err));
        nc_error_free(TAKE_PTR(err));
        if (store_task_run_add(d->st, &run, next, &err) < 0)
            log_error("group %s: task %s: record its run: %s", s->group, ts->id, nc_error_msg(err));
    }
    _cleanup_free_ char *when = next ? scheduler_format(d->sched, next) : NULL;
    log_info("group %s: task %s ran (%s)%s%s", s->group, ts->id, run.status,
             when ? "; next run " : "; no next run", when ? when : "");
    store_task_release(&t);
    pthread_mutex_lock(&d->lock);
    unqueue_locked(d->sched, ts->id);
    pthread_mutex_unlock(&d->lock);
    daemon_ipc_snapshots_later(d);
    scheduler_changed(d);
}

const char *scheduler_task_script(const struct slot *s)
{
    return s->task ? s->task->script : NULL;
}

bool scheduler_task_isolated(const struct slot *s)
{
    return s->task && s->task->isolated;
}
