/* The daemon's service functions for scheduled tasks (daemon.h), for the local API: each
 * checks, changes the store, then wakes the scheduler and rewrites the agents' task lists. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "orch/daemon_internal.h"
#include "orch/scheduler.h"
#include "orch/store_tasks.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* After any change: the dispatcher's next wake-up and the agents' current_tasks.json. */
static void changed(nc_daemon *d)
{
    scheduler_changed(d);
    daemon_ipc_snapshots_later(d);
    pthread_mutex_lock(&d->lock);
    daemon_changed_locked(d);
    pthread_mutex_unlock(&d->lock);
}

int daemon_task_add(nc_daemon *d, const store_task *t, char **id, nc_error **err)
{
    if (!t->group || !t->prompt || !*t->prompt)
        return nc_error_set(err, EINVAL, "a task needs a group and a prompt");
    if (t->context_mode && strcmp(t->context_mode, "group") != 0 &&
        strcmp(t->context_mode, "isolated") != 0)
        return nc_error_set(err, EINVAL, "context '%s' is not 'group' or 'isolated'",
                            t->context_mode);
    if (d->stopping)
        return nc_error_set(err, ESHUTDOWN, "the daemon is shutting down");
    store_task n = *t;
    int r = scheduler_first_run(d->sched, t->schedule_type, t->schedule_value, (int64_t)wall_ms(),
                                &n.next_run_ms, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *new_id = t->id ? xstrdup(t->id) : daemon_task_new_id();
    _cleanup_free_ char *chat =
        t->chat_jid ? xstrdup(t->chat_jid) : xasprintf("local:%s", t->group);
    n.id = new_id;
    n.chat_jid = chat;
    n.status = "active";
    n.created_ms = 0;
    if ((r = store_task_add(d->st, &n, err)) < 0)
        return r;
    changed(d);
    *id = TAKE_PTR(new_id);
    return 0;
}

int daemon_task_pause(nc_daemon *d, const char *id, bool paused, nc_error **err)
{
    int r = store_task_set_status(d->st, id, paused ? "paused" : "active", -1, err);
    if (r < 0)
        return r;
    changed(d);
    return 0;
}

int daemon_task_remove(nc_daemon *d, const char *id, nc_error **err)
{
    int r = store_task_remove(d->st, id, err);
    if (r < 0)
        return r;
    changed(d);
    return 0;
}

char *daemon_task_time(nc_daemon *d, int64_t ms)
{
    return scheduler_format(d->sched, ms);
}

const char *daemon_timezone(nc_daemon *d)
{
    return scheduler_zone(d->sched);
}
