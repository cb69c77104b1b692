/* The reference agent (images/agent), run as the host runs it: the static binary as a
 * subprocess, JSON on stdin, markers on stdout, files under $NANOCELL_WORKSPACE/ipc. Model mode
 * runs against the scripted fake server (tests/support) standing in for the credential proxy.
 *
 * The binary is $NANOCELL_AGENT_BIN, else $NANOCELL_BUILD/static/images/agent/agent (NANOCELL_BUILD
 * defaults to "build", relative to the repository root where tests run). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/fake_engine.h"
#include "util/fileutil.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#define START "---NANOCLAW_OUTPUT_START---\n"
#define END "---NANOCLAW_OUTPUT_END---\n"
#define SESSION_MARKER "{\"status\":\"success\",\"result\":null,"
#define WAIT_MS 15000
/* The host's input object around a prompt (a C string literal, JSON-escaped). */
#define INPUT_TAIL "\",\"groupFolder\":\"grp\",\"chatJid\":\"chat@g.us\",\"isMain\":false}"
#define INPUT(prompt) "{\"prompt\":\"" prompt INPUT_TAIL

static char ws[64];
static struct fake_engine *fe;
/* One more NAME=value for the next agent started (model tests); NULL for none. */
static const char *extra_env;

/* --- workspace --- */

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            _cleanup_free_ char *p = xasprintf("%s/%s", path, e->d_name);
            rm_rf(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static char *ws_path(const char *rel)
{
    return xasprintf("%s/%s", ws, rel);
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(ws, sizeof(ws), "%s/nc-agent-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(ws))
        return -1;
    static const char *const dirs[] = {"ipc", "ipc/input", "ipc/messages", "ipc/tasks"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(dirs); i++) {
        _cleanup_free_ char *p = ws_path(dirs[i]);
        if (mkdir(p, 0755) < 0)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(ws);
    fake_engine_free(fe);
    fe = NULL;
    extra_env = NULL;
    fake_free_responses();
    return 0;
}

/* Writes an input file the way the host does: a .tmp name, then rename. */
static void write_input(const char *name, const char *json)
{
    _cleanup_free_ char *tmp = xasprintf("%s/ipc/input/%s.tmp", ws, name);
    _cleanup_free_ char *path = xasprintf("%s/ipc/input/%s", ws, name);
    FILE *f = fopen(tmp, "we");
    assert_non_null(f);
    fputs(json, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static bool exists(const char *rel)
{
    _cleanup_free_ char *p = ws_path(rel);
    return access(p, F_OK) == 0;
}

/* --- the agent process --- */

struct run {
    pid_t pid;
    int out_fd, err_fd; /* -1 at EOF */
    strbuf out, err;
};

static char *agent_bin(void)
{
    const char *bin = getenv("NANOCELL_AGENT_BIN");
    if (bin && *bin)
        return xstrdup(bin);
    const char *build = getenv("NANOCELL_BUILD");
    return xasprintf("%s/static/images/agent/agent", build && *build ? build : "build");
}

/* Starts the agent with input on stdin (then EOF). model_sock, when set, turns on model mode.
 * The environment is built from scratch, plus a canary the probe must never reveal. */
static void start(struct run *r, const char *input, const char *model_sock)
{
    _cleanup_free_ char *bin = agent_bin();
    if (access(bin, X_OK) < 0)
        fail_msg("agent binary '%s' is missing: make %s", bin, bin);
    int pin[2], pout[2], perr[2];
    assert_int_equal(pipe2(pin, O_CLOEXEC), 0);
    assert_int_equal(pipe2(pout, O_CLOEXEC), 0);
    assert_int_equal(pipe2(perr, O_CLOEXEC), 0);
    _cleanup_free_ char *env_ws = xasprintf("NANOCELL_WORKSPACE=%s", ws);
    _cleanup_free_ char *env_sock =
        model_sock ? xasprintf("NANOCELL_MODEL_SOCKET=%s", model_sock) : NULL;
    _cleanup_free_ char *env_home = xasprintf("HOME=%s/home", ws);
    /* NANOCELL_RELAY_PORT=0: no egress relay on the host's own 127.0.0.1:3128. */
    char *envp[8] = {"PATH=/usr/bin:/bin", env_ws, env_home,
                     "NANOCELL_TEST_CANARY=canary-value-8d1f", "NANOCELL_RELAY_PORT=0"};
    size_t ne = 5;
    if (env_sock)
        envp[ne++] = env_sock;
    if (extra_env)
        envp[ne++] = (char *)extra_env;
    envp[ne] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(perr[1], 2);
        signal(SIGPIPE, SIG_DFL);
        execve(bin, (char *[]){bin, NULL}, envp);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    size_t len = strlen(input);
    assert_int_equal(write(pin[1], input, len), (ssize_t)len);
    close(pin[1]);
    *r = (struct run){.pid = pid, .out_fd = pout[0], .err_fd = perr[0]};
}

/* Reads what is there within timeout_ms. Returns false once both streams are at EOF. */
static bool pump(struct run *r, int timeout_ms)
{
    struct pollfd p[2] = {{.fd = r->out_fd, .events = POLLIN}, {.fd = r->err_fd, .events = POLLIN}};
    if (r->out_fd < 0 && r->err_fd < 0)
        return false;
    int n = poll(p, 2, timeout_ms);
    if (n <= 0)
        return true;
    int *fds[2] = {&r->out_fd, &r->err_fd};
    strbuf *bufs[2] = {&r->out, &r->err};
    for (int i = 0; i < 2; i++) {
        if (*fds[i] < 0 || !p[i].revents)
            continue;
        strbuf_grow(bufs[i], 65536);
        ssize_t k = read(*fds[i], bufs[i]->buf + bufs[i]->len, 65536);
        if (k <= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        } else {
            bufs[i]->len += (size_t)k;
            bufs[i]->buf[bufs[i]->len] = '\0';
        }
    }
    return true;
}

static size_t count(const strbuf *sb, const char *needle)
{
    size_t n = 0;
    for (const char *p = strbuf_str(sb); (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Waits until stdout holds n session-update markers. */
static void wait_sessions(struct run *r, size_t n)
{
    uint64_t deadline = mono_ms() + WAIT_MS;
    while (count(&r->out, SESSION_MARKER) < n) {
        if (!ms_until(deadline) || !pump(r, 100))
            fail_msg("waited for %zu session markers; stdout so far:\n%s\nstderr:\n%s", n,
                     strbuf_str(&r->out), strbuf_str(&r->err));
    }
}

/* Reads both streams to EOF and reaps the agent. Returns its exit status, 128+N for a signal. */
static int finish(struct run *r)
{
    uint64_t deadline = mono_ms() + WAIT_MS;
    while (pump(r, 100))
        if (!ms_until(deadline)) {
            kill(r->pid, SIGKILL);
            fail_msg("the agent did not end; stdout:\n%s", strbuf_str(&r->out));
        }
    int status;
    for (;;) {
        pid_t w = waitpid(r->pid, &status, WNOHANG);
        if (w == r->pid)
            break;
        if (!ms_until(deadline)) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, &status, 0);
            fail_msg("the agent closed its output but did not exit");
        }
        sleep_ms(10);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void run_clear(struct run *r)
{
    strbuf_release(&r->out);
    strbuf_release(&r->err);
}

/* --- markers --- */

struct markers {
    nc_json *v[64];
    size_t n;
    strbuf outside; /* stdout bytes outside the marker blocks */
};

/* Splits stdout into marker blocks (each must be one valid JSON line) and the rest. */
static void parse_markers(const strbuf *out, struct markers *m)
{
    *m = (struct markers){.outside = STRBUF_INIT};
    const char *p = strbuf_str(out), *end = p + out->len;
    while (p < end) {
        const char *s = strstr(p, START);
        if (!s) {
            strbuf_add(&m->outside, p, (size_t)(end - p));
            break;
        }
        strbuf_add(&m->outside, p, (size_t)(s - p));
        const char *json = s + strlen(START);
        const char *e = strstr(json, "\n" END);
        if (!e)
            fail_msg("unterminated marker in:\n%s", strbuf_str(out));
        if (memchr(json, '\n', (size_t)(e - json)))
            fail_msg("marker JSON spans lines");
        nc_json *v = NULL;
        nc_error *err = NULL;
        if (json_parse(json, (size_t)(e - json), &v, &err) < 0)
            fail_msg("marker JSON does not parse: %s", nc_error_msg(err));
        assert_true(m->n < NC_ARRAY_SIZE(m->v));
        m->v[m->n++] = v;
        p = e + 1 + strlen(END);
    }
}

static void markers_clear(struct markers *m)
{
    for (size_t i = 0; i < m->n; i++)
        json_free(m->v[i]);
    strbuf_release(&m->outside);
}

static const char *field(const struct markers *m, size_t i, const char *key)
{
    assert_true(i < m->n);
    return json_string(json_get(m->v[i], key));
}

static void expect_result(const struct markers *m, size_t i, const char *text)
{
    assert_string_equal(field(m, i, "status"), "success");
    assert_non_null(field(m, i, "result"));
    assert_string_equal(field(m, i, "result"), text);
    assert_null(json_get(m->v[i], "error"));
}

static void expect_error(const struct markers *m, size_t i, const char *contains)
{
    assert_string_equal(field(m, i, "status"), "error");
    assert_true(json_is_null(json_get(m->v[i], "result")));
    const char *e = field(m, i, "error");
    assert_non_null(e);
    if (!strstr(e, contains))
        fail_msg("error '%s' does not mention '%s'", e, contains);
}

static void expect_session(const struct markers *m, size_t i)
{
    assert_string_equal(field(m, i, "status"), "success");
    assert_true(json_is_null(json_get(m->v[i], "result")));
    assert_non_null(field(m, i, "newSessionId"));
}

/* Runs one prompt to its first session marker, closes the session with `_close`, and parses the
 * output. Returns the exit status. */
static int run_prompt(const char *input, struct markers *m, strbuf *err_out)
{
    struct run r;
    start(&r, input, NULL);
    wait_sessions(&r, 1);
    write_input("_close", "");
    int status = finish(&r);
    parse_markers(&r.out, m);
    if (err_out)
        strbuf_add(err_out, strbuf_str(&r.err), r.err.len);
    run_clear(&r);
    return status;
}

/* --- scripted mode --- */

static void test_echo(void **state)
{
    (void)state;
    struct markers m;
    assert_int_equal(run_prompt(INPUT("echo hello world"), &m, NULL), 0);
    assert_int_equal(m.n, 2);
    expect_result(&m, 0, "hello world");
    expect_session(&m, 1);
    assert_int_equal(m.outside.len, 0);
    assert_false(exists("ipc/input/_close")); /* taken */
    markers_clear(&m);
}

/* `clock`: the monotonic time the agent had read its input, between the start and the end. */
static void test_clock(void **state)
{
    (void)state;
    struct markers m;
    uint64_t before = mono_us();
    assert_int_equal(run_prompt(INPUT("clock"), &m, NULL), 0);
    uint64_t after = mono_us();
    assert_int_equal(m.n, 2);
    const char *r = field(&m, 0, "result");
    assert_non_null(r);
    unsigned long long us = 0;
    assert_int_equal(sscanf(r, "clock %llu", &us), 1);
    assert_true(us >= before && us <= after);
    markers_clear(&m);
}

static void test_emit_in_order(void **state)
{
    (void)state;
    struct markers m;
    assert_int_equal(run_prompt(INPUT("emit 3"), &m, NULL), 0);
    assert_int_equal(m.n, 4);
    expect_result(&m, 0, "result 1 of 3");
    expect_result(&m, 1, "result 2 of 3");
    expect_result(&m, 2, "result 3 of 3");
    expect_session(&m, 3);
    markers_clear(&m);
}

static void test_commands_in_sequence(void **state)
{
    (void)state;
    struct markers m;
    assert_int_equal(
        run_prompt(INPUT("echo a ; fail boom\\n  hello there  \\nemit x ; sleep 0.1 ; echo b"), &m,
                   NULL),
        0);
    assert_int_equal(m.n, 6);
    expect_result(&m, 0, "a");
    expect_error(&m, 1, "boom");
    assert_string_equal(field(&m, 1, "error"), "boom");
    expect_result(&m, 2, "you said: hello there");
    expect_error(&m, 3, "emit: 'x' is not a number");
    expect_result(&m, 4, "b");
    expect_session(&m, 5);
    markers_clear(&m);
}

/* A daemon's prompt: each <message>'s text runs as a script, entities decoded, a leading
 * "@Andy" trigger dropped; text outside <message> elements is not run. */
static void test_daemon_messages(void **state)
{
    (void)state;
    struct markers m;
    assert_int_equal(
        run_prompt(
            INPUT("<messages>\\n<message sender=\\\"a\\\" time=\\\"t\\\">@andy echo x &amp;lt; "
                  "&lt;y&gt; &quot;q&quot; &apos;s&apos; &amp;</message>\\n<message "
                  "sender=\\\"b\\\" time=\\\"t\\\">echo two ; echo three</message>\\nemit "
                  "9\\n</messages>"),
            &m, NULL),
        0);
    assert_int_equal(m.n, 4);
    expect_result(&m, 0, "x &lt; <y> \"q\" 's' &");
    expect_result(&m, 1, "two");
    expect_result(&m, 2, "three");
    expect_session(&m, 3);
    markers_clear(&m);
}

static void test_exit_status(void **state)
{
    (void)state;
    struct run r;
    start(&r, INPUT("echo before ; exit 7 ; echo after"), NULL);
    assert_int_equal(finish(&r), 7);
    struct markers m;
    parse_markers(&r.out, &m);
    assert_int_equal(m.n, 1); /* no session-update marker, nothing after exit */
    expect_result(&m, 0, "before");
    markers_clear(&m);
    run_clear(&r);
}

static void test_stderr_noise(void **state)
{
    (void)state;
    struct markers m;
    strbuf err = STRBUF_INIT;
    assert_int_equal(run_prompt(INPUT("stderr 300000 ; echo done"), &m, &err), 0);
    assert_int_equal(err.len, 300000);
    assert_int_equal(m.outside.len, 0);
    assert_int_equal(m.n, 2);
    expect_result(&m, 0, "done");
    strbuf_release(&err);
    markers_clear(&m);
}

static void test_big_result(void **state)
{
    (void)state;
    struct markers m;
    assert_int_equal(run_prompt(INPUT("big 2m"), &m, NULL), 0);
    assert_int_equal(m.n, 2);
    assert_string_equal(field(&m, 0, "status"), "success");
    const char *text = field(&m, 0, "result");
    assert_non_null(text);
    assert_int_equal(strlen(text), 2 * 1024 * 1024);
    assert_int_equal(m.outside.len, 0);
    expect_session(&m, 1);
    markers_clear(&m);
}

static void test_spew_outside_markers(void **state)
{
    (void)state;
    struct markers m;
    assert_int_equal(run_prompt(INPUT("spew 100000 ; echo after"), &m, NULL), 0);
    assert_int_equal(m.outside.len, 100000);
    assert_null(strstr(m.outside.buf, "NANOCLAW"));
    assert_int_equal(m.n, 2);
    expect_result(&m, 0, "after");
    markers_clear(&m);
}

static void test_ipc_send(void **state)
{
    (void)state;
    struct markers m;
    assert_int_equal(run_prompt(INPUT("ipc-send hello \\\"host\\\""), &m, NULL), 0);
    expect_result(&m, 0, "sent");
    markers_clear(&m);

    _cleanup_free_ char *dir = ws_path("ipc/messages");
    DIR *d = opendir(dir);
    assert_non_null(d);
    _cleanup_strv_ char **names = NULL;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            strv_push(&names, e->d_name);
    closedir(d);
    /* One file, with its final name: no temporary left behind. */
    assert_int_equal(strv_len(names), 1);
    const char *name = names[0];
    size_t digits = strspn(name, "0123456789");
    assert_true(digits >= 13);
    assert_int_equal(name[digits], '-');
    assert_int_equal(strspn(name + digits + 1, "0123456789abcdefghijklmnopqrstuvwxyz"), 6);
    assert_string_equal(name + digits + 7, ".json");

    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    _cleanup_strbuf_ strbuf data = STRBUF_INIT;
    assert_int_equal(read_file(path, 65536, &data, NULL), 0);
    _cleanup_json_ nc_json *v = NULL;
    assert_int_equal(json_parse(data.buf, data.len, &v, NULL), 0);
    assert_string_equal(json_string(json_get(v, "type")), "message");
    assert_string_equal(json_string(json_get(v, "chatJid")), "chat@g.us");
    assert_string_equal(json_string(json_get(v, "groupFolder")), "grp");
    assert_string_equal(json_string(json_get(v, "text")), "hello \"host\"");
    const char *ts = json_string(json_get(v, "timestamp"));
    assert_non_null(ts);
    /* 2024-01-02T03:04:05.678Z */
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
}

/* write: a file where it may, an error result naming the path where it may not; ~/ is HOME. */
static void test_write(void **state)
{
    (void)state;
    _cleanup_free_ char *home = ws_path("home");
    assert_int_equal(mkdir(home, 0755), 0);
    _cleanup_free_ char *target = ws_path("target");
    _cleanup_free_ char *link = ws_path("home/link");
    assert_int_equal(symlink(target, link), 0);
    struct markers m;
    _cleanup_free_ char *abs = ws_path("abs.txt");
    _cleanup_free_ char *prompt =
        xasprintf("{\"prompt\":\"write ~/note.txt hello there ; write %s ; write ~/link x ; write "
                  "~/missing/x y ; write" INPUT_TAIL,
                  abs);
    assert_int_equal(run_prompt(prompt, &m, NULL), 0);
    assert_int_equal(m.n, 6);
    expect_result(&m, 0, "wrote ~/note.txt");
    _cleanup_free_ char *wrote_abs = xasprintf("wrote %s", abs);
    expect_result(&m, 1, wrote_abs);
    expect_error(&m, 2, "write: cannot create '~/link': Too many levels of symbolic links");
    expect_error(&m, 3, "write: cannot create '~/missing/x': No such file or directory");
    expect_error(&m, 4, "write: no path");
    expect_session(&m, 5);
    markers_clear(&m);
    _cleanup_free_ char *note = ws_path("home/note.txt");
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    assert_int_equal(read_file(note, 4096, &text, NULL), 0);
    assert_string_equal(text.buf, "hello there\n");
    strbuf_release(&text);
    assert_int_equal(read_file(abs, 4096, &text, NULL), 0);
    assert_string_equal(text.buf, "\n");
    assert_false(exists("target")); /* nothing through the link */
}

static void test_session_ids(void **state)
{
    (void)state;
    struct markers m;
    assert_int_equal(run_prompt("{\"prompt\":\"emit 2\",\"sessionId\":\"sess-42\",\"groupFolder\":"
                                "\"g\",\"chatJid\":\"c\",\"isMain\":true}",
                                &m, NULL),
                     0);
    assert_int_equal(m.n, 3);
    for (size_t i = 0; i < m.n; i++)
        assert_string_equal(field(&m, i, "newSessionId"), "sess-42");
    markers_clear(&m);

    char first[64] = "";
    for (int run = 0; run < 2; run++) {
        assert_int_equal(run_prompt(INPUT("echo x"), &m, NULL), 0);
        const char *id = field(&m, 0, "newSessionId");
        assert_non_null(id);
        assert_int_equal(strlen(id), 36);
        assert_string_equal(field(&m, 1, "newSessionId"), id);
        if (run == 0)
            snprintf(first, sizeof(first), "%s", id);
        else
            assert_string_not_equal(first, id);
        markers_clear(&m);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    static const char *const inputs[] = {"{not json", "[1,2]", "{\"groupFolder\":\"g\"}",
                                         "{\"prompt\":42}", ""};
    for (size_t i = 0; i < NC_ARRAY_SIZE(inputs); i++) {
        struct run r;
        start(&r, inputs[i], NULL);
        assert_int_equal(finish(&r), 1);
        struct markers m;
        parse_markers(&r.out, &m);
        assert_int_equal(m.n, 1);
        expect_error(&m, 0, "Failed to parse input: ");
        assert_int_equal(strncmp(field(&m, 0, "error"), "Failed to parse input: ", 23), 0);
        assert_null(json_get(m.v[0], "newSessionId"));
        markers_clear(&m);
        run_clear(&r);
    }
}

static void test_follow_up(void **state)
{
    (void)state;
    struct run r;
    start(&r, INPUT("echo first"), NULL);
    wait_sessions(&r, 1);
    /* Not a message: deleted, noted on stderr, and no query. */
    write_input("100-aaaa.json", "{\"type\":\"something\",\"text\":\"echo no\"}");
    write_input("101-bbbb.json", "{\"type\":\"message\",\"text\":\"echo second\"}");
    write_input("102-cccc.json", "{\"type\":\"message\",\"text\":\"emit 1\"}");
    wait_sessions(&r, 2);
    assert_false(exists("ipc/input/100-aaaa.json"));
    assert_false(exists("ipc/input/101-bbbb.json"));
    write_input("_close", "");
    assert_int_equal(finish(&r), 0);
    struct markers m;
    parse_markers(&r.out, &m);
    /* The agent wakes as soon as a file lands, so the two messages may form one query or two:
     * the results come in order either way, each query ending in a session update. */
    const char *const want[] = {"first", "second", "result 1 of 1"};
    size_t got = 0, sessions = 0;
    for (size_t i = 0; i < m.n; i++) {
        if (json_is_null(json_get(m.v[i], "result"))) {
            expect_session(&m, i);
            sessions++;
            continue;
        }
        assert_true(got < NC_ARRAY_SIZE(want));
        expect_result(&m, i, want[got++]);
    }
    assert_int_equal(got, NC_ARRAY_SIZE(want));
    assert_true(sessions == 2 || sessions == 3);
    assert_true(json_is_null(json_get(m.v[m.n - 1], "result")));
    assert_non_null(strstr(strbuf_str(&r.err), "100-aaaa.json"));
    markers_clear(&m);
    run_clear(&r);
}

static void test_startup_input(void **state)
{
    (void)state;
    /* A stale `_close` is removed at start, and pending input joins the first prompt. */
    write_input("_close", "");
    write_input("200-zzzz.json", "{\"type\":\"message\",\"text\":\"echo pending\"}");
    struct run r;
    start(&r, INPUT("echo initial"), NULL);
    wait_sessions(&r, 1);
    assert_false(exists("ipc/input/200-zzzz.json"));
    write_input("_close", "");
    assert_int_equal(finish(&r), 0);
    struct markers m;
    parse_markers(&r.out, &m);
    assert_int_equal(m.n, 3);
    expect_result(&m, 0, "initial");
    expect_result(&m, 1, "pending");
    expect_session(&m, 2);
    markers_clear(&m);
    run_clear(&r);
}

static void test_no_input_dir(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = ws_path("ipc/input");
    assert_int_equal(rmdir(dir), 0);
    struct run r;
    start(&r, INPUT("echo only"), NULL);
    assert_int_equal(finish(&r), 0);
    struct markers m;
    parse_markers(&r.out, &m);
    assert_int_equal(m.n, 2);
    expect_result(&m, 0, "only");
    expect_session(&m, 1);
    markers_clear(&m);
    run_clear(&r);
}

static void test_probe(void **state)
{
    (void)state;
    struct markers m;
    assert_int_equal(run_prompt(INPUT("probe"), &m, NULL), 0);
    assert_int_equal(m.n, 2);
    const char *text = field(&m, 0, "result");
    assert_non_null(text);
    static const char *const items[] = {
        "uid=",         "CapEff: ",   "NoNewPrivs: ",        "Seccomp: ",
        "/etc/shadow",  "write /",    "1.1.1.1:443",         "network interfaces",
        "memory limit", "pids limit", "NANOCELL_TEST_CANARY"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(items); i++)
        if (!strstr(text, items[i]))
            fail_msg("probe output does not mention '%s':\n%s", items[i], text);
    /* Names of the environment, never values. */
    assert_null(strstr(text, "canary-value-8d1f"));
    assert_true(strchr(text, '\n') != NULL);
    markers_clear(&m);
}

/* --- model mode --- */

static const char *model_headers[4] = {"content-type: application/json",
                                       "anthropic-version: 2023-06-01", "Host: localhost", NULL};

static void expect_script_done(void)
{
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0) {
        fail_msg("fake server: %s", report);
        free(report);
    }
}

static void expect_no_credentials(size_t i)
{
    const char *h = fake_engine_request_headers(fe, i);
    assert_non_null(h);
    _cleanup_free_ char *lower = xstrdup(h);
    for (char *p = lower; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    assert_null(strstr(lower, "x-api-key"));
    assert_null(strstr(lower, "authorization"));
}

/* Runs one model-mode query in a workspace without ipc/input, so the agent ends after it. */
static int run_model(const char *input, struct markers *m)
{
    _cleanup_free_ char *dir = ws_path("ipc/input");
    rmdir(dir);
    struct run r;
    start(&r, input, fake_engine_socket(fe));
    int status = finish(&r);
    parse_markers(&r.out, m);
    run_clear(&r);
    return status;
}

static void test_model_tool_loop(void **state)
{
    (void)state;
    const struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "\"tools\":[{\"name\":\"bash\"",
         .headers = {model_headers[0], model_headers[1], model_headers[2]},
         .response = fake_json(
             200, "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":["
                  "{\"type\":\"text\",\"text\":\"Let me run it.\"},"
                  "{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"bash\",\"input\":"
                  "{\"command\":\"echo hello-from-tool\"}}],"
                  "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":10}}")},
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "hello-from-tool",
         .headers = {model_headers[0], model_headers[1], model_headers[2]},
         .response = fake_json(200, "{\"id\":\"msg_2\",\"type\":\"message\",\"role\":"
                                    "\"assistant\",\"content\":[{\"type\":\"text\",\"text\":"
                                    "\"done\"}],\"stop_reason\":\"end_turn\"}")},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    struct markers m;
    assert_int_equal(run_model("{\"prompt\":\"run the tool\",\"groupFolder\":\"g\",\"chatJid\":"
                               "\"c\",\"isMain\":false,\"assistantName\":\"Zed\"}",
                               &m),
                     0);
    expect_script_done();
    assert_int_equal(m.n, 2);
    expect_result(&m, 0, "done");
    expect_session(&m, 1);

    for (size_t i = 0; i < 2; i++)
        expect_no_credentials(i);
    size_t len;
    const char *b0 = fake_engine_request_body(fe, 0, &len);
    _cleanup_json_ nc_json *r0 = NULL;
    assert_int_equal(json_parse(b0, len, &r0, NULL), 0);
    assert_string_equal(json_string(json_get(r0, "model")), "claude-sonnet-4-5");
    int64_t mt = 0;
    assert_true(json_int(json_get(r0, "max_tokens"), &mt));
    assert_int_equal(mt, 4096);
    assert_non_null(strstr(json_string(json_get(r0, "system")), "Zed"));
    assert_non_null(strstr(json_string(json_get(r0, "system")), "bash"));
    const nc_json *tool = json_array_at(json_get(r0, "tools"), 0);
    assert_string_equal(json_string(json_get(tool, "name")), "bash");
    assert_string_equal(json_string(json_get(json_get(tool, "input_schema"), "type")), "object");
    assert_int_equal(json_array_len(json_get(r0, "messages")), 1);
    const nc_json *u0 = json_array_at(json_get(r0, "messages"), 0);
    assert_string_equal(json_string(json_get(u0, "role")), "user");
    assert_string_equal(json_string(json_get(u0, "content")), "run the tool");

    const char *b1 = fake_engine_request_body(fe, 1, &len);
    _cleanup_json_ nc_json *r1 = NULL;
    assert_int_equal(json_parse(b1, len, &r1, NULL), 0);
    const nc_json *msgs = json_get(r1, "messages");
    assert_int_equal(json_array_len(msgs), 3);
    const nc_json *asst = json_array_at(msgs, 1);
    assert_string_equal(json_string(json_get(asst, "role")), "assistant");
    assert_int_equal(json_array_len(json_get(asst, "content")), 2);
    const nc_json *res = json_array_at(json_get(json_array_at(msgs, 2), "content"), 0);
    assert_string_equal(json_string(json_get(json_array_at(msgs, 2), "role")), "user");
    assert_string_equal(json_string(json_get(res, "type")), "tool_result");
    assert_string_equal(json_string(json_get(res, "tool_use_id")), "toolu_01");
    const char *content = json_string(json_get(res, "content"));
    assert_non_null(content);
    assert_non_null(strstr(content, "hello-from-tool\n"));
    assert_non_null(strstr(content, "exit status 0"));
    assert_null(json_get(res, "is_error"));
    markers_clear(&m);
}

static void test_model_follow_up_continues(void **state)
{
    (void)state;
    const struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1/messages",
         .response = fake_json(200, "{\"content\":[{\"type\":\"text\",\"text\":\"one\"}],"
                                    "\"stop_reason\":\"end_turn\"}")},
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":"
                          "\"one\"}]},{\"role\":\"user\",\"content\":\"second question\"}",
         .response = fake_json(200, "{\"content\":[{\"type\":\"text\",\"text\":\"two\"}],"
                                    "\"stop_reason\":\"end_turn\"}")},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    struct run r;
    start(&r, INPUT("first question"), fake_engine_socket(fe));
    wait_sessions(&r, 1);
    write_input("1-abcd.json", "{\"type\":\"message\",\"text\":\"second question\"}");
    wait_sessions(&r, 2);
    write_input("_close", "");
    assert_int_equal(finish(&r), 0);
    expect_script_done();
    struct markers m;
    parse_markers(&r.out, &m);
    assert_int_equal(m.n, 4);
    expect_result(&m, 0, "one");
    expect_result(&m, 2, "two");
    markers_clear(&m);
    run_clear(&r);
}

static void expect_model_error(const char *response, long hangup_after, const char *contains)
{
    const struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1/messages",
         .response = response,
         .hangup_after = hangup_after},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    struct markers m;
    assert_int_equal(run_model(INPUT("hi"), &m), 0);
    expect_script_done();
    assert_int_equal(m.n, 2);
    expect_error(&m, 0, contains);
    expect_session(&m, 1);
    markers_clear(&m);
    fake_engine_free(fe);
    fe = NULL;
}

static void test_model_errors(void **state)
{
    (void)state;
    expect_model_error(fake_json(401, "{\"type\":\"error\",\"error\":{\"type\":"
                                      "\"authentication_error\",\"message\":\"invalid "
                                      "x-api-key\"}}"),
                       0, "model API returned HTTP 401: invalid x-api-key");
    expect_model_error(fake_json(500, "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                                      "\"message\":\"Internal server error\"}}"),
                       0, "HTTP 500: Internal server error");
    expect_model_error(fake_text(502, "text/plain", "bad gateway\n"), 0, "HTTP 502: bad gateway");
    /* The reply ends inside its body. */
    const char *whole = fake_json(200, "{\"content\":[{\"type\":\"text\",\"text\":\"cut off "
                                       "here\"}],\"stop_reason\":\"end_turn\"}");
    expect_model_error(whole, (long)strlen(whole) - 20, "truncated");
    /* ... or inside its head, or before it. */
    expect_model_error(whole, 20, "truncated");
    expect_model_error(NULL, 0, "connection closed with no reply");
    const char *chunks[] = {"{\"content\":[", "{\"type\":\"text\""};
    const char *cut = fake_chunked(200, "application/json", chunks, 2, false);
    expect_model_error(cut, (long)strlen(cut), "truncated");
    expect_model_error(fake_json(200, "{\"content\": nope"), 0, "not valid JSON");
    expect_model_error(fake_json(200, "{\"stop_reason\":\"end_turn\"}"), 0, "no 'content' array");
}

static void test_model_chunked_reply(void **state)
{
    (void)state;
    const char *chunks[] = {"{\"content\":[{\"type\":\"text\",\"text\":\"chun", "ked ok\"}],",
                            "\"stop_reason\":\"end_turn\"}"};
    const struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1/messages",
         .response = fake_chunked(200, "application/json", chunks, 3, true)},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    struct markers m;
    assert_int_equal(run_model(INPUT("hi"), &m), 0);
    expect_script_done();
    assert_int_equal(m.n, 2);
    expect_result(&m, 0, "chunked ok");
    markers_clear(&m);
}

/* The reply of test_model_tool_loop's first round, as server-sent events. */
#define SSE_EV(name, json) "event: " name "\ndata: " json "\n\n"
static const char sse_tool_use[] = SSE_EV(
    "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"content\":[]}}")
    SSE_EV("ping", "{\"type\":\"ping\"}") SSE_EV(
        "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
                               "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
        SSE_EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                                      "{\"type\":\"text_delta\",\"text\":\"Let me \"}}")
            SSE_EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                                          "{\"type\":\"text_delta\",\"text\":\"run it.\"}}")
                SSE_EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}")
                    SSE_EV("content_block_start",
                           "{\"type\":\"content_block_start\",\"index\":1,"
                           "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_s\","
                           "\"name\":\"bash\",\"input\":{}}}")
                        SSE_EV("content_block_delta",
                               "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
                               "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"comm\"}}")
                            SSE_EV("content_block_delta",
                                   "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
                                   "{\"type\":\"input_json_delta\",\"partial_json\":"
                                   "\"and\\\": \\\"echo streamed-tool\\\"}\"}}")
                                SSE_EV("content_block_stop",
                                       "{\"type\":\"content_block_stop\",\"index\":1}")
                                    SSE_EV("message_delta", "{\"type\":\"message_delta\",\"delta\":"
                                                            "{\"stop_reason\":\"tool_use\"}}")
                                        SSE_EV("message_stop", "{\"type\":\"message_stop\"}");
static const char sse_end[] = SSE_EV(
    "message_start",
    "{\"type\":\"message_start\",\"message\":{\"id\":\"m2\",\"content\":[]}"
    "}") "data: "
         "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{"
         "\"type\":\"text\","
         "\"text\":\"\"}}\r\n\r\n" SSE_EV("content_block_delta",
                                          "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                                          "{\"type\":\"text_delta\",\"text\":\"all done\"}}")
             SSE_EV("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_"
                                     "reason\":\"end_turn\"}}")
                 SSE_EV("message_stop", "{\"type\":\"message_stop\"}");

static void test_model_stream(void **state)
{
    (void)state;
    const struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "\"stream\":true",
         .headers = {"accept: text/event-stream"},
         .response = fake_text(200, "text/event-stream", sse_tool_use)},
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "streamed-tool",
         .response = fake_text(200, "text/event-stream", sse_end)},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    extra_env = "NANOCELL_MODEL_STREAM=1";
    struct markers m;
    assert_int_equal(run_model(INPUT("stream it"), &m), 0);
    expect_script_done();
    assert_int_equal(m.n, 2);
    expect_result(&m, 0, "all done");
    /* The assembled assistant turn went back as a whole message. */
    size_t len;
    const char *b1 = fake_engine_request_body(fe, 1, &len);
    _cleanup_json_ nc_json *r1 = NULL;
    assert_int_equal(json_parse(b1, len, &r1, NULL), 0);
    const nc_json *asst = json_array_at(json_get(r1, "messages"), 1);
    const nc_json *c = json_get(asst, "content");
    assert_int_equal(json_array_len(c), 2);
    assert_string_equal(json_string(json_get(json_array_at(c, 0), "text")), "Let me run it.");
    const nc_json *use = json_array_at(c, 1);
    assert_string_equal(json_string(json_get(use, "id")), "toolu_s");
    assert_string_equal(json_string(json_get(json_get(use, "input"), "command")),
                        "echo streamed-tool");
    markers_clear(&m);
}

static void expect_stream_error(const char *sse, const char *contains)
{
    const struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1/messages",
         .response = fake_text(200, "text/event-stream", sse)},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    extra_env = "NANOCELL_MODEL_STREAM=1";
    struct markers m;
    assert_int_equal(run_model(INPUT("hi"), &m), 0);
    expect_script_done();
    assert_int_equal(m.n, 2);
    expect_error(&m, 0, contains);
    markers_clear(&m);
    fake_engine_free(fe);
    fe = NULL;
}

static void test_model_stream_errors(void **state)
{
    (void)state;
    expect_stream_error(SSE_EV("message_start", "{\"type\":\"message_start\"}")
                            SSE_EV("error", "{\"type\":\"error\",\"error\":{\"type\":"
                                            "\"overloaded_error\",\"message\":\"Overloaded\"}}"),
                        "model API stream error: Overloaded");
    /* The stream ends before message_stop: nothing of it is taken as the answer. */
    expect_stream_error(SSE_EV("content_block_start",
                               "{\"type\":\"content_block_start\",\"index\":0,"
                               "\"content_block\":{\"type\":\"text\",\"text\":\"half\"}}"),
                        "truncated");
    expect_stream_error(SSE_EV("content_block_start", "{\"type\":\"content_block_start\","
                                                      "\"index\":9999,\"content_block\":{}}"),
                        "block index out of range");
    expect_stream_error("data: {not json\n\n", "not JSON");
    extra_env = "NANOCELL_MODEL_STREAM=maybe";
    fe = fake_engine_start(NULL, 0, NULL);
    struct markers m;
    assert_int_equal(run_model(INPUT("hi"), &m), 0);
    expect_error(&m, 0, "NANOCELL_MODEL_STREAM is not 1, true, 0 or false");
    markers_clear(&m);
}

/* Each stream of a tool is cut at 64 KiB, and the cut is said. */
static void test_model_tool_output_cap(void **state)
{
    (void)state;
    const struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1/messages",
         .response = fake_json(
             200, "{\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"bash\",\"input\":"
                  "{\"command\":\"head -c 70000 /dev/zero | tr '\\\\0' a; echo err >&2; "
                  "exit 3\"}}],\"stop_reason\":\"tool_use\"}")},
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "[output cut at 65536 bytes; 4464 more dropped]",
         .response = fake_json(200, "{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],"
                                    "\"stop_reason\":\"end_turn\"}")},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    struct markers m;
    assert_int_equal(run_model(INPUT("big"), &m), 0);
    expect_script_done();
    expect_result(&m, 0, "ok");
    size_t len;
    const char *b1 = fake_engine_request_body(fe, 1, &len);
    _cleanup_json_ nc_json *r1 = NULL;
    assert_int_equal(json_parse(b1, len, &r1, NULL), 0);
    const nc_json *res =
        json_array_at(json_get(json_array_at(json_get(r1, "messages"), 2), "content"), 0);
    const char *content = json_string(json_get(res, "content"));
    assert_non_null(content);
    assert_non_null(strstr(content, "aaaa\n[output cut at 65536 bytes; 4464 more dropped]\n"
                                    "stderr:\nerr\nexit status 3"));
    bool is_error = false;
    assert_true(json_bool(json_get(res, "is_error"), &is_error));
    assert_true(is_error);
    markers_clear(&m);
}

#define END_TURN(text)                                                                             \
    fake_json(200, "{\"content\":[{\"type\":\"text\",\"text\":\"" text "\"}],"                     \
                   "\"stop_reason\":\"end_turn\"}")
#define SESSION_INPUT(prompt, id)                                                                  \
    "{\"prompt\":\"" prompt "\",\"sessionId\":\"" id "\",\"groupFolder\":\"grp\"}"

/* The conversation outlives the container: a later agent given the same sessionId sends it
 * again; another session starts empty; a damaged file starts a new conversation. */
static void test_model_session_persists(void **state)
{
    (void)state;
    _cleanup_free_ char *group = ws_path("group");
    assert_int_equal(mkdir(group, 0755), 0);
    const struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "\"messages\":[{\"role\":\"user\",\"content\":\"remember 42\"}]",
         .response = END_TURN("noted")},
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "\"messages\":[{\"role\":\"user\",\"content\":\"remember 42\"},"
                          "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":"
                          "\"noted\"}]},{\"role\":\"user\",\"content\":\"what was it\"}]",
         .response = END_TURN("42")},
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "\"messages\":[{\"role\":\"user\",\"content\":\"other\"}]",
         .response = END_TURN("fresh")},
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "\"messages\":[{\"role\":\"user\",\"content\":\"after damage\"}]",
         .response = END_TURN("new start")},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    struct markers m;
    assert_int_equal(run_model(SESSION_INPUT("remember 42", "sess-1"), &m), 0);
    expect_result(&m, 0, "noted");
    assert_string_equal(field(&m, 1, "newSessionId"), "sess-1");
    markers_clear(&m);
    _cleanup_free_ char *file = ws_path("group/.nanocell/sessions/sess-1.jsonl");
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_int_equal(run_model(SESSION_INPUT("what was it", "sess-1"), &m), 0);
    expect_result(&m, 0, "42");
    markers_clear(&m);
    assert_int_equal(run_model(SESSION_INPUT("other", "sess-2"), &m), 0);
    expect_result(&m, 0, "fresh");
    markers_clear(&m);

    FILE *f = fopen(file, "we");
    assert_non_null(f);
    fputs("{\"role\":\"user\",\"content\":\"x\"}\nnot json\n", f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(run_model(SESSION_INPUT("after damage", "sess-1"), &m), 0);
    expect_result(&m, 0, "new start");
    markers_clear(&m);
    expect_script_done();
}

/* A session id that is not a plain name never becomes a path. */
static void test_model_session_id_unsafe(void **state)
{
    (void)state;
    _cleanup_free_ char *group = ws_path("group");
    assert_int_equal(mkdir(group, 0755), 0);
    const struct fake_exchange script[] = {
        {.method = "POST", .path = "/v1/messages", .response = END_TURN("ok")},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    struct markers m;
    assert_int_equal(run_model(SESSION_INPUT("hi", "../../escape"), &m), 0);
    expect_result(&m, 0, "ok");
    markers_clear(&m);
    expect_script_done();
    assert_false(exists("group/.nanocell"));
    assert_false(exists("escape.jsonl"));
}

/* --- model mode: NanoClaw's tools --- */

/* The one file in ipc/<dir>, parsed; fails unless there is exactly one. */
static nc_json *only_file(const char *dir)
{
    _cleanup_free_ char *path = ws_path(dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    _cleanup_strv_ char **names = NULL;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            strv_push(&names, e->d_name);
    closedir(d);
    if (strv_len(names) != 1)
        fail_msg("%zu files in %s, 1 expected", strv_len(names), dir);
    _cleanup_free_ char *file = xasprintf("%s/%s", path, names[0]);
    _cleanup_strbuf_ strbuf data = STRBUF_INIT;
    assert_int_equal(read_file(file, 65536, &data, NULL), 0);
    nc_json *v = NULL;
    assert_int_equal(json_parse(data.buf, data.len, &v, NULL), 0);
    return v;
}

static size_t count_files(const char *dir)
{
    _cleanup_free_ char *path = ws_path(dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Request i of the fake server, parsed. */
static nc_json *request(size_t i)
{
    size_t len;
    const char *b = fake_engine_request_body(fe, i, &len);
    assert_non_null(b);
    nc_json *v = NULL;
    assert_int_equal(json_parse(b, len, &v, NULL), 0);
    return v;
}

/* The tool_result for tool_use id in the last message of req. */
static const nc_json *tool_result(const nc_json *req, const char *id)
{
    const nc_json *msgs = json_get(req, "messages");
    const nc_json *last = json_array_at(msgs, json_array_len(msgs) - 1);
    assert_string_equal(json_string(json_get(last, "role")), "user");
    const nc_json *content = json_get(last, "content");
    for (size_t i = 0; i < json_array_len(content); i++) {
        const nc_json *b = json_array_at(content, i);
        if (strcmp(json_string(json_get(b, "tool_use_id")), id) == 0)
            return b;
    }
    fail_msg("no tool_result for '%s'", id);
    return NULL;
}

static void expect_tool_result(const nc_json *req, const char *id, bool is_error,
                               const char *contains)
{
    const nc_json *b = tool_result(req, id);
    assert_string_equal(json_string(json_get(b, "type")), "tool_result");
    const char *text = json_string(json_get(b, "content"));
    assert_non_null(text);
    if (!strstr(text, contains))
        fail_msg("tool_result '%s' is '%s', expected to contain '%s'", id, text, contains);
    bool err = false;
    json_bool(json_get(b, "is_error"), &err);
    if (err != is_error)
        fail_msg("tool_result '%s' ('%s'): is_error %d, expected %d", id, text, err, is_error);
}

/* The tool named name in req's "tools", or NULL. */
static const nc_json *offered_tool(const nc_json *req, const char *name)
{
    const nc_json *tools = json_get(req, "tools");
    for (size_t i = 0; i < json_array_len(tools); i++)
        if (strcmp(json_string(json_get(json_array_at(tools, i), "name")), name) == 0)
            return json_array_at(tools, i);
    return NULL;
}

#define TOOL_USE(id, name, input)                                                                  \
    "{\"type\":\"tool_use\",\"id\":\"" id "\",\"name\":\"" name "\",\"input\":" input "}"
#define TOOL_REPLY(blocks) fake_json(200, "{\"content\":[" blocks "],\"stop_reason\":\"tool_use\"}")
#define END_REPLY(text)                                                                            \
    fake_json(200, "{\"content\":[{\"type\":\"text\",\"text\":\"" text "\"}],"                     \
                   "\"stop_reason\":\"end_turn\"}")

/* The model schedules a task, then sends a message: each tool writes NanoClaw's file, and its
 * result goes back to the model. A non-main agent is not offered register_group or a target,
 * and a target it names anyway is ignored. */
static void test_model_ipc_tools(void **state)
{
    (void)state;
    const struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "\"name\":\"schedule_task\"",
         .response = TOOL_REPLY(
             TOOL_USE("tu_1", "schedule_task",
                      "{\"prompt\":\"say tick\",\"schedule_type\":\"cron\",\"schedule_value\":"
                      "\"*/5 * * * *\",\"target_group_jid\":\"other@g.us\",\"script\":\"true\"}"))},
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "scheduled: cron - */5 * * * *",
         .response = TOOL_REPLY(
             TOOL_USE("tu_2", "send_message", "{\"text\":\"hello chat\",\"sender\":\"Bot\"}"))},
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "Message sent.",
         .response = END_REPLY("all done")},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    struct markers m;
    assert_int_equal(run_model(INPUT("tick every five minutes"), &m), 0);
    expect_script_done();
    expect_result(&m, 0, "all done");
    markers_clear(&m);

    _cleanup_json_ nc_json *r0 = request(0);
    const char *names[] = {"bash",       "send_message", "schedule_task", "list_tasks",
                           "pause_task", "resume_task",  "cancel_task",   "update_task"};
    assert_int_equal(json_array_len(json_get(r0, "tools")), NC_ARRAY_SIZE(names));
    for (size_t i = 0; i < NC_ARRAY_SIZE(names); i++)
        assert_non_null(offered_tool(r0, names[i]));
    assert_null(offered_tool(r0, "register_group"));
    const nc_json *sched = json_get(offered_tool(r0, "schedule_task"), "input_schema");
    assert_null(json_get(json_get(sched, "properties"), "target_group_jid"));
    assert_string_equal(
        json_string(json_array_at(
            json_get(json_get(json_get(sched, "properties"), "schedule_type"), "enum"), 2)),
        "once");
    assert_string_equal(json_string(json_array_at(json_get(sched, "required"), 0)), "prompt");

    _cleanup_json_ nc_json *task = only_file("ipc/tasks");
    assert_string_equal(json_string(json_get(task, "type")), "schedule_task");
    assert_string_equal(json_string(json_get(task, "prompt")), "say tick");
    assert_string_equal(json_string(json_get(task, "schedule_type")), "cron");
    assert_string_equal(json_string(json_get(task, "schedule_value")), "*/5 * * * *");
    assert_string_equal(json_string(json_get(task, "context_mode")), "group");
    assert_string_equal(json_string(json_get(task, "script")), "true");
    assert_string_equal(json_string(json_get(task, "targetJid")), "chat@g.us");
    assert_string_equal(json_string(json_get(task, "createdBy")), "grp");
    assert_string_equal(json_string(json_get(task, "groupFolder")), "grp");
    const char *id = json_string(json_get(task, "taskId"));
    assert_non_null(id);
    assert_int_equal(strncmp(id, "task-", 5), 0);

    _cleanup_json_ nc_json *r1 = request(1);
    _cleanup_free_ char *want = xasprintf("Task %s scheduled: cron - */5 * * * *", id);
    expect_tool_result(r1, "tu_1", false, want);

    _cleanup_json_ nc_json *msg = only_file("ipc/messages");
    assert_string_equal(json_string(json_get(msg, "type")), "message");
    assert_string_equal(json_string(json_get(msg, "chatJid")), "chat@g.us");
    assert_string_equal(json_string(json_get(msg, "text")), "hello chat");
    assert_string_equal(json_string(json_get(msg, "sender")), "Bot");
    assert_string_equal(json_string(json_get(msg, "groupFolder")), "grp");
    _cleanup_json_ nc_json *r2 = request(2);
    expect_tool_result(r2, "tu_2", false, "Message sent.");
}

/* The main group is offered register_group and a target for its tasks. */
static void test_model_ipc_tools_main(void **state)
{
    (void)state;
    const struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1/messages",
         .body_contains = "\"name\":\"register_group\"",
         .response = TOOL_REPLY(
             TOOL_USE("tu_1", "register_group",
                      "{\"jid\":\"new@g.us\",\"name\":\"New\",\"folder\":\"new-group\","
                      "\"trigger\":\"@Andy\"}") "," TOOL_USE("tu_2", "schedule_task",
                                                             "{\"prompt\":\"p\",\"schedule_"
                                                             "type\":\"interval\",\"schedule_"
                                                             "value\":\"60000\",\"target_group_"
                                                             "jid\":\"new@g.us\",\"context_"
                                                             "mode\":\"isolated\"}"))},
        {.method = "POST", .path = "/v1/messages", .response = END_REPLY("ok")},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    struct markers m;
    assert_int_equal(run_model("{\"prompt\":\"add it\",\"groupFolder\":\"main\",\"chatJid\":"
                               "\"main@g.us\",\"isMain\":true}",
                               &m),
                     0);
    expect_script_done();
    markers_clear(&m);
    _cleanup_json_ nc_json *r0 = request(0);
    const nc_json *sched = json_get(offered_tool(r0, "schedule_task"), "input_schema");
    assert_non_null(json_get(json_get(sched, "properties"), "target_group_jid"));
    _cleanup_json_ nc_json *r1 = request(1);
    expect_tool_result(r1, "tu_1", false, "Group \"New\" registered.");
    expect_tool_result(r1, "tu_2", false, "scheduled: interval - 60000");
    assert_int_equal(count_files("ipc/tasks"), 2);
    _cleanup_free_ char *dir = ws_path("ipc/tasks");
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    bool reg = false, task = false;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, e->d_name);
        _cleanup_strbuf_ strbuf data = STRBUF_INIT;
        assert_int_equal(read_file(path, 65536, &data, NULL), 0);
        _cleanup_json_ nc_json *v = NULL;
        assert_int_equal(json_parse(data.buf, data.len, &v, NULL), 0);
        const char *type = json_string(json_get(v, "type"));
        bool b = true;
        if (strcmp(type, "register_group") == 0) {
            reg = true;
            assert_string_equal(json_string(json_get(v, "jid")), "new@g.us");
            assert_string_equal(json_string(json_get(v, "folder")), "new-group");
            assert_string_equal(json_string(json_get(v, "trigger")), "@Andy");
            assert_true(json_bool(json_get(v, "requiresTrigger"), &b));
            assert_false(b);
            assert_null(json_get(v, "isMain"));
        } else {
            task = true;
            assert_string_equal(type, "schedule_task");
            assert_string_equal(json_string(json_get(v, "targetJid")), "new@g.us");
            assert_string_equal(json_string(json_get(v, "context_mode")), "isolated");
            assert_true(json_bool(json_get(v, "isMain"), &b));
            assert_true(b);
        }
    }
    closedir(d);
    assert_true(reg && task);
}

/* Unknown tools and bad input give is_error results, write nothing, and the turn goes on. */
static void test_model_ipc_tool_errors(void **state)
{
    (void)state;
    const struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1/messages",
         .response =
             TOOL_REPLY(
                 TOOL_USE("e1", "nope",
                          "{}") "," TOOL_USE("e2", "register_group",
                                             "{\"jid\":\"x@g.us\",\"name\":\"X\","
                                             "\"folder\":\"x\",\"trigger\":\"@"
                                             "A\"}") "," TOOL_USE("e3", "schedule_task", "{\"prompt\":\"p\",\"schedule_type\":\"cron\"}") "," TOOL_USE("e4",
                                                                                                                                                       "schedule_task",
                                                                                                                                                       "{\"prompt\":\"p\",\"schedule_type\":\"cron\","
                                                                                                                                                       "\"schedule_value\":\"61 * * * *\"}") "," TOOL_USE("e5",
                                                                                                                                                                                                          "schedule_task",
                                                                                                                                                                                                          "{\"prompt\":\"p\",\"schedule_type\":\"weekly\","
                                                                                                                                                                                                          "\"schedule_value\":\"1\"}") "," TOOL_USE("e6",
                                                                                                                                                                                                                                                    "schedule_task",
                                                                                                                                                                                                                                                    "{\"prompt\":\"p\",\"schedule_type\":\"once\","
                                                                                                                                                                                                                                                    "\"schedule_value\":\"2030-01-01T10:00:00Z\"}") "," TOOL_USE("e7",
                                                                                                                                                                                                                                                                                                                 "schedule_task",
                                                                                                                                                                                                                                                                                                                 "{\"prompt\":\"p\",\"schedule_type\":\"interval\","
                                                                                                                                                                                                                                                                                                                 "\"schedule_value\":\"0\"}") "," TOOL_USE("e8", "send_message", "{\"text\":42}") "," TOOL_USE("e9",
                                                                                                                                                                                                                                                                                                                                                                                                               "send_message", "\"just a string\"") "," TOOL_USE("e10", "pause_task", "{}") "," TOOL_USE("e11",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "update_task",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "{\"task_id\":\"t1\",\"schedule_type\":\"once\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "\"schedule_value\":\"tomorrow\"}") "," TOOL_USE("e12",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          "send_message",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          "{\"text\":\"\"}") "," TOOL_USE("e13",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          "register_group",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          "{\"jid\":\"x@g.us\",\"name\":\"X\",\"folder\":\"x\",\"trigger\":"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          "\"@A\",\"requiresTrigger\":\"yes\"}"))},
        {.method = "POST", .path = "/v1/messages", .response = END_REPLY("recovered")},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    struct markers m;
    assert_int_equal(run_model(INPUT("try everything"), &m), 0);
    expect_script_done();
    expect_result(&m, 0, "recovered");
    markers_clear(&m);
    _cleanup_json_ nc_json *r1 = request(1);
    expect_tool_result(r1, "e1", true, "unknown tool 'nope'");
    expect_tool_result(r1, "e2", true, "unknown tool 'register_group'"); /* not main */
    expect_tool_result(r1, "e3", true, "schedule_task: 'schedule_value' is required");
    expect_tool_result(r1, "e4", true, "invalid schedule: invalid cron expression '61 * * * *'");
    expect_tool_result(r1, "e5", true, "'schedule_type' must be one of");
    expect_tool_result(r1, "e6", true, "must be a local time without 'Z' or an offset");
    expect_tool_result(r1, "e7", true, "invalid schedule");
    expect_tool_result(r1, "e8", true, "send_message: 'text' must be a string");
    expect_tool_result(r1, "e9", true, "send_message: the input is not a JSON object");
    expect_tool_result(r1, "e10", true, "pause_task: 'task_id' is required");
    expect_tool_result(r1, "e11", true, "invalid schedule");
    expect_tool_result(r1, "e12", true, "send_message: 'text' must not be empty");
    expect_tool_result(r1, "e13", true, "unknown tool 'register_group'");
    assert_int_equal(count_files("ipc/tasks"), 0);
    assert_int_equal(count_files("ipc/messages"), 0);
}

/* list_tasks reads ipc/current_tasks.json: NanoClaw's lines, only the agent's own group unless
 * it is main. The task operations write their files. */
static void test_model_list_and_task_ops(void **state)
{
    (void)state;
    /* 48 ASCII bytes, then a 3-byte character across the 50-byte cut. */
    static const char tasks[] =
        "[{\"id\":\"t-own\",\"groupFolder\":\"grp\",\"prompt\":"
        "\"0123456789012345678901234567890123456789012345678\xe2\x82\xac tail\",\"script\":null,"
        "\"schedule_type\":\"cron\",\"schedule_value\":\"0 9 * * *\",\"status\":\"active\","
        "\"next_run\":\"2030-01-01T09:00:00.000Z\"},"
        "{\"id\":\"t-other\",\"groupFolder\":\"other\",\"prompt\":\"x\",\"script\":null,"
        "\"schedule_type\":\"once\",\"schedule_value\":\"2030-01-01T10:00:00\",\"status\":"
        "\"paused\",\"next_run\":null}]";
    _cleanup_free_ char *path = ws_path("ipc/current_tasks.json");
    assert_int_equal(write_file_atomic(path, tasks, strlen(tasks), 0644, NULL), 0);
    const struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1/messages",
         .response = TOOL_REPLY(TOOL_USE("l1", "list_tasks", "{}") "," TOOL_USE(
             "p1", "pause_task",
             "{\"task_id\":\"t-own\"}") "," TOOL_USE("u1", "update_task",
                                                     "{\"task_id\":\"t-own\",\"prompt\":\"new "
                                                     "prompt\",\"script\":\"\"}"))},
        {.method = "POST", .path = "/v1/messages", .response = END_REPLY("listed")},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    struct markers m;
    assert_int_equal(run_model(INPUT("list"), &m), 0);
    expect_script_done();
    expect_result(&m, 0, "listed");
    markers_clear(&m);
    _cleanup_json_ nc_json *r1 = request(1);
    expect_tool_result(r1, "l1", false,
                       "Scheduled tasks:\n- [t-own] 012345678901234567890123456789012345678901234"
                       "5678... (cron: 0 9 * * *) - active, next: 2030-01-01T09:00:00.000Z");
    const char *list = json_string(json_get(tool_result(r1, "l1"), "content"));
    assert_null(strstr(list, "t-other"));
    expect_tool_result(r1, "p1", false, "Task t-own pause requested.");
    expect_tool_result(r1, "u1", false, "Task t-own update requested.");
    assert_int_equal(count_files("ipc/tasks"), 2);
    _cleanup_free_ char *dir = ws_path("ipc/tasks");
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    size_t seen = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        _cleanup_free_ char *file = xasprintf("%s/%s", dir, e->d_name);
        _cleanup_strbuf_ strbuf data = STRBUF_INIT;
        assert_int_equal(read_file(file, 65536, &data, NULL), 0);
        _cleanup_json_ nc_json *v = NULL;
        assert_int_equal(json_parse(data.buf, data.len, &v, NULL), 0);
        assert_string_equal(json_string(json_get(v, "taskId")), "t-own");
        assert_string_equal(json_string(json_get(v, "groupFolder")), "grp");
        const char *type = json_string(json_get(v, "type"));
        if (strcmp(type, "update_task") == 0) {
            assert_string_equal(json_string(json_get(v, "prompt")), "new prompt");
            assert_string_equal(json_string(json_get(v, "script")), "");
            assert_null(json_get(v, "schedule_type"));
        } else {
            assert_string_equal(type, "pause_task");
        }
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, 2);
}

/* Scripted list-tasks gives the same text as the tool; with no file, NanoClaw's answer. */
static void test_list_tasks_command(void **state)
{
    (void)state;
    struct markers m;
    assert_int_equal(run_prompt(INPUT("list-tasks"), &m, NULL), 0);
    expect_result(&m, 0, "No scheduled tasks found.");
    markers_clear(&m);
    static const char tasks[] = "[{\"id\":\"a\",\"groupFolder\":\"grp\",\"prompt\":\"short\","
                                "\"schedule_type\":\"interval\",\"schedule_value\":\"60000\","
                                "\"status\":\"paused\",\"next_run\":null}]";
    _cleanup_free_ char *path = ws_path("ipc/current_tasks.json");
    assert_int_equal(write_file_atomic(path, tasks, strlen(tasks), 0644, NULL), 0);
    assert_int_equal(run_prompt(INPUT("list-tasks"), &m, NULL), 0);
    expect_result(&m, 0, "Scheduled tasks:\n- [a] short... (interval: 60000) - paused, next: N/A");
    markers_clear(&m);
    assert_int_equal(write_file_atomic(path, "{}", 2, 0644, NULL), 0);
    assert_int_equal(run_prompt(INPUT("list-tasks"), &m, NULL), 0);
    expect_error(&m, 0, "list-tasks: ");
    markers_clear(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commands_in_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stderr_noise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spew_outside_markers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipc_send, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_follow_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_startup_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_input_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_tool_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_follow_up_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_chunked_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_stream_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_tool_output_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_session_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_session_id_unsafe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_ipc_tools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_ipc_tools_main, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_ipc_tool_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_list_and_task_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_tasks_command, setup, teardown),
    };
    return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
