/* The channel runner: a receiving and a delivering thread per configured channel, their
 * backoff, and the state status and /metrics report. See channel.h for the contract. */
#include "channels/channel.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "orch/daemon.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

extern const channel_ops channel_local_ops;
extern const channel_ops channel_telegram_ops;
extern const channel_ops channel_webhook_ops;

const channel_ops *const channel_registry[] = {&channel_local_ops, &channel_telegram_ops,
                                               &channel_webhook_ops, NULL};

/* A reply being delivered: parts already accepted survive a failed try of a later part. */
struct pending_try {
    int64_t id;
    unsigned failures;
    uint64_t next_ms; /* mono_ms of the next try */
};

struct channel {
    const channel_ops *ops;
    void *state;
    struct nc_daemon *d;
    channels *cs;
    pthread_t rx, tx;
    bool has_rx, has_tx;
    /* guarded by cs->lock */
    bool connected;
    bool unauthorized; /* the last request was refused for the credentials (CHANNEL_UNAUTHORIZED) */
    char *last_error;
    int64_t last_error_ms, last_success_ms; /* wall clock; 0: never */
    unsigned failures;                      /* receive failures in a row */
    uint64_t rx_wait_until;                 /* mono_ms */
    uint64_t retry_after_ms;                /* set by the channel for its current call */
    uint64_t received, sent, errors, given_up;
    /* the delivering thread's own */
    struct pending_try *tries;
    size_t ntries;
    uint64_t tx_hold_until; /* mono_ms: a rate limit holds every delivery until then */
    bool tx_hold_auth;      /* the hold is for refused credentials: it ends when they work */
};

struct channels {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; broadcast at stop */
    atomic_bool stop;
    int64_t max_attempts; /* channels.max_attempts */
    channel **v;
    size_t n;
};

uint64_t channel_backoff_ms(unsigned attempt, uint64_t base, uint64_t max, uint32_t rnd)
{
    if (attempt == 0)
        return 0;
    uint64_t d = base;
    for (unsigned i = 1; i < attempt && d < max; i++)
        d *= 2;
    if (d > max)
        d = max;
    uint64_t half = d / 2;
    return half + (half ? (uint64_t)rnd % (half + 1) : 0);
}

bool channel_give_up(int code, int64_t attempts, int64_t max_attempts)
{
    return code == CHANNEL_PERMANENT || (max_attempts > 0 && attempts >= max_attempts);
}

static uint32_t random32(void)
{
    uint32_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
        v = (uint32_t)mono_us();
    return v;
}

struct nc_daemon *channel_daemon(channel *ch)
{
    return ch->d;
}

bool channel_should_stop(channel *ch)
{
    return atomic_load(&ch->cs->stop);
}

void channel_retry_after(channel *ch, uint64_t ms)
{
    if (ms > CHANNEL_RETRY_AFTER_MAX_MS)
        ms = CHANNEL_RETRY_AFTER_MAX_MS;
    pthread_mutex_lock(&ch->cs->lock);
    ch->retry_after_ms = ms;
    pthread_mutex_unlock(&ch->cs->lock);
}

uint64_t channel_retry_after_ms_of(int64_t seconds)
{
    if (seconds <= 0)
        return 0;
    if ((uint64_t)seconds > CHANNEL_RETRY_AFTER_MAX_MS / 1000)
        return CHANNEL_RETRY_AFTER_MAX_MS;
    return (uint64_t)seconds * 1000;
}

void channel_connected(channel *ch)
{
    pthread_mutex_lock(&ch->cs->lock);
    ch->connected = true;
    ch->last_success_ms = (int64_t)wall_ms();
    bool was_unauthorized = ch->unauthorized;
    ch->unauthorized = false;
    pthread_mutex_unlock(&ch->cs->lock);
    if (was_unauthorized)
        log_info("channel %s: the credentials are accepted again", ch->ops->name);
}

void channel_count_received(channel *ch)
{
    pthread_mutex_lock(&ch->cs->lock);
    ch->received++;
    pthread_mutex_unlock(&ch->cs->lock);
}

void channel_chat_seen(channel *ch, const char *jid, const char *name, const char *kind)
{
    _cleanup_error_ nc_error *err = NULL;
    if (store_chat_seen(daemon_store(ch->d), jid, name, kind, &err) < 0)
        log_warn("channel %s: %s", ch->ops->name, nc_error_msg(err));
}

/* Records a failure and returns how long to wait: the server's retry_after when it gave one,
 * else the backoff for failures in a row. The caller holds no lock. */
static uint64_t record_failure(channel *ch, const char *what, const nc_error *err,
                               unsigned failures, bool *limited)
{
    pthread_mutex_lock(&ch->cs->lock);
    free(ch->last_error);
    ch->last_error = xstrdup(nc_error_msg(err));
    ch->last_error_ms = (int64_t)wall_ms();
    ch->errors++;
    uint64_t wait = ch->retry_after_ms;
    ch->retry_after_ms = 0;
    bool rate_limited = wait > 0;
    /* A rate limit says the server is there; anything else says it may not be. */
    if (!rate_limited)
        ch->connected = false;
    pthread_mutex_unlock(&ch->cs->lock);
    if (limited)
        *limited = rate_limited;
    if (!wait)
        wait = channel_backoff_ms(failures, CHANNEL_BACKOFF_BASE_MS, CHANNEL_BACKOFF_MAX_MS,
                                  random32());
    log_warn("channel %s: %s: %s (next try in %llu ms)", ch->ops->name, what, nc_error_msg(err),
             (unsigned long long)wait);
    return wait;
}

/* Records a CHANNEL_UNAUTHORIZED failure and returns how long to wait. The first one in a row
 * is logged as an error; the repeats (every CHANNEL_UNAUTHORIZED_RETRY_MS) at debug only. */
static uint64_t record_unauthorized(channel *ch, const char *what, const nc_error *err)
{
    pthread_mutex_lock(&ch->cs->lock);
    free(ch->last_error);
    ch->last_error = xstrdup(nc_error_msg(err));
    ch->last_error_ms = (int64_t)wall_ms();
    ch->errors++;
    ch->retry_after_ms = 0;
    ch->connected = false;
    bool first = !ch->unauthorized;
    ch->unauthorized = true;
    pthread_mutex_unlock(&ch->cs->lock);
    if (first)
        log_error("channel %s: %s: %s: the credentials were refused; fix them and restart the "
                  "daemon (replies wait; next try in %d min)",
                  ch->ops->name, what, nc_error_msg(err), CHANNEL_UNAUTHORIZED_RETRY_MS / 60000);
    else
        log_debug("channel %s: %s: still unauthorized: %s", ch->ops->name, what, nc_error_msg(err));
    return CHANNEL_UNAUTHORIZED_RETRY_MS;
}

/* Sleeps until mono deadline, the stop, or (wake_on_change) a store change. */
static void nap(channel *ch, uint64_t ms)
{
    struct timespec ts = mono_timespec_after(ms);
    pthread_mutex_lock(&ch->cs->lock);
    while (!atomic_load(&ch->cs->stop))
        if (pthread_cond_timedwait(&ch->cs->cond, &ch->cs->lock, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&ch->cs->lock);
}

static void *rx_main(void *arg)
{
    channel *ch = arg;
    unsigned failures = 0;
    while (!channel_should_stop(ch)) {
        if (daemon_stopping(ch->d)) { /* nothing more is stored: wait for channels_stop */
            nap(ch, 1000);
            continue;
        }
        _cleanup_error_ nc_error *err = NULL;
        int r = ch->ops->receive(ch->state, ch, &err);
        if (channel_should_stop(ch))
            break;
        if (r >= 0) {
            failures = 0;
            channel_connected(ch);
            pthread_mutex_lock(&ch->cs->lock);
            ch->failures = 0;
            ch->rx_wait_until = 0;
            pthread_mutex_unlock(&ch->cs->lock);
            continue;
        }
        failures++;
        uint64_t wait = err && err->code == CHANNEL_UNAUTHORIZED
                            ? record_unauthorized(ch, "receive", err)
                            : record_failure(ch, "receive", err, failures, NULL);
        pthread_mutex_lock(&ch->cs->lock);
        ch->failures = failures;
        ch->rx_wait_until = mono_ms() + wait;
        pthread_mutex_unlock(&ch->cs->lock);
        nap(ch, wait);
    }
    return NULL;
}

static struct pending_try *try_of(channel *ch, int64_t id)
{
    for (size_t i = 0; i < ch->ntries; i++)
        if (ch->tries[i].id == id)
            return &ch->tries[i];
    ch->tries = xreallocarray(ch->tries, ch->ntries + 1, sizeof(*ch->tries));
    ch->tries[ch->ntries] = (struct pending_try){.id = id};
    return &ch->tries[ch->ntries++];
}

static void forget_try(channel *ch, int64_t id)
{
    for (size_t i = 0; i < ch->ntries; i++)
        if (ch->tries[i].id == id) {
            ch->tries[i] = ch->tries[--ch->ntries];
            return;
        }
}

/* Ends a reply the channel cannot deliver: its row "failed" with the reason, logged, counted. */
static void give_up(channel *ch, const store_message *m, const nc_error *err, int64_t attempts)
{
    const char *why = nc_error_msg(err);
    pthread_mutex_lock(&ch->cs->lock);
    free(ch->last_error);
    ch->last_error = xstrdup(why);
    ch->last_error_ms = (int64_t)wall_ms();
    ch->errors++;
    ch->given_up++;
    ch->retry_after_ms = 0;
    pthread_mutex_unlock(&ch->cs->lock);
    forget_try(ch, m->id);
    bool permanent = err && err->code == CHANNEL_PERMANENT;
    log_error("channel %s: reply %lld to %s not delivered, given up after %lld tr%s (%s): %s",
              ch->ops->name, (long long)m->id, m->chat_jid, (long long)attempts,
              attempts == 1 ? "y" : "ies",
              permanent ? "refused for good" : "channels.max_attempts reached", why);
    _cleanup_error_ nc_error *ferr = NULL;
    if (store_outbox_give_up(daemon_store(ch->d), m->id, why, &ferr) < 0 && ferr->code != EALREADY)
        log_error("channel %s: %s", ch->ops->name, nc_error_msg(ferr));
}

/* Delivers what is due. Returns the mono_ms of the next try that waits (0: none). */
static uint64_t deliver_round(channel *ch)
{
    if (ch->tx_hold_auth) {
        pthread_mutex_lock(&ch->cs->lock);
        bool still = ch->unauthorized;
        pthread_mutex_unlock(&ch->cs->lock);
        if (!still) { /* a request went through meanwhile (receiving) */
            ch->tx_hold_auth = false;
            ch->tx_hold_until = 0;
        }
    }
    if (ch->tx_hold_until > mono_ms())
        return ch->tx_hold_until;
    store *st = daemon_store(ch->d);
    store_message *v = NULL;
    size_t n = 0;
    _cleanup_error_ nc_error *err = NULL;
    if (store_outbox_pending(st, ch->ops->prefix, CHANNEL_OUTBOX_BATCH, &v, &n, &err) < 0) {
        log_error("channel %s: read the outbox: %s", ch->ops->name, nc_error_msg(err));
        return mono_ms() + CHANNEL_BACKOFF_BASE_MS;
    }
    uint64_t next = 0;
    /* Replies of one chat keep their order: a later one waits for an earlier one that failed;
     * other chats go on. */
    _cleanup_strv_ char **blocked = NULL;
    for (size_t i = 0; i < n && !channel_should_stop(ch); i++) {
        uint64_t now = mono_ms();
        if (blocked && strv_contains(blocked, v[i].chat_jid))
            continue;
        struct pending_try *t = try_of(ch, v[i].id);
        if (t->next_ms > now) {
            if (!next || t->next_ms < next)
                next = t->next_ms;
            strv_push(&blocked, v[i].chat_jid);
            continue;
        }
        nc_error_free(TAKE_PTR(err));
        int r = ch->ops->send(ch->state, ch, &v[i], &err);
        if (r >= 0) {
            forget_try(ch, v[i].id);
            channel_connected(ch);
            pthread_mutex_lock(&ch->cs->lock);
            ch->sent++;
            pthread_mutex_unlock(&ch->cs->lock);
            nc_error_free(TAKE_PTR(err));
            if (store_outbox_delivered(st, v[i].id, &err) < 0 && err->code != EALREADY)
                log_error("channel %s: mark reply %lld delivered: %s", ch->ops->name,
                          (long long)v[i].id, nc_error_msg(err));
            continue;
        }
        int code = err ? err->code : EIO;
        if (code == CHANNEL_UNAUTHORIZED) {
            /* No reply of the channel can go: all of them wait, none loses a try. */
            ch->tx_hold_until = mono_ms() + record_unauthorized(ch, "deliver", err);
            ch->tx_hold_auth = true;
            if (!next || ch->tx_hold_until < next)
                next = ch->tx_hold_until;
            break;
        }
        int64_t attempts = (int64_t)v[i].attempts + 1;
        if (channel_give_up(code, attempts, ch->cs->max_attempts)) {
            give_up(ch, &v[i], err, attempts);
            continue; /* the chat's later replies go on */
        }
        t = try_of(ch, v[i].id);
        t->failures++;
        _cleanup_free_ char *what = xasprintf("deliver reply %lld", (long long)v[i].id);
        bool limited = false;
        uint64_t wait = record_failure(ch, what, err, t->failures, &limited);
        t->next_ms = mono_ms() + wait;
        _cleanup_error_ nc_error *ferr = NULL;
        if (store_outbox_failed(st, v[i].id, nc_error_msg(err), &ferr) < 0 &&
            ferr->code != EALREADY)
            log_error("channel %s: %s", ch->ops->name, nc_error_msg(ferr));
        if (!next || t->next_ms < next)
            next = t->next_ms;
        strv_push(&blocked, v[i].chat_jid);
        if (limited && !ch->ops->limit_per_chat) { /* it holds every chat of the channel */
            ch->tx_hold_until = t->next_ms;
            ch->tx_hold_auth = false;
            break;
        }
    }
    /* Rows no longer pending (delivered elsewhere, superseded, removed) are forgotten. */
    for (size_t j = 0; j < ch->ntries;) {
        bool listed = false;
        for (size_t i = 0; i < n && !listed; i++)
            listed = v[i].id == ch->tries[j].id;
        if (!listed && n < CHANNEL_OUTBOX_BATCH)
            ch->tries[j] = ch->tries[--ch->ntries];
        else
            j++;
    }
    store_messages_free(v, n);
    return next;
}

/* Typing for the channel's chats a turn answers: at once for a chat that just became busy,
 * and again every CHANNEL_TYPING_MS (all of them, when all is set). *shown is the busy set
 * last time, replaced. */
static void typing_round(channel *ch, char ***shown, bool all)
{
    char **busy = daemon_busy_chats(ch->d);
    size_t plen = strlen(ch->ops->prefix);
    for (size_t i = 0; busy && busy[i]; i++) {
        if (strncmp(busy[i], ch->ops->prefix, plen) != 0)
            continue;
        if (!all && *shown && strv_contains(*shown, busy[i]))
            continue;
        _cleanup_error_ nc_error *err = NULL;
        if (ch->ops->typing(ch->state, ch, busy[i], &err) < 0)
            log_debug("channel %s: typing: %s", ch->ops->name, nc_error_msg(err));
    }
    strv_free(*shown);
    *shown = busy;
}

static void *tx_main(void *arg)
{
    channel *ch = arg;
    uint64_t gen = 0, last_typing = 0;
    _cleanup_strv_ char **shown = NULL;
    while (!channel_should_stop(ch)) {
        gen = daemon_change_gen(ch->d);
        uint64_t next = deliver_round(ch);
        uint64_t now = mono_ms();
        if (ch->ops->typing) {
            bool all = now - last_typing >= CHANNEL_TYPING_MS;
            typing_round(ch, &shown, all);
            if (all)
                last_typing = now;
        }
        uint64_t wait = 1000;
        if (next && next > now && next - now < wait)
            wait = next - now;
        if (daemon_stopping(ch->d))
            nap(ch, wait); /* the change counter no longer waits */
        else
            daemon_wait_change(ch->d, gen, (int)wait);
    }
    return NULL;
}

int channels_start(struct nc_daemon *d, const nc_config *cfg, channels **ret, nc_error **err)
{
    channels *cs = xnew0(channels);
    pthread_mutex_init(&cs->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cs->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&cs->stop, false);
    cs->max_attempts = cfg->channels_max_attempts;
    for (const channel_ops *const *o = channel_registry; *o; o++) {
        void *state = NULL;
        int r = (*o)->open(cfg, d, &state, err);
        if (r < 0) {
            nc_error_wrap(err, "channel %s", (*o)->name);
            channels_stop(cs);
            return r;
        }
        if (!state)
            continue;
        channel *ch = xnew0(channel);
        ch->ops = *o;
        ch->state = state;
        ch->d = d;
        ch->cs = cs;
        cs->v = xreallocarray(cs->v, cs->n + 1, sizeof(*cs->v));
        cs->v[cs->n++] = ch;
        if (ch->ops->receive)
            ch->has_rx = pthread_create(&ch->rx, NULL, rx_main, ch) == 0;
        if (ch->ops->send)
            ch->has_tx = pthread_create(&ch->tx, NULL, tx_main, ch) == 0;
        if ((ch->ops->receive && !ch->has_rx) || (ch->ops->send && !ch->has_tx)) {
            int e =
                nc_error_set(err, EAGAIN, "channel %s: could not start its threads", ch->ops->name);
            channels_stop(cs);
            return e;
        }
        if (!ch->ops->receive && !ch->ops->send)
            ch->connected = true;
        log_info("channel %s started", ch->ops->name);
    }
    *ret = cs;
    return 0;
}

void channels_stop(channels *cs)
{
    if (!cs)
        return;
    pthread_mutex_lock(&cs->lock);
    atomic_store(&cs->stop, true);
    pthread_cond_broadcast(&cs->cond);
    pthread_mutex_unlock(&cs->lock);
    for (size_t i = 0; i < cs->n; i++) {
        channel *ch = cs->v[i];
        if (ch->has_rx)
            pthread_join(ch->rx, NULL);
        if (ch->has_tx)
            pthread_join(ch->tx, NULL);
        ch->ops->close(ch->state);
        free(ch->last_error);
        free(ch->tries);
        free(ch);
    }
    free(cs->v);
    pthread_cond_destroy(&cs->cond);
    pthread_mutex_destroy(&cs->lock);
    free(cs);
}

void *channels_state(channels *cs, const char *name)
{
    for (size_t i = 0; cs && i < cs->n; i++)
        if (strcmp(cs->v[i]->ops->name, name) == 0)
            return cs->v[i]->state;
    return NULL;
}

static void time_or_null(struct nc_jgen *g, const char *key, int64_t ms)
{
    jgen_key(g, key);
    if (!ms) {
        jgen_null(g);
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[64]; /* "2026-12-01T10:00:00.123Z" */
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    _cleanup_free_ char *s = xasprintf("%s.%03dZ", buf, (int)(ms % 1000));
    jgen_str(g, s);
}

void channels_status_json(channels *cs, struct nc_jgen *g)
{
    jgen_key(g, "channels");
    jgen_arr_open(g);
    if (cs) {
        uint64_t now = mono_ms();
        pthread_mutex_lock(&cs->lock);
        for (size_t i = 0; i < cs->n; i++) {
            channel *ch = cs->v[i];
            jgen_obj_open(g);
            jgen_kv_str(g, "name", ch->ops->name);
            jgen_kv_bool(g, "connected", ch->connected);
            jgen_kv_bool(g, "unauthorized", ch->unauthorized);
            jgen_key(g, "last_error");
            if (ch->last_error)
                jgen_str(g, ch->last_error);
            else
                jgen_null(g);
            time_or_null(g, "last_error_at", ch->last_error_ms);
            time_or_null(g, "last_success_at", ch->last_success_ms);
            jgen_kv_int(g, "failures", ch->failures);
            jgen_kv_int(g, "retry_in_ms",
                        ch->rx_wait_until > now ? (int64_t)(ch->rx_wait_until - now) : 0);
            jgen_kv_int(g, "received", (int64_t)ch->received);
            jgen_kv_int(g, "sent", (int64_t)ch->sent);
            jgen_kv_int(g, "undeliverable", (int64_t)ch->given_up);
            jgen_obj_close(g);
        }
        pthread_mutex_unlock(&cs->lock);
    }
    jgen_arr_close(g);
}

void channels_metrics(channels *cs, strbuf *out)
{
    if (!cs)
        return;
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"nanocell_channel_connected", "gauge", "1 when the channel's last request succeeded."},
        {"nanocell_channel_errors_total", "counter", "Failed requests of a channel."},
        {"nanocell_channel_received_total", "counter", "Messages a channel stored."},
        {"nanocell_channel_sent_total", "counter", "Replies a channel delivered."},
        {"nanocell_channel_last_success_seconds", "gauge",
         "When a channel last succeeded (Unix time; 0: never)."},
        {"nanocell_channel_undeliverable_total", "counter",
         "Replies a channel gave up on (refused for good, or out of tries)."},
        {"nanocell_channel_unauthorized", "gauge",
         "1 when the other side refused the channel's credentials (a wrong token)."},
    };
    pthread_mutex_lock(&cs->lock);
    for (size_t k = 0; k < NC_ARRAY_SIZE(m); k++) {
        strbuf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help, m[k].name,
                    m[k].type);
        for (size_t i = 0; i < cs->n; i++) {
            const channel *ch = cs->v[i];
            unsigned long long v = k == 0   ? ch->connected
                                   : k == 1 ? ch->errors
                                   : k == 2 ? ch->received
                                   : k == 3 ? ch->sent
                                   : k == 4 ? (unsigned long long)(ch->last_success_ms / 1000)
                                   : k == 5 ? ch->given_up
                                            : ch->unauthorized;
            strbuf_addf(out, "%s{channel=\"%s\"} %llu\n", m[k].name, ch->ops->name, v);
        }
    }
    pthread_mutex_unlock(&cs->lock);
}
