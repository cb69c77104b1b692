/* The fake engine's side of one connection: waits that a stop interrupts, reads, writes, and
 * parsing a request (see fake_internal.h). */
#include "support/fake_internal.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* A chunk-size line, extensions included. */
#define FAKE_CHUNK_LINE_MAX ((size_t)1024)
/* While decoding a chunked body, consumed input is dropped once this much has piled up. */
#define FAKE_COMPACT_AT ((size_t)64 * 1024)

void fake_add_excerpt(strbuf *sb, const char *s, size_t len, size_t max)
{
    size_t n = len < max ? len : max;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '\\':
            strbuf_addstr(sb, "\\\\");
            break;
        case '\n':
            strbuf_addstr(sb, "\\n");
            break;
        case '\r':
            strbuf_addstr(sb, "\\r");
            break;
        case '\t':
            strbuf_addstr(sb, "\\t");
            break;
        default:
            if (ch >= 0x20 && ch < 0x7f)
                strbuf_addch(sb, (char)ch);
            else
                strbuf_addf(sb, "\\x%02x", ch);
            break;
        }
    }
    if (len > max)
        strbuf_addf(sb, "... (%zu bytes)", len);
}

void fake_add_excerpt_str(strbuf *sb, const char *s)
{
    fake_add_excerpt(sb, s, strlen(s), FAKE_REPORT_EXCERPT);
}

void fake_add_json_escaped(strbuf *sb, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            strbuf_addf(sb, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            strbuf_addf(sb, "\\u%04x", ch);
        else
            strbuf_addch(sb, (char)ch);
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fake_wait(int stop_rd, int fd, short events, int timeout_ms)
{
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;
    for (;;) {
        struct pollfd pfd[2] = {
            {.fd = stop_rd, .events = POLLIN},
            {.fd = fd, .events = events},
        };
        int left = -1;
        if (timeout_ms >= 0) {
            int64_t rem = deadline - now_ms();
            left = rem > 0 ? (int)rem : 0;
        }
        int r = poll(pfd, fd >= 0 ? 2 : 1, left);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (pfd[0].revents)
            return -1;
        if (r == 0)
            return 0;
        if (pfd[1].revents)
            return 1;
    }
}

int fake_conn_fill(struct fake_conn *c)
{
    for (;;) {
        if (fake_wait(c->stop_rd, c->fd, POLLIN, -1) < 0)
            return -1;
        strbuf_grow(&c->in, FAKE_READ_CHUNK);
        ssize_t k = recv(c->fd, c->in.buf + c->in.len, FAKE_READ_CHUNK, 0);
        if (k > 0) {
            c->in.len += (size_t)k;
            c->in.buf[c->in.len] = '\0';
            return 1;
        }
        if (k == 0)
            return 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            continue;
        return 0; /* ECONNRESET and the like: the client is gone */
    }
}

int fake_conn_write(struct fake_conn *c, const char *data, size_t len)
{
    while (len) {
        ssize_t k = send(c->fd, data, len, MSG_NOSIGNAL);
        if (k > 0) {
            data += k;
            len -= (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (fake_wait(c->stop_rd, c->fd, POLLOUT, -1) < 0)
                return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

/* Records why the client left a request unfinished. r is conn_fill's result (0 EOF, -1 stop). */
static int incomplete(struct fake_conn *c, int r, const char *what)
{
    if (r < 0) {
        fake_problem(c->fe, "connection %u: engine stopped inside a %s (%zu bytes pending)", c->id,
                     what, c->in.len);
        return FAKE_RD_STOP;
    }
    fake_problem(c->fe,
                 "connection %u: client closed the connection inside a %s (%zu bytes pending)",
                 c->id, what, c->in.len);
    return FAKE_RD_BAD;
}

/* Ensures c->in holds at least n bytes. */
static int conn_need(struct fake_conn *c, size_t n, const char *what)
{
    while (c->in.len < n) {
        int r = fake_conn_fill(c);
        if (r <= 0)
            return incomplete(c, r, what);
    }
    return FAKE_RD_OK;
}

/* Finds the next "\r\n" at or after from, reading more as needed, at most max bytes past from.
 * Stores the index of its '\r' in *ret_eol. */
static int conn_line(struct fake_conn *c, size_t from, size_t max, size_t *ret_eol,
                     const char *what)
{
    size_t scanned = from;
    for (;;) {
        if (c->in.len > scanned) {
            const char *p = memmem(c->in.buf + scanned, c->in.len - scanned, "\r\n", 2);
            if (p) {
                *ret_eol = (size_t)(p - c->in.buf);
                if (*ret_eol - from > max)
                    break;
                return FAKE_RD_OK;
            }
            scanned = c->in.len - 1; /* a '\r' at the end may pair with the next '\n' */
        }
        if (c->in.len - from > max)
            break;
        int r = fake_conn_fill(c);
        if (r <= 0)
            return incomplete(c, r, what);
    }
    fake_problem(c->fe, "connection %u: %s exceeds %zu bytes", c->id, what, max);
    return FAKE_RD_BAD;
}

/* Answers a request the fake could not parse, then the connection is closed. */
static void send_error(struct fake_conn *c, int status, const char *reason, const char *msg)
{
    strbuf body = STRBUF_INIT, out = STRBUF_INIT;
    strbuf_addstr(&body, "{\"message\":\"fake engine: ");
    fake_add_json_escaped(&body, msg);
    strbuf_addstr(&body, "\"}");
    strbuf_addf(&out,
                "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                "Connection: close\r\n\r\n",
                status, reason, body.len);
    strbuf_add(&out, body.buf, body.len);
    fake_conn_write(c, out.buf, out.len);
    strbuf_release(&body);
    strbuf_release(&out);
}

void fake_request_clear(struct fake_request *req)
{
    free(req->method);
    free(req->target);
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    strbuf_release(&req->body);
    *req = (struct fake_request){0};
}

const char *fake_request_header(const struct fake_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

char *fake_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        s[--len] = '\0';
    return s;
}

/* Parses the request line and header lines of head (NUL-terminated, without the blank line). */
static int parse_head(struct fake_conn *c, char *head, struct fake_request *req)
{
    char *line = head;
    char *eol = strstr(line, "\r\n");
    if (eol)
        *eol = '\0';
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        strbuf msg = STRBUF_INIT;
        strbuf_addf(&msg, "connection %u: malformed request line '", c->id);
        fake_add_excerpt_str(&msg, line);
        strbuf_addch(&msg, '\'');
        fake_problem_add(c->fe, &msg);
        send_error(c, 400, "Bad Request", "malformed request line");
        return FAKE_RD_BAD;
    }
    req->method = xstrndup(line, (size_t)(sp1 - line));
    req->target = xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));

    size_t alloc = 0;
    while (eol) {
        line = eol + 2;
        eol = strstr(line, "\r\n");
        if (eol)
            *eol = '\0';
        char *colon = strchr(line, ':');
        if (!colon || colon == line) {
            strbuf msg = STRBUF_INIT;
            strbuf_addf(&msg, "connection %u: malformed header line '", c->id);
            fake_add_excerpt_str(&msg, line);
            strbuf_addch(&msg, '\'');
            fake_problem_add(c->fe, &msg);
            send_error(c, 400, "Bad Request", "malformed header line");
            return FAKE_RD_BAD;
        }
        *colon = '\0';
        if (req->nheaders == alloc) {
            alloc = alloc ? alloc * 2 : 16;
            req->headers = xreallocarray(req->headers, alloc, sizeof(*req->headers));
        }
        req->headers[req->nheaders].name = xstrdup(fake_trim(line));
        req->headers[req->nheaders].value = xstrdup(fake_trim(colon + 1));
        req->nheaders++;
    }
    return FAKE_RD_OK;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes a chunked body from the start of c->in into body, consuming it and the trailers. */
static int read_chunked(struct fake_conn *c, strbuf *body)
{
    size_t pos = 0, eol;
    int r;
    for (;;) {
        if (pos >= FAKE_COMPACT_AT) {
            strbuf_consume(&c->in, pos);
            pos = 0;
        }
        r = conn_line(c, pos, FAKE_CHUNK_LINE_MAX, &eol, "chunk size line");
        if (r != FAKE_RD_OK)
            return r;
        size_t size = 0, i = pos;
        for (; i < eol && hexval(c->in.buf[i]) >= 0; i++) {
            size = size * 16 + (size_t)hexval(c->in.buf[i]);
            if (size > FAKE_ENGINE_MAX_BODY)
                break;
        }
        if (size > FAKE_ENGINE_MAX_BODY - body->len) {
            fake_problem(c->fe, "connection %u: chunked request body exceeds %zu bytes", c->id,
                         FAKE_ENGINE_MAX_BODY);
            send_error(c, 413, "Request Entity Too Large", "request body too large");
            return FAKE_RD_BAD;
        }
        if (i == pos ||
            (i < eol && c->in.buf[i] != ';' && c->in.buf[i] != ' ' && c->in.buf[i] != '\t')) {
            strbuf msg = STRBUF_INIT;
            strbuf_addf(&msg, "connection %u: malformed chunk size line '", c->id);
            fake_add_excerpt(&msg, c->in.buf + pos, eol - pos, FAKE_REPORT_EXCERPT);
            strbuf_addch(&msg, '\'');
            fake_problem_add(c->fe, &msg);
            send_error(c, 400, "Bad Request", "malformed chunk size line");
            return FAKE_RD_BAD;
        }
        pos = eol + 2;
        if (size == 0)
            break;
        r = conn_need(c, pos + size + 2, "chunked request body");
        if (r != FAKE_RD_OK)
            return r;
        if (memcmp(c->in.buf + pos + size, "\r\n", 2) != 0) {
            fake_problem(c->fe, "connection %u: chunk of %zu bytes is not followed by CRLF", c->id,
                         size);
            send_error(c, 400, "Bad Request", "chunk not followed by CRLF");
            return FAKE_RD_BAD;
        }
        strbuf_add(body, c->in.buf + pos, size);
        pos += size + 2;
    }
    /* Trailer lines up to an empty line, FAKE_ENGINE_MAX_HEAD in all. */
    size_t start = pos;
    for (;;) {
        size_t used = pos - start;
        if (used > FAKE_ENGINE_MAX_HEAD) {
            fake_problem(c->fe, "connection %u: chunked trailers exceed %zu bytes", c->id,
                         FAKE_ENGINE_MAX_HEAD);
            return FAKE_RD_BAD;
        }
        r = conn_line(c, pos, FAKE_ENGINE_MAX_HEAD - used, &eol, "chunked trailer");
        if (r != FAKE_RD_OK)
            return r;
        bool last = eol == pos;
        pos = eol + 2;
        if (last)
            break;
    }
    strbuf_consume(&c->in, pos);
    return FAKE_RD_OK;
}

int fake_read_request(struct fake_conn *c, struct fake_request *req)
{
    size_t head_end = 0, scanned = 0;
    bool found = false;
    for (;;) {
        if (c->in.len > scanned) {
            const char *p = memmem(c->in.buf + scanned, c->in.len - scanned, "\r\n\r\n", 4);
            if (p) {
                head_end = (size_t)(p - c->in.buf);
                found = true;
                break;
            }
            scanned = c->in.len >= 3 ? c->in.len - 3 : 0;
        }
        if (c->in.len > FAKE_ENGINE_MAX_HEAD)
            break;
        int r = fake_conn_fill(c);
        if (r <= 0) {
            if (c->in.len == 0)
                return r < 0 ? FAKE_RD_STOP : FAKE_RD_EOF;
            return incomplete(c, r, "request head");
        }
    }
    if (!found || head_end + 4 > FAKE_ENGINE_MAX_HEAD) {
        fake_problem(c->fe, "connection %u: request head exceeds %zu bytes", c->id,
                     FAKE_ENGINE_MAX_HEAD);
        send_error(c, 431, "Request Header Fields Too Large", "request head too large");
        return FAKE_RD_BAD;
    }
    if (memchr(c->in.buf, '\0', head_end)) {
        fake_problem(c->fe, "connection %u: NUL byte in request head", c->id);
        send_error(c, 400, "Bad Request", "NUL byte in request head");
        return FAKE_RD_BAD;
    }
    _cleanup_free_ char *head = xstrndup(c->in.buf, head_end);
    strbuf_consume(&c->in, head_end + 4);
    int r = parse_head(c, head, req);
    if (r != FAKE_RD_OK)
        return r;

    const char *te = fake_request_header(req, "Transfer-Encoding");
    const char *cl = fake_request_header(req, "Content-Length");
    unsigned long long len = 0;
    if (te && strcasecmp(te, "chunked") != 0) {
        strbuf msg = STRBUF_INIT;
        strbuf_addf(&msg, "connection %u: unsupported Transfer-Encoding '", c->id);
        fake_add_excerpt_str(&msg, te);
        strbuf_addch(&msg, '\'');
        fake_problem_add(c->fe, &msg);
        send_error(c, 501, "Not Implemented", "unsupported Transfer-Encoding");
        return FAKE_RD_BAD;
    }
    if (!te && cl) {
        char *end;
        errno = 0;
        len = strtoull(cl, &end, 10);
        if (!isdigit((unsigned char)cl[0]) || *end || errno) {
            strbuf msg = STRBUF_INIT;
            strbuf_addf(&msg, "connection %u: malformed Content-Length '", c->id);
            fake_add_excerpt_str(&msg, cl);
            strbuf_addch(&msg, '\'');
            fake_problem_add(c->fe, &msg);
            send_error(c, 400, "Bad Request", "malformed Content-Length");
            return FAKE_RD_BAD;
        }
        if (len > FAKE_ENGINE_MAX_BODY) {
            fake_problem(c->fe, "connection %u: request body of %llu bytes exceeds %zu bytes",
                         c->id, len, FAKE_ENGINE_MAX_BODY);
            send_error(c, 413, "Request Entity Too Large", "request body too large");
            return FAKE_RD_BAD;
        }
    }
    /* curl waits up to a second for this before sending a large body. */
    const char *expect = fake_request_header(req, "Expect");
    if ((te || len) && expect && strcasecmp(expect, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (fake_conn_write(c, cont, sizeof(cont) - 1) < 0)
            return FAKE_RD_BAD;
    }
    if (te)
        return read_chunked(c, &req->body);
    r = conn_need(c, (size_t)len, "request body");
    if (r != FAKE_RD_OK)
        return r;
    strbuf_add(&req->body, c->in.buf, (size_t)len);
    strbuf_consume(&c->in, (size_t)len);
    return FAKE_RD_OK;
}

void fake_conn_close(struct fake_conn *c)
{
    size_t dropped = 0;
    while (dropped <= FAKE_ENGINE_MAX_BODY) {
        strbuf_reset(&c->in);
        strbuf_grow(&c->in, FAKE_READ_CHUNK);
        ssize_t k = recv(c->fd, c->in.buf, FAKE_READ_CHUNK, MSG_DONTWAIT);
        if (k <= 0)
            break;
        dropped += (size_t)k;
    }
    strbuf_release(&c->in);
    close(c->fd);
    c->fd = -1;
}
