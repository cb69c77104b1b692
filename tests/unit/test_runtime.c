/* src/sandbox/runtime.c against the fake engine: sandbox.runtime = "auto" picks crun only when
 * the engine lists it and a trial container runs cleanly on it, caches the verdict per engine
 * (address, version, crun's path) in data_dir/runtime-cache, and trusts no cache that does not
 * parse or belongs to another engine version; a pinned runtime is used as is, and its failure
 * fails the turn. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/turn.h"
#include "sandbox/runtime.h"
#include "sandbox/verify.h"
#include "support/fake_engine.h"
#include "util/fileutil.h"
#include "util/json.h"
#include "util/xalloc.h"

#define V "/v1.41"
#define INFO_CRUN                                                                                  \
    "{\"Runtimes\":{\"crun\":{\"path\":\"/usr/bin/crun\"},\"runc\":{\"path\":\"runc\"}},"          \
    "\"DefaultRuntime\":\"runc\"}"
#define INFO_NO_CRUN "{\"Runtimes\":{\"runc\":{\"path\":\"runc\"}},\"DefaultRuntime\":\"runc\"}"
#define HYBRID "OCI runtime create failed: crun: cgroups in hybrid mode not supported"

static char *data_dir;
static char *cache_path;
static nc_config *cfg;

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/nanocell-runtime-XXXXXX";
    data_dir = xstrdup(mkdtemp(tmpl));
    cache_path = xasprintf("%s/%s", data_dir, SANDBOX_RUNTIME_CACHE);
    /* The fake's containers have no process here: the runtime check is waived. */
    _cleanup_free_ char *text = xasprintf("[install]\nid = \"rttest\"\ndata_dir = \"%s\"\n"
                                          "[sandbox]\nallow_unenforced = [\"runtime\"]\n",
                                          data_dir);
    nc_error *err = NULL;
    if (config_parse(text, strlen(text), "t.toml", &cfg, &err) < 0)
        fail_msg("config: %s", nc_error_msg(err));
    sandbox_runtime_forget();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s'", data_dir);
    assert_int_equal(system(rm), 0);
    free(data_dir);
    free(cache_path);
    config_free(cfg);
    fake_free_responses();
    sandbox_runtime_forget();
    return 0;
}

static sandbox_request request_for(engine *e)
{
    return (sandbox_request){.cfg = cfg,
                             .group = "default",
                             .engine = e,
                             .image = "nanocell-agent:latest",
                             .run_id = "run1",
                             .owner = "test/1"};
}

/* The inspect document a verified trial container has: the trial's create body as sent, its
 * HostConfig reported back, and the paths Docker masks and keeps read-only. */
static const char *trial_inspect(engine *e)
{
    sandbox_request req = request_for(e);
    char *cmd[] = {"/bin/cat", NULL};
    req.cmd = cmd;
    req.run_id = "run1-rt";
    req.runtime = "crun";
    _cleanup_prepared_ sandbox_prepared *p = NULL;
    nc_error *err = NULL;
    if (sandbox_prepare(&req, &p, &err) < 0)
        fail_msg("prepare: %s", nc_error_msg(err));
    _cleanup_strbuf_ strbuf create = STRBUF_INIT;
    assert_int_equal(sandbox_spec_json(&p->spec, &create, NULL), 0);
    const char *hc = strstr(create.buf, "\"HostConfig\":{");
    assert_non_null(hc);
    const char *open = hc + strlen("\"HostConfig\":{");
    size_t len = strlen(open) - 2; /* the HostConfig is the body's last member */
    _cleanup_strbuf_ strbuf paths = STRBUF_INIT;
    const char *const *lists[] = {sandbox_masked_paths, sandbox_readonly_paths};
    const char *names[] = {"MaskedPaths", "ReadonlyPaths"};
    for (size_t l = 0; l < 2; l++) {
        strbuf_addf(&paths, "\"%s\":[", names[l]);
        for (size_t i = 0; lists[l][i]; i++)
            strbuf_addf(&paths, "%s\"%s\"", i ? "," : "", lists[l][i]);
        strbuf_addstr(&paths, "],");
    }
    _cleanup_free_ char *doc =
        xasprintf("{\"Id\":\"t1\",\"Image\":\"sha256:feed\",\"State\":{\"Status\":\"created\"},"
                  "\"Config\":{\"User\":\"%s\"},\"HostConfig\":{%s%.*s},\"Mounts\":[]}",
                  cfg->sandbox.user, paths.buf, (int)len, open);
    return fake_json(200, doc);
}

/* The trial's exchanges, start answered by start_reply: a clean exit, or a refused start that
 * the launch cleans up. Returns how many were added to s at *n. */
static void add_trial(struct fake_exchange *s, size_t *n, const char *inspect,
                      const char *start_reply)
{
    bool started = strstr(start_reply, "204") != NULL;
    s[(*n)++] =
        (struct fake_exchange){.method = "POST",
                               .path = V "/containers/create?name=nanocell-default-run1-rt",
                               .body_contains = "\"Runtime\":\"crun\"",
                               .response = fake_json(201, "{\"Id\":\"t1\",\"Warnings\":[]}")};
    s[(*n)++] = (struct fake_exchange){
        .method = "GET", .path = V "/containers/t1/json", .response = inspect};
    s[(*n)++] = (struct fake_exchange){
        .method = "POST",
        .path = V "/containers/t1/attach?*",
        .response = fake_headers_only(101, "Content-Type: application/vnd.docker.multiplexed-"
                                           "stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"),
        .hijack = started,
        .stream = "",
        .hold_open = !started};
    s[(*n)++] = (struct fake_exchange){.method = "POST",
                                       .path = V "/containers/t1/wait?condition=next-exit",
                                       .response = fake_json(200, "{\"StatusCode\":0}")};
    s[(*n)++] = (struct fake_exchange){
        .method = "POST", .path = V "/containers/t1/start", .response = start_reply};
    if (started)
        s[(*n)++] = (struct fake_exchange){
            .method = "GET",
            .path = V "/containers/t1/json",
            .response =
                fake_json(200, "{\"State\":{\"Status\":\"running\",\"Running\":true,\"Pid\":0}}")};
    s[(*n)++] = (struct fake_exchange){.method = "DELETE",
                                       .path = V "/containers/t1?v=1&force=1",
                                       .response = fake_text(204, NULL, "")};
    s[(*n)++] = (struct fake_exchange){
        .method = "GET",
        .path = V "/containers/t1/json",
        .response = fake_json(404, "{\"message\":\"No such container: t1\"}")};
}

enum trial_kind { NO_TRIAL, TRIAL_OK, TRIAL_HYBRID };

/* Asks for the runtime on a fake engine whose /info says info, with the trial (if any) as
 * given; the fake checks that exactly these requests came. */
static void choose(const char *info, enum trial_kind kind, sandbox_runtime_choice *ret)
{
    /* A first engine, only to build the trial's inspect document with the negotiated API. */
    struct fake_engine_opts o = {.api_version = "1.41"};
    struct fake_exchange s[16];
    size_t n = 0;
    if (info) /* NULL: a verdict in memory is trusted, and the engine is not asked */
        s[n++] = (struct fake_exchange){
            .method = "GET", .path = V "/info", .response = fake_json(200, info)};
    struct fake_engine *fe = fake_engine_start(NULL, 0, &o);
    _cleanup_free_ char *host0 = xasprintf("unix://%s", fake_engine_socket(fe));
    engine_opts eo = {.host = host0, .host_source = "test", .request_timeout_ms = 5000};
    engine *e = NULL;
    nc_error *err = NULL;
    if (engine_open(&eo, NULL, &e, &err) < 0)
        fail_msg("engine_open: %s", nc_error_msg(err));
    if (kind != NO_TRIAL)
        add_trial(s, &n, trial_inspect(e),
                  kind == TRIAL_OK ? fake_text(204, NULL, "")
                                   : fake_json(500, "{\"message\":\"" HYBRID "\"}"));
    engine_free(e);
    fake_engine_free(fe);

    fe = fake_engine_start(s, n, &o);
    /* One address for every fake engine of a test, as for one real engine: a link to it. */
    _cleanup_free_ char *link = xasprintf("%s/engine.sock", data_dir);
    (void)unlink(link);
    assert_int_equal(symlink(fake_engine_socket(fe), link), 0);
    _cleanup_free_ char *host = xasprintf("unix://%s", link);
    eo.host = host;
    if (engine_open(&eo, NULL, &e, &err) < 0)
        fail_msg("engine_open: %s", nc_error_msg(err));
    sandbox_request req = request_for(e);
    if (sandbox_runtime_choose(e, &req, NULL, ret, &err) < 0)
        fail_msg("choose: %s", nc_error_msg(err));
    engine_free(e);
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("fake engine: %s", report);
    fake_engine_free(fe);
}

static char *read_cache(void)
{
    strbuf sb = STRBUF_INIT;
    if (read_file(cache_path, 65536, &sb, NULL) < 0)
        return NULL;
    return strbuf_detach(&sb, NULL);
}

/* crun listed, its trial runs cleanly: crun, cached on disk (0600) and in memory. */
static void test_listed_and_working(void **state)
{
    (void)state;
    sandbox_runtime_choice c;
    choose(INFO_CRUN, TRIAL_OK, &c);
    assert_string_equal(c.name, "crun");
    assert_true(c.from_auto);
    assert_false(c.cached);
    assert_non_null(strstr(c.why, "trial container ran cleanly"));
    sandbox_runtime_choice_release(&c);
    _cleanup_free_ char *text = read_cache();
    assert_non_null(text);
    assert_non_null(strstr(text, "\tunknown\t/usr/bin/crun\tok\t"));
    struct stat st;
    assert_int_equal(stat(cache_path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* Again: from memory, with no engine call at all (the verdict was confirmed by /info less
     * than a minute ago); then from the file alone, which /info confirms. */
    choose(NULL, NO_TRIAL, &c);
    assert_string_equal(c.name, "crun");
    assert_true(c.cached);
    assert_non_null(strstr(c.why, "; cached"));
    sandbox_runtime_choice_release(&c);
    sandbox_runtime_forget();
    choose(INFO_CRUN, NO_TRIAL, &c);
    assert_string_equal(c.name, "crun");
    assert_true(c.cached);
    sandbox_runtime_choice_release(&c);
}

/* crun listed, its start refused (the hybrid-cgroup trap): the engine's default, the failure
 * cached with its reason. */
static void test_listed_but_broken(void **state)
{
    (void)state;
    sandbox_runtime_choice c;
    choose(INFO_CRUN, TRIAL_HYBRID, &c);
    assert_string_equal(c.name, "");
    assert_true(c.from_auto);
    assert_non_null(strstr(c.why, "crun listed but its trial failed"));
    assert_non_null(strstr(c.why, "hybrid mode not supported"));
    sandbox_runtime_choice_release(&c);
    _cleanup_free_ char *text = read_cache();
    assert_non_null(text);
    assert_non_null(strstr(text, "\t/usr/bin/crun\tfailed\t"));
    sandbox_runtime_forget();
    choose(INFO_CRUN, NO_TRIAL, &c);
    assert_string_equal(c.name, "");
    assert_true(c.cached);
    assert_non_null(strstr(c.why, "hybrid mode not supported"));
    sandbox_runtime_choice_release(&c);
}

/* crun not listed: the default, no trial, nothing cached. */
static void test_not_listed(void **state)
{
    (void)state;
    sandbox_runtime_choice c;
    choose(INFO_NO_CRUN, NO_TRIAL, &c);
    assert_string_equal(c.name, "");
    assert_non_null(strstr(c.why, "not listed"));
    sandbox_runtime_choice_release(&c);
    assert_null(read_cache());
}

/* A verdict for another version of the engine, or another crun path, is not this one's. */
static void test_other_version_retried(void **state)
{
    (void)state;
    /* The fake's Server header is absent: its version is "unknown". */
    _cleanup_free_ char *old = NULL;
    sandbox_runtime_choice c;
    choose(INFO_CRUN, TRIAL_HYBRID, &c); /* caches "failed" for this engine */
    sandbox_runtime_choice_release(&c);
    old = read_cache();
    assert_non_null(old);
    /* Rewrite the entry as another version's: a new trial, which now succeeds. */
    char *tab = strstr(old, "\tunknown\t");
    assert_non_null(tab);
    _cleanup_free_ char *other =
        xasprintf("%.*s\t19.03.1\t%s", (int)(tab - old), old, tab + strlen("\tunknown\t"));
    assert_int_equal(write_file_atomic(cache_path, other, strlen(other), 0600, NULL), 0);
    sandbox_runtime_forget();
    choose(INFO_CRUN, TRIAL_OK, &c);
    assert_string_equal(c.name, "crun");
    assert_false(c.cached);
    sandbox_runtime_choice_release(&c);
}

/* A cache that does not parse is never trusted: a new trial, and the file is rewritten. */
static void test_malformed_cache(void **state)
{
    (void)state;
    const char *bad[] = {
        "garbage",
        "nanocell-runtime-cache 1\nunix:///x\tunknown\t/usr/bin/crun\tok\n", /* 4 fields */
        "nanocell-runtime-cache 1\nunix:///x\tunknown\t/usr/bin/crun\tmaybe\t\n",
        "nanocell-runtime-cache 1\nunix:///x\tunknown\t/usr/bin/crun\tok\t", /* no newline */
    };
    for (size_t i = 0; i < NC_ARRAY_SIZE(bad); i++) {
        assert_int_equal(write_file_atomic(cache_path, bad[i], strlen(bad[i]), 0600, NULL), 0);
        sandbox_runtime_forget();
        sandbox_runtime_choice c;
        choose(INFO_CRUN, TRIAL_OK, &c);
        assert_string_equal(c.name, "crun");
        assert_false(c.cached);
        sandbox_runtime_choice_release(&c);
        _cleanup_free_ char *text = read_cache();
        assert_non_null(strstr(text, "nanocell-runtime-cache 1\n"));
        assert_non_null(strstr(text, "\tok\t\n"));
    }
}

/* A pinned runtime is asked for as is, with no /info and no trial, and a container that fails
 * on it fails the turn: one create, no second try on another runtime. */
static void test_pinned_failure_is_an_error(void **state)
{
    (void)state;
    free(cfg->sandbox.runtime);
    cfg->sandbox.runtime = xstrdup("crun");
    struct fake_exchange script[] = {
        {.method = "GET",
         .path = V "/containers/json?all=1&filters=*",
         .response = fake_json(200, "[]")},
        {.method = "GET",
         .path = V "/images/nanocell-agent:latest/json",
         .response = fake_json(200, "{\"Id\":\"sha256:feed\",\"Config\":{\"User\":\"\"}}")},
        {.method = "POST",
         .path = V "/containers/create?name=*",
         .body_contains = "\"Runtime\":\"crun\"",
         .response = fake_json(500, "{\"message\":\"" HYBRID "\"}")},
    };
    struct fake_engine_opts o = {.api_version = "1.41"};
    struct fake_engine *fe = fake_engine_start(script, NC_ARRAY_SIZE(script), &o);
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    engine_opts eo = {.host = host, .host_source = "test", .request_timeout_ms = 5000};
    engine *e = NULL;
    nc_error *err = NULL;
    assert_int_equal(engine_open(&eo, NULL, &e, &err), 0);
    turn_request req = {.cfg = cfg, .e = e, .group = "default", .prompt = "p", .cancel_fd = -1};
    turn_result res;
    turn_run(&req, &res);
    assert_int_equal(res.status, TURN_ENGINE);
    assert_non_null(strstr(res.message, "hybrid mode not supported"));
    turn_result_release(&res);
    engine_free(e);
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("fake engine: %s", report);
    fake_engine_free(fe);
    assert_null(read_cache());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_listed_and_working, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listed_but_broken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_version_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pinned_failure_is_an_error, setup, teardown),
    };
    return cmocka_run_group_tests_name("runtime", tests, NULL, NULL);
}
