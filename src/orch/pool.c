/* The daemon's warm pool: for each group that had a turn within pool.idle_expiry, up to
 * pool.per_group containers launched ahead (turn_prelaunch: created, verified, attached,
 * started, blocked on stdin), so that the group's next turn only writes its input. One thread
 * makes and removes them with its own engine connection; the dispatcher takes them in
 * start_turn() and the turn checks one again before it uses it (agent/warm.h). Everything here
 * is under daemon.lock but the engine calls, which the thread makes with the lock released.
 *
 * Rules (docs/architecture.md):
 *   - a pooled container is made only while its group has no running turn (after each turn)
 *     and no group waits for a turn (the engine's time goes to turns first); it serves one turn
 *     of its group and is never handed to another group;
 *   - at most pool.max of them, and the sum of their memory limits at most pool.max_memory;
 *   - a reload drains the pool (configuration, policies); so does shutdown; a container made
 *     under an older configuration is removed when it is ready;
 *   - after a crash they are orphans of a dead owner, and the next start reaps them by label.
 * The same thread removes the containers of ended turns (turn_request.remove_later), so that a
 * turn's end (and the group's next turn) does not wait for the engine's removal. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/turn.h"
#include "agent/warm.h"
#include "sandbox/launch.h"
#include "orch/daemon_internal.h"
#include "proxy/proxy.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* The thread looks at the pool at least this often (expiry), and after a failed preparation a
 * group waits this long before the next try. */
#define POOL_TICK_MS 1000
#define POOL_RETRY_MS 30000
#define POOL_STACK_SIZE (2u * 1024 * 1024)

static struct pool_group *group_find(struct daemon_pool *p, const char *group)
{
    for (struct pool_group *g = p->groups; g; g = g->next)
        if (strcmp(g->group, group) == 0)
            return g;
    return NULL;
}

static void trash(struct daemon_pool *p, turn_warm *w)
{
    p->trash = xreallocarray(p->trash, p->ntrash + 1, sizeof(*p->trash));
    p->trash[p->ntrash++] = w;
}

/* Moves g's ready containers to the trash; returns how many. */
static size_t empty_group(struct daemon_pool *p, struct pool_group *g)
{
    size_t n = g->nready;
    for (size_t i = 0; i < g->nready; i++) {
        p->size--;
        p->memory -= turn_warm_memory(g->ready[i]);
        trash(p, g->ready[i]);
    }
    g->nready = 0;
    return n;
}

static bool slot_running_locked(nc_daemon *d, const char *group)
{
    for (struct slot *s = d->slots; s; s = s->next)
        if (strcmp(s->group, group) == 0)
            return true;
    return false;
}

turn_warm *daemon_pool_take_locked(nc_daemon *d, const nc_config *cfg, const char *group,
                                   bool is_main, const char *image)
{
    struct daemon_pool *p = &d->pool;
    struct pool_group *g = group_find(p, group);
    if (!g) {
        g = xnew0(struct pool_group);
        g->group = xstrdup(group);
        g->next = p->groups;
        p->groups = g;
    }
    g->last_turn = mono_ms();
    /* What the group's containers are made with from now on. */
    const char *want = image ? image : cfg->agent_image;
    if (g->is_main != is_main || (g->image ? strcmp(g->image, want) : want != NULL)) {
        if (empty_group(p, g))
            log_info("group %s: pooled container removed: the group's image or role changed",
                     group);
        free(g->image);
        g->image = xstrdup(want);
        g->is_main = is_main;
    }
    if (!cfg->pool_enabled)
        return NULL;
    if (!g->nready) {
        p->misses++;
        return NULL;
    }
    turn_warm *w = g->ready[--g->nready];
    p->size--;
    p->memory -= turn_warm_memory(w);
    return w;
}

void daemon_pool_turn_ended_locked(nc_daemon *d, const char *group)
{
    struct pool_group *g = group_find(&d->pool, group);
    if (g)
        g->last_turn = mono_ms();
    pthread_cond_signal(&d->pool.wake);
}

void daemon_pool_drain_locked(nc_daemon *d, const char *why)
{
    struct daemon_pool *p = &d->pool;
    size_t n = 0;
    for (struct pool_group *g = p->groups; g; g = g->next)
        n += empty_group(p, g);
    p->epoch++;
    p->drained += n;
    if (n)
        log_info("warm pool drained (%s): %zu container%s removed", why, n, n == 1 ? "" : "s");
    pthread_cond_signal(&p->wake);
}

void daemon_pool_forget_locked(nc_daemon *d, const char *group)
{
    struct pool_group *g = group_find(&d->pool, group);
    if (!g)
        return;
    if (empty_group(&d->pool, g))
        log_info("group %s: pooled container removed: the group was removed", group);
    g->last_turn = 0; /* expired: forgotten on the thread's next round */
    pthread_cond_signal(&d->pool.wake);
}

void daemon_pool_trash_locked(nc_daemon *d, turn_warm *w)
{
    if (!w)
        return;
    trash(&d->pool, w);
    pthread_cond_signal(&d->pool.wake);
}

void daemon_pool_verdict_locked(nc_daemon *d, const struct slot *s)
{
    struct daemon_pool *p = &d->pool;
    if (!s->had_warm)
        return;
    if (s->res.launch == TURN_LAUNCH_WARM) {
        p->hits++;
        return;
    }
    /* Not used: its check failed (the turn removed it and ran cold), or the turn ended before
     * it got that far (it was removed with the turn). */
    p->discards++;
    p->misses++;
}

/* The next group to make a container for: active, no turn running, under the caps. */
static struct pool_group *next_to_fill(nc_daemon *d, const nc_config *cfg, uint64_t now)
{
    struct daemon_pool *p = &d->pool;
    size_t preparing = 0;
    for (struct pool_group *g = p->groups; g; g = g->next)
        preparing += g->preparing;
    if (!cfg->pool_enabled || d->stopping || p->size + preparing >= (uint64_t)cfg->pool_max)
        return NULL;
    /* Groups wait for a turn: the engine has better things to do, and a group that waits would
     * start cold before its container is ready (then it is thrown away). */
    for (size_t i = 0; i < queue_waiting(d->q); i++) {
        const queue_group *w = queue_waiting_at(d->q, i);
        if (!w->retry_at || w->retry_at <= now)
            return NULL;
    }
    for (struct pool_group *g = p->groups; g; g = g->next) {
        uint64_t mem = config_sandbox(cfg, g->group)->memory;
        if (now - g->last_turn >= cfg->pool_idle_expiry_ms || g->retry_at > now ||
            g->nready + g->preparing >= (uint64_t)cfg->pool_per_group ||
            p->memory + mem * (preparing + 1) > cfg->pool_max_memory ||
            slot_running_locked(d, g->group))
            continue;
        return g;
    }
    return NULL;
}

/* Groups idle for pool.idle_expiry, or a pool turned off or made smaller: their containers go
 * to the trash, and groups with nothing left are forgotten. */
static void expire(nc_daemon *d, const nc_config *cfg, uint64_t now)
{
    struct daemon_pool *p = &d->pool;
    for (struct pool_group **pp = &p->groups; *pp;) {
        struct pool_group *g = *pp;
        bool idle = now - g->last_turn >= cfg->pool_idle_expiry_ms;
        if (idle || !cfg->pool_enabled || g->nready > (uint64_t)cfg->pool_per_group)
            p->expired += empty_group(p, g);
        if (idle && !g->preparing && !g->nready) {
            *pp = g->next;
            free(g->group);
            free(g->image);
            free(g->ready);
            free(g);
            continue;
        }
        pp = &g->next;
    }
    for (struct pool_group *g = p->groups; g && p->size > (uint64_t)cfg->pool_max; g = g->next)
        p->expired += empty_group(p, g);
}

static void remove_trash(nc_daemon *d, engine *e, turn_warm **list, size_t n,
                         sandbox_container **ended, size_t nended)
{
    (void)d;
    if (!e) {
        /* No engine to ask: they stay, and the next start reaps them (their owner is gone). */
        log_warn("the engine does not answer: %zu container%s left for the next start", n + nended,
                 n + nended == 1 ? "" : "s");
        for (size_t i = 0; i < nended; i++)
            sandbox_container_free(ended[i]);
        for (size_t i = 0; i < n; i++)
            turn_warm_free(list[i]);
        free(ended);
        free(list);
        return;
    }
    for (size_t i = 0; i < nended; i++) {
        _cleanup_error_ nc_error *err = NULL;
        _cleanup_free_ char *id = xstrdup(ended[i]->id);
        if (sandbox_container_remove(e, ended[i], &err) < 0)
            log_warn("%s (the next start removes it)", nc_error_msg(err));
        else
            log_debug("removed container %.12s after its turn", id);
    }
    free(ended);
    for (size_t i = 0; i < n; i++) {
        log_debug("warm pool: removing container %.12s", turn_warm_container_id(list[i]));
        turn_warm_discard(e, list[i]);
    }
    free(list);
}

void daemon_pool_remove_later(sandbox_container *c, void *daemon)
{
    nc_daemon *d = daemon;
    pthread_mutex_lock(&d->lock);
    struct daemon_pool *p = &d->pool;
    p->ended = xreallocarray(p->ended, p->nended + 1, sizeof(*p->ended));
    p->ended[p->nended++] = c;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&d->lock);
}

static void pool_on_warning(const char *msg, void *userdata)
{
    log_warn("group %s: warm pool: %s", (const char *)userdata, msg);
}

/* The pool thread's engine connection; NULL (logged) when the engine does not answer. */
static engine *pool_engine(nc_daemon *d, const nc_config *cfg)
{
    _cleanup_error_ nc_error *err = NULL;
    engine *e = daemon_engine_open(d, cfg, &err);
    if (!e)
        log_debug("warm pool: the engine does not answer: %s", nc_error_msg(err));
    return e;
}

/* Makes one container for g (its name and settings copied under the lock). */
static void fill(nc_daemon *d, engine **ep, struct cfg_ref *cr, const char *group, bool is_main,
                 const char *image, uint64_t epoch)
{
    const nc_config *cfg = cr->cfg;
    if (!*ep)
        *ep = pool_engine(d, cfg);
    _cleanup_free_ char *run_id = turn_make_run_id();
    turn_warm *w = NULL;
    _cleanup_error_ nc_error *err = NULL;
    int r = -EIO;
    uint64_t t0 = mono_ms(), cpu0 = thread_cpu_us();
    /* A group with a key gets its proxy socket in the pooled container too, so that the
     * container matches what a cold turn would create (agent/warm.h compares them). */
    const char *proxy_socket = NULL;
    if (*ep && d->px && proxy_settings_enabled(config_proxy(cfg, group)) &&
        proxy_add_group(d->px, cfg, group, &proxy_socket, &err) < 0) {
        log_debug("warm pool: group '%s': %s", group, nc_error_msg(err));
        nc_error_free(TAKE_PTR(err));
    }
    if (*ep) {
        turn_request req = {.cfg = cfg,
                            .proxy_socket = proxy_socket,
                            .e = *ep,
                            .group = group,
                            .image = image,
                            .run_id = run_id,
                            .is_main = &is_main,
                            .reaped = true,
                            .cancel_fd = -1,
                            .cb = {.on_warning = pool_on_warning, .userdata = (void *)group}};
        r = turn_prelaunch(&req, &w, &err);
    }
    pthread_mutex_lock(&d->lock);
    struct daemon_pool *p = &d->pool;
    struct pool_group *g = group_find(p, group);
    if (g)
        g->preparing--;
    if (r < 0) {
        p->failed++;
        if (g)
            g->retry_at = mono_ms() + POOL_RETRY_MS;
    } else if (!g || p->stop || d->stopping || epoch != p->epoch || cr != d->cfg ||
               slot_running_locked(d, group)) {
        /* Made under a configuration that is gone, or while a turn of the group started: a
         * turn that ran cold meanwhile is the group's, and this one is not needed. */
        trash(p, TAKE_PTR(w));
    } else {
        g->ready = xreallocarray(g->ready, g->nready + 1, sizeof(*g->ready));
        g->ready[g->nready++] = w;
        p->size++;
        p->memory += turn_warm_memory(w);
        p->made++;
    }
    pthread_mutex_unlock(&d->lock);
    if (r < 0) {
        log_warn("group %s: warm pool: could not prepare a container (next try in %d s): %s", group,
                 POOL_RETRY_MS / 1000, err ? nc_error_msg(err) : "no engine");
        if (err && err->code == EIO) {
            engine_free(*ep);
            *ep = NULL;
        }
    } else if (w) {
        log_debug("group %s: warm pool: container %.12s ready in %llu ms, %.2f ms of CPU", group,
                  turn_warm_container_id(w), (unsigned long long)(mono_ms() - t0),
                  (double)(thread_cpu_us() - cpu0) / 1000.0);
    }
}

static void *pool_main(void *arg)
{
    nc_daemon *d = arg;
    struct daemon_pool *p = &d->pool;
    engine *e = NULL;
    pthread_mutex_lock(&d->lock);
    for (;;) {
        uint64_t now = mono_ms();
        struct cfg_ref *cr = daemon_cfg_take_locked(d);
        if (p->stop) {
            for (struct pool_group *g = p->groups; g; g = g->next)
                empty_group(p, g);
        } else {
            expire(d, cr->cfg, now);
        }
        if (p->ntrash || p->nended) {
            turn_warm **list = TAKE_PTR(p->trash);
            size_t n = p->ntrash;
            sandbox_container **ended = TAKE_PTR(p->ended);
            size_t nended = p->nended;
            p->ntrash = p->nended = 0;
            pthread_mutex_unlock(&d->lock);
            if (!e)
                e = pool_engine(d, cr->cfg);
            remove_trash(d, e, list, n, ended, nended);
            pthread_mutex_lock(&d->lock);
            daemon_cfg_drop_locked(cr);
            continue;
        }
        if (p->stop) {
            daemon_cfg_drop_locked(cr);
            break;
        }
        struct pool_group *g = next_to_fill(d, cr->cfg, now);
        if (g) {
            g->preparing++;
            _cleanup_free_ char *group = xstrdup(g->group);
            _cleanup_free_ char *image = g->image ? xstrdup(g->image) : NULL;
            bool is_main = g->is_main;
            uint64_t epoch = p->epoch;
            pthread_mutex_unlock(&d->lock);
            fill(d, &e, cr, group, is_main, image, epoch);
            pthread_mutex_lock(&d->lock);
            daemon_cfg_drop_locked(cr);
            continue;
        }
        daemon_cfg_drop_locked(cr);
        struct timespec ts = mono_timespec_after(POOL_TICK_MS);
        pthread_cond_timedwait(&p->wake, &d->lock, &ts);
    }
    pthread_mutex_unlock(&d->lock);
    engine_free(e);
    return NULL;
}

void daemon_pool_start(nc_daemon *d)
{
    struct daemon_pool *p = &d->pool;
    /* A pooled container lives on one engine; with [[engines]] the fleet places each turn, and a
     * container made ahead could be on an engine the turn is not given. */
    if (d->fleet) {
        log_info("warm pool: off with [[engines]]: every turn runs cold on the engine it is "
                 "placed on");
        return;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, POOL_STACK_SIZE);
    int r = pthread_create(&p->thread, &attr, pool_main, d);
    pthread_attr_destroy(&attr);
    if (r != 0)
        log_warn("warm pool: could not start its thread (%s): every turn runs cold", strerror(r));
    p->started = r == 0;
}

void daemon_pool_stop(nc_daemon *d)
{
    struct daemon_pool *p = &d->pool;
    if (!p->started)
        return;
    pthread_mutex_lock(&d->lock);
    p->stop = true;
    size_t n = p->size;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&d->lock);
    if (n)
        log_info("shutting down: removing %zu pooled container%s", n, n == 1 ? "" : "s");
    pthread_join(p->thread, NULL);
    p->started = false;
    pthread_cond_destroy(&p->wake);
    for (struct pool_group *g = p->groups; g;) {
        struct pool_group *next = g->next;
        free(g->group);
        free(g->image);
        free(g->ready);
        free(g);
        g = next;
    }
    p->groups = NULL;
    free(p->trash);
    p->trash = NULL;
}

void daemon_pool_status_json_locked(nc_daemon *d, struct nc_jgen *g)
{
    struct daemon_pool *p = &d->pool;
    const nc_config *cfg = d->cfg->cfg;
    jgen_key(g, "pool");
    jgen_obj_open(g);
    jgen_kv_bool(g, "enabled", cfg->pool_enabled);
    jgen_kv_int(g, "size", (int64_t)p->size);
    jgen_kv_int(g, "max", cfg->pool_max);
    jgen_kv_int(g, "memory", (int64_t)p->memory);
    jgen_kv_int(g, "hits", (int64_t)p->hits);
    jgen_kv_int(g, "misses", (int64_t)p->misses);
    jgen_kv_int(g, "discards", (int64_t)(p->discards + p->drained));
    jgen_kv_int(g, "expired", (int64_t)p->expired);
    jgen_key(g, "groups");
    jgen_arr_open(g);
    for (struct pool_group *pg = p->groups; pg; pg = pg->next) {
        jgen_obj_open(g);
        jgen_kv_str(g, "group", pg->group);
        jgen_kv_int(g, "ready", (int64_t)pg->nready);
        jgen_kv_int(g, "preparing", pg->preparing);
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    jgen_obj_close(g);
}

void daemon_pool_metrics_locked(nc_daemon *d, strbuf *out)
{
    struct daemon_pool *p = &d->pool;
    strbuf_addf(out,
                "# HELP nanocell_pool_size Pooled containers ready now.\n"
                "# TYPE nanocell_pool_size gauge\nnanocell_pool_size %zu\n"
                "# HELP nanocell_pool_memory_bytes The sum of their memory limits.\n"
                "# TYPE nanocell_pool_memory_bytes gauge\nnanocell_pool_memory_bytes %llu\n"
                "# HELP nanocell_pool_hits_total Turns that ran in a pooled container.\n"
                "# TYPE nanocell_pool_hits_total counter\nnanocell_pool_hits_total %llu\n"
                "# HELP nanocell_pool_misses_total Turns that ran cold with the pool on.\n"
                "# TYPE nanocell_pool_misses_total counter\nnanocell_pool_misses_total %llu\n"
                "# HELP nanocell_pool_discards_total Pooled containers removed unused, by why.\n"
                "# TYPE nanocell_pool_discards_total counter\n"
                "nanocell_pool_discards_total{reason=\"check\"} %llu\n"
                "nanocell_pool_discards_total{reason=\"drain\"} %llu\n"
                "nanocell_pool_discards_total{reason=\"expired\"} %llu\n",
                p->size, (unsigned long long)p->memory, (unsigned long long)p->hits,
                (unsigned long long)p->misses, (unsigned long long)p->discards,
                (unsigned long long)p->drained, (unsigned long long)p->expired);
}
