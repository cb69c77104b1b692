/* The daemon's turn threads: each runs turn_run() on its own engine connection, stores what
 * the agent reports as it comes, and, once ended, is settled by the dispatcher (the run, the
 * open batch, the queue). See docs/architecture.md. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "orch/daemon_internal.h"
#include "agent/workspace.h"
#include "orch/router.h"
#include "orch/scheduler.h"
#include "proxy/proxy.h"
#include "util/log.h"
#include "util/units.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

const char *const daemon_outcome_names[OUT_N] = {"success", "agent_error", "config",
                                                 "engine",  "sandbox",     "interrupted"};
const double daemon_latency_buckets[NBUCKETS] = {0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800};
const double daemon_dispatch_buckets[NDISPATCH] = {0.001, 0.002, 0.003, 0.005, 0.0075, 0.01,
                                                   0.025, 0.05,  0.1,   0.25,  1};

void daemon_slot_free(struct slot *s)
{
    if (!s)
        return;
    free(s->group);
    free(s->run_id);
    free(s->prompt);
    free(s->session);
    free(s->session_now);
    free(s->image);
    free(s->chat);
    free(s->chat_jid);
    free(s->last_error);
    scheduler_slot_free(s);
    if (s->cancel[0] >= 0)
        close(s->cancel[0]);
    if (s->cancel[1] >= 0)
        close(s->cancel[1]);
    turn_result_release(&s->res);
    free(s);
}

static void turn_on_result(const agent_result *r, void *userdata)
{
    struct slot *s = userdata;
    nc_daemon *d = s->d;
    _cleanup_error_ nc_error *err = NULL;
    const char *known = s->session_now ? s->session_now : s->session;
    if (s->task)
        scheduler_on_result(s, r->result, r->success ? NULL : r->error ? r->error : "an error");
    /* An isolated task's session is its own: the group's stays. */
    if (r->session && (!known || strcmp(r->session, known) != 0) &&
        !(s->task && scheduler_task_isolated(s))) {
        if (store_session_set(d->st, s->group, r->session, &err) < 0) {
            log_warn("group %s: could not store the session: %s", s->group, nc_error_msg(err));
            nc_error_free(TAKE_PTR(err));
        }
        free(s->session_now);
        s->session_now = xstrdup(r->session);
    }
    if (!r->success) {
        free(s->last_error);
        s->last_error = xstrdup(r->error ? r->error : r->result ? r->result : "an error result");
        s->stale_session = s->stale_session || router_stale_session(s->last_error);
        pthread_mutex_lock(&d->lock);
        s->errored = s->errored || s->batch;
        pthread_mutex_unlock(&d->lock);
        log_warn("group %s: the agent reported an error", s->group);
        return;
    }
    /* The batch the result answers: the one handed to the agent last (set by the dispatcher,
     * under the lock, before the agent could see it); after its query completed, results
     * without a new batch still belong to it. */
    pthread_mutex_lock(&d->lock);
    int64_t current = s->batch;
    int64_t batch = current ? current : s->last_batch;
    _cleanup_free_ char *chat = xstrdup(s->chat_jid);
    pthread_mutex_unlock(&d->lock);
    if (r->result) {
        int64_t id;
        if (store_reply_add(d->st, s->group, chat, batch, s->run_id, r->result, (int64_t)wall_ms(),
                            &id, &err) < 0) {
            log_error("group %s: could not store a reply: %s", s->group, nc_error_msg(err));
            return;
        }
        pthread_mutex_lock(&d->lock);
        if (s->batch == batch)
            s->replied = true;
        daemon_changed_locked(d);
        pthread_mutex_unlock(&d->lock);
        return;
    }
    /* A null result: the query is complete. A batch that got only an error result is not
     * answered: the agent is told to finish, and the turn's end retries the batch with backoff
     * (as NanoClaw does when an error comes before any output). */
    pthread_mutex_lock(&d->lock);
    bool failed = current && s->errored && !s->replied;
    pthread_mutex_unlock(&d->lock);
    if (failed) {
        _cleanup_free_ char *ipc = xasprintf("%s/groups/%s/ipc", s->cfg->cfg->data_dir, s->group);
        workspace ws = {.ipc = ipc};
        if (workspace_send_close(&ws, &err) < 0)
            log_warn("group %s: could not close the agent: %s", s->group, nc_error_msg(err));
        return;
    }
    /* Otherwise the batch is answered, and the agent waits for follow-ups (or the idle
     * timeout's _close). */
    if (current && store_batch_done(d->st, current, &err) < 0) {
        log_error("group %s: could not mark batch %lld answered: %s", s->group, (long long)current,
                  nc_error_msg(err));
        return;
    }
    pthread_mutex_lock(&d->lock);
    if (current)
        s->last_batch = current;
    s->batch = 0;
    s->replied = false;
    s->errored = false;
    s->idle = true;
    daemon_mark_dirty_locked(d, s->group);
    daemon_changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    daemon_wake(d);
}

static void turn_on_progress(const char *msg, void *userdata)
{
    struct slot *s = userdata;
    log_info("group %s: %s", s->group, msg);
}

static void turn_on_warning(const char *msg, void *userdata)
{
    struct slot *s = userdata;
    log_warn("group %s: %s", s->group, msg);
}

/* The dispatch latency: from the newest message of the batch being accepted (committed) by the
 * API to the container's create call (nanocell_dispatch_seconds). */
static void turn_on_launch(void *userdata)
{
    struct slot *s = userdata;
    if (!s->accepted_us)
        return;
    double secs = (double)(mono_us() - s->accepted_us) / 1e6;
    log_debug("group %s: dispatch %.2f ms (message accepted to create call)", s->group,
              secs * 1000.0);
    pthread_mutex_lock(&s->d->lock);
    size_t b = 0;
    while (b < NDISPATCH && secs > daemon_dispatch_buckets[b])
        b++;
    s->d->dispatch_count[b]++;
    s->d->dispatch_sum += secs;
    pthread_mutex_unlock(&s->d->lock);
}

void *daemon_turn_main(void *arg)
{
    struct slot *s = arg;
    const nc_config *cfg = s->cfg->cfg;
    _cleanup_error_ nc_error *err = NULL;
    uint64_t cpu0 = thread_cpu_us();
    _cleanup_engine_ engine *e = NULL;
    size_t fleet_idx = 0;
    bool reaped = s->d->reaped;
    bool cancelled = false;
    /* Several engines: the fleet places the turn (src/orch/fleet.h). */
    if (s->d->fleet) {
        const nc_group_config *gc = config_group(cfg, s->group);
        if (fleet_acquire(s->d->fleet, s->group, gc ? gc->engine_labels : NULL, s->cancel[0], &e,
                          &fleet_idx, &reaped, &err) < 0)
            cancelled = err && err->code == ECANCELED;
    } else {
        /* A connection an earlier turn used, if one is idle: opening one is two round trips. */
        pthread_mutex_lock(&s->d->lock);
        e = s->d->nengines ? s->d->engines[--s->d->nengines] : NULL;
        pthread_mutex_unlock(&s->d->lock);
        if (!e)
            e = daemon_engine_open(s->d, cfg, &err);
    }
    /* The agent reads its group's current_tasks.json (and main its available_groups.json) as
     * they are now; a task turn's were written by the dispatcher already. */
    if (!s->task) {
        uint64_t t0 = mono_us();
        daemon_ipc_snapshots(s->d, s->group);
        log_debug("group %s: ipc snapshots written in %.3f ms", s->group,
                  (double)(mono_us() - t0) / 1000.0);
    }
    if (!e) {
        s->res =
            (turn_result){.status = cancelled ? TURN_INTERRUPTED : TURN_ENGINE, .exit_code = -1};
        s->res.message = xstrdup(nc_error_msg(err));
    } else {
        /* The group's proxy socket, made at its first turn; this turn's counters start now. */
        const char *proxy_socket = NULL;
        _cleanup_error_ nc_error *perr = NULL;
        if (s->d->px && proxy_settings_enabled(config_proxy(cfg, s->group))) {
            if (proxy_add_group(s->d->px, cfg, s->group, &proxy_socket, &perr) == 0)
                proxy_begin_turn(s->d->px, s->group, s->run_id);
        }
        turn_request req = {
            .proxy_socket = proxy_socket,
            .cfg = cfg,
            .e = e,
            .group = s->group,
            .prompt = s->prompt,
            .session_id = s->session,
            .chat_jid = s->chat,
            .image = s->image,
            .close_when_idle = false,
            .cancel_fd = s->cancel[0],
            .run_id = s->run_id,
            .is_main = &s->is_main,
            .scheduled = s->task != NULL,
            .script = s->task ? scheduler_task_script(s) : NULL,
            .reaped = reaped,
            .warm = TAKE_PTR(s->warm),
            .remove_later = s->d->pool.started ? daemon_pool_remove_later : NULL,
            .remove_userdata = s->d,
            .cb = {.on_result = turn_on_result,
                   .on_progress = turn_on_progress,
                   .on_warning = turn_on_warning,
                   .on_launch = turn_on_launch,
                   .userdata = s},
        };
        if (perr)
            s->res = (turn_result){
                .status = TURN_CONFIG, .exit_code = -1, .message = xstrdup(nc_error_msg(perr))};
        else
            turn_run(&req, &s->res);
        if (s->d->fleet)
            fleet_release(s->d->fleet, fleet_idx, TAKE_PTR(e), s->res.status == TURN_ENGINE,
                          s->res.message);
    }
    /* The CPU this turn's thread used (make bench reads it from the debug log). */
    log_debug("group %s: run %s used %.2f ms of CPU (%s)", s->group, s->run_id,
              (double)(thread_cpu_us() - cpu0) / 1000.0,
              s->res.launch == TURN_LAUNCH_WARM ? "warm" : "cold");
    pthread_mutex_lock(&s->d->lock);
    /* The connection goes back for the next turn, unless the engine failed on it; then the
     * next turn checks the engine again with a handshake (it may have been replaced). */
    if (e && s->res.status != TURN_ENGINE && s->d->nengines < NC_ARRAY_SIZE(s->d->engines))
        s->d->engines[s->d->nengines++] = TAKE_PTR(e);
    if (s->res.status == TURN_ENGINE) {
        engine_free(s->d->proto);
        s->d->proto = NULL;
    }
    s->done = true;
    pthread_mutex_unlock(&s->d->lock);
    daemon_wake(s->d);
    return NULL;
}

static enum outcome_idx outcome_of(turn_status st)
{
    switch (st) {
    case TURN_OK:
        return OUT_OK;
    case TURN_AGENT_ERROR:
        return OUT_AGENT;
    case TURN_CONFIG:
        return OUT_CONFIG;
    case TURN_SANDBOX:
        return OUT_SANDBOX;
    case TURN_INTERRUPTED:
        return OUT_INTERRUPTED;
    case TURN_ENGINE:
    default:
        return OUT_ENGINE;
    }
}

/* A turn thread ended: records the run, settles its open batch, and tells the queue. */
void daemon_turn_finish(nc_daemon *d, struct slot *s, uint64_t now)
{
    pthread_join(s->thread, NULL);
    _cleanup_error_ nc_error *err = NULL;
    const turn_result *res = &s->res;
    enum outcome_idx oi = outcome_of(res->status);
    store_run run = {
        .run_id = s->run_id,
        .group = s->group,
        .state = "ended",
        .ended_ms = (int64_t)wall_ms(),
        .outcome = res->status == TURN_OK ? "success"
                   : res->message         ? res->message
                                          : "failed",
        .exit_code = res->exit_code,
        .container_id = res->container_id,
        .log_path = res->log_path,
    };
    if (store_run_end(d->st, &run, &err) < 0) {
        log_error("group %s: record run %s: %s", s->group, s->run_id, nc_error_msg(err));
        nc_error_free(TAKE_PTR(err));
    }
    pthread_mutex_lock(&d->lock);
    int64_t batch = s->batch;
    bool replied = s->replied;
    pthread_mutex_unlock(&d->lock);
    queue_outcome how = QUEUE_OK;
    const char *why = s->last_error ? s->last_error : res->message;
    bool requeue = false;
    if (batch && replied) {
        /* The agent answered: its answer stands, even if the turn then failed (a retry would
         * repeat replies the user may have seen). */
        if (store_batch_done(d->st, batch, &err) < 0)
            log_error("group %s: %s", s->group, nc_error_msg(err));
    } else if (batch && res->status == TURN_OK) {
        /* Ended well without a word for this batch: a follow-up that reached the agent as it
         * was closing. It runs again, and it was not the batch's fault. */
        requeue = true;
    } else if (batch && res->status == TURN_INTERRUPTED) {
        requeue = true;
    } else if (batch) {
        /* NanoClaw's stale-session rule: the session the turn was given is gone, so the retry
         * starts a fresh one. It is a retry like any other: counted and backed off. */
        if (s->stale_session && s->session) {
            log_warn("group %s: the agent's session %s is gone: the retry starts a fresh one",
                     s->group, s->session);
            store_session_set(d->st, s->group, NULL, NULL);
        }
        how = res->status == TURN_ENGINE ? QUEUE_TRANSIENT : QUEUE_FAILED;
        requeue = true;
    }
    pthread_mutex_lock(&d->lock);
    bool exhausted = queue_finished(d->q, s->group, how, now);
    const queue_group *qg = queue_group_find(d->q, s->group);
    uint64_t retry_at = qg ? qg->retry_at : 0;
    d->turns[oi]++;
    d->engine_errors += res->status == TURN_ENGINE;
    double secs = (double)(now - s->started_mono) / 1000.0;
    size_t b = 0;
    while (b < NBUCKETS && secs > daemon_latency_buckets[b])
        b++;
    d->latency_count[b]++;
    d->latency_sum += secs;
    daemon_pool_verdict_locked(d, s);
    daemon_pool_turn_ended_locked(d, s->group);
    pthread_mutex_unlock(&d->lock);
    if (res->launch == TURN_LAUNCH_DISCARDED)
        log_info("group %s: run %s: the pooled container was not used: %s", s->group, s->run_id,
                 res->discarded ? res->discarded : "its check failed");
    if (requeue) {
        if (store_batch_requeue(d->st, batch, exhausted, why, &err) < 0)
            log_error("group %s: %s", s->group, nc_error_msg(err));
        else if (exhausted)
            log_error("group %s: batch %lld failed after %d retries (%s); kept: `nanocell retry "
                      "%s` tries it again",
                      s->group, (long long)batch, ROUTER_MAX_RETRIES, why ? why : "failed",
                      s->group);
        else if (retry_at) {
            _cleanup_free_ char *in = format_duration_ms(retry_at > now ? retry_at - now : 0);
            log_warn("group %s: run %s failed (%s); retrying in %s", s->group, s->run_id,
                     why ? why : "failed", in);
        }
    }
    if (s->task)
        scheduler_turn_finished(d, s);
    log_info("group %s: run %s ended: %s", s->group, s->run_id, daemon_outcome_names[oi]);
    pthread_mutex_lock(&d->lock);
    daemon_mark_dirty_locked(d, s->group);
    daemon_cfg_drop_locked(s->cfg);
    daemon_changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    daemon_slot_free(s);
}
