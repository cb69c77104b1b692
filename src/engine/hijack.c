#include "engine/hijack.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

void http_head_release(http_head *h)
{
    for (size_t i = 0; i < h->nheaders; i++) {
        free(h->headers[i].name);
        free(h->headers[i].value);
    }
    free(h->headers);
    *h = (http_head){0};
}

const char *http_head_header(const http_head *h, const char *name)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (strcasecmp(h->headers[i].name, name) == 0)
            return h->headers[i].value;
    return NULL;
}

static int parse_status_line(const char *line, size_t n, int *status, nc_error **err)
{
    /* "HTTP/1.x NNN" then optionally " reason". */
    if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
        line[8] != ' ')
        return nc_error_set(err, EPROTO, "malformed status line in engine reply");
    int s = 0;
    for (int i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9')
            return nc_error_set(err, EPROTO, "malformed status code in engine reply");
        s = s * 10 + (line[i] - '0');
    }
    if (s < 100 || (n > 12 && line[12] != ' '))
        return nc_error_set(err, EPROTO, "malformed status code in engine reply");
    for (size_t i = 13; i < n; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
            return nc_error_set(err, EPROTO, "control character in engine reply status line");
    *status = s;
    return 0;
}

static int parse_header_line(const char *line, size_t n, http_head *h, nc_error **err)
{
    const char *colon = memchr(line, ':', n);
    if (!colon || colon == line)
        return nc_error_set(err, EPROTO, "malformed header line in engine reply");
    for (const char *p = line; p < colon; p++)
        if (!is_tchar((unsigned char)*p))
            return nc_error_set(err, EPROTO, "invalid character in engine reply header name");
    const char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (const char *p = v; p < end; p++)
        if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
            return nc_error_set(err, EPROTO, "control character in engine reply header value");
    if (h->nheaders >= HTTP_MAX_HEADERS)
        return nc_error_set(err, EPROTO, "engine reply has more than %d headers", HTTP_MAX_HEADERS);
    h->headers = xreallocarray(h->headers, h->nheaders + 1, sizeof(*h->headers));
    h->headers[h->nheaders].name = xstrndup(line, (size_t)(colon - line));
    h->headers[h->nheaders].value = xstrndup(v, (size_t)(end - v));
    h->nheaders++;
    return 0;
}

ssize_t http_head_parse(const char *buf, size_t len, http_head *out, nc_error **err)
{
    http_head h = {0};
    size_t pos = 0;
    bool first = true;
    int r;
    for (;;) {
        const char *nl = pos < len ? memchr(buf + pos, '\n', len - pos) : NULL;
        if (!nl) {
            http_head_release(&h);
            if (len > HIJACK_MAX_HEAD)
                return nc_error_set(err, EPROTO, "engine reply head exceeds %d bytes",
                                    HIJACK_MAX_HEAD);
            return 0;
        }
        size_t line_end = (size_t)(nl - buf);
        size_t n = line_end - pos;
        if (n && buf[line_end - 1] == '\r')
            n--;
        if (line_end + 1 > HIJACK_MAX_HEAD) {
            http_head_release(&h);
            return nc_error_set(err, EPROTO, "engine reply head exceeds %d bytes", HIJACK_MAX_HEAD);
        }
        const char *line = buf + pos;
        if (memchr(line, '\r', n) || memchr(line, '\0', n)) {
            http_head_release(&h);
            return nc_error_set(err, EPROTO, "stray CR or NUL in engine reply head");
        }
        pos = line_end + 1;
        if (first) {
            r = parse_status_line(line, n, &h.status, err);
            first = false;
        } else if (n == 0) {
            *out = h;
            return (ssize_t)pos;
        } else {
            r = parse_header_line(line, n, &h, err);
        }
        if (r < 0) {
            http_head_release(&h);
            return r;
        }
    }
}

int fd_wait(int fd, short events, long timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    uint64_t deadline = timeout_ms < 0 ? 0 : mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        long t = timeout_ms < 0 ? -1 : (long)ms_until(deadline);
        int n = poll(&p, 1, t > 0x7fffffff ? 0x7fffffff : (int)t);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

static int connect_unix(const char *path, long timeout_ms, int *ret_fd, nc_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path))
        return nc_error_set(err, ENAMETOOLONG, "socket path '%s' is too long", path);
    memcpy(sa.sun_path, path, len + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return nc_error_set(err, errno, "socket: %s", strerror(errno));
    /* A unix connect only blocks while the listener's backlog is full; SO_SNDTIMEO bounds it.
     * Running out of that time fails with EAGAIN on a unix socket (EINPROGRESS elsewhere), and
     * a signal fails it with EINTR whatever SA_RESTART says. */
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno == EAGAIN || errno == EINPROGRESS)
            return nc_error_set(err, ETIMEDOUT,
                                "engine at '%s' is not accepting connections within %ld ms "
                                "(listen backlog full?)",
                                path, timeout_ms);
        if (errno == EINTR)
            return nc_error_set(err, EINTR,
                                "connect to engine socket '%s': interrupted by a signal", path);
        return nc_error_set(err, errno, "cannot connect to engine socket '%s': %s", path,
                            strerror(errno));
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return nc_error_set(err, errno, "set socket non-blocking: %s", strerror(errno));
    *ret_fd = TAKE_FD(fd);
    return 0;
}

ssize_t hijack_recv(hijack_conn *c, char *buf, size_t cap, nc_error **err)
{
    if (c->stream)
        return http_stream_recv(c->stream, buf, cap, err);
    ssize_t n;
    do
        n = recv(c->fd, buf, cap, 0);
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return -EAGAIN;
    return nc_error_set(err, errno, "%s", strerror(errno));
}

ssize_t hijack_send(hijack_conn *c, const char *data, size_t len, nc_error **err)
{
    if (c->stream)
        return http_stream_send(c->stream, data, len, err);
    ssize_t n;
    do
        n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return -EAGAIN;
    return nc_error_set(err, errno, "%s", strerror(errno));
}

int hijack_shutdown_write(hijack_conn *c, nc_error **err)
{
    if (c->stream)
        return http_stream_shutdown_write(c->stream, err);
    if (shutdown(c->fd, SHUT_WR) < 0)
        return nc_error_set(err, errno, "%s", strerror(errno));
    return 0;
}

static int send_all(hijack_conn *c, const char *data, size_t len, uint64_t deadline, nc_error **err)
{
    while (len) {
        _cleanup_error_ nc_error *serr = NULL;
        ssize_t n = hijack_send(c, data, len, &serr);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && n != -EAGAIN)
            return nc_error_set(err, (int)-n, "send to engine: %s", nc_error_msg(serr));
        int w = fd_wait(c->fd, POLLOUT, (long)ms_until(deadline));
        if (w < 0)
            return nc_error_set(err, -w, "poll: %s", strerror(-w));
        if (w == 0)
            return nc_error_set(err, ETIMEDOUT, "engine did not accept the request in time");
    }
    return 0;
}

/* Receives what is available into sb (at most cap bytes in sb in total). Returns bytes read,
 * 0 at EOF, -EAGAIN when nothing is ready. */
static ssize_t recv_some(hijack_conn *c, strbuf *sb, size_t cap)
{
    size_t room = cap > sb->len ? cap - sb->len : 0;
    if (room > 16384)
        room = 16384;
    if (!room)
        return -ENOBUFS;
    strbuf_grow(sb, room);
    _cleanup_error_ nc_error *rerr = NULL;
    ssize_t n = hijack_recv(c, sb->buf + sb->len, room, &rerr);
    if (n < 0)
        return n;
    sb->len += (size_t)n;
    sb->buf[sb->len] = '\0';
    return n;
}

/* Sends the request and reads the reply head on a connected c. */
static int exchange(hijack_conn *c, const char *request, long timeout_ms, uint64_t deadline,
                    nc_error **err)
{
    int r = send_all(c, request, strlen(request), deadline, err);
    if (r < 0)
        goto fail;
    for (;;) {
        ssize_t n = recv_some(c, &c->pending, HIJACK_MAX_HEAD + 1);
        if (n == 0) {
            r = nc_error_set(err, ECONNRESET, "engine closed the connection before replying");
            goto fail;
        }
        if (n < 0 && n != -EAGAIN) {
            r = nc_error_set(err, (int)-n, "read engine reply: %s", strerror((int)-n));
            goto fail;
        }
        if (n > 0) {
            ssize_t used = http_head_parse(c->pending.buf, c->pending.len, &c->head, err);
            if (used < 0) {
                r = (int)used;
                goto fail;
            }
            if (used > 0) {
                strbuf_consume(&c->pending, (size_t)used);
                return 0;
            }
            continue;
        }
        int w = fd_wait(c->fd, POLLIN, (long)ms_until(deadline));
        if (w <= 0) {
            r = w < 0 ? nc_error_set(err, -w, "poll: %s", strerror(-w))
                      : nc_error_set(err, ETIMEDOUT, "engine sent no reply within %ld ms",
                                     timeout_ms);
            goto fail;
        }
    }
fail:
    hijack_close(c);
    return r;
}

int hijack_open(const char *path, const char *request, long timeout_ms, hijack_conn *c,
                nc_error **err)
{
    uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
    *c = (hijack_conn){.fd = -1};
    int r = connect_unix(path, timeout_ms, &c->fd, err);
    if (r < 0)
        return r;
    return exchange(c, request, timeout_ms, deadline, err);
}

int hijack_open_opts(const http_opts *o, const char *request, long timeout_ms, hijack_conn *c,
                     nc_error **err)
{
    if (!o->tcp_host)
        return hijack_open(o->socket_path, request, timeout_ms, c, err);
    uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
    *c = (hijack_conn){.fd = -1};
    int r = http_stream_open(o, timeout_ms, &c->stream, err);
    if (r < 0)
        return r;
    c->fd = http_stream_fd(c->stream);
    return exchange(c, request, timeout_ms, deadline, err);
}

void hijack_read_error_body(hijack_conn *c, long timeout_ms, strbuf *body)
{
    uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
    size_t want = HIJACK_MAX_ERROR_BODY;
    const char *cl = http_head_header(&c->head, "Content-Length");
    if (cl) {
        char *end;
        unsigned long long v = strtoull(cl, &end, 10);
        if (end != cl && !*end && v < want)
            want = (size_t)v;
    }
    while (c->pending.len < want && c->fd >= 0) {
        ssize_t n = recv_some(c, &c->pending, want);
        if (n == 0 || (n < 0 && n != -EAGAIN))
            break;
        if (n < 0 && fd_wait(c->fd, POLLIN, (long)ms_until(deadline)) <= 0)
            break;
    }
    strbuf_add(body, c->pending.buf ? c->pending.buf : "",
               c->pending.len < want ? c->pending.len : want);
    strbuf_reset(&c->pending);
}

void hijack_close(hijack_conn *c)
{
    if (c->stream)
        http_stream_free(c->stream); /* closes c->fd */
    else if (c->fd >= 0)
        close(c->fd);
    c->stream = NULL;
    c->fd = -1;
    http_head_release(&c->head);
    strbuf_release(&c->pending);
}
