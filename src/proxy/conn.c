/* One client connection: read the head within proxy.header_timeout, apply the limits, and hand
 * the request to the model forwarder or the egress paths. Exactly one audit line per
 * connection that sent anything. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/io.h"
#include "proxy/proxy_internal.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 504:
        return "Gateway Timeout";
    default:
        return "Error";
    }
}

void proxy_respond_error(proxy_conn *c, int status, const char *type, const char *message)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "type", "error");
    jgen_key(g, "error");
    jgen_obj_open(g);
    jgen_kv_str(g, "type", type);
    jgen_kv_str(g, "message", message);
    jgen_obj_close(g);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    if (jgen_finish(g, &body, NULL) < 0)
        strbuf_addstr(&body, "{}");
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    strbuf_addf(&out,
                "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                "Connection: close\r\nx-nanocell-proxy: %s\r\n\r\n",
                status, reason_phrase(status), body.len, type);
    strbuf_add(&out, body.buf, body.len);
    uint64_t dl = deadline_after(mono_ms(), 2000);
    (void)proxy_io_write(c->fd, out.buf, out.len, dl);
    c->audit.status = status;
    if (!c->rule)
        c->rule = xstrdup(message);
}

bool proxy_charge(proxy_conn *c, uint64_t n)
{
    pthread_mutex_lock(&c->p->lock);
    c->g->upstream_bytes += n;
    bool ok = c->g->upstream_bytes <= c->g->settings->max_upstream_bytes_per_turn;
    pthread_mutex_unlock(&c->p->lock);
    return ok;
}

/* Reads until the head is complete. Returns 0, or responds and returns -1. */
static int read_head(proxy_conn *c)
{
    uint64_t head_deadline = deadline_after(c->start_ms, c->g->settings->header_timeout_ms);
    for (;;) {
        _cleanup_error_ nc_error *err = NULL;
        if (c->in.len) {
            int r = proxy_request_parse(c->in.buf, c->in.len, &c->req, &err);
            if (r == 0) {
                c->have_req = true;
                return 0;
            }
            if (r == -EMSGSIZE) {
                proxy_respond_error(c, 431, "invalid_request_error", nc_error_msg(err));
                return -1;
            }
            if (r == -ENOSYS) {
                proxy_respond_error(c, 501, "invalid_request_error", nc_error_msg(err));
                return -1;
            }
            if (r != -EAGAIN) {
                proxy_respond_error(c, 400, "invalid_request_error", nc_error_msg(err));
                return -1;
            }
        }
        strbuf_grow(&c->in, 4096);
        size_t room =
            PROXY_MAX_HEAD + 1 - (c->in.len < PROXY_MAX_HEAD ? c->in.len : PROXY_MAX_HEAD);
        if (room > 4096)
            room = 4096;
        ssize_t n = proxy_io_read(c->fd, c->in.buf + c->in.len, room, head_deadline);
        if (n == -ETIMEDOUT) {
            proxy_respond_error(c, 408, "timeout_error",
                                "no complete request head within proxy.header_timeout");
            return -1;
        }
        if (n <= 0) {
            c->audit.status = 0;
            c->rule = xstrdup(n == 0 ? "client closed before a complete head"
                                     : "client connection failed");
            return -1;
        }
        c->in.len += (size_t)n;
        c->in.buf[c->in.len] = '\0';
    }
}

/* Reads the body into c->in after the head (Content-Length framing only). Returns 0, or
 * responds and returns -1. */
static int read_body(proxy_conn *c)
{
    uint64_t want = c->req.has_length ? c->req.content_length : 0;
    while (c->in.len - c->req.head_len < want) {
        size_t left = (size_t)(want - (c->in.len - c->req.head_len));
        strbuf_grow(&c->in, left < 65536 ? left : 65536);
        ssize_t n =
            proxy_io_read(c->fd, c->in.buf + c->in.len, left < 65536 ? left : 65536, c->deadline);
        if (n == -ETIMEDOUT) {
            proxy_respond_error(c, 408, "timeout_error",
                                "request body not received within proxy.request_timeout");
            return -1;
        }
        if (n <= 0) {
            c->rule = xstrdup("client closed during the body");
            return -1;
        }
        c->in.len += (size_t)n;
    }
    return 0;
}

/* Reads and decodes a chunked body into c->body, chunk by chunk as it arrives (each byte is
 * decoded once, however the body trickles in). The decoded body is held to
 * proxy.max_request_bytes, less the head. Returns 0, or responds and returns -1. */
static int read_chunked(proxy_conn *c)
{
    const proxy_settings *s = c->g->settings;
    size_t done = c->req.head_len; /* c->in up to here is decoded */
    for (;;) {
        _cleanup_error_ nc_error *err = NULL;
        size_t used = 0;
        int r = proxy_chunked_decode(c->in.buf + done, c->in.len - done,
                                     s->max_request_bytes - c->req.head_len, &c->body, &used, &err);
        done += used;
        if (r == 0)
            return 0;
        if (r == -EMSGSIZE) {
            proxy_respond_error(c, 429, "request_too_large", nc_error_msg(err));
            return -1;
        }
        if (r != -EAGAIN) {
            proxy_respond_error(c, 400, "invalid_request_error", nc_error_msg(err));
            return -1;
        }
        /* What is not decoded yet is one partial chunk: it cannot be larger than the limit
         * allows, plus its size line. */
        if (c->in.len - done > s->max_request_bytes + 4096) {
            proxy_respond_error(c, 429, "request_too_large",
                                "chunked request over proxy.max_request_bytes");
            return -1;
        }
        strbuf_grow(&c->in, 65536);
        ssize_t n = proxy_io_read(c->fd, c->in.buf + c->in.len, 65536, c->deadline);
        if (n == -ETIMEDOUT) {
            proxy_respond_error(c, 408, "timeout_error",
                                "request body not received within proxy.request_timeout");
            return -1;
        }
        if (n <= 0) {
            c->rule = xstrdup("client closed during the body");
            return -1;
        }
        c->in.len += (size_t)n;
        c->in.buf[c->in.len] = '\0';
    }
}

static void handle(proxy_conn *c)
{
    if (read_head(c) < 0)
        return;
    proxy_request *r = &c->req;
    c->audit.method = r->method;
    c->audit.path = r->path;
    c->audit.kind = r->form == PROXY_FORM_ORIGIN      ? "model"
                    : r->form == PROXY_FORM_AUTHORITY ? "connect"
                                                      : "http";
    if (r->form == PROXY_FORM_ORIGIN) {
        c->audit.host = c->g->upstream.host;
        c->audit.port = c->g->upstream.port;
    } else {
        c->audit.host = r->host;
        c->audit.port = r->port;
    }
    const proxy_settings *s = c->g->settings;
    if (r->chunked && r->form == PROXY_FORM_AUTHORITY) {
        proxy_respond_error(c, 400, "invalid_request_error", "CONNECT with a body");
        return;
    }
    uint64_t size = r->head_len + (r->has_length ? r->content_length : 0);
    if (size > s->max_request_bytes) {
        _cleanup_free_ char *why =
            xasprintf("request of %llu bytes is over proxy.max_request_bytes (%llu)",
                      (unsigned long long)size, (unsigned long long)s->max_request_bytes);
        proxy_respond_error(c, 429, "request_too_large", why);
        return;
    }
    pthread_mutex_lock(&c->p->lock);
    bool over = ++c->g->requests > s->max_requests_per_turn;
    bool budget = c->g->upstream_bytes >= s->max_upstream_bytes_per_turn;
    pthread_mutex_unlock(&c->p->lock);
    if (over) {
        proxy_respond_error(c, 429, "rate_limit_error",
                            "this turn's requests are over proxy.max_requests_per_turn");
        return;
    }
    if (budget) {
        proxy_respond_error(
            c, 429, "rate_limit_error",
            "this turn's upstream bytes are over proxy.max_upstream_bytes_per_turn");
        return;
    }
    if (r->form == PROXY_FORM_AUTHORITY) {
        proxy_tunnel(c);
        return;
    }
    if ((r->chunked ? read_chunked(c) : read_body(c)) < 0)
        return;
    const char *body = r->chunked ? strbuf_str(&c->body) : c->in.buf + r->head_len;
    size_t len = r->chunked ? c->body.len : (size_t)(r->has_length ? r->content_length : 0);
    if (r->form == PROXY_FORM_ABSOLUTE) {
        proxy_plain_http(c, body, len);
        return;
    }
    const char *why = NULL;
    if (!egress_model_allows(c->g->policy, r->method, r->path, &why)) {
        _cleanup_free_ char *msg = xasprintf("%s: %s %s", why, r->method, r->path);
        c->rule = xasprintf("model: %s", why);
        proxy_respond_error(c, 403, "permission_error", msg);
        return;
    }
    proxy_forward_model(c, body, len);
}

void proxy_conn_run(proxy_conn *c)
{
    c->start_ms = mono_ms();
    c->start_wall_ms = wall_ms();
    c->deadline = deadline_after(c->start_ms, c->g->settings->request_timeout_ms);
    pthread_mutex_lock(&c->p->lock);
    _cleanup_free_ char *run_id = c->g->run_id ? xstrdup(c->g->run_id) : NULL;
    pthread_mutex_unlock(&c->p->lock);
    c->audit = (proxy_audit_entry){
        .time_ms = c->start_wall_ms, .group = c->g->name, .run_id = run_id, .kind = "-"};
    handle(c);
    if (c->host)
        c->audit.host = c->host;
    c->audit.rule = c->rule;
    c->audit.latency_ms = mono_ms() - c->start_ms;
    /* A connection that sent nothing at all (a probe, a closed socket) leaves no line. */
    if (c->in.len || c->audit.status)
        proxy_audit_write(c->p->audit, &c->audit);
    proxy_request_release(&c->req);
    strbuf_release(&c->in);
    strbuf_release(&c->body);
    free(c->rule);
    free(c->host);
}
