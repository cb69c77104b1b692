/* The daemon: the dispatcher on the main thread, a thread per running turn, shutdown and crash
 * recovery. docs/architecture.md is the design; this file follows it. */
#include "orch/daemon_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent/turn.h"
#include "agent/workspace.h"
#include "channels/channel.h"
#include "engine/engine.h"
#include "orch/api.h"
#include "orch/owner.h"
#include "orch/queue.h"
#include "orch/router.h"
#include "orch/ipc.h"
#include "orch/scheduler.h"
#include "proxy/proxy.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Each turn thread's stack: the turn keeps 64 KiB read buffers on it, libcurl some more. */
#define TURN_STACK_SIZE (2u * 1024 * 1024)
/* The dispatcher wakes at least this often, to notice retry times it was not told about. */
#define DISPATCH_TICK_MS 1000

/* ---- small shared helpers ---- */

engine *daemon_engine_open(nc_daemon *d, const nc_config *cfg, nc_error **err)
{
    pthread_mutex_lock(&d->lock);
    engine *e = d->proto ? engine_dup(d->proto) : NULL;
    pthread_mutex_unlock(&d->lock);
    if (e)
        return e;
    engine_opts eo = {
        .host = d->engine_uri ? d->engine_uri : cfg->engine_host,
        .host_source = d->engine_uri ? "the daemon's engine" : "config key engine.host",
        .tls = config_engine_tls(cfg),
        .connect_timeout_ms = (long)cfg->engine_connect_timeout_ms,
        .request_timeout_ms = (long)cfg->engine_request_timeout_ms,
        .max_response_bytes = cfg->engine_max_response,
    };
    engine_endpoint again = {0};
    if (d->engine_ep.uri)
        endpoint_copy(&again, &d->engine_ep);
    if ((again.uri ? engine_open_endpoint(&eo, &again, &e, err) : engine_open(&eo, NULL, &e, err)) <
        0)
        return NULL;
    pthread_mutex_lock(&d->lock);
    if (!d->proto)
        d->proto = engine_dup(e);
    pthread_mutex_unlock(&d->lock);
    return e;
}

void daemon_wake(nc_daemon *d)
{
    uint64_t one = 1;
    ssize_t ignored = write(d->wake_fd, &one, sizeof(one));
    (void)ignored;
}

/* Moves the change counter; the caller holds the lock. */
void daemon_changed_locked(nc_daemon *d)
{
    d->gen++;
    pthread_cond_broadcast(&d->changed);
}

void daemon_mark_dirty_locked(nc_daemon *d, const char *group)
{
    if (!d->dirty || !strv_contains(d->dirty, group))
        strv_push(&d->dirty, group);
}

struct cfg_ref *daemon_cfg_take_locked(nc_daemon *d)
{
    d->cfg->refs++;
    return d->cfg;
}

void daemon_cfg_drop_locked(struct cfg_ref *r)
{
    if (r && --r->refs == 0) {
        config_free(r->cfg);
        free(r);
    }
}

/* ---- the dispatcher ---- */

static struct slot *slot_of_locked(nc_daemon *d, const char *group)
{
    for (struct slot *s = d->slots; s; s = s->next)
        if (strcmp(s->group, group) == 0)
            return s;
    return NULL;
}

/* The group's next batch: its pending messages through the router. Messages outside a
 * trigger's window are marked skipped. Returns false with no batch (or on a store error). */
static bool next_batch(nc_daemon *d, const char *group, const nc_config *cfg, store_message **msgs,
                       size_t *nmsgs, size_t *start, size_t *count, store_group *g)
{
    _cleanup_error_ nc_error *err = NULL;
    *msgs = NULL;
    *nmsgs = 0;
    if (store_group_get(d->st, group, g, &err) < 0) {
        if (err->code != ENOENT)
            log_error("group %s: %s", group, nc_error_msg(err));
        return false;
    }
    if (store_pending(d->st, group, 0, msgs, nmsgs, &err) < 0) {
        log_error("group %s: read pending messages: %s", group, nc_error_msg(err));
        return false;
    }
    router_msg *rm = xcalloc(*nmsgs ? *nmsgs : 1, sizeof(*rm));
    for (size_t i = 0; i < *nmsgs; i++)
        rm[i] = (router_msg){(*msgs)[i].id, (*msgs)[i].sender, (*msgs)[i].text, (*msgs)[i].time_ms};
    _cleanup_free_ char *trigger = router_group_trigger(g->trigger, cfg->agent_assistant_name);
    size_t skip;
    bool ok = router_select(rm, *nmsgs, g->requires_trigger && !g->is_main, trigger,
                            (size_t)cfg->orch_max_messages_per_prompt, &skip, start, count);
    free(rm);
    if (skip) {
        int64_t *ids = xcalloc(skip, sizeof(*ids));
        for (size_t i = 0; i < skip; i++)
            ids[i] = (*msgs)[i].id;
        if (store_messages_skip(d->st, ids, skip, &err) < 0)
            log_error("group %s: %s", group, nc_error_msg(err));
        free(ids);
    }
    return ok;
}

/* Formats msgs[start..start+count) and hands them to run_id: returns the batch id (the last
 * message's), the prompt in *prompt, or 0 on a store error. */
static int64_t begin_batch(nc_daemon *d, const char *group, const store_message *msgs, size_t start,
                           size_t count, const char *run_id, char **prompt)
{
    router_msg *rm = xcalloc(count, sizeof(*rm));
    int64_t *ids = xcalloc(count, sizeof(*ids));
    for (size_t i = 0; i < count; i++) {
        const store_message *m = &msgs[start + i];
        rm[i] = (router_msg){m->id, m->sender, m->text, m->time_ms};
        ids[i] = m->id;
    }
    int64_t batch = ids[count - 1];
    strbuf p = STRBUF_INIT;
    router_format(rm, count, &p);
    _cleanup_error_ nc_error *err = NULL;
    if (store_batch_start(d->st, ids, count, batch, run_id, &err) < 0) {
        log_error("group %s: start batch %lld: %s", group, (long long)batch, nc_error_msg(err));
        batch = 0;
        strbuf_release(&p);
    } else {
        *prompt = strbuf_detach(&p, NULL);
    }
    free(rm);
    free(ids);
    return batch;
}

/* Looks at one group's pending messages: a follow-up into its idle agent, nothing while its
 * agent is busy, or a place in the queue. */
static void consider(nc_daemon *d, const char *group, const nc_config *cfg)
{
    store_message *msgs;
    size_t n, start, count;
    store_group g = {0};
    bool have = next_batch(d, group, cfg, &msgs, &n, &start, &count, &g);
    store_group_release(&g);
    if (!have) {
        store_messages_free(msgs, n);
        return;
    }
    pthread_mutex_lock(&d->lock);
    struct slot *s = slot_of_locked(d, group);
    /* A task's agent takes no follow-ups (NanoClaw's rule): the messages wait for its end. */
    bool follow_up = s && !s->task && s->idle && !s->close_sent && !s->done && !d->stopping;
    _cleanup_free_ char *run_id = s ? xstrdup(s->run_id) : NULL;
    if (!s)
        queue_add_messages(d->q, group);
    pthread_mutex_unlock(&d->lock);
    if (follow_up) {
        _cleanup_free_ char *prompt = NULL;
        int64_t batch = begin_batch(d, group, msgs, start, count, run_id, &prompt);
        if (!batch) {
            store_messages_free(msgs, n);
            return;
        }
        /* The turn attributes results to s->batch: it is set before the agent can see the
         * input, never after. */
        pthread_mutex_lock(&d->lock);
        s->batch = batch;
        s->idle = false;
        s->replied = false;
        s->errored = false;
        free(s->chat_jid);
        s->chat_jid = xstrdup(msgs[start + count - 1].chat_jid);
        daemon_changed_locked(d);
        pthread_mutex_unlock(&d->lock);
        _cleanup_free_ char *ipc = xasprintf("%s/groups/%s/ipc", cfg->data_dir, group);
        workspace ws = {.ipc = ipc};
        _cleanup_error_ nc_error *err = NULL;
        if (workspace_send_input(&ws, prompt, &err) < 0) {
            log_error("group %s: hand a follow-up to the agent: %s", group, nc_error_msg(err));
            nc_error_free(TAKE_PTR(err));
            pthread_mutex_lock(&d->lock);
            s->batch = 0;
            s->idle = true;
            pthread_mutex_unlock(&d->lock);
            store_batch_requeue(d->st, batch, false, "the follow-up could not be written", &err);
        } else {
            log_info("group %s: follow-up batch %lld (%zu message%s) handed to run %s", group,
                     (long long)batch, count, count == 1 ? "" : "s", run_id);
        }
    }
    store_messages_free(msgs, n);
}

/* Starts a turn for a group the queue chose. */
static void start_turn(nc_daemon *d, const char *group, const nc_config *cfg, uint64_t now)
{
    store_message *msgs;
    size_t n, start, count;
    store_group g = {0};
    _cleanup_error_ nc_error *err = NULL;
    if (!next_batch(d, group, cfg, &msgs, &n, &start, &count, &g)) {
        store_messages_free(msgs, n);
        store_group_release(&g);
        pthread_mutex_lock(&d->lock);
        queue_finished(d->q, group, QUEUE_OK, now);
        pthread_mutex_unlock(&d->lock);
        return;
    }
    struct slot *s = xnew0(struct slot);
    s->d = d;
    s->cancel[0] = s->cancel[1] = -1;
    s->group = xstrdup(group);
    s->is_main = g.is_main;
    s->image = g.image && *g.image ? xstrdup(g.image) : NULL;
    /* A pooled container of the group, if one is ready: the turn is its run. */
    pthread_mutex_lock(&d->lock);
    s->warm = daemon_pool_take_locked(d, cfg, group, s->is_main, s->image);
    pthread_mutex_unlock(&d->lock);
    s->had_warm = s->warm != NULL;
    s->run_id = s->warm ? xstrdup(turn_warm_run_id(s->warm)) : turn_make_run_id();
    s->chat_jid = xstrdup(msgs[start + count - 1].chat_jid);
    s->chat = xstrdup(s->chat_jid);
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < NC_ARRAY_SIZE(d->accepted); i++)
        if (d->accepted[i].id == msgs[start + count - 1].id)
            s->accepted_us = d->accepted[i].us;
    pthread_mutex_unlock(&d->lock);
    store_group_release(&g);
    s->batch = begin_batch(d, group, msgs, start, count, s->run_id, &s->prompt);
    store_messages_free(msgs, n);
    if (!s->batch || pipe2(s->cancel, O_CLOEXEC | O_NONBLOCK) < 0 ||
        store_session_get(d->st, group, &s->session, &err) < 0) {
        log_error("group %s: could not start a turn: %s", group,
                  err ? nc_error_msg(err) : strerror(errno));
        if (s->batch)
            store_batch_requeue(d->st, s->batch, false, "the turn could not start", NULL);
        pthread_mutex_lock(&d->lock);
        daemon_pool_trash_locked(d, TAKE_PTR(s->warm));
        pthread_mutex_unlock(&d->lock);
        daemon_slot_free(s);
        pthread_mutex_lock(&d->lock);
        queue_finished(d->q, group, QUEUE_TRANSIENT, now);
        daemon_mark_dirty_locked(d, group);
        pthread_mutex_unlock(&d->lock);
        return;
    }
    s->started_mono = now;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, TURN_STACK_SIZE);
    pthread_mutex_lock(&d->lock);
    s->cfg = daemon_cfg_take_locked(d);
    s->next = d->slots;
    d->slots = s;
    int r = pthread_create(&s->thread, &attr, daemon_turn_main, s);
    if (r != 0) {
        d->slots = s->next;
        daemon_cfg_drop_locked(s->cfg);
        daemon_pool_trash_locked(d, TAKE_PTR(s->warm));
        queue_finished(d->q, group, QUEUE_TRANSIENT, now);
        daemon_mark_dirty_locked(d, group);
    }
    daemon_changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        log_error("group %s: could not start a turn thread: %s", group, strerror(r));
        store_batch_requeue(d->st, s->batch, false, "the turn could not start", NULL);
        daemon_slot_free(s);
        return;
    }
    /* The run's row is metadata: written while the turn thread starts, off the reply's path.
     * Only this thread settles the run (daemon_turn_finish), so the row is there by then. */
    if (store_run_begin(d->st, s->run_id, group, (int64_t)wall_ms(), &err) < 0)
        log_warn("group %s: record run %s: %s", group, s->run_id, nc_error_msg(err));
    log_info("group %s: run %s started for batch %lld", group, s->run_id, (long long)s->batch);
}

/* Joins and settles every turn whose thread ended. */
static void reap_turns(nc_daemon *d)
{
    for (;;) {
        pthread_mutex_lock(&d->lock);
        struct slot **pp = &d->slots, *done = NULL;
        for (; *pp; pp = &(*pp)->next)
            if ((*pp)->done) {
                done = *pp;
                *pp = done->next;
                break;
            }
        pthread_mutex_unlock(&d->lock);
        if (!done)
            return;
        daemon_turn_finish(d, done, mono_ms());
    }
}

/* Writes _close into the group's IPC input: the agent finishes. */
static void close_agent(nc_daemon *d, struct slot *s, const char *why)
{
    const nc_config *cfg = s->cfg->cfg;
    _cleanup_free_ char *ipc = xasprintf("%s/groups/%s/ipc", cfg->data_dir, s->group);
    workspace ws = {.ipc = ipc};
    _cleanup_error_ nc_error *err = NULL;
    if (workspace_send_close(&ws, &err) < 0)
        log_warn("group %s: could not close the idle agent: %s", s->group, nc_error_msg(err));
    else
        log_info("group %s: idle agent closed (%s)", s->group, why);
    (void)d;
}

/* One round: settle ended turns, look at groups with news, start what the queue allows, and
 * close idle agents while others wait at the cap. */
static int dispatch(nc_daemon *d)
{
    reap_turns(d);
    /* Due tasks join their groups' queues before the queue is looked at. */
    int sched_ms = scheduler_tick(d);
    pthread_mutex_lock(&d->lock);
    char **dirty = TAKE_PTR(d->dirty);
    struct cfg_ref *cr = daemon_cfg_take_locked(d);
    bool stopping = d->stopping;
    pthread_mutex_unlock(&d->lock);
    const nc_config *cfg = cr->cfg;
    for (size_t i = 0; dirty && dirty[i] && !stopping; i++)
        consider(d, dirty[i], cfg);
    strv_free(dirty);
    for (;;) {
        uint64_t now = mono_ms();
        queue_kind kind;
        pthread_mutex_lock(&d->lock);
        queue_group *qg = stopping ? NULL : queue_next(d->q, now, &kind);
        _cleanup_free_ char *group = qg ? xstrdup(qg->folder) : NULL;
        pthread_mutex_unlock(&d->lock);
        if (!group)
            break;
        if (kind == QUEUE_TASK)
            scheduler_start_turn(d, group, cfg, now);
        else
            start_turn(d, group, cfg, now);
    }
    /* Groups wait at the cap: idle agents give their places up. */
    pthread_mutex_lock(&d->lock);
    bool waiting = false;
    uint64_t now = mono_ms();
    for (size_t i = 0; i < queue_waiting(d->q); i++) {
        const queue_group *w = queue_waiting_at(d->q, i);
        waiting = waiting || !w->retry_at || w->retry_at <= now;
    }
    struct slot *to_close[256];
    size_t nclose = 0;
    if (waiting && queue_running(d->q) >= queue_cap(d->q))
        for (struct slot *s = d->slots; s && nclose < NC_ARRAY_SIZE(to_close); s = s->next)
            if (s->idle && !s->close_sent && !s->done) {
                s->close_sent = true;
                to_close[nclose++] = s;
            }
    daemon_cfg_drop_locked(cr);
    pthread_mutex_unlock(&d->lock);
    /* A slot is freed only by this thread (reap_turns), so the pointers stay valid. */
    for (size_t i = 0; i < nclose; i++)
        close_agent(d, to_close[i], "other groups wait at the cap");
    return sched_ms;
}

/* ---- signals, reload, shutdown ---- */

static void reload(nc_daemon *d)
{
    nc_config *cfg = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (config_load(d->config_path, &cfg, &err) < 0 || config_resolve(cfg, &err) < 0) {
        log_error("reload refused, the running configuration stays: %s", nc_error_msg(err));
        config_free(cfg);
        return;
    }
    struct cfg_ref *r = xnew0(struct cfg_ref);
    r->cfg = cfg;
    r->refs = 1;
    pthread_mutex_lock(&d->lock);
    if (strcmp(cfg->data_dir, d->cfg->cfg->data_dir) != 0 ||
        strcmp(cfg->install_id, d->cfg->cfg->install_id) != 0) {
        pthread_mutex_unlock(&d->lock);
        log_error("reload refused, the running configuration stays: install.data_dir and "
                  "install.id cannot change while the daemon runs (restart it)");
        config_free(cfg);
        free(r);
        return;
    }
    daemon_cfg_drop_locked(d->cfg);
    d->cfg = r;
    daemon_pool_drain_locked(d, "configuration reloaded");
    queue_set_cap(d->q, (unsigned)cfg->orch_max_concurrent);
    queue_set_retry_base(d->q, cfg->orch_retry_base_ms);
    pthread_mutex_unlock(&d->lock);
    if (d->ipc)
        ipc_watcher_set_limits(
            d->ipc, &(ipc_limits){.max_file = cfg->ipc_max_file_size,
                                  .max_per_minute = (unsigned)cfg->ipc_max_files_per_minute});
    log_info("configuration reloaded%s%s", cfg->path ? " from " : "", cfg->path ? cfg->path : "");
    daemon_wake(d);
}

/* Reads pending signals: returns true on SIGTERM or SIGINT. */
static bool read_signals(nc_daemon *d)
{
    struct signalfd_siginfo si;
    bool stop = false;
    while (read(d->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP)
            reload(d);
        else
            stop = true;
    }
    return stop;
}

static void drain_wake(nc_daemon *d)
{
    uint64_t v;
    ssize_t ignored = read(d->wake_fd, &v, sizeof(v));
    (void)ignored;
}

/* Waits for the wake descriptor or a signal, at most timeout_ms. */
static void wait_events(nc_daemon *d, int timeout_ms, bool *stop)
{
    struct pollfd p[2] = {{.fd = d->wake_fd, .events = POLLIN},
                          {.fd = d->sig_fd, .events = POLLIN}};
    if (poll(p, 2, timeout_ms) < 0)
        return;
    if (p[0].revents & POLLIN)
        drain_wake(d);
    if ((p[1].revents & POLLIN) && read_signals(d) && stop)
        *stop = true;
}

static size_t running_turns(nc_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    size_t n = 0;
    for (struct slot *s = d->slots; s; s = s->next)
        n++;
    pthread_mutex_unlock(&d->lock);
    return n;
}

/* SIGTERM: no new work; idle agents are closed; running turns get the grace, then are stopped
 * and removed by their own turn_run (the cancel pipe). Their batches go back to pending. */
static void shutdown_turns(nc_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    daemon_changed_locked(d);
    uint64_t grace = d->cfg->cfg->orch_shutdown_grace_ms;
    struct slot *to_close[256];
    size_t nclose = 0;
    for (struct slot *s = d->slots; s && nclose < NC_ARRAY_SIZE(to_close); s = s->next)
        if (s->idle && !s->close_sent && !s->done) {
            s->close_sent = true;
            to_close[nclose++] = s;
        }
    pthread_mutex_unlock(&d->lock);
    size_t n = running_turns(d);
    if (n)
        log_info("shutting down: %zu turn%s may end within %llu s", n, n == 1 ? "" : "s",
                 (unsigned long long)(grace / 1000));
    for (size_t i = 0; i < nclose; i++)
        close_agent(d, to_close[i], "shutting down");
    uint64_t deadline = mono_ms() + grace;
    bool again = false;
    while (running_turns(d)) {
        reap_turns(d);
        if (!running_turns(d))
            break;
        uint64_t now = mono_ms();
        if (now >= deadline) {
            pthread_mutex_lock(&d->lock);
            for (struct slot *s = d->slots; s; s = s->next) {
                ssize_t ignored = write(s->cancel[1], "x", 1);
                (void)ignored;
            }
            pthread_mutex_unlock(&d->lock);
            if (!again)
                log_info("shutting down: stopping and removing the containers still running");
            again = true;
            deadline = UINT64_MAX;
            continue;
        }
        bool stop_again = false;
        wait_events(d, (int)(deadline - now < 1000 ? deadline - now : 1000), &stop_again);
        if (stop_again)
            deadline = now; /* a second SIGTERM: do not wait out the grace */
    }
}

/* ---- open, run, free ---- */

static void log_reap(const engine_container_summary *c, reap_action what, const nc_error *err,
                     void *userdata)
{
    (void)userdata;
    if (what == REAP_REMOVED)
        log_info("removed container %.12s left by a nanocell that is gone", c->id);
    else if (what == REAP_FAILED)
        log_warn("could not remove orphaned container %.12s: %s", c->id, nc_error_msg(err));
}

/* The one engine (no [[engines]]): found, connected and reaped. */
static void recover_engine(nc_daemon *d)
{
    const nc_config *cfg = d->cfg->cfg;
    engine_opts eo = {
        .host = d->host ? d->host : cfg->engine_host,
        .host_source = d->host ? "--host" : "config key engine.host",
        .tls = config_engine_tls(cfg),
        .connect_timeout_ms = (long)cfg->engine_connect_timeout_ms,
        .request_timeout_ms = (long)cfg->engine_request_timeout_ms,
        .max_response_bytes = cfg->engine_max_response,
    };
    _cleanup_engine_ engine *e = NULL;
    _cleanup_error_ nc_error *eerr = NULL;
    if (engine_open(&eo, NULL, &e, &eerr) < 0) {
        /* Not fatal: messages are stored and wait, and each turn tries the engine again (an
         * address set explicitly stays the only one tried). */
        if (eo.host && *eo.host)
            d->engine_uri = xstrdup(eo.host);
        log_warn("the engine does not answer yet (%s): messages are stored and wait for it",
                 nc_error_msg(eerr));
    } else {
        d->engine_uri = xstrdup(e->ep.uri);
        endpoint_copy(&d->engine_ep, &e->ep);
        d->proto = engine_dup(e);
        log_info("engine %s %s (API 1.%d) at %s", engine_kind_name(e->kind), e->version,
                 e->api_minor, e->ep.uri);
        if (reap_orphans(e, cfg->install_id, false, log_reap, NULL, &eerr) < 0)
            log_warn("could not look for orphaned containers: %s", nc_error_msg(eerr));
        else
            d->reaped = true;
    }
}

/* Crash recovery (docs/architecture.md): the dead daemon's containers, runs, batches and
 * replies. An engine that is down now is not fatal: messages wait, and turns reap orphans
 * first when it returns. The engine found here is the one every turn uses. */
static int recover(nc_daemon *d, nc_error **err)
{
    /* With [[engines]], each engine is reaped by the fleet's prober before it is used. */
    if (!d->fleet)
        recover_engine(d);
    store_recovery rec = {0};
    int r = store_recover(d->st, &rec, err);
    if (r < 0)
        return r;
    if (rec.runs_crashed || rec.messages_requeued || rec.replies_superseded)
        log_warn("recovered from a crash: %lld run%s cut, %lld message%s to run again, %lld "
                 "undelivered repl%s superseded by the rerun",
                 (long long)rec.runs_crashed, rec.runs_crashed == 1 ? "" : "s",
                 (long long)rec.messages_requeued, rec.messages_requeued == 1 ? "" : "s",
                 (long long)rec.replies_superseded, rec.replies_superseded == 1 ? "y" : "ies");
    /* Every group with pending messages is looked at once. */
    char **folders = NULL;
    size_t n = 0;
    r = store_groups_with_pending(d->st, &folders, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        daemon_mark_dirty_locked(d, folders[i]);
    strv_free(folders);
    return 0;
}

int daemon_open(const daemon_opts *o, nc_daemon **ret, nc_error **err)
{
    nc_daemon *d = xnew0(nc_daemon);
    d->wake_fd = d->sig_fd = d->api_fd = d->tcp_fd = -1;
    pthread_mutex_init(&d->lock, NULL);
    /* Waits on it are timed on the monotonic clock: a wall-clock step cannot stretch them. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->changed, &ca);
    pthread_condattr_destroy(&ca);
    d->config_path = o->config_path ? xstrdup(o->config_path) : NULL;
    d->host = o->host ? xstrdup(o->host) : NULL;
    nc_config *cfg = NULL;
    int r = config_load(o->config_path, &cfg, err);
    if (r >= 0)
        r = config_resolve(cfg, err);
    if (r < 0) {
        config_free(cfg);
        daemon_free(d);
        return r;
    }
    d->cfg = xnew0(struct cfg_ref);
    d->cfg->cfg = cfg;
    d->cfg->refs = 1;
    d->q = queue_new((unsigned)cfg->orch_max_concurrent);
    queue_set_retry_base(d->q, cfg->orch_retry_base_ms);
    /* Signals go to the signalfd only: blocked before any thread exists, so every thread
     * inherits the mask. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    d->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->sig_fd < 0 || d->wake_fd < 0) {
        r = nc_error_set(err, errno, "signalfd/eventfd: %s", strerror(errno));
        daemon_free(d);
        return r;
    }
    if (o->api_socket)
        d->api_path = xstrdup(o->api_socket);
    else if (!(d->api_path = daemon_default_api_socket(err))) {
        daemon_free(d);
        return -EINVAL;
    }
    r = store_open(cfg->data_dir, &d->st, err);
    bool keyed = proxy_settings_enabled(&cfg->proxy);
    for (size_t i = 0; i < cfg->ngroups; i++)
        keyed |= proxy_settings_enabled(&cfg->groups[i].proxy);
    if (r >= 0 && keyed)
        r = proxy_new(cfg, &d->px, err);
    if (r >= 0)
        r = scheduler_new(cfg, &d->sched, err);
    if (r >= 0)
        r = api_listen(d->api_path, &d->api_fd, err);
    if (r >= 0 && cfg->api_tcp_listen[0])
        r = api_listen_tcp(cfg->api_tcp_listen, &d->tcp_fd, err);
    if (r >= 0 && cfg->nengines && d->host)
        log_warn("--host names the one engine to use: [[engines]] is ignored");
    else if (r >= 0 && cfg->nengines) {
        r = fleet_new(cfg, &d->fleet, err);
        if (r >= 0)
            log_info("%zu engines ([[engines]]): groups are spread over them", cfg->nengines);
    }
    if (r >= 0)
        r = recover(d, err);
    if (r < 0) {
        daemon_free(d);
        return r;
    }
    *ret = d;
    return 0;
}

/* Each API connection and each turn's attach stream is a descriptor: the soft limit (1024 by
 * default) goes up to the hard one, so api_max_clients connections fit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int daemon_run(nc_daemon *d, nc_error **err)
{
    const nc_config *cfg = d->cfg->cfg;
    raise_nofile();
    /* The IPC watcher first: API handlers may tell it the groups changed. */
    if (daemon_ipc_start(d, err) < 0)
        return nc_error_wrap(err, "ipc");
    /* Before the API: a status request reads d->channels without a lock. */
    int r = channels_start(d, cfg, &d->channels, err);
    if (r < 0)
        return r;
    r = api_start(d, d->api_fd, (unsigned)cfg->orch_api_max_clients, &d->api, err);
    if (r < 0)
        return r;
    d->api_fd = -1; /* the server owns it now */
    log_info("serving the local API at %s", d->api_path);
    if (d->tcp_fd >= 0) {
        r = api_start_hooks(d, d->tcp_fd, (unsigned)cfg->orch_api_max_clients, &d->api_tcp, err);
        if (r < 0)
            return r;
        d->tcp_fd = -1;
        log_info("serving webhooks (only) at %s", cfg->api_tcp_listen);
    }
    daemon_pool_start(d);
    bool stop = false;
    while (!stop) {
        int sched_ms = dispatch(d);
        pthread_mutex_lock(&d->lock);
        uint64_t next = queue_next_retry(d->q);
        pthread_mutex_unlock(&d->lock);
        uint64_t now = mono_ms();
        int timeout = DISPATCH_TICK_MS;
        if (next && next > now && next - now < (uint64_t)timeout)
            timeout = (int)(next - now);
        else if (next && next <= now)
            timeout = 0;
        /* The next due task (or a task agent's close): the dispatcher sleeps until then. */
        if (sched_ms >= 0 && sched_ms < timeout)
            timeout = sched_ms;
        wait_events(d, timeout, &stop);
    }
    log_info("shutting down: the API stops accepting");
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    daemon_changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    api_stop(TAKE_PTR(d->api));
    api_stop(TAKE_PTR(d->api_tcp));
    /* Files that come now are read at the next start (its scan). */
    ipc_watcher_free(TAKE_PTR(d->ipc));
    shutdown_turns(d);
    /* Replies of the turns that ended in the grace had their chance to go out. */
    channels_stop(TAKE_PTR(d->channels));
    daemon_pool_stop(d);
    log_info("stopped");
    return 0;
}

void daemon_free(nc_daemon *d)
{
    if (!d)
        return;
    api_stop(d->api);
    proxy_free(d->px);
    api_stop(d->api_tcp);
    if (d->tcp_fd >= 0)
        close(d->tcp_fd);
    channels_stop(d->channels);
    ipc_watcher_free(d->ipc);
    scheduler_free(d->sched);
    if (d->api_fd >= 0)
        close(d->api_fd);
    if (d->api_path && d->st)
        unlink(d->api_path);
    store_close(d->st);
    queue_free(d->q);
    for (size_t i = 0; i < d->nengines; i++)
        engine_free(d->engines[i]);
    engine_free(d->proto);
    fleet_free(d->fleet);
    endpoint_release(&d->engine_ep);
    strv_free(d->dirty);
    if (d->cfg)
        daemon_cfg_drop_locked(d->cfg);
    if (d->wake_fd >= 0)
        close(d->wake_fd);
    if (d->sig_fd >= 0)
        close(d->sig_fd);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->changed);
    free(d->config_path);
    free(d->host);
    free(d->api_path);
    free(d->engine_uri);
    free(d);
}
