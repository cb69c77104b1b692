/* Engine reply parsing and encoding without an engine: error mapping, create/list/state/
 * wait/image/event replies, the label filter, endpoint parsing and discovery order, and the
 * head parser used for hijacked connections. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/container.h"
#include "engine/endpoint.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "engine/hijack.h"
#include "engine/wait.h"
#include "util/strv.h"
#include "util/xalloc.h"

static void expect_reply_error(long status, const char *body, int want_errno, const char *want)
{
    nc_error *err = NULL;
    assert_int_equal(engine_reply_error(status, body, strlen(body), &err), -want_errno);
    assert_int_equal(err->http_status, status);
    if (strcmp(err->msg, want) != 0)
        fail_msg("reply error: got '%s', want '%s'", err->msg, want);
    nc_error_free(err);
}

static void test_reply_errors(void **state)
{
    (void)state;
    expect_reply_error(404, "{\"message\":\"No such image: x:y\"}", ENOENT,
                       "404 No such image: x:y");
    expect_reply_error(500,
                       "{\"cause\":\"no such file\",\"message\":\"container create: boom\","
                       "\"response\":500}",
                       EIO, "500 container create: boom");
    expect_reply_error(404, "No such container: doesnotexist\r\n", ENOENT,
                       "404 No such container: doesnotexist");
    expect_reply_error(409, "{\"message\":\"\"}", EBUSY, "409 (no message)");
    expect_reply_error(400, "", EINVAL, "400 (no message)");
    expect_reply_error(403, "bad\x1b[31mred\ttab", EACCES, "403 bad [31mred tab");
    expect_reply_error(401, "{}", EACCES, "401 {}");
    expect_reply_error(501, "x", ENOSYS, "501 x");
    expect_reply_error(503, "x", EAGAIN, "503 x");
    expect_reply_error(418, "x", EIO, "418 x");
    char long_msg[2000];
    memset(long_msg, 'a', sizeof(long_msg) - 1);
    long_msg[sizeof(long_msg) - 1] = '\0';
    nc_error *err = NULL;
    engine_reply_error(500, long_msg, strlen(long_msg), &err);
    assert_int_equal(strlen(err->msg), 4 + 512 + 3);
    assert_string_equal(err->msg + strlen(err->msg) - 3, "...");
    nc_error_free(err);
}

static void test_create_reply(void **state)
{
    (void)state;
    const char *ok = "{\"Id\":\"abc123\",\"Warnings\":[\"Your kernel does not support memory limit "
                     "capabilities. Limitation discarded.\",\"\"]}";
    char *id = NULL;
    char **w = NULL;
    assert_int_equal(engine_parse_create_reply(ok, strlen(ok), &id, &w, NULL), 0);
    assert_string_equal(id, "abc123");
    assert_int_equal(strv_len(w), 1);
    assert_non_null(strstr(w[0], "memory limit"));
    free(id);
    strv_free(w);
    const char *none = "{\"Id\":\"abc\",\"Warnings\":null}";
    assert_int_equal(engine_parse_create_reply(none, strlen(none), &id, &w, NULL), 0);
    assert_null(w);
    free(id);
    const char *bad[] = {"{\"Warnings\":[]}", "{\"Id\":\"../../x\"}", "{\"Id\":5}", "[]", "nope"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(bad); i++) {
        nc_error *err = NULL;
        assert_true(engine_parse_create_reply(bad[i], strlen(bad[i]), &id, &w, &err) < 0);
        nc_error_free(err);
    }
}

static void test_container_list(void **state)
{
    (void)state;
    const char *body = "[{\"Id\":\"aaa\",\"Names\":[\"/nanocell-g-1\"],\"Image\":\"img\","
                       "\"State\":\"running\",\"Status\":\"Up 2 seconds\",\"Created\":1700000000,"
                       "\"Labels\":{\"nanocell.install\":\"i1\",\"nanocell.group\":\"g\"}},"
                       "{\"Names\":[\"/no-id\"]},"
                       "{\"Id\":\"bad id\"},"
                       "{\"Id\":\"bbb\",\"Names\":null,\"Labels\":null}]";
    engine_container_summary *s = NULL;
    size_t n = 0;
    assert_int_equal(engine_parse_container_list(body, strlen(body), &s, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_string_equal(s[0].id, "aaa");
    assert_string_equal(s[0].name, "nanocell-g-1");
    assert_string_equal(s[0].state, "running");
    assert_int_equal(s[0].created, 1700000000);
    assert_string_equal(engine_summary_label(&s[0], "nanocell.group"), "g");
    assert_null(engine_summary_label(&s[0], "nanocell"));
    assert_string_equal(s[1].id, "bbb");
    assert_string_equal(s[1].name, "");
    assert_null(s[1].labels);
    engine_container_summaries_free(s, n);
    nc_error *err = NULL;
    assert_int_equal(engine_parse_container_list("{}", 2, &s, &n, &err), -EPROTO);
    nc_error_free(err);
}

static void test_state_wait_image(void **state)
{
    (void)state;
    nc_json *root = NULL;
    const char *insp = "{\"State\":{\"Status\":\"exited\",\"Running\":false,\"OOMKilled\":true,"
                       "\"Pid\":0,\"ExitCode\":137,\"Error\":\"\"}}";
    assert_int_equal(json_parse(insp, strlen(insp), &root, NULL), 0);
    engine_state st = {0};
    assert_int_equal(engine_parse_state(root, &st, NULL), 0);
    assert_string_equal(st.status, "exited");
    assert_true(st.oom_killed);
    assert_int_equal(st.exit_code, 137);
    assert_null(st.error);
    engine_state_release(&st);
    json_free(root);
    nc_error *err = NULL;
    assert_int_equal(json_parse("{}", 2, &root, NULL), 0);
    assert_int_equal(engine_parse_state(root, &st, &err), -EPROTO);
    nc_error_free(err);
    json_free(root);

    int64_t code = -1;
    const char *w1 = "{\"StatusCode\":3,\"Error\":null}";
    assert_int_equal(engine_parse_wait_reply(w1, strlen(w1), &code, NULL), 0);
    assert_int_equal(code, 3);
    const char *w2 = "{\"StatusCode\":0,\"Error\":{\"Message\":\"removal failed\"}}";
    err = NULL;
    assert_int_equal(engine_parse_wait_reply(w2, strlen(w2), &code, &err), -EIO);
    assert_string_equal(err->msg, "engine reported: removal failed");
    nc_error_free(err);
    err = NULL;
    assert_int_equal(engine_parse_wait_reply("{}", 2, &code, &err), -EPROTO);
    nc_error_free(err);

    const char *img = "{\"Id\":\"sha256:ab\",\"RepoTags\":[\"a:b\"],\"Config\":{\"User\":\"1000\"},"
                      "\"Size\":42}";
    engine_image im = {0};
    assert_int_equal(engine_parse_image(img, strlen(img), &im, NULL), 0);
    assert_string_equal(im.id, "sha256:ab");
    assert_string_equal(im.user, "1000");
    assert_string_equal(im.repo_tags[0], "a:b");
    assert_int_equal(im.size, 42);
    engine_image_release(&im);
}

static void test_filter_and_escape(void **state)
{
    (void)state;
    char *labels[] = {"nanocell.install=abc", "nanocell.group=g 1", NULL};
    _cleanup_free_ char *f = engine_label_filter(labels);
    assert_string_equal(f, "%7B%22label%22%3A%5B%22nanocell.install%3Dabc%22%2C%22nanocell.group%"
                           "3Dg%201%22%5D%7D");
    _cleanup_free_ char *none = engine_label_filter(NULL);
    assert_string_equal(none, "%7B%22label%22%3A%5B%5D%7D");
    _cleanup_free_ char *esc = engine_url_escape("a-Z_0.9~ /&?=%\xc3\xa9");
    assert_string_equal(esc, "a-Z_0.9~%20%2F%26%3F%3D%25%C3%A9");
}

static void test_valid_ref(void **state)
{
    (void)state;
    assert_true(engine_valid_ref("nanocell-main-1700000000-abcd"));
    assert_true(engine_valid_ref("0123abcdef"));
    assert_false(engine_valid_ref(""));
    assert_false(engine_valid_ref(NULL));
    assert_false(engine_valid_ref("-x"));
    assert_false(engine_valid_ref("a/b"));
    assert_false(engine_valid_ref("a?b"));
    assert_false(engine_valid_ref("a b"));
    assert_false(engine_valid_ref(".."));
    char long_ref[130];
    memset(long_ref, 'a', 129);
    long_ref[129] = '\0';
    assert_false(engine_valid_ref(long_ref));
    long_ref[128] = '\0';
    assert_true(engine_valid_ref(long_ref));
}

static void expect_endpoint(const char *uri, int want, const char *want_path, const char *want_msg)
{
    engine_endpoint ep = {0};
    nc_error *err = NULL;
    int r = endpoint_parse(uri, "test", &ep, &err);
    assert_int_equal(r, want);
    if (r == 0) {
        assert_string_equal(ep.socket_path, want_path);
        assert_string_equal(ep.source, "test");
        endpoint_release(&ep);
    } else if (!strstr(err->msg, want_msg)) {
        fail_msg("endpoint '%s': got '%s', want '%s'", uri, err->msg, want_msg);
    }
    nc_error_free(err);
}

static void test_endpoint_parse(void **state)
{
    (void)state;
    expect_endpoint("unix:///var/run/docker.sock", 0, "/var/run/docker.sock", NULL);
    expect_endpoint("unix://", 0, "/var/run/docker.sock", NULL);
    expect_endpoint("/run/podman/podman.sock", 0, "/run/podman/podman.sock", NULL);
    expect_endpoint("https://x", -EPROTONOSUPPORT, NULL, "tcp://host:port");
    expect_endpoint("ssh://u@h", -EPROTONOSUPPORT, NULL, "ssh -N -L");
    expect_endpoint("npipe:////./pipe/docker_engine", -EPROTONOSUPPORT, NULL, "Windows-only");
    expect_endpoint("fd://", -EPROTONOSUPPORT, NULL, "fd://");
    expect_endpoint("unix://relative.sock", -EINVAL, NULL, "must be absolute");
    expect_endpoint("docker.sock", -EINVAL, NULL, "unrecognised");
    expect_endpoint("", -EINVAL, NULL, "empty");
    /* 107 bytes fit in sun_path with the NUL; 108 do not, and are never truncated. */
    char path[120] = "/";
    memset(path + 1, 'p', 106);
    path[107] = '\0';
    expect_endpoint(path, 0, path, NULL);
    path[107] = 'p';
    path[108] = '\0';
    expect_endpoint(path, -ENAMETOOLONG, NULL, "108 bytes, more than the 107");
}

static void test_endpoint_candidates(void **state)
{
    (void)state;
    endpoint_candidate *c;
    size_t n;
    unsetenv("DOCKER_HOST");
    unsetenv("CONTAINER_HOST");
    unsetenv("DOCKER_CONTEXT");
    setenv("DOCKER_CONFIG", "/nonexistent/docker-config", 1); /* no context */
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    n = endpoint_candidates(NULL, NULL, NULL, &c);
    assert_int_equal(n, 3);
    assert_string_equal(c[0].uri, "unix:///var/run/docker.sock");
    assert_string_equal(c[1].uri, "unix:///run/user/1000/podman/podman.sock");
    assert_string_equal(c[2].uri, "unix:///run/podman/podman.sock");
    assert_false(c[0].user_set || c[1].user_set || c[2].user_set);
    endpoint_candidates_free(c, n);

    unsetenv("XDG_RUNTIME_DIR");
    n = endpoint_candidates("", NULL, "", &c);
    assert_int_equal(n, 2);
    endpoint_candidates_free(c, n);

    /* Docker's order: --host, DOCKER_HOST, CONTAINER_HOST, (context), engine.host, defaults;
     * every address is listed, the defaults last. */
    setenv("CONTAINER_HOST", "unix:///c.sock", 1);
    n = endpoint_candidates(NULL, NULL, "unix:///cfg.sock", &c);
    assert_int_equal(n, 4);
    assert_string_equal(c[0].source, "CONTAINER_HOST");
    assert_true(c[0].user_set);
    assert_string_equal(c[1].uri, "unix:///cfg.sock");
    assert_string_equal(c[1].source, "config key engine.host");
    assert_true(c[1].user_set);
    assert_false(c[2].user_set);
    endpoint_candidates_free(c, n);

    setenv("DOCKER_HOST", "unix:///d.sock", 1);
    n = endpoint_candidates(NULL, NULL, "unix:///cfg.sock", &c);
    assert_int_equal(n, 5);
    assert_string_equal(c[0].uri, "unix:///d.sock");
    assert_string_equal(c[0].source, "DOCKER_HOST");
    assert_string_equal(c[1].source, "CONTAINER_HOST");
    assert_string_equal(c[2].source, "config key engine.host");
    endpoint_candidates_free(c, n);

    n = endpoint_candidates("unix:///h.sock", "--host", "unix:///cfg.sock", &c);
    assert_int_equal(n, 6);
    assert_string_equal(c[0].uri, "unix:///h.sock");
    assert_string_equal(c[0].source, "--host");
    assert_string_equal(c[1].source, "DOCKER_HOST");
    endpoint_candidates_free(c, n);
    unsetenv("DOCKER_HOST");
    unsetenv("CONTAINER_HOST");
}

static void test_http_head(void **state)
{
    (void)state;
    const char *r101 = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-"
                       "stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n\x01\x00\x00";
    http_head h = {0};
    ssize_t n = http_head_parse(r101, strlen(r101) + 2, &h, NULL);
    assert_int_equal(n, strlen(r101) - 1);
    assert_int_equal(h.status, 101);
    assert_string_equal(http_head_header(&h, "upgrade"), "tcp");
    assert_string_equal(http_head_header(&h, "CONTENT-TYPE"),
                        "application/vnd.docker.multiplexed-stream");
    http_head_release(&h);

    /* Every prefix of a head is "need more". */
    for (size_t i = 0; i < strlen(r101) - 1; i++) {
        assert_int_equal(http_head_parse(r101, i, &h, NULL), 0);
        assert_int_equal(h.nheaders, 0);
    }
    const char *lf = "HTTP/1.0 404\nContent-Length: 5\n\nerror";
    n = http_head_parse(lf, strlen(lf), &h, NULL);
    assert_int_equal(n, strlen(lf) - 5);
    assert_int_equal(h.status, 404);
    http_head_release(&h);

    const char *bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 099 x\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA\r\n\r\n",
        "HTTP/1.1 200 OK\rX: y\r\n\r\n",
    };
    for (size_t i = 0; i < NC_ARRAY_SIZE(bad); i++) {
        nc_error *err = NULL;
        if (http_head_parse(bad[i], strlen(bad[i]), &h, &err) != -EPROTO)
            fail_msg("head %zu accepted: %s", i, bad[i]);
        nc_error_free(err);
    }
    strbuf many = STRBUF_INIT;
    strbuf_addstr(&many, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
        strbuf_addf(&many, "X-%d: v\r\n", i);
    strbuf_addstr(&many, "\r\n");
    nc_error *err = NULL;
    assert_int_equal(http_head_parse(many.buf, many.len, &h, &err), -EPROTO);
    assert_non_null(strstr(err->msg, "more than 128 headers"));
    nc_error_free(err);
    strbuf_reset(&many);
    strbuf_addstr(&many, "HTTP/1.1 200 OK\r\nX: ");
    while (many.len <= HIJACK_MAX_HEAD)
        strbuf_addch(&many, 'v');
    err = NULL;
    assert_int_equal(http_head_parse(many.buf, many.len, &h, &err), -EPROTO);
    assert_non_null(strstr(err->msg, "exceeds"));
    nc_error_free(err);
    strbuf_release(&many);
}

struct evs {
    int n;
    char actions[8][16];
    int stop_at;
};

static int ev_cb(const engine_event *ev, void *ud, nc_error **err)
{
    (void)err;
    struct evs *e = ud;
    snprintf(e->actions[e->n], sizeof(e->actions[0]), "%s:%s", ev->action ? ev->action : "-",
             ev->id ? ev->id : "-");
    e->n++;
    return e->n == e->stop_at ? 1 : 0;
}

static void test_events_split(void **state)
{
    (void)state;
    const char *stream = "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"a1\","
                         "\"Attributes\":{\"name\":\"x\"}},\"time\":1,\"timeNano\":1000}\n"
                         "\r\n"
                         "{\"status\":\"die\",\"id\":\"b2\"}\r\n"
                         "{\"Action\":\"oom\",\"Actor\":{\"ID\":\"c3\"}}\n";
    size_t len = strlen(stream);
    for (size_t cut = 0; cut <= len; cut++) {
        struct evs e = {0};
        event_splitter s = {.cb = ev_cb, .userdata = &e};
        assert_int_equal(event_splitter_feed(&s, stream, cut), 0);
        assert_int_equal(event_splitter_feed(&s, stream + cut, len - cut), 0);
        assert_int_equal(e.n, 3);
        assert_string_equal(e.actions[0], "start:a1");
        assert_string_equal(e.actions[1], "die:b2");
        assert_string_equal(e.actions[2], "oom:c3");
        event_splitter_release(&s);
    }
    /* The callback can stop the stream. */
    struct evs e = {.stop_at = 1};
    event_splitter s = {.cb = ev_cb, .userdata = &e};
    assert_int_equal(event_splitter_feed(&s, stream, len), 1);
    assert_int_equal(e.n, 1);
    event_splitter_release(&s);
    /* Bad JSON and overlong lines fail the stream. */
    struct evs e2 = {0};
    event_splitter s2 = {.cb = ev_cb, .userdata = &e2};
    assert_true(event_splitter_feed(&s2, "{nope}\n", 7) < 0);
    assert_non_null(s2.err);
    event_splitter_release(&s2);
    event_splitter s3 = {.cb = ev_cb, .userdata = &e2};
    char *big = xmalloc(ENGINE_MAX_EVENT + 1);
    memset(big, 'x', ENGINE_MAX_EVENT + 1);
    assert_int_equal(event_splitter_feed(&s3, big, ENGINE_MAX_EVENT + 1), -EFBIG);
    free(big);
    event_splitter_release(&s3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_errors),      cmocka_unit_test(test_create_reply),
        cmocka_unit_test(test_container_list),    cmocka_unit_test(test_state_wait_image),
        cmocka_unit_test(test_filter_and_escape), cmocka_unit_test(test_valid_ref),
        cmocka_unit_test(test_endpoint_parse),    cmocka_unit_test(test_endpoint_candidates),
        cmocka_unit_test(test_http_head),         cmocka_unit_test(test_events_split),
    };
    return cmocka_run_group_tests_name("engine-parse", tests, NULL, NULL);
}
