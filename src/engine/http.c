/* libcurl behind http.h. Every handle gets the same fixed rules (curl's docs/examples and
 * ../shared/reference/docker-api.md §2.4): a Unix socket path or one TCP address, NOSIGNAL, an
 * error buffer, http (or https only, for TLS) only, no proxy, no redirects, an empty "Expect:"
 * header, and a byte cap enforced in the write callback. Over TLS the peer is verified unless
 * the caller (endpoint.c, which refuses it by default) said otherwise. */
#include "engine/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

NC_DEFINE_CLEANUP(struct curl_slist *, curl_slist_free_all)
#define _cleanup_slist_ _cleanup_(curl_slist_free_allp)

/* State shared by the sync and async paths: what one transfer is receiving. */
struct transfer {
    http_response resp;
    size_t max_body;
    size_t header_bytes;
    http_data_cb cb;
    void *userdata;
    bool connected; /* the connection was made (or reused) and the request is going out */
    bool headers_done;
    bool over_cap;
    bool headers_over_cap;
    bool aborted_by_cb;
    char errbuf[CURL_ERROR_SIZE];
};

/* A copy of http_opts that owns its strings. */
struct owned_opts {
    http_opts o;
    char *socket_path, *tcp_host, *ca, *cert, *key, *server_name;
};

static void opts_own(struct owned_opts *w, const http_opts *o)
{
    w->o = *o;
    w->o.socket_path = w->socket_path = xstrdup_or_null(o->socket_path);
    w->o.tcp_host = w->tcp_host = xstrdup_or_null(o->tcp_host);
    w->o.tls_ca = w->ca = xstrdup_or_null(o->tls_ca);
    w->o.tls_cert = w->cert = xstrdup_or_null(o->tls_cert);
    w->o.tls_key = w->key = xstrdup_or_null(o->tls_key);
    w->o.tls_server_name = w->server_name = xstrdup_or_null(o->tls_server_name);
}

static void opts_release(struct owned_opts *w)
{
    free(w->socket_path);
    free(w->tcp_host);
    free(w->ca);
    free(w->cert);
    free(w->key);
    free(w->server_name);
    *w = (struct owned_opts){0};
}

struct http_client {
    struct owned_opts own;
    const http_opts *opts; /* &own.o */
    struct curl_slist *connect_to;
    CURL *curl;
    struct transfer t;
};

struct http_async {
    CURLM *multi;
    CURL *curl;
    struct owned_opts own;
    const http_opts *opts; /* &own.o */
    struct curl_slist *connect_to;
    struct curl_slist *headers; /* curl keeps pointers to these two until the transfer ends */
    char *body;
    bool done;
    int error;       /* once done: 0, or the failure as a negative errno */
    char *error_msg; /* the failure's message, given again by every later pump */
    struct transfer t;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        abort(); /* fails only when out of memory */
}

const char *http_response_header(const http_response *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static void headers_clear(http_response *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    r->headers = NULL;
    r->nheaders = 0;
}

void http_response_release(http_response *r)
{
    headers_clear(r);
    strbuf_release(&r->body);
    r->status = 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t len = size * nmemb;
    t->header_bytes += len;
    if (t->header_bytes > HTTP_MAX_HEADER_BYTES) {
        t->headers_over_cap = true;
        return 0;
    }
    /* A status line starts a new response (after a 1xx, or a retried request). */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        headers_clear(&t->resp);
        t->headers_done = false;
        const char *sp = memchr(data, ' ', len);
        t->resp.status = sp && data + len - sp > 3 ? strtol(sp + 1, NULL, 10) : 0;
        return len;
    }
    size_t end = len;
    while (end && (data[end - 1] == '\r' || data[end - 1] == '\n'))
        end--;
    if (end == 0) {
        /* The blank line ends a head; async_step checks that it was not a 1xx one. */
        t->headers_done = true;
        return len;
    }
    const char *colon = memchr(data, ':', end);
    if (!colon)
        return len; /* obs-fold or junk: curl has already judged the framing */
    if (t->resp.nheaders >= HTTP_MAX_HEADERS) {
        t->headers_over_cap = true;
        return 0;
    }
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1;
    while (v < data + end && (*v == ' ' || *v == '\t'))
        v++;
    t->resp.headers =
        xreallocarray(t->resp.headers, t->resp.nheaders + 1, sizeof(*t->resp.headers));
    t->resp.headers[t->resp.nheaders].name = xstrndup(data, nlen);
    t->resp.headers[t->resp.nheaders].value = xstrndup(v, (size_t)(data + end - v));
    t->resp.nheaders++;
    return len;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t len = size * nmemb;
    /* Only a successful reply is a stream; an error reply is kept for its message. */
    if (t->cb && t->resp.status >= 200 && t->resp.status <= 299) {
        if (t->cb(data, len, t->userdata) != 0) {
            t->aborted_by_cb = true;
            return 0;
        }
        return len;
    }
    if (len > t->max_body || t->resp.body.len > t->max_body - len) {
        t->over_cap = true;
        return 0;
    }
    strbuf_add(&t->resp.body, data, len);
    return len;
}

/* Called by curl once the connection is made or reused, before the request is sent: it tells a
 * connect timeout from a request timeout. */
static int on_prereq(void *userdata, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    struct transfer *t = userdata;
    t->connected = true;
    return CURL_PREREQFUNC_OK;
}

static void transfer_reset(struct transfer *t, size_t max_body, http_data_cb cb, void *userdata)
{
    http_response_release(&t->resp);
    t->max_body = max_body;
    t->header_bytes = 0;
    t->cb = cb;
    t->userdata = userdata;
    t->connected = t->headers_done = t->over_cap = t->headers_over_cap = t->aborted_by_cb = false;
    t->errbuf[0] = '\0';
}

char *http_opts_where(const http_opts *o)
{
    if (!o->tcp_host)
        return xasprintf("'%s'", o->socket_path);
    bool v6 = strchr(o->tcp_host, ':') != NULL;
    return xasprintf("%s%s%s%s:%d", o->tls ? "tls " : "tcp ", v6 ? "[" : "", o->tcp_host,
                     v6 ? "]" : "", o->tcp_port);
}

/* The scheme, host and port of every URL: the host is only the Host: header on a unix socket;
 * over TLS it is the name the certificate must carry. */
static char *url_base(const http_opts *o)
{
    if (!o->tcp_host)
        return xstrdup("http://localhost");
    const char *name = o->tls_server_name ? o->tls_server_name : o->tcp_host;
    bool v6 = strchr(name, ':') != NULL;
    return xasprintf("%s://%s%s%s:%d", o->tls ? "https" : "http", v6 ? "[" : "", name,
                     v6 ? "]" : "", o->tcp_port);
}

/* TCP and TLS options. With a server name other than the host, curl connects to the host but
 * speaks to (SNI, certificate check) the name: CURLOPT_CONNECT_TO, whose list the handle keeps
 * (*connect_to, freed with the handle). */
static int setup_tcp(CURL *h, const http_opts *o, struct curl_slist **connect_to, nc_error **err)
{
    if (curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, o->tls ? "https" : "http") != CURLE_OK)
        return nc_error_set(err, ENOMEM, "configure http handle");
    if (o->tls) {
        (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o->tls_verify ? 1L : 0L);
        (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o->tls_verify ? 2L : 0L);
        (void)curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        if ((o->tls_ca && curl_easy_setopt(h, CURLOPT_CAINFO, o->tls_ca) != CURLE_OK) ||
            (o->tls_cert && curl_easy_setopt(h, CURLOPT_SSLCERT, o->tls_cert) != CURLE_OK) ||
            (o->tls_key && curl_easy_setopt(h, CURLOPT_SSLKEY, o->tls_key) != CURLE_OK))
            return nc_error_set(err, ENOMEM, "configure TLS");
    }
    if (o->tls_server_name && strcmp(o->tls_server_name, o->tcp_host) != 0) {
        bool v6 = strchr(o->tcp_host, ':') != NULL;
        _cleanup_free_ char *rule =
            xasprintf("%s:%d:%s%s%s:%d", o->tls_server_name, o->tcp_port, v6 ? "[" : "",
                      o->tcp_host, v6 ? "]" : "", o->tcp_port);
        curl_slist_free_all(*connect_to);
        *connect_to = curl_slist_append(NULL, rule);
        if (!*connect_to)
            abort(); /* fails only when out of memory */
        (void)curl_easy_setopt(h, CURLOPT_CONNECT_TO, *connect_to);
    }
    return 0;
}

/* Options every handle carries. String options are copied by curl and can fail on OOM only. */
static int setup_handle(CURL *h, const http_opts *o, struct transfer *t,
                        struct curl_slist **connect_to, nc_error **err)
{
    if (o->tcp_host) {
        int r = setup_tcp(h, o, connect_to, err);
        if (r < 0)
            return r;
    } else if (curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, o->socket_path) != CURLE_OK ||
               curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK) {
        return nc_error_set(err, ENOMEM, "configure http handle for '%s'", o->socket_path);
    }
    if (curl_easy_setopt(h, CURLOPT_NOPROXY, "*") != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_USERAGENT, "nanocell") != CURLE_OK)
        return nc_error_set(err, ENOMEM, "configure http handle");
    (void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->errbuf);
    (void)curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    (void)curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    (void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
    (void)curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    (void)curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
    (void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
    (void)curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
    (void)curl_easy_setopt(h, CURLOPT_PREREQDATA, t);
    return 0;
}

/* Per-request options. body may be NULL. The URL host is only the Host: header. */
static int setup_request(CURL *h, const http_opts *o, const char *method, const char *target,
                         const char *body, size_t body_len, struct curl_slist *headers,
                         nc_error **err)
{
    _cleanup_free_ char *base = url_base(o);
    _cleanup_free_ char *url = xasprintf("%s%s", base, target);
    if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK)
        return nc_error_set(err, EINVAL, "invalid request target '%s'", target);
    (void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    (void)curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, (char *)NULL);
    (void)curl_easy_setopt(h, CURLOPT_HTTPGET, 1L); /* also clears NOBODY and POST */
    if (strcmp(method, "GET") == 0)
        return 0;
    if (strcmp(method, "HEAD") == 0) {
        (void)curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        return 0;
    }
    if (strcmp(method, "POST") == 0 || body) {
        /* Always give curl the body and its size: without them it reads this process's stdin
         * and sends it chunked, which the engine rejects. */
        (void)curl_easy_setopt(h, CURLOPT_POST, 1L);
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
    }
    if (strcmp(method, "POST") != 0 &&
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK)
        return nc_error_set(err, ENOMEM, "set request method '%s'", method);
    return 0;
}

/* Names the limit that ended a transfer with CURLE_OPERATION_TIMEDOUT. timeout_ms is the
 * whole-request limit curl was given (CURLOPT_TIMEOUT_MS), 0 for none; it also bounds the
 * connect when it is the shorter one. */
static int timeout_error(const struct transfer *t, const http_opts *o, long timeout_ms,
                         const char *detail, nc_error **err)
{
    bool by_connect =
        o->connect_timeout_ms > 0 && (timeout_ms <= 0 || o->connect_timeout_ms <= timeout_ms);
    _cleanup_free_ char *where = http_opts_where(o);
    if (!t->connected && (by_connect || timeout_ms > 0))
        return nc_error_set(err, ETIMEDOUT,
                            "engine at %s did not accept a connection within %ld ms (%s "
                            "timeout): %s",
                            where, by_connect ? o->connect_timeout_ms : timeout_ms,
                            by_connect ? "connect" : "request", detail);
    if (t->connected && timeout_ms > 0)
        return nc_error_set(err, ETIMEDOUT,
                            "engine did not answer within %ld ms (request timeout): %s", timeout_ms,
                            detail);
    return nc_error_set(err, ETIMEDOUT, "engine request timed out: %s", detail);
}

/* timeout_ms: as timeout_error. */
static int map_curl_error(CURLcode rc, const struct transfer *t, const http_opts *o,
                          long timeout_ms, nc_error **err)
{
    const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
    _cleanup_free_ char *where = http_opts_where(o);
    switch (rc) {
    case CURLE_OK:
        return 0;
    case CURLE_COULDNT_CONNECT:
        if (o->tcp_host)
            return nc_error_set(err, ECONNREFUSED, "cannot connect to engine at %s: %s", where,
                                detail);
        return nc_error_set(err, ECONNREFUSED, "cannot connect to engine socket %s: %s", where,
                            detail);
    case CURLE_COULDNT_RESOLVE_HOST:
        return nc_error_set(err, EHOSTUNREACH, "cannot resolve engine host %s: %s", where, detail);
    case CURLE_PEER_FAILED_VERIFICATION:
        return nc_error_set(err, EACCES,
                            "engine at %s did not prove who it is (certificate not signed by the "
                            "CA given, or for another name): %s",
                            where, detail);
    case CURLE_SSL_CONNECT_ERROR:
        return nc_error_set(err, EPROTO, "TLS handshake with engine at %s failed: %s", where,
                            detail);
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
        return nc_error_set(err, EINVAL, "TLS files for engine at %s: %s", where, detail);
    case CURLE_OPERATION_TIMEDOUT:
        return timeout_error(t, o, timeout_ms, detail, err);
    case CURLE_GOT_NOTHING:
        return nc_error_set(err, ECONNRESET, "engine closed the connection without a reply");
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return nc_error_set(err, ECONNRESET, "engine hung up mid-reply: %s", detail);
    case CURLE_WRITE_ERROR:
        if (t->over_cap)
            return nc_error_set(err, EFBIG, "engine reply body exceeds the %zu-byte limit",
                                t->max_body);
        if (t->headers_over_cap)
            return nc_error_set(err, EPROTO, "engine reply headers exceed %d bytes or %d lines",
                                HTTP_MAX_HEADER_BYTES, HTTP_MAX_HEADERS);
        if (t->aborted_by_cb)
            return nc_error_set(err, ECANCELED, "stream stopped by its reader");
        return nc_error_set(err, EIO, "write reply: %s", detail);
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_HTTP2:
        return nc_error_set(err, EPROTO, "malformed reply from engine: %s", detail);
    case CURLE_OUT_OF_MEMORY:
        return nc_error_set(err, ENOMEM, "out of memory in libcurl");
    default:
        return nc_error_set(err, EIO, "engine request failed: %s", detail);
    }
}

http_client *http_client_new(const http_opts *opts)
{
    pthread_once(&curl_once, curl_init_once);
    http_client *c = xnew0(http_client);
    opts_own(&c->own, opts);
    c->opts = &c->own.o;
    return c;
}

void http_client_free(http_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->connect_to);
    http_response_release(&c->t.resp);
    opts_release(&c->own);
    free(c);
}

const http_opts *http_client_opts(const http_client *c)
{
    return c->opts;
}

static struct curl_slist *request_headers(const char *content_type)
{
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (h && content_type) {
        _cleanup_free_ char *ct = xasprintf("Content-Type: %s", content_type);
        struct curl_slist *n = curl_slist_append(h, ct);
        if (!n) {
            curl_slist_free_all(h);
            return NULL;
        }
        h = n;
    }
    if (!h)
        abort(); /* curl_slist_append fails only when out of memory */
    return h;
}

int http_request(http_client *c, const char *method, const char *target, const char *content_type,
                 const char *body, size_t body_len, http_response *resp, nc_error **err)
{
    if (!c->curl) {
        c->curl = curl_easy_init();
        if (!c->curl)
            return nc_error_set(err, ENOMEM, "create http handle");
        int r = setup_handle(c->curl, c->opts, &c->t, &c->connect_to, err);
        if (r < 0) {
            curl_easy_cleanup(TAKE_PTR(c->curl));
            return r;
        }
    }
    transfer_reset(&c->t, c->opts->max_body, NULL, NULL);
    _cleanup_slist_ struct curl_slist *headers = request_headers(body ? content_type : NULL);
    int r = setup_request(c->curl, c->opts, method, target, body, body_len, headers, err);
    if (r < 0)
        return r;
    (void)curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)c->opts->timeout_ms);
    CURLcode rc = curl_easy_perform(c->curl);
    /* The handle keeps a pointer to the header list; drop it before the list goes. */
    (void)curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    r = map_curl_error(rc, &c->t, c->opts, c->opts->timeout_ms, err);
    if (r < 0) {
        http_response_release(&c->t.resp);
        return r;
    }
    long status = 0;
    (void)curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    c->t.resp.status = status;
    *resp = c->t.resp;
    c->t.resp = (http_response)HTTP_RESPONSE_INIT;
    return 0;
}

/* --- async --- */

/* Records the outcome of the finished transfer, once: a pump after the end must give the same
 * answer, never "complete" after a failure. */
static void async_finish(http_async *a, CURLcode rc)
{
    if (a->done)
        return;
    a->done = true;
    _cleanup_error_ nc_error *derr = NULL;
    /* No CURLOPT_TIMEOUT here: curl only enforces the connect timeout. */
    a->error = map_curl_error(rc, &a->t, a->opts, 0, &derr);
    if (a->error < 0) {
        a->error_msg = xstrdup(derr->msg);
        return;
    }
    long status = 0;
    (void)curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
    a->t.resp.status = status;
}

/* 1 after success, else the failure, as often as asked. */
static int async_outcome(const http_async *a, nc_error **err)
{
    if (a->error < 0)
        return nc_error_set(err, -a->error, "%s", a->error_msg);
    return 1;
}

static int async_step(http_async *a, long timeout_ms, bool until_headers, nc_error **err)
{
    uint64_t deadline = mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(a->multi, &running);
        if (mc != CURLM_OK)
            return nc_error_set(err, EIO, "drive engine request: %s", curl_multi_strerror(mc));
        int left;
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(a->multi, &left)))
            if (msg->msg == CURLMSG_DONE)
                async_finish(a, msg->data.result);
        if (a->done)
            return async_outcome(a, err);
        if (until_headers && a->t.headers_done) {
            long status = 0;
            (void)curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
            if (status >= 200) {
                a->t.resp.status = status;
                return 0;
            }
            a->t.headers_done = false; /* a 1xx interim head */
        }
        uint64_t now = mono_ms();
        if (now >= deadline)
            return until_headers
                       ? nc_error_set(err, ETIMEDOUT, "engine sent no reply headers within %ld ms",
                                      timeout_ms)
                       : 0;
        uint64_t wait = deadline - now;
        mc = curl_multi_poll(a->multi, NULL, 0, (int)(wait > 1000 ? 1000 : wait), NULL);
        if (mc != CURLM_OK)
            return nc_error_set(err, EIO, "wait for engine: %s", curl_multi_strerror(mc));
    }
}

int http_async_start(const http_opts *opts, const char *method, const char *target,
                     long header_timeout_ms, http_data_cb cb, void *userdata, http_async **ret,
                     nc_error **err)
{
    return http_async_start_body(opts, method, target, NULL, NULL, 0, header_timeout_ms, cb,
                                 userdata, ret, err);
}

int http_async_start_body(const http_opts *opts, const char *method, const char *target,
                          const char *content_type, const char *body, size_t body_len,
                          long header_timeout_ms, http_data_cb cb, void *userdata, http_async **ret,
                          nc_error **err)
{
    pthread_once(&curl_once, curl_init_once);
    _cleanup_(http_async_freep) http_async *a = xnew0(http_async);
    opts_own(&a->own, opts);
    a->opts = &a->own.o;
    a->multi = curl_multi_init();
    a->curl = curl_easy_init();
    if (!a->multi || !a->curl)
        return nc_error_set(err, ENOMEM, "create http handle");
    transfer_reset(&a->t, opts->max_body, cb, userdata);
    int r = setup_handle(a->curl, a->opts, &a->t, &a->connect_to, err);
    if (r < 0)
        return r;
    if (body) {
        a->body = xmalloc(body_len + 1);
        memcpy(a->body, body, body_len);
        a->body[body_len] = '\0';
        a->headers = request_headers(content_type);
    }
    r = setup_request(a->curl, a->opts, method, target, a->body, body_len, a->headers, err);
    if (r < 0)
        return r;
    /* No overall timeout: a wait or a stream lasts as long as the container does. The caller
     * bounds each pump instead. */
    if (curl_multi_add_handle(a->multi, a->curl) != CURLM_OK)
        return nc_error_set(err, ENOMEM, "register http handle");
    r = async_step(a, header_timeout_ms, true, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(a);
    return 0;
}

int http_async_pump(http_async *a, long timeout_ms, nc_error **err)
{
    if (a->done)
        return async_outcome(a, err);
    return async_step(a, timeout_ms, false, err);
}

const http_response *http_async_response(const http_async *a)
{
    return &a->t.resp;
}

void http_async_free(http_async *a)
{
    if (!a)
        return;
    if (a->multi && a->curl)
        curl_multi_remove_handle(a->multi, a->curl);
    if (a->curl)
        curl_easy_cleanup(a->curl);
    if (a->multi)
        curl_multi_cleanup(a->multi);
    curl_slist_free_all(a->headers);
    curl_slist_free_all(a->connect_to);
    opts_release(&a->own);
    free(a->body);
    http_response_release(&a->t.resp);
    free(a->error_msg);
    free(a);
}

/* --- bare streams --- */

struct http_stream {
    CURL *curl;
    struct owned_opts own;
    struct curl_slist *connect_to;
    struct transfer t;
    int fd;
};

int http_stream_open(const http_opts *opts, long timeout_ms, http_stream **ret, nc_error **err)
{
    pthread_once(&curl_once, curl_init_once);
    _cleanup_(http_stream_freep) http_stream *s = xnew0(http_stream);
    s->fd = -1;
    opts_own(&s->own, opts);
    s->own.o.connect_timeout_ms = timeout_ms;
    const http_opts *o = &s->own.o;
    s->curl = curl_easy_init();
    if (!s->curl)
        return nc_error_set(err, ENOMEM, "create http handle");
    transfer_reset(&s->t, o->max_body, NULL, NULL);
    int r = setup_handle(s->curl, o, &s->t, &s->connect_to, err);
    if (r == 0)
        r = setup_request(s->curl, o, "GET", "/", NULL, 0, NULL, err);
    if (r < 0)
        return r;
    (void)curl_easy_setopt(s->curl, CURLOPT_CONNECT_ONLY, 1L);
    (void)curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    CURLcode rc = curl_easy_perform(s->curl);
    r = map_curl_error(rc, &s->t, o, timeout_ms, err);
    if (r < 0)
        return r;
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(s->curl, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD)
        return nc_error_set(err, EIO, "no socket for the engine connection");
    s->fd = (int)fd;
    *ret = TAKE_PTR(s);
    return 0;
}

int http_stream_fd(const http_stream *s)
{
    return s->fd;
}

ssize_t http_stream_send(http_stream *s, const char *data, size_t len, nc_error **err)
{
    size_t n = 0;
    CURLcode rc = curl_easy_send(s->curl, data, len, &n);
    if (rc == CURLE_AGAIN)
        return -EAGAIN;
    if (rc != CURLE_OK)
        return nc_error_set(err, rc == CURLE_SEND_ERROR ? EPIPE : EIO, "send to engine: %s",
                            curl_easy_strerror(rc));
    return (ssize_t)n;
}

ssize_t http_stream_recv(http_stream *s, char *buf, size_t cap, nc_error **err)
{
    size_t n = 0;
    CURLcode rc = curl_easy_recv(s->curl, buf, cap, &n);
    if (rc == CURLE_AGAIN)
        return -EAGAIN;
    if (rc != CURLE_OK)
        return nc_error_set(err, ECONNRESET, "read from engine: %s", curl_easy_strerror(rc));
    return (ssize_t)n;
}

int http_stream_shutdown_write(http_stream *s, nc_error **err)
{
    if (shutdown(s->fd, SHUT_WR) < 0)
        return nc_error_set(err, errno, "half-close the engine connection: %s", strerror(errno));
    return 0;
}

void http_stream_free(http_stream *s)
{
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    curl_slist_free_all(s->connect_to);
    http_response_release(&s->t.resp);
    opts_release(&s->own);
    free(s);
}
