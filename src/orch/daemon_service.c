/* The daemon's service side: what channels and the local API call (daemon.h), from any thread.
 * None of it blocks on the engine. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channels/channel.h"
#include "channels/webhook.h"
#include "orch/daemon_internal.h"
#include "orch/router.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "orch/ipc.h"
#include "util/banned.h"

static char *chat_of(const char *group)
{
    return xasprintf("local:%s", group);
}

store *daemon_store(nc_daemon *d)
{
    return d->st;
}

/* cursor NULL: store_message_add; else store_message_add_cursor. */
static int post_message(nc_daemon *d, const char *group, const char *chat_jid, const char *sender,
                        const char *text, const char *cursor, int64_t value, int64_t *id,
                        nc_error **err)
{
    if (daemon_stopping(d))
        return nc_error_set(err, ESHUTDOWN, "the daemon is shutting down");
    _cleanup_free_ char *chat = chat_jid ? NULL : chat_of(group);
    int r = cursor ? store_message_add_cursor(d->st, group, chat_jid ? chat_jid : chat,
                                              sender ? sender : "user", text, (int64_t)wall_ms(),
                                              cursor, value, id, err)
                   : store_message_add(d->st, group, chat_jid ? chat_jid : chat,
                                       sender ? sender : "user", text, (int64_t)wall_ms(), id, err);
    if (r < 0)
        return r;
    uint64_t us = mono_us(); /* accepted: committed, and the client is told next */
    /* A failed batch is tried again with the next message for its group. */
    _cleanup_error_ nc_error *rerr = NULL;
    if (store_group_retry(d->st, group, &rerr) < 0)
        log_warn("group %s: %s", group, nc_error_msg(rerr));
    pthread_mutex_lock(&d->lock);
    d->accepted[d->naccepted % NC_ARRAY_SIZE(d->accepted)].id = *id;
    d->accepted[d->naccepted % NC_ARRAY_SIZE(d->accepted)].us = us;
    d->naccepted++;
    daemon_mark_dirty_locked(d, group);
    daemon_changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    daemon_wake(d);
    log_debug("group %s: message %lld accepted at %llu us (monotonic)", group, (long long)*id,
              (unsigned long long)us);
    return 0;
}

int daemon_post_message(nc_daemon *d, const char *group, const char *chat_jid, const char *sender,
                        const char *text, int64_t *id, nc_error **err)
{
    return post_message(d, group, chat_jid, sender, text, NULL, 0, id, err);
}

int daemon_post_message_cursor(nc_daemon *d, const char *group, const char *chat_jid,
                               const char *sender, const char *text, const char *cursor,
                               int64_t value, int64_t *id, nc_error **err)
{
    return post_message(d, group, chat_jid, sender, text, cursor, value, id, err);
}

char **daemon_busy_chats(nc_daemon *d)
{
    char **v = NULL;
    pthread_mutex_lock(&d->lock);
    for (struct slot *s = d->slots; s; s = s->next)
        if (s->batch && !s->idle && !s->done && s->chat_jid && !strv_contains(v, s->chat_jid))
            strv_push(&v, s->chat_jid);
    pthread_mutex_unlock(&d->lock);
    return v;
}

int daemon_webhook(nc_daemon *d, const char *name, const char *signature, const char *timestamp,
                   const char *body, size_t len, int64_t *id, nc_error **err)
{
    return webhook_receive(channels_state(d->channels, "webhook"), d, name, signature, timestamp,
                           body, len, id, err);
}

char *daemon_assistant_name(nc_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    char *name = xstrdup(d->cfg->cfg->agent_assistant_name);
    pthread_mutex_unlock(&d->lock);
    return name;
}

char *daemon_waits_for_trigger(nc_daemon *d, const char *group, const char *text)
{
    store_group g = {0};
    if (store_group_get(d->st, group, &g, NULL) < 0)
        return NULL;
    char *why = NULL;
    if (g.requires_trigger && !g.is_main) {
        pthread_mutex_lock(&d->lock);
        struct cfg_ref *cr = daemon_cfg_take_locked(d);
        pthread_mutex_unlock(&d->lock);
        _cleanup_free_ char *trigger =
            router_group_trigger(g.trigger, cr->cfg->agent_assistant_name);
        pthread_mutex_lock(&d->lock);
        daemon_cfg_drop_locked(cr);
        pthread_mutex_unlock(&d->lock);
        if (!router_trigger_matches(trigger, text))
            why = xasprintf("group '%s' answers messages that start with '%s'; this one goes to "
                            "the agent as context with the next such message",
                            group, trigger);
    }
    store_group_release(&g);
    return why;
}

int daemon_retry(nc_daemon *d, const char *group, nc_error **err)
{
    store_group g = {0};
    int r = store_group_get(d->st, group, &g, err);
    store_group_release(&g);
    if (r < 0)
        return r;
    r = store_group_retry(d->st, group, err);
    if (r < 0)
        return r;
    pthread_mutex_lock(&d->lock);
    queue_group *qg = queue_group_find(d->q, group);
    if (qg) { /* an explicit retry does not wait out a backoff */
        qg->retry_at = 0;
        qg->failures = 0;
    }
    daemon_mark_dirty_locked(d, group);
    daemon_changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    daemon_wake(d);
    return r;
}

void daemon_groups_changed(nc_daemon *d)
{
    /* Removed groups leave the queue; the others are looked at again. */
    store_group *gs = NULL;
    size_t n = 0;
    if (store_group_list(d->st, &gs, &n, NULL) < 0)
        return;
    pthread_mutex_lock(&d->lock);
    for (struct pool_group *pg = d->pool.groups; pg; pg = pg->next) {
        bool known = false;
        for (size_t j = 0; j < n && !known; j++)
            known = strcmp(gs[j].folder, pg->group) == 0;
        if (!known)
            daemon_pool_forget_locked(d, pg->group);
    }
    for (size_t i = 0; i < queue_ngroups(d->q);) {
        const queue_group *qg = queue_group_at(d->q, i);
        bool known = false;
        for (size_t j = 0; j < n && !known; j++)
            known = strcmp(gs[j].folder, qg->folder) == 0;
        if (!known && !qg->running) {
            queue_forget(d->q, qg->folder);
            continue;
        }
        i++;
    }
    for (size_t j = 0; j < n; j++)
        daemon_mark_dirty_locked(d, gs[j].folder);
    daemon_changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    store_groups_free(gs, n);
    ipc_watcher_resync(d->ipc); /* a new group's ipc/ is watched, a removed one's is not */
    daemon_wake(d);
}

uint64_t daemon_change_gen(nc_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    uint64_t g = d->gen;
    pthread_mutex_unlock(&d->lock);
    return g;
}

uint64_t daemon_wait_change(nc_daemon *d, uint64_t seen, int timeout_ms)
{
    struct timespec ts = mono_timespec_after(timeout_ms > 0 ? (uint64_t)timeout_ms : 0);
    pthread_mutex_lock(&d->lock);
    while (d->gen == seen && !d->stopping)
        if (pthread_cond_timedwait(&d->changed, &d->lock, &ts) == ETIMEDOUT)
            break;
    uint64_t g = d->gen;
    pthread_mutex_unlock(&d->lock);
    return g;
}

bool daemon_stopping(nc_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    bool s = d->stopping;
    pthread_mutex_unlock(&d->lock);
    return s;
}

void daemon_status_json(nc_daemon *d, struct nc_jgen *g)
{
    uint64_t now = mono_ms();
    pthread_mutex_lock(&d->lock);
    jgen_key(g, "engine");
    if (d->engine_uri)
        jgen_str(g, d->engine_uri);
    else
        jgen_null(g);
    jgen_kv_bool(g, "stopping", d->stopping);
    jgen_kv_int(g, "max_concurrent", queue_cap(d->q));
    if (d->fleet)
        fleet_status_json(d->fleet, g); /* its own lock, never taken with it held */
    jgen_key(g, "running");
    jgen_arr_open(g);
    for (struct slot *s = d->slots; s; s = s->next) {
        jgen_obj_open(g);
        jgen_kv_str(g, "group", s->group);
        jgen_kv_str(g, "run", s->run_id);
        jgen_kv_bool(g, "idle", s->idle);
        jgen_kv_int(g, "batch", s->batch);
        jgen_kv_int(g, "seconds", (int64_t)((now - s->started_mono) / 1000));
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    jgen_key(g, "waiting");
    jgen_arr_open(g);
    for (size_t i = 0; i < queue_waiting(d->q); i++) {
        const queue_group *w = queue_waiting_at(d->q, i);
        jgen_obj_open(g);
        jgen_kv_str(g, "group", w->folder);
        jgen_kv_int(g, "failures", w->failures);
        jgen_kv_int(g, "retry_in_ms",
                    w->retry_at > now ? (int64_t)(w->retry_at - now) : (int64_t)0);
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    daemon_pool_status_json_locked(d, g);
    pthread_mutex_unlock(&d->lock);
    channels_status_json(d->channels, g);
}

/* A Prometheus histogram: counts[0..n] per bucket (the last is +Inf), not yet cumulative. */
static void add_histogram(strbuf *out, const char *name, const char *help, const double *le,
                          size_t n, const uint64_t *counts, double sum)
{
    strbuf_addf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t b = 0; b <= n; b++) {
        cum += counts[b];
        if (b < n)
            strbuf_addf(out, "%s_bucket{le=\"%g\"} %llu\n", name, le[b], (unsigned long long)cum);
        else
            strbuf_addf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    strbuf_addf(out, "%s_sum %.6f\n%s_count %llu\n", name, sum, name, (unsigned long long)cum);
}

void daemon_metrics(nc_daemon *d, strbuf *out)
{
    store_group_counts *c = NULL;
    size_t n = 0;
    bool have_counts = store_counts(d->st, &c, &n, NULL) == 0;
    pthread_mutex_lock(&d->lock);
    strbuf_addstr(out, "# HELP nanocell_turns_total Turns that ended, by outcome.\n"
                       "# TYPE nanocell_turns_total counter\n");
    for (int i = 0; i < OUT_N; i++)
        strbuf_addf(out, "nanocell_turns_total{outcome=\"%s\"} %llu\n", daemon_outcome_names[i],
                    (unsigned long long)d->turns[i]);
    add_histogram(out, "nanocell_turn_seconds", "How long turns took, start to end.",
                  daemon_latency_buckets, NBUCKETS, d->latency_count, d->latency_sum);
    add_histogram(out, "nanocell_dispatch_seconds",
                  "From a message stored to its turn's container create call.",
                  daemon_dispatch_buckets, NDISPATCH, d->dispatch_count, d->dispatch_sum);
    size_t running = 0;
    for (struct slot *s = d->slots; s; s = s->next)
        running++;
    strbuf_addf(out,
                "# HELP nanocell_containers_running Turns (containers) running now.\n"
                "# TYPE nanocell_containers_running gauge\nnanocell_containers_running %zu\n"
                "# HELP nanocell_engine_errors_total Turns that failed on the engine.\n"
                "# TYPE nanocell_engine_errors_total counter\nnanocell_engine_errors_total %llu\n",
                running, (unsigned long long)d->engine_errors);
    daemon_pool_metrics_locked(d, out);
    pthread_mutex_unlock(&d->lock);
    strbuf_addstr(out, "# HELP nanocell_queue_depth Inbound messages waiting, by group.\n"
                       "# TYPE nanocell_queue_depth gauge\n");
    for (size_t i = 0; have_counts && i < n; i++)
        strbuf_addf(out, "nanocell_queue_depth{group=\"%s\"} %lld\n", c[i].folder,
                    (long long)c[i].pending);
    if (have_counts)
        store_counts_free(c, n);
    ipc_watcher_metrics(d->ipc, out);
    channels_metrics(d->channels, out);
    if (d->fleet)
        fleet_metrics(d->fleet, out);
}
