/* The daemon: the dispatcher on the main thread, a thread per running turn, shutdown and crash
 * recovery. docs/architecture.md is the design; this file follows it. */
#include "orch/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent/turn.h"
#include "agent/workspace.h"
#include "engine/engine.h"
#include "orch/api.h"
#include "orch/owner.h"
#include "orch/queue.h"
#include "orch/router.h"
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

/* A configuration with the turns that still use it. Under daemon.lock. */
struct cfg_ref {
    nc_config *cfg;
    unsigned refs;
};

/* One running turn. The fields marked (lock) are shared with the dispatcher under daemon.lock;
 * the others belong to the turn thread until `done`, then to the dispatcher. */
struct slot {
    nc_daemon *d;
    char *group;
    char *run_id;
    char *prompt;
    char *session; /* sent with the turn */
    char *image;   /* NULL: agent.image */
    char *chat;    /* the first batch's chat, sent with the turn */
    bool is_main;
    struct cfg_ref *cfg;
    int cancel[2];
    pthread_t thread;
    int64_t batch;      /* (lock) the batch being answered; 0: none (idle or between) */
    int64_t last_batch; /* (lock) the batch answered last, for results after it */
    char *chat_jid;     /* (lock) the chat of the batch */
    bool idle;          /* (lock) the query is complete; follow-ups may be sent */
    bool close_sent;    /* (lock) _close written by the dispatcher */
    bool replied;       /* (lock) a reply was stored for the current batch */
    bool done;          /* (lock) the thread has ended */
    bool stale_session; /* an error result said the session is gone */
    char *last_error;   /* the last error result's text */
    uint64_t started_mono;
    turn_result res;
    struct slot *next;
};

enum outcome_idx { OUT_OK, OUT_AGENT, OUT_CONFIG, OUT_ENGINE, OUT_SANDBOX, OUT_INTERRUPTED, OUT_N };
static const char *const outcome_names[OUT_N] = {"success", "agent_error", "config",
                                                 "engine",  "sandbox",     "interrupted"};
static const double latency_buckets[] = {0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800};
#define NBUCKETS (sizeof(latency_buckets) / sizeof(latency_buckets[0]))

struct nc_daemon {
    char *config_path;
    char *host;
    char *api_path;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint64_t gen;        /* (lock) the change counter */
    struct cfg_ref *cfg; /* (lock) the configuration in force */
    store *st;
    char *engine_uri;   /* the engine found at start; every turn connects to it */
    queue *q;           /* (lock) */
    struct slot *slots; /* (lock) */
    char **dirty;       /* (lock) groups whose messages the dispatcher must look at */
    bool stopping;      /* (lock) */
    int wake_fd, sig_fd;
    int api_fd;
    api_server *api;
    /* metrics (lock) */
    uint64_t turns[OUT_N];
    uint64_t latency_count[NBUCKETS + 1];
    double latency_sum;
    uint64_t engine_errors;
};

/* ---- small shared helpers ---- */

static void wake(nc_daemon *d)
{
    uint64_t one = 1;
    ssize_t ignored = write(d->wake_fd, &one, sizeof(one));
    (void)ignored;
}

/* Moves the change counter; the caller holds the lock. */
static void changed_locked(nc_daemon *d)
{
    d->gen++;
    pthread_cond_broadcast(&d->changed);
}

static void mark_dirty_locked(nc_daemon *d, const char *group)
{
    if (!d->dirty || !strv_contains(d->dirty, group))
        strv_push(&d->dirty, group);
}

static struct cfg_ref *cfg_take_locked(nc_daemon *d)
{
    d->cfg->refs++;
    return d->cfg;
}

static void cfg_drop_locked(struct cfg_ref *r)
{
    if (r && --r->refs == 0) {
        config_free(r->cfg);
        free(r);
    }
}

const nc_config *daemon_config_get(nc_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    struct cfg_ref *r = cfg_take_locked(d);
    pthread_mutex_unlock(&d->lock);
    return r->cfg;
}

void daemon_config_put(nc_daemon *d, const nc_config *c)
{
    pthread_mutex_lock(&d->lock);
    /* The reference is found by its configuration: the current one, or a running turn's. */
    if (d->cfg->cfg == c) {
        cfg_drop_locked(d->cfg);
    } else {
        for (struct slot *s = d->slots; s; s = s->next)
            if (s->cfg->cfg == c) {
                cfg_drop_locked(s->cfg);
                break;
            }
    }
    pthread_mutex_unlock(&d->lock);
}

static char *chat_of(const char *group)
{
    return xasprintf("local:%s", group);
}

/* ---- turn threads ---- */

static void slot_free(struct slot *s)
{
    if (!s)
        return;
    free(s->group);
    free(s->run_id);
    free(s->prompt);
    free(s->session);
    free(s->image);
    free(s->chat);
    free(s->chat_jid);
    free(s->last_error);
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
    if (r->session && (!s->session || strcmp(r->session, s->session) != 0)) {
        if (store_session_set(d->st, s->group, r->session, &err) < 0) {
            log_warn("group %s: could not store the session: %s", s->group, nc_error_msg(err));
            nc_error_free(TAKE_PTR(err));
        }
        free(s->session);
        s->session = xstrdup(r->session);
    }
    if (!r->success) {
        free(s->last_error);
        s->last_error = xstrdup(r->error ? r->error : r->result ? r->result : "an error result");
        s->stale_session = s->stale_session || router_stale_session(s->last_error);
        log_warn("group %s: the agent reported an error", s->group);
        return;
    }
    pthread_mutex_lock(&d->lock);
    int64_t batch = s->batch ? s->batch : s->last_batch;
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
        changed_locked(d);
        pthread_mutex_unlock(&d->lock);
        return;
    }
    /* A null result: the query is complete. The batch is answered, and the agent waits for
     * follow-ups (or the idle timeout's _close). */
    if (s->batch && store_batch_done(d->st, s->batch, &err) < 0) {
        log_error("group %s: could not mark batch %lld answered: %s", s->group, (long long)s->batch,
                  nc_error_msg(err));
        return;
    }
    pthread_mutex_lock(&d->lock);
    if (s->batch)
        s->last_batch = s->batch;
    s->batch = 0;
    s->replied = false;
    s->idle = true;
    mark_dirty_locked(d, s->group);
    changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    wake(d);
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

static void *turn_thread(void *arg)
{
    struct slot *s = arg;
    const nc_config *cfg = s->cfg->cfg;
    engine_opts eo = {
        .host = s->d->engine_uri ? s->d->engine_uri : cfg->engine_host,
        .host_source = s->d->engine_uri ? "the daemon's engine" : "config key engine.host",
        .connect_timeout_ms = (long)cfg->engine_connect_timeout_ms,
        .request_timeout_ms = (long)cfg->engine_request_timeout_ms,
        .max_response_bytes = cfg->engine_max_response,
    };
    _cleanup_engine_ engine *e = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (engine_open(&eo, NULL, &e, &err) < 0) {
        s->res = (turn_result){.status = TURN_ENGINE, .exit_code = -1};
        s->res.message = xstrdup(nc_error_msg(err));
    } else {
        turn_request req = {
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
            .cb = {turn_on_result, turn_on_progress, turn_on_warning, NULL, s},
        };
        turn_run(&req, &s->res);
    }
    pthread_mutex_lock(&s->d->lock);
    s->done = true;
    pthread_mutex_unlock(&s->d->lock);
    wake(s->d);
    return NULL;
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
    bool follow_up = s && s->idle && !s->close_sent && !s->done && !d->stopping;
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
        free(s->chat_jid);
        s->chat_jid = xstrdup(msgs[start + count - 1].chat_jid);
        changed_locked(d);
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
    s->run_id = turn_make_run_id();
    s->is_main = g.is_main;
    s->image = g.image && *g.image ? xstrdup(g.image) : NULL;
    s->chat_jid = xstrdup(msgs[start + count - 1].chat_jid);
    s->chat = xstrdup(s->chat_jid);
    store_group_release(&g);
    s->batch = begin_batch(d, group, msgs, start, count, s->run_id, &s->prompt);
    store_messages_free(msgs, n);
    if (!s->batch || pipe2(s->cancel, O_CLOEXEC | O_NONBLOCK) < 0 ||
        store_session_get(d->st, group, &s->session, &err) < 0 ||
        store_run_begin(d->st, s->run_id, group, (int64_t)wall_ms(), &err) < 0) {
        log_error("group %s: could not start a turn: %s", group,
                  err ? nc_error_msg(err) : strerror(errno));
        if (s->batch)
            store_batch_requeue(d->st, s->batch, false, "the turn could not start", NULL);
        slot_free(s);
        pthread_mutex_lock(&d->lock);
        queue_finished(d->q, group, QUEUE_TRANSIENT, now);
        mark_dirty_locked(d, group);
        pthread_mutex_unlock(&d->lock);
        return;
    }
    s->started_mono = now;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, TURN_STACK_SIZE);
    pthread_mutex_lock(&d->lock);
    s->cfg = cfg_take_locked(d);
    s->next = d->slots;
    d->slots = s;
    int r = pthread_create(&s->thread, &attr, turn_thread, s);
    if (r != 0) {
        d->slots = s->next;
        cfg_drop_locked(s->cfg);
        queue_finished(d->q, group, QUEUE_TRANSIENT, now);
        mark_dirty_locked(d, group);
    }
    changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        log_error("group %s: could not start a turn thread: %s", group, strerror(r));
        store_batch_requeue(d->st, s->batch, false, "the turn could not start", NULL);
        slot_free(s);
        return;
    }
    log_info("group %s: run %s started for batch %lld", group, s->run_id, (long long)s->batch);
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
static void finish_turn(nc_daemon *d, struct slot *s, uint64_t now)
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
    } else if (batch && s->stale_session && s->session) {
        log_warn("group %s: the agent's session %s is gone: starting a fresh one", s->group,
                 s->session);
        store_session_set(d->st, s->group, NULL, NULL);
        requeue = true;
    } else if (batch) {
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
    while (b < NBUCKETS && secs > latency_buckets[b])
        b++;
    d->latency_count[b]++;
    d->latency_sum += secs;
    pthread_mutex_unlock(&d->lock);
    if (requeue) {
        if (store_batch_requeue(d->st, batch, exhausted, why, &err) < 0)
            log_error("group %s: %s", s->group, nc_error_msg(err));
        else if (exhausted)
            log_error("group %s: batch %lld failed after %d retries (%s); kept: `nanocell retry "
                      "%s` tries it again",
                      s->group, (long long)batch, ROUTER_MAX_RETRIES, why ? why : "failed",
                      s->group);
        else if (retry_at)
            log_warn("group %s: run %s failed (%s); retrying in %llu s", s->group, s->run_id,
                     why ? why : "failed", (unsigned long long)((retry_at - now) / 1000));
    }
    log_info("group %s: run %s ended: %s", s->group, s->run_id, outcome_names[oi]);
    pthread_mutex_lock(&d->lock);
    mark_dirty_locked(d, s->group);
    cfg_drop_locked(s->cfg);
    changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    slot_free(s);
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
        finish_turn(d, done, mono_ms());
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
static void dispatch(nc_daemon *d)
{
    reap_turns(d);
    pthread_mutex_lock(&d->lock);
    char **dirty = TAKE_PTR(d->dirty);
    struct cfg_ref *cr = cfg_take_locked(d);
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
    cfg_drop_locked(cr);
    pthread_mutex_unlock(&d->lock);
    /* A slot is freed only by this thread (reap_turns), so the pointers stay valid. */
    for (size_t i = 0; i < nclose; i++)
        close_agent(d, to_close[i], "other groups wait at the cap");
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
    cfg_drop_locked(d->cfg);
    d->cfg = r;
    queue_set_cap(d->q, (unsigned)cfg->orch_max_concurrent);
    pthread_mutex_unlock(&d->lock);
    log_info("configuration reloaded%s%s", cfg->path ? " from " : "", cfg->path ? cfg->path : "");
    wake(d);
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
    changed_locked(d);
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

/* Crash recovery (docs/architecture.md): the dead daemon's containers, runs, batches and
 * replies. An engine that is down now is not fatal: messages wait, and turns reap orphans
 * first when it returns. The engine found here is the one every turn uses. */
static int recover(nc_daemon *d, nc_error **err)
{
    const nc_config *cfg = d->cfg->cfg;
    engine_opts eo = {
        .host = d->host ? d->host : cfg->engine_host,
        .host_source = d->host ? "--host" : "config key engine.host",
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
        log_info("engine %s %s (API 1.%d) at %s", engine_kind_name(e->kind), e->version,
                 e->api_minor, e->ep.uri);
        if (reap_orphans(e, cfg->install_id, false, log_reap, NULL, &eerr) < 0)
            log_warn("could not look for orphaned containers: %s", nc_error_msg(eerr));
    }
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
        mark_dirty_locked(d, folders[i]);
    strv_free(folders);
    return 0;
}

int daemon_open(const daemon_opts *o, nc_daemon **ret, nc_error **err)
{
    nc_daemon *d = xnew0(nc_daemon);
    d->wake_fd = d->sig_fd = d->api_fd = -1;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->changed, NULL);
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
    if (r >= 0)
        r = api_listen(d->api_path, &d->api_fd, err);
    if (r >= 0)
        r = recover(d, err);
    if (r < 0) {
        daemon_free(d);
        return r;
    }
    *ret = d;
    return 0;
}

int daemon_run(nc_daemon *d, nc_error **err)
{
    const nc_config *cfg = d->cfg->cfg;
    int r = api_start(d, d->api_fd, (unsigned)cfg->orch_api_max_clients, &d->api, err);
    if (r < 0)
        return r;
    d->api_fd = -1; /* the server owns it now */
    log_info("serving the local API at %s", d->api_path);
    bool stop = false;
    while (!stop) {
        dispatch(d);
        pthread_mutex_lock(&d->lock);
        uint64_t next = queue_next_retry(d->q);
        pthread_mutex_unlock(&d->lock);
        uint64_t now = mono_ms();
        int timeout = DISPATCH_TICK_MS;
        if (next && next > now && next - now < (uint64_t)timeout)
            timeout = (int)(next - now);
        else if (next && next <= now)
            timeout = 0;
        wait_events(d, timeout, &stop);
    }
    log_info("shutting down: the API stops accepting");
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    api_stop(TAKE_PTR(d->api));
    shutdown_turns(d);
    log_info("stopped");
    return 0;
}

void daemon_free(nc_daemon *d)
{
    if (!d)
        return;
    api_stop(d->api);
    if (d->api_fd >= 0)
        close(d->api_fd);
    if (d->api_path && d->st)
        unlink(d->api_path);
    store_close(d->st);
    queue_free(d->q);
    strv_free(d->dirty);
    if (d->cfg)
        cfg_drop_locked(d->cfg);
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

/* ---- service ---- */

store *daemon_store(nc_daemon *d)
{
    return d->st;
}

int daemon_post_message(nc_daemon *d, const char *group, const char *chat_jid, const char *sender,
                        const char *text, int64_t *id, nc_error **err)
{
    if (daemon_stopping(d))
        return nc_error_set(err, ESHUTDOWN, "the daemon is shutting down");
    _cleanup_free_ char *chat = chat_jid ? NULL : chat_of(group);
    int r = store_message_add(d->st, group, chat_jid ? chat_jid : chat, sender ? sender : "user",
                              text, (int64_t)wall_ms(), id, err);
    if (r < 0)
        return r;
    /* A failed batch is tried again with the next message for its group. */
    _cleanup_error_ nc_error *rerr = NULL;
    if (store_group_retry(d->st, group, &rerr) < 0)
        log_warn("group %s: %s", group, nc_error_msg(rerr));
    pthread_mutex_lock(&d->lock);
    mark_dirty_locked(d, group);
    changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    wake(d);
    return 0;
}

char *daemon_waits_for_trigger(nc_daemon *d, const char *group, const char *text)
{
    store_group g = {0};
    if (store_group_get(d->st, group, &g, NULL) < 0)
        return NULL;
    char *why = NULL;
    if (g.requires_trigger && !g.is_main) {
        const nc_config *cfg = daemon_config_get(d);
        _cleanup_free_ char *trigger = router_group_trigger(g.trigger, cfg->agent_assistant_name);
        daemon_config_put(d, cfg);
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
    mark_dirty_locked(d, group);
    changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    wake(d);
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
        mark_dirty_locked(d, gs[j].folder);
    changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    store_groups_free(gs, n);
    wake(d);
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
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
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
    pthread_mutex_unlock(&d->lock);
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
        strbuf_addf(out, "nanocell_turns_total{outcome=\"%s\"} %llu\n", outcome_names[i],
                    (unsigned long long)d->turns[i]);
    strbuf_addstr(out, "# HELP nanocell_turn_seconds How long turns took, start to end.\n"
                       "# TYPE nanocell_turn_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t b = 0; b <= NBUCKETS; b++) {
        cum += d->latency_count[b];
        if (b < NBUCKETS)
            strbuf_addf(out, "nanocell_turn_seconds_bucket{le=\"%g\"} %llu\n", latency_buckets[b],
                        (unsigned long long)cum);
        else
            strbuf_addf(out, "nanocell_turn_seconds_bucket{le=\"+Inf\"} %llu\n",
                        (unsigned long long)cum);
    }
    strbuf_addf(out, "nanocell_turn_seconds_sum %.3f\nnanocell_turn_seconds_count %llu\n",
                d->latency_sum, (unsigned long long)cum);
    size_t running = 0;
    for (struct slot *s = d->slots; s; s = s->next)
        running++;
    strbuf_addf(out,
                "# HELP nanocell_containers_running Turns (containers) running now.\n"
                "# TYPE nanocell_containers_running gauge\nnanocell_containers_running %zu\n"
                "# HELP nanocell_engine_errors_total Turns that failed on the engine.\n"
                "# TYPE nanocell_engine_errors_total counter\nnanocell_engine_errors_total %llu\n",
                running, (unsigned long long)d->engine_errors);
    pthread_mutex_unlock(&d->lock);
    strbuf_addstr(out, "# HELP nanocell_queue_depth Inbound messages waiting, by group.\n"
                       "# TYPE nanocell_queue_depth gauge\n");
    for (size_t i = 0; have_counts && i < n; i++)
        strbuf_addf(out, "nanocell_queue_depth{group=\"%s\"} %lld\n", c[i].folder,
                    (long long)c[i].pending);
    if (have_counts)
        store_counts_free(c, n);
}
