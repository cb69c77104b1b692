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

struct engine_attach {
    hijack_conn c;
    bool stdin_closed;
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
    int r = hijack_open(e->ep.socket_path, request, e->http_opts.timeout_ms, &a->c, err);
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
    *ret = a;
    return 0;
}

int engine_attach_fd(const engine_attach *a)
{
    return a->c.fd;
}

size_t engine_attach_buffered(const engine_attach *a)
{
    return a->c.pending.len;
}

ssize_t engine_attach_read(engine_attach *a, char *buf, size_t cap, nc_error **err)
{
    if (a->c.pending.len) {
        size_t n = a->c.pending.len < cap ? a->c.pending.len : cap;
        memcpy(buf, a->c.pending.buf, n);
        strbuf_consume(&a->c.pending, n);
        return (ssize_t)n;
    }
    ssize_t n;
    do
        n = recv(a->c.fd, buf, cap, 0);
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return -EAGAIN;
    return nc_error_set(err, errno, "read container stream: %s", strerror(errno));
}

ssize_t engine_attach_write(engine_attach *a, const char *data, size_t len, nc_error **err)
{
    if (a->stdin_closed)
        return nc_error_set(err, EPIPE, "stdin is already closed");
    ssize_t n;
    do
        n = send(a->c.fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return -EAGAIN;
    return nc_error_set(err, errno, "write container stdin: %s", strerror(errno));
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
    if (shutdown(a->c.fd, SHUT_WR) < 0)
        return nc_error_set(err, errno, "close container stdin: %s", strerror(errno));
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
