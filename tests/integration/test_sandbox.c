/* The hardened sandbox against a real engine (NANOCELL_TEST_SOCKET, NANOCELL_TEST_ENGINE =
 * docker, podman or rootless-podman; NANOCELL_TEST_HOST, when set, is the address used instead).
 *
 * The escape probe (tests/probe/probe.c, in the nanocell-test image) runs in a container that
 * nanocell prepared, launched and verified with its default settings, and every one of its
 * checks is asserted as a test of its own, on Docker and rootful Podman with the default
 * config and no waiver. Then: an OOM-killed container is reported as such, Podman's container
 * has its own cgroup namespace, and rootless Podman's ignored memory, pids and CPU limits are
 * refused, saying why, unless waived, its container user writing files as the engine's user. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "engine/container.h"
#include "engine/demux.h"
#include "orch/owner.h"
#include "sandbox/launch.h"
#include "sandbox/prepare.h"
#include "util/fileutil.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#define TEST_IMAGE "nanocell-test:latest"

static const char *engine_name;
static engine *eng;
static nc_config *cfg;
static char *tmpdir;
static char *probe_out;
static int probe_exit = -1;
static char *probe_report;

static bool is_podman(void)
{
    return strstr(engine_name, "podman") != NULL;
}

static bool is_rootless(void)
{
    return strcmp(engine_name, "rootless-podman") == 0;
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

/* Prepares and launches cmd with the current configuration, the group folder and extra (a
 * mount of nanocell's own, or NULL); returns the launch result. */
static int launch_with(char *const *cmd, const char *tag, const sandbox_mount *extra,
                       sandbox_container **ret, nc_error **err)
{
    _cleanup_free_ char *group_dir = xasprintf("%s/group-%s", tmpdir, tag);
    mkdir_p(group_dir, 0755, NULL);
    /* Rootless Podman runs the container user as the engine's user (keep-id): the folder is
     * that user's, as when nanocell runs as that user. */
    struct stat sock = {.st_uid = 1000, .st_gid = 1000};
    if (is_rootless() && stat(getenv("NANOCELL_TEST_SOCKET"), &sock) < 0)
        fail_msg("stat the engine socket: %s", strerror(errno));
    if (chown(group_dir, sock.st_uid, sock.st_gid) < 0)
        fail_msg("chown: %s", strerror(errno));
    sandbox_mount own[2] = {{.source = group_dir, .target = "/workspace/group"}};
    if (extra)
        own[1] = *extra;
    _cleanup_free_ char *run = xasprintf("test-%s-%d", tag, getpid());
    _cleanup_free_ char *owner = owner_self();
    sandbox_request req = {
        .cfg = cfg,
        .group = "probe",
        .engine = eng,
        .image = TEST_IMAGE,
        .cmd = cmd,
        .run_id = run,
        .owner = owner,
        .own = own,
        .nown = extra ? 2 : 1,
    };
    _cleanup_prepared_ sandbox_prepared *p = NULL;
    int r = sandbox_prepare(&req, &p, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *name = xasprintf("nanocell-test-%s-%d", tag, getpid());
    return sandbox_launch(eng, &p->spec, name, NULL, ret, err);
}

static int launch(char *const *cmd, const char *tag, sandbox_container **ret, nc_error **err)
{
    return launch_with(cmd, tag, NULL, ret, err);
}

/* Closes stdin, reads the demultiplexed output until EOF, waits for the exit status. */
static int run_to_end(sandbox_container *c, struct collected *out, int64_t *code, bool *oom)
{
    nc_error *err = NULL;
    assert_int_equal(engine_attach_close_stdin(c->attach, &err), 0);
    demux d;
    demux_init(&d, false);
    char buf[65536];
    uint64_t give_up = mono_ms() + 120000;
    for (;;) {
        ssize_t n = engine_attach_read(c->attach, buf, sizeof(buf), &err);
        if (n == -EAGAIN) {
            struct pollfd p[2] = {{.fd = engine_attach_fd(c->attach), .events = POLLIN},
                                  {.fd = c->oom ? oomwatch_fd(c->oom) : -1, .events = POLLIN}};
            assert_true(mono_ms() < give_up);
            poll(p, 2, 1000);
            if (c->oom && (p[1].revents & POLLIN))
                oomwatch_check(c->oom);
            continue;
        }
        if (n <= 0)
            break;
        assert_int_equal(demux_feed(&d, buf, (size_t)n, collect_cb, out, NULL), 0);
    }
    demux_release(&d);
    int r = engine_wait_end(eng, c->wait, 60000, 2000, code, &err);
    engine_state st = {0};
    assert_int_equal(engine_container_state(eng, c->id, &st, NULL), 0);
    *oom = st.oom_killed || (c->oom && oomwatch_check(c->oom));
    engine_state_release(&st);
    return r;
}

static int listener_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(*fd, 4), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/* Runs the probe once; each check is then its own test. */
static int probe_setup(void **state)
{
    (void)state;
    if (is_rootless())
        return 0;
    int lfd;
    int port = listener_port(&lfd);
    _cleanup_free_ char *secret = xasprintf("%s/host-secret", tmpdir);
    write_file_atomic(secret, "s3cret\n", 7, 0644, NULL);
    _cleanup_free_ char *ports = xasprintf("%d", port);
    _cleanup_free_ char *pids = xasprintf("%lld", (long long)cfg->sandbox.pids_limit);
    _cleanup_free_ char *mem = xasprintf("%llu", (unsigned long long)cfg->sandbox.memory);
    char *cmd[] = {"/usr/bin/nanocell-probe",
                   "all",
                   "--pids-limit",
                   pids,
                   "--mem-limit",
                   mem,
                   "--host-port",
                   ports,
                   "--host-file",
                   secret,
                   NULL};
    sandbox_container *c = NULL;
    nc_error *err = NULL;
    if (launch(cmd, "probe", &c, &err) < 0) {
        fprintf(stderr, "launch: %s\n", nc_error_msg(err));
        nc_error_free(err);
        close(lfd);
        return 0; /* every check then fails, naming the launch */
    }
    probe_report = xstrdup(strbuf_str(&c->report));
    struct collected out = {STRBUF_INIT, STRBUF_INIT};
    int64_t code = -1;
    bool oom = false;
    run_to_end(c, &out, &code, &oom);
    probe_exit = (int)code;
    probe_out = strbuf_detach(&out.out, NULL);
    fprintf(stderr, "# probe output (exit %d):\n%s", probe_exit, probe_out); /* for the log */
    if (out.err.len)
        fprintf(stderr, "probe stderr: %s\n", out.err.buf);
    strbuf_release(&out.err);
    sandbox_container_remove(eng, c, NULL);
    close(lfd);
    return 0;
}

/* The engine's masks, as the runtime check saw them: this host's kernel has /proc/keys,
 * /proc/timer_list, /proc/acpi and /sys/firmware (some kernels lack /proc/kcore). */
static void expect_system_paths(const char *report)
{
    const char *const want[] = {"ok runtime.masked./proc/keys\n",
                                "ok runtime.masked./sys/firmware\n",
                                "ok runtime.readonly./proc/sys\n", "ok runtime.readonly./sys\n"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(want); i++)
        if (!strstr(report, want[i]))
            fail_msg("the report lacks '%s':\n%s", want[i], report);
}

/* The probe's line for check name: "PASS name: ..." or "FAIL name: ...". */
static void test_probe_check(void **state)
{
    const char *name = *state;
    if (!probe_out)
        fail_msg("the probe did not run (see the launch error above)");
    _cleanup_free_ char *pass = xasprintf("\nPASS %s:", name);
    _cleanup_free_ char *fail = xasprintf("\nFAIL %s:", name);
    _cleanup_free_ char *text = xasprintf("\n%s", probe_out);
    const char *f = strstr(text, fail);
    if (f) {
        const char *end = strchr(f + 1, '\n');
        fail_msg("%.*s", end ? (int)(end - f - 1) : (int)strlen(f + 1), f + 1);
    }
    if (!strstr(text, pass))
        fail_msg("the probe did not report check '%s'", name);
}

static void test_probe_status(void **state)
{
    (void)state;
    if (is_rootless())
        skip();
    if (!probe_out)
        fail_msg("the probe did not run");
    const char *const want[] = {"INFO CapEff: 0000000000000000", "INFO CapPrm: 0000000000000000",
                                "INFO CapBnd: 0000000000000000", "INFO NoNewPrivs: 1",
                                "INFO Seccomp: 2"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(want); i++)
        if (!strstr(probe_out, want[i]))
            fail_msg("probe output lacks '%s'", want[i]);
    if (probe_exit != 0)
        fail_msg("the probe exited %d (a check failed)", probe_exit);
    /* The verification report went through every runtime check. */
    assert_non_null(strstr(probe_report, "ok runtime.Seccomp\n"));
    assert_non_null(strstr(probe_report, "ok runtime.cgroup.memory\n"));
    assert_non_null(strstr(probe_report, "ok HostConfig.SecurityOpt.seccomp\n"));
    assert_non_null(strstr(probe_report, "ok runtime.ns.cgroup\n"));
    assert_null(strstr(probe_report, "waived"));
    expect_system_paths(probe_report);
    if (!is_podman())
        assert_non_null(strstr(probe_report, "ok HostConfig.MaskedPaths\n"));
}

/* Allocating past the memory limit: the container is OOM-killed and that is what is reported,
 * whether or not the engine noticed. */
static void test_oom_reported(void **state)
{
    (void)state;
    if (is_rootless())
        skip();
    uint64_t saved = cfg->sandbox.memory;
    cfg->sandbox.memory = 64u * 1024 * 1024;
    char *cmd[] = {"/usr/bin/nanocell-probe", "oom", NULL};
    sandbox_container *c = NULL;
    nc_error *err = NULL;
    int r = launch(cmd, "oom", &c, &err);
    cfg->sandbox.memory = saved;
    if (r < 0)
        fail_msg("launch: %s", nc_error_msg(err));
    struct collected out = {STRBUF_INIT, STRBUF_INIT};
    int64_t code = -1;
    bool oom = false;
    run_to_end(c, &out, &code, &oom);
    sandbox_container_remove(eng, c, NULL);
    strbuf_release(&out.out);
    strbuf_release(&out.err);
    assert_int_equal(code, 137);
    assert_true(oom);
}

/* The mode of the seccomp profile written for Podman (the one file in data_dir/seccomp). */
static mode_t seccomp_file_mode(void)
{
    _cleanup_free_ char *dir = xasprintf("%s/seccomp", cfg->data_dir);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("opendir '%s': %s", dir, strerror(errno));
    struct dirent *de;
    mode_t mode = 0;
    size_t n = 0;
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".json"))
            continue;
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        mode = st.st_mode & 07777;
        n++;
    }
    closedir(d);
    assert_int_equal(n, 1);
    return mode;
}

/* Rootful Podman with the default config and no waiver: created through libpod, the container
 * has a cgroup namespace of its own (Podman 4's compat API would have left it in the host's). */
static void test_podman_cgroupns_private(void **state)
{
    (void)state;
    if (!is_podman() || is_rootless())
        skip();
    assert_true(!cfg->sandbox.allow_unenforced || !cfg->sandbox.allow_unenforced[0]);
    char *cmd[] = {"/bin/cat", NULL};
    sandbox_container *c = NULL;
    nc_error *err = NULL;
    int r = launch(cmd, "cgns", &c, &err);
    if (r < 0)
        fail_msg("launch on Podman with no waiver: %s", nc_error_msg(err));
    const char *report = strbuf_str(&c->report);
    if (!strstr(report, "ok runtime.ns.cgroup\n") ||
        !strstr(report, "note create: Podman's libpod API") || strstr(report, "waived"))
        fail_msg("report:\n%s", report);
    struct collected out = {STRBUF_INIT, STRBUF_INIT};
    int64_t code = -1;
    bool oom = false;
    run_to_end(c, &out, &code, &oom);
    sandbox_container_remove(eng, c, NULL);
    strbuf_release(&out.out);
    strbuf_release(&out.err);
    assert_int_equal(code, 0);
    /* Root reads it: nobody else needs to. */
    assert_int_equal(seccomp_file_mode(), 0600);
}

/* Rootless Podman 4 on cgroup v1 says at create that it ignores the memory, pids and CPU
 * limits: refused, saying why and what would make them work. Waived, the turn runs with
 * everything else enforced (ulimits, its own cgroup namespace), and the container user is the
 * engine's user on the host (keep-id): a file it writes in the group folder is that user's. */
static void test_rootless_limits_refused(void **state)
{
    (void)state;
    if (!is_rootless())
        skip();
    char *cmd[] = {"/bin/sh", "-c", "cat >/dev/null; touch /workspace/group/written", NULL};
    sandbox_container *c = NULL;
    nc_error *err = NULL;
    int r = launch(cmd, "rootless", &c, &err);
    if (r != -EPERM)
        fail_msg("launch on rootless Podman: %d %s", r, nc_error_msg(err));
    assert_null(c);
    const char *const named[] = {"rootless Podman cannot enforce limits on cgroup v1",
                                 "cgroup v2 with the memory, pids and cpu controllers delegated",
                                 "sandbox.allow_unenforced = [\"memory\", \"pids\", \"cpu\"]"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(named); i++)
        if (!strstr(err->msg, named[i]))
            fail_msg("'%s' not named in: %s", named[i], err->msg);
    nc_error_free(err);
    err = NULL;
    /* Waived explicitly, the turn runs, and the report says what was waived. */
    char **saved = cfg->sandbox.allow_unenforced;
    cfg->sandbox.allow_unenforced = (char *[]){"memory", "pids", "cpu", NULL};
    r = launch(cmd, "rootless2", &c, &err);
    cfg->sandbox.allow_unenforced = saved;
    if (r < 0)
        fail_msg("waived launch: %s", nc_error_msg(err));
    const char *report = strbuf_str(&c->report);
    const char *const want[] = {"waived create.warning",         "waived HostConfig.Memory",
                                "waived runtime.cgroup.memory",  "waived runtime.cgroup.pids",
                                "ok runtime.Seccomp\n",          "ok runtime.ns.cgroup\n",
                                "ok HostConfig.Ulimits.nproc\n", "ok runtime.Uid\n"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(want); i++)
        if (!strstr(report, want[i]))
            fail_msg("the report lacks '%s':\n%s", want[i], report);
    expect_system_paths(report);
    struct collected out = {STRBUF_INIT, STRBUF_INIT};
    int64_t code = -1;
    bool oom = false;
    run_to_end(c, &out, &code, &oom);
    sandbox_container_remove(eng, c, NULL);
    if (code != 0)
        fail_msg("exit %lld, stderr '%s'", (long long)code, strbuf_str(&out.err));
    strbuf_release(&out.out);
    strbuf_release(&out.err);
    struct stat sock, file;
    _cleanup_free_ char *written = xasprintf("%s/group-rootless2/written", tmpdir);
    assert_int_equal(stat(getenv("NANOCELL_TEST_SOCKET"), &sock), 0);
    if (stat(written, &file) < 0)
        fail_msg("stat '%s': %s", written, strerror(errno));
    if (file.st_uid != sock.st_uid || file.st_gid != sock.st_gid)
        fail_msg("'%s' is owned by %u:%u, not by the engine's user %u:%u", written,
                 (unsigned)file.st_uid, (unsigned)file.st_gid, (unsigned)sock.st_uid,
                 (unsigned)sock.st_gid);
    /* Another user's rootless service must read the profile; a private file would not do. */
    assert_int_equal(seccomp_file_mode(), geteuid() == sock.st_uid ? 0600 : 0644);
}

/* Extra mounts, from inside: an allowlisted directory is there and read-only, and a filesystem
 * mounted below a source on the host does not come along (non-recursive binds). */
static void test_bind_mounts(void **state)
{
    (void)state;
    if (is_rootless())
        skip(); /* the rootless engine's users cannot reach this test's root-owned folders */
    _cleanup_free_ char *allowed = xasprintf("%s/allowed", tmpdir);
    _cleanup_free_ char *docs = xasprintf("%s/docs", allowed);
    _cleanup_free_ char *nested = xasprintf("%s/nested", tmpdir);
    _cleanup_free_ char *sub = xasprintf("%s/sub", nested);
    _cleanup_free_ char *hello = xasprintf("%s/hello", docs);
    _cleanup_free_ char *list = xasprintf("%s/allowlist.toml", tmpdir);
    _cleanup_free_ char *listed = xasprintf("[[root]]\npath = \"%s\"\n", allowed);
    assert_int_equal(mkdir_p(docs, 0755, NULL), 0);
    assert_int_equal(mkdir_p(sub, 0755, NULL), 0);
    assert_int_equal(write_file_atomic(hello, "visible\n", 8, 0644, NULL), 0);
    assert_int_equal(write_file_atomic(list, listed, strlen(listed), 0644, NULL), 0);
    bool mounted = mount("tmpfs", sub, "tmpfs", 0, "size=1m") == 0;
    if (mounted) {
        _cleanup_free_ char *hidden = xasprintf("%s/hidden", sub);
        assert_int_equal(write_file_atomic(hidden, "host\n", 5, 0644, NULL), 0);
    } else {
        print_message("# no tmpfs below the source (%s): only the read-only checks run\n",
                      strerror(errno));
    }
    sandbox_mount extra = {
        .source = nested, .target = "/workspace/extra/nested", .read_only = true};
    _cleanup_free_ char *want = xasprintf("%s:docs", docs);
    char *mounts[] = {want, NULL};
    char **saved_mounts = cfg->sandbox.mounts;
    char *saved_list = cfg->mount_allowlist;
    cfg->sandbox.mounts = mounts;
    cfg->mount_allowlist = list;
    /* It waits for its stdin, as an agent does, so that it is still there to be verified. */
    char *cmd[] = {
        "/bin/sh", "-c",
        "cat >/dev/null; cat /workspace/extra/docs/hello; touch /workspace/extra/docs/new && echo "
        "WROTE; ls -A /workspace/extra/nested/sub; echo END",
        NULL};
    sandbox_container *c = NULL;
    nc_error *err = NULL;
    int r = launch_with(cmd, "binds", &extra, &c, &err);
    cfg->sandbox.mounts = saved_mounts;
    cfg->mount_allowlist = saved_list;
    if (mounted && umount(sub) < 0)
        fail_msg("umount '%s': %s", sub, strerror(errno));
    if (r < 0)
        fail_msg("launch: %s", nc_error_msg(err));
    assert_non_null(strstr(strbuf_str(&c->report), "ok runtime.mounts./workspace/extra/docs\n"));
    struct collected out = {STRBUF_INIT, STRBUF_INIT};
    int64_t code = -1;
    bool oom = false;
    run_to_end(c, &out, &code, &oom);
    sandbox_container_remove(eng, c, NULL);
    const char *o = strbuf_str(&out.out);
    if (strcmp(o, "visible\nEND\n") != 0 || !strstr(strbuf_str(&out.err), "Read-only file system"))
        fail_msg("stdout '%s', stderr '%s'", o, strbuf_str(&out.err));
    strbuf_release(&out.out);
    strbuf_release(&out.err);
}

/* Nothing of this test is left on the engine. */
static void test_nothing_left(void **state)
{
    (void)state;
    _cleanup_free_ char *label = xasprintf(NC_LABEL_INSTALL "=%s", cfg->install_id);
    char *labels[] = {label, NULL};
    engine_container_summary *s = NULL;
    size_t n = 99;
    assert_int_equal(engine_container_list(eng, labels, &s, &n, NULL), 0);
    engine_container_summaries_free(s, n);
    assert_int_equal(n, 0);
}

static const char *const probe_checks[] = {
    "identity",      "proc-status",     "write-root",
    "tmp-noexec",    "read-host-file",  "cap-raise",
    "setuid-binary", "userns",          "mountns",
    "netns",         "mount",           "ptrace",
    "bpf",           "keyctl",          "io-uring",
    "userfaultfd",   "perf-event-open", "open-by-handle-at",
    "init-module",   "kexec",           "af-packet",
    "af-alg",        "af-vsock",        "af-netlink-other",
    "network",       "tiocsti",         "tioclinux",
    "fork-limit",    "memory-limit",    "engine-socket",
    "proc-sys",      "devices",         "env",
    "chroot",
};

int main(void)
{
    const char *sock = getenv("NANOCELL_TEST_SOCKET");
    engine_name = getenv("NANOCELL_TEST_ENGINE");
    if (!sock || !engine_name) {
        printf("1..0 # SKIP NANOCELL_TEST_SOCKET and NANOCELL_TEST_ENGINE are not set\n");
        return 0;
    }
    char tmpl[] = "/tmp/nanocell-sandbox-XXXXXX";
    tmpdir = xstrdup(mkdtemp(tmpl));
    chmod(tmpdir, 0755); /* a rootless engine's user must reach the group folder */
    cfg = config_defaults();
    free(cfg->data_dir);
    cfg->data_dir = xasprintf("%s/data", tmpdir);
    free(cfg->install_id);
    cfg->install_id = xasprintf("sbx%d", getpid());
    nc_error *err = NULL;
    if (config_resolve(cfg, &err) < 0) {
        fprintf(stderr, "config: %s\n", nc_error_msg(err));
        return 1;
    }
    /* NANOCELL_TEST_HOST, when set, is the engine's full address (tests/cli/engine_tls.sh: a
     * tcp engine, TLS from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH). */
    const char *th = getenv("NANOCELL_TEST_HOST");
    _cleanup_free_ char *host = th && *th ? xstrdup(th) : xasprintf("unix://%s", sock);
    engine_opts o = {.host = host, .host_source = "test"};
    if (engine_open(&o, NULL, &eng, &err) < 0) {
        fprintf(stderr, "engine: %s\n", nc_error_msg(err));
        return 1;
    }
    const struct CMUnitTest others[] = {
        cmocka_unit_test(test_probe_status),
        cmocka_unit_test(test_oom_reported),
        cmocka_unit_test(test_podman_cgroupns_private),
        cmocka_unit_test(test_rootless_limits_refused),
        cmocka_unit_test(test_bind_mounts),
        cmocka_unit_test(test_nothing_left),
    };
    size_t n = NC_ARRAY_SIZE(probe_checks);
    struct CMUnitTest *tests = xcalloc(n + NC_ARRAY_SIZE(others), sizeof(*tests));
    for (size_t i = 0; i < n; i++)
        tests[i] = (struct CMUnitTest){.name = xasprintf("probe %s", probe_checks[i]),
                                       .test_func = test_probe_check,
                                       .initial_state = (void *)probe_checks[i]};
    for (size_t i = 0; i < NC_ARRAY_SIZE(others); i++)
        tests[n++] = others[i];
    /* Rootless Podman refuses the default launch (the point of its test), so the probe's own
     * checks run on the other engines only. */
    size_t first = is_rootless() ? NC_ARRAY_SIZE(probe_checks) : 0;
    int failed = _cmocka_run_group_tests(engine_name, tests + first, n - first, probe_setup, NULL);
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s'", tmpdir);
    if (system(rm) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    engine_free(eng);
    config_free(cfg);
    return failed;
}
