/* Tests for the fake engine itself, driven by raw AF_UNIX client sockets so that they depend on
 * nothing but the fake. Every client read has a timeout and the binary has a watchdog alarm, so a
 * fake that hangs fails the run instead of blocking it. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/fake_engine.h"

/* A client read that sees no progress for this long fails the test. */
#define CLIENT_TIMEOUT_MS 10000
/* The whole binary gets this long before SIGALRM kills it. */
#define WATCHDOG_SECONDS 120

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int client_connect(const struct fake_engine *fe)
{
    const char *path = fake_engine_socket(fe);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void client_send(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t k = send(fd, data, len, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            fail_msg("client send: %s", strerror(errno));
        data += k;
        len -= (size_t)k;
    }
}

static void client_sends(int fd, const char *s)
{
    client_send(fd, s, strlen(s));
}

/* Reads until max bytes or EOF. The result is NUL-terminated; the caller frees it. */
static char *client_read(int fd, size_t max, size_t *ret_len)
{
    size_t len = 0;
    char *buf = malloc(max + 1);
    assert_non_null(buf);
    while (len < max) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, CLIENT_TIMEOUT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            fail_msg("client read timed out after %zu bytes", len);
        ssize_t k = recv(fd, buf + len, max - len, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            fail_msg("client recv after %zu bytes: %s", len, strerror(errno));
        if (k == 0)
            break;
        len += (size_t)k;
    }
    buf[len] = '\0';
    *ret_len = len;
    return buf;
}

/* Reads everything up to EOF. */
static char *client_read_all(int fd, size_t *ret_len)
{
    return client_read(fd, (size_t)1 << 20, ret_len);
}

static void expect_bytes(int fd, const char *want, size_t want_len)
{
    size_t len;
    char *got = client_read(fd, want_len, &len);
    assert_int_equal(len, want_len);
    assert_memory_equal(got, want, want_len);
    free(got);
}

static void expect_str(int fd, const char *want)
{
    size_t len;
    char *got = client_read(fd, strlen(want), &len);
    assert_string_equal(got, want);
    free(got);
}

static void expect_eof(int fd)
{
    size_t len;
    char *got = client_read_all(fd, &len);
    assert_string_equal(got, "");
    free(got);
}

/* Waits until the fake has taken n requests from the script. */
static void wait_seen(const struct fake_engine *fe, size_t n)
{
    for (int i = 0; i < CLIENT_TIMEOUT_MS && fake_engine_requests_seen(fe) < n; i++)
        poll(NULL, 0, 1);
    assert_int_equal(fake_engine_requests_seen(fe), n);
}

/* Stops the engine and checks that the report is exactly want (NULL: no problems). */
static void expect_report(struct fake_engine *fe, const char *want)
{
    char *report = (char *)"unset";
    int r = fake_engine_stop(fe, &report);
    if (!want) {
        if (report)
            fail_msg("unexpected report:\n%s", report);
        assert_int_equal(r, 0);
        return;
    }
    assert_int_equal(r, -1);
    assert_non_null(report);
    assert_string_equal(report, want);
    free(report);
}

static int teardown(void **state)
{
    (void)state;
    fake_free_responses();
    return 0;
}

static void test_match_all_fields(void **state)
{
    (void)state;
    const char *resp = fake_json(201, "{\"Id\":\"abc\",\"Warnings\":[]}");
    struct fake_exchange script[] = {
        {
            .method = "POST",
            .path = "/v1.41/containers/create?name=x",
            .body = "{\"Image\":\"busybox\"}",
            .body_contains = "busybox",
            .headers = {"Content-Type: application/json", "host:localhost"},
            .response = resp,
        },
        {
            .method = "GET",
            .path = "/v1.41/containers/json*",
            .response = fake_json(200, "[]"),
        },
    };
    struct fake_engine *fe = fake_engine_start(script, 2, NULL);

    int fd = client_connect(fe);
    client_sends(fd, "POST /v1.41/containers/create?name=x HTTP/1.1\r\n"
                     "Host: localhost\r\n"
                     "content-type:   application/json  \r\n"
                     "Content-Length: 19\r\n"
                     "\r\n"
                     "{\"Image\":\"busybox\"}");
    expect_str(fd, resp);
    close(fd);

    fd = client_connect(fe);
    client_sends(fd, "GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[1].response);
    close(fd);

    expect_report(fe, NULL);
    assert_int_equal(fake_engine_requests_seen(fe), 2);
    size_t len;
    const char *body = fake_engine_request_body(fe, 0, &len);
    assert_int_equal(len, 19);
    assert_string_equal(body, "{\"Image\":\"busybox\"}");
    body = fake_engine_request_body(fe, 1, &len);
    assert_int_equal(len, 0);
    assert_string_equal(body, "");
    assert_null(fake_engine_request_body(fe, 2, &len));
    assert_int_equal(len, 0);
    fake_engine_free(fe);
}

static void test_keepalive(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "GET", .path = "/v1.41/containers/x/json", .response = fake_json(200, "{}")},
        {.method = "DELETE",
         .path = "/v1.41/containers/x?force=1",
         .response = "HTTP/1.1 204 No Content\r\n\r\n"},
        {.method = "GET",
         .path = "/v1.41/events",
         .response = fake_chunked(200, "application/json", (const char *const[]){"{}\n"}, 1, true)},
        {.method = "GET", .path = "/v1.41/version", .response = fake_json(200, "{\"v\":1}")},
    };
    struct fake_engine *fe = fake_engine_start(script, N_ELEMS(script), NULL);

    int fd = client_connect(fe);
    client_sends(fd, "GET /v1.41/containers/x/json HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[0].response);
    client_sends(fd, "DELETE /v1.41/containers/x?force=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[1].response);
    client_sends(fd, "GET /v1.41/events HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[2].response);
    client_sends(fd, "GET /v1.41/version HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[3].response);
    close(fd);

    expect_report(fe, NULL);
    fake_engine_free(fe);
}

static void test_close_after_unframed_or_connection_close(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.response = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"
                     "raw output"},
        {.response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, Close\r\n"
                     "\r\nOK"},
    };
    struct fake_engine *fe = fake_engine_start(script, 2, NULL);

    for (size_t i = 0; i < 2; i++) {
        int fd = client_connect(fe);
        client_sends(fd, "POST /v1.41/containers/x/attach?stream=1&stdout=1 HTTP/1.1\r\n"
                         "Host: localhost\r\n\r\n");
        size_t len;
        char *got = client_read_all(fd, &len);
        assert_string_equal(got, script[i].response);
        free(got);
        close(fd);
    }
    expect_report(fe, NULL);
    fake_engine_free(fe);
}

static void test_mismatch_reported(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1.41/containers/x/start",
         .response = "HTTP/1.1 204 No Content\r\n\r\n"},
        {.method = "GET", .path = "/v1.41/containers/x/json", .response = fake_json(200, "{}")},
    };
    struct fake_engine *fe = fake_engine_start(script, 2, NULL);

    int fd = client_connect(fe);
    client_sends(fd, "GET /v1.41/containers/x/json HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd,
               "HTTP/1.1 500 Internal Server Error\r\n"
               "Content-Type: application/json\r\n"
               "Content-Length: 74\r\n"
               "\r\n"
               "{\"message\":\"fake engine: unexpected request GET /v1.41/containers/x/json\"}");
    /* The exchange was consumed: the next request is matched against the next one. */
    client_sends(fd, "GET /v1.41/containers/x/json HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[1].response);
    close(fd);

    expect_report(
        fe,
        "exchange 0: expected POST /v1.41/containers/x/start, got GET /v1.41/containers/x/json");
    assert_int_equal(fake_engine_requests_seen(fe), 2);
    fake_engine_free(fe);
}

static void test_body_and_header_mismatch(void **state)
{
    (void)state;
    struct fake_exchange script[] = {{
        .method = "POST",
        .path = "/x",
        .body = "{\"a\":1}",
        .body_contains = "zzz",
        .headers = {NULL, "Content-Type: application/json", "X-Missing: 1"},
        .response = fake_json(200, "{}"),
    }};
    struct fake_engine *fe = fake_engine_start(script, 1, NULL);

    int fd = client_connect(fe);
    client_sends(fd, "POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
                     "Content-Length: 7\r\n\r\n{\"a\":2}");
    size_t len;
    char *got = client_read(fd, 12, &len);
    assert_string_equal(got, "HTTP/1.1 500");
    free(got);
    close(fd);

    expect_report(fe, "exchange 0 (POST /x): body differs: expected '{\"a\":1}', got '{\"a\":2}'\n"
                      "exchange 0 (POST /x): body does not contain 'zzz', got '{\"a\":2}'\n"
                      "exchange 0 (POST /x): missing header 'Content-Type: application/json' "
                      "(got 'Content-Type: text/plain')\n"
                      "exchange 0 (POST /x): missing header 'X-Missing: 1'");
    fake_engine_free(fe);
}

static void test_missing_request_reported(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "GET", .path = "/v1.41/containers/x/json", .response = fake_json(200, "{}")},
        {.method = "POST",
         .path = "/v1.41/containers/x/start",
         .response = "HTTP/1.1 204 No Content\r\n\r\n"},
    };
    struct fake_engine *fe = fake_engine_start(script, 2, NULL);

    int fd = client_connect(fe);
    client_sends(fd, "GET /v1.41/containers/x/json HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[0].response);
    close(fd);

    expect_report(fe, "exchange 1: expected POST /v1.41/containers/x/start, never requested");
    fake_engine_free(fe);
}

static void test_extra_request_reported(void **state)
{
    (void)state;
    struct fake_engine *fe = fake_engine_start(NULL, 0, NULL);

    int fd = client_connect(fe);
    client_sends(fd, "GET /v1.41/info HTTP/1.1\r\nHost: localhost\r\n\r\n");
    size_t len;
    char *got = client_read(fd, 12, &len);
    assert_string_equal(got, "HTTP/1.1 500");
    free(got);
    close(fd);

    expect_report(fe, "request 0: unexpected GET /v1.41/info (the script has 0 exchanges)");
    assert_int_equal(fake_engine_requests_seen(fe), 1);
    fake_engine_free(fe);
}

static void test_chunked_request_body(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1.41/build",
         .body = "hello world",
         .response = "HTTP/1.1 204 No Content\r\n\r\n"},
        {.method = "GET", .path = "/after", .response = fake_json(200, "{}")},
    };
    struct fake_engine *fe = fake_engine_start(script, 2, NULL);

    int fd = client_connect(fe);
    /* In pieces, so the decoder has to wait for more in every state. */
    const char *pieces[] = {
        "POST /v1.41/build HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
        "3\r",
        "\nhel\r\n6;ext=1\r\nlo w",
        "or\r\n2\r\nld\r\n0\r\n",
        "X-Trailer: 1\r\n",
        "\r\n",
    };
    for (size_t i = 0; i < N_ELEMS(pieces); i++) {
        client_sends(fd, pieces[i]);
        poll(NULL, 0, 2);
    }
    expect_str(fd, script[0].response);
    /* The trailers were consumed exactly: the next request parses. */
    client_sends(fd, "GET /after HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[1].response);
    close(fd);

    expect_report(fe, NULL);
    size_t len;
    const char *body = fake_engine_request_body(fe, 0, &len);
    assert_int_equal(len, 11);
    assert_string_equal(body, "hello world");
    fake_engine_free(fe);
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "POST", .path = "/x", .body = "hello", .response = fake_json(200, "{}")},
    };
    struct fake_engine *fe = fake_engine_start(script, 1, NULL);

    int fd = client_connect(fe);
    client_sends(fd, "POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                     "Expect: 100-continue\r\n\r\n");
    expect_str(fd, "HTTP/1.1 100 Continue\r\n\r\n");
    client_sends(fd, "hello");
    expect_str(fd, script[0].response);
    close(fd);

    expect_report(fe, NULL);
    fake_engine_free(fe);
}

static void test_hangup_after(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.response = fake_json(200, "{\"Id\":\"abcdef\"}"), .hangup_after = 20},
        {.response = fake_json(200, "{}"), .hangup_after = 1000},
        {.response = NULL},
    };
    struct fake_engine *fe = fake_engine_start(script, 3, NULL);

    for (size_t i = 0; i < 3; i++) {
        int fd = client_connect(fe);
        client_sends(fd, "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n");
        size_t len;
        char *got = client_read_all(fd, &len);
        if (i == 0) {
            assert_int_equal(len, 20);
            assert_memory_equal(got, script[0].response, 20);
        } else if (i == 1) {
            assert_string_equal(got, script[1].response); /* whole, then closed */
        } else {
            assert_int_equal(len, 0);
        }
        free(got);
        close(fd);
    }
    expect_report(fe, NULL);
    fake_engine_free(fe);
}

static void test_delay(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.response = fake_json(200, "{}"), .delay_ms = 5},
        {.response = fake_json(200, "{}"), .delay_ms = 10 * 60 * 1000},
    };
    struct fake_engine *fe = fake_engine_start(script, 2, NULL);

    int fd = client_connect(fe);
    client_sends(fd, "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[0].response);
    client_sends(fd, "GET /y HTTP/1.1\r\nHost: localhost\r\n\r\n");
    wait_seen(fe, 2);
    /* Stop wakes the ten-minute delay; nothing is written. */
    expect_report(fe, NULL);
    expect_eof(fd);
    close(fd);
    fake_engine_free(fe);
}

static void test_hold_open(void **state)
{
    (void)state;
    struct fake_exchange script[] = {{
        .method = "GET",
        .path = "/v1.41/events",
        .response =
            fake_chunked(200, "application/json", (const char *const[]){"{\"a\":1}\n"}, 1, false),
        .hold_open = true,
    }};
    struct fake_engine *fe = fake_engine_start(script, 1, NULL);

    int fd = client_connect(fe);
    client_sends(fd, "GET /v1.41/events HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[0].response);
    /* Not read while held; dropped at stop without resetting the client. */
    client_sends(fd, "GET /v1.41/version HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_report(fe, NULL);
    expect_eof(fd);
    close(fd);
    assert_int_equal(fake_engine_requests_seen(fe), 1);
    fake_engine_free(fe);
}

static const char hijack_headers[] = "Content-Type: application/vnd.docker.multiplexed-stream\r\n"
                                     "Connection: Upgrade\r\nUpgrade: tcp\r\n";

static void test_hijack(void **state)
{
    (void)state;
    size_t out_len, err_len, stream_len;
    const char *out = fake_frame(1, "HELLO\n", 6, &out_len);
    const char *err = fake_frame(2, "warn\n", 5, &err_len);
    const char *stream = fake_concat(&stream_len, 2, out, out_len, err, err_len);
    struct fake_exchange script[] = {{
        .method = "POST",
        .path = "/v1.41/containers/x/attach?stream=1&stdin=1&stdout=1&stderr=1",
        .headers = {"Connection: Upgrade", "Upgrade: tcp"},
        .response = fake_headers_only(101, hijack_headers),
        .hijack = true,
        .stream = stream,
        .stream_len = stream_len,
        .stream_delay_ms = 5,
    }};
    struct fake_engine *fe = fake_engine_start(script, 1, NULL);

    int fd = client_connect(fe);
    /* "he" rides in with the request: it is stdin too. */
    client_sends(fd,
                 "POST /v1.41/containers/x/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
                 "Host: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nhe");
    expect_str(fd, "HTTP/1.1 101 UPGRADED\r\n"
                   "Content-Type: application/vnd.docker.multiplexed-stream\r\n"
                   "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    client_sends(fd, "llo");
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    expect_bytes(fd, stream, stream_len);
    expect_eof(fd);
    close(fd);

    expect_report(fe, NULL);
    size_t len;
    const char *in = fake_engine_stdin(fe, 0, &len);
    assert_int_equal(len, 5);
    assert_string_equal(in, "hello");
    assert_null(fake_engine_stdin(fe, 1, &len));
    fake_engine_free(fe);
}

static void test_hijack_without_half_close(void **state)
{
    (void)state;
    struct fake_exchange script[] = {{
        .response = fake_headers_only(101, hijack_headers),
        .hijack = true,
        .stream = "never sent",
    }};
    struct fake_engine *fe = fake_engine_start(script, 1, NULL);

    int fd = client_connect(fe);
    client_sends(fd, "POST /attach HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[0].response);
    client_sends(fd, "abc");
    /* The client never half-closes: stop must still return, without writing the stream. */
    expect_report(fe, NULL);
    expect_eof(fd);
    close(fd);
    size_t len;
    assert_non_null(fake_engine_stdin(fe, 0, &len));
    assert_true(len <= 3);
    fake_engine_free(fe);
}

static const char ping_podman[] = "HTTP/1.1 200 OK\r\n"
                                  "Api-Version: 1.41\r\n"
                                  "Libpod-Api-Version: 4.3.1\r\n"
                                  "Cache-Control: no-cache, no-store, must-revalidate\r\n"
                                  "Pragma: no-cache\r\n"
                                  "Content-Type: text/plain; charset=utf-8\r\n";

static void test_auto_ping(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "GET", .path = "/v1.41/version", .response = fake_json(200, "{}")},
    };
    struct fake_engine_opts opts = {.api_version = "1.41", .libpod_version = "4.3.1"};
    struct fake_engine *fe = fake_engine_start(script, 1, &opts);

    int fd = client_connect(fe);
    client_sends(fd, "GET /_ping HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, ping_podman);
    expect_str(fd, "Content-Length: 2\r\n\r\nOK");
    client_sends(fd, "HEAD /v1.41/_ping HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, ping_podman);
    expect_str(fd, "Content-Length: 0\r\n\r\n");
    client_sends(fd, "GET /v1.41/version HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[0].response);
    close(fd);

    expect_report(fe, NULL);
    assert_int_equal(fake_engine_pings_seen(fe), 2);
    assert_int_equal(fake_engine_requests_seen(fe), 1);
    fake_engine_free(fe);

    /* Docker: no Libpod header. */
    struct fake_engine_opts docker = {.api_version = "1.43"};
    fe = fake_engine_start(NULL, 0, &docker);
    fd = client_connect(fe);
    client_sends(fd, "GET /v1.24/_ping HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, "HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nCache-Control:");
    close(fd);
    expect_report(fe, NULL);
    fake_engine_free(fe);

    /* Without opts a ping is an ordinary (here unexpected) request. */
    fe = fake_engine_start(NULL, 0, NULL);
    fd = client_connect(fe);
    client_sends(fd, "GET /_ping HTTP/1.1\r\nHost: localhost\r\n\r\n");
    size_t len;
    char *got = client_read(fd, 12, &len);
    assert_string_equal(got, "HTTP/1.1 500");
    free(got);
    close(fd);
    expect_report(fe, "request 0: unexpected GET /_ping (the script has 0 exchanges)");
    fake_engine_free(fe);
}

static void test_builders(void **state)
{
    (void)state;
    assert_string_equal(fake_json(404, "{\"message\":\"No such container: x\"}"),
                        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                        "Content-Length: 34\r\n\r\n{\"message\":\"No such container: x\"}");
    assert_string_equal(fake_text(200, NULL, "hi"),
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    assert_string_equal(fake_text(599, "text/plain", ""),
                        "HTTP/1.1 599 status code 599\r\nContent-Type: text/plain\r\n"
                        "Content-Length: 0\r\n\r\n");

    const char *const chunks[] = {"{\"a\":1}\n", "", "0123456789abcdef!"};
    assert_string_equal(fake_chunked(200, "application/json", chunks, 3, true),
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n"
                        "8\r\n{\"a\":1}\n\r\n11\r\n0123456789abcdef!\r\n0\r\n\r\n");
    assert_string_equal(fake_chunked(200, "application/json", chunks, 3, false),
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n"
                        "8\r\n{\"a\":1}\n\r\n11\r\n0123456789abcdef!\r\n");

    assert_string_equal(fake_headers_only(101, hijack_headers),
                        "HTTP/1.1 101 UPGRADED\r\n"
                        "Content-Type: application/vnd.docker.multiplexed-stream\r\n"
                        "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    assert_string_equal(fake_headers_only(204, NULL), "HTTP/1.1 204 No Content\r\n\r\n");

    size_t len;
    const char *f = fake_frame(1, "hi", 2, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(f, "\x01\x00\x00\x00\x00\x00\x00\x02hi", 10);
    f = fake_frame(3, "", 0, &len);
    assert_int_equal(len, 8);
    assert_memory_equal(f, "\x03\x00\x00\x00\x00\x00\x00\x00", 8);
    size_t big_len = 0x010203;
    char *big = malloc(big_len);
    assert_non_null(big);
    memset(big, 'z', big_len);
    f = fake_frame(2, big, big_len, &len);
    assert_int_equal(len, 8 + big_len);
    assert_memory_equal(f, "\x02\x00\x00\x00\x00\x01\x02\x03", 8);
    assert_memory_equal(f + 8, big, big_len);
    free(big);

    const char *c = fake_concat(&len, 3, FAKE_STR("ab"), "c\0d", (size_t)3, FAKE_STR(""));
    assert_int_equal(len, 5);
    assert_memory_equal(c, "abc\0d", 5);
    c = fake_concat(&len, 0);
    assert_int_equal(len, 0);
    assert_string_equal(c, "");
}

static void test_oversize_head(void **state)
{
    (void)state;
    struct fake_engine *fe = fake_engine_start(NULL, 0, NULL);

    size_t n = FAKE_ENGINE_MAX_HEAD + 4096;
    char *req = malloc(n + 1);
    assert_non_null(req);
    memset(req, 'a', n);
    memcpy(req, "GET / HTTP/1.1\r\nX: ", 19);
    req[n] = '\0';
    int fd = client_connect(fe);
    client_send(fd, req, n);
    free(req);
    size_t len;
    char *got = client_read_all(fd, &len);
    assert_int_equal(strncmp(got, "HTTP/1.1 431 ", 13), 0);
    free(got);
    close(fd);

    expect_report(fe, "connection 1: request head exceeds 65536 bytes");
    assert_int_equal(fake_engine_requests_seen(fe), 0);
    fake_engine_free(fe);
}

static void test_broken_requests(void **state)
{
    (void)state;
    struct fake_exchange script[] = {{.method = "POST", .path = "/x", .response = "x"}};
    struct fake_engine *fe = fake_engine_start(script, 1, NULL);

    /* Hang-up inside the body. */
    int fd = client_connect(fe);
    client_sends(fd, "POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc");
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    expect_eof(fd);
    close(fd);

    /* Not HTTP at all. */
    fd = client_connect(fe);
    client_sends(fd, "NONSENSE\x01\r\n\r\n");
    size_t len;
    char *got = client_read_all(fd, &len);
    assert_int_equal(strncmp(got, "HTTP/1.1 400 ", 13), 0);
    free(got);
    close(fd);

    /* A bad chunk size. */
    fd = client_connect(fe);
    client_sends(fd, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    got = client_read_all(fd, &len);
    assert_int_equal(strncmp(got, "HTTP/1.1 400 ", 13), 0);
    free(got);
    close(fd);

    /* A body over the cap is refused before it is read. */
    fd = client_connect(fe);
    client_sends(fd, "POST /x HTTP/1.1\r\nContent-Length: 16777217\r\n\r\n");
    got = client_read_all(fd, &len);
    assert_int_equal(strncmp(got, "HTTP/1.1 413 ", 13), 0);
    free(got);
    close(fd);

    expect_report(
        fe, "connection 1: client closed the connection inside a request body (3 bytes pending)\n"
            "connection 2: malformed request line 'NONSENSE\\x01'\n"
            "connection 3: malformed chunk size line 'zz'\n"
            "connection 4: request body of 16777217 bytes exceeds 16777216 bytes\n"
            "exchange 0: expected POST /x, never requested");
    fake_engine_free(fe);
}

static void test_many_connections(void **state)
{
    (void)state;
    enum { N = 24 };
    struct fake_exchange script[N];
    char paths[N][16];
    for (size_t i = 0; i < N; i++) {
        snprintf(paths[i], sizeof(paths[i]), "/n/%zu", i);
        script[i] = (struct fake_exchange){
            .method = "GET", .path = paths[i], .response = fake_json(200, paths[i])};
    }
    struct fake_engine *fe = fake_engine_start(script, N, NULL);

    /* All open at once, used in turn: order is across connections. */
    int fds[N];
    for (size_t i = 0; i < N; i++)
        fds[i] = client_connect(fe);
    for (size_t i = 0; i < N; i++) {
        char req[sizeof(paths) + 64]; /* gcc cannot see that one path is short */
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", paths[i]);
        client_sends(fds[N - 1 - i], req);
        expect_str(fds[N - 1 - i], script[i].response);
    }
    for (size_t i = 0; i < N; i++)
        close(fds[i]);
    expect_report(fe, NULL);
    fake_engine_free(fe);
}

static void test_free_without_stop(void **state)
{
    (void)state;
    struct fake_exchange script[] = {{.response = fake_headers_only(200, NULL), .hold_open = true}};
    struct fake_engine *fe = fake_engine_start(script, 1, NULL);
    char *dir = strdup(fake_engine_socket(fe));
    assert_non_null(dir);
    *strrchr(dir, '/') = '\0';

    int fd = client_connect(fe);
    client_sends(fd, "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[0].response);
    int idle = client_connect(fe); /* a second connection that never sends anything */

    /* Stop is idempotent. */
    assert_int_equal(fake_engine_stop(fe, NULL), 0);
    assert_int_equal(fake_engine_stop(fe, NULL), 0);
    fake_engine_free(fe);
    struct stat st;
    assert_int_equal(stat(dir, &st), -1);
    assert_int_equal(errno, ENOENT);
    free(dir);
    expect_eof(fd);
    close(fd);
    close(idle);

    /* Freeing a running engine stops it first. */
    fe = fake_engine_start(script, 1, NULL);
    fd = client_connect(fe);
    client_sends(fd, "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_str(fd, script[0].response);
    fake_engine_free(fe);
    expect_eof(fd);
    close(fd);
    fake_engine_free(NULL);
}

int main(void)
{
    alarm(WATCHDOG_SECONDS);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_match_all_fields, teardown),
        cmocka_unit_test_teardown(test_keepalive, teardown),
        cmocka_unit_test_teardown(test_close_after_unframed_or_connection_close, teardown),
        cmocka_unit_test_teardown(test_mismatch_reported, teardown),
        cmocka_unit_test_teardown(test_body_and_header_mismatch, teardown),
        cmocka_unit_test_teardown(test_missing_request_reported, teardown),
        cmocka_unit_test_teardown(test_extra_request_reported, teardown),
        cmocka_unit_test_teardown(test_chunked_request_body, teardown),
        cmocka_unit_test_teardown(test_expect_continue, teardown),
        cmocka_unit_test_teardown(test_hangup_after, teardown),
        cmocka_unit_test_teardown(test_delay, teardown),
        cmocka_unit_test_teardown(test_hold_open, teardown),
        cmocka_unit_test_teardown(test_hijack, teardown),
        cmocka_unit_test_teardown(test_hijack_without_half_close, teardown),
        cmocka_unit_test_teardown(test_auto_ping, teardown),
        cmocka_unit_test_teardown(test_builders, teardown),
        cmocka_unit_test_teardown(test_oversize_head, teardown),
        cmocka_unit_test_teardown(test_broken_requests, teardown),
        cmocka_unit_test_teardown(test_many_connections, teardown),
        cmocka_unit_test_teardown(test_free_without_stop, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
