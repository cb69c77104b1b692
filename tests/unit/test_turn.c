/* src/agent/turn.c: the timeouts a request gets, the stderr line quoted when an agent exits
 * non-zero, and, against the fake engine, the mounts and environment of the container a turn
 * asks for. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/turn.h"
#include "sandbox/verify.h"
#include "support/fake_engine.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/units.h"
#include "util/xalloc.h"

static turn_timeouts timeouts_for(const nc_config *cfg, uint64_t timeout_ms, bool one_shot)
{
    turn_request req = {.cfg = cfg, .timeout_ms = timeout_ms, .close_when_idle = one_shot};
    return turn_compute_timeouts(&req);
}

/* NanoClaw's rule without --timeout: the hard timeout leaves the idle close 30 s to act. */
static void test_configured_timeouts(void **state)
{
    (void)state;
    _cleanup_config_ nc_config *cfg = config_defaults();
    turn_timeouts to = timeouts_for(cfg, 0, false);
    assert_int_equal(to.hard_ms, 1830000);
    assert_int_equal(to.idle_ms, 1800000);
    assert_int_equal(to.quiet_ms, 0); /* the quiet close is for one-shot turns only */
    to = timeouts_for(cfg, 0, true);
    assert_int_equal(to.quiet_ms, 10000);
    cfg->agent_timeout_ms = 3600000;
    assert_int_equal(timeouts_for(cfg, 0, true).hard_ms, 3600000);
    /* Whatever the values, the sum saturates instead of wrapping to a deadline in the past. */
    cfg->agent_idle_timeout_ms = UINT64_MAX - 1;
    assert_true(timeouts_for(cfg, 0, true).hard_ms == UINT64_MAX);
    assert_true(deadline_after(UINT64_MAX - 5, 10) == UINT64_MAX);
    assert_true(deadline_after(1000, DURATION_MAX_MS) == 1000 + DURATION_MAX_MS);
}

/* --timeout S is the hard timeout as given, and nothing brings the idle close forward: a turn
 * still at work runs until it ends or S pass with no result. */
static void test_explicit_timeout(void **state)
{
    (void)state;
    _cleanup_config_ nc_config *cfg = config_defaults();
    turn_timeouts to = timeouts_for(cfg, 60000, true);
    assert_int_equal(to.hard_ms, 60000);
    assert_int_equal(to.idle_ms, 1800000);
    /* "--timeout 60" says how long silence may last: no quiet close cuts the turn earlier. */
    assert_int_equal(to.quiet_ms, 0);
    to = timeouts_for(cfg, 5000, true);
    assert_int_equal(to.hard_ms, 5000);
    assert_int_equal(to.idle_ms, 1800000);
    to = timeouts_for(cfg, DURATION_MAX_MS, true);
    assert_true(to.hard_ms == DURATION_MAX_MS);
    /* A configured idle close shorter than the timeout is the user's own choice, kept. */
    cfg->agent_idle_timeout_ms = 2000;
    cfg->agent_quiet_close_ms = 0;
    to = timeouts_for(cfg, 60000, true);
    assert_int_equal(to.hard_ms, 60000);
    assert_int_equal(to.idle_ms, 2000);
    assert_int_equal(to.quiet_ms, 0);
}

/* tail is given with its length, so it may hold NUL bytes. want NULL: no line to quote. */
static void expect_line(const char *tail, size_t len, const char *want)
{
    _cleanup_free_ char *got = turn_stderr_line(tail, len);
    if (!want && got)
        fail_msg("stderr %zu bytes: got '%s', want no line", len, got);
    if (want && (!got || strcmp(got, want) != 0))
        fail_msg("stderr %zu bytes: got '%s', want '%s'", len, got ? got : "(none)", want);
}

#define LINE(tail, want) expect_line((tail), sizeof(tail) - 1, (want))

static void test_last_line(void **state)
{
    (void)state;
    /* The last line says why; the first is often a banner. */
    LINE("Starting agent...\nError: API key not set\n", "Error: API key not set");
    LINE("one\r\ntwo\r\n", "two");
    LINE("Traceback:\n  File \"x\"\nValueError: bad\n\n  \n\t\r\n", "ValueError: bad");
    LINE("  indented and no newline", "indented and no newline");
    LINE("only", "only");
    LINE("", NULL);
    LINE("\n \r\n\t\n", NULL);
    expect_line(NULL, 0, NULL);
}

/* Whatever the agent writes, the line cannot drive the user's terminal. */
static void test_controls_replaced(void **state)
{
    (void)state;
    LINE("x\x1b[31mred\x1b[0m\x07\n", "x?[31mred?[0m?");
    LINE("a\0b\177c\n", "a?b?c");
    LINE("50%\r100%\n", "50%?100%");
    LINE("tab\there\n", "tab?here");
    /* UTF-8 text stays; C1 controls (U+009B is CSI), invalid and cut sequences do not. */
    LINE("Fehler: ung\xc3\xbcltiger Schl\xc3\xbcssel \xe2\x9c\x97\n",
         "Fehler: ung\xc3\xbcltiger Schl\xc3\xbcssel \xe2\x9c\x97");
    LINE("c1 \302\2332J\n", "c1 ??2J");
    LINE("raw \2332J \xff \xc0\xaf end \xe2\x9c\n", "raw ?2J ? ?? end ??");
    LINE("surrogate \xed\xa0\x80\n", "surrogate ???");
}

/* --- the container a turn asks for, against the fake engine --- */

#define V "/v1.41"
/* sandbox.runtime = "auto" asks the engine for its runtimes; without crun, no trial. */
#define INFO_NO_CRUN "{\"Runtimes\":{\"runc\":{\"path\":\"runc\"}},\"DefaultRuntime\":\"runc\"}"

static char *data_dir;

static int setup_data(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/nanocell-turn-XXXXXX";
    data_dir = xstrdup(mkdtemp(tmpl));
    return 0;
}

static int teardown_data(void **state)
{
    (void)state;
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s'", data_dir);
    assert_int_equal(system(rm), 0);
    free(data_dir);
    fake_free_responses();
    return 0;
}

/* The next turn's request.proxy_socket (create_body_raw and turn_stdin). */
static const char *proxy_socket;

/* Runs a turn of group against the fake engine up to the create request, which the engine
 * refuses, and returns that request's body, parsed (and as text in *raw, when raw is set). */
static nc_json *create_body_raw(const char *config_text, const char *group, char **raw)
{
    struct fake_exchange script[] = {
        {.method = "GET",
         .path = V "/containers/json?all=1&filters=*",
         .response = fake_json(200, "[]")},
        {.method = "GET",
         .path = V "/images/nanocell-agent:latest/json",
         .response = fake_json(200, "{\"Id\":\"sha256:feed\",\"Config\":{\"User\":\"\"}}")},
        {.method = "GET", .path = V "/info", .response = fake_json(200, INFO_NO_CRUN)},
        {.method = "POST",
         .path = V "/containers/create?name=*",
         .response = fake_json(500, "{\"message\":\"refused by the test\"}")},
    };
    struct fake_engine_opts o = {.api_version = "1.41"};
    struct fake_engine *fe = fake_engine_start(script, NC_ARRAY_SIZE(script), &o);
    _cleanup_free_ char *text =
        xasprintf("[install]\nid = \"turntest\"\ndata_dir = \"%s\"\n%s", data_dir, config_text);
    nc_config *cfg = NULL;
    nc_error *err = NULL;
    if (config_parse(text, strlen(text), "t.toml", &cfg, &err) < 0)
        fail_msg("config: %s", nc_error_msg(err));
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    engine_opts eo = {.host = host, .host_source = "test", .request_timeout_ms = 5000};
    engine *e = NULL;
    if (engine_open(&eo, NULL, &e, &err) < 0)
        fail_msg("engine_open: %s", nc_error_msg(err));
    turn_request req = {.cfg = cfg,
                        .e = e,
                        .group = group,
                        .prompt = "probe",
                        .cancel_fd = -1,
                        .proxy_socket = proxy_socket};
    turn_result res;
    turn_run(&req, &res);
    if (res.status != TURN_ENGINE || !strstr(res.message, "refused by the test"))
        fail_msg("turn: status %d: %s", res.status, res.message ? res.message : "");
    turn_result_release(&res);
    engine_free(e);
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("fake engine: %s", report);
    size_t len = 0;
    const char *body = fake_engine_request_body(fe, 3, &len);
    assert_non_null(body);
    nc_json *root = NULL;
    assert_int_equal(json_parse(body, len, &root, NULL), 0);
    if (raw)
        *raw = xstrdup(body);
    fake_engine_free(fe);
    config_free(cfg);
    return root;
}

static nc_json *create_body(const char *config_text, const char *group)
{
    return create_body_raw(config_text, group, NULL);
}

/* The bind mount at target in a create body: its source, and whether it is read-only. */
static const char *bind_at(const nc_json *body, const char *target, bool *ro)
{
    const nc_json *mounts = json_get(json_get(body, "HostConfig"), "Mounts");
    for (size_t i = 0; i < json_array_len(mounts); i++) {
        const nc_json *m = json_array_at(mounts, i);
        const char *t = json_string(json_get(m, "Target"));
        if (t && strcmp(t, target) == 0) {
            assert_string_equal(json_string(json_get(m, "Type")), "bind");
            assert_true(json_bool(json_get(m, "ReadOnly"), ro));
            return json_string(json_get(m, "Source"));
        }
    }
    fail_msg("no mount at '%s'", target);
    return NULL;
}

static const char *env_value(const nc_json *body, const char *name)
{
    const nc_json *env = json_get(body, "Env");
    size_t n = strlen(name);
    for (size_t i = 0; i < json_array_len(env); i++) {
        const char *kv = json_string(json_array_at(env, i));
        if (kv && strncmp(kv, name, n) == 0 && kv[n] == '=')
            return kv + n + 1;
    }
    return NULL;
}

/* An ordinary group: its own state dir, global memory read-only, HOME a tmpfs that is not the
 * workspace. */
static void test_mounts_non_main(void **state)
{
    (void)state;
    _cleanup_json_ nc_json *body = create_body("", "default");
    bool ro = true;
    _cleanup_free_ char *ws = xasprintf("%s/groups/default/workspace", data_dir);
    _cleanup_free_ char *st = xasprintf("%s/groups/default/state", data_dir);
    _cleanup_free_ char *gl = xasprintf("%s/groups/global", data_dir);
    assert_string_equal(bind_at(body, "/workspace/group", &ro), ws);
    assert_false(ro);
    assert_string_equal(bind_at(body, "/home/agent/.claude", &ro), st);
    assert_false(ro);
    assert_string_equal(bind_at(body, "/workspace/global", &ro), gl);
    assert_true(ro);
    const char *home = env_value(body, "HOME");
    assert_non_null(home);
    assert_string_equal(home, "/home/agent");
    assert_false(strncmp(home, "/workspace", 10) == 0);
    const char *topts =
        json_string(json_get(json_get(json_get(body, "HostConfig"), "Tmpfs"), home));
    assert_non_null(topts);
    assert_non_null(strstr(topts, "noexec"));
    assert_non_null(strstr(topts, "nosuid"));
    /* The host side: made, and the state dir is not in the workspace. */
    struct stat sb;
    assert_int_equal(stat(st, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(stat(gl, &sb), 0);
}

/* The main group writes global memory; a configured state dir and HOME are used as given. */
static void test_mounts_main(void **state)
{
    (void)state;
    _cleanup_json_ nc_json *body =
        create_body("[agent]\nhome = \"/home/node\"\nstate_dir = \"/home/node/.claude\"\n"
                    "[[group]]\nname = \"boss\"\nmain = true\n",
                    "boss");
    bool ro = true;
    _cleanup_free_ char *st = xasprintf("%s/groups/boss/state", data_dir);
    assert_string_equal(bind_at(body, "/home/node/.claude", &ro), st);
    assert_false(ro);
    bind_at(body, "/workspace/global", &ro);
    assert_false(ro);
    assert_string_equal(env_value(body, "HOME"), "/home/node");
    assert_non_null(json_get(json_get(json_get(body, "HostConfig"), "Tmpfs"), "/home/node"));
}

/* The inspect document of a container created with create (the body as sent, and parsed): the
 * same HostConfig and the binds as an engine reports them, so the launch verifies it. */
static char *inspect_of(const char *create, const nc_json *body)
{
    const char *hc = strstr(create, "\"HostConfig\":");
    assert_non_null(hc);
    size_t hclen = strlen(hc) - 1; /* the HostConfig is the body's last member */
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_arr_open(g);
    const nc_json *mounts = json_get(json_get(body, "HostConfig"), "Mounts");
    for (size_t i = 0; i < json_array_len(mounts); i++) {
        const nc_json *m = json_array_at(mounts, i);
        bool ro = false;
        json_bool(json_get(m, "ReadOnly"), &ro);
        jgen_obj_open(g);
        jgen_kv_str(g, "Type", "bind");
        jgen_kv_str(g, "Source", json_string(json_get(m, "Source")));
        jgen_kv_str(g, "Destination", json_string(json_get(m, "Target")));
        jgen_kv_bool(g, "RW", !ro);
        jgen_kv_str(g, "Propagation", "rprivate");
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    _cleanup_strbuf_ strbuf list = STRBUF_INIT;
    assert_int_equal(jgen_finish(g, &list, NULL), 0);
    /* Docker reports the paths its defaults mask and keep read-only; the inspect check wants
     * them. They go first in the HostConfig. */
    strbuf paths = STRBUF_INIT;
    const char *const *lists[] = {sandbox_masked_paths, sandbox_readonly_paths};
    const char *names[] = {"MaskedPaths", "ReadonlyPaths"};
    for (size_t l = 0; l < 2; l++) {
        strbuf_addf(&paths, "\"%s\":[", names[l]);
        for (size_t i = 0; lists[l][i]; i++)
            strbuf_addf(&paths, "%s\"%s\"", i ? "," : "", lists[l][i]);
        strbuf_addstr(&paths, "],");
    }
    const char *open = strlen("\"HostConfig\":{") + hc;
    char *r =
        xasprintf("{\"Id\":\"abc\",\"Image\":\"sha256:feed\",\"State\":{\"Status\":\"created\"},"
                  "\"Config\":{\"User\":\"%s\"},\"HostConfig\":{%s%.*s,\"Mounts\":%s}",
                  json_string(json_get(body, "User")), paths.buf,
                  (int)(hclen - (size_t)(open - hc)), open, list.buf);
    strbuf_release(&paths);
    return r;
}

/* The warnings the next turn_stdin's turn gave. */
static strbuf warnings = STRBUF_INIT;

static void on_warning(const char *msg, void *userdata)
{
    (void)userdata;
    strbuf_addf(&warnings, "%s\n", msg);
}

/* A whole turn on the fake engine, with the container's process out of reach (the runtime
 * check waived): returns the agent's stdin, parsed. chat_jid is the request's. */
static nc_json *turn_stdin(const char *group, const char *chat_jid)
{
    const char *config_text = "[sandbox]\nallow_unenforced = [\"runtime\"]\n";
    _cleanup_free_ char *create = NULL;
    _cleanup_json_ nc_json *body = create_body_raw(config_text, group, &create);
    _cleanup_free_ char *inspect = inspect_of(create, body);
    const char *out = "---NANOCLAW_OUTPUT_START---\n{\"status\":\"success\",\"result\":\"hi\"}\n"
                      "---NANOCLAW_OUTPUT_END---\n";
    size_t stream_len = 0;
    const char *stream = fake_frame(1, out, strlen(out), &stream_len);
    struct fake_exchange script[] = {
        {.method = "GET",
         .path = V "/containers/json?all=1&filters=*",
         .response = fake_json(200, "[]")},
        {.method = "GET",
         .path = V "/images/nanocell-agent:latest/json",
         .response = fake_json(200, "{\"Id\":\"sha256:feed\",\"Config\":{\"User\":\"\"}}")},
        {.method = "GET", .path = V "/info", .response = fake_json(200, INFO_NO_CRUN)},
        {.method = "POST",
         .path = V "/containers/create?name=*",
         .response = fake_json(201, "{\"Id\":\"abc\",\"Warnings\":[]}")},
        {.method = "GET", .path = V "/containers/abc/json", .response = fake_json(200, inspect)},
        {.method = "POST",
         .path = V "/containers/abc/attach?*",
         .response = fake_headers_only(101, "Content-Type: application/vnd.docker.multiplexed-"
                                            "stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"),
         .hijack = true,
         .stream = stream,
         .stream_len = stream_len},
        {.method = "POST",
         .path = V "/containers/abc/wait?condition=next-exit",
         .response = fake_json(200, "{\"StatusCode\":0}")},
        {.method = "POST", .path = V "/containers/abc/start", .response = fake_text(204, NULL, "")},
        {.method = "GET",
         .path = V "/containers/abc/json",
         .response =
             fake_json(200, "{\"State\":{\"Status\":\"running\",\"Running\":true,\"Pid\":0}}")},
        {.method = "GET",
         .path = V "/containers/abc/json",
         .response = fake_json(
             200, "{\"State\":{\"Status\":\"exited\",\"Running\":false,\"ExitCode\":0}}")},
        {.method = "DELETE",
         .path = V "/containers/abc?v=1&force=1",
         .response = fake_text(204, NULL, "")},
        {.method = "GET",
         .path = V "/containers/abc/json",
         .response = fake_json(404, "{\"message\":\"No such container: abc\"}")},
    };
    struct fake_engine_opts o = {.api_version = "1.41"};
    struct fake_engine *fe = fake_engine_start(script, NC_ARRAY_SIZE(script), &o);
    _cleanup_free_ char *text =
        xasprintf("[install]\nid = \"turntest\"\ndata_dir = \"%s\"\n%s", data_dir, config_text);
    nc_config *cfg = NULL;
    nc_error *err = NULL;
    assert_int_equal(config_parse(text, strlen(text), "t.toml", &cfg, &err), 0);
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    engine_opts eo = {.host = host, .host_source = "test", .request_timeout_ms = 5000};
    engine *e = NULL;
    assert_int_equal(engine_open(&eo, NULL, &e, &err), 0);
    turn_request req = {.cfg = cfg,
                        .e = e,
                        .group = group,
                        .chat_jid = chat_jid,
                        .prompt = "echo hi",
                        .cancel_fd = -1,
                        .proxy_socket = proxy_socket,
                        .cb = {.on_warning = on_warning}};
    strbuf_reset(&warnings);
    turn_result res;
    turn_run(&req, &res);
    if (res.status != TURN_OK || res.results != 1)
        fail_msg("turn: status %d, %llu results: %s", res.status, (unsigned long long)res.results,
                 res.message ? res.message : "");
    turn_result_release(&res);
    engine_free(e);
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("fake engine: %s", report);
    size_t len = 0;
    const char *in = fake_engine_stdin(fe, 5, &len);
    assert_non_null(in);
    nc_json *root = NULL;
    assert_int_equal(json_parse(in, len, &root, NULL), 0);
    fake_engine_free(fe);
    config_free(cfg);
    return root;
}

/* The payload names the chat: the request's, else the local API's chat of the group. */
static void test_payload_chat_jid(void **state)
{
    (void)state;
    _cleanup_json_ nc_json *in = turn_stdin("g1", NULL);
    assert_string_equal(json_string(json_get(in, "chatJid")), "local:g1");
    assert_string_equal(json_string(json_get(in, "groupFolder")), "g1");
    assert_string_equal(json_string(json_get(in, "assistantName")), "Andy");
    assert_string_equal(json_string(json_get(in, "prompt")), "echo hi");
    bool is_main = true;
    assert_true(json_bool(json_get(in, "isMain"), &is_main));
    assert_false(is_main);
    _cleanup_json_ nc_json *tg = turn_stdin("g1", "tg:42");
    assert_string_equal(json_string(json_get(tg, "chatJid")), "tg:42");
}

/* With a proxy socket the turn opens the loopback listeners once the container runs; here the
 * fake engine's container has no process (Pid 0), so it says it could not, and the turn goes
 * on: agents that use the socket itself still reach the proxy. */
static void test_proxy_listener(void **state)
{
    (void)state;
    _cleanup_json_ nc_json *plain = turn_stdin("g1", NULL);
    assert_null(strstr(strbuf_str(&warnings), "loopback"));
    /* The turn bind-mounts the socket, so it must exist (nothing listens: the fake container
     * has no process to give it to). */
    _cleanup_free_ char *sock = xasprintf("%s/proxy.sock", data_dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    proxy_socket = sock;
    _cleanup_json_ nc_json *in = turn_stdin("g1", NULL);
    proxy_socket = NULL;
    close(fd);
    assert_non_null(strstr(strbuf_str(&warnings),
                           "no loopback listener for agents that speak TCP to the proxy: no "
                           "process id for the container"));
    strbuf_release(&warnings);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configured_timeouts),
        cmocka_unit_test(test_explicit_timeout),
        cmocka_unit_test(test_last_line),
        cmocka_unit_test(test_controls_replaced),
        cmocka_unit_test_setup_teardown(test_mounts_non_main, setup_data, teardown_data),
        cmocka_unit_test_setup_teardown(test_mounts_main, setup_data, teardown_data),
        cmocka_unit_test_setup_teardown(test_payload_chat_jid, setup_data, teardown_data),
        cmocka_unit_test_setup_teardown(test_proxy_listener, setup_data, teardown_data),
    };
    return cmocka_run_group_tests_name("turn", tests, NULL, NULL);
}
