#include "orch/fleet.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/container.h"
#include "orch/owner.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define PROBE_FIRST_MS 500
#define PROBE_MAX_MS 30000
#define IDLE_MAX 4
/* How often a waiting turn looks at its cancel descriptor. */
#define WAIT_STEP_MS 200

struct fengine {
    nc_engine_config cfg; /* copied strings */
    bool up;
    bool probed;  /* tried at least once: turns wait for the first try */
    bool probing; /* the prober is connecting now */
    unsigned fails;
    uint64_t next_probe; /* mono_ms */
    int running;
    uint64_t turns;
    uint64_t failures;
    char *last_error;
    engine *proto;
    engine *idle[IDLE_MAX];
    size_t nidle;
};

struct fleet {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* monotonic: an engine came up, a place freed, stop */
    struct fengine *e;
    size_t n;
    int default_cap;         /* orch.max_concurrent, for engines without a cap */
    engine_opts eo;          /* timeouts */
    endpoint_tls_config tls; /* engine.tls_* (copied) and allow_insecure_tcp */
    char *tls_strs[4];
    char *install_id;
    char **sticky_group; /* a group's last engine */
    size_t *sticky_idx;
    size_t nsticky;
    bool stop;
    bool prober_started;
    pthread_t prober;
};

static char **labels_copy(char *const *v)
{
    char **out = NULL;
    for (size_t i = 0; v && v[i]; i++)
        strv_push(&out, v[i]);
    return out;
}

static char *dup_set(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

static void free_conns(struct fengine *fe)
{
    engine_free(fe->proto);
    fe->proto = NULL;
    for (size_t i = 0; i < fe->nidle; i++)
        engine_free(fe->idle[i]);
    fe->nidle = 0;
}

/* Connects to engine i (no lock held): a handshake. */
static int connect_one(fleet *f, const nc_engine_config *c, engine **ret, nc_error **err)
{
    engine_endpoint ep = {0};
    int r = endpoint_parse(c->host, "[[engines]]", &ep, err);
    if (r < 0)
        return r;
    endpoint_tls_config tls = f->tls;
    if (c->tls_ca || c->tls_cert || c->tls_key || c->tls_server_name)
        tls = (endpoint_tls_config){.ca = c->tls_ca,
                                    .cert = c->tls_cert,
                                    .key = c->tls_key,
                                    .server_name = c->tls_server_name,
                                    .allow_insecure = f->tls.allow_insecure};
    r = endpoint_setup_tls(&ep, &tls, NULL, false, err);
    if (r < 0) {
        endpoint_release(&ep);
        return r;
    }
    return engine_open_endpoint(&f->eo, &ep, ret, err);
}

/* This install's containers on e that no running turn uses: those of dead owners, and this
 * daemon's own (its turns there failed while the engine was down). */
static void reap(fleet *f, engine *e, const char *host)
{
    _cleanup_error_ nc_error *err = NULL;
    if (reap_orphans(e, f->install_id, false, NULL, NULL, &err) < 0) {
        log_warn("engine %s: could not look for orphaned containers: %s", host, nc_error_msg(err));
        return;
    }
    _cleanup_free_ char *self = owner_self();
    _cleanup_free_ char *l1 = xasprintf(NC_LABEL_INSTALL "=%s", f->install_id);
    _cleanup_free_ char *l2 = xasprintf(NC_LABEL_OWNER "=%s", self);
    char *labels[] = {l1, l2, NULL};
    engine_container_summary *s = NULL;
    size_t n = 0;
    if (engine_container_list(e, labels, &s, &n, &err) < 0) {
        log_warn("engine %s: could not list containers: %s", host, nc_error_msg(err));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        _cleanup_error_ nc_error *rerr = NULL;
        if (engine_container_remove(e, s[i].id, true, &rerr) < 0)
            log_warn("engine %s: could not remove container %.12s left by a failed turn: %s", host,
                     s[i].id, nc_error_msg(rerr));
        else
            log_info("engine %s: removed container %.12s left by a failed turn", host, s[i].id);
    }
    engine_container_summaries_free(s, n);
}

static void *prober_main(void *arg)
{
    fleet *f = arg;
    pthread_mutex_lock(&f->lock);
    while (!f->stop) {
        uint64_t now = mono_ms();
        size_t pick = f->n;
        for (size_t i = 0; i < f->n && pick == f->n; i++)
            if (!f->e[i].up && !f->e[i].probing && now >= f->e[i].next_probe)
                pick = i;
        if (pick == f->n) {
            struct timespec ts = mono_timespec_after(250);
            pthread_cond_timedwait(&f->cond, &f->lock, &ts);
            continue;
        }
        struct fengine *fe = &f->e[pick];
        fe->probing = true;
        pthread_mutex_unlock(&f->lock);
        engine *e = NULL;
        _cleanup_error_ nc_error *err = NULL;
        int r = connect_one(f, &fe->cfg, &e, &err);
        if (r == 0)
            reap(f, e, fe->cfg.host);
        pthread_mutex_lock(&f->lock);
        fe->probing = false;
        fe->probed = true;
        if (r == 0) {
            log_info("engine %s: %s %s (API 1.%d) is up", fe->cfg.host, engine_kind_name(e->kind),
                     e->version, e->api_minor);
            free_conns(fe);
            fe->proto = e;
            fe->up = true;
            fe->fails = 0;
        } else {
            uint64_t wait = PROBE_FIRST_MS;
            for (unsigned k = 0; k < fe->fails && wait < PROBE_MAX_MS; k++)
                wait *= 2;
            if (wait > PROBE_MAX_MS)
                wait = PROBE_MAX_MS;
            fe->fails++;
            fe->next_probe = mono_ms() + wait;
            if (fe->fails == 1 || !fe->last_error || strcmp(fe->last_error, nc_error_msg(err)))
                log_warn("engine %s does not answer (%s); trying again in %llu ms", fe->cfg.host,
                         nc_error_msg(err), (unsigned long long)wait);
            free(fe->last_error);
            fe->last_error = xstrdup(nc_error_msg(err));
        }
        pthread_cond_broadcast(&f->cond);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

int fleet_new(const nc_config *cfg, fleet **ret, nc_error **err)
{
    fleet *f = xnew0(fleet);
    pthread_mutex_init(&f->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cond, &ca);
    pthread_condattr_destroy(&ca);
    f->n = cfg->nengines;
    f->e = xcalloc(f->n, sizeof(*f->e));
    for (size_t i = 0; i < f->n; i++) {
        const nc_engine_config *c = &cfg->engines[i];
        f->e[i].cfg = (nc_engine_config){.host = xstrdup(c->host),
                                         .tls_ca = dup_set(c->tls_ca),
                                         .tls_cert = dup_set(c->tls_cert),
                                         .tls_key = dup_set(c->tls_key),
                                         .tls_server_name = dup_set(c->tls_server_name),
                                         .max_containers = c->max_containers,
                                         .labels = labels_copy(c->labels)};
    }
    f->default_cap = (int)cfg->orch_max_concurrent;
    f->eo = (engine_opts){.connect_timeout_ms = (long)cfg->engine_connect_timeout_ms,
                          .request_timeout_ms = (long)cfg->engine_request_timeout_ms,
                          .max_response_bytes = cfg->engine_max_response};
    f->tls_strs[0] = dup_set(cfg->engine_tls_ca);
    f->tls_strs[1] = dup_set(cfg->engine_tls_cert);
    f->tls_strs[2] = dup_set(cfg->engine_tls_key);
    f->tls_strs[3] = dup_set(cfg->engine_tls_server_name);
    f->tls = (endpoint_tls_config){.ca = f->tls_strs[0],
                                   .cert = f->tls_strs[1],
                                   .key = f->tls_strs[2],
                                   .server_name = f->tls_strs[3],
                                   .allow_insecure = cfg->engine_allow_insecure_tcp};
    f->install_id = xstrdup(cfg->install_id);
    int r = pthread_create(&f->prober, NULL, prober_main, f);
    if (r != 0) {
        fleet_free(f);
        return nc_error_set(err, r, "start the engine prober: %s", strerror(r));
    }
    f->prober_started = true;
    *ret = f;
    return 0;
}

void fleet_free(fleet *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->lock);
    f->stop = true;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    if (f->prober_started)
        pthread_join(f->prober, NULL);
    for (size_t i = 0; i < f->n; i++) {
        struct fengine *fe = &f->e[i];
        free_conns(fe);
        free(fe->cfg.host);
        free(fe->cfg.tls_ca);
        free(fe->cfg.tls_cert);
        free(fe->cfg.tls_key);
        free(fe->cfg.tls_server_name);
        strv_free(fe->cfg.labels);
        free(fe->last_error);
    }
    free(f->e);
    for (size_t i = 0; i < 4; i++)
        free(f->tls_strs[i]);
    free(f->install_id);
    for (size_t i = 0; i < f->nsticky; i++)
        free(f->sticky_group[i]);
    free(f->sticky_group);
    free(f->sticky_idx);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static bool has_labels(const struct fengine *fe, char *const *want)
{
    for (size_t i = 0; want && want[i]; i++)
        if (!strv_contains(fe->cfg.labels, want[i]))
            return false;
    return true;
}

static int cap_of(const fleet *f, const struct fengine *fe)
{
    return fe->cfg.max_containers > 0 ? fe->cfg.max_containers : f->default_cap;
}

static size_t *sticky_slot(fleet *f, const char *group)
{
    for (size_t i = 0; i < f->nsticky; i++)
        if (strcmp(f->sticky_group[i], group) == 0)
            return &f->sticky_idx[i];
    f->sticky_group = xreallocarray(f->sticky_group, f->nsticky + 1, sizeof(char *));
    f->sticky_idx = xreallocarray(f->sticky_idx, f->nsticky + 1, sizeof(size_t));
    f->sticky_group[f->nsticky] = xstrdup(group);
    f->sticky_idx[f->nsticky] = (size_t)-1;
    return &f->sticky_idx[f->nsticky++];
}

/* Under the lock. Returns the engine to use, or f->n; *why says why none: 0 full (wait),
 * EAGAIN not probed yet (wait), EHOSTDOWN none up, EINVAL none has the labels. */
static size_t choose(fleet *f, const char *group, char *const *labels, int *why)
{
    size_t best = f->n, matching = 0, up = 0;
    bool unprobed = false;
    size_t last = *sticky_slot(f, group);
    for (size_t i = 0; i < f->n; i++) {
        const struct fengine *fe = &f->e[i];
        if (!has_labels(fe, labels))
            continue;
        matching++;
        if (!fe->up) {
            unprobed |= !fe->probed;
            continue;
        }
        up++;
        int cap = cap_of(f, fe);
        if (fe->running >= cap)
            continue;
        if (i == last)
            return i;
        if (best == f->n) {
            best = i;
            continue;
        }
        const struct fengine *b = &f->e[best];
        /* Least loaded: running/cap, compared without division. */
        long lhs = (long)fe->running * cap_of(f, b), rhs = (long)b->running * cap;
        if (lhs < rhs || (lhs == rhs && fe->running < b->running))
            best = i;
    }
    if (best < f->n)
        return best;
    *why = !matching ? EINVAL : up ? 0 : unprobed ? EAGAIN : EHOSTDOWN;
    return f->n;
}

static bool cancelled(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return fd >= 0 && poll(&p, 1, 0) > 0;
}

int fleet_acquire(fleet *f, const char *group, char *const *engine_labels, int cancel_fd,
                  engine **ret_e, size_t *ret_idx, bool *ret_reaped, nc_error **err)
{
    pthread_mutex_lock(&f->lock);
    size_t idx;
    for (;;) {
        int why = 0;
        idx = choose(f, group, engine_labels, &why);
        if (idx < f->n)
            break;
        if (why == EINVAL || why == EHOSTDOWN) {
            _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
            for (size_t i = 0; i < f->n; i++)
                if (has_labels(&f->e[i], engine_labels))
                    strbuf_addf(&sb, "%s%s: %s", sb.len ? "; " : "", f->e[i].cfg.host,
                                f->e[i].last_error ? f->e[i].last_error : "down");
            pthread_mutex_unlock(&f->lock);
            if (why == EINVAL)
                return nc_error_set(err, EINVAL,
                                    "no engine in [[engines]] has every label group '%s' asks "
                                    "for (engine_labels)",
                                    group);
            return nc_error_set(err, EHOSTDOWN, "no engine answers (%s)", strbuf_str(&sb));
        }
        if (cancelled(cancel_fd)) {
            pthread_mutex_unlock(&f->lock);
            return nc_error_set(err, ECANCELED, "stopped while waiting for an engine");
        }
        struct timespec ts = mono_timespec_after(WAIT_STEP_MS);
        pthread_cond_timedwait(&f->cond, &f->lock, &ts);
    }
    struct fengine *fe = &f->e[idx];
    fe->running++;
    *sticky_slot(f, group) = idx;
    engine *e = fe->nidle ? fe->idle[--fe->nidle] : engine_dup(fe->proto);
    pthread_mutex_unlock(&f->lock);
    *ret_e = e;
    *ret_idx = idx;
    *ret_reaped = true; /* the prober reaped before bringing it up */
    return 0;
}

void fleet_release(fleet *f, size_t idx, engine *e, bool engine_failed, const char *why)
{
    pthread_mutex_lock(&f->lock);
    struct fengine *fe = &f->e[idx];
    fe->running--;
    fe->turns++;
    if (engine_failed) {
        fe->failures++;
        if (fe->up) {
            log_warn("engine %s failed a turn (%s): marked down, its turns go elsewhere",
                     fe->cfg.host, why ? why : "engine error");
            fe->up = false;
            fe->fails = 0;
            fe->next_probe = mono_ms() + PROBE_FIRST_MS;
            free(fe->last_error);
            fe->last_error = xstrdup(why ? why : "engine error");
            free_conns(fe);
        }
        engine_free(e);
    } else if (fe->up && fe->nidle < IDLE_MAX) {
        fe->idle[fe->nidle++] = e;
    } else {
        engine_free(e);
    }
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

void fleet_status_json(fleet *f, nc_jgen *g)
{
    pthread_mutex_lock(&f->lock);
    jgen_key(g, "engines");
    jgen_arr_open(g);
    for (size_t i = 0; i < f->n; i++) {
        const struct fengine *fe = &f->e[i];
        jgen_obj_open(g);
        jgen_kv_str(g, "host", fe->cfg.host);
        jgen_kv_bool(g, "up", fe->up);
        jgen_kv_int(g, "running", fe->running);
        jgen_kv_int(g, "max_containers", cap_of(f, fe));
        jgen_key(g, "labels");
        jgen_arr_open(g);
        for (size_t k = 0; fe->cfg.labels && fe->cfg.labels[k]; k++)
            jgen_str(g, fe->cfg.labels[k]);
        jgen_arr_close(g);
        jgen_kv_int(g, "turns", (int64_t)fe->turns);
        jgen_kv_int(g, "failures", (int64_t)fe->failures);
        jgen_key(g, "last_error");
        if (fe->last_error && !fe->up)
            jgen_str(g, fe->last_error);
        else
            jgen_null(g);
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    pthread_mutex_unlock(&f->lock);
}

void fleet_metrics(fleet *f, strbuf *out)
{
    pthread_mutex_lock(&f->lock);
    strbuf_addstr(out, "# HELP nanocell_engine_up Whether an engine of [[engines]] answers.\n"
                       "# TYPE nanocell_engine_up gauge\n");
    for (size_t i = 0; i < f->n; i++)
        strbuf_addf(out, "nanocell_engine_up{engine=\"%s\"} %d\n", f->e[i].cfg.host,
                    f->e[i].up ? 1 : 0);
    strbuf_addstr(out, "# HELP nanocell_engine_running Turns running on an engine now.\n"
                       "# TYPE nanocell_engine_running gauge\n");
    for (size_t i = 0; i < f->n; i++)
        strbuf_addf(out, "nanocell_engine_running{engine=\"%s\"} %d\n", f->e[i].cfg.host,
                    f->e[i].running);
    strbuf_addstr(out, "# HELP nanocell_engine_turns_total Turns that ended on an engine.\n"
                       "# TYPE nanocell_engine_turns_total counter\n");
    for (size_t i = 0; i < f->n; i++)
        strbuf_addf(out, "nanocell_engine_turns_total{engine=\"%s\"} %llu\n", f->e[i].cfg.host,
                    (unsigned long long)f->e[i].turns);
    pthread_mutex_unlock(&f->lock);
}
