#include "engine/attach.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/container.h"
#include "engine/hijack.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Over TLS, bytes may wait inside the TLS layer where poll() does not see them: reads drain the
 * connection into c.pending until it has nothing more (or STREAM_DRAIN_MAX is buffered, and then
 * more_hidden says so), so that what poll() misses is always counted as buffered. */
#define STREAM_DRAIN_MAX (1024 * 1024)

struct engine_attach {
    hijack_conn c;
    bool stdin_closed;
    bool more_hidden; /* TLS: the connection may hold bytes poll() does not report */
    bool eof;         /* TLS: the end of the stream was read into c.pending */
};

int engine_attach_open(engine *e, const char *id, engine_attach **ret, nc_error **err)
{
    if (!engine_valid_ref(id))
        return nc_error_set(err, EINVAL, "invalid container id '%s'", id);
    _cleanup_free_ char *request =
        xasprintf("POST %s/containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys= "
                  "HTTP/1.1\r\n"
                  "Host: localhost\r\n"
                  "User-Agent: nanocell\r\n"
                  "Content-Type: text/plain\r\n"
                  "Content-Length: 0\r\n"
                  "Connection: Upgrade\r\n"
                  "Upgrade: tcp\r\n"
                  "\r\n",
                  e->api_prefix, id);
    engine_attach *a = xnew0(engine_attach);
    int r = hijack_open_opts(&e->http_opts, request, e->http_opts.timeout_ms, &a->c, err);
    if (r < 0) {
        free(a);
        return r;
    }
    int status = a->c.head.status;
    if (status != 101 && status != 200) {
        _cleanup_strbuf_ strbuf body = STRBUF_INIT;
        hijack_read_error_body(&a->c, 2000, &body);
        r = engine_reply_error(status, body.buf, body.len, err);
        engine_attach_free(a);
        return r;
    }
    a->more_hidden = a->c.stream != NULL;
    *ret = a;
    return 0;
}

int engine_attach_fd(const engine_attach *a)
{
    return a->c.fd;
}

size_t engine_attach_buffered(const engine_attach *a)
{
    return a->c.pending.len + (a->more_hidden || a->eof ? 1 : 0);
}

/* TLS: moves everything the connection has into c.pending. */
static int drain_stream(engine_attach *a, nc_error **err)
{
    a->more_hidden = false;
    while (!a->eof) {
        if (a->c.pending.len >= STREAM_DRAIN_MAX) {
            a->more_hidden = true;
            return 0;
        }
        strbuf_grow(&a->c.pending, 16384);
        _cleanup_error_ nc_error *rerr = NULL;
        ssize_t n = hijack_recv(&a->c, a->c.pending.buf + a->c.pending.len, 16384, &rerr);
        if (n == -EAGAIN)
            return 0;
        if (n < 0)
            return nc_error_set(err, (int)-n, "read container stream: %s", nc_error_msg(rerr));
        if (n == 0)
            a->eof = true;
        a->c.pending.len += (size_t)n;
        a->c.pending.buf[a->c.pending.len] = '\0';
    }
    return 0;
}

ssize_t engine_attach_read(engine_attach *a, char *buf, size_t cap, nc_error **err)
{
    if (a->c.stream && !a->c.pending.len) {
        int r = drain_stream(a, err);
        if (r < 0 && !a->c.pending.len)
            return r;
        if (!a->c.pending.len)
            return a->eof ? 0 : -EAGAIN;
    }
    if (a->c.pending.len) {
        size_t n = a->c.pending.len < cap ? a->c.pending.len : cap;
        memcpy(buf, a->c.pending.buf, n);
        strbuf_consume(&a->c.pending, n);
        return (ssize_t)n;
    }
    _cleanup_error_ nc_error *rerr = NULL;
    ssize_t n = hijack_recv(&a->c, buf, cap, &rerr);
    if (n >= 0 || n == -EAGAIN)
        return n;
    return nc_error_set(err, (int)-n, "read container stream: %s", nc_error_msg(rerr));
}

ssize_t engine_attach_write(engine_attach *a, const char *data, size_t len, nc_error **err)
{
    if (a->stdin_closed)
        return nc_error_set(err, EPIPE, "stdin is already closed");
    _cleanup_error_ nc_error *werr = NULL;
    ssize_t n = hijack_send(&a->c, data, len, &werr);
    if (n >= 0 || n == -EAGAIN)
        return n;
    return nc_error_set(err, (int)-n, "write container stdin: %s", nc_error_msg(werr));
}

int engine_attach_write_all(engine_attach *a, const char *data, size_t len, long timeout_ms,
                            nc_error **err)
{
    uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
    while (len) {
        ssize_t n = engine_attach_write(a, data, len, err);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n != -EAGAIN)
            return (int)n;
        int w = fd_wait(a->c.fd, POLLOUT, (long)ms_until(deadline));
        if (w < 0)
            return nc_error_set(err, -w, "poll: %s", strerror(-w));
        if (w == 0)
            return nc_error_set(err, ETIMEDOUT, "container did not take its stdin within %ld ms",
                                timeout_ms);
    }
    return 0;
}

int engine_attach_close_stdin(engine_attach *a, nc_error **err)
{
    if (a->stdin_closed)
        return 0;
    _cleanup_error_ nc_error *serr = NULL;
    if (hijack_shutdown_write(&a->c, &serr) < 0)
        return nc_error_set(err, serr->code, "close container stdin: %s", nc_error_msg(serr));
    a->stdin_closed = true;
    return 0;
}

void engine_attach_free(engine_attach *a)
{
    if (!a)
        return;
    hijack_close(&a->c);
    free(a);
}
