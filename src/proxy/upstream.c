/* The model API call: the agent's request, its credentials dropped and the configured key
 * added, to proxy.upstream over HTTPS with libcurl; the answer streams back to the agent as
 * libcurl delivers it (server-sent events arrive event by event), never held whole. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/io.h"
#include "proxy/proxy_internal.h"
#include "util/fileutil.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

NC_DEFINE_CLEANUP(struct curl_slist *, curl_slist_free_all)

/* A CA bundle file is at most this big (Debian's is about 200 KiB). */
#define CA_BUNDLE_MAX (8 * 1024 * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    (void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

int proxy_upstream_ca_blob(const char *ca_file, strbuf *out, nc_error **err)
{
    pthread_once(&curl_once, curl_init_once);
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (v && v->cainfo && *v->cainfo) {
        /* The system bundle is optional (CURLOPT_CAPATH may be how this curl finds CAs). */
        if (read_file(v->cainfo, CA_BUNDLE_MAX, out, NULL) == 0)
            strbuf_addch(out, '\n');
    }
    _cleanup_strbuf_ strbuf extra = STRBUF_INIT;
    int r = read_file(ca_file, CA_BUNDLE_MAX, &extra, err);
    if (r < 0)
        return nc_error_wrap(err, "proxy.ca_file");
    if (!strstr(strbuf_str(&extra), "-----BEGIN CERTIFICATE-----"))
        return nc_error_set(err, EINVAL, "proxy.ca_file '%s' holds no PEM certificate", ca_file);
    strbuf_add(out, extra.buf, extra.len);
    return 0;
}

struct xfer {
    proxy_conn *c;
    int status;  /* of the final response */
    strbuf head; /* the response head for the agent, built as header lines arrive */
    bool head_sent;
    bool client_gone;
    bool over_budget;
    uint64_t down;
};

/* Response fields that are the proxy's own business: framing and hop-by-hop. */
static bool drop_response_field(const char *line, size_t n)
{
    static const char *const drop[] = {
        "connection:", "keep-alive:", "transfer-encoding:", "te:", "trailer:", "upgrade:",
        "proxy-",      NULL};
    for (size_t i = 0; drop[i]; i++) {
        size_t l = strlen(drop[i]);
        if (n >= l && strncasecmp(line, drop[i], l) == 0)
            return true;
    }
    return false;
}

static int send_head(struct xfer *x)
{
    strbuf_addstr(&x->head, "Connection: close\r\n\r\n");
    x->head_sent = true;
    if (proxy_io_write(x->c->fd, x->head.buf, x->head.len, x->c->deadline) < 0) {
        x->client_gone = true;
        return -1;
    }
    return 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A status line: "HTTP/1.1 200 OK" or "HTTP/2 200". A 1xx response starts over. */
        const char *sp = memchr(data, ' ', len);
        int status = 0;
        for (const char *p = sp ? sp + 1 : data + len; p < data + len && *p >= '0' && *p <= '9';
             p++)
            status = status * 10 + (*p - '0');
        if (status < 100 || status > 999)
            return 0;
        x->status = status;
        strbuf_reset(&x->head);
        const char *reason = sp ? memchr(sp + 1, ' ', (size_t)(data + len - sp - 1)) : NULL;
        size_t rl = 0;
        if (reason) {
            reason++;
            rl = strcspn(reason, "\r\n");
        }
        strbuf_addf(&x->head, "HTTP/1.1 %d %.*s\r\n", status, (int)rl, rl ? reason : "-");
        return len;
    }
    if (len <= 2 && (len == 0 || data[0] == '\r' || data[0] == '\n')) {
        /* The end of a head: the final response's goes to the agent now, so it sees the
         * status before the first event arrives. */
        if (x->status >= 200 && !x->head_sent && send_head(x) < 0)
            return 0;
        return len;
    }
    if (!x->head_sent && !drop_response_field(data, len)) {
        size_t l = len;
        while (l && (data[l - 1] == '\r' || data[l - 1] == '\n'))
            l--;
        strbuf_add(&x->head, data, l);
        strbuf_addstr(&x->head, "\r\n");
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    if (!x->head_sent && send_head(x) < 0)
        return 0;
    x->down += len;
    if (!proxy_charge(x->c, len)) {
        x->over_budget = true;
        return 0;
    }
    if (proxy_io_write(x->c->fd, data, len, x->c->deadline) < 0) {
        x->client_gone = true;
        return 0;
    }
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    struct xfer *x = ud;
    pthread_mutex_lock(&x->c->p->lock);
    bool stop = x->c->p->stopping;
    pthread_mutex_unlock(&x->c->p->lock);
    return stop ? 1 : 0;
}

/* The agent's fields that go upstream, and the key. The key lives in the slist only for the
 * transfer; curl_slist_free_all frees it (the strings are copies in libcurl's heap). */
static struct curl_slist *build_headers(const proxy_conn *c, bool *ok)
{
    struct curl_slist *list = NULL, *t;
    _cleanup_free_ char *key = NULL;
    *ok = true;
    for (size_t i = 0; i < c->req.nheaders; i++) {
        const proxy_header *h = &c->req.headers[i];
        if (proxy_header_stripped(&c->req, h->name))
            continue;
        _cleanup_free_ char *line = xasprintf("%s: %s", h->name, h->value);
        if (!(t = curl_slist_append(list, line)))
            goto oom;
        list = t;
    }
    /* No "Expect: 100-continue" round trip; no default Accept or Content-Type invented. */
    static const char *const fixed[] = {"Expect:", NULL};
    for (size_t i = 0; fixed[i]; i++) {
        if (!(t = curl_slist_append(list, fixed[i])))
            goto oom;
        list = t;
    }
    key = xasprintf("x-api-key: %s", proxy_credential_key(c->g->cred));
    t = curl_slist_append(list, key);
    explicit_bzero(key, strlen(key));
    if (!t)
        goto oom;
    return t;
oom:
    *ok = false;
    curl_slist_free_all(list);
    return NULL;
}

/* An idle handle of the group's, reset, or a new one. */
static CURL *take_handle(proxy_conn *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->p->lock);
    if (c->g->nhandles)
        h = c->g->handles[--c->g->nhandles];
    pthread_mutex_unlock(&c->p->lock);
    if (h) {
        curl_easy_reset(h);
        return h;
    }
    return curl_easy_init();
}

static void give_handle(proxy_conn *c, CURL *h)
{
    pthread_mutex_lock(&c->p->lock);
    if (c->g->nhandles < PROXY_HANDLE_POOL && !c->p->stopping) {
        c->g->handles[c->g->nhandles++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->p->lock);
    curl_easy_cleanup(h);
}

void proxy_upstream_release(proxy_group *g)
{
    while (g->nhandles)
        curl_easy_cleanup(g->handles[--g->nhandles]);
}

void proxy_forward_model(proxy_conn *c, const char *body, size_t len)
{
    pthread_once(&curl_once, curl_init_once);
    proxy_group *g = c->g;
    c->rule = xasprintf("model %s %s", c->req.method, g->upstream_base);
    c->audit.bytes_up = len;
    if (!proxy_charge(c, c->req.head_len + len)) {
        proxy_respond_error(
            c, 429, "rate_limit_error",
            "this turn's upstream bytes are over proxy.max_upstream_bytes_per_turn");
        return;
    }
    CURL *h = take_handle(c);
    bool ok;
    _cleanup_(curl_slist_free_allp) struct curl_slist *headers = build_headers(c, &ok);
    if (!h || !ok) {
        curl_easy_cleanup(h);
        proxy_respond_error(c, 502, "api_error", "the proxy could not set up the request");
        return;
    }
    _cleanup_free_ char *url = xasprintf("%s%s", g->upstream_base, c->req.path);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct xfer x = {.c = c, .head = STRBUF_INIT};
    uint64_t left = ms_until(c->deadline);
    (void)curl_easy_setopt(h, CURLOPT_URL, url);
    (void)curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    (void)curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    (void)curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    /* One CA bundle file and no CA directory: libcurl then caches the parsed store in the
     * handle (CURLOPT_CA_CACHE_TIMEOUT), where parsing Debian's bundle costs about 70 ms. */
    const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    const char *bundle = g->ca_path                        ? g->ca_path
                         : vi && vi->cainfo && *vi->cainfo ? vi->cainfo
                                                           : NULL;
    if (bundle) {
        (void)curl_easy_setopt(h, CURLOPT_CAINFO, bundle);
        (void)curl_easy_setopt(h, CURLOPT_CAPATH, (char *)NULL);
    }
    (void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    (void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(left < 30000 ? left : 30000));
    (void)curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(left ? left : 1));
    (void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    (void)curl_easy_setopt(h, CURLOPT_USERAGENT, (char *)NULL);
    (void)curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    (void)curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    (void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    (void)curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    (void)curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    (void)curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
    (void)curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    if (strcmp(c->req.method, "GET") == 0 && !len) {
        (void)curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        (void)curl_easy_setopt(h, CURLOPT_POST, 1L);
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        if (strcmp(c->req.method, "POST") != 0)
            (void)curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->req.method);
    }
    CURLcode rc = curl_easy_perform(h);
    /* The header list and the error buffer die with this call: the handle must not keep
     * pointers to them (nor to the key) while it waits in the pool. */
    (void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    (void)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, (char *)NULL);
    give_handle(c, h);
    c->audit.bytes_down = x.down;
    if (x.head_sent) {
        c->audit.status = x.status;
        if (x.over_budget) {
            free(c->rule);
            c->rule = xstrdup("cut: over proxy.max_upstream_bytes_per_turn");
        } else if (rc != CURLE_OK && !x.client_gone) {
            free(c->rule);
            c->rule = xasprintf("upstream failed mid-response: %s",
                                *errbuf ? errbuf : curl_easy_strerror(rc));
        }
    } else if (x.over_budget) {
        proxy_respond_error(
            c, 429, "rate_limit_error",
            "this turn's upstream bytes are over proxy.max_upstream_bytes_per_turn");
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        proxy_respond_error(c, 504, "timeout_error", "the model API did not answer in time");
    } else if (rc != CURLE_OK || x.status < 200) {
        _cleanup_free_ char *why = xasprintf("model API upstream '%s': %s", g->upstream_base,
                                             *errbuf ? errbuf : curl_easy_strerror(rc));
        proxy_respond_error(c, 502, "api_error", why);
    } else {
        /* No body: the head still has to go out. */
        c->audit.status = x.status;
        (void)send_head(&x);
    }
    strbuf_release(&x.head);
}
