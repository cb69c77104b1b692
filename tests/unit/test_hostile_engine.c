/* The nanocell binary against a hostile engine (the scripted fake engine of tests/support): a
 * Server header, version and info fields and error replies full of escape sequences, C1
 * controls and invalid UTF-8 must reach neither the terminal (run's engine line and errors,
 * doctor's report, ps's columns, gc's report) nor the run log raw. They come out made safe and
 * visible.
 *
 * The binary is $NANOCELL_BIN, else ./nanocell (tests/run.sh runs from the repository root). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/fake_engine.h"
#include "util/fileutil.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* Docker/<OSC 0 window title ended by BEL><C1 CSI>2J<raw 0x9b>: what run's engine line quotes. */
#define HOSTILE_PING                                                                               \
    "HTTP/1.1 200 OK\r\n"                                                                          \
    "Api-Version: 1.41\r\n"                                                                        \
    "Server: Docker/\x1b]0;PWN\x07\xc2\x9b"                                                        \
    "2J\x9b (linux)\r\n"                                                                           \
    "Content-Type: text/plain\r\n"                                                                 \
    "Content-Length: 2\r\n"                                                                        \
    "\r\n"                                                                                         \
    "OK"

/* Serves /info and /version alike: every field doctor prints is hostile. */
#define HOSTILE_INFO                                                                               \
    "{\"Version\":\"\\u001b]0;PWN\\u0007\",\"MinAPIVersion\":\"1.\\u001b[2J12\","                  \
    "\"OperatingSystem\":\"\\u009b31mOS\",\"KernelVersion\":\"\\u001b]52;c;aGk=\\u0007\","         \
    "\"CgroupVersion\":\"2\\r\",\"CgroupDriver\":\"sys\\btemd\","                                  \
    "\"DefaultRuntime\":\"ru\\u007fnc\",\"Runtimes\":{\"run\\u001bc\":{}},"                        \
    "\"SecurityOptions\":[\"name=seccomp,profile=default\"],\"MemoryLimit\":true,"                 \
    "\"PidsLimit\":true}"

/* An error reply, with C1 and C0 controls as JSON escapes (the engine client already turns C0
 * controls in a reply's message into spaces; C1 is left to the printing). */
#define HOSTILE_ERROR "{\"message\":\"no such thing \\u009b2J \\u001b]52;c;aGk=\\u0007\"}"

static char dir[64];
static struct fake_engine *fe;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/nc-hostile-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    return 0;
}

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

static int teardown(void **state)
{
    (void)state;
    fake_engine_free(fe);
    fe = NULL;
    fake_free_responses();
    rm_rf(dir);
    return 0;
}

static const char *nanocell_bin(void)
{
    const char *bin = getenv("NANOCELL_BIN");
    return bin && *bin ? bin : "./nanocell";
}

/* Writes a config whose data dir is in the test's directory. Returns its path. */
static char *write_config(void)
{
    char *path = xasprintf("%s/config.toml", dir);
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fprintf(f, "[install]\nid = \"hostile%d\"\ndata_dir = \"%s/data\"\n", (int)getpid(), dir);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Runs nanocell with args (NULL-terminated, after the binary), stdout and stderr kept. */
static int run_nanocell(const char *const *args, strbuf *out, strbuf *err)
{
    const char *bin = nanocell_bin();
    if (access(bin, X_OK) < 0)
        fail_msg("'%s' is missing: run make, or set NANOCELL_BIN", bin);
    _cleanup_free_ char *out_path = xasprintf("%s/stdout", dir);
    _cleanup_free_ char *err_path = xasprintf("%s/stderr", dir);
    const char *argv[16] = {bin};
    for (size_t i = 0; args[i]; i++) {
        assert_true(i + 2 < NC_ARRAY_SIZE(argv));
        argv[i + 1] = args[i];
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(127);
        unsetenv("NANOCELL_LOG");
        unsetenv("NANOCELL_CONFIG");
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(read_file(out_path, 1 << 20, out, NULL), 0);
    assert_int_equal(read_file(err_path, 1 << 20, err, NULL), 0);
    return WEXITSTATUS(status);
}

/* All the hostile bytes are ASCII controls, C1 or invalid UTF-8, and everything nanocell adds
 * is ASCII: the output must be printable ASCII, newlines and tabs. */
static void expect_harmless(const char *what, const strbuf *sb)
{
    for (size_t i = 0; i < sb->len; i++) {
        unsigned char c = (unsigned char)sb->buf[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c >= 0x7f)
            fail_msg("%s: byte 0x%02x at offset %zu of %zu reaches the terminal", what, c, i,
                     sb->len); /* the text itself is not shown: it would drive this terminal */
    }
}

static void expect_contains(const char *what, const strbuf *sb, const char *want)
{
    if (!strstr(strbuf_str(sb), want))
        fail_msg("%s: no '%s' in:\n%s", what, want, strbuf_str(sb));
}

static void test_doctor(void **state)
{
    (void)state;
    const struct fake_exchange script[] = {
        {.method = "GET", .path = "/_ping", .response = HOSTILE_PING},
        {.method = "GET", .path = "/v1.41/info", .response = fake_json(200, HOSTILE_INFO)},
        {.method = "GET", .path = "/v1.41/version", .response = fake_json(200, HOSTILE_INFO)},
        /* doctor checks that the agent image is there: a hostile error text comes back. */
        {.method = "GET",
         .path = "/v1.41/images/*",
         .response = fake_json(404, "{\"message\":\"no such image \\u001b]0;PWN\\u0007\"}")},
        /* sandbox.runtime = auto looks for crun among the runtimes: not listed, no trial. */
        {.method = "GET", .path = "/v1.41/info", .response = fake_json(200, HOSTILE_INFO)},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    _cleanup_free_ char *cfg = write_config();
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    _cleanup_strbuf_ strbuf err = STRBUF_INIT;
    const char *args[] = {"doctor", "--config", cfg, "--host", host, NULL};
    run_nanocell(args, &out, &err);
    expect_harmless("doctor's stdout", &out);
    expect_harmless("doctor's stderr", &err);
    /* Each field is there, made visible. */
    expect_contains("doctor", &out, "engine      Docker ?]0;PWN? at unix://");
    expect_contains("doctor", &out, "from 1.?[2J12");
    expect_contains("doctor", &out, "runtimes    run?c");
    expect_contains("doctor", &out, "default rt  ru?nc");
    expect_contains("doctor", &out, "v2?, sys?temd driver");
    expect_contains("doctor", &out, "host        ??31mOS, kernel ?]52;c;aGk=?");
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("fake engine: %s", report);
}

/* The run log of the only run in the test's data dir. */
static void read_run_log(strbuf *out)
{
    _cleanup_free_ char *logs = xasprintf("%s/data/groups/default/logs", dir);
    DIR *d = opendir(logs);
    assert_non_null(d);
    struct dirent *e;
    bool found = false;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "run-", 4) != 0)
            continue;
        _cleanup_free_ char *p = xasprintf("%s/%s", logs, e->d_name);
        assert_int_equal(read_file(p, 1 << 20, out, NULL), 0);
        found = true;
    }
    closedir(d);
    if (!found)
        fail_msg("no run log in %s", logs);
}

static void test_run(void **state)
{
    (void)state;
    /* After the ping, the orphan lookup gets the JSON error and the image inspect a body that is
     * not JSON, with a raw 0x9b byte, ESC and BEL. */
    const char *error = fake_json(500, HOSTILE_ERROR);
    const char *not_json = fake_text(500, "text/plain",
                                     "raw \x9b"
                                     "2J \x1b]0;PWN\x07 body");
    const struct fake_exchange script[] = {
        {.method = "GET", .path = "/_ping", .response = HOSTILE_PING},
        {.method = "GET", .path = "/v1.41/containers/json*", .response = error},
        {.method = "GET", .path = "/v1.41/images/*", .response = not_json},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    _cleanup_free_ char *cfg = write_config();
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    _cleanup_strbuf_ strbuf err = STRBUF_INIT;
    const char *args[] = {"run", "--config", cfg, "--host", host, "--", "hello", NULL};
    int rc = run_nanocell(args, &out, &err);
    assert_int_equal(rc, 3); /* the engine failed */
    expect_harmless("run's stdout", &out);
    expect_harmless("run's stderr", &err);
    expect_contains("run", &err, "nanocell: engine Docker ?]0;PWN???2J? (API 1.41) at unix://");
    expect_contains("run", &err, "no such thing ??2J  ]52;c;aGk=");
    expect_contains("run", &err, "500 raw ?2J  ]0;PWN  body");
    _cleanup_strbuf_ strbuf log = STRBUF_INIT;
    read_run_log(&log);
    expect_harmless("the run log", &log);
    expect_contains("the run log", &log, "\nengine: Docker ?]0;PWN???2J? (API 1.41) at unix://");
    expect_contains("the run log", &log, "\noutcome: ");
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("fake engine: %s", report);
}

/* Two containers with hostile labels, state and status (the engine client drops entries whose
 * id is not a plain reference). No owner label: gc takes them for orphans. */
#define HOSTILE_LIST                                                                               \
    "[{\"Id\":\"abcdef0123456789\",\"Names\":[\"/n\\u001b[2J\"],\"Image\":\"i\\u0007\","           \
    "\"State\":\"ex\\u009bited\",\"Status\":\"Exited \\u001b]52;c;aGk=\\u0007\",\"Created\":1,"    \
    "\"Labels\":{\"nanocell.install\":\"x\",\"nanocell.group\":\"g\\u001b]0;PWN\\u0007\","         \
    "\"nanocell.run\":\"r\\r\\n1\"}},"                                                             \
    "{\"Id\":\"0123456789abcdef\",\"Names\":[\"/m\"],\"State\":\"exited\","                        \
    "\"Labels\":{\"nanocell.install\":\"x\",\"nanocell.group\":\"g\"}}]"

static void test_ps(void **state)
{
    (void)state;
    const struct fake_exchange script[] = {
        {.method = "GET", .path = "/_ping", .response = HOSTILE_PING},
        {.method = "GET",
         .path = "/v1.41/containers/json*",
         .response = fake_json(200, HOSTILE_LIST)},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    _cleanup_free_ char *cfg = write_config();
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    _cleanup_strbuf_ strbuf err = STRBUF_INIT;
    const char *args[] = {"ps", "--config", cfg, "--host", host, NULL};
    assert_int_equal(run_nanocell(args, &out, &err), 0);
    expect_harmless("ps's stdout", &out);
    expect_harmless("ps's stderr", &err);
    expect_contains("ps", &out, "\nabcdef012345  g?]0;PWN?");
    expect_contains("ps", &out, "  r??1 ");
    expect_contains("ps", &out, "  ex??ited ");
    expect_contains("ps", &out, "  Exited ?]52;c;aGk=?\n");
    expect_contains("ps", &out, "\n0123456789ab  g ");
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("fake engine: %s", report);
}

static void test_gc(void **state)
{
    (void)state;
    const struct fake_exchange script[] = {
        {.method = "GET", .path = "/_ping", .response = HOSTILE_PING},
        {.method = "GET",
         .path = "/v1.41/containers/json*",
         .response = fake_json(200, HOSTILE_LIST)},
        {.method = "DELETE",
         .path = "/v1.41/containers/abcdef0123456789?v=1&force=1",
         .response = fake_headers_only(204, NULL)},
        {.method = "DELETE",
         .path = "/v1.41/containers/0123456789abcdef?v=1&force=1",
         .response = fake_json(500, HOSTILE_ERROR)},
    };
    fe = fake_engine_start(script, NC_ARRAY_SIZE(script), NULL);
    _cleanup_free_ char *cfg = write_config();
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    _cleanup_strbuf_ strbuf err = STRBUF_INIT;
    const char *args[] = {"gc", "--config", cfg, "--host", host, NULL};
    assert_int_equal(run_nanocell(args, &out, &err), 1); /* one removal failed */
    expect_harmless("gc's stdout", &out);
    expect_harmless("gc's stderr", &err);
    expect_contains("gc", &out, "removed abcdef012345 (group g?]0;PWN?, ex??ited)\n");
    expect_contains("gc", &err,
                    "nanocell: error: remove container 0123456789ab: 500 no such thing ??2J  ]52");
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("fake engine: %s", report);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_doctor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
    };
    return cmocka_run_group_tests_name("hostile_engine", tests, NULL, NULL);
}
