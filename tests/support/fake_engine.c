/* The scripted fake engine (see fake_engine.h): lifecycle, threads, matching, serving.
 *
 * Threads: one acceptor, and one thread per connection. Every blocking wait is a poll() that also
 * watches the read end of a stop pipe; fake_engine_stop() writes one byte to it and never reads
 * it back, so every later poll sees it too. Connection sockets are non-blocking, so a client that
 * stops reading cannot pin a thread in send().
 *
 * Locking: fe->lock guards the request records, the stdin records, the problem list, the ping
 * count and each connection's `done` flag. The connection list itself belongs to the acceptor
 * thread until fake_engine_stop() has joined it. */
#include "support/fake_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* A request matched against the script: request i went against exchange i. */
struct fake_seen {
    char *body; /* immutable once stored */
    size_t len;
    char *headers; /* "Name: value\n" per header, in arrival order; immutable once stored */
};

struct fake_blob {
    char *buf; /* NULL until stored */
    size_t len;
};

struct fake_engine {
    pthread_mutex_t lock;
    struct fake_exchange *script; /* copy of the caller's array */
    size_t n;
    char *api_version;
    char *libpod_version;
    char *dir;
    char *sock_path;
    int listen_fd;
    int stop_rd, stop_wr;
    pthread_t acceptor;
    bool stopped;

    /* Under lock. */
    struct fake_seen *seen;
    size_t nseen, seen_alloc;
    struct fake_blob *stdins; /* n entries */
    size_t pings;
    strbuf problems; /* one line per problem */

    /* Acceptor-owned. */
    struct fake_conn *conns;
    unsigned nconns;
};

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fake_engine: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* Thread-safe, unlike strerror(). */
static const char *errstr(int e)
{
    const char *s = strerrordesc_np(e);
    return s ? s : "unknown error";
}

static void lock(const struct fake_engine *fe)
{
    pthread_mutex_lock((pthread_mutex_t *)&fe->lock);
}

static void unlock(const struct fake_engine *fe)
{
    pthread_mutex_unlock((pthread_mutex_t *)&fe->lock);
}

void fake_problem_add(struct fake_engine *fe, strbuf *msg)
{
    lock(fe);
    if (fe->problems.len)
        strbuf_addch(&fe->problems, '\n');
    strbuf_add(&fe->problems, msg->buf, msg->len);
    unlock(fe);
    strbuf_release(msg);
}

void fake_problem(struct fake_engine *fe, const char *fmt, ...)
{
    strbuf msg = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&msg, fmt, ap);
    va_end(ap);
    fake_problem_add(fe, &msg);
}

static bool stopping(struct fake_engine *fe)
{
    return fake_wait(fe->stop_rd, -1, 0, 0) < 0;
}

/* Whether "Name: value" (name case-insensitive, value trimmed and exact) is among the request's
 * headers; a spec without ':' only asks for the name. */
static bool has_header(const struct fake_request *req, const char *spec)
{
    _cleanup_free_ char *copy = xstrdup(spec);
    char *colon = strchr(copy, ':');
    if (colon)
        *colon = '\0';
    const char *name = fake_trim(copy);
    const char *value = colon ? fake_trim(colon + 1) : NULL;
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0 &&
            (!value || strcmp(req->headers[i].value, value) == 0))
            return true;
    return false;
}

static bool path_matches(const char *want, const char *target)
{
    size_t len = strlen(want);
    if (len && want[len - 1] == '*')
        return strncmp(want, target, len - 1) == 0;
    return strcmp(want, target) == 0;
}

/* Appends one line per way the request falls short of exchange idx. */
static void check_exchange(const struct fake_exchange *ex, size_t idx,
                           const struct fake_request *req, const char *body, size_t blen,
                           strbuf *why)
{
    if ((ex->method && strcmp(ex->method, req->method) != 0) ||
        (ex->path && !path_matches(ex->path, req->target))) {
        strbuf_addf(why, "exchange %zu: expected %s %s, got ", idx, ex->method ? ex->method : "*",
                    ex->path ? ex->path : "*");
        fake_add_excerpt_str(why, req->method);
        strbuf_addch(why, ' ');
        fake_add_excerpt_str(why, req->target);
        return; /* another request altogether: its body and headers say nothing more */
    }
    strbuf ctx = STRBUF_INIT;
    strbuf_addf(&ctx, "exchange %zu (", idx);
    fake_add_excerpt_str(&ctx, req->method);
    strbuf_addch(&ctx, ' ');
    fake_add_excerpt_str(&ctx, req->target);
    strbuf_addstr(&ctx, "): ");

    if (ex->body && (strlen(ex->body) != blen || memcmp(ex->body, body, blen) != 0)) {
        if (why->len)
            strbuf_addch(why, '\n');
        strbuf_add(why, ctx.buf, ctx.len);
        strbuf_addstr(why, "body differs: expected '");
        fake_add_excerpt_str(why, ex->body);
        strbuf_addstr(why, "', got '");
        fake_add_excerpt(why, body, blen, FAKE_REPORT_EXCERPT);
        strbuf_addch(why, '\'');
    }
    if (ex->body_contains && !memmem(body, blen, ex->body_contains, strlen(ex->body_contains))) {
        if (why->len)
            strbuf_addch(why, '\n');
        strbuf_add(why, ctx.buf, ctx.len);
        strbuf_addstr(why, "body does not contain '");
        fake_add_excerpt_str(why, ex->body_contains);
        strbuf_addstr(why, "', got '");
        fake_add_excerpt(why, body, blen, FAKE_REPORT_EXCERPT);
        strbuf_addch(why, '\'');
    }
    if (ex->body_lacks && memmem(body, blen, ex->body_lacks, strlen(ex->body_lacks))) {
        if (why->len)
            strbuf_addch(why, '\n');
        strbuf_add(why, ctx.buf, ctx.len);
        strbuf_addstr(why, "body contains '");
        fake_add_excerpt_str(why, ex->body_lacks);
        strbuf_addstr(why, "', got '");
        fake_add_excerpt(why, body, blen, FAKE_REPORT_EXCERPT);
        strbuf_addch(why, '\'');
    }
    for (size_t i = 0; i < NC_ARRAY_SIZE(ex->headers); i++) {
        if (!ex->headers[i] || has_header(req, ex->headers[i]))
            continue;
        if (why->len)
            strbuf_addch(why, '\n');
        strbuf_add(why, ctx.buf, ctx.len);
        strbuf_addstr(why, "missing header '");
        fake_add_excerpt_str(why, ex->headers[i]);
        strbuf_addch(why, '\'');
        size_t nlen = strcspn(ex->headers[i], ":");
        _cleanup_free_ char *name = xstrndup(ex->headers[i], nlen);
        const char *got = fake_request_header(req, fake_trim(name));
        if (got) {
            strbuf_addf(why, " (got '%s: ", fake_trim(name));
            fake_add_excerpt_str(why, got);
            strbuf_addstr(why, "')");
        }
    }
    strbuf_release(&ctx);
}

/* GET or HEAD of /_ping or /vX.Y/_ping, query ignored. */
static bool is_ping(const struct fake_request *req)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return false;
    const char *p = req->target;
    const char *end = p + strcspn(p, "?");
    if (p[0] == '/' && p[1] == 'v') {
        const char *q = p + 2;
        size_t major = strspn(q, "0123456789");
        if (major && q[major] == '.') {
            size_t minor = strspn(q + major + 1, "0123456789");
            if (minor)
                p = q + major + 1 + minor;
        }
    }
    return end - p == 6 && memcmp(p, "/_ping", 6) == 0;
}

/* Docker's ping reply (pingHandler): HEAD gets the headers with Content-Length 0. */
static void build_ping(const struct fake_engine *fe, bool head, strbuf *out)
{
    strbuf_addf(out, "HTTP/1.1 200 OK\r\nApi-Version: %s\r\n", fe->api_version);
    if (fe->libpod_version)
        strbuf_addf(out, "Libpod-Api-Version: %s\r\n", fe->libpod_version);
    strbuf_addf(out,
                "Cache-Control: no-cache, no-store, must-revalidate\r\nPragma: no-cache\r\n"
                "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s",
                head ? 0 : 2, head ? "" : "OK");
}

/* Whether a connection can carry another request after this response: it must be framed
 * (Content-Length, chunked, or a status or method without a body) and not say
 * "Connection: close". */
static bool response_keeps_alive(const char *resp, size_t len, const char *method)
{
    const char *end = memmem(resp, len, "\r\n\r\n", 4);
    if (!end || len < 12 || strncmp(resp, "HTTP/1.", 7) != 0)
        return false;
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (!isdigit((unsigned char)resp[i]))
            return false;
        status = status * 10 + (resp[i] - '0');
    }
    if (status == 101)
        return false; /* switched protocols, and nobody hijacks */
    bool framed = (status >= 100 && status < 200) || status == 204 || status == 304 ||
                  strcmp(method, "HEAD") == 0;
    _cleanup_free_ char *head = xstrndup(resp, (size_t)(end - resp));
    char *line = strstr(head, "\r\n");
    while (line) {
        line += 2;
        char *eol = strstr(line, "\r\n");
        if (eol)
            *eol = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            const char *name = fake_trim(line);
            char *value = fake_trim(colon + 1);
            if (strcasecmp(name, "Content-Length") == 0) {
                framed = true;
            } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
                if (strcasestr(value, "chunked"))
                    framed = true;
            } else if (strcasecmp(name, "Connection") == 0) {
                for (char *tok = value; *tok;) {
                    size_t n = strcspn(tok, ",");
                    char sep = tok[n];
                    tok[n] = '\0';
                    if (strcasecmp(fake_trim(tok), "close") == 0)
                        return false;
                    tok += n + (sep ? 1 : 0);
                }
            }
        }
        line = eol;
    }
    return framed;
}

/* Reads the client's raw bytes until it half-closes and stores them as exchange idx's stdin.
 * Returns false when the connection is to be dropped at once (stop, or over the cap). */
static bool hijack_stdin(struct fake_conn *c, size_t idx)
{
    struct fake_engine *fe = c->fe;
    bool ok = true;
    for (;;) {
        if (c->in.len > FAKE_ENGINE_MAX_BODY) {
            fake_problem(fe, "exchange %zu: hijacked stdin exceeds %zu bytes", idx,
                         FAKE_ENGINE_MAX_BODY);
            strbuf_truncate(&c->in, FAKE_ENGINE_MAX_BODY);
            ok = false;
            break;
        }
        int r = fake_conn_fill(c);
        if (r == 0)
            break;
        if (r < 0) {
            ok = false;
            break;
        }
    }
    lock(fe);
    fe->stdins[idx].buf = strbuf_detach(&c->in, &fe->stdins[idx].len);
    unlock(fe);
    return ok;
}

/* Answers one request. Returns whether the connection carries on with the next request. */
static bool serve_request(struct fake_conn *c, struct fake_request *req)
{
    struct fake_engine *fe = c->fe;

    if (fe->api_version && is_ping(req)) {
        lock(fe);
        fe->pings++;
        unlock(fe);
        strbuf out = STRBUF_INIT;
        build_ping(fe, strcmp(req->method, "HEAD") == 0, &out);
        int r = fake_conn_write(c, out.buf, out.len);
        strbuf_release(&out);
        return r == 0;
    }

    size_t blen;
    char *body = strbuf_detach(&req->body, &blen);
    strbuf hdrs = STRBUF_INIT;
    for (size_t i = 0; i < req->nheaders; i++)
        strbuf_addf(&hdrs, "%s: %s\n", req->headers[i].name, req->headers[i].value);
    char *headers = strbuf_detach(&hdrs, NULL);
    lock(fe);
    size_t idx = fe->nseen;
    if (fe->nseen == fe->seen_alloc) {
        fe->seen_alloc = fe->seen_alloc ? fe->seen_alloc * 2 : 16;
        fe->seen = xreallocarray(fe->seen, fe->seen_alloc, sizeof(*fe->seen));
    }
    fe->seen[fe->nseen++] = (struct fake_seen){.body = body, .len = blen, .headers = headers};
    unlock(fe);
    const struct fake_exchange *ex = idx < fe->n ? &fe->script[idx] : NULL;

    strbuf why = STRBUF_INIT;
    if (ex) {
        check_exchange(ex, idx, req, body, blen, &why);
    } else {
        strbuf_addf(&why, "request %zu: unexpected ", idx);
        fake_add_excerpt_str(&why, req->method);
        strbuf_addch(&why, ' ');
        fake_add_excerpt_str(&why, req->target);
        strbuf_addf(&why, " (the script has %zu exchanges)", fe->n);
    }
    if (why.len) {
        fake_problem_add(fe, &why);
        strbuf json = STRBUF_INIT, out = STRBUF_INIT;
        strbuf_addstr(&json, "{\"message\":\"fake engine: unexpected request ");
        fake_add_json_escaped(&json, req->method);
        strbuf_addch(&json, ' ');
        fake_add_json_escaped(&json, req->target);
        strbuf_addstr(&json, "\"}");
        strbuf_addf(&out,
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\n\r\n",
                    json.len);
        strbuf_add(&out, json.buf, json.len);
        int r = fake_conn_write(c, out.buf, out.len);
        strbuf_release(&json);
        strbuf_release(&out);
        return r == 0;
    }

    if (ex->delay_ms > 0 && fake_wait(fe->stop_rd, -1, 0, ex->delay_ms) < 0)
        return false;
    const char *resp = ex->response ? ex->response : "";
    size_t rlen = !ex->response ? 0 : ex->response_len ? ex->response_len : strlen(resp);
    if (ex->hangup_after > 0) {
        size_t cut = (size_t)ex->hangup_after < rlen ? (size_t)ex->hangup_after : rlen;
        fake_conn_write(c, resp, cut);
        return false;
    }
    if (fake_conn_write(c, resp, rlen) < 0)
        return false;
    if (ex->hijack) {
        if (!hijack_stdin(c, idx))
            return false;
        if (ex->stream_delay_ms > 0 && fake_wait(fe->stop_rd, -1, 0, ex->stream_delay_ms) < 0)
            return false;
        const char *stream = ex->stream ? ex->stream : "";
        size_t slen = !ex->stream ? 0 : ex->stream_len ? ex->stream_len : strlen(stream);
        if (fake_conn_write(c, stream, slen) < 0)
            return false;
    }
    if (ex->hold_open) {
        fake_wait(fe->stop_rd, -1, 0, -1);
        return false;
    }
    return !ex->hijack && response_keeps_alive(resp, rlen, req->method);
}

static void *conn_main(void *arg)
{
    struct fake_conn *c = arg;
    for (;;) {
        struct fake_request req = {0};
        bool more = fake_read_request(c, &req) == FAKE_RD_OK && serve_request(c, &req);
        fake_request_clear(&req);
        if (!more || stopping(c->fe))
            break;
    }
    fake_conn_close(c);
    lock(c->fe);
    c->done = true;
    unlock(c->fe);
    return NULL;
}

/* Joins the connection threads that have ended, so a long test does not pile them up. */
static void reap_conns(struct fake_engine *fe)
{
    for (struct fake_conn **pp = &fe->conns; *pp;) {
        struct fake_conn *c = *pp;
        lock(fe);
        bool done = c->done;
        unlock(fe);
        if (!done) {
            pp = &c->next;
            continue;
        }
        pthread_join(c->thread, NULL);
        *pp = c->next;
        free(c);
    }
}

static void *accept_main(void *arg)
{
    struct fake_engine *fe = arg;
    for (;;) {
        if (fake_wait(fe->stop_rd, fe->listen_fd, POLLIN, -1) < 0)
            break;
        int fd = accept4(fe->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == ECONNABORTED)
                continue;
            fake_problem(fe, "accept: %s", errstr(e));
            /* EMFILE and the like: back off rather than spin */
            if (fake_wait(fe->stop_rd, -1, 0, 100) < 0)
                break;
            continue;
        }
        reap_conns(fe);
        struct fake_conn *c = xnew0(struct fake_conn);
        c->fe = fe;
        c->stop_rd = fe->stop_rd;
        c->fd = fd;
        c->id = ++fe->nconns;
        c->next = fe->conns;
        fe->conns = c;
        int e = pthread_create(&c->thread, NULL, conn_main, c);
        if (e)
            die("pthread_create: %s", errstr(e));
    }
    return NULL;
}

struct fake_engine *fake_engine_start(const struct fake_exchange *script, size_t n,
                                      const struct fake_engine_opts *opts)
{
    struct fake_engine *fe = xnew0(struct fake_engine);
    pthread_mutex_init(&fe->lock, NULL);
    fe->n = n;
    if (n) {
        fe->script = xreallocarray(NULL, n, sizeof(*script));
        memcpy(fe->script, script, n * sizeof(*script));
    }
    fe->stdins = xcalloc(n ? n : 1, sizeof(*fe->stdins));
    if (opts && opts->api_version)
        fe->api_version = xstrdup(opts->api_version);
    if (opts && opts->libpod_version)
        fe->libpod_version = xstrdup(opts->libpod_version);

    const char *tmp = getenv("TMPDIR");
    fe->dir = xasprintf("%s/nanocell-fake-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fe->dir))
        die("mkdtemp '%s': %s", fe->dir, errstr(errno));
    fe->sock_path = xasprintf("%s/engine.sock", fe->dir);

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t plen = strlen(fe->sock_path);
    if (plen >= sizeof(sa.sun_path))
        die("socket path '%s': %s (set TMPDIR to a shorter dir)", fe->sock_path,
            errstr(ENAMETOOLONG));
    memcpy(sa.sun_path, fe->sock_path, plen + 1);
    fe->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fe->listen_fd < 0)
        die("socket: %s", errstr(errno));
    if (bind(fe->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("bind '%s': %s", fe->sock_path, errstr(errno));
    if (listen(fe->listen_fd, SOMAXCONN) < 0)
        die("listen '%s': %s", fe->sock_path, errstr(errno));

    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        die("pipe2: %s", errstr(errno));
    fe->stop_rd = p[0];
    fe->stop_wr = p[1];

    int e = pthread_create(&fe->acceptor, NULL, accept_main, fe);
    if (e)
        die("pthread_create: %s", errstr(e));
    return fe;
}

const char *fake_engine_socket(const struct fake_engine *fe)
{
    return fe->sock_path;
}

int fake_engine_stop(struct fake_engine *fe, char **ret_report)
{
    if (!fe->stopped) {
        fe->stopped = true;
        ssize_t k;
        do
            k = write(fe->stop_wr, "x", 1);
        while (k < 0 && errno == EINTR);
        if (k != 1)
            die("write stop pipe: %s", errstr(errno));
        pthread_join(fe->acceptor, NULL);
        /* The acceptor is gone: the connection list is ours now. */
        while (fe->conns) {
            struct fake_conn *c = fe->conns;
            pthread_join(c->thread, NULL);
            fe->conns = c->next;
            free(c);
        }
        close(fe->listen_fd);
        fe->listen_fd = -1;
        for (size_t i = fe->nseen; i < fe->n; i++) {
            const struct fake_exchange *ex = &fe->script[i];
            fake_problem(fe, "exchange %zu: expected %s %s, never requested", i,
                         ex->method ? ex->method : "*", ex->path ? ex->path : "*");
        }
    }
    if (ret_report)
        *ret_report = fe->problems.len ? xstrdup(fe->problems.buf) : NULL;
    return fe->problems.len ? -1 : 0;
}

const char *fake_engine_request_body(const struct fake_engine *fe, size_t i, size_t *len)
{
    const char *body = NULL;
    size_t blen = 0;
    lock(fe);
    if (i < fe->nseen) {
        body = fe->seen[i].body;
        blen = fe->seen[i].len;
    }
    unlock(fe);
    if (len)
        *len = blen;
    return body;
}

const char *fake_engine_request_headers(const struct fake_engine *fe, size_t i)
{
    const char *h = NULL;
    lock(fe);
    if (i < fe->nseen)
        h = fe->seen[i].headers;
    unlock(fe);
    return h;
}

const char *fake_engine_stdin(const struct fake_engine *fe, size_t i, size_t *len)
{
    const char *buf = NULL;
    size_t blen = 0;
    lock(fe);
    if (i < fe->n) {
        buf = fe->stdins[i].buf;
        blen = fe->stdins[i].len;
    }
    unlock(fe);
    if (len)
        *len = blen;
    return buf;
}

size_t fake_engine_requests_seen(const struct fake_engine *fe)
{
    lock(fe);
    size_t n = fe->nseen;
    unlock(fe);
    return n;
}

size_t fake_engine_pings_seen(const struct fake_engine *fe)
{
    lock(fe);
    size_t n = fe->pings;
    unlock(fe);
    return n;
}

void fake_engine_free(struct fake_engine *fe)
{
    if (!fe)
        return;
    if (!fe->stopped)
        fake_engine_stop(fe, NULL);
    unlink(fe->sock_path);
    rmdir(fe->dir);
    close(fe->stop_rd);
    close(fe->stop_wr);
    for (size_t i = 0; i < fe->nseen; i++) {
        free(fe->seen[i].body);
        free(fe->seen[i].headers);
    }
    free(fe->seen);
    for (size_t i = 0; i < fe->n; i++)
        free(fe->stdins[i].buf);
    free(fe->stdins);
    free(fe->script);
    free(fe->api_version);
    free(fe->libpod_version);
    free(fe->sock_path);
    free(fe->dir);
    strbuf_release(&fe->problems);
    pthread_mutex_destroy(&fe->lock);
    free(fe);
}
