/* HTTP/1.1 POST over a unix socket (see http.h). */
#include "http.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Waits for events on fd until deadline. Returns 0 when ready, -ETIMEDOUT, or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t left = ms_until(deadline);
        if (!left)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n > 0)
            return 0;
    }
}

static int connect_unix(const char *sock_path, uint64_t deadline, int *ret_fd, nc_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(sock_path);
    if (len >= sizeof(sa.sun_path))
        return nc_error_set(err, ENAMETOOLONG, "socket path '%s' is longer than %zu bytes",
                            sock_path, sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, sock_path, len + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return nc_error_set(err, errno, "socket: %s", strerror(errno));
    /* A unix connect completes at once or fails; EAGAIN (a full backlog) is retried until the
     * deadline. */
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EINPROGRESS) {
            int r = wait_fd(fd, POLLOUT, deadline);
            socklen_t l = sizeof(e);
            if (r < 0)
                e = -r;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
                e = errno;
            if (!e)
                break;
        } else if (e == EAGAIN && ms_until(deadline)) {
            sleep_ms(10);
            continue;
        }
        return nc_error_set(err, e, "connect to '%s': %s", sock_path, strerror(e));
    }
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static int send_all(int fd, const char *data, size_t len, uint64_t deadline, nc_error **err)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            int r = wait_fd(fd, POLLOUT, deadline);
            if (r < 0)
                return nc_error_set(err, -r, "send request: %s", strerror(-r));
            continue;
        }
        if (n < 0)
            return nc_error_set(err, errno, "send request: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Receives more bytes into in. Returns the count, 0 at EOF, or a negative errno. */
static ssize_t recv_some(int fd, strbuf *in, uint64_t deadline)
{
    for (;;) {
        strbuf_grow(in, 65536);
        ssize_t n = recv(fd, in->buf + in->len, in->alloc - in->len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            int r = wait_fd(fd, POLLIN, deadline);
            if (r < 0)
                return r;
            continue;
        }
        if (n < 0)
            return -errno;
        in->len += (size_t)n;
        in->buf[in->len] = '\0';
        return n;
    }
}

struct head {
    int status;
    bool chunked;
    bool has_length;
    uint64_t length;
};

/* Parses "HTTP/1.x NNN reason" and the headers in head[0..len) (the block before the blank
 * line, NUL-terminated by the caller). */
static int parse_head(char *text, struct head *h, nc_error **err)
{
    *h = (struct head){0};
    char *line = text, *eol = strstr(line, "\r\n");
    if (eol)
        *eol = '\0';
    if (strncasecmp(line, "HTTP/1.", 7) != 0 || !line[7] || line[8] != ' ' || line[9] < '1' ||
        line[9] > '5' || line[10] < '0' || line[10] > '9' || line[11] < '0' || line[11] > '9' ||
        (line[12] && line[12] != ' '))
        return nc_error_set(err, EPROTO, "malformed reply status line");
    h->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    while (eol) {
        line = eol + 2;
        eol = strstr(line, "\r\n");
        if (eol)
            *eol = '\0';
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcasecmp(line, "Content-Length") == 0) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(v, &end, 10);
            if (errno || end == v || (*end && *end != ' ' && *end != '\t') || *v == '-' ||
                (h->has_length && h->length != n))
                return nc_error_set(err, EPROTO, "malformed Content-Length in reply");
            h->has_length = true;
            h->length = n;
        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
            if (strcasestr(v, "chunked"))
                h->chunked = true;
        }
    }
    return 0;
}

/* An incremental chunked-body decoder: raw bytes from pos on are decoded into out as they come.
 * Returns 1 when the body is complete, 0 when more bytes are needed, or a negative errno. */
struct chunked {
    size_t pos;  /* next raw byte to look at */
    size_t left; /* data bytes left in the current chunk */
    int state;   /* 0 size line, 1 data, 2 CRLF after data, 3 trailers */
};

static int chunked_step(struct chunked *c, const strbuf *raw, strbuf *out, size_t max_body,
                        nc_error **err)
{
    for (;;) {
        const char *p = raw->buf + c->pos;
        size_t avail = raw->len - c->pos;
        if (c->state == 1) {
            size_t k = avail < c->left ? avail : c->left;
            if (out->len + k > max_body)
                return nc_error_set(err, EFBIG, "reply body is larger than %zu bytes", max_body);
            strbuf_add(out, p, k);
            c->pos += k;
            c->left -= k;
            if (c->left)
                return 0;
            c->state = 2;
            continue;
        }
        const char *eol = memmem(p, avail, "\r\n", 2);
        if (!eol) {
            if (avail > 4096)
                return nc_error_set(err, EPROTO, "malformed chunked reply: line too long");
            return 0;
        }
        size_t ll = (size_t)(eol - p);
        c->pos += ll + 2;
        if (c->state == 2) {
            if (ll)
                return nc_error_set(err, EPROTO, "malformed chunked reply: no CRLF after data");
            c->state = 0;
        } else if (c->state == 3) {
            if (!ll)
                return 1; /* the blank line after the trailers */
        } else {
            uint64_t n = 0;
            size_t i = 0;
            for (; i < ll; i++) {
                char ch = p[i];
                int d = ch >= '0' && ch <= '9'   ? ch - '0'
                        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                        : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                                 : -1;
                if (d < 0)
                    break;
                if (n > (UINT64_MAX >> 4))
                    return nc_error_set(err, EPROTO, "malformed chunked reply: size overflow");
                n = (n << 4) | (uint64_t)d;
            }
            if (i == 0 || (i < ll && p[i] != ';' && p[i] != ' ' && p[i] != '\t'))
                return nc_error_set(err, EPROTO, "malformed chunked reply: bad chunk size");
            if (n > max_body)
                return nc_error_set(err, EFBIG, "reply body is larger than %zu bytes", max_body);
            c->left = (size_t)n;
            c->state = n ? 1 : 3;
        }
    }
}

/* Reads the reply: head, then body by its framing. */
static int read_reply(int fd, uint64_t deadline, size_t max_body, struct http_reply *reply,
                      nc_error **err)
{
    _cleanup_strbuf_ strbuf in = STRBUF_INIT;
    struct head h;
    size_t body_start;
    for (;;) {
        const char *end = in.len ? memmem(in.buf, in.len, "\r\n\r\n", 4) : NULL;
        if (end) {
            size_t hl = (size_t)(end - in.buf);
            _cleanup_free_ char *head = xstrndup(in.buf, hl);
            int r = parse_head(head, &h, err);
            if (r < 0)
                return r;
            body_start = hl + 4;
            if (h.status >= 200)
                break;
            strbuf_consume(&in, body_start); /* 1xx: an interim reply, the real one follows */
            continue;
        }
        if (in.len > HTTP_MAX_HEAD)
            return nc_error_set(err, EPROTO, "reply head is larger than %zu bytes", HTTP_MAX_HEAD);
        ssize_t n = recv_some(fd, &in, deadline);
        if (n == 0)
            return nc_error_set(err, EPROTO,
                                in.len ? "reply truncated in its head"
                                       : "connection closed with no reply");
        if (n < 0)
            return nc_error_set(err, (int)-n, "receive reply: %s", strerror((int)-n));
    }
    strbuf_consume(&in, body_start);

    strbuf *body = &reply->body;
    bool no_body = h.status == 204 || h.status == 304;
    if (no_body) {
        /* nothing */
    } else if (h.chunked) {
        struct chunked c = {0};
        for (;;) {
            int r = chunked_step(&c, &in, body, max_body, err);
            if (r < 0)
                return r;
            if (r == 1)
                break;
            /* Drop what is decoded: only a partial size line or nothing stays behind. */
            strbuf_consume(&in, c.pos);
            c.pos = 0;
            ssize_t n = recv_some(fd, &in, deadline);
            if (n == 0)
                return nc_error_set(err, EPROTO, "reply truncated: the chunked body ended early");
            if (n < 0)
                return nc_error_set(err, (int)-n, "receive reply: %s", strerror((int)-n));
        }
    } else if (h.has_length) {
        if (h.length > max_body)
            return nc_error_set(err, EFBIG, "reply body of %llu bytes is larger than %zu bytes",
                                (unsigned long long)h.length, max_body);
        while (in.len < h.length) {
            ssize_t n = recv_some(fd, &in, deadline);
            if (n == 0)
                return nc_error_set(err, EPROTO, "reply truncated: %zu of %llu body bytes", in.len,
                                    (unsigned long long)h.length);
            if (n < 0)
                return nc_error_set(err, (int)-n, "receive reply: %s", strerror((int)-n));
        }
        strbuf_add(body, in.buf, (size_t)h.length);
    } else {
        for (;;) {
            if (in.len > max_body)
                return nc_error_set(err, EFBIG, "reply body is larger than %zu bytes", max_body);
            ssize_t n = recv_some(fd, &in, deadline);
            if (n == 0)
                break;
            if (n < 0)
                return nc_error_set(err, (int)-n, "receive reply: %s", strerror((int)-n));
        }
        strbuf_add(body, in.buf, in.len);
    }
    reply->status = h.status;
    return 0;
}

int http_post_unix(const char *sock_path, const char *path, const char *const *extra_headers,
                   const char *body, size_t body_len, uint64_t timeout_ms, size_t max_body,
                   struct http_reply *reply, nc_error **err)
{
    uint64_t deadline = mono_ms() + timeout_ms;
    _cleanup_close_ int fd = -1;
    int r = connect_unix(sock_path, deadline, &fd, err);
    if (r < 0)
        return r;
    _cleanup_strbuf_ strbuf req = STRBUF_INIT;
    strbuf_addf(&req, "POST %s HTTP/1.1\r\nHost: localhost\r\n", path);
    for (const char *const *h = extra_headers; h && *h; h++)
        strbuf_addf(&req, "%s\r\n", *h);
    strbuf_addf(&req, "Content-Length: %zu\r\nConnection: close\r\n\r\n", body_len);
    strbuf_add(&req, body, body_len);
    if ((r = send_all(fd, req.buf, req.len, deadline, err)) < 0)
        return r;
    struct http_reply rep = {.body = STRBUF_INIT};
    r = read_reply(fd, deadline, max_body, &rep, err);
    if (r < 0) {
        strbuf_release(&rep.body);
        if (r == -ETIMEDOUT)
            return nc_error_wrap(err, "no complete reply within %llu s",
                                 (unsigned long long)(timeout_ms / 1000));
        return r;
    }
    *reply = rep;
    return 0;
}
