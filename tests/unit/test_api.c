/* The local API (src/orch/api.c) on a socket in a temporary directory, over a real store and a
 * fake daemon: the daemon's service functions are defined here (they win over daemon.o, which
 * the linker then never pulls in), and the test plays the dispatcher itself, moving a posted
 * message through its states and adding replies. Requests are raw HTTP/1.1 on AF_UNIX sockets,
 * so a test can stall half way through a request or hang up mid-stream. Also: the stream's
 * event format and line splitter (src/orch/apievents.c), which the clients parse. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "orch/api.h"
#include "orch/apievents.h"
#include "orch/daemon.h"
#include "orch/store.h"
#include "orch/store_tasks.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

/* Safety net for reads, so that a bug fails the test instead of hanging it. Not a timing
 * assertion: every wait ends as soon as what it waits for happens. */
#define IO_TIMEOUT_MS 20000

/* ---- the fake daemon ---- */

struct nc_daemon {
    store *db;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t gen;
    bool stopping;
    bool no_timeouts; /* waits end only on a change: a test's steps between bumps stay unseen */
    int groups_changed;
};

static void bump(nc_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    d->gen++;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

store *daemon_store(nc_daemon *d)
{
    return d->db;
}

int daemon_post_message(nc_daemon *d, const char *group, const char *chat_jid, const char *sender,
                        const char *text, int64_t *id, nc_error **err)
{
    if (daemon_stopping(d))
        return nc_error_set(err, ESHUTDOWN, "the daemon is shutting down");
    _cleanup_free_ char *chat = xasprintf("local:%s", group);
    int r = store_message_add(d->db, group, chat_jid ? chat_jid : chat, sender, text,
                              (int64_t)wall_ms(), id, err);
    if (r == 0)
        bump(d);
    return r;
}

int daemon_webhook(nc_daemon *d, const char *name, const char *signature, const char *timestamp,
                   const char *body, size_t len, int64_t *id, nc_error **err)
{
    (void)d, (void)signature, (void)timestamp, (void)body, (void)len, (void)id;
    /* Hook "signed" refuses every signature, hook "stale" every timestamp; no other hook is
     * configured here. */
    if (strcmp(name, "signed") == 0)
        return nc_error_set(err, EACCES, "the signature does not match");
    if (strcmp(name, "stale") == 0)
        return nc_error_set(err, ETIME, "the timestamp is too old");
    return nc_error_set(err, ENOENT, "no hook '%s'", name);
}

char *daemon_waits_for_trigger(nc_daemon *d, const char *group, const char *text)
{
    (void)d;
    (void)group;
    /* The fake's groups never wait for a trigger unless the text says so. */
    return strstr(text, "#context") ? xstrdup("fake: context for the trigger") : NULL;
}

/* When set, daemon_retry fails with this code (the daemon's own trouble, such as EACCES on a
 * file it cannot read). */
static int fake_retry_error;

int daemon_retry(nc_daemon *d, const char *group, nc_error **err)
{
    if (fake_retry_error)
        return nc_error_set(err, fake_retry_error, "fake: %s", strerror(fake_retry_error));
    int n = store_group_retry(d->db, group, err);
    if (n >= 0)
        bump(d);
    return n;
}

void daemon_groups_changed(nc_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    d->groups_changed++;
    pthread_mutex_unlock(&d->lock);
}

uint64_t daemon_change_gen(nc_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    uint64_t g = d->gen;
    pthread_mutex_unlock(&d->lock);
    return g;
}

uint64_t daemon_wait_change(nc_daemon *d, uint64_t seen, int timeout_ms)
{
    struct timespec ts = mono_timespec_after(timeout_ms > 0 ? (uint64_t)timeout_ms : 0);
    pthread_mutex_lock(&d->lock);
    while (d->gen == seen && !d->stopping) {
        if (d->no_timeouts)
            pthread_cond_wait(&d->cond, &d->lock);
        else if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) == ETIMEDOUT)
            break;
    }
    uint64_t g = d->gen;
    pthread_mutex_unlock(&d->lock);
    return g;
}

bool daemon_stopping(nc_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    bool s = d->stopping;
    pthread_mutex_unlock(&d->lock);
    return s;
}

void daemon_status_json(nc_daemon *d, struct nc_jgen *g)
{
    (void)d;
    jgen_kv_str(g, "engine", "unix:///fake.sock");
    jgen_key(g, "running");
    jgen_arr_open(g);
    jgen_arr_close(g);
}

void daemon_metrics(nc_daemon *d, strbuf *out)
{
    (void)d;
    strbuf_addstr(out, "# TYPE nanocell_containers_running gauge\n"
                       "nanocell_containers_running 0\n");
}

/* ---- fixture ---- */

/* Tasks: the schedule's rules are the scheduler's (test_scheduler); here a schedule is good
 * when its type is, and its first run is at 1000 ms. */
int daemon_task_add(nc_daemon *d, const store_task *t, char **id, nc_error **err)
{
    if (strcmp(t->schedule_type, "cron") != 0 && strcmp(t->schedule_type, "interval") != 0 &&
        strcmp(t->schedule_type, "once") != 0)
        return nc_error_set(err, EINVAL, "unknown schedule type '%s'", t->schedule_type);
    store_task n = *t;
    n.id = t->id ? t->id : "task-1";
    n.chat_jid = t->chat_jid ? t->chat_jid : "local:x";
    n.next_run_ms = 1000;
    int r = store_task_add(d->db, &n, err);
    if (r == 0)
        *id = xstrdup(n.id);
    return r;
}

int daemon_task_pause(nc_daemon *d, const char *id, bool paused, nc_error **err)
{
    return store_task_set_status(d->db, id, paused ? "paused" : "active", -1, err);
}

int daemon_task_remove(nc_daemon *d, const char *id, nc_error **err)
{
    return store_task_remove(d->db, id, err);
}

char *daemon_task_time(nc_daemon *d, int64_t ms)
{
    (void)d;
    return xasprintf("local %lld", (long long)ms);
}

const char *daemon_timezone(nc_daemon *d)
{
    (void)d;
    return "Test/Zone";
}

static char *base;     /* the temporary directory */
static char *sock;     /* base/run/api.sock */
static nc_daemon fake; /* its store is base/nanocell.db */
static api_server *srv;

static int groups_changed(void)
{
    pthread_mutex_lock(&fake.lock);
    int n = fake.groups_changed;
    pthread_mutex_unlock(&fake.lock);
    return n;
}

static void start_server(void)
{
    int fd = -1;
    _cleanup_error_ nc_error *err = NULL;
    if (api_listen(sock, &fd, &err) < 0)
        fail_msg("api_listen: %s", nc_error_msg(err));
    if (api_start(&fake, fd, 8, &srv, &err) < 0)
        fail_msg("api_start: %s", nc_error_msg(err));
}

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/nanocell-api-XXXXXX";
    base = xstrdup(mkdtemp(tmpl));
    sock = xasprintf("%s/run/api.sock", base);
    _cleanup_free_ char *db = xasprintf("%s/nanocell.db", base);
    _cleanup_error_ nc_error *err = NULL;
    fake = (nc_daemon){0};
    pthread_mutex_init(&fake.lock, NULL);
    pthread_condattr_t ca; /* timed on the monotonic clock, as the daemon's */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fake.cond, &ca);
    pthread_condattr_destroy(&ca);
    if (store_open_path(db, &fake.db, &err) < 0)
        fail_msg("store_open_path: %s", nc_error_msg(err));
    start_server();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    api_stop(srv);
    srv = NULL;
    store_close(fake.db);
    pthread_mutex_destroy(&fake.lock);
    pthread_cond_destroy(&fake.cond);
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s'", base);
    assert_int_equal(system(rm), 0);
    free(base);
    free(sock);
    return 0;
}

/* ---- a raw HTTP/1.1 client ---- */

static int conn_open(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        fail_msg("connect '%s': %s", sock, strerror(errno));
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail_msg("send: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
}

/* Sends a request; body NULL sends none. keep: no "Connection: close". */
static void send_request(int fd, const char *method, const char *target, const char *body,
                         bool keep)
{
    _cleanup_free_ char *head =
        body ? xasprintf("%s %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Type: "
                         "application/json\r\nContent-Length: %zu\r\n\r\n",
                         method, target, keep ? "" : "Connection: close\r\n", strlen(body))
             : xasprintf("%s %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n", method, target,
                         keep ? "" : "Connection: close\r\n");
    send_all(fd, head, strlen(head));
    if (body)
        send_all(fd, body, strlen(body));
}

struct reader {
    int fd;
    strbuf buf; /* read, not yet consumed */
};

/* Reads more; false at end of stream. */
static bool rd_fill(struct reader *r)
{
    struct pollfd p = {.fd = r->fd, .events = POLLIN};
    int n = poll(&p, 1, IO_TIMEOUT_MS);
    if (n == 0)
        fail_msg("no data from the server within %d ms", IO_TIMEOUT_MS);
    char buf[4096];
    ssize_t k = recv(r->fd, buf, sizeof(buf), 0);
    if (k < 0 && errno == ECONNRESET)
        return false;
    assert_true(k >= 0);
    if (k == 0)
        return false;
    strbuf_add(&r->buf, buf, (size_t)k);
    return true;
}

/* The next CRLF-terminated line, without it; NULL at end of stream. Allocated. */
static char *rd_line(struct reader *r)
{
    for (;;) {
        const char *crlf = r->buf.len ? memmem(r->buf.buf, r->buf.len, "\r\n", 2) : NULL;
        if (crlf) {
            size_t n = (size_t)(crlf - r->buf.buf);
            char *line = xstrndup(r->buf.buf, n);
            strbuf_consume(&r->buf, n + 2);
            return line;
        }
        if (!rd_fill(r))
            return NULL;
    }
}

static void rd_bytes(struct reader *r, size_t n, strbuf *out)
{
    while (r->buf.len < n)
        if (!rd_fill(r))
            fail_msg("the server hung up %zu bytes before the end of a body", n - r->buf.len);
    strbuf_add(out, r->buf.buf, n);
    strbuf_consume(&r->buf, n);
}

struct response {
    int status;
    char *ctype, *connection, *allow;
    long length; /* -1: none */
    bool chunked;
    strbuf body;
};

static void response_release(struct response *resp)
{
    free(resp->ctype);
    free(resp->connection);
    free(resp->allow);
    strbuf_release(&resp->body);
    *resp = (struct response){0};
}

static void read_head(struct reader *r, struct response *resp)
{
    *resp = (struct response){.length = -1};
    _cleanup_free_ char *status = rd_line(r);
    assert_non_null(status);
    assert_int_equal(sscanf(status, "HTTP/1.1 %d", &resp->status), 1);
    for (;;) {
        _cleanup_free_ char *h = rd_line(r);
        assert_non_null(h);
        if (!h[0])
            break;
        char *colon = strchr(h, ':');
        assert_non_null(colon);
        *colon = '\0';
        const char *v = colon + 1 + strspn(colon + 1, " ");
        if (strcasecmp(h, "Content-Type") == 0)
            resp->ctype = xstrdup(v);
        else if (strcasecmp(h, "Connection") == 0)
            resp->connection = xstrdup(v);
        else if (strcasecmp(h, "Allow") == 0)
            resp->allow = xstrdup(v);
        else if (strcasecmp(h, "Content-Length") == 0)
            resp->length = strtol(v, NULL, 10);
        else if (strcasecmp(h, "Transfer-Encoding") == 0)
            resp->chunked = strcasecmp(v, "chunked") == 0;
    }
}

/* The next chunk of a chunked body appended to out; false after the last (empty) one. */
static bool read_chunk(struct reader *r, strbuf *out)
{
    _cleanup_free_ char *size = rd_line(r);
    if (!size)
        return false;
    long n = strtol(size, NULL, 16);
    if (n == 0) {
        _cleanup_free_ char *end = rd_line(r);
        return false;
    }
    rd_bytes(r, (size_t)n, out);
    _cleanup_free_ char *crlf = rd_line(r);
    return true;
}

static void read_body(struct reader *r, struct response *resp)
{
    if (resp->chunked) {
        while (read_chunk(r, &resp->body))
            ;
    } else if (resp->length >= 0) {
        rd_bytes(r, (size_t)resp->length, &resp->body);
    } else {
        while (rd_fill(r))
            ;
        strbuf_add(&resp->body, r->buf.buf, r->buf.len);
        strbuf_reset(&r->buf);
    }
}

/* One request on a new connection; the whole response. */
static void request(const char *method, const char *target, const char *body, struct response *resp)
{
    struct reader r = {conn_open(), STRBUF_INIT};
    send_request(r.fd, method, target, body, false);
    read_head(&r, resp);
    read_body(&r, resp);
    close(r.fd);
    strbuf_release(&r.buf);
}

/* request(), checks the status, and parses the JSON body (free with json_free). */
static nc_json *request_json(const char *method, const char *target, const char *body, int status)
{
    struct response resp;
    request(method, target, body, &resp);
    if (resp.status != status)
        fail_msg("%s %s: status %d, expected %d: %s", method, target, resp.status, status,
                 strbuf_str(&resp.body));
    assert_non_null(resp.ctype);
    assert_string_equal(resp.ctype, "application/json");
    nc_json *root = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (json_parse(resp.body.buf, resp.body.len, &root, &err) < 0)
        fail_msg("%s %s: body is not JSON: %s", method, target, nc_error_msg(err));
    response_release(&resp);
    return root;
}

/* The request is refused with status, and its error message contains want. */
static void expect_error(const char *method, const char *target, const char *body, int status,
                         const char *want)
{
    _cleanup_json_ nc_json *root = request_json(method, target, body, status);
    const char *msg = json_string(json_get(root, "error"));
    assert_non_null(msg);
    if (!strstr(msg, want))
        fail_msg("%s %s: error '%s' does not say '%s'", method, target, msg, want);
}

static const char *str_of(const nc_json *v, const char *key)
{
    const char *s = json_string(json_get(v, key));
    if (!s)
        fail_msg("no string member '%s'", key);
    return s;
}

static int64_t int_of(const nc_json *v, const char *key)
{
    int64_t n;
    if (!json_int(json_get(v, key), &n))
        fail_msg("no integer member '%s'", key);
    return n;
}

static bool bool_of(const nc_json *v, const char *key)
{
    bool b;
    if (!json_bool(json_get(v, key), &b))
        fail_msg("no boolean member '%s'", key);
    return b;
}

static void add_group(const char *body)
{
    _cleanup_json_ nc_json *g = request_json("POST", "/v1/groups", body, 201);
}

/* ---- the stream, read event by event ---- */

struct stream {
    struct reader r;
    struct response head;
    strbuf data; /* de-chunked, not yet split */
    bool ended;
};

static void stream_open(struct stream *s, const char *target, const char *body)
{
    *s = (struct stream){.r = {conn_open(), STRBUF_INIT}};
    send_request(s->r.fd, "POST", target, body, false);
    read_head(&s->r, &s->head);
    assert_int_equal(s->head.status, 200);
    assert_string_equal(s->head.ctype, "application/x-ndjson");
}

/* The next event line parsed into ev; false at the end of the stream. */
static bool stream_next(struct stream *s, api_event *ev)
{
    for (;;) {
        const char *nl = s->data.len ? memchr(s->data.buf, '\n', s->data.len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - s->data.buf);
            _cleanup_error_ nc_error *err = NULL;
            if (api_event_parse(s->data.buf, n, ev, &err) < 0)
                fail_msg("bad event '%.*s': %s", (int)n, s->data.buf, nc_error_msg(err));
            strbuf_consume(&s->data, n + 1);
            return true;
        }
        if (s->ended || !read_chunk(&s->r, &s->data)) {
            s->ended = true;
            assert_int_equal(s->data.len, 0);
            return false;
        }
    }
}

static void stream_close(struct stream *s)
{
    close(s->r.fd);
    strbuf_release(&s->r.buf);
    strbuf_release(&s->data);
    response_release(&s->head);
}

/* What the store makes of attempts and error across a requeue is the store's business. */
#define ANY_ATTEMPTS (-1)
static const char any_error[] = "(any)";

static void expect_state(struct stream *s, const char *state, int64_t attempts, const char *error)
{
    api_event ev;
    assert_true(stream_next(s, &ev));
    assert_int_equal(ev.kind, API_EV_STATE);
    assert_string_equal(ev.state, state);
    if (attempts != ANY_ATTEMPTS)
        assert_int_equal(ev.attempts, attempts);
    if (error == any_error)
        ;
    else if (error)
        assert_string_equal(ev.error, error);
    else
        assert_null(ev.error);
    api_event_release(&ev);
}

static void expect_reply(struct stream *s, int64_t id, const char *text)
{
    api_event ev;
    assert_true(stream_next(s, &ev));
    assert_int_equal(ev.kind, API_EV_REPLY);
    assert_int_equal(ev.id, id);
    assert_string_equal(ev.text, text);
    api_event_release(&ev);
}

static int64_t expect_accepted(struct stream *s)
{
    api_event ev;
    assert_true(stream_next(s, &ev));
    assert_int_equal(ev.kind, API_EV_ACCEPTED);
    int64_t id = ev.id;
    api_event_release(&ev);
    return id;
}

static void expect_end(struct stream *s)
{
    api_event ev;
    assert_false(stream_next(s, &ev));
}

/* The state of a stored message (a reply's is its outbox row's). */
static char *msg_state(int64_t id)
{
    store_message m = {0};
    _cleanup_error_ nc_error *err = NULL;
    if (store_message_get(fake.db, id, &m, &err) < 0)
        fail_msg("store_message_get: %s", nc_error_msg(err));
    char *state = xstrdup(m.state);
    store_message_release(&m);
    return state;
}

/* The dispatcher's steps, done by the test. */
static void start_batch(int64_t id)
{
    _cleanup_error_ nc_error *err = NULL;
    if (store_batch_start(fake.db, &id, 1, id, "run-1", &err) < 0)
        fail_msg("store_batch_start: %s", nc_error_msg(err));
    bump(&fake);
}

static int64_t add_reply(const char *group, int64_t batch, const char *text)
{
    int64_t id = 0;
    _cleanup_error_ nc_error *err = NULL;
    _cleanup_free_ char *chat = xasprintf("local:%s", group);
    if (store_reply_add(fake.db, group, chat, batch, "run-1", text, (int64_t)wall_ms(), &id, &err) <
        0)
        fail_msg("store_reply_add: %s", nc_error_msg(err));
    bump(&fake);
    return id;
}

/* Waits (bounded) until no stream is left on the server. */
static void wait_streams_gone(void)
{
    uint64_t deadline = mono_ms() + IO_TIMEOUT_MS;
    while (api_stream_count(srv) > 0) {
        if (mono_ms() > deadline)
            fail_msg("a stream is still open");
        sleep_ms(10);
    }
}

/* ---- tests: endpoints ---- */

static void test_health(void **state)
{
    (void)state;
    _cleanup_json_ nc_json *root = request_json("GET", "/v1/health", NULL, 200);
    assert_true(bool_of(root, "ok"));
}

/* The first call of the handler queues nothing, so MHD 0.9.75 keeps the connection (see
 * api.c): two requests on one connection, and no "Connection: close". */
static void test_keep_alive(void **state)
{
    (void)state;
    struct reader r = {conn_open(), STRBUF_INIT};
    for (int i = 0; i < 2; i++) {
        send_request(r.fd, i ? "POST" : "GET", i ? "/v1/groups" : "/v1/health",
                     i ? "{\"folder\":\"keep\"}" : NULL, true);
        struct response resp;
        read_head(&r, &resp);
        read_body(&r, &resp);
        assert_int_equal(resp.status, i ? 201 : 200);
        assert_null(resp.connection);
        response_release(&resp);
    }
    close(r.fd);
    strbuf_release(&r.buf);
}

static void test_groups(void **state)
{
    (void)state;
    _cleanup_json_ nc_json *g = request_json(
        "POST", "/v1/groups",
        "{\"folder\":\"family\",\"name\":\"Family\",\"trigger\":\"@Andy\",\"image\":\"img:1\"}",
        201);
    assert_string_equal(str_of(g, "folder"), "family");
    assert_string_equal(str_of(g, "name"), "Family");
    assert_string_equal(str_of(g, "trigger"), "@Andy");
    assert_string_equal(str_of(g, "image"), "img:1");
    assert_true(bool_of(g, "requires_trigger"));
    assert_false(bool_of(g, "is_main"));
    assert_non_null(strchr(str_of(g, "added"), 'T'));
    assert_int_equal(groups_changed(), 1);

    /* Its local chat is mapped. */
    _cleanup_free_ char *folder = NULL;
    _cleanup_error_ nc_error *err = NULL;
    assert_int_equal(store_chat_group(fake.db, "local:family", &folder, &err), 0);
    assert_string_equal(folder, "family");

    add_group("{\"folder\":\"main\",\"is_main\":true,\"requires_trigger\":false}");
    _cleanup_json_ nc_json *list = request_json("GET", "/v1/groups", NULL, 200);
    const nc_json *v = json_get(list, "groups");
    assert_int_equal(json_array_len(v), 2);
    assert_string_equal(str_of(json_array_at(v, 0), "folder"), "family");
    assert_string_equal(str_of(json_array_at(v, 1), "folder"), "main");
    assert_true(bool_of(json_array_at(v, 1), "is_main"));

    _cleanup_json_ nc_json *one = request_json("GET", "/v1/groups/main", NULL, 200);
    assert_string_equal(str_of(one, "folder"), "main");
    assert_string_equal(str_of(one, "name"), "main"); /* no display name: the folder */

    _cleanup_json_ nc_json *p = request_json("PATCH", "/v1/groups/family",
                                             "{\"name\":\"Fam\",\"requires_trigger\":false}", 200);
    assert_string_equal(str_of(p, "name"), "Fam");
    assert_false(bool_of(p, "requires_trigger"));
    assert_string_equal(str_of(p, "trigger"), "@Andy"); /* untouched */
    assert_int_equal(groups_changed(), 3);

    _cleanup_json_ nc_json *rm = request_json("DELETE", "/v1/groups/family", NULL, 200);
    assert_string_equal(str_of(rm, "removed"), "family");
    assert_int_equal(groups_changed(), 4);
    expect_error("GET", "/v1/groups/family", NULL, 404, "family");
}

static void test_group_refusals(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    expect_error("POST", "/v1/groups", "{\"folder\":", 400, "request body");
    expect_error("POST", "/v1/groups", "[1]", 400, "expected a JSON object");
    expect_error("POST", "/v1/groups", "", 400, "expected a JSON object");
    expect_error("POST", "/v1/groups", "{\"folder\":\"a\",\"colour\":1}", 400,
                 "unknown field 'colour'");
    expect_error("POST", "/v1/groups", "{\"folder\":\"a\",\"is_main\":\"yes\"}", 400, "'is_main'");
    expect_error("POST", "/v1/groups", "{\"folder\":7}", 400, "'folder' must be a string");
    expect_error("POST", "/v1/groups", "{\"folder\":\"a\",\"name\":null}", 400, "'name'");
    expect_error("POST", "/v1/groups", "{\"name\":\"x\"}", 400, "'folder' is required");
    /* The store's own rules: a bad folder name, a duplicate (ignoring case), a second main. */
    json_free(request_json("POST", "/v1/groups", "{\"folder\":\"no spaces\"}", 400));
    json_free(request_json("POST", "/v1/groups", "{\"folder\":\"global\"}", 400));
    json_free(request_json("POST", "/v1/groups", "{\"folder\":\"MAIN\"}", 409));
    json_free(request_json("POST", "/v1/groups", "{\"folder\":\"other\",\"is_main\":true}", 409));
    add_group("{\"folder\":\"other\"}");
    json_free(request_json("PATCH", "/v1/groups/other", "{\"is_main\":true}", 409));
    expect_error("PATCH", "/v1/groups/other", "{\"folder\":\"x\"}", 400, "'folder'");
    expect_error("PATCH", "/v1/groups/other", "{\"image\":false}", 400, "'image'");
    expect_error("PATCH", "/v1/groups/nope", "{\"name\":\"x\"}", 404, "nope");
    expect_error("DELETE", "/v1/groups/nope", NULL, 404, "nope");
    /* Routing. */
    expect_error("GET", "/v1/nothing", NULL, 404, "no such endpoint");
    expect_error("GET", "/v1/groups/main/nothing", NULL, 404, "no such endpoint");
    expect_error("GET", "/v1/groups/main/runs/x", NULL, 404, "no such endpoint");
    expect_error("GET", "/v1/groups?x=1", NULL, 400, "unknown query parameter 'x'");
    expect_error("GET", "/v1/health", "{}", 400, "takes no body");
    struct response resp;
    request("PUT", "/v1/groups", NULL, &resp);
    assert_int_equal(resp.status, 405);
    assert_string_equal(resp.allow, "GET, POST");
    response_release(&resp);
    request("DELETE", "/v1/health", NULL, &resp);
    assert_int_equal(resp.status, 405);
    assert_string_equal(resp.allow, "GET");
    response_release(&resp);
}

static void test_tasks(void **state)
{
    (void)state;
    add_group("{\"folder\":\"fam\"}");
    _cleanup_json_ nc_json *t =
        request_json("POST", "/v1/tasks",
                     "{\"group\":\"fam\",\"prompt\":\"echo hi\",\"schedule_type\":\"interval\","
                     "\"schedule_value\":\"60000\",\"id\":\"t1\",\"context_mode\":\"group\"}",
                     201);
    assert_string_equal(str_of(t, "id"), "t1");
    assert_string_equal(str_of(t, "group"), "fam");
    assert_string_equal(str_of(t, "status"), "active");
    assert_string_equal(str_of(t, "next_run"), "1970-01-01T00:00:01.000Z");
    assert_string_equal(str_of(t, "next_run_local"), "local 1000");
    assert_true(json_is_null(json_get(t, "last_run")));
    _cleanup_json_ nc_json *list = request_json("GET", "/v1/tasks?group=fam", NULL, 200);
    assert_string_equal(str_of(list, "timezone"), "Test/Zone");
    assert_int_equal(json_array_len(json_get(list, "tasks")), 1);
    _cleanup_json_ nc_json *none = request_json("GET", "/v1/tasks?group=other", NULL, 200);
    assert_int_equal(json_array_len(json_get(none, "tasks")), 0);
    _cleanup_json_ nc_json *p =
        request_json("PATCH", "/v1/tasks/t1", "{\"status\":\"paused\"}", 200);
    assert_string_equal(str_of(p, "status"), "paused");
    _cleanup_json_ nc_json *one = request_json("GET", "/v1/tasks/t1", NULL, 200);
    assert_int_equal(json_array_len(json_get(one, "runs")), 0);
    /* Refusals. */
    expect_error("POST", "/v1/tasks", "{\"group\":\"fam\"}", 400, "'prompt' is required");
    expect_error("POST", "/v1/tasks",
                 "{\"group\":\"fam\",\"prompt\":\"p\",\"schedule_type\":\"weekly\","
                 "\"schedule_value\":\"1\"}",
                 400, "weekly");
    expect_error("POST", "/v1/tasks", "{\"group\":\"fam\",\"colour\":\"red\"}", 400,
                 "unknown field 'colour'");
    expect_error("POST", "/v1/tasks", "{\"group\":7}", 400, "'group' must be a string");
    expect_error("POST", "/v1/tasks",
                 "{\"group\":\"fam\",\"prompt\":\"p\",\"schedule_type\":\"cron\","
                 "\"schedule_value\":\"* * * * *\",\"id\":\"../x\"}",
                 400, "'id'");
    expect_error("POST", "/v1/tasks",
                 "{\"group\":\"fam\",\"prompt\":\"p\",\"schedule_type\":\"cron\","
                 "\"schedule_value\":\"* * * * *\",\"id\":\"t1\"}",
                 409, "t1");
    expect_error("POST", "/v1/tasks",
                 "{\"group\":\"nope\",\"prompt\":\"p\",\"schedule_type\":\"cron\","
                 "\"schedule_value\":\"* * * * *\"}",
                 404, "nope");
    expect_error("PATCH", "/v1/tasks/t1", "{\"status\":\"done\"}", 400, "'status'");
    expect_error("PATCH", "/v1/tasks/nope", "{\"status\":\"paused\"}", 404, "nope");
    expect_error("GET", "/v1/tasks/t1/runs", NULL, 404, "no such endpoint");
    expect_error("GET", "/v1/tasks?x=1", NULL, 400, "unknown query parameter 'x'");
    struct response resp;
    request("PUT", "/v1/tasks/t1", NULL, &resp);
    assert_int_equal(resp.status, 405);
    assert_string_equal(resp.allow, "GET, PATCH, DELETE");
    response_release(&resp);
    _cleanup_json_ nc_json *rm = request_json("DELETE", "/v1/tasks/t1", NULL, 200);
    assert_string_equal(str_of(rm, "removed"), "t1");
    expect_error("GET", "/v1/tasks/t1", NULL, 404, "t1");
}

static void test_body_cap(void **state)
{
    (void)state;
    /* Announced by Content-Length: refused before the body is read. */
    struct reader r = {conn_open(), STRBUF_INIT};
    _cleanup_free_ char *head = xasprintf("POST /v1/groups HTTP/1.1\r\nHost: x\r\n"
                                          "Content-Length: %zu\r\n\r\n",
                                          API_MAX_BODY + 1);
    send_all(r.fd, head, strlen(head));
    struct response resp;
    read_head(&r, &resp);
    read_body(&r, &resp);
    assert_int_equal(resp.status, 413);
    assert_non_null(strstr(strbuf_str(&resp.body), "larger than"));
    response_release(&resp);
    close(r.fd);
    strbuf_release(&r.buf);

    /* Chunked, with no length: counted as it comes. */
    r = (struct reader){conn_open(), STRBUF_INIT};
    const char *h = "POST /v1/groups HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                    "Connection: close\r\n\r\n";
    send_all(r.fd, h, strlen(h));
    size_t chunk = 64 * 1024;
    _cleanup_free_ char *data = xmalloc(chunk);
    memset(data, 'x', chunk);
    _cleanup_free_ char *size = xasprintf("%zx\r\n", chunk);
    for (size_t sent = 0; sent <= API_MAX_BODY; sent += chunk) {
        send_all(r.fd, size, strlen(size));
        send_all(r.fd, data, chunk);
        send_all(r.fd, "\r\n", 2);
    }
    send_all(r.fd, "0\r\n\r\n", 5);
    read_head(&r, &resp);
    read_body(&r, &resp);
    assert_int_equal(resp.status, 413);
    response_release(&resp);
    close(r.fd);
    strbuf_release(&r.buf);

    /* Just under the cap is read (and judged on its content). */
    _cleanup_free_ char *big = xmalloc(API_MAX_BODY + 1);
    memset(big, ' ', API_MAX_BODY);
    big[API_MAX_BODY] = '\0';
    big[0] = '{';
    big[API_MAX_BODY - 1] = '}';
    expect_error("POST", "/v1/groups", big, 400, "'folder' is required");
}

static void test_messages_and_runs(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    add_group("{\"folder\":\"other\"}");
    int64_t ids[3];
    _cleanup_error_ nc_error *err = NULL;
    for (int i = 0; i < 3; i++) {
        _cleanup_free_ char *text = xasprintf("message %d", i);
        assert_int_equal(
            daemon_post_message(&fake, i == 1 ? "other" : "main", NULL, "ann", text, &ids[i], &err),
            0);
    }
    start_batch(ids[0]);
    int64_t reply = add_reply("main", ids[0], "hello \xff back");

    _cleanup_json_ nc_json *all = request_json("GET", "/v1/messages", NULL, 200);
    const nc_json *v = json_get(all, "messages");
    assert_int_equal(json_array_len(v), 4);
    assert_false(bool_of(all, "more"));
    const nc_json *m0 = json_array_at(v, 0), *r = json_array_at(v, 3);
    assert_int_equal(int_of(m0, "id"), ids[0]);
    assert_string_equal(str_of(m0, "group"), "main");
    assert_string_equal(str_of(m0, "direction"), "in");
    assert_string_equal(str_of(m0, "text"), "message 0");
    assert_string_equal(str_of(m0, "sender"), "ann");
    assert_string_equal(str_of(m0, "state"), "running");
    assert_string_equal(str_of(m0, "chat"), "local:main");
    const char *t = str_of(m0, "time");
    assert_int_equal(strlen(t), strlen("2026-12-01T10:00:00.123Z"));
    assert_int_equal(t[10], 'T');
    assert_int_equal(t[23], 'Z');
    assert_int_equal(int_of(r, "id"), reply);
    assert_string_equal(str_of(r, "direction"), "out");
    assert_int_equal(int_of(r, "reply_to"), ids[0]);
    assert_string_equal(str_of(r, "state"), "pending");
    /* A byte that is not UTF-8 is replaced, not a broken document. */
    assert_string_equal(str_of(r, "text"), "hello \xef\xbf\xbd back");

    /* Paged, and by group. */
    _cleanup_free_ char *q = xasprintf("/v1/messages?group=main&after=%" PRId64 "&limit=1", ids[0]);
    _cleanup_json_ nc_json *page = request_json("GET", q, NULL, 200);
    v = json_get(page, "messages");
    assert_int_equal(json_array_len(v), 1);
    assert_int_equal(int_of(json_array_at(v, 0), "id"), ids[2]);
    assert_true(bool_of(page, "more"));
    assert_int_equal(int_of(page, "last_id"), ids[2]);
    expect_error("GET", "/v1/messages?group=nope", NULL, 404, "nope");
    expect_error("GET", "/v1/messages?limit=0", NULL, 400, "'limit'");
    expect_error("GET", "/v1/messages?limit=1001", NULL, 400, "'limit'");
    expect_error("GET", "/v1/messages?after=-1", NULL, 400, "'after'");
    expect_error("GET", "/v1/messages?after=x", NULL, 400, "'after'");
    expect_error("GET", "/v1/messages?grup=main", NULL, 400, "'grup'");

    assert_int_equal(store_run_begin(fake.db, "run-1", "main", 1000, &err), 0);
    _cleanup_json_ nc_json *runs = request_json("GET", "/v1/groups/main/runs?limit=5", NULL, 200);
    v = json_get(runs, "runs");
    assert_int_equal(json_array_len(v), 1);
    assert_string_equal(str_of(json_array_at(v, 0), "run_id"), "run-1");
    assert_string_equal(str_of(json_array_at(v, 0), "state"), "running");
    expect_error("GET", "/v1/groups/nope/runs", NULL, 404, "nope");
    expect_error("GET", "/v1/groups/main/runs?limit=x", NULL, 400, "'limit'");
    expect_error("POST", "/v1/groups/main/runs", NULL, 405, "not allowed");
}

static void test_retry(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    int64_t id;
    _cleanup_error_ nc_error *err = NULL;
    assert_int_equal(daemon_post_message(&fake, "main", NULL, "ann", "hi", &id, &err), 0);
    start_batch(id);
    assert_int_equal(store_batch_requeue(fake.db, id, true, "engine down", &err), 0);
    _cleanup_json_ nc_json *r = request_json("POST", "/v1/groups/main/retry", NULL, 200);
    assert_int_equal(int_of(r, "retried"), 1);
    _cleanup_free_ char *st = msg_state(id);
    assert_string_equal(st, "pending");
    _cleanup_json_ nc_json *again = request_json("POST", "/v1/groups/main/retry", "{}", 200);
    assert_int_equal(int_of(again, "retried"), 0);
    expect_error("POST", "/v1/groups/nope/retry", NULL, 404, "nope");
    expect_error("POST", "/v1/groups/main/retry", "{\"all\":true}", 400, "unknown field 'all'");
}

static void test_status_and_metrics(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    int64_t id;
    _cleanup_error_ nc_error *err = NULL;
    assert_int_equal(daemon_post_message(&fake, "main", NULL, "ann", "hi", &id, &err), 0);
    _cleanup_json_ nc_json *st = request_json("GET", "/v1/status", NULL, 200);
    assert_string_equal(str_of(st, "engine"), "unix:///fake.sock"); /* the daemon's part */
    const nc_json *counts = json_get(st, "counts");
    assert_int_equal(json_array_len(counts), 1);
    assert_string_equal(str_of(json_array_at(counts, 0), "group"), "main");
    assert_int_equal(int_of(json_array_at(counts, 0), "pending"), 1);
    assert_int_equal(int_of(json_array_at(counts, 0), "undelivered"), 0);

    struct response resp;
    request("GET", "/metrics", NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(strbuf_str(&resp.body), "nanocell_containers_running 0\n"));
    response_release(&resp);
}

static void test_shutting_down(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    pthread_mutex_lock(&fake.lock);
    fake.stopping = true;
    pthread_mutex_unlock(&fake.lock);
    expect_error("GET", "/v1/health", NULL, 503, "shutting down");
    expect_error("POST", "/v1/groups/main/messages", "{\"text\":\"hi\"}", 503, "shutting down");
    pthread_mutex_lock(&fake.lock);
    fake.stopping = false;
    pthread_mutex_unlock(&fake.lock);
}

/* ---- tests: the message stream ---- */

static void test_post_refusals(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    expect_error("POST", "/v1/groups/nope/messages", "{\"text\":\"hi\"}", 404, "nope");
    expect_error("POST", "/v1/groups/main/messages", "{}", 400, "'text' is required");
    expect_error("POST", "/v1/groups/main/messages", "{\"text\":\"\"}", 400, "'text' is empty");
    expect_error("POST", "/v1/groups/main/messages", "{\"text\":1}", 400, "'text'");
    expect_error("POST", "/v1/groups/main/messages", "{\"text\":\"a\",\"sender\":[]}", 400,
                 "'sender'");
    expect_error("POST", "/v1/groups/main/messages", "{\"text\":\"a\",\"to\":\"x\"}", 400,
                 "unknown field 'to'");
    expect_error("POST", "/v1/groups/main/messages?wait=2", "{\"text\":\"a\"}", 400, "'wait'");
    expect_error("GET", "/v1/groups/main/messages", NULL, 405, "not allowed");
    /* Nothing was stored by a refused request. */
    store_message *v = NULL;
    size_t n = 9;
    _cleanup_error_ nc_error *err = NULL;
    assert_int_equal(store_message_list(fake.db, NULL, 0, 0, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    store_messages_free(v, n);
}

/* A full disk refuses the message with 507, and nothing is half stored. */
/* 401 is the hooks' answer to a bad signature or timestamp; the same error codes from anything
 * else are the daemon's trouble, a 500, never "unauthorized". */
static void test_unauthorized_only_for_hooks(void **state)
{
    (void)state;
    expect_error("POST", "/hooks/signed", "{\"text\":\"x\"}", 401, "signature does not match");
    expect_error("POST", "/hooks/stale", "{\"text\":\"x\"}", 401, "too old");
    expect_error("POST", "/hooks/other", "{\"text\":\"x\"}", 404, "no hook 'other'");
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    fake_retry_error = EACCES;
    expect_error("POST", "/v1/groups/main/retry", NULL, 500, "Permission denied");
    fake_retry_error = ETIME;
    expect_error("POST", "/v1/groups/main/retry", NULL, 500, "fake");
    fake_retry_error = 0;
}

static void test_disk_full(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    _cleanup_error_ nc_error *err = NULL;
    assert_int_equal(store_test_limit_pages(fake.db, 1, &err), 0);
    size_t n = 256 * 1024;
    _cleanup_free_ char *big = xmalloc(n + 32);
    memcpy(big, "{\"text\":\"", 9);
    memset(big + 9, 'x', n);
    memcpy(big + 9 + n, "\"}", 3);
    expect_error("POST", "/v1/groups/main/messages", big, 507, "full");
    assert_int_equal(store_test_limit_pages(fake.db, 1000000, &err), 0);
    store_message *v = NULL;
    size_t k = 9;
    assert_int_equal(store_message_list(fake.db, NULL, 0, 0, &v, &k, &err), 0);
    assert_int_equal(k, 0);
    store_messages_free(v, k);
}

static void test_stream(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    struct stream s;
    stream_open(&s, "/v1/groups/main/messages", "{\"text\":\"echo hi\",\"sender\":\"ann\"}");
    int64_t id = expect_accepted(&s);
    /* Committed before the client heard of it. */
    store_message m = {0};
    _cleanup_error_ nc_error *err = NULL;
    assert_int_equal(store_message_get(fake.db, id, &m, &err), 0);
    assert_string_equal(m.text, "echo hi");
    assert_string_equal(m.sender, "ann");
    store_message_release(&m);

    expect_state(&s, "pending", 0, NULL);
    start_batch(id);
    expect_state(&s, "running", 0, NULL);
    int64_t r1 = add_reply("main", id, "first");
    expect_reply(&s, r1, "first");
    int64_t r2 = add_reply("main", id, "second\nline");
    int64_t r3 = add_reply("main", id, "third");
    expect_reply(&s, r2, "second\nline");
    expect_reply(&s, r3, "third");
    assert_int_equal(store_batch_done(fake.db, id, &err), 0);
    bump(&fake);
    expect_state(&s, "done", 0, NULL);
    expect_end(&s);
    stream_close(&s);
    /* Every reply written to the client is delivered, and so never sent again. */
    for (int64_t r = r1; r <= r3; r++) {
        _cleanup_free_ char *st = msg_state(r);
        assert_string_equal(st, "delivered");
    }
    wait_streams_gone();
}

/* A batch whose replies go to another channel's chat (a local message answered together with
 * a Telegram one): the local stream shows them but leaves their delivery to that channel. */
static void test_stream_other_channel(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    struct stream s;
    stream_open(&s, "/v1/groups/main/messages", "{\"text\":\"echo hi\"}");
    int64_t id = expect_accepted(&s);
    expect_state(&s, "pending", 0, NULL);
    start_batch(id);
    expect_state(&s, "running", 0, NULL);
    int64_t r = 0;
    _cleanup_error_ nc_error *err = NULL;
    assert_int_equal(store_reply_add(fake.db, "main", "tg:100", id, "run-1", "for telegram",
                                     (int64_t)wall_ms(), &r, &err),
                     0);
    bump(&fake);
    expect_reply(&s, r, "for telegram");
    assert_int_equal(store_batch_done(fake.db, id, &err), 0);
    bump(&fake);
    expect_state(&s, "done", 0, NULL);
    expect_end(&s);
    stream_close(&s);
    wait_streams_gone();
    _cleanup_free_ char *st = msg_state(r);
    assert_string_equal(st, "pending");
}

/* A failed try puts the batch back (its undelivered replies superseded, never sent); after the
 * last one the message fails and the stream ends. */
static void test_stream_failure(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    struct stream s;
    stream_open(&s, "/v1/groups/main/messages", "{\"text\":\"hi\"}");
    int64_t id = expect_accepted(&s);
    expect_state(&s, "pending", 0, NULL);
    _cleanup_error_ nc_error *err = NULL;
    /* The reply and the requeue land together: the reply is superseded before the stream
     * looks, so it is never sent. The stream must not look on a timeout between the steps
     * (a loaded machine saw "running" there). */
    pthread_mutex_lock(&fake.lock);
    fake.no_timeouts = true;
    pthread_mutex_unlock(&fake.lock);
    assert_int_equal(store_batch_start(fake.db, &id, 1, id, "run-1", &err), 0);
    int64_t cut = 0;
    assert_int_equal(
        store_reply_add(fake.db, "main", "local:main", id, "run-1", "partial", 1, &cut, &err), 0);
    assert_int_equal(store_batch_requeue(fake.db, id, false, "exit status 1", &err), 0);
    bump(&fake);
    expect_state(&s, "pending", 1, "exit status 1");
    start_batch(id);
    expect_state(&s, "running", 1, any_error);
    assert_int_equal(store_batch_requeue(fake.db, id, true, "timed out", &err), 0);
    bump(&fake);
    expect_state(&s, "failed", ANY_ATTEMPTS, "timed out");
    expect_end(&s);
    stream_close(&s);
    _cleanup_free_ char *st = msg_state(cut);
    assert_string_equal(st, "superseded");
}

static void test_stream_no_wait(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    struct stream s;
    stream_open(&s, "/v1/groups/main/messages?wait=0", "{\"text\":\"hi\"}");
    int64_t id = expect_accepted(&s);
    assert_true(id > 0);
    expect_end(&s);
    stream_close(&s);
    wait_streams_gone();
}

/* A message that only waits (context for a group's trigger): accepted, then a waiting event
 * with the daemon's reason, and the stream ends; the message stays stored and pending. */
static void test_stream_waiting(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    struct stream s;
    stream_open(&s, "/v1/groups/main/messages", "{\"text\":\"just saying #context\"}");
    int64_t id = expect_accepted(&s);
    api_event ev;
    assert_true(stream_next(&s, &ev));
    assert_int_equal(ev.kind, API_EV_WAITING);
    assert_string_equal(ev.text, "fake: context for the trigger");
    api_event_release(&ev);
    expect_end(&s);
    stream_close(&s);
    store_message m = {0};
    assert_int_equal(store_message_get(fake.db, id, &m, NULL), 0);
    assert_string_equal(m.state, "pending");
    store_message_release(&m);
    wait_streams_gone();
}

/* The client hangs up mid-stream: the turn goes on, its reply stays in the outbox, and the
 * server serves others. */
static void test_stream_client_gone(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    struct stream s;
    stream_open(&s, "/v1/groups/main/messages", "{\"text\":\"hi\"}");
    int64_t id = expect_accepted(&s);
    expect_state(&s, "pending", 0, NULL);
    stream_close(&s);
    /* The state and the reply in one step, so that the stream has both to write. */
    _cleanup_error_ nc_error *err = NULL;
    int64_t r = 0;
    assert_int_equal(store_batch_start(fake.db, &id, 1, id, "run-1", &err), 0);
    assert_int_equal(store_reply_add(fake.db, "main", "local:main", id, "run-1",
                                     "nobody hears this", 1, &r, &err),
                     0);
    bump(&fake);
    /* The stream's write fails and it ends. */
    wait_streams_gone();
    assert_int_equal(store_batch_done(fake.db, id, &err), 0);
    bump(&fake);
    _cleanup_free_ char *st = msg_state(r);
    assert_string_equal(st, "pending");
    store_message *v = NULL;
    size_t n = 0;
    assert_int_equal(store_outbox_pending(fake.db, "local:", 0, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, r);
    store_messages_free(v, n);
    _cleanup_json_ nc_json *h = request_json("GET", "/v1/health", NULL, 200);
}

/* A client that sends half a request and stalls holds only its own connection. */
static void test_slow_client(void **state)
{
    (void)state;
    int stalled = conn_open();
    send_all(stalled, "GET /v1/hea", strlen("GET /v1/hea"));
    struct stream s;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    stream_open(&s, "/v1/groups/main/messages", "{\"text\":\"hi\"}"); /* one waiting stream */
    expect_accepted(&s);
    _cleanup_json_ nc_json *h = request_json("GET", "/v1/health", NULL, 200);
    assert_true(bool_of(h, "ok"));
    stream_close(&s);
    close(stalled);
}

/* api_stop ends a waiting stream with a shutdown event. */
static void test_stop_ends_streams(void **state)
{
    (void)state;
    add_group("{\"folder\":\"main\",\"is_main\":true}");
    struct stream s;
    stream_open(&s, "/v1/groups/main/messages", "{\"text\":\"hi\"}");
    expect_accepted(&s);
    expect_state(&s, "pending", 0, NULL);
    api_stop(srv);
    srv = NULL;
    api_event ev;
    assert_true(stream_next(&s, &ev));
    assert_int_equal(ev.kind, API_EV_SHUTDOWN);
    api_event_release(&ev);
    expect_end(&s);
    stream_close(&s);
}

/* ---- tests: the socket ---- */

static void test_socket_modes(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(lstat(sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    _cleanup_free_ char *dir = xasprintf("%s/run", base);
    assert_int_equal(lstat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
}

static void test_socket_refusals(void **state)
{
    (void)state;
    int fd = -1;
    nc_error *err = NULL;
    /* Another server answers: refused, and its socket is left alone. */
    assert_int_equal(api_listen(sock, &fd, &err), -EADDRINUSE);
    assert_non_null(strstr(nc_error_msg(err), "another nanocell daemon"));
    nc_error_free(TAKE_PTR(err));
    _cleanup_json_ nc_json *h = request_json("GET", "/v1/health", NULL, 200);

    /* Too long for sun_path: never truncated. */
    struct sockaddr_un sa;
    _cleanup_free_ char *longp = xasprintf("%s/%0*d.sock", base, (int)sizeof(sa.sun_path), 0);
    assert_int_equal(api_listen(longp, &fd, &err), -ENAMETOOLONG);
    nc_error_free(TAKE_PTR(err));

    /* Not a socket. */
    _cleanup_free_ char *file = xasprintf("%s/file", base);
    _cleanup_close_ int f = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(f >= 0);
    assert_int_equal(api_listen(file, &fd, &err), -EEXIST);
    nc_error_free(TAKE_PTR(err));

    /* A parent that others could write. */
    _cleanup_free_ char *open_dir = xasprintf("%s/open", base);
    assert_int_equal(mkdir(open_dir, 0700), 0);
    assert_int_equal(chmod(open_dir, 0770), 0);
    _cleanup_free_ char *in_open = xasprintf("%s/api.sock", open_dir);
    assert_int_equal(api_listen(in_open, &fd, &err), -EPERM);
    assert_non_null(strstr(nc_error_msg(err), "writable by group or others"));
    nc_error_free(TAKE_PTR(err));

    /* A stale socket (its server died) is replaced. */
    _cleanup_free_ char *stale = xasprintf("%s/stale.sock", base);
    struct sockaddr_un ssa = {.sun_family = AF_UNIX};
    memcpy(ssa.sun_path, stale, strlen(stale) + 1);
    int dead = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(dead, (struct sockaddr *)&ssa, sizeof(ssa)), 0);
    close(dead);
    assert_int_equal(api_listen(stale, &fd, &err), 0);
    assert_true(fd >= 0);
    close(fd);
}

/* ---- tests: the event format, as the clients read it ---- */

static void test_events_roundtrip(void **state)
{
    (void)state;
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    api_event_accepted(&out, 42);
    api_event_state(&out, "failed", 3, "boom");
    api_event_state(&out, "running", 0, NULL);
    api_event_reply(&out, 43, "a\nb \x1b[2J \xc3");
    api_event_simple(&out, API_EV_HEARTBEAT);
    api_event_simple(&out, API_EV_SHUTDOWN);
    const char *p = out.buf;
    api_event ev;
    _cleanup_error_ nc_error *err = NULL;
    const char *nl;
#define NEXT()                                                                                     \
    do {                                                                                           \
        nl = strchr(p, '\n');                                                                      \
        assert_non_null(nl);                                                                       \
        assert_int_equal(api_event_parse(p, (size_t)(nl - p), &ev, &err), 0);                      \
        p = nl + 1;                                                                                \
    } while (0)
    NEXT();
    assert_int_equal(ev.kind, API_EV_ACCEPTED);
    assert_int_equal(ev.id, 42);
    api_event_release(&ev);
    NEXT();
    assert_int_equal(ev.kind, API_EV_STATE);
    assert_string_equal(ev.state, "failed");
    assert_int_equal(ev.attempts, 3);
    assert_string_equal(ev.error, "boom");
    api_event_release(&ev);
    NEXT();
    assert_null(ev.error);
    api_event_release(&ev);
    NEXT();
    assert_int_equal(ev.kind, API_EV_REPLY);
    assert_int_equal(ev.id, 43);
    assert_string_equal(ev.text, "a\nb \x1b[2J \xef\xbf\xbd"); /* the stray byte replaced */
    api_event_release(&ev);
    NEXT();
    assert_int_equal(ev.kind, API_EV_HEARTBEAT);
    NEXT();
    assert_int_equal(ev.kind, API_EV_SHUTDOWN);
#undef NEXT
    assert_int_equal(*p, '\0');
}

static void test_events_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"id\":1}",
        "{\"event\":1}",
        "{\"event\":\"accepted\"}",
        "{\"event\":\"accepted\",\"id\":\"1\"}",
        "{\"event\":\"state\",\"attempts\":0}",
        "{\"event\":\"state\",\"state\":\"done\"}",
        "{\"event\":\"state\",\"state\":\"done\",\"attempts\":0,\"error\":5}",
        "{\"event\":\"reply\",\"id\":1}",
        "{\"event\":\"reply\",\"id\":1,\"text\":null}",
        "{\"event\":\"reply\",\"id\":1,\"text\":\"x\"} trailing",
    };
    for (size_t i = 0; i < NC_ARRAY_SIZE(bad); i++) {
        api_event ev;
        nc_error *err = NULL;
        int r = api_event_parse(bad[i], strlen(bad[i]), &ev, &err);
        if (r != -EPROTO)
            fail_msg("'%s' gave %d, not -EPROTO", bad[i], r);
        assert_non_null(err);
        nc_error_free(err);
        api_event_release(&ev);
    }
    /* A new kind of event is not an error: readers skip it. */
    api_event ev;
    assert_int_equal(api_event_parse("{\"event\":\"typing\"}", 18, &ev, NULL), 0);
    assert_int_equal(ev.kind, API_EV_UNKNOWN);
    api_event_release(&ev);
}

struct collected {
    char *lines[8];
    size_t n;
};

static int collect(const char *line, size_t len, void *ud)
{
    struct collected *c = ud;
    assert_true(c->n < NC_ARRAY_SIZE(c->lines));
    c->lines[c->n++] = xstrndup(line, len);
    return 0;
}

static int stop_at_second(const char *line, size_t len, void *ud)
{
    (void)line;
    (void)len;
    return ++*(int *)ud == 2 ? 7 : 0;
}

static void test_lines(void **state)
{
    (void)state;
    /* Every split of the input gives the same lines. */
    const char *in = "one\ntwo\r\n\nthree\npartial";
    for (size_t cut = 0; cut <= strlen(in); cut++) {
        api_lines l = API_LINES_INIT;
        struct collected c = {0};
        assert_int_equal(api_lines_feed(&l, in, cut, collect, &c, NULL), 0);
        assert_int_equal(api_lines_feed(&l, in + cut, strlen(in) - cut, collect, &c, NULL), 0);
        assert_int_equal(c.n, 4);
        assert_string_equal(c.lines[0], "one");
        assert_string_equal(c.lines[1], "two");
        assert_string_equal(c.lines[2], "");
        assert_string_equal(c.lines[3], "three");
        assert_int_equal(api_lines_pending(&l), strlen("partial"));
        for (size_t i = 0; i < c.n; i++)
            free(c.lines[i]);
        api_lines_release(&l);
    }
    /* A line over the bound is refused, also when it comes in slices. */
    api_lines l = {STRBUF_INIT, 8};
    struct collected c = {0};
    nc_error *err = NULL;
    assert_int_equal(api_lines_feed(&l, "12345678\n", 9, collect, &c, &err), 0);
    assert_int_equal(api_lines_feed(&l, "12345", 5, collect, &c, &err), 0);
    assert_int_equal(api_lines_feed(&l, "6789", 4, collect, &c, &err), -EMSGSIZE);
    assert_non_null(err);
    nc_error_free(err);
    free(c.lines[0]);
    api_lines_release(&l);
    /* The callback stops the feed. */
    api_lines l2 = API_LINES_INIT;
    int count = 0;
    assert_int_equal(api_lines_feed(&l2, "a\nb\nc\n", 6, stop_at_second, &count, NULL), 7);
    assert_int_equal(count, 2);
    api_lines_release(&l2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_messages_and_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_and_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutting_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unauthorized_only_for_hooks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_other_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_no_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_client_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_ends_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_refusals, setup, teardown),
        cmocka_unit_test(test_events_roundtrip),
        cmocka_unit_test(test_events_refused),
        cmocka_unit_test(test_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
