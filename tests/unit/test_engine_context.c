/* Docker contexts and tcp engines without an engine: where a context is read from and where it
 * stands in the discovery order, meta.json parsing (also of hostile files), tcp addresses, and
 * which TLS settings a tcp engine gets, or why it is refused. Every context lives in a
 * temporary DOCKER_CONFIG made here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/context.h"
#include "engine/endpoint.h"
#include "util/fileutil.h"
#include "util/sha256.h"
#include "util/xalloc.h"

static char tmp[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmp, "/tmp/nc-ctx-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    setenv("DOCKER_CONFIG", tmp, 1);
    unsetenv("DOCKER_CONTEXT");
    unsetenv("DOCKER_HOST");
    unsetenv("CONTAINER_HOST");
    unsetenv("DOCKER_TLS_VERIFY");
    unsetenv("DOCKER_TLS");
    unsetenv("DOCKER_CERT_PATH");
    unsetenv("XDG_RUNTIME_DIR");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = xasprintf("rm -rf '%s'", tmp);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    return 0;
}

static void put(const char *rel, const char *text)
{
    char *path = xasprintf("%s/%s", tmp, rel);
    char *dir = xstrdup(path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(mkdir_p(dir, 0700, NULL), 0);
    assert_int_equal(write_file_atomic(path, text, strlen(text), 0600, NULL), 0);
    free(dir);
    free(path);
}

static char *hash_of(const char *name)
{
    char hex[SHA256_HEX_SIZE];
    sha256_hex(name, strlen(name), hex);
    return xstrdup(hex);
}

/* A context called name whose Docker endpoint is host; with TLS files when tls. */
static void make_context(const char *name, const char *host, bool skip, bool tls)
{
    char *h = hash_of(name);
    char *rel = xasprintf("contexts/meta/%s/meta.json", h);
    char *meta = xasprintf("{\"Name\":\"%s\",\"Metadata\":{\"Description\":\"x\"},"
                           "\"Endpoints\":{\"docker\":{\"Host\":\"%s\",\"SkipTLSVerify\":%s}}}",
                           name, host, skip ? "true" : "false");
    put(rel, meta);
    if (tls) {
        char *f;
        f = xasprintf("contexts/tls/%s/docker/ca.pem", h);
        put(f, "ca");
        free(f);
        f = xasprintf("contexts/tls/%s/docker/cert.pem", h);
        put(f, "cert");
        free(f);
        f = xasprintf("contexts/tls/%s/docker/key.pem", h);
        put(f, "key");
        free(f);
    }
    free(meta);
    free(rel);
    free(h);
}

static void test_hash_dir(void **state)
{
    (void)state;
    /* The directory name Docker's CLI uses (reference §7). */
    char *h = hash_of("desktop-linux");
    assert_string_equal(h, "fe9c6bd7a66301f49ca9b6a70b217107cd1284598bfc254700c989b916da791e");
    free(h);
}

static void test_current_context(void **state)
{
    (void)state;
    char *name = NULL, *source = NULL;
    nc_error *err = NULL;
    /* No config.json: no context. */
    assert_int_equal(docker_context_current(tmp, &name, &source, &err), 0);
    put("config.json", "{\"auths\":{}}");
    assert_int_equal(docker_context_current(tmp, &name, &source, &err), 0);
    put("config.json", "{\"currentContext\":\"default\"}");
    assert_int_equal(docker_context_current(tmp, &name, &source, &err), 0);
    put("config.json", "{\"currentContext\":\"desk\"}");
    assert_int_equal(docker_context_current(tmp, &name, &source, &err), 1);
    assert_string_equal(name, "desk");
    assert_non_null(strstr(source, "currentContext in "));
    free(name);
    free(source);
    /* DOCKER_CONTEXT wins over the file; "default" there means none, file or not. */
    setenv("DOCKER_CONTEXT", "other", 1);
    assert_int_equal(docker_context_current(tmp, &name, &source, &err), 1);
    assert_string_equal(name, "other");
    assert_string_equal(source, "DOCKER_CONTEXT");
    free(name);
    free(source);
    setenv("DOCKER_CONTEXT", "default", 1);
    assert_int_equal(docker_context_current(tmp, &name, &source, &err), 0);
    unsetenv("DOCKER_CONTEXT");
    /* A config.json that cannot be read as one is an error, not silence. */
    put("config.json", "[1]");
    assert_int_equal(docker_context_current(tmp, &name, &source, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "not a JSON object"));
    nc_error_free(TAKE_PTR(err));
    put("config.json", "{\"currentContext\":7}");
    assert_int_equal(docker_context_current(tmp, &name, &source, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "not a string"));
    nc_error_free(TAKE_PTR(err));
}

static void expect_meta(const char *text, const char *want_msg)
{
    docker_context c = {0};
    nc_error *err = NULL;
    int r = docker_context_parse_meta(text, strlen(text), "n", &c, &err);
    if (!want_msg) {
        assert_int_equal(r, 0);
        docker_context_release(&c);
        return;
    }
    assert_int_equal(r, -EINVAL);
    if (!strstr(err->msg, want_msg))
        fail_msg("meta '%s': got '%s', want '%s'", text, err->msg, want_msg);
    assert_null(c.host);
    nc_error_free(err);
}

static void test_meta_parse(void **state)
{
    (void)state;
    expect_meta("{\"Name\":\"n\",\"Endpoints\":{\"docker\":{\"Host\":\"unix:///s\"}}}", NULL);
    expect_meta("{\"Name\":\"n\",\"Endpoints\":{\"docker\":{\"Host\":\"tcp://h:1\","
                "\"SkipTLSVerify\":null}}}",
                NULL);
    expect_meta("", "not a JSON object");
    expect_meta("{", "not a JSON object");
    expect_meta("[]", "not a JSON object");
    expect_meta("\"n\"", "not a JSON object");
    expect_meta("{\"Name\":\"m\",\"Endpoints\":{\"docker\":{\"Host\":\"unix:///s\"}}}",
                "another context");
    expect_meta("{\"Name\":1}", "another context");
    expect_meta("{\"Name\":\"n\"}", "no Docker endpoint");
    expect_meta("{\"Name\":\"n\",\"Endpoints\":[]}", "no Docker endpoint");
    expect_meta("{\"Name\":\"n\",\"Endpoints\":{\"kubernetes\":{}}}", "no Docker endpoint");
    expect_meta("{\"Name\":\"n\",\"Endpoints\":{\"docker\":\"unix:///s\"}}", "no Docker endpoint");
    expect_meta("{\"Name\":\"n\",\"Endpoints\":{\"docker\":{}}}", "has no Host");
    expect_meta("{\"Name\":\"n\",\"Endpoints\":{\"docker\":{\"Host\":\"\"}}}", "has no Host");
    expect_meta("{\"Name\":\"n\",\"Endpoints\":{\"docker\":{\"Host\":[\"x\"]}}}", "has no Host");
    expect_meta("{\"Name\":\"n\",\"Endpoints\":{\"docker\":{\"Host\":\"unix:///s\","
                "\"SkipTLSVerify\":\"yes\"}}}",
                "not a boolean");
    /* Cut at every length: an error or a context, never a crash or a leak. */
    const char *full = "{\"Name\":\"n\",\"Endpoints\":{\"docker\":{\"Host\":\"unix:///s\","
                       "\"SkipTLSVerify\":true}}}";
    for (size_t i = 0; i < strlen(full); i++) {
        docker_context c = {0};
        nc_error *err = NULL;
        if (docker_context_parse_meta(full, i, "n", &c, &err) == 0)
            docker_context_release(&c);
        nc_error_free(err);
    }
}

static size_t find(const endpoint_candidate *c, size_t n, const char *source_part)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(c[i].source, source_part))
            return i;
    fail_msg("no candidate from '%s'", source_part);
    return 0;
}

static void test_candidates_order(void **state)
{
    (void)state;
    make_context("desk", "unix:///desk.sock", false, false);
    make_context("env", "tcp://127.0.0.1:2376", false, true);
    put("config.json", "{\"currentContext\":\"desk\"}");
    endpoint_candidate *c;
    size_t n = endpoint_candidates(NULL, NULL, "unix:///cfg.sock", &c);
    /* nanocell's own config comes before Docker's currentContext, both before the defaults. */
    assert_int_equal(n, 4);
    assert_string_equal(c[0].uri, "unix:///cfg.sock");
    assert_string_equal(c[1].uri, "unix:///desk.sock");
    assert_string_equal(c[1].context, "desk");
    assert_true(c[1].user_set);
    assert_null(c[1].error);
    assert_null(c[1].tls_dir);
    assert_non_null(strstr(c[1].source, "Docker context 'desk' from currentContext in"));
    endpoint_candidates_free(c, n);

    /* DOCKER_CONTEXT comes before engine.host (the environment before the config), after
     * DOCKER_HOST. */
    setenv("DOCKER_CONTEXT", "env", 1);
    setenv("DOCKER_HOST", "unix:///d.sock", 1);
    n = endpoint_candidates(NULL, NULL, "unix:///cfg.sock", &c);
    assert_int_equal(n, 5);
    assert_string_equal(c[0].source, "DOCKER_HOST");
    size_t k = find(c, n, "DOCKER_CONTEXT");
    assert_int_equal(k, 1);
    assert_string_equal(c[1].uri, "tcp://127.0.0.1:2376");
    assert_non_null(c[1].tls_dir);
    assert_false(c[1].skip_tls_verify);
    assert_string_equal(c[2].uri, "unix:///cfg.sock");
    endpoint_candidates_free(c, n);
    unsetenv("DOCKER_HOST");

    /* A context that does not exist is a candidate that fails, final: no falling back. */
    setenv("DOCKER_CONTEXT", "gone", 1);
    n = endpoint_candidates(NULL, NULL, NULL, &c);
    assert_int_equal(n, 3);
    assert_true(c[0].user_set);
    assert_non_null(c[0].error);
    assert_non_null(strstr(c[0].error, "Docker context 'gone' does not exist"));
    endpoint_candidates_free(c, n);
    unsetenv("DOCKER_CONTEXT");

    /* An unreadable config.json as well. */
    put("config.json", "{\"currentContext\":");
    n = endpoint_candidates(NULL, NULL, NULL, &c);
    assert_int_equal(n, 3);
    assert_non_null(c[0].error);
    assert_true(c[0].user_set);
    endpoint_candidates_free(c, n);
}

static void expect_tcp(const char *uri, const char *host, int port, const char *norm)
{
    engine_endpoint ep = {0};
    nc_error *err = NULL;
    if (endpoint_parse(uri, "t", &ep, &err) < 0)
        fail_msg("'%s': %s", uri, err->msg);
    assert_null(ep.socket_path);
    assert_string_equal(ep.tcp_host, host);
    assert_int_equal(ep.tcp_port, port);
    assert_string_equal(ep.uri, norm);
    endpoint_release(&ep);
}

static void expect_bad(const char *uri, int code, const char *want)
{
    engine_endpoint ep = {0};
    nc_error *err = NULL;
    assert_int_equal(endpoint_parse(uri, "t", &ep, &err), -code);
    if (!strstr(err->msg, want))
        fail_msg("'%s': got '%s', want '%s'", uri, err->msg, want);
    nc_error_free(err);
}

static void test_tcp_parse(void **state)
{
    (void)state;
    expect_tcp("tcp://127.0.0.1:2376", "127.0.0.1", 2376, "tcp://127.0.0.1:2376");
    expect_tcp("tcp://engine.example:1/", "engine.example", 1, "tcp://engine.example:1");
    expect_tcp("tcp://h", "h", 0, "tcp://h");
    expect_tcp("tcp://[::1]:2376", "::1", 2376, "tcp://[::1]:2376");
    expect_bad("tcp://", EINVAL, "needs a host");
    expect_bad("tcp://:2376", EINVAL, "needs a host");
    expect_bad("tcp://h:0", EINVAL, "out of range");
    expect_bad("tcp://h:65536", EINVAL, "out of range");
    expect_bad("tcp://h:x", EINVAL, "invalid port");
    expect_bad("tcp://h:", EINVAL, "invalid port");
    expect_bad("tcp://h h:1", EINVAL, "invalid host");
    expect_bad("tcp://u@h:1", EINVAL, "invalid host");
    expect_bad("tcp://[::1", EINVAL, "unclosed");
    expect_bad("tcp://[zz]:1", EINVAL, "IPv6");
    expect_bad("tcp://[::1]x", EINVAL, "junk");
    expect_bad("tcp://h:1/base", EPROTONOSUPPORT, "base path");
    expect_bad("ssh://u@h", EPROTONOSUPPORT, "ssh -N -L");
}

static void test_is_local(void **state)
{
    (void)state;
    const char *local[] = {"unix:///s", "tcp://127.0.0.1:1", "tcp://127.1.2.3:1", "tcp://[::1]:1",
                           "tcp://localhost:1"};
    const char *remote[] = {"tcp://10.0.0.1:1", "tcp://engine.example:1", "tcp://[fe80::1]:1",
                            "tcp://127example.com:1", "tcp://127.0.0.1.example:1"};
    for (size_t i = 0; i < 5 + 5; i++) {
        const char *u = i < 5 ? local[i] : remote[i - 5];
        engine_endpoint ep = {0};
        assert_int_equal(endpoint_parse(u, "t", &ep, NULL), 0);
        if (endpoint_is_local(&ep) != (i < 5))
            fail_msg("'%s' local: want %d", u, i < 5);
        endpoint_release(&ep);
    }
}

static int tls_for(const char *uri, const char *context, const endpoint_tls_config *cfg,
                   const char *tls_dir, bool skip, engine_endpoint *ep, nc_error **err)
{
    *ep = (engine_endpoint){0};
    assert_int_equal(endpoint_parse(uri, "t", ep, NULL), 0);
    if (context)
        ep->context = xstrdup(context);
    int r = endpoint_setup_tls(ep, cfg, tls_dir, skip, err);
    if (r < 0)
        endpoint_release(ep);
    return r;
}

static void test_tls_settings(void **state)
{
    (void)state;
    engine_endpoint ep;
    nc_error *err = NULL;
    endpoint_tls_config none = {0}, insecure = {.allow_insecure = true};

    /* A unix socket needs nothing. */
    assert_int_equal(tls_for("unix:///s", NULL, &none, NULL, false, &ep, &err), 0);
    assert_false(ep.tls.enabled);
    endpoint_release(&ep);

    /* Plain tcp is refused, and says why; allowed only when the config says so. */
    assert_int_equal(tls_for("tcp://h", NULL, &none, NULL, false, &ep, &err), -EPERM);
    assert_non_null(strstr(err->msg, "root on its host"));
    assert_non_null(strstr(err->msg, "engine.allow_insecure_tcp"));
    nc_error_free(TAKE_PTR(err));
    assert_int_equal(tls_for("tcp://h", NULL, &insecure, NULL, false, &ep, &err), 0);
    assert_false(ep.tls.enabled);
    assert_string_equal(ep.uri, "tcp://h:2375");
    endpoint_release(&ep);

    /* The config's files: verified TLS, port 2376 by default. */
    put("pki/ca.pem", "c");
    put("pki/cert.pem", "c");
    put("pki/key.pem", "k");
    char *ca = xasprintf("%s/pki/ca.pem", tmp), *cert = xasprintf("%s/pki/cert.pem", tmp),
         *key = xasprintf("%s/pki/key.pem", tmp), *dir = xasprintf("%s/pki", tmp);
    endpoint_tls_config cfg = {.ca = ca, .cert = cert, .key = key, .server_name = "engine"};
    assert_int_equal(tls_for("tcp://h", NULL, &cfg, NULL, false, &ep, &err), 0);
    assert_true(ep.tls.enabled && ep.tls.verify);
    assert_string_equal(ep.tls.ca, ca);
    assert_string_equal(ep.tls.key, key);
    assert_string_equal(ep.tls.server_name, "engine");
    assert_string_equal(ep.uri, "tcp://h:2376");
    {
        engine_endpoint copy;
        endpoint_copy(&copy, &ep);
        assert_string_equal(copy.tls.cert, cert);
        assert_int_equal(copy.tcp_port, 2376);
        endpoint_release(&copy);
    }
    endpoint_release(&ep);

    /* A certificate without its key, and a file that is not there. */
    endpoint_tls_config half = {.ca = ca, .cert = cert};
    assert_int_equal(tls_for("tcp://h:1", NULL, &half, NULL, false, &ep, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "needs its key"));
    nc_error_free(TAKE_PTR(err));
    endpoint_tls_config missing = {.ca = "/nonexistent/ca.pem"};
    assert_int_equal(tls_for("tcp://h:1", NULL, &missing, NULL, false, &ep, &err), -ENOENT);
    assert_non_null(strstr(err->msg, "/nonexistent/ca.pem"));
    nc_error_free(TAKE_PTR(err));

    /* Docker's variables: DOCKER_TLS_VERIFY (any value) verifies, with DOCKER_CERT_PATH. */
    setenv("DOCKER_TLS_VERIFY", "0", 1);
    setenv("DOCKER_CERT_PATH", dir, 1);
    assert_int_equal(tls_for("tcp://h:1", NULL, &none, NULL, false, &ep, &err), 0);
    assert_true(ep.tls.enabled && ep.tls.verify);
    assert_string_equal(ep.tls.cert, cert);
    endpoint_release(&ep);
    /* The config's keys come first. */
    endpoint_tls_config only_ca = {.ca = ca};
    assert_int_equal(tls_for("tcp://h:1", NULL, &only_ca, NULL, false, &ep, &err), 0);
    assert_null(ep.tls.cert);
    endpoint_release(&ep);
    /* DOCKER_CERT_PATH alone is TLS without verification, as in Docker's Go client: refused
     * unless allowed. */
    unsetenv("DOCKER_TLS_VERIFY");
    assert_int_equal(tls_for("tcp://h:1", NULL, &none, NULL, false, &ep, &err), -EPERM);
    assert_non_null(strstr(err->msg, "without verifying"));
    nc_error_free(TAKE_PTR(err));
    assert_int_equal(tls_for("tcp://h:1", NULL, &insecure, NULL, false, &ep, &err), 0);
    assert_true(ep.tls.enabled);
    assert_false(ep.tls.verify);
    endpoint_release(&ep);
    unsetenv("DOCKER_CERT_PATH");

    /* A context brings its own files and ignores the config's. */
    assert_int_equal(tls_for("tcp://h:1", "c", &cfg, dir, false, &ep, &err), 0);
    assert_true(ep.tls.enabled && ep.tls.verify);
    assert_null(ep.tls.server_name);
    assert_string_equal(ep.tls.ca, ca);
    endpoint_release(&ep);
    /* SkipTLSVerify is refused unless allowed; a context without TLS files is plain tcp. */
    assert_int_equal(tls_for("tcp://h:1", "c", &none, dir, true, &ep, &err), -EPERM);
    nc_error_free(TAKE_PTR(err));
    assert_int_equal(tls_for("tcp://h:1", "c", &cfg, NULL, false, &ep, &err), -EPERM);
    assert_non_null(strstr(err->msg, "plain tcp"));
    nc_error_free(TAKE_PTR(err));
    free(ca);
    free(cert);
    free(key);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_dir),
        cmocka_unit_test_setup_teardown(test_current_context, setup, teardown),
        cmocka_unit_test(test_meta_parse),
        cmocka_unit_test_setup_teardown(test_candidates_order, setup, teardown),
        cmocka_unit_test(test_tcp_parse),
        cmocka_unit_test(test_is_local),
        cmocka_unit_test_setup_teardown(test_tls_settings, setup, teardown),
    };
    return cmocka_run_group_tests_name("engine-context", tests, NULL, NULL);
}
