/* The webhook channel: see webhook.h. */
#include "channels/webhook.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "channels/channel.h"
#include "channels/webclient.h"
#include "orch/daemon.h"
#include "util/hmac.h"
#include "util/json.h"
#include "util/log.h"
#include "util/secretfile.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SECRET_FILE_MAX 4096
#define SIG_PREFIX "sha256="

struct hook {
    char *name;
    char *group;
    char *secret;
    char *url; /* NULL: replies are only stored */
};

struct webhooks {
    struct hook *v;
    size_t n;
};

char *webhook_sign(const char *secret, int64_t timestamp, const char *body, size_t len)
{
    _cleanup_free_ char *ts = xasprintf("%" PRId64 ".", timestamp);
    size_t tl = strlen(ts);
    char *msg = xmalloc(tl + len + 1);
    memcpy(msg, ts, tl);
    if (len)
        memcpy(msg + tl, body, len);
    char hex[SHA256_HEX_SIZE];
    hmac_sha256_hex(secret, strlen(secret), msg, tl + len, hex);
    free(msg);
    return xasprintf(SIG_PREFIX "%s", hex);
}

int webhook_verify(const char *secret, const char *signature, const char *timestamp, int64_t now,
                   const char *body, size_t len, nc_error **err)
{
    if (!timestamp || !*timestamp)
        return nc_error_set(err, ETIME, "header '" WEBHOOK_TS_HEADER "' is missing");
    char *end = NULL;
    errno = 0;
    long long ts = strtoll(timestamp, &end, 10);
    if (*end || errno || timestamp[0] < '0' || timestamp[0] > '9' || strlen(timestamp) > 12)
        return nc_error_set(err, ETIME, "header '" WEBHOOK_TS_HEADER "' is not Unix seconds");
    if (ts < now - WEBHOOK_MAX_SKEW_S || ts > now + WEBHOOK_MAX_SKEW_S)
        return nc_error_set(err, ETIME,
                            "header '" WEBHOOK_TS_HEADER "' is more than %d seconds from now",
                            WEBHOOK_MAX_SKEW_S);
    if (!signature || !*signature)
        return nc_error_set(err, EACCES, "header '" WEBHOOK_SIG_HEADER "' is missing");
    _cleanup_free_ char *want = webhook_sign(secret, ts, body, len);
    size_t n = strlen(want);
    /* Lengths are public (sha256= and 64 hex digits); the bytes are compared in constant time. */
    if (strlen(signature) != n || !hmac_equal(want, signature, n))
        return nc_error_set(err, EACCES, "the signature does not match");
    return 0;
}

int webhook_parse_body(const char *body, size_t len, char **text, char **sender, nc_error **err)
{
    _cleanup_json_ nc_json *root = NULL;
    int r = json_parse(body, len, &root, err);
    if (r < 0)
        return nc_error_wrap(err, "request body");
    if (!json_is_object(root))
        return nc_error_set(err, EINVAL, "request body: expected a JSON object");
    for (size_t i = 0; i < json_object_len(root); i++) {
        const char *k = json_object_key(root, i);
        if (strcmp(k, "text") != 0 && strcmp(k, "sender") != 0)
            return nc_error_set(err, EINVAL, "unknown field '%s'", k);
    }
    const nc_json *t = json_get(root, "text"), *s = json_get(root, "sender");
    if (!json_is_string(t) || !json_string(t)[0])
        return nc_error_set(err, EINVAL, "field 'text' must be a non-empty string");
    if (s && (!json_is_string(s) || !json_string(s)[0]))
        return nc_error_set(err, EINVAL, "field 'sender' must be a non-empty string");
    *text = xstrdup(json_string(t));
    *sender = xstrdup(s ? json_string(s) : "");
    return 0;
}

static const struct hook *find_hook(const struct webhooks *w, const char *name)
{
    for (size_t i = 0; w && i < w->n; i++)
        if (strcmp(w->v[i].name, name) == 0)
            return &w->v[i];
    return NULL;
}

int webhook_receive(void *state, struct nc_daemon *d, const char *name, const char *signature,
                    const char *timestamp, const char *body, size_t len, int64_t *id,
                    nc_error **err)
{
    const struct hook *h = find_hook(state, name);
    if (!h)
        return nc_error_set(err, ENOENT, "no hook '%s'", name);
    if (len > WEBHOOK_MAX_BODY)
        return nc_error_set(err, EFBIG, "hook '%s': the body is larger than %zu bytes", name,
                            WEBHOOK_MAX_BODY);
    int r = webhook_verify(h->secret, signature, timestamp, (int64_t)time(NULL), body, len, err);
    if (r < 0)
        return nc_error_wrap(err, "hook '%s'", name);
    _cleanup_free_ char *text = NULL, *sender = NULL;
    r = webhook_parse_body(body, len, &text, &sender, err);
    if (r < 0)
        return nc_error_wrap(err, "hook '%s'", name);
    /* Kept twice the window: a request is refused by its time before its entry goes. */
    r = store_hook_seen(daemon_store(d), name, signature, 2 * WEBHOOK_MAX_SKEW_S * 1000, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *jid = xasprintf("hook:%s", name);
    _cleanup_free_ char *from = sender[0] ? xstrdup(sender) : xasprintf("hook %s", name);
    r = daemon_post_message(d, h->group, jid, from, text, id, err);
    if (r == -ENOENT)
        nc_error_wrap(err, "hook '%s'", name);
    return r;
}

/* Reads secret_file (see secretfile.h for the checks). */
static int read_secret(const char *hook, const char *path, char **ret, nc_error **err)
{
    char *buf = NULL;
    size_t n = 0;
    int r = secretfile_read(path, SECRET_FILE_MAX, &buf, &n, err);
    if (r < 0)
        return nc_error_wrap(err, "hook '%s': secret_file", hook);
    if (n < 16) {
        explicit_bzero(buf, SECRET_FILE_MAX + 1);
        free(buf);
        return nc_error_set(err, EINVAL, "hook '%s': the secret in '%s' is shorter than 16 bytes",
                            hook, path);
    }
    *ret = buf;
    return 0;
}

static void wh_close(void *state)
{
    struct webhooks *w = state;
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->v[i].name);
        free(w->v[i].group);
        explicit_bzero(w->v[i].secret, strlen(w->v[i].secret));
        free(w->v[i].secret);
        free(w->v[i].url);
    }
    free(w->v);
    free(w);
}

static int wh_open(const nc_config *cfg, struct nc_daemon *d, void **state, nc_error **err)
{
    (void)d;
    if (!cfg->nhooks)
        return 0;
    struct webhooks *w = xnew0(struct webhooks);
    w->v = xcalloc(cfg->nhooks, sizeof(*w->v));
    for (size_t i = 0; i < cfg->nhooks; i++) {
        const nc_hook_config *c = &cfg->hooks[i];
        char *secret = NULL;
        if (c->secret_file) {
            int r = read_secret(c->name, c->secret_file, &secret, err);
            if (r < 0) {
                wh_close(w);
                return r;
            }
        } else {
            secret = xstrdup(c->secret);
        }
        w->v[w->n++] = (struct hook){xstrdup(c->name), xstrdup(c->group), secret,
                                     c->url ? xstrdup(c->url) : NULL};
    }
    *state = w;
    return 0;
}

bool webhook_status_permanent(long status)
{
    return status >= 400 && status < 500 && status != 408 && status != 429;
}

static bool stop_cb(void *ud)
{
    return channel_should_stop(ud);
}

static int wh_send(void *state, channel *ch, const store_message *m, nc_error **err)
{
    const struct hook *h = find_hook(state, m->chat_jid + strlen("hook:"));
    if (!h)
        return nc_error_set(err, ENOENT, "no hook for chat '%s' (removed from the configuration?)",
                            m->chat_jid);
    if (!h->url) {
        log_debug("channel webhook: hook '%s' has no url: reply %lld is only stored", h->name,
                  (long long)m->id);
        return 0;
    }
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "hook", h->name);
    jgen_kv_int(g, "id", m->id);
    jgen_kv_int(g, "reply_to", m->reply_to);
    jgen_kv_str(g, "text", m->text);
    jgen_kv_int(g, "time", m->time_ms);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    int r = jgen_finish(g, &body, err);
    if (r < 0)
        return r;
    int64_t now = (int64_t)time(NULL);
    _cleanup_free_ char *sig = webhook_sign(h->secret, now, body.buf, body.len);
    _cleanup_strv_ char **headers = NULL;
    strv_push_take(&headers, xasprintf(WEBHOOK_TS_HEADER ": %" PRId64, now));
    strv_push_take(&headers, xasprintf(WEBHOOK_SIG_HEADER ": %s", sig));
    strv_push_take(&headers, xasprintf("X-Nanocell-Delivery: %lld", (long long)m->id));
    web_request req = {
        .method = "POST",
        .url = h->url,
        .body = body.buf,
        .body_len = body.len,
        .headers = headers,
        .timeout_ms = 30000,
        .redact = h->secret,
        .cancel = stop_cb,
        .userdata = ch,
    };
    web_response resp = {0};
    r = web_request_send(&req, &resp, err);
    if (r < 0)
        return nc_error_wrap(err, "hook '%s'", h->name);
    long status = resp.status;
    if (status / 100 != 2 && resp.retry_after) {
        long long s = strtoll(resp.retry_after, NULL, 10);
        if (s > 0)
            channel_retry_after(ch, channel_retry_after_ms_of(s));
    }
    web_response_release(&resp);
    if (status / 100 != 2)
        return nc_error_set(err, webhook_status_permanent(status) ? CHANNEL_PERMANENT : EREMOTEIO,
                            "hook '%s': the receiver answered HTTP %ld", h->name, status);
    return 0;
}

const channel_ops channel_webhook_ops = {
    .name = "webhook",
    .prefix = "hook:",
    .limit_per_chat = true, /* each hook is its own receiver */
    .open = wh_open,
    .send = wh_send,
    .close = wh_close,
};
