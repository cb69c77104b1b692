/* The engine client against the scripted fake engine (tests/support): version negotiation,
 * the exact requests it sends, and every fault the real engines cannot be made to produce on
 * demand (malformed and truncated replies, oversize bodies, hang-ups, slow replies). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/attach.h"
#include "engine/container.h"
#include "engine/demux.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "engine/hijack.h"
#include "engine/wait.h"
#include "support/fake_engine.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#define V "/v1.41"

static struct fake_engine *fe;

static int teardown(void **state)
{
    (void)state;
    fake_engine_free(fe);
    fe = NULL;
    fake_free_responses();
    return 0;
}

static void start_fake(const struct fake_exchange *script, size_t n, const char *api,
                       const char *libpod)
{
    struct fake_engine_opts o = {.api_version = api, .libpod_version = libpod};
    fe = fake_engine_start(script, n, &o);
}

static void expect_script_done(void)
{
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0) {
        fail_msg("fake engine: %s", report);
        free(report);
    }
}

static int open_fake(engine **ret, long timeout_ms, size_t max_body, nc_error **err)
{
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    engine_opts o = {.host = host,
                     .host_source = "test",
                     .request_timeout_ms = timeout_ms,
                     .max_response_bytes = max_body};
    return engine_open(&o, NULL, ret, err);
}

static engine *open_ok(void)
{
    engine *e = NULL;
    nc_error *err = NULL;
    if (open_fake(&e, 2000, 0, &err) < 0)
        fail_msg("engine_open: %s", nc_error_msg(err));
    return e;
}

/* --- negotiation --- */

static void test_negotiate_docker(void **state)
{
    (void)state;
    start_fake(NULL, 0, "1.41", NULL);
    _cleanup_engine_ engine *e = open_ok();
    assert_int_equal(e->kind, ENGINE_DOCKER);
    assert_int_equal(e->api_minor, 41);
    assert_string_equal(e->api_prefix, "/v1.41");
    expect_script_done();
}

static void test_negotiate_podman(void **state)
{
    (void)state;
    start_fake(NULL, 0, "1.41", "4.3.1");
    _cleanup_engine_ engine *e = open_ok();
    assert_int_equal(e->kind, ENGINE_PODMAN);
    assert_string_equal(e->libpod_api, "4.3.1");
    expect_script_done();
}

static void test_negotiate_newer_docker(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "GET",
         .path = "/v1.47/version",
         .response = fake_json(200, "{\"ApiVersion\":\"1.52\",\"MinAPIVersion\":\"1.44\"}")},
    };
    start_fake(script, 1, "1.52", NULL);
    _cleanup_engine_ engine *e = open_ok();
    assert_int_equal(e->api_minor, ENGINE_API_MAX);
    assert_int_equal(e->server_api, 52);
    expect_script_done();
}

static void test_negotiate_refusals(void **state)
{
    (void)state;
    /* Too old. */
    start_fake(NULL, 0, "1.39", NULL);
    engine *e = NULL;
    nc_error *err = NULL;
    assert_int_equal(open_fake(&e, 2000, 0, &err), -EPROTONOSUPPORT);
    assert_non_null(strstr(err->msg, "API 1.39, older than 1.40"));
    assert_non_null(strstr(err->msg, "(from test)"));
    nc_error_free(err);
    expect_script_done();
    fake_engine_free(fe);

    /* Newer than us, and its minimum is above our maximum. */
    struct fake_exchange script[] = {
        {.method = "GET",
         .path = "/v1.47/version",
         .response = fake_json(200, "{\"MinAPIVersion\":\"1.50\"}")},
    };
    start_fake(script, 1, "1.60", NULL);
    err = NULL;
    assert_int_equal(open_fake(&e, 2000, 0, &err), -EPROTONOSUPPORT);
    assert_non_null(strstr(err->msg, "requires API 1.50 or newer"));
    nc_error_free(err);
    expect_script_done();
    fake_engine_free(fe);

    /* Something that is not an engine. */
    struct fake_exchange notengine[] = {
        {.method = "GET", .path = "/_ping", .response = fake_text(404, "text/plain", "nope")},
    };
    start_fake(notengine, 1, NULL, NULL);
    err = NULL;
    assert_true(open_fake(&e, 2000, 0, &err) < 0);
    assert_non_null(strstr(err->msg, "not an engine: /_ping answered: 404 nope"));
    nc_error_free(err);
    expect_script_done();
    fake_engine_free(fe);

    struct fake_exchange noversion[] = {
        {.method = "GET", .path = "/_ping", .response = fake_text(200, "text/plain", "OK")},
    };
    start_fake(noversion, 1, NULL, NULL);
    err = NULL;
    assert_int_equal(open_fake(&e, 2000, 0, &err), -EPROTO);
    assert_non_null(strstr(err->msg, "reported API version '(none)'"));
    nc_error_free(err);
    expect_script_done();
}

static void test_discovery_reasons(void **state)
{
    (void)state;
    engine_report report = {0};
    engine *e = NULL;
    nc_error *err = NULL;
    engine_opts o = {.host = "unix:///nonexistent/dir/docker.sock", .host_source = "--host"};
    assert_int_equal(engine_open(&o, &report, &e, &err), -ENOENT);
    assert_string_equal(err->msg,
                        "engine 'unix:///nonexistent/dir/docker.sock' (from --host): missing");
    assert_true(report.n >= 3);
    assert_string_equal(report.probes[0].uri, "unix:///nonexistent/dir/docker.sock");
    assert_string_equal(report.probes[0].source, "--host");
    assert_string_equal(report.probes[0].state, "missing");
    assert_true(report.probes[0].tried && !report.probes[0].chosen);
    /* The address was final: nothing after it was tried. */
    assert_false(report.probes[1].tried);
    assert_string_equal(report.probes[1].state, "not tried");
    nc_error_free(err);
    err = NULL;
    o.host = "/etc/passwd";
    assert_int_equal(engine_open(&o, NULL, &e, &err), -ENOTSOCK);
    assert_non_null(strstr(err->msg, "not a socket"));
    nc_error_free(err);
    err = NULL;
    o.host = "tcp://127.0.0.1:2375";
    assert_int_equal(engine_open(&o, NULL, &e, &err), -EPERM);
    assert_non_null(strstr(err->msg, "(from --host): plain tcp without TLS is refused"));
    nc_error_free(err);
    engine_report_release(&report);
}

/* --- requests and faults --- */

static void test_create_request(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = V "/containers/create?name=nc-x",
         .body = "{\"Image\":\"i\"}",
         .headers = {"Content-Type: application/json"},
         .response = fake_json(201, "{\"Id\":\"abc\",\"Warnings\":[\"PIDs limit discarded.\"]}")},
        {.method = "POST",
         .path = V "/containers/abc/start",
         .body = "",
         .headers = {"Content-Length: 0"},
         .response = fake_text(204, NULL, "")},
        {.method = "POST", .path = V "/containers/abc/start", .response = fake_text(304, NULL, "")},
        {.method = "POST",
         .path = V "/containers/abc/stop?t=1",
         .response = fake_text(304, NULL, "")},
        {.method = "DELETE",
         .path = V "/containers/abc?v=1&force=1",
         .response = fake_text(204, NULL, "")},
    };
    start_fake(script, NC_ARRAY_SIZE(script), "1.41", NULL);
    _cleanup_engine_ engine *e = open_ok();
    char *id = NULL;
    char **warnings = NULL;
    nc_error *err = NULL;
    assert_int_equal(engine_container_create(e, "nc-x", "{\"Image\":\"i\"}", &id, &warnings, &err),
                     0);
    assert_string_equal(id, "abc");
    assert_string_equal(warnings[0], "PIDs limit discarded.");
    assert_int_equal(engine_container_start(e, id, &err), 0);
    assert_int_equal(engine_container_start(e, id, &err), -EALREADY);
    nc_error_free(err);
    err = NULL;
    assert_int_equal(engine_container_stop(e, id, 1, &err), 0);
    assert_int_equal(engine_container_remove(e, id, true, &err), 0);
    free(id);
    strv_free(warnings);
    expect_script_done();
}

/* The exchange is offered twice: libcurl retries once, on a new connection, when a reused
 * connection dies before the reply head is complete. Only the first must be used. */
static void expect_inspect_error(const char *response, size_t response_len, long hangup_after,
                                 size_t max_body, int want_errno, const char *want)
{
    struct fake_exchange x = {.method = "GET",
                              .path = V "/containers/abc/json",
                              .response = response,
                              .response_len = response_len,
                              .hangup_after = hangup_after};
    struct fake_exchange script[] = {x, x};
    start_fake(script, 2, "1.41", NULL);
    engine *e = NULL;
    nc_error *err = NULL;
    if (open_fake(&e, 2000, max_body, &err) < 0)
        fail_msg("open: %s", nc_error_msg(err));
    nc_json *root = NULL;
    int r = engine_container_inspect(e, "abc", &root, &err);
    if (r != -want_errno || !strstr(nc_error_msg(err), want))
        fail_msg("got %d '%s', want %d '%s'", r, nc_error_msg(err), -want_errno, want);
    assert_null(root);
    nc_error_free(err);
    engine_free(e);
    fake_engine_stop(fe, NULL);
    assert_true(fake_engine_requests_seen(fe) >= 1);
    fake_engine_free(fe);
    fe = NULL;
}

static void test_reply_faults(void **state)
{
    (void)state;
    expect_inspect_error(fake_json(200, "{\"State\": {"), 0, 0, 0, EINVAL, "invalid json");
    expect_inspect_error(fake_json(200, "[1,2]"), 0, 0, 0, EPROTO, "not a JSON object");
    /* A chunked body cut short by the engine closing the connection... */
    const char *chunks[] = {"{\"State\":", "{\"Status\":\"run"};
    const char *cut = fake_chunked(200, "application/json", chunks, 2, false);
    expect_inspect_error(cut, 0, (long)strlen(cut), 0, ECONNRESET, "hung up");
    /* ...and one that simply stops arriving: the request timeout ends it. */
    expect_inspect_error(cut, 0, 0, 0, ETIMEDOUT,
                         "did not answer within 2000 ms (request timeout): Operation timed out");
    const char *full = fake_json(200, "{\"State\":{\"Status\":\"running\"}}");
    expect_inspect_error(full, 0, (long)strlen(full) - 5, 0, ECONNRESET, "hung up");
    expect_inspect_error(full, 0, 10, 0, ECONNRESET, "closed the connection without a reply");
    expect_inspect_error("HTTP/1.1 abc nope\r\n\r\n", 0, 0, 0, EPROTO, "malformed reply");
    strbuf big = STRBUF_INIT;
    strbuf_addstr(&big, "{\"x\":\"");
    for (int i = 0; i < 4096; i++)
        strbuf_addch(&big, 'a');
    strbuf_addstr(&big, "\"}");
    expect_inspect_error(fake_json(200, big.buf), 0, 0, 1024, EFBIG,
                         "reply body exceeds the 1024-byte limit");
    strbuf_release(&big);
    expect_inspect_error(fake_json(404, "{\"message\":\"No such container: abc\"}"), 0, 0, 0,
                         ENOENT, "404 No such container: abc");
    expect_inspect_error(fake_json(404, "{}"), 0, 0, 0, ENOENT, "404 {}");
    expect_inspect_error(fake_json(409, "{\"message\":\"conflict\"}"), 0, 0, 0, EBUSY,
                         "409 conflict");
    expect_inspect_error(fake_text(500, "text/plain", ""), 0, 0, 0, EIO, "500 (no message)");
    expect_inspect_error(fake_json(500, "{\"cause\":\"c\",\"message\":\"podman says no\"}"), 0, 0,
                         0, EIO, "500 podman says no");
    expect_inspect_error(NULL, 0, 0, 0, ECONNRESET, "without a reply");
}

static void test_slow_reply_times_out(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "GET",
         .path = V "/containers/abc/json",
         .delay_ms = 5000,
         .response = fake_json(200, "{}")},
    };
    start_fake(script, 1, "1.41", NULL);
    engine *e = NULL;
    nc_error *err = NULL;
    assert_int_equal(open_fake(&e, 300, 0, &err), 0);
    uint64_t t0 = mono_ms();
    nc_json *root = NULL;
    assert_int_equal(engine_container_inspect(e, "abc", &root, &err), -ETIMEDOUT);
    assert_true(mono_ms() - t0 < 4000); /* bounded by the timeout, not the reply */
    /* The limit that fired, then curl's own account. */
    if (!strstr(err->msg,
                "engine did not answer within 300 ms (request timeout): Operation timed out"))
        fail_msg("got '%s'", err->msg);
    nc_error_free(err);
    engine_free(e);
    expect_script_done();
}

/* --- attach --- */

struct collected {
    strbuf out;
    strbuf err;
};

static int collect_cb(int stream, const char *data, size_t len, void *ud, nc_error **err)
{
    (void)err;
    struct collected *c = ud;
    strbuf_add(stream == DEMUX_STDERR ? &c->err : &c->out, data, len);
    return 0;
}

static void drain(engine_attach *a, struct collected *c)
{
    demux d;
    demux_init(&d, false);
    char buf[7]; /* small on purpose: frames straddle reads */
    uint64_t give_up = mono_ms() + 5000;
    for (;;) {
        nc_error *err = NULL;
        ssize_t n = engine_attach_read(a, buf, sizeof(buf), &err);
        if (n == -EAGAIN) {
            assert_true(mono_ms() < give_up);
            sleep_ms(5);
            continue;
        }
        assert_true(n >= 0);
        if (n == 0)
            break;
        assert_int_equal(demux_feed(&d, buf, (size_t)n, collect_cb, c, NULL), 0);
    }
    assert_int_equal(demux_finish(&d, NULL), 0);
    demux_release(&d);
}

static void run_attach(int status, const char *ctype)
{
    size_t l1, l2, l3;
    const char *f1 = fake_frame(1, "early", 5, &l1);
    const char *f2 = fake_frame(1, "{\"out\":1}\n", 10, &l2);
    const char *f3 = fake_frame(2, "warn\n", 5, &l3);
    _cleanup_free_ char *hdrs =
        xasprintf("Content-Type: %s\r\n%s", ctype,
                  status == 101 ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "");
    size_t rlen;
    /* Stream bytes arrive in the same write as the head: they must not be lost. */
    const char *resp = fake_concat(&rlen, 2, FAKE_STR(fake_headers_only(status, hdrs)), f1, l1);
    size_t slen;
    const char *stream = fake_concat(&slen, 2, f2, l2, f3, l3);
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = V "/containers/abc/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=",
         .body = "",
         .headers = {"Connection: Upgrade", "Upgrade: tcp", "Host: localhost"},
         .response = resp,
         .response_len = rlen,
         .hijack = true,
         .stream = stream,
         .stream_len = slen},
    };
    start_fake(script, 1, "1.41", NULL);
    _cleanup_engine_ engine *e = open_ok();
    engine_attach *a = NULL;
    nc_error *err = NULL;
    if (engine_attach_open(e, "abc", &a, &err) < 0)
        fail_msg("attach: %s", nc_error_msg(err));
    const char payload[] = "{\"prompt\":\"hi\"}";
    assert_int_equal(engine_attach_write_all(a, payload, strlen(payload), 2000, &err), 0);
    assert_int_equal(engine_attach_close_stdin(a, &err), 0);
    struct collected c = {STRBUF_INIT, STRBUF_INIT};
    drain(a, &c);
    assert_string_equal(strbuf_str(&c.out), "early{\"out\":1}\n");
    assert_string_equal(strbuf_str(&c.err), "warn\n");
    engine_attach_free(a);
    size_t inlen;
    const char *in = fake_engine_stdin(fe, 0, &inlen);
    assert_int_equal(inlen, strlen(payload));
    assert_memory_equal(in, payload, inlen);
    strbuf_release(&c.out);
    strbuf_release(&c.err);
    expect_script_done();
}

static void test_attach_101(void **state)
{
    (void)state;
    run_attach(101, "application/vnd.docker.multiplexed-stream");
}

/* The 200 path always says raw-stream, even for a multiplexed stream. */
static void test_attach_200(void **state)
{
    (void)state;
    run_attach(200, "application/vnd.docker.raw-stream");
}

/* An agent that exits before reading its stdin: the engine sends the output it had and closes
 * the connection. Everything it sent is still read, and a later stdin write says EPIPE, which a
 * turn takes as "stdin closed" (agent/turn.c), not as a failed turn. */
static void test_attach_stdin_refused(void **state)
{
    (void)state;
    size_t lerr;
    const char *ferr = fake_frame(2, "Error: API key not set\n", 23, &lerr);
    size_t rlen;
    /* No framing: the fake closes the connection after writing, without reading stdin. */
    const char *resp = fake_concat(
        &rlen, 2,
        FAKE_STR(fake_headers_only(200, "Content-Type: application/vnd.docker.raw-stream\r\n")),
        ferr, lerr);
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = V "/containers/abc/attach*",
         .response = resp,
         .response_len = rlen},
    };
    start_fake(script, 1, "1.41", NULL);
    _cleanup_engine_ engine *e = open_ok();
    engine_attach *a = NULL;
    nc_error *err = NULL;
    if (engine_attach_open(e, "abc", &a, &err) < 0)
        fail_msg("attach: %s", nc_error_msg(err));
    struct collected c = {STRBUF_INIT, STRBUF_INIT};
    drain(a, &c);
    assert_string_equal(strbuf_str(&c.err), "Error: API key not set\n");
    const char payload[] = "{\"prompt\":\"hi\"}";
    assert_int_equal(engine_attach_write(a, payload, strlen(payload), &err), -EPIPE);
    assert_non_null(strstr(nc_error_msg(err), "write container stdin"));
    nc_error_free(err);
    engine_attach_free(a);
    strbuf_release(&c.out);
    strbuf_release(&c.err);
    expect_script_done();
}

static void expect_attach_error(const char *response, int want_errno, const char *want)
{
    struct fake_exchange script[] = {
        {.method = "POST", .path = V "/containers/abc/attach*", .response = response}};
    start_fake(script, 1, "1.41", NULL);
    _cleanup_engine_ engine *e = open_ok();
    engine_attach *a = NULL;
    nc_error *err = NULL;
    assert_int_equal(engine_attach_open(e, "abc", &a, &err), -want_errno);
    if (strcmp(err->msg, want) != 0)
        fail_msg("attach error: got '%s', want '%s'", err->msg, want);
    nc_error_free(err);
    expect_script_done();
    fake_engine_free(fe);
    fe = NULL;
}

static void test_attach_errors(void **state)
{
    (void)state;
    /* Docker: hijacked anyway, plain text, no length, then close. */
    expect_attach_error("HTTP/1.1 404 Not Found\r\nContent-Type: application/vnd.docker.raw-"
                        "stream\r\n\r\nNo such container: abc\r\n",
                        ENOENT, "404 No such container: abc");
    expect_attach_error("HTTP/1.1 409 Conflict\r\nContent-Type: application/vnd.docker.raw-"
                        "stream\r\n\r\ncontainer abc is paused, unpause the container before "
                        "attach\r\n",
                        EBUSY, "409 container abc is paused, unpause the container before attach");
    /* Podman: JSON with a length. */
    expect_attach_error(fake_json(500, "{\"cause\":\"x\",\"message\":\"improper state\","
                                       "\"response\":500}"),
                        EIO, "500 improper state");
    expect_attach_error("garbage\r\n\r\n", EPROTO, "malformed status line in engine reply");
}

/* --- a listener that does not accept --- */

struct backlog {
    char dir[64];
    char *path;
    int listener;
    int fill[16];
    size_t nfill;
};

/* Listens with a backlog of 0 and never accepts, then connects without blocking until the
 * backlog is full: from then on a blocking connect waits for its SO_SNDTIMEO. */
static void backlog_full(struct backlog *b)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(b->dir, sizeof(b->dir), "%s/nc-backlog-XXXXXX",
             tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    assert_non_null(mkdtemp(b->dir));
    b->path = xasprintf("%s/s", b->dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, b->path, strlen(b->path) + 1);
    b->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(b->listener >= 0);
    assert_int_equal(bind(b->listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(b->listener, 0), 0);
    for (b->nfill = 0; b->nfill < NC_ARRAY_SIZE(b->fill); b->nfill++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            assert_int_equal(errno, EAGAIN);
            close(fd);
            return;
        }
        b->fill[b->nfill] = fd;
    }
    fail_msg("a listen backlog of 0 took %zu connections", b->nfill);
}

static void backlog_release(struct backlog *b)
{
    for (size_t i = 0; i < b->nfill; i++)
        close(b->fill[i]);
    close(b->listener);
    unlink(b->path);
    rmdir(b->dir);
    free(b->path);
}

/* A connect that runs out of time fails with EAGAIN on a unix socket: that is a timeout, and
 * the message says what the engine is not doing. */
static void test_hijack_backlog_full(void **state)
{
    (void)state;
    struct backlog b;
    backlog_full(&b);
    hijack_conn c;
    nc_error *err = NULL;
    assert_int_equal(hijack_open(b.path, "GET /_ping HTTP/1.1\r\n\r\n", 100, &c, &err), -ETIMEDOUT);
    _cleanup_free_ char *want =
        xasprintf("engine at '%s' is not accepting connections within 100 ms", b.path);
    if (!strstr(err->msg, want))
        fail_msg("got '%s', want '%s'", err->msg, want);
    nc_error_free(err);
    backlog_release(&b);
}

static atomic_bool connect_done;

static void on_usr1(int sig)
{
    (void)sig;
}

/* Signals the test's thread until the blocked connect has returned. */
static void *interrupter(void *arg)
{
    pthread_t target = *(pthread_t *)arg;
    while (!atomic_load(&connect_done)) {
        pthread_kill(target, SIGUSR1);
        sleep_ms(10);
    }
    return NULL;
}

/* A signal ends a blocked connect with EINTR even under SA_RESTART (a socket with a send
 * timeout is never restarted): that is an interruption, not a timeout or an engine error. */
static void test_hijack_connect_interrupted(void **state)
{
    (void)state;
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART}, old;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    struct backlog b;
    backlog_full(&b);
    atomic_store(&connect_done, false);
    pthread_t self = pthread_self(), th;
    assert_int_equal(pthread_create(&th, NULL, interrupter, &self), 0);
    hijack_conn c;
    nc_error *err = NULL;
    int r = hijack_open(b.path, "GET /_ping HTTP/1.1\r\n\r\n", 10000, &c, &err);
    atomic_store(&connect_done, true);
    pthread_join(th, NULL);
    sigaction(SIGUSR1, &old, NULL);
    assert_int_equal(r, -EINTR);
    assert_non_null(strstr(err->msg, "interrupted"));
    assert_non_null(strstr(err->msg, b.path));
    nc_error_free(err);
    backlog_release(&b);
}

/* --- wait --- */

static void test_wait_complete(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = V "/containers/abc/wait?condition=next-exit",
         .body = "",
         .response = fake_json(200, "{\"StatusCode\":3,\"Error\":null}")},
        {.method = "POST",
         .path = V "/containers/zzz/wait?condition=next-exit",
         .response = fake_json(404, "{\"message\":\"No such container: zzz\"}")},
    };
    start_fake(script, 2, "1.41", NULL);
    _cleanup_engine_ engine *e = open_ok();
    engine_wait *w = NULL;
    nc_error *err = NULL;
    assert_int_equal(engine_wait_begin(e, "abc", "next-exit", &w, &err), 0);
    int64_t code = -1;
    assert_int_equal(engine_wait_end(e, w, 2000, 1000, &code, &err), 0);
    assert_int_equal(code, 3);
    engine_wait_free(w);
    assert_int_equal(engine_wait_begin(e, "zzz", "next-exit", &w, &err), -ENOENT);
    assert_string_equal(err->msg, "404 No such container: zzz");
    nc_error_free(err);
    expect_script_done();
}

/* The headers come, the body never does (Podman's missed next-exit): the state decides. */
static void test_wait_fallback(void **state)
{
    (void)state;
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = V "/containers/abc/wait?condition=next-exit",
         .response = head,
         .hold_open = true},
        {.method = "GET",
         .path = V "/containers/abc/json",
         .response = fake_json(200, "{\"State\":{\"Status\":\"running\",\"Running\":true}}")},
        {.method = "GET",
         .path = V "/containers/abc/json",
         .response = fake_json(200, "{\"State\":{\"Status\":\"exited\",\"Running\":false,"
                                    "\"ExitCode\":5}}")},
    };
    start_fake(script, NC_ARRAY_SIZE(script), "1.41", NULL);
    _cleanup_engine_ engine *e = open_ok();
    engine_wait *w = NULL;
    nc_error *err = NULL;
    uint64_t t0 = mono_ms();
    assert_int_equal(engine_wait_begin(e, "abc", "next-exit", &w, &err), 0);
    assert_true(mono_ms() - t0 < 1000); /* returned on the headers */
    int64_t code = -1;
    assert_int_equal(engine_wait_end(e, w, 5000, 200, &code, &err), 0);
    assert_int_equal(code, 5);
    engine_wait_free(w);
    expect_script_done();
}

static void test_wait_timeout(void **state)
{
    (void)state;
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    const char *running = fake_json(200, "{\"State\":{\"Status\":\"running\",\"Running\":true}}");
    struct fake_exchange script[20] = {
        {.method = "POST", .path = V "/containers/abc/wait*", .response = head, .hold_open = true},
    };
    for (int i = 1; i < 20; i++)
        script[i] = (struct fake_exchange){
            .method = "GET", .path = V "/containers/abc/json", .response = running};
    start_fake(script, 20, "1.41", NULL);
    _cleanup_engine_ engine *e = open_ok();
    engine_wait *w = NULL;
    nc_error *err = NULL;
    assert_int_equal(engine_wait_begin(e, "abc", "next-exit", &w, &err), 0);
    int64_t code = -1;
    assert_int_equal(engine_wait_end(e, w, 500, 100, &code, &err), -ETIMEDOUT);
    assert_non_null(strstr(err->msg, "still running after 500 ms"));
    nc_error_free(err);
    engine_wait_free(w);
    fake_engine_stop(fe, NULL); /* not every poll is used: no verdict on the script */
}

/* --- kill, events --- */

static void test_kill_not_running(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = V "/containers/abc/kill?signal=SIGKILL",
         .response = fake_json(409, "{\"message\":\"container abc is not running\"}")},
        {.method = "GET",
         .path = V "/containers/abc/json",
         .response = fake_json(200, "{\"State\":{\"Status\":\"exited\",\"Running\":false}}")},
        {.method = "POST",
         .path = V "/containers/abc/kill?signal=SIGKILL",
         .response = fake_json(500, "{\"message\":\"runtime failure\"}")},
        {.method = "GET",
         .path = V "/containers/abc/json",
         .response = fake_json(200, "{\"State\":{\"Status\":\"running\",\"Running\":true}}")},
    };
    start_fake(script, NC_ARRAY_SIZE(script), "1.41", NULL);
    _cleanup_engine_ engine *e = open_ok();
    nc_error *err = NULL;
    assert_int_equal(engine_container_kill(e, "abc", "SIGKILL", &err), -ESRCH);
    nc_error_free(err);
    err = NULL;
    assert_int_equal(engine_container_kill(e, "abc", "SIGKILL", &err), -EIO);
    assert_string_equal(err->msg, "500 runtime failure");
    nc_error_free(err);
    expect_script_done();
}

static int count_events(const engine_event *ev, void *ud, nc_error **err)
{
    (void)err;
    (void)ev;
    (*(int *)ud)++;
    return 0;
}

static void test_events_stream(void **state)
{
    (void)state;
    const char *chunks[] = {
        "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"a\"}}\n"
        "{\"Type\":\"cont",
        "ainer\",\"Action\":\"die\",\"Actor\":{\"ID\":\"a\"}}\n"};
    struct fake_exchange script[] = {
        {.method = "GET",
         .path = V "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%2C%22label%22%3A%5B%"
                   "22nanocell.install%3Dx%22%5D%7D&since=10&until=20",
         .response = fake_chunked(200, "application/json", chunks, 2, true)},
        {.method = "GET",
         .path = V "/events*",
         .response = fake_json(400, "{\"message\":\"invalid filter\"}")},
    };
    start_fake(script, 2, "1.41", NULL);
    _cleanup_engine_ engine *e = open_ok();
    char *labels[] = {"nanocell.install=x", NULL};
    int n = 0;
    nc_error *err = NULL;
    assert_int_equal(engine_events(e, labels, 10, 20, 2000, count_events, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(engine_events(e, labels, 10, 20, 2000, count_events, &n, &err), -EINVAL);
    assert_string_equal(err->msg, "400 invalid filter");
    nc_error_free(err);
    expect_script_done();
}

/* A transfer that failed stays failed: each later pump returns the same error, never "complete"
 * (a caller that pumps again must not read a half-received reply as a whole one). */
static void test_async_failure_repeats(void **state)
{
    (void)state;
    const char *chunks[] = {"{\"Type\":\"container\""};
    struct fake_exchange script[] = {
        {.method = "GET",
         .path = "/events",
         .response = fake_chunked(200, "application/json", chunks, 1, false),
         .hold_open = true},
    };
    start_fake(script, 1, NULL, NULL);
    http_opts o = {
        .socket_path = fake_engine_socket(fe), .connect_timeout_ms = 2000, .max_body = 1024};
    http_async *a = NULL;
    nc_error *err = NULL;
    assert_int_equal(http_async_start(&o, "GET", "/events", 2000, NULL, NULL, &a, &err), 0);
    assert_int_equal(http_async_response(a)->status, 200);
    expect_script_done(); /* closes the held connection in the middle of the body */
    int r = 0;
    for (int i = 0; i < 50 && r == 0; i++)
        r = http_async_pump(a, 100, &err);
    assert_int_equal(r, -ECONNRESET);
    _cleanup_free_ char *first = xstrdup(err->msg);
    nc_error_free(err);
    for (int i = 0; i < 2; i++) {
        err = NULL;
        assert_int_equal(http_async_pump(a, 100, &err), -ECONNRESET);
        assert_string_equal(err->msg, first);
        nc_error_free(err);
    }
    http_async_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_negotiate_docker, teardown),
        cmocka_unit_test_teardown(test_negotiate_podman, teardown),
        cmocka_unit_test_teardown(test_negotiate_newer_docker, teardown),
        cmocka_unit_test_teardown(test_negotiate_refusals, teardown),
        cmocka_unit_test_teardown(test_discovery_reasons, teardown),
        cmocka_unit_test_teardown(test_create_request, teardown),
        cmocka_unit_test_teardown(test_reply_faults, teardown),
        cmocka_unit_test_teardown(test_slow_reply_times_out, teardown),
        cmocka_unit_test_teardown(test_attach_101, teardown),
        cmocka_unit_test_teardown(test_attach_200, teardown),
        cmocka_unit_test_teardown(test_attach_errors, teardown),
        cmocka_unit_test_teardown(test_attach_stdin_refused, teardown),
        cmocka_unit_test_teardown(test_hijack_backlog_full, teardown),
        cmocka_unit_test_teardown(test_hijack_connect_interrupted, teardown),
        cmocka_unit_test_teardown(test_wait_complete, teardown),
        cmocka_unit_test_teardown(test_wait_fallback, teardown),
        cmocka_unit_test_teardown(test_wait_timeout, teardown),
        cmocka_unit_test_teardown(test_kill_not_running, teardown),
        cmocka_unit_test_teardown(test_events_stream, teardown),
        cmocka_unit_test_teardown(test_async_failure_repeats, teardown),
    };
    return cmocka_run_group_tests_name("engine-fake", tests, NULL, NULL);
}
