/* The engine client against a real engine (dockerd or Podman), named by NANOCELL_TEST_SOCKET
 * and NANOCELL_TEST_ENGINE ("docker" or "podman"). tests/run.sh brings both engines up and
 * builds the nanocell-test image (busybox, FROM scratch) before running this. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/attach.h"
#include "engine/container.h"
#include "engine/demux.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "engine/wait.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define TEST_IMAGE "nanocell-test:latest"

static const char *sock;
static const char *engine_name;
static char test_label[64];

static engine *open_engine(void)
{
    _cleanup_free_ char *host = xasprintf("unix://%s", sock);
    engine_opts o = {.host = host, .host_source = "test"};
    engine *e = NULL;
    nc_error *err = NULL;
    if (engine_open(&o, NULL, &e, &err) < 0)
        fail_msg("engine_open: %s", nc_error_msg(err));
    return e;
}

/* A create body: busybox running `sh -c script`, stdin open once, our test label. */
static char *create_body(const char *script)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "Image", TEST_IMAGE);
    jgen_key(g, "Cmd");
    jgen_arr_open(g);
    jgen_str(g, "/bin/sh");
    jgen_str(g, "-c");
    jgen_str(g, script);
    jgen_arr_close(g);
    jgen_kv_bool(g, "OpenStdin", true);
    jgen_kv_bool(g, "StdinOnce", true);
    jgen_kv_bool(g, "AttachStdin", true);
    jgen_kv_bool(g, "AttachStdout", true);
    jgen_kv_bool(g, "AttachStderr", true);
    jgen_kv_bool(g, "Tty", false);
    jgen_key(g, "Labels");
    jgen_obj_open(g);
    jgen_kv_str(g, "nanocell.test", test_label);
    jgen_obj_close(g);
    jgen_key(g, "HostConfig");
    jgen_obj_open(g);
    jgen_kv_str(g, "NetworkMode", "none");
    jgen_key(g, "Ulimits");
    jgen_arr_open(g);
    jgen_obj_open(g);
    jgen_kv_str(g, "Name", "nofile");
    jgen_kv_int(g, "Soft", 1024);
    jgen_kv_int(g, "Hard", 1024);
    jgen_obj_close(g);
    jgen_obj_open(g);
    jgen_kv_str(g, "Name", "nproc");
    jgen_kv_int(g, "Soft", 512);
    jgen_kv_int(g, "Hard", 512);
    jgen_obj_close(g);
    jgen_arr_close(g);
    jgen_obj_close(g);
    jgen_obj_close(g);
    strbuf out = STRBUF_INIT;
    assert_int_equal(jgen_finish(g, &out, NULL), 0);
    return strbuf_detach(&out, NULL);
}

static char *create(engine *e, const char *name, const char *script)
{
    _cleanup_free_ char *body = create_body(script);
    char *id = NULL;
    _cleanup_strv_ char **warnings = NULL;
    nc_error *err = NULL;
    if (engine_container_create(e, name, body, &id, &warnings, &err) < 0)
        fail_msg("create: %s", nc_error_msg(err));
    return id;
}

static void remove_quietly(engine *e, const char *id)
{
    _cleanup_error_ nc_error *err = NULL;
    engine_container_remove(e, id, true, &err);
}

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

/* Reads and demultiplexes the attach stream until EOF (at most 30 s). */
static void drain(engine_attach *a, struct collected *c)
{
    demux d;
    demux_init(&d, false);
    char buf[65536];
    time_t give_up = time(NULL) + 30;
    for (;;) {
        nc_error *err = NULL;
        ssize_t n = engine_attach_read(a, buf, sizeof(buf), &err);
        if (n == -EAGAIN) {
            struct pollfd p = {.fd = engine_attach_fd(a), .events = POLLIN};
            assert_true(time(NULL) < give_up);
            poll(&p, 1, 1000);
            continue;
        }
        if (n < 0)
            fail_msg("read: %s", nc_error_msg(err));
        if (n == 0)
            break;
        if (demux_feed(&d, buf, (size_t)n, collect_cb, c, &err) < 0)
            fail_msg("demux: %s", nc_error_msg(err));
    }
    assert_int_equal(demux_finish(&d, NULL), 0);
    demux_release(&d);
}

static void test_open_and_info(void **state)
{
    (void)state;
    _cleanup_engine_ engine *e = open_engine();
    assert_int_equal(e->kind, strstr(engine_name, "podman") ? ENGINE_PODMAN : ENGINE_DOCKER);
    assert_true(e->api_minor >= ENGINE_API_MIN && e->api_minor <= ENGINE_API_MAX);
    engine_info info = {0};
    nc_error *err = NULL;
    if (engine_get_info(e, &info, &err) < 0)
        fail_msg("info: %s", nc_error_msg(err));
    assert_non_null(info.server_version);
    assert_non_null(info.cgroup_version);
    assert_true(strv_contains(info.runtimes, "runc"));
    assert_true(info.seccomp);
    engine_info_release(&info);
}

static void test_image_inspect(void **state)
{
    (void)state;
    _cleanup_engine_ engine *e = open_engine();
    engine_image img = {0};
    nc_error *err = NULL;
    if (engine_image_inspect(e, TEST_IMAGE, &img, &err) < 0)
        fail_msg("image inspect: %s", nc_error_msg(err));
    assert_true(strncmp(img.id, "sha256:", 7) == 0);
    engine_image_release(&img);
    _cleanup_error_ nc_error *err2 = NULL;
    assert_int_equal(engine_image_inspect(e, "nanocell-test:no-such-tag", &img, &err2), -ENOENT);
    assert_int_equal(err2->http_status, 404);
}

/* The full lifecycle in the order the engines need: create, attach, wait, start, stdin, EOF,
 * demuxed output, exit status, inspect, remove. */
static void test_lifecycle(void **state)
{
    (void)state;
    _cleanup_engine_ engine *e = open_engine();
    _cleanup_free_ char *name = xasprintf("nanocell-test-life-%d", getpid());
    _cleanup_free_ char *id =
        create(e, name, "cat; echo to-stderr >&2; printf 'x%.0s' $(seq 1 3000); exit 7");
    nc_error *err = NULL;
    _cleanup_attach_ engine_attach *a = NULL;
    if (engine_attach_open(e, id, &a, &err) < 0)
        fail_msg("attach: %s", nc_error_msg(err));
    _cleanup_wait_ engine_wait *w = NULL;
    if (engine_wait_begin(e, id, "next-exit", &w, &err) < 0)
        fail_msg("wait: %s", nc_error_msg(err));
    if (engine_container_start(e, id, &err) < 0)
        fail_msg("start: %s", nc_error_msg(err));
    const char payload[] = "{\"prompt\":\"hello\"}\n";
    assert_int_equal(engine_attach_write_all(a, payload, strlen(payload), 5000, &err), 0);
    assert_int_equal(engine_attach_close_stdin(a, &err), 0);
    struct collected c = {STRBUF_INIT, STRBUF_INIT};
    drain(a, &c);
    assert_int_equal(c.out.len, strlen(payload) + 3000);
    assert_memory_equal(c.out.buf, payload, strlen(payload));
    assert_string_equal(strbuf_str(&c.err), "to-stderr\n");
    int64_t code = -1;
    if (engine_wait_end(e, w, 20000, 2000, &code, &err) < 0)
        fail_msg("wait end: %s", nc_error_msg(err));
    assert_int_equal(code, 7);
    engine_state st = {0};
    assert_int_equal(engine_container_state(e, id, &st, &err), 0);
    assert_string_equal(st.status, "exited");
    assert_false(st.running);
    assert_int_equal(st.exit_code, 7);
    assert_false(st.oom_killed);
    engine_state_release(&st);

    strbuf lout = STRBUF_INIT, lerr = STRBUF_INIT;
    if (engine_container_logs(e, id, false, &lout, &lerr, &err) < 0)
        fail_msg("logs: %s", nc_error_msg(err));
    assert_string_equal(strbuf_str(&lerr), "to-stderr\n");
    strbuf_release(&lout);
    strbuf_release(&lerr);

    assert_int_equal(engine_container_remove(e, id, false, &err), 0);
    _cleanup_error_ nc_error *gone = NULL;
    assert_int_equal(engine_container_state(e, id, &st, &gone), -ENOENT);
    assert_int_equal(gone->http_status, 404);
    strbuf_release(&c.out);
    strbuf_release(&c.err);
}

static void test_list_by_label(void **state)
{
    (void)state;
    _cleanup_engine_ engine *e = open_engine();
    _cleanup_free_ char *n1 = xasprintf("nanocell-test-l1-%d", getpid());
    _cleanup_free_ char *n2 = xasprintf("nanocell-test-l2-%d", getpid());
    _cleanup_free_ char *id1 = create(e, n1, "true");
    _cleanup_free_ char *id2 = create(e, n2, "true");
    _cleanup_free_ char *label = xasprintf("nanocell.test=%s", test_label);
    char *labels[] = {label, NULL};
    engine_container_summary *s = NULL;
    size_t n = 0;
    nc_error *err = NULL;
    assert_int_equal(engine_container_list(e, labels, &s, &n, &err), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_true(strcmp(s[i].id, id1) == 0 || strcmp(s[i].id, id2) == 0);
        assert_string_equal(engine_summary_label(&s[i], "nanocell.test"), test_label);
        assert_string_equal(s[i].state, strcmp(engine_name, "podman") == 0 ? "created" : "created");
    }
    engine_container_summaries_free(s, n);
    char *other[] = {"nanocell.test=some-other-value", NULL};
    assert_int_equal(engine_container_list(e, other, &s, &n, &err), 0);
    assert_int_equal(n, 0);
    engine_container_summaries_free(s, n);
    remove_quietly(e, id1);
    remove_quietly(e, id2);
    assert_int_equal(engine_container_list(e, labels, &s, &n, &err), 0);
    assert_int_equal(n, 0);
    engine_container_summaries_free(s, n);
}

static void test_create_errors(void **state)
{
    (void)state;
    _cleanup_engine_ engine *e = open_engine();
    char *id = NULL;
    _cleanup_error_ nc_error *err = NULL;
    assert_int_equal(engine_container_create(e, "bad/name", "{}", &id, NULL, &err), -EINVAL);
    _cleanup_error_ nc_error *err2 = NULL;
    const char *body = "{\"Image\":\"nanocell-test:no-such-tag\"}";
    _cleanup_free_ char *name = xasprintf("nanocell-test-noimg-%d", getpid());
    assert_int_equal(engine_container_create(e, name, body, &id, NULL, &err2), -ENOENT);
    assert_int_equal(err2->http_status, 404);
    assert_non_null(strstr(err2->msg, "no-such-tag"));
}

/* A start that fails: the error names the problem and a pending wait is not left hanging. */
static void test_start_failure(void **state)
{
    (void)state;
    _cleanup_engine_ engine *e = open_engine();
    _cleanup_free_ char *name = xasprintf("nanocell-test-badstart-%d", getpid());
    _cleanup_free_ char *body = create_body("true");
    /* Replace the command with one that does not exist. */
    _cleanup_free_ char *bad = xstrdup(body);
    char *cmd = strstr(bad, "\"/bin/sh\"");
    assert_non_null(cmd);
    memcpy(cmd, "\"/nop/sh\"", 9);
    char *id = NULL;
    nc_error *err = NULL;
    if (engine_container_create(e, name, bad, &id, NULL, &err) < 0)
        fail_msg("create: %s", nc_error_msg(err));
    _cleanup_wait_ engine_wait *w = NULL;
    assert_int_equal(engine_wait_begin(e, id, "next-exit", &w, &err), 0);
    _cleanup_error_ nc_error *serr = NULL;
    assert_true(engine_container_start(e, id, &serr) < 0);
    assert_true(serr->http_status >= 400);
    assert_non_null(strstr(serr->msg, "/nop/sh"));
    engine_wait_free(TAKE_PTR(w)); /* aborting the wait must not block */
    remove_quietly(e, id);
    free(id);
}

static void test_stop_and_kill(void **state)
{
    (void)state;
    _cleanup_engine_ engine *e = open_engine();
    _cleanup_free_ char *name = xasprintf("nanocell-test-stop-%d", getpid());
    _cleanup_free_ char *id = create(e, name, "exec sleep 60");
    nc_error *err = NULL;
    if (engine_container_start(e, id, &err) < 0)
        fail_msg("start: %s", nc_error_msg(err));
    _cleanup_error_ nc_error *again = NULL;
    assert_int_equal(engine_container_start(e, id, &again), -EALREADY);
    time_t t0 = time(NULL);
    if (engine_container_stop(e, id, 1, &err) < 0)
        fail_msg("stop: %s", nc_error_msg(err));
    engine_state st = {0};
    assert_int_equal(engine_container_state(e, id, &st, &err), 0);
    assert_false(st.running);
    assert_true(time(NULL) - t0 < 20);
    engine_state_release(&st);
    _cleanup_error_ nc_error *kerr = NULL;
    assert_int_equal(engine_container_kill(e, id, "SIGKILL", &kerr), -ESRCH);
    remove_quietly(e, id);
}

static void test_attach_missing(void **state)
{
    (void)state;
    _cleanup_engine_ engine *e = open_engine();
    engine_attach *a = NULL;
    _cleanup_error_ nc_error *err = NULL;
    assert_true(engine_attach_open(e, "nanocell-no-such-container", &a, &err) < 0);
    assert_int_equal(err->http_status, 404);
    assert_non_null(strstr(err->msg, "nanocell-no-such-container"));
}

struct seen {
    const char *id;
    bool create, start, die;
};

static int event_cb(const engine_event *ev, void *ud, nc_error **err)
{
    (void)err;
    struct seen *s = ud;
    if (!ev->id || strcmp(ev->id, s->id) != 0 || !ev->action)
        return 0;
    s->create |= strcmp(ev->action, "create") == 0;
    s->start |= strcmp(ev->action, "start") == 0;
    s->die |= strcmp(ev->action, "die") == 0;
    return s->create && s->start && s->die ? 1 : 0;
}

static void test_events(void **state)
{
    (void)state;
    _cleanup_engine_ engine *e = open_engine();
    int64_t since = (int64_t)time(NULL) - 1;
    _cleanup_free_ char *name = xasprintf("nanocell-test-ev-%d", getpid());
    _cleanup_free_ char *id = create(e, name, "exit 3");
    nc_error *err = NULL;
    _cleanup_wait_ engine_wait *w = NULL;
    assert_int_equal(engine_wait_begin(e, id, "next-exit", &w, &err), 0);
    assert_int_equal(engine_container_start(e, id, &err), 0);
    int64_t code;
    assert_int_equal(engine_wait_end(e, w, 20000, 2000, &code, &err), 0);
    assert_int_equal(code, 3);
    _cleanup_free_ char *label = xasprintf("nanocell.test=%s", test_label);
    char *labels[] = {label, NULL};
    struct seen s = {.id = id};
    if (engine_events(e, labels, since, (int64_t)time(NULL) + 2, 15000, event_cb, &s, &err) < 0)
        fail_msg("events: %s", nc_error_msg(err));
    assert_true(s.create);
    assert_true(s.start);
    assert_true(s.die);
    remove_quietly(e, id);
}

int main(void)
{
    sock = getenv("NANOCELL_TEST_SOCKET");
    engine_name = getenv("NANOCELL_TEST_ENGINE");
    if (!sock || !engine_name) {
        printf("1..0 # SKIP NANOCELL_TEST_SOCKET and NANOCELL_TEST_ENGINE are not set\n");
        return 0;
    }
    snprintf(test_label, sizeof(test_label), "engine-%d-%ld", getpid(), (long)time(NULL));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_and_info), cmocka_unit_test(test_image_inspect),
        cmocka_unit_test(test_lifecycle),     cmocka_unit_test(test_list_by_label),
        cmocka_unit_test(test_create_errors), cmocka_unit_test(test_start_failure),
        cmocka_unit_test(test_stop_and_kill), cmocka_unit_test(test_attach_missing),
        cmocka_unit_test(test_events),
    };
    return cmocka_run_group_tests_name(engine_name, tests, NULL, NULL);
}
