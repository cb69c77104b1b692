/* Engine discovery order and image pulls, against the scripted fake engine (tests/support):
 * DOCKER_HOST beats engine.host and a user-set address is final; the candidates after the
 * chosen one are reported; the pull's JSON-lines progress stream (success, an error inside the
 * stream, a truncated stream, oversize lines) and the agent image policy (agent.pull). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/image.h"
#include "engine/container.h"
#include "engine/engine.h"
#include "engine/image.h"
#include "support/fake_engine.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define V "/v1.41"

static struct fake_engine *fe;

static int setup(void **state)
{
    (void)state;
    unsetenv("DOCKER_HOST");
    unsetenv("CONTAINER_HOST");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_engine_free(fe);
    fe = NULL;
    fake_free_responses();
    unsetenv("DOCKER_HOST");
    unsetenv("CONTAINER_HOST");
    return 0;
}

static void start_fake(const struct fake_exchange *script, size_t n)
{
    struct fake_engine_opts o = {.api_version = "1.41"};
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

static engine *open_ok(void)
{
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    engine_opts o = {.host = host, .host_source = "test", .request_timeout_ms = 2000};
    engine *e = NULL;
    nc_error *err = NULL;
    if (engine_open(&o, NULL, &e, &err) < 0)
        fail_msg("engine_open: %s", nc_error_msg(err));
    return e;
}

/* --- discovery --- */

/* DOCKER_HOST comes before the config's engine.host, as in Docker's CLI. */
static void test_docker_host_beats_config(void **state)
{
    (void)state;
    start_fake(NULL, 0);
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    setenv("DOCKER_HOST", host, 1);
    engine_opts o = {.config_host = "unix:///nonexistent/config.sock"};
    engine_report report = {0};
    engine *e = NULL;
    nc_error *err = NULL;
    if (engine_open(&o, &report, &e, &err) < 0)
        fail_msg("engine_open: %s", nc_error_msg(err));
    assert_string_equal(e->ep.source, "DOCKER_HOST");
    assert_true(report.probes[0].chosen);
    assert_string_equal(report.probes[1].source, "config key engine.host");
    assert_false(report.probes[1].tried);
    engine_free(e);
    engine_report_release(&report);
    expect_script_done();
}

/* A DOCKER_HOST that fails is final: the working engine.host after it is not used, and with
 * probe_all it is still reported, with its own state. */
static void test_user_set_is_final(void **state)
{
    (void)state;
    start_fake(NULL, 0);
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    setenv("DOCKER_HOST", "unix:///nonexistent/docker-host.sock", 1);
    engine_opts o = {.config_host = host, .probe_all = true};
    engine_report report = {0};
    engine *e = NULL;
    nc_error *err = NULL;
    assert_int_equal(engine_open(&o, &report, &e, &err), -ENOENT);
    assert_null(e);
    assert_string_equal(
        err->msg, "engine 'unix:///nonexistent/docker-host.sock' (from DOCKER_HOST): missing");
    assert_string_equal(report.probes[0].source, "DOCKER_HOST");
    assert_string_equal(report.probes[0].state, "missing");
    assert_string_equal(report.probes[1].source, "config key engine.host");
    assert_true(report.probes[1].tried);
    assert_false(report.probes[1].chosen);
    assert_string_equal(report.probes[1].state, "ok");
    /* The defaults come last, probed too. */
    assert_true(report.n >= 4);
    assert_string_equal(report.probes[report.n - 1].uri, "unix:///run/podman/podman.sock");
    assert_true(report.probes[report.n - 1].tried);
    nc_error_free(err);
    engine_report_release(&report);
    expect_script_done();
}

/* A malformed or unsupported address is marked as such, wherever it was set: callers make it
 * a usage error. */
static void test_bad_address_marked(void **state)
{
    (void)state;
    setenv("DOCKER_HOST", "tcp://127.0.0.1:2375", 1);
    engine_opts o = {0};
    engine_report report = {0};
    engine *e = NULL;
    nc_error *err = NULL;
    assert_int_equal(engine_open(&o, &report, &e, &err), -EPERM);
    assert_true(report.probes[0].bad_address);
    assert_true(report.probes[0].user_set);
    assert_non_null(strstr(err->msg, "(from DOCKER_HOST): plain tcp without TLS is refused"));
    nc_error_free(err);
    engine_report_release(&report);
    err = NULL;
    unsetenv("DOCKER_HOST");
    o.host = "unix://relative.sock";
    assert_int_equal(engine_open(&o, &report, &e, &err), -EINVAL);
    assert_true(report.probes[0].bad_address);
    nc_error_free(err);
    engine_report_release(&report);
}

/* --- reference splitting --- */

static void expect_split(const char *ref, const char *name, const char *tag)
{
    char *n = NULL, *t = NULL;
    nc_error *err = NULL;
    if (engine_image_ref_split(ref, &n, &t, &err) < 0)
        fail_msg("split '%s': %s", ref, nc_error_msg(err));
    assert_string_equal(n, name);
    assert_string_equal(t, tag);
    free(n);
    free(t);
}

static void test_ref_split(void **state)
{
    (void)state;
    expect_split("registry.example:5000/x/y:tag", "registry.example:5000/x/y", "tag");
    expect_split("localhost:5000/agent", "localhost:5000/agent", "latest");
    expect_split("busybox", "busybox", "latest");
    expect_split("r.example/a@sha256:abcd", "r.example/a", "sha256:abcd");
    char *n = NULL, *t = NULL;
    nc_error *err = NULL;
    assert_int_equal(engine_image_ref_split("x:", &n, &t, &err), -EINVAL);
    nc_error_free(err);
    err = NULL;
    assert_int_equal(engine_image_ref_split("", &n, &t, &err), -EINVAL);
    nc_error_free(err);
    assert_true(agent_image_has_registry("registry.example:5000/x/y:tag"));
    assert_true(agent_image_has_registry("localhost/x"));
    assert_true(agent_image_has_registry("ghcr.io/a/b"));
    assert_false(agent_image_has_registry("nanocell-agent:latest"));
    assert_false(agent_image_has_registry("library/busybox:1"));
    assert_false(agent_image_pullable("ghcr.io/a/b", "never"));
    assert_true(agent_image_pullable("ghcr.io/a/b", "missing"));
    assert_false(agent_image_pullable("busybox", "missing"));
}

static void expect_ref(const char *ref, bool valid)
{
    nc_error *err = NULL;
    int r = engine_image_ref_check(ref, &err);
    if (valid && r < 0)
        fail_msg("'%s' refused: %s", ref, nc_error_msg(err));
    if (!valid && r == 0)
        fail_msg("'%s' accepted", ref);
    nc_error_free(err);
}

static void test_ref_check(void **state)
{
    (void)state;
    expect_ref("nanocell-agent:latest", true);
    expect_ref("busybox", true);
    expect_ref("library/busybox:1.36", true);
    expect_ref("registry.example:5000/x/y:tag", true);
    expect_ref("localhost:5000/a_b__c/d.e-f--g:V1_2.3-x", true);
    expect_ref("UPPER.example/x", true);
    expect_ref(
        "ghcr.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        true);
    expect_ref("", false);
    expect_ref("UPPER/x", false); /* refused by Docker 20.10 and Podman */
    expect_ref("Upper", false);
    expect_ref("bad ref", false);
    expect_ref("a::b", false);
    expect_ref("x:", false);
    expect_ref("x:-tag", false);
    expect_ref("a//b", false);
    expect_ref("a/b/", false);
    expect_ref("-a", false);
    expect_ref("a..b", false);
    expect_ref("a___b", false);
    expect_ref("r.example:port/x", false);
    expect_ref("x@sha256:abc", false);
    expect_ref("x@sha256", false);
}

/* --- the progress stream --- */

static void collect(const char *msg, void *userdata)
{
    strv_push((char ***)userdata, msg);
}

static void test_stream_parse(void **state)
{
    (void)state;
    char **lines = NULL;
    pull_stream s = {.cb = collect, .userdata = &lines};
    const char *text = "{\"status\":\"Pulling from x/y\",\"id\":\"tag\"}\r\n"
                       "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1,\"total\":"
                       "2},\"progress\":\"[=>  ]\",\"id\":\"abc\"}\n\n"
                       "{\"status\":\"Pull complete\",\"id\":\"abc\"}\n"
                       "{\"status\":\"Status: Downloaded newer image for x/y:tag\"}";
    /* Byte by byte: lines are reassembled whatever the slices. */
    for (size_t i = 0; text[i]; i++)
        assert_int_equal(pull_stream_feed(&s, text + i, 1), 0);
    nc_error *err = NULL;
    assert_int_equal(pull_stream_finish(&s, &err), 0);
    assert_int_equal(strv_len(lines), 3);
    assert_string_equal(lines[0], "tag: Pulling from x/y");
    assert_string_equal(lines[1], "abc: Pull complete");
    assert_string_equal(lines[2], "Status: Downloaded newer image for x/y:tag");
    pull_stream_release(&s);
    strv_free(lines);

    /* An error object, a line that is not JSON, an oversize line, nothing at all. */
    pull_stream e1 = {0};
    const char *bad = "{\"status\":\"x\"}\n{\"errorDetail\":{\"message\":\"manifest unknown\"},"
                      "\"error\":\"manifest\\nunknown\"}\n{\"status\":\"after\"}\n";
    assert_int_equal(pull_stream_feed(&e1, bad, strlen(bad)), -EIO);
    assert_int_equal(pull_stream_finish(&e1, &err), -EIO);
    /* The engine's newline is made harmless, as everywhere (util/termsafe.h). */
    assert_string_equal(err->msg, "manifest?unknown");
    nc_error_free(err);
    err = NULL;
    pull_stream_release(&e1);

    pull_stream e2 = {0};
    assert_int_equal(pull_stream_feed(&e2, "<html>\n", 7), -EPROTO);
    pull_stream_release(&e2);

    pull_stream e3 = {0};
    char *big = xmalloc(ENGINE_PULL_MAX_LINE + 2);
    memset(big, 'a', ENGINE_PULL_MAX_LINE + 1);
    big[ENGINE_PULL_MAX_LINE + 1] = '\0';
    assert_int_equal(pull_stream_feed(&e3, big, strlen(big)), -EFBIG);
    free(big);
    pull_stream_release(&e3);

    pull_stream e4 = {0};
    assert_int_equal(pull_stream_finish(&e4, &err), -EPROTO);
    nc_error_free(err);
    pull_stream_release(&e4);
}

/* --- pulls against the fake engine --- */

#define PULL_PATH V "/images/create?fromImage=registry.example%3A5000%2Fx%2Fy&tag=tag"

static const char *const ok_chunks[] = {
    "{\"status\":\"Pulling from x/y\",\"id\":\"tag\"}\n{\"status\":\"Pulling fs layer\",\"id\":\"a"
    "bc\"}\n",
    "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":5},\"progress\":\"[=> ]\",\"id\""
    ":\"abc\"}\n{\"status\":\"Pull complete\",\"id\":\"abc\"}\n",
    "{\"status\":\"Status: Downloaded newer image for registry.example:5000/x/y:tag\"}\n"};

static void test_pull_success(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = PULL_PATH,
         .response = fake_chunked(200, "application/json", ok_chunks, 3, true)},
    };
    start_fake(script, 1);
    _cleanup_engine_ engine *e = open_ok();
    char **lines = NULL;
    nc_error *err = NULL;
    if (engine_image_pull(e, "registry.example:5000/x/y:tag", 2000, collect, &lines, &err) < 0)
        fail_msg("pull: %s", nc_error_msg(err));
    assert_int_equal(strv_len(lines), 4);
    assert_string_equal(lines[3],
                        "Status: Downloaded newer image for registry.example:5000/x/y:tag");
    strv_free(lines);
    expect_script_done();
}

static void test_pull_error_in_stream(void **state)
{
    (void)state;
    const char *chunks[] = {"{\"status\":\"Pulling from x/y\",\"id\":\"tag\"}\n",
                            "{\"errorDetail\":{\"message\":\"manifest for registry.example:5000/"
                            "x/y:tag not found\"},\"error\":\"manifest for registry.example:5000/"
                            "x/y:tag not found\"}\n"};
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = PULL_PATH,
         .response = fake_chunked(200, "application/json", chunks, 2, true)},
        {.method = "POST",
         .path = PULL_PATH,
         .response = fake_json(404, "{\"message\":\"repository does not exist\"}")},
    };
    start_fake(script, 2);
    _cleanup_engine_ engine *e = open_ok();
    nc_error *err = NULL;
    assert_int_equal(engine_image_pull(e, "registry.example:5000/x/y:tag", 2000, NULL, NULL, &err),
                     -EIO);
    assert_string_equal(err->msg, "pull image 'registry.example:5000/x/y:tag': manifest for "
                                  "registry.example:5000/x/y:tag not found");
    nc_error_free(err);
    err = NULL;
    assert_int_equal(engine_image_pull(e, "registry.example:5000/x/y:tag", 2000, NULL, NULL, &err),
                     -ENOENT);
    assert_non_null(strstr(err->msg, "404 repository does not exist"));
    nc_error_free(err);
    expect_script_done();
}

static void test_pull_truncated(void **state)
{
    (void)state;
    const char *chunks[] = {"{\"status\":\"Pulling from x/y\",\"id\":\"tag\"}\n{\"status\":\"Dow"};
    const char *resp = fake_chunked(200, "application/json", chunks, 1, false);
    struct fake_exchange script[] = {
        {.method = "POST", .path = PULL_PATH, .response = resp, .hangup_after = (long)strlen(resp)},
    };
    start_fake(script, 1);
    _cleanup_engine_ engine *e = open_ok();
    nc_error *err = NULL;
    int r = engine_image_pull(e, "registry.example:5000/x/y:tag", 2000, NULL, NULL, &err);
    assert_true(r < 0);
    assert_non_null(strstr(err->msg, "pull image 'registry.example:5000/x/y:tag': "));
    assert_non_null(strstr(err->msg, "hung up mid-reply"));
    nc_error_free(err);
    expect_script_done();
}

/* --- agent.pull --- */

#define INSPECT_PATH V "/images/registry.example:5000/x/y:tag/json"
#define IMAGE_JSON "{\"Id\":\"sha256:1234\",\"Config\":{\"User\":\"\"},\"RepoTags\":[]}"

static void test_ensure_pulls_when_missing(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "GET",
         .path = INSPECT_PATH,
         .response = fake_json(404, "{\"message\":\"No such image\"}")},
        {.method = "POST",
         .path = PULL_PATH,
         .response = fake_chunked(200, "application/json", ok_chunks, 3, true)},
        {.method = "GET", .path = INSPECT_PATH, .response = fake_json(200, IMAGE_JSON)},
    };
    start_fake(script, 3);
    _cleanup_engine_ engine *e = open_ok();
    char **lines = NULL;
    engine_image img = {0};
    nc_error *err = NULL;
    if (agent_image_ensure(e, "registry.example:5000/x/y:tag", "missing", 2000, collect, &lines,
                           &img, &err) < 0)
        fail_msg("ensure: %s", nc_error_msg(err));
    assert_string_equal(img.id, "sha256:1234");
    assert_string_equal(lines[0],
                        "pulling image 'registry.example:5000/x/y:tag' (agent.pull = \"missing\")");
    engine_image_release(&img);
    strv_free(lines);
    expect_script_done();
}

/* "never" (the default) and bare names are never pulled: the error says how to get the image. */
static void test_ensure_never_pulls(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "GET",
         .path = INSPECT_PATH,
         .response = fake_json(404, "{\"message\":\"No such image\"}")},
        {.method = "GET",
         .path = V "/images/agent:1/json",
         .response = fake_json(404, "{\"message\":\"No such image\"}")},
    };
    start_fake(script, 2);
    _cleanup_engine_ engine *e = open_ok();
    engine_image img = {0};
    nc_error *err = NULL;
    assert_int_equal(agent_image_ensure(e, "registry.example:5000/x/y:tag", "never", 2000, NULL,
                                        NULL, &img, &err),
                     -ENOENT);
    assert_non_null(strstr(err->msg, "'docker pull registry.example:5000/x/y:tag'"));
    assert_non_null(strstr(err->msg, "agent.pull = \"missing\""));
    nc_error_free(err);
    err = NULL;
    assert_int_equal(agent_image_ensure(e, "agent:1", "missing", 2000, NULL, NULL, &img, &err),
                     -ENOENT);
    assert_non_null(strstr(err->msg, "image 'agent:1' is not on the engine: build it"));
    nc_error_free(err);
    expect_script_done();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_docker_host_beats_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_set_is_final, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_address_marked, setup, teardown),
        cmocka_unit_test(test_ref_split),
        cmocka_unit_test(test_ref_check),
        cmocka_unit_test(test_stream_parse),
        cmocka_unit_test_setup_teardown(test_pull_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_error_in_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ensure_pulls_when_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ensure_never_pulls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
