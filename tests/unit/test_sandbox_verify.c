/* The hardened spec and its verification.
 * - The create body holds every hardening field, in each engine's form.
 * - Inspect: an engine-shaped inspect document (Docker's or Podman's, as both really answer)
 *   passes; weakening any single field makes sandbox_launch refuse the container, name the
 *   field, and remove it, all through the fake engine.
 * - Runtime: a prepared /proc and cgroup tree passes; weakening any single fact fails, and
 *   the documented waivers turn exactly their failure into "waived". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "sandbox/launch.h"
#include "sandbox/prepare.h"
#include "sandbox/spec.h"
#include "sandbox/verify.h"
#include "support/fake_engine.h"
#include "util/fileutil.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#define SECCOMP_JSON "{\"defaultAction\":\"SCMP_ACT_ERRNO\"}"
#define SECCOMP_PATH "/var/lib/nanocell/seccomp/abc.json"

static nc_config *cfg;
/* dev and ino are filled by build_tree for the runtime tests. */
static sandbox_mount test_mounts[] = {
    {.source = "/srv/groups/g1", .target = "/workspace/group"},
    {.source = "/srv/extra/docs", .target = "/workspace/extra/docs", .read_only = true},
};

static sandbox_spec make_spec(engine_kind kind)
{
    return (sandbox_spec){
        .settings = &cfg->sandbox,
        .image = "nanocell-test:latest",
        .install_id = "inst1",
        .group = "g1",
        .run_id = "run1",
        .owner = "boot/1/2",
        .mounts = test_mounts,
        .nmounts = 2,
        .seccomp_json = SECCOMP_JSON,
        .seccomp_path = SECCOMP_PATH,
        .seccomp_digest = "abc",
        .kind = kind,
        .api_minor = 41,
    };
}

static int setup(void **state)
{
    (void)state;
    cfg = config_defaults();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    config_free(cfg);
    fake_free_responses();
    return 0;
}

static nc_json *build(const sandbox_spec *s)
{
    strbuf out = STRBUF_INIT;
    nc_error *err = NULL;
    if (sandbox_spec_json(s, &out, &err) < 0)
        fail_msg("spec: %s", nc_error_msg(err));
    nc_json *root = NULL;
    assert_int_equal(json_parse(out.buf, out.len, &root, NULL), 0);
    strbuf_release(&out);
    return root;
}

static const char *str_at(const nc_json *root, const char *a, const char *b)
{
    return json_string(json_get(b ? json_get(root, a) : root, b ? b : a));
}

static void test_spec_docker(void **state)
{
    (void)state;
    sandbox_spec s = make_spec(ENGINE_DOCKER);
    _cleanup_json_ nc_json *j = build(&s);
    const nc_json *hc = json_get(j, "HostConfig");
    bool b;
    int64_t i;
    assert_string_equal(str_at(j, "User", NULL), "1000:1000");
    assert_true(json_bool(json_get(j, "OpenStdin"), &b) && b);
    assert_true(json_bool(json_get(j, "StdinOnce"), &b) && b);
    assert_true(json_bool(json_get(j, "Tty"), &b) && !b);
    assert_string_equal(str_at(json_get(j, "Labels"), "nanocell.install", NULL), "inst1");
    assert_string_equal(str_at(json_get(j, "Labels"), "nanocell.owner", NULL), "boot/1/2");
    assert_true(json_bool(json_get(hc, "ReadonlyRootfs"), &b) && b);
    assert_true(json_bool(json_get(hc, "Privileged"), &b) && !b);
    assert_string_equal(json_string(json_array_at(json_get(hc, "CapDrop"), 0)), "ALL");
    assert_int_equal(json_array_len(json_get(hc, "CapAdd")), 0);
    assert_string_equal(json_string(json_array_at(json_get(hc, "SecurityOpt"), 0)),
                        "no-new-privileges");
    assert_string_equal(json_string(json_array_at(json_get(hc, "SecurityOpt"), 1)),
                        "seccomp=" SECCOMP_JSON);
    assert_string_equal(str_at(hc, "NetworkMode", NULL), "none");
    assert_true(json_int(json_get(hc, "PidsLimit"), &i) && i == 256);
    assert_true(json_int(json_get(hc, "Memory"), &i) && i == 512 * 1024 * 1024);
    assert_true(json_int(json_get(hc, "MemorySwap"), &i) && i == 512 * 1024 * 1024);
    assert_true(json_int(json_get(hc, "NanoCpus"), &i) && i == 1000000000);
    assert_null(json_get(hc, "CpuQuota"));
    assert_null(json_get(hc, "OomKillDisable"));
    assert_null(json_get(hc, "MaskedPaths"));
    assert_int_equal(json_array_len(json_get(hc, "Ulimits")), 3);
    assert_string_equal(str_at(json_array_at(json_get(hc, "Ulimits"), 2), "Name", NULL), "core");
    assert_string_equal(str_at(json_get(hc, "Tmpfs"), "/tmp", NULL),
                        "rw,noexec,nosuid,nodev,size=67108864");
    assert_int_equal(json_object_len(json_get(hc, "Tmpfs")), 1);
    assert_string_equal(str_at(hc, "IpcMode", NULL), "private");
    assert_string_equal(str_at(hc, "CgroupnsMode", NULL), "private");
    assert_true(json_bool(json_get(hc, "Init"), &b) && b);
    assert_true(json_bool(json_get(hc, "AutoRemove"), &b) && !b);
    assert_string_equal(str_at(json_get(hc, "LogConfig"), "Type", NULL), "none");
    assert_int_equal(json_array_len(json_get(hc, "Devices")), 0);
    const nc_json *m = json_array_at(json_get(hc, "Mounts"), 1);
    assert_string_equal(str_at(m, "Source", NULL), "/srv/extra/docs");
    assert_true(json_bool(json_get(m, "ReadOnly"), &b) && b);
    assert_string_equal(str_at(json_get(m, "BindOptions"), "Propagation", NULL), "rprivate");
    assert_true(json_bool(json_get(json_get(m, "BindOptions"), "NonRecursive"), &b) && b);
}

static void test_spec_podman_and_api44(void **state)
{
    (void)state;
    sandbox_spec s = make_spec(ENGINE_PODMAN);
    s.api_minor = 44;
    _cleanup_json_ nc_json *j = build(&s);
    const nc_json *hc = json_get(j, "HostConfig");
    assert_string_equal(json_string(json_array_at(json_get(hc, "SecurityOpt"), 1)),
                        "seccomp=" SECCOMP_PATH);
    const char *const want[] = {"/tmp", "/var/tmp", "/run", "/dev/shm"};
    for (size_t k = 0; k < NC_ARRAY_SIZE(want); k++)
        assert_string_equal(str_at(json_get(hc, "Tmpfs"), want[k], NULL),
                            "rw,noexec,nosuid,nodev,size=67108864");
    /* Refusals. */
    s.seccomp_path = NULL;
    strbuf out = STRBUF_INIT;
    nc_error *err = NULL;
    assert_int_equal(sandbox_spec_json(&s, &out, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "no seccomp profile for the Podman engine"));
    nc_error_free(err);
    strbuf_release(&out);
}

/* --- engine-shaped inspect documents --- */

/* One field of the inspect document per member; the defaults match the spec. */
struct inspect {
    engine_kind kind;
    const char *user;
    bool ro;
    bool privileged;
    bool drop_all;         /* Docker: CapDrop ["ALL"]; Podman: the default list */
    const char *skip_drop; /* Podman: a default cap left out of CapDrop */
    const char *cap_add;
    bool nnp;
    const char *seccomp; /* the SecurityOpt seccomp entry */
    const char *network;
    int64_t pids, memory, swap, nano, quota, period;
    bool oom_kill_disable;
    int64_t nofile, nproc, core;
    const char *tmp_opts;
    const char *ipc, *cgroupns, *pid_mode, *userns;
    bool init;
    bool device, port;
    enum paths { PATHS_DEFAULT, PATHS_MISSING, PATHS_EMPTY, PATHS_ONE_LESS } masked, readonly;
    const char *mount_src; /* of /workspace/group */
    bool extra_ro;         /* /workspace/extra/docs */
    bool socket_mount;
    const char *propagation; /* of every mount */
    const char *runtime;
    const char *home;      /* a tmpfs besides the engine's (HOME), when set */
    const char *home_opts; /* its options; NULL leaves it out */
};

static struct inspect inspect_defaults(engine_kind kind)
{
    return (struct inspect){
        .kind = kind,
        .user = "1000:1000",
        .ro = true,
        .drop_all = true,
        .nnp = true,
        .seccomp = kind == ENGINE_PODMAN ? "seccomp=" SECCOMP_PATH : "seccomp=" SECCOMP_JSON,
        .network = "none",
        .pids = 256,
        .memory = 536870912,
        .swap = 536870912,
        .nano = 1000000000,
        .quota = kind == ENGINE_PODMAN ? 100000 : 0,
        .period = kind == ENGINE_PODMAN ? 100000 : 0,
        .nofile = 1024,
        .nproc = 512,
        .core = 0,
        .tmp_opts = kind == ENGINE_PODMAN
                        ? "rw,noexec,nosuid,nodev,size=67108864,rprivate,tmpcopyup"
                        : "rw,noexec,nosuid,nodev,size=67108864",
        .ipc = kind == ENGINE_PODMAN ? "shareable" : "private",
        .cgroupns = kind == ENGINE_PODMAN ? "" : "private",
        .pid_mode = "",
        .userns = "",
        .init = true,
        .mount_src = "/srv/groups/g1",
        .extra_ro = true,
        .propagation = "rprivate",
        .runtime = kind == ENGINE_PODMAN ? "oci" : "runc",
    };
}

static void kv_ulimit(nc_jgen *g, const struct inspect *x, const char *name, int64_t v)
{
    _cleanup_free_ char *n =
        x->kind == ENGINE_PODMAN ? xasprintf("RLIMIT_%s", name) : xstrdup(name);
    for (char *p = n; x->kind == ENGINE_PODMAN && *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    jgen_obj_open(g);
    jgen_kv_str(g, "Name", n);
    jgen_kv_int(g, "Hard", v);
    jgen_kv_int(g, "Soft", v);
    jgen_obj_close(g);
}

static void mount_entry(nc_jgen *g, const char *src, const char *dst, bool rw, const char *prop)
{
    jgen_obj_open(g);
    jgen_kv_str(g, "Type", "bind");
    jgen_kv_str(g, "Source", src);
    jgen_kv_str(g, "Destination", dst);
    jgen_kv_bool(g, "RW", rw);
    jgen_kv_str(g, "Propagation", prop);
    jgen_obj_close(g);
}

/* A list as the engine reports it: Docker's defaults (less one when asked), none from Podman
 * unless a test makes it report one, missing, or empty. */
static void paths_list(nc_jgen *g, const struct inspect *x, const char *key, enum paths how,
                       const char *const *defaults, const char *one)
{
    if (how == PATHS_MISSING || (x->kind == ENGINE_PODMAN && how == PATHS_DEFAULT))
        return;
    jgen_key(g, key);
    jgen_arr_open(g);
    for (const char *const *p = defaults; how != PATHS_EMPTY && *p; p++)
        if (how != PATHS_ONE_LESS || strcmp(*p, one) != 0)
            jgen_str(g, *p);
    jgen_arr_close(g);
}

static char *inspect_json(const struct inspect *x)
{
    static const char *const podman_drop[] = {
        "AUDIT_WRITE",      "CHOWN",   "DAC_OVERRIDE", "FOWNER", "FSETID",  "KILL",   "MKNOD",
        "NET_BIND_SERVICE", "NET_RAW", "SETFCAP",      "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"};
    nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "Id", "abc");
    jgen_key(g, "State");
    jgen_obj_open(g);
    jgen_kv_str(g, "Status", "created");
    jgen_obj_close(g);
    jgen_key(g, "Config");
    jgen_obj_open(g);
    jgen_kv_str(g, "User", x->user);
    jgen_obj_close(g);
    jgen_key(g, "HostConfig");
    jgen_obj_open(g);
    jgen_kv_bool(g, "ReadonlyRootfs", x->ro);
    jgen_kv_bool(g, "Privileged", x->privileged);
    jgen_key(g, "CapDrop");
    jgen_arr_open(g);
    if (x->kind == ENGINE_DOCKER && x->drop_all)
        jgen_str(g, "ALL");
    for (size_t i = 0; x->kind == ENGINE_PODMAN && x->drop_all && i < 14; i++)
        if (!x->skip_drop || strcmp(x->skip_drop, podman_drop[i]) != 0)
            jgen_str(g, podman_drop[i]);
    jgen_arr_close(g);
    jgen_key(g, "CapAdd");
    if (x->cap_add) {
        jgen_arr_open(g);
        jgen_str(g, x->cap_add);
        jgen_arr_close(g);
    } else {
        jgen_null(g);
    }
    jgen_key(g, "SecurityOpt");
    jgen_arr_open(g);
    if (x->nnp)
        jgen_str(g, "no-new-privileges");
    if (x->seccomp)
        jgen_str(g, x->seccomp);
    jgen_arr_close(g);
    jgen_kv_str(g, "NetworkMode", x->network);
    jgen_kv_int(g, "PidsLimit", x->pids);
    jgen_kv_int(g, "Memory", x->memory);
    jgen_kv_int(g, "MemorySwap", x->swap);
    jgen_kv_int(g, "NanoCpus", x->nano);
    jgen_kv_int(g, "CpuQuota", x->quota);
    jgen_kv_int(g, "CpuPeriod", x->period);
    jgen_kv_bool(g, "OomKillDisable", x->oom_kill_disable);
    jgen_key(g, "Ulimits");
    jgen_arr_open(g);
    kv_ulimit(g, x, "nofile", x->nofile);
    kv_ulimit(g, x, "nproc", x->nproc);
    kv_ulimit(g, x, "core", x->core);
    jgen_arr_close(g);
    jgen_key(g, "Tmpfs");
    jgen_obj_open(g);
    for (const char *const *t = sandbox_tmpfs_targets(x->kind); *t; t++)
        jgen_kv_str(g, *t, x->tmp_opts);
    if (x->home && x->home_opts)
        jgen_kv_str(g, x->home, x->home_opts);
    jgen_obj_close(g);
    jgen_kv_str(g, "IpcMode", x->ipc);
    jgen_kv_str(g, "CgroupnsMode", x->cgroupns);
    jgen_kv_str(g, "PidMode", x->pid_mode);
    jgen_kv_str(g, "UsernsMode", x->userns);
    jgen_kv_bool(g, "Init", x->init);
    jgen_kv_str(g, "Runtime", x->runtime);
    jgen_key(g, "Devices");
    jgen_arr_open(g);
    if (x->device) {
        jgen_obj_open(g);
        jgen_kv_str(g, "PathOnHost", "/dev/sda");
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    jgen_key(g, "PortBindings");
    jgen_obj_open(g);
    if (x->port) {
        jgen_key(g, "80/tcp");
        jgen_null(g);
    }
    jgen_obj_close(g);
    jgen_kv_bool(g, "PublishAllPorts", false);
    /* Docker 20.10's defaults, as it reports them; Podman's compat API reports neither list. */
    static const char *const docker_masked[] = {"/proc/asound",
                                                "/proc/acpi",
                                                "/proc/kcore",
                                                "/proc/keys",
                                                "/proc/latency_stats",
                                                "/proc/timer_list",
                                                "/proc/timer_stats",
                                                "/proc/sched_debug",
                                                "/proc/scsi",
                                                "/sys/firmware",
                                                NULL};
    static const char *const docker_ro[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL};
    paths_list(g, x, "MaskedPaths", x->masked, docker_masked, "/proc/keys");
    paths_list(g, x, "ReadonlyPaths", x->readonly, docker_ro, "/proc/sys");
    jgen_obj_close(g);
    jgen_key(g, "Mounts");
    jgen_arr_open(g);
    mount_entry(g, x->mount_src, "/workspace/group", true, x->propagation);
    mount_entry(g, "/srv/extra/docs", "/workspace/extra/docs", !x->extra_ro, x->propagation);
    if (x->socket_mount)
        mount_entry(g, "/run/docker.sock", "/var/run/docker.sock", true, x->propagation);
    jgen_arr_close(g);
    jgen_obj_close(g);
    strbuf out = STRBUF_INIT;
    assert_int_equal(jgen_finish(g, &out, NULL), 0);
    jgen_free(g);
    return strbuf_detach(&out, NULL);
}

typedef void (*weaken_fn)(struct inspect *x);
#define WEAKEN(name, body)                                                                         \
    static void name(struct inspect *x)                                                            \
    {                                                                                              \
        body;                                                                                      \
    }
WEAKEN(w_user, x->user = "0:0")
WEAKEN(w_ro, x->ro = false)
WEAKEN(w_priv, x->privileged = true)
WEAKEN(w_drop, x->drop_all = false)
WEAKEN(w_drop_one, x->skip_drop = "NET_RAW")
WEAKEN(w_capadd, x->cap_add = "SYS_ADMIN")
WEAKEN(w_nnp, x->nnp = false)
WEAKEN(w_seccomp, x->seccomp = "seccomp=unconfined")
WEAKEN(w_seccomp_gone, x->seccomp = NULL)
WEAKEN(w_net, x->network = "bridge")
WEAKEN(w_pids, x->pids = 0)
WEAKEN(w_mem, x->memory = 0)
WEAKEN(w_swap, x->swap = -1)
WEAKEN(w_cpu, x->nano = 0)
WEAKEN(w_oom, x->oom_kill_disable = true)
WEAKEN(w_nofile, x->nofile = 1048576)
WEAKEN(w_nproc, x->nproc = 0)
WEAKEN(w_core, x->core = -1)
WEAKEN(w_tmp_exec, x->tmp_opts = "rw,nosuid,nodev,size=67108864")
WEAKEN(w_tmp_size, x->tmp_opts = "rw,noexec,nosuid,nodev")
WEAKEN(w_ipc, x->ipc = "host")
WEAKEN(w_cgns, x->cgroupns = "host")
WEAKEN(w_pid, x->pid_mode = "host")
WEAKEN(w_userns, x->userns = "host")
WEAKEN(w_init, x->init = false)
WEAKEN(w_device, x->device = true)
WEAKEN(w_port, x->port = true)
WEAKEN(w_masked, x->masked = PATHS_EMPTY)
WEAKEN(w_masked_missing, x->masked = PATHS_MISSING)
WEAKEN(w_masked_one, x->masked = PATHS_ONE_LESS)
WEAKEN(w_readonly_empty, x->readonly = PATHS_EMPTY)
WEAKEN(w_readonly_missing, x->readonly = PATHS_MISSING)
WEAKEN(w_readonly_one, x->readonly = PATHS_ONE_LESS)
WEAKEN(w_mount_src, x->mount_src = "/")
WEAKEN(w_mount_rw, x->extra_ro = false)
WEAKEN(w_socket, x->socket_mount = true)
WEAKEN(w_propagation, x->propagation = "rshared")

static const struct {
    const char *field;
    weaken_fn weaken;
    bool docker_only;
    bool podman_only;
} weakenings[] = {
    {"Config.User", w_user, false, false},
    {"HostConfig.ReadonlyRootfs", w_ro, false, false},
    {"HostConfig.Privileged", w_priv, false, false},
    {"HostConfig.CapDrop", w_drop, false, false},
    {"HostConfig.CapDrop", w_drop_one, false, true},
    {"HostConfig.CapAdd", w_capadd, false, false},
    {"HostConfig.SecurityOpt.no-new-privileges", w_nnp, false, false},
    {"HostConfig.SecurityOpt.seccomp", w_seccomp, false, false},
    {"HostConfig.SecurityOpt.seccomp", w_seccomp_gone, false, false},
    {"HostConfig.NetworkMode", w_net, false, false},
    {"HostConfig.PidsLimit", w_pids, false, false},
    {"HostConfig.Memory", w_mem, false, false},
    {"HostConfig.MemorySwap", w_swap, false, false},
    {"HostConfig.NanoCpus", w_cpu, false, false},
    {"HostConfig.OomKillDisable", w_oom, false, false},
    {"HostConfig.Ulimits.nofile", w_nofile, false, false},
    {"HostConfig.Ulimits.nproc", w_nproc, false, false},
    {"HostConfig.Ulimits.core", w_core, false, false},
    {"HostConfig.Tmpfs./tmp", w_tmp_exec, false, false},
    {"HostConfig.Tmpfs./tmp", w_tmp_size, false, false},
    {"HostConfig.IpcMode", w_ipc, false, false},
    {"HostConfig.CgroupnsMode", w_cgns, true, false},
    {"HostConfig.PidMode", w_pid, false, false},
    {"HostConfig.UsernsMode", w_userns, false, false},
    {"HostConfig.Init", w_init, false, false},
    {"HostConfig.Devices", w_device, false, false},
    {"HostConfig.PortBindings", w_port, false, false},
    {"HostConfig.MaskedPaths: empty", w_masked, false, false},
    {"HostConfig.MaskedPaths: not reported", w_masked_missing, true, false},
    {"HostConfig.MaskedPaths: lacks '/proc/keys'", w_masked_one, false, false},
    {"HostConfig.ReadonlyPaths: empty", w_readonly_empty, false, false},
    {"HostConfig.ReadonlyPaths: not reported", w_readonly_missing, true, false},
    {"HostConfig.ReadonlyPaths: lacks '/proc/sys'", w_readonly_one, true, false},
    /* Podman reports no MaskedPaths, so Docker's /proc/asound mask is not there either. */
    {"HostConfig.ReadonlyPaths: lacks '/proc/asound', '/proc/sys'", w_readonly_one, false, true},
    {"Mounts./workspace/group", w_mount_src, false, false},
    {"Mounts./workspace/extra/docs", w_mount_rw, false, false},
    {"Mounts.engine-socket", w_socket, false, false},
    {"Mounts./workspace/group: '/srv/groups/g1' rw rshared", w_propagation, false, false},
};

static void test_inspect_accepts(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        engine_kind kind = k ? ENGINE_PODMAN : ENGINE_DOCKER;
        sandbox_spec s = make_spec(kind);
        struct inspect x = inspect_defaults(kind);
        _cleanup_free_ char *text = inspect_json(&x);
        _cleanup_json_ nc_json *doc = NULL;
        assert_int_equal(json_parse(text, strlen(text), &doc, NULL), 0);
        strbuf report = STRBUF_INIT;
        nc_error *err = NULL;
        if (sandbox_verify_inspect(&s, doc, &report, &err) < 0)
            fail_msg("%s: %s", engine_kind_name(kind), nc_error_msg(err));
        assert_null(strstr(report.buf, "FAILED"));
        assert_non_null(strstr(report.buf, "ok HostConfig.SecurityOpt.seccomp\n"));
        /* Docker's lists are checked; Podman reports none, and its defaults are left to the
         * runtime check. */
        bool docker = kind == ENGINE_DOCKER;
        assert_true(!!strstr(report.buf, "ok HostConfig.MaskedPaths\n") == docker);
        assert_true(!!strstr(report.buf, "ok HostConfig.ReadonlyPaths\n") == docker);
        strbuf_release(&report);
    }
}

/* A runtime asked for is checked; Podman's compat API ignores it, so there it is refused. */
static void test_inspect_runtime(void **state)
{
    (void)state;
    const struct {
        engine_kind kind;
        const char *reported, *failed;
    } cases[] = {
        {ENGINE_DOCKER, "crun", NULL},
        {ENGINE_DOCKER, "runc", "HostConfig.Runtime: 'runc', asked 'crun'"},
        {ENGINE_DOCKER, "", "HostConfig.Runtime: '', asked 'crun'"},
        {ENGINE_PODMAN, "oci", "HostConfig.Runtime: 'oci', asked 'crun' (Podman's"},
    };
    /* A container libpod created: its own inspect names the runtime, the compat one's "oci"
     * is not looked at. */
    const struct {
        const char *oci_runtime, *failed;
    } lp[] = {
        {"crun", NULL},
        {"runc", "OCIRuntime: Podman runs it on 'runc', asked 'crun'"},
        {NULL, "OCIRuntime: Podman runs it on '', asked 'crun'"},
    };
    for (size_t i = 0; i < NC_ARRAY_SIZE(lp); i++) {
        sandbox_spec s = make_spec(ENGINE_PODMAN);
        s.runtime = "crun";
        struct inspect x = inspect_defaults(ENGINE_PODMAN);
        x.runtime = "oci";
        _cleanup_free_ char *text = inspect_json(&x);
        _cleanup_free_ char *lp_text = lp[i].oci_runtime
                                           ? xasprintf("{\"OCIRuntime\":\"%s\"}", lp[i].oci_runtime)
                                           : xstrdup("{}");
        _cleanup_json_ nc_json *doc = NULL, *lp_doc = NULL;
        assert_int_equal(json_parse(text, strlen(text), &doc, NULL), 0);
        assert_int_equal(json_parse(lp_text, strlen(lp_text), &lp_doc, NULL), 0);
        nc_error *err = NULL;
        strbuf report = STRBUF_INIT;
        int r = sandbox_verify_inspect_libpod(&s, doc, lp_doc, &report, &err);
        if (lp[i].failed ? r != -EPERM || !strstr(nc_error_msg(err), lp[i].failed)
                         : r != 0 || !strstr(report.buf, "ok OCIRuntime\n"))
            fail_msg("OCIRuntime '%s': %d '%s'", lp[i].oci_runtime, r, nc_error_msg(err));
        assert_null(strstr(nc_error_msg(err), "HostConfig.Runtime"));
        strbuf_release(&report);
        nc_error_free(err);
    }
    for (size_t i = 0; i < NC_ARRAY_SIZE(cases); i++) {
        sandbox_spec s = make_spec(cases[i].kind);
        s.runtime = "crun";
        struct inspect x = inspect_defaults(cases[i].kind);
        x.runtime = cases[i].reported;
        _cleanup_free_ char *text = inspect_json(&x);
        _cleanup_json_ nc_json *doc = NULL;
        assert_int_equal(json_parse(text, strlen(text), &doc, NULL), 0);
        nc_error *err = NULL;
        int r = sandbox_verify_inspect(&s, doc, NULL, &err);
        if (cases[i].failed ? r != -EPERM || !strstr(nc_error_msg(err), cases[i].failed) : r != 0)
            fail_msg("runtime '%s': %d '%s'", cases[i].reported, r, nc_error_msg(err));
        nc_error_free(err);
    }
}

/* Each weakened field, through sandbox_launch on the fake engine: refused, named, removed. */
static void test_inspect_refuses_each_weakened_field(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        engine_kind kind = k ? ENGINE_PODMAN : ENGINE_DOCKER;
        for (size_t w = 0; w < NC_ARRAY_SIZE(weakenings); w++) {
            if ((weakenings[w].docker_only && kind != ENGINE_DOCKER) ||
                (weakenings[w].podman_only && kind != ENGINE_PODMAN))
                continue;
            struct inspect x = inspect_defaults(kind);
            weakenings[w].weaken(&x);
            _cleanup_free_ char *doc = inspect_json(&x);
            /* Podman's containers are created through libpod; the rest is the compat API. */
            bool podman = kind == ENGINE_PODMAN;
            struct fake_exchange script[] = {
                {.method = "POST",
                 .path = podman ? "/v4.3.1/libpod/containers/create"
                                : "/v1.41/containers/create?name=nc-weak",
                 .body_contains =
                     podman ? "\"cgroupns\":{\"nsmode\":\"private\"}" : "\"CapDrop\":[\"ALL\"]",
                 .response = fake_json(201, "{\"Id\":\"abc\",\"Warnings\":[]}")},
                {.method = "GET",
                 .path = "/v1.41/containers/abc/json",
                 .response = fake_json(200, doc)},
                /* libpod's inspect, for the runtime (Podman only: dropped for Docker) */
                {.method = "GET",
                 .path = "/v4.3.1/libpod/containers/abc/json",
                 .response = fake_json(200, "{\"OCIRuntime\":\"runc\"}")},
                {.method = "DELETE",
                 .path = "/v1.41/containers/abc?v=1&force=1",
                 .response = fake_text(204, NULL, "")},
                {.method = "GET",
                 .path = "/v1.41/containers/abc/json",
                 .response = fake_json(404, "{\"message\":\"No such container: abc\"}")},
            };
            size_t n = NC_ARRAY_SIZE(script);
            if (!podman) {
                memmove(&script[2], &script[3], (n - 3) * sizeof(script[0]));
                n--;
            }
            struct fake_engine_opts o = {.api_version = "1.41",
                                         .libpod_version = kind == ENGINE_PODMAN ? "4.3.1" : NULL};
            struct fake_engine *fe = fake_engine_start(script, n, &o);
            _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
            engine_opts eo = {.host = host, .host_source = "test"};
            engine *e = NULL;
            nc_error *err = NULL;
            assert_int_equal(engine_open(&eo, NULL, &e, &err), 0);
            sandbox_spec s = make_spec(kind);
            sandbox_container *c = NULL;
            int r = sandbox_launch(e, &s, "nc-weak", NULL, &c, &err);
            if (r != -EPERM || !strstr(nc_error_msg(err), weakenings[w].field))
                fail_msg("%s, weakened %s: got %d '%s'", engine_kind_name(kind),
                         weakenings[w].field, r, nc_error_msg(err));
            assert_null(c);
            nc_error_free(err);
            engine_free(e);
            char *report = NULL;
            if (fake_engine_stop(fe, &report) != 0)
                fail_msg("%s, weakened %s: %s", engine_kind_name(kind), weakenings[w].field,
                         report);
            fake_engine_free(fe);
        }
    }
}

/* A profile rule conditioned on capabilities was validated as if none were held: with cap_add,
 * prepare refuses it rather than send a filter that differs from the one checked. */
static void test_prepare_caps_rule(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/nanocell-caps-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    _cleanup_free_ char *path = xasprintf("%s/p.json", tmpl);
    const char *profile =
        "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
        "{\"names\":[\"read\",\"write\",\"exit_group\"],\"action\":\"SCMP_ACT_ALLOW\"},"
        "{\"names\":[\"ioctl\"],\"action\":\"SCMP_ACT_ALLOW\","
        "\"includes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}}]}";
    assert_int_equal(write_file_atomic(path, profile, strlen(profile), 0644, NULL), 0);
    struct fake_engine_opts o = {.api_version = "1.41"};
    struct fake_engine *fe = fake_engine_start(NULL, 0, &o);
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    engine_opts eo = {.host = host, .host_source = "test"};
    engine *e = NULL;
    nc_error *err = NULL;
    assert_int_equal(engine_open(&eo, NULL, &e, &err), 0);
    char *saved_profile = cfg->sandbox.seccomp_profile;
    char **saved_caps = cfg->sandbox.cap_add;
    cfg->sandbox.seccomp_profile = path;
    char *none[] = {NULL};
    char *some[] = {"NET_BIND_SERVICE", NULL};
    for (int with = 0; with < 2; with++) {
        cfg->sandbox.cap_add = with ? some : none;
        sandbox_request req = {.cfg = cfg, .group = "g1", .engine = e, .image = "i"};
        sandbox_prepared *p = NULL;
        int r = sandbox_prepare(&req, &p, &err);
        sandbox_prepared_free(p);
        if (with && (r != -EINVAL || !strstr(nc_error_msg(err), "syscalls[1] depends on "
                                                                "capabilities, and "
                                                                "sandbox.cap_add grants some")))
            fail_msg("with cap_add: %d '%s'", r, nc_error_msg(err));
        if (!with && r != 0)
            fail_msg("without cap_add: %s", nc_error_msg(err));
        nc_error_free(err);
        err = NULL;
    }
    cfg->sandbox.seccomp_profile = saved_profile;
    cfg->sandbox.cap_add = saved_caps;
    engine_free(e);
    char *report = NULL;
    fake_engine_stop(fe, &report);
    free(report);
    fake_engine_free(fe);
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s'", tmpl);
    assert_int_equal(system(rm), 0);
}

/* Rootless Podman 4 on cgroup v1 reports the limits as unset: refused, naming each; waived
 * explicitly, accepted with "waived" lines. A different non-zero value is never waived. */
static void test_inspect_waivers(void **state)
{
    (void)state;
    sandbox_spec s = make_spec(ENGINE_PODMAN);
    struct inspect x = inspect_defaults(ENGINE_PODMAN);
    x.pids = 0;
    x.memory = x.swap = 0;
    x.nano = x.quota = x.period = 0;
    x.nofile = x.nproc = x.core = -7; /* marks them absent below */
    _cleanup_free_ char *text = inspect_json(&x);
    /* Drop the Ulimits array entirely, as the engine does. */
    char *ul = strstr(text, "\"Ulimits\":[");
    char *end = strchr(ul, ']');
    memmove(ul + strlen("\"Ulimits\":["), end, strlen(end) + 1);
    _cleanup_json_ nc_json *doc = NULL;
    assert_int_equal(json_parse(text, strlen(text), &doc, NULL), 0);
    nc_error *err = NULL;
    assert_int_equal(sandbox_verify_inspect(&s, doc, NULL, &err), -EPERM);
    const char *const named[] = {"HostConfig.PidsLimit: 0, asked 256",
                                 "HostConfig.Memory: 0, asked 536870912", "HostConfig.NanoCpus",
                                 "HostConfig.Ulimits.nofile: not set"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(named); i++)
        if (!strstr(err->msg, named[i]))
            fail_msg("'%s' not named in: %s", named[i], err->msg);
    nc_error_free(err);
    err = NULL;
    char **saved = cfg->sandbox.allow_unenforced;
    cfg->sandbox.allow_unenforced = (char *[]){"memory", "pids", "cpu", "ulimits", NULL};
    strbuf report = STRBUF_INIT;
    if (sandbox_verify_inspect(&s, doc, &report, &err) < 0)
        fail_msg("waived: %s", nc_error_msg(err));
    assert_non_null(strstr(report.buf, "waived HostConfig.Memory"));
    assert_non_null(strstr(report.buf, "waived HostConfig.Ulimits.nproc"));
    strbuf_release(&report);
    /* A limit reported with another value is not "unset": no waiver covers it. */
    struct inspect y = inspect_defaults(ENGINE_PODMAN);
    y.memory = y.swap = 1024 * 1024 * 1024;
    _cleanup_free_ char *text2 = inspect_json(&y);
    _cleanup_json_ nc_json *doc2 = NULL;
    assert_int_equal(json_parse(text2, strlen(text2), &doc2, NULL), 0);
    assert_int_equal(sandbox_verify_inspect(&s, doc2, NULL, &err), -EPERM);
    assert_non_null(strstr(err->msg, "HostConfig.Memory: 1073741824, asked 536870912"));
    nc_error_free(err);
    cfg->sandbox.allow_unenforced = saved;
}

/* Docker reports a limit it dropped only as a create warning: that is a refusal too. */
static void test_create_warning_is_fatal(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1.41/containers/create?name=nc-warn",
         .response = fake_json(201, "{\"Id\":\"abc\",\"Warnings\":[\"Your kernel does not support "
                                    "PIDs limit capabilities or the cgroup is not mounted. PIDs "
                                    "limit discarded.\"]}")},
        {.method = "DELETE",
         .path = "/v1.41/containers/abc?v=1&force=1",
         .response = fake_text(204, NULL, "")},
        {.method = "GET",
         .path = "/v1.41/containers/abc/json",
         .response = fake_json(404, "{\"message\":\"No such container: abc\"}")},
    };
    struct fake_engine_opts o = {.api_version = "1.41"};
    struct fake_engine *fe = fake_engine_start(script, NC_ARRAY_SIZE(script), &o);
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    engine_opts eo = {.host = host, .host_source = "test"};
    engine *e = NULL;
    nc_error *err = NULL;
    assert_int_equal(engine_open(&eo, NULL, &e, &err), 0);
    sandbox_spec s = make_spec(ENGINE_DOCKER);
    sandbox_container *c = NULL;
    assert_int_equal(sandbox_launch(e, &s, "nc-warn", NULL, &c, &err), -EPERM);
    assert_non_null(strstr(err->msg, "PIDs limit discarded"));
    nc_error_free(err);
    engine_free(e);
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("%s", report);
    fake_engine_free(fe);
}

#define ROOTLESS_V1_WARNING                                                                        \
    "Resource limits are not supported and ignored on cgroups V1 rootless systems"

/* Launches make_spec(ENGINE_PODMAN) on a fake Podman whose libpod create answers with
 * warnings; then, if inspected, reports a privileged container (so a launch that gets past the
 * warnings is refused there, by name). Returns the launch result and the error. */
static int launch_with_libpod_warnings(const char *warnings, bool inspected, nc_error **err)
{
    _cleanup_free_ char *reply = xasprintf("{\"Id\":\"abc\",\"Warnings\":[%s]}", warnings);
    struct inspect x = inspect_defaults(ENGINE_PODMAN);
    x.privileged = true;
    _cleanup_free_ char *doc = inspect_json(&x);
    struct fake_exchange script[5] = {
        {.method = "POST",
         .path = "/v4.3.1/libpod/containers/create",
         .body_contains = "\"resource_limits\":{\"memory\":{\"limit\":536870912",
         .response = fake_json(201, reply)},
    };
    size_t n = 1;
    if (inspected) {
        script[n++] = (struct fake_exchange){
            .method = "GET", .path = "/v1.41/containers/abc/json", .response = fake_json(200, doc)};
        script[n++] =
            (struct fake_exchange){.method = "GET",
                                   .path = "/v4.3.1/libpod/containers/abc/json",
                                   .response = fake_json(200, "{\"OCIRuntime\":\"runc\"}")};
    }
    script[n++] = (struct fake_exchange){.method = "DELETE",
                                         .path = "/v1.41/containers/abc?v=1&force=1",
                                         .response = fake_text(204, NULL, "")};
    script[n++] = (struct fake_exchange){
        .method = "GET",
        .path = "/v1.41/containers/abc/json",
        .response = fake_json(404, "{\"message\":\"No such container: abc\"}")};
    struct fake_engine_opts o = {.api_version = "1.41", .libpod_version = "4.3.1"};
    struct fake_engine *fe = fake_engine_start(script, n, &o);
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    engine_opts eo = {.host = host, .host_source = "test"};
    engine *e = NULL;
    assert_int_equal(engine_open(&eo, NULL, &e, NULL), 0);
    sandbox_spec s = make_spec(ENGINE_PODMAN);
    sandbox_container *c = NULL;
    int r = sandbox_launch(e, &s, "nc-rootless", NULL, &c, err);
    assert_null(c);
    engine_free(e);
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("%s", report);
    fake_engine_free(fe);
    return r;
}

/* Rootless Podman on cgroup v1 says at libpod create that it ignores the limits: refused,
 * saying why, what would make them work and which waiver tolerates it; with memory, pids and
 * cpu all waived the launch goes on (to verification, which refuses here for another reason);
 * a partial waiver, or another warning beside it, is still a refusal. */
static void test_libpod_rootless_warning(void **state)
{
    (void)state;
    char **saved = cfg->sandbox.allow_unenforced;
    nc_error *err = NULL;
    assert_int_equal(launch_with_libpod_warnings("\"" ROOTLESS_V1_WARNING "\"", false, &err),
                     -EPERM);
    const char *const named[] = {ROOTLESS_V1_WARNING,
                                 "rootless Podman cannot enforce limits on cgroup v1",
                                 "cgroup v2 with the memory, pids and cpu controllers delegated",
                                 "sandbox.allow_unenforced = [\"memory\", \"pids\", \"cpu\"]"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(named); i++)
        if (!strstr(nc_error_msg(err), named[i]))
            fail_msg("'%s' not named in: %s", named[i], nc_error_msg(err));
    nc_error_free(err);
    err = NULL;
    cfg->sandbox.allow_unenforced = (char *[]){"memory", NULL};
    assert_int_equal(launch_with_libpod_warnings("\"" ROOTLESS_V1_WARNING "\"", false, &err),
                     -EPERM);
    assert_non_null(strstr(nc_error_msg(err), "rootless Podman cannot enforce limits"));
    nc_error_free(err);
    err = NULL;
    cfg->sandbox.allow_unenforced = (char *[]){"memory", "pids", "cpu", NULL};
    assert_int_equal(
        launch_with_libpod_warnings("\"" ROOTLESS_V1_WARNING "\",\"seccomp ignored\"", false, &err),
        -EPERM);
    assert_non_null(strstr(nc_error_msg(err), "seccomp ignored"));
    assert_null(strstr(nc_error_msg(err), ROOTLESS_V1_WARNING));
    nc_error_free(err);
    err = NULL;
    assert_int_equal(launch_with_libpod_warnings("\"" ROOTLESS_V1_WARNING "\"", true, &err),
                     -EPERM);
    if (!strstr(nc_error_msg(err), "HostConfig.Privileged") || strstr(nc_error_msg(err), "warning"))
        fail_msg("waived: %s", nc_error_msg(err));
    nc_error_free(err);
    cfg->sandbox.allow_unenforced = saved;
}

/* Launches make_spec(ENGINE_PODMAN) with runtime on a fake rootful Podman 4.3 whose libpod
 * inspect reports oci_runtime (the compat one always says "oci"); the compat inspect also
 * reports a privileged container, so every launch is refused, and what matters is whether the
 * runtime is named too. The create body carries oci_runtime only when one is pinned. */
static int launch_libpod_runtime(const char *runtime, const char *oci_runtime, nc_error **err)
{
    struct inspect x = inspect_defaults(ENGINE_PODMAN);
    x.privileged = true;
    x.runtime = "oci";
    _cleanup_free_ char *doc = inspect_json(&x);
    _cleanup_free_ char *lp = xasprintf("{\"Id\":\"abc\",\"OCIRuntime\":\"%s\"}", oci_runtime);
    _cleanup_free_ char *asked = xasprintf("\"oci_runtime\":\"%s\"", runtime);
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v4.3.1/libpod/containers/create",
         .body_contains = *runtime ? asked : "\"cap_drop\":[\"ALL\"]",
         .body_lacks = *runtime ? NULL : "oci_runtime",
         .response = fake_json(201, "{\"Id\":\"abc\",\"Warnings\":[]}")},
        {.method = "GET", .path = "/v1.41/containers/abc/json", .response = fake_json(200, doc)},
        {.method = "GET",
         .path = "/v4.3.1/libpod/containers/abc/json",
         .response = fake_json(200, lp)},
        {.method = "DELETE",
         .path = "/v1.41/containers/abc?v=1&force=1",
         .response = fake_text(204, NULL, "")},
        {.method = "GET",
         .path = "/v1.41/containers/abc/json",
         .response = fake_json(404, "{\"message\":\"No such container: abc\"}")},
    };
    struct fake_engine_opts o = {.api_version = "1.41", .libpod_version = "4.3.1"};
    struct fake_engine *fe = fake_engine_start(script, NC_ARRAY_SIZE(script), &o);
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    engine_opts eo = {.host = host, .host_source = "test"};
    engine *e = NULL;
    assert_int_equal(engine_open(&eo, NULL, &e, NULL), 0);
    sandbox_spec s = make_spec(ENGINE_PODMAN);
    s.runtime = runtime;
    sandbox_container *c = NULL;
    int r = sandbox_launch(e, &s, "nc-rt", NULL, &c, err);
    assert_null(c);
    engine_free(e);
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("%s", report);
    fake_engine_free(fe);
    return r;
}

/* A pinned runtime on Podman is sent in the libpod create and confirmed by libpod's inspect:
 * the one Podman applied passes, another is refused (never a silent fallback); with none
 * pinned (sandbox.runtime "auto" or empty) nothing is sent and Podman's default is not
 * questioned. */
static void test_libpod_runtime(void **state)
{
    (void)state;
    const struct {
        const char *runtime, *oci_runtime;
        bool refused;
    } cases[] = {
        {"runc", "runc", false},
        {"runc", "crun", true},
        {"", "crun", false},
    };
    for (size_t i = 0; i < NC_ARRAY_SIZE(cases); i++) {
        nc_error *err = NULL;
        assert_int_equal(launch_libpod_runtime(cases[i].runtime, cases[i].oci_runtime, &err),
                         -EPERM);
        const char *msg = nc_error_msg(err);
        _cleanup_free_ char *want = xasprintf("OCIRuntime: Podman runs it on '%s', asked '%s'",
                                              cases[i].oci_runtime, cases[i].runtime);
        if (!strstr(msg, "HostConfig.Privileged") || strstr(msg, "HostConfig.Runtime") ||
            !!strstr(msg, want) != cases[i].refused ||
            (!cases[i].refused && strstr(msg, "OCIRuntime")))
            fail_msg("runtime '%s' on '%s': %s", cases[i].runtime, cases[i].oci_runtime, msg);
        nc_error_free(err);
    }
}

/* The bundle's config.json must hold nanocell's profile: a missing file, a spec without
 * seccomp, another profile or no bundle directory at all are refused, by name; an unconfined
 * group has nothing to compare. (A matching spec is accepted on the real Podman:
 * tests/cli/engine_run.sh; the comparison itself: test_seccomp's test_matches_oci.) */
static void test_bundle_seccomp(void **state)
{
    (void)state;
    char dir[] = "/tmp/nanocell-bundle-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *config = xasprintf("%s/config.json", dir);
    const struct {
        const char *content; /* NULL: no file */
        const char *failed;
    } cases[] = {
        {NULL, "bundle.seccomp: open"},
        {"{\"linux\":{}}", "does not hold nanocell's profile: no seccomp section"},
        {"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\"}}}",
         "defaultAction 'SCMP_ACT_ALLOW'"},
        {"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,"
         "\"architectures\":[],\"syscalls\":[]}}}",
         "is not listed"},
        {"not json", "bundle.seccomp: '"},
    };
    sandbox_spec s = make_spec(ENGINE_PODMAN);
    for (size_t i = 0; i < NC_ARRAY_SIZE(cases); i++) {
        unlink(config);
        if (cases[i].content)
            assert_int_equal(
                write_file_atomic(config, cases[i].content, strlen(cases[i].content), 0600, NULL),
                0);
        nc_error *err = NULL;
        strbuf report = STRBUF_INIT;
        int r = sandbox_verify_bundle(&s, dir, &report, &err);
        if (r != -EPERM || !strstr(nc_error_msg(err), cases[i].failed) ||
            !strstr(report.buf, "FAILED bundle.seccomp"))
            fail_msg("case %zu: %d '%s'", i, r, nc_error_msg(err));
        nc_error_free(err);
        strbuf_release(&report);
    }
    nc_error *err = NULL;
    assert_int_equal(sandbox_verify_bundle(&s, NULL, NULL, &err), -EPERM);
    assert_non_null(strstr(nc_error_msg(err), "names no bundle directory"));
    nc_error_free(err);
    char *saved = cfg->sandbox.seccomp_profile;
    cfg->sandbox.seccomp_profile = "unconfined";
    assert_int_equal(sandbox_verify_bundle(&s, dir, NULL, NULL), 0);
    cfg->sandbox.seccomp_profile = saved;
    unlink(config);
    rmdir(dir);
}

/* Podman 3 has no libpod API nanocell uses: its containers go through the compat create, as
 * before (and its ignored CgroupnsMode is then left to the runtime check). */
static void test_podman3_uses_compat_create(void **state)
{
    (void)state;
    struct inspect x = inspect_defaults(ENGINE_PODMAN);
    x.privileged = true;
    _cleanup_free_ char *doc = inspect_json(&x);
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v1.40/containers/create?name=nc-p3",
         .body_contains = "\"CapDrop\":[\"ALL\"]",
         .response = fake_json(201, "{\"Id\":\"abc\",\"Warnings\":[]}")},
        {.method = "GET", .path = "/v1.40/containers/abc/json", .response = fake_json(200, doc)},
        {.method = "DELETE",
         .path = "/v1.40/containers/abc?v=1&force=1",
         .response = fake_text(204, NULL, "")},
        {.method = "GET",
         .path = "/v1.40/containers/abc/json",
         .response = fake_json(404, "{\"message\":\"No such container: abc\"}")},
    };
    struct fake_engine_opts o = {.api_version = "1.40", .libpod_version = "3.4.4"};
    struct fake_engine *fe = fake_engine_start(script, NC_ARRAY_SIZE(script), &o);
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    engine_opts eo = {.host = host, .host_source = "test"};
    engine *e = NULL;
    assert_int_equal(engine_open(&eo, NULL, &e, NULL), 0);
    sandbox_spec s = make_spec(ENGINE_PODMAN);
    s.api_minor = 40;
    sandbox_container *c = NULL;
    nc_error *err = NULL;
    assert_int_equal(sandbox_launch(e, &s, "nc-p3", NULL, &c, &err), -EPERM);
    assert_non_null(strstr(nc_error_msg(err), "HostConfig.Privileged"));
    nc_error_free(err);
    engine_free(e);
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("%s", report);
    fake_engine_free(fe);
}

/* libpod answers 500 for a name in use and a missing image; the message says which. */
static void test_libpod_create_errors(void **state)
{
    (void)state;
    struct fake_exchange script[] = {
        {.method = "POST",
         .path = "/v4.3.1/libpod/containers/create",
         .response = fake_json(500, "{\"cause\":\"image not known\",\"message\":\"nope:latest: "
                                    "image not known\",\"response\":500}")},
        {.method = "POST",
         .path = "/v4.3.1/libpod/containers/create",
         .response = fake_json(500, "{\"cause\":\"that name is already in use\",\"message\":"
                                    "\"the container name \\\"x\\\" is already in use\","
                                    "\"response\":500}")},
    };
    struct fake_engine_opts o = {.api_version = "1.41", .libpod_version = "4.3.1"};
    struct fake_engine *fe = fake_engine_start(script, NC_ARRAY_SIZE(script), &o);
    _cleanup_free_ char *host = xasprintf("unix://%s", fake_engine_socket(fe));
    engine_opts eo = {.host = host, .host_source = "test"};
    engine *e = NULL;
    assert_int_equal(engine_open(&eo, NULL, &e, NULL), 0);
    const int want[] = {-ENOENT, -EEXIST};
    for (size_t i = 0; i < NC_ARRAY_SIZE(want); i++) {
        sandbox_spec s = make_spec(ENGINE_PODMAN);
        sandbox_container *c = NULL;
        nc_error *err = NULL;
        int r = sandbox_launch(e, &s, "x", NULL, &c, &err);
        if (r != want[i] || !strstr(nc_error_msg(err), "create container 'x': 500 "))
            fail_msg("case %zu: %d '%s'", i, r, nc_error_msg(err));
        nc_error_free(err);
    }
    engine_free(e);
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("%s", report);
    fake_engine_free(fe);
}

/* --- runtime --- */

static char *tree;

static void put(const char *rel, const char *text)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", tree, rel);
    _cleanup_free_ char *dir = xstrdup(path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(mkdir_p(dir, 0755, NULL), 0);
    assert_int_equal(write_file_atomic(path, text, strlen(text), 0644, NULL), 0);
}

static void link_ns(const char *who, const char *ns, const char *target)
{
    _cleanup_free_ char *dir = xasprintf("%s/proc/%s/ns", tree, who);
    assert_int_equal(mkdir_p(dir, 0755, NULL), 0);
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, ns);
    unlink(path);
    assert_int_equal(symlink(target, path), 0);
}

#define GOOD_STATUS                                                                                \
    "Name:\tdocker-init\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n"             \
    "Groups:\t1000 \nNSpid:\t4242\t1\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n"      \
    "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\n"            \
    "NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n"
/* /proc and /sys with the engines' masks, as they really look: runc binds the container's own
 * /dev/null (in the /dev tmpfs) and mounts masking tmpfs read-only; crun binds the host's
 * devtmpfs /null. Paths this kernel lacks (/proc/kcore, /proc/scsi...) have no mount. */
#define SYSTEM_MOUNTS                                                                              \
    "10 1 0:10 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"                           \
    "11 1 0:11 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro\n"                          \
    "12 1 0:12 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n"                           \
    "13 10 0:10 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw\n"                   \
    "14 10 0:10 /fs /proc/fs ro,nosuid,nodev,noexec,relatime - proc proc rw\n"                     \
    "15 10 0:10 /irq /proc/irq ro,nosuid,nodev,noexec,relatime - proc proc rw\n"                   \
    "16 10 0:10 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw\n"                   \
    "17 10 0:13 / /proc/acpi ro,relatime - tmpfs tmpfs ro\n"                                       \
    "18 10 0:12 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n"                \
    "19 10 0:6 /null /proc/timer_list ro,relatime - devtmpfs devtmpfs rw,mode=755\n"               \
    "20 11 0:14 / /sys/firmware ro,relatime - tmpfs tmpfs rw,size=0k\n"
#define GOOD_MOUNTINFO                                                                             \
    "1 0 0:1 / / ro,relatime - overlay overlay rw,lowerdir=x\n"                                    \
    "2 1 0:2 / /tmp rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,size=65536k\n"                \
    "3 1 0:3 / /workspace/group rw,relatime - ext4 /dev/vda rw\n"                                  \
    "4 1 0:3 / /workspace/extra/docs ro,relatime - ext4 /dev/vda rw\n" SYSTEM_MOUNTS

#define GOOD_LIMITS                                                                                \
    "Limit                     Soft Limit           Hard Limit           Units\n"                  \
    "Max core file size        0                    0                    bytes\n"                  \
    "Max processes             512                  512                  processes\n"              \
    "Max open files            1024                 1024                 files\n"

static const char *limits_text = GOOD_LIMITS;
static const char *cpu_quota = "100000\n";
/* No user namespace; rootless Podman's looks like "0 1000 1\n1 300000 65536". */
static const char *id_map = "         0          0 4294967295\n";
/* Set: the container's /workspace/extra/docs is another directory than the one checked. */
static bool swap_docs;
/* A path that exists in the container besides the fake kernel's usual ones ("/proc/kcore"). */
static const char *also_present;

/* What the container sees of /proc and /sys (through proc/4242/root): what this fake kernel
 * has of the masked and read-only paths. */
static void system_paths(void)
{
    const char *const files[] = {"proc/keys", "proc/timer_list"};
    const char *const dirs[] = {"proc/acpi", "proc/bus", "proc/fs",     "proc/irq",
                                "proc/sys",  "sys",      "sys/firmware"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *rel = xasprintf("proc/4242/root/%s", files[i]);
        put(rel, "");
    }
    for (size_t i = 0; i < NC_ARRAY_SIZE(dirs); i++) {
        _cleanup_free_ char *dir = xasprintf("%s/proc/4242/root/%s", tree, dirs[i]);
        assert_int_equal(mkdir_p(dir, 0755, NULL), 0);
    }
    if (also_present) {
        _cleanup_free_ char *rel = xasprintf("proc/4242/root%s", also_present);
        put(rel, "");
    }
}

/* tree/src/NAME, a directory the container's target (through proc/4242/root) leads to; the
 * mount k records its identity. */
static void mount_source(size_t k, const char *name, const char *shown)
{
    _cleanup_free_ char *src = xasprintf("%s/src/%s", tree, name);
    assert_int_equal(mkdir_p(src, 0755, NULL), 0);
    struct stat st;
    assert_int_equal(stat(src, &st), 0);
    test_mounts[k].dev = st.st_dev;
    test_mounts[k].ino = st.st_ino;
    _cleanup_free_ char *link = xasprintf("%s/proc/4242/root%s", tree, test_mounts[k].target);
    _cleanup_free_ char *dir = xstrdup(link);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(mkdir_p(dir, 0755, NULL), 0);
    _cleanup_free_ char *to = xasprintf("%s/src/%s", tree, shown);
    assert_int_equal(mkdir_p(to, 0755, NULL), 0);
    assert_int_equal(symlink(to, link), 0);
}

static void build_tree(const char *status, const char *mountinfo, const char *mem, const char *pids,
                       const char *netdev, bool share_cgroupns)
{
    char tmpl[] = "/tmp/nanocell-proc-XXXXXX";
    tree = xstrdup(mkdtemp(tmpl));
    put("proc/4242/status", status);
    put("proc/4242/mountinfo", mountinfo);
    put("proc/4242/net/dev", netdev);
    put("proc/4242/limits", limits_text);
    put("proc/4242/uid_map", id_map);
    put("proc/4242/gid_map", id_map);
    put("proc/4242/cgroup",
        "12:pids:/docker/abc\n8:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n");
    put("cg/memory/docker/abc/memory.limit_in_bytes", mem);
    put("cg/pids/docker/abc/pids.max", pids);
    put("cg/cpu/docker/abc/cpu.cfs_quota_us", cpu_quota);
    put("cg/cpu/docker/abc/cpu.cfs_period_us", "100000\n");
    mount_source(0, "group", "group");
    mount_source(1, "docs", swap_docs ? "ssh" : "docs");
    system_paths();
    const char *const ns[] = {"net", "ipc", "cgroup", "pid", "mnt", "uts"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(ns); i++) {
        _cleanup_free_ char *host = xasprintf("%s:[40265318%02zu]", ns[i], i);
        _cleanup_free_ char *cont = xasprintf("%s:[40265322%02zu]", ns[i], i);
        link_ns("self", ns[i], host);
        bool shared = share_cgroupns && strcmp(ns[i], "cgroup") == 0;
        link_ns("4242", ns[i], shared ? host : cont);
    }
}

static void drop_tree(void)
{
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s'", tree);
    assert_int_equal(system(rm), 0);
    free(tree);
    tree = NULL;
}

#define LO_ONLY "Inter-|   Receive\n face |bytes\n    lo:       0       0    0    0    0     0\n"

static int run_runtime(const sandbox_spec *s, strbuf *report, nc_error **err)
{
    _cleanup_free_ char *proc = xasprintf("%s/proc", tree);
    _cleanup_free_ char *cg = xasprintf("%s/cg", tree);
    return sandbox_verify_runtime(s, 4242, proc, cg, report, err);
}

static void expect_runtime(const char *status, const char *mountinfo, const char *mem,
                           const char *pids, const char *netdev, bool share_cgroupns,
                           const char *failed)
{
    build_tree(status, mountinfo, mem, pids, netdev, share_cgroupns);
    sandbox_spec s = make_spec(ENGINE_DOCKER);
    strbuf report = STRBUF_INIT;
    nc_error *err = NULL;
    int r = run_runtime(&s, &report, &err);
    if (!failed && r != 0)
        fail_msg("runtime: %s\n%s", nc_error_msg(err), report.buf);
    if (failed && (r != -EPERM || !strstr(nc_error_msg(err), failed)))
        fail_msg("want '%s' to fail, got %d '%s'", failed, r, nc_error_msg(err));
    nc_error_free(err);
    strbuf_release(&report);
    drop_tree();
}

/* The runtime loads the filter after the engine's start returned: a status that shows mode 0
 * and then 2 (the runtime caught up) passes; the thread below plays the runtime. */
static void *load_filter_later(void *arg)
{
    (void)arg;
    sleep_ms(30);
    put("proc/4242/status", GOOD_STATUS);
    return NULL;
}

static void test_runtime_filter_loaded_late(void **state)
{
    (void)state;
    strbuf st = STRBUF_INIT;
    const char *at = strstr(GOOD_STATUS, "Seccomp:\t2");
    strbuf_add(&st, GOOD_STATUS, (size_t)(at - GOOD_STATUS));
    strbuf_addstr(&st, "Seccomp:\t0");
    strbuf_addstr(&st, at + strlen("Seccomp:\t2"));
    build_tree(st.buf, GOOD_MOUNTINFO, "536870912\n", "256\n", LO_ONLY, false);
    strbuf_release(&st);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, load_filter_later, NULL), 0);
    sandbox_spec s = make_spec(ENGINE_DOCKER);
    strbuf report = STRBUF_INIT;
    nc_error *err = NULL;
    int r = run_runtime(&s, &report, &err);
    pthread_join(th, NULL);
    if (r != 0)
        fail_msg("runtime: %s\n%s", nc_error_msg(err), report.buf);
    assert_non_null(strstr(report.buf, "ok runtime.Seccomp\n"));
    strbuf_release(&report);
    drop_tree();
}

static void test_runtime(void **state)
{
    (void)state;
    const char *mem = "536870912\n", *pids = "256\n";
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, mem, pids, LO_ONLY, false, NULL);
    /* The kernel may round a memory limit down to a page. */
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, "536866816\n", pids, LO_ONLY, false, NULL);

    static const struct {
        const char *from, *to, *failed;
    } status_cases[] = {
        {"CapEff:\t0000000000000000", "CapEff:\t0000000000200000", "runtime.CapEff"},
        {"CapPrm:\t0000000000000000", "CapPrm:\t00000000a80425fb", "runtime.CapPrm"},
        {"CapBnd:\t0000000000000000", "CapBnd:\t00000000a80425fb", "runtime.CapBnd"},
        {"CapAmb:\t0000000000000000", "CapAmb:\t0000000000000400", "runtime.CapAmb"},
        {"CapInh:\t0000000000000000", "CapInh:\t0000000000000001", "runtime.CapInh"},
        {"NoNewPrivs:\t1", "NoNewPrivs:\t0", "runtime.NoNewPrivs"},
        {"Seccomp:\t2", "Seccomp:\t0", "runtime.Seccomp"},
        {"NSpid:\t4242\t1", "NSpid:\t4242", "runtime.init"},
        {"Uid:\t1000\t1000\t1000\t1000", "Uid:\t1000\t1000\t0\t1000", "runtime.Uid"},
        {"Gid:\t1000\t1000\t1000\t1000", "Gid:\t0\t0\t0\t0", "runtime.Gid"},
        {"Groups:\t1000 ", "Groups:\t1000 0 ",
         "runtime.Groups: '1000 0', asked 1000 (host 1000) or none"},
        {"Uid:\t1000\t1000\t1000\t1000\n", "", "runtime.Uid: 'missing'"},
        {"NSpid:\t4242\t1", "NSpid:\t4242\t7", "runtime.init"},
    };
    for (size_t i = 0; i < NC_ARRAY_SIZE(status_cases); i++) {
        strbuf st = STRBUF_INIT;
        const char *at = strstr(GOOD_STATUS, status_cases[i].from);
        strbuf_add(&st, GOOD_STATUS, (size_t)(at - GOOD_STATUS));
        strbuf_addstr(&st, status_cases[i].to);
        strbuf_addstr(&st, at + strlen(status_cases[i].from));
        expect_runtime(st.buf, GOOD_MOUNTINFO, mem, pids, LO_ONLY, false, status_cases[i].failed);
        strbuf_release(&st);
    }
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, "9223372036854771712\n", pids, LO_ONLY, false,
                   "runtime.cgroup.memory");
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, mem, "max\n", LO_ONLY, false,
                   "runtime.cgroup.pids");
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, mem, pids,
                   LO_ONLY "  eth0:       0       0    0    0    0     0\n", false,
                   "runtime.network");
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, mem, pids, LO_ONLY, true, "runtime.ns.cgroup");
    cpu_quota = "-1\n";
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, mem, pids, LO_ONLY, false, "runtime.cgroup.cpu");
    cpu_quota = "200000\n";
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, mem, pids, LO_ONLY, false, "runtime.cgroup.cpu");
    cpu_quota = "17000000000000\n"; /* the kernel's largest quotas overflow quota * 1e9 */
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, mem, pids, LO_ONLY, false, "runtime.cgroup.cpu");
    cpu_quota = "100000\n";
    limits_text = "Max core file size        unlimited            unlimited            bytes\n"
                  "Max processes             512                  512                  processes\n"
                  "Max open files            1024                 1024                 files\n";
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, mem, pids, LO_ONLY, false, "runtime.rlimit.core");
    limits_text = "Max core file size        0                    0                    bytes\n"
                  "Max processes             512                  4096                 processes\n"
                  "Max open files            1024                 1024                 files\n";
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, mem, pids, LO_ONLY, false, "runtime.rlimit.nproc");
    limits_text = "Max core file size        0                    0                    bytes\n";
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, mem, pids, LO_ONLY, false, "runtime.rlimit.nofile");
    limits_text = GOOD_LIMITS;
    expect_runtime(GOOD_STATUS,
                   "1 0 0:1 / / rw,relatime - overlay overlay rw\n"
                   "2 1 0:2 / /tmp rw,nosuid,nodev,noexec - tmpfs tmpfs rw,size=65536k\n"
                   "3 1 0:3 / /workspace/group rw - ext4 x rw\n"
                   "4 1 0:3 / /workspace/extra/docs ro - ext4 x rw\n",
                   mem, pids, LO_ONLY, false, "runtime.mounts./");
    expect_runtime(GOOD_STATUS,
                   "1 0 0:1 / / ro - overlay overlay rw\n"
                   "2 1 0:2 / /tmp rw,nosuid,nodev - tmpfs tmpfs rw,size=65536k\n"
                   "3 1 0:3 / /workspace/group rw - ext4 x rw\n"
                   "4 1 0:3 / /workspace/extra/docs ro - ext4 x rw\n",
                   mem, pids, LO_ONLY, false, "runtime.mounts./tmp");
    expect_runtime(GOOD_STATUS,
                   GOOD_MOUNTINFO "5 4 0:9 / /workspace/extra/docs/sub rw - tmpfs t rw\n", mem,
                   pids, LO_ONLY, false, "mounted below it: /workspace/extra/docs/sub");
    expect_runtime(GOOD_STATUS,
                   "1 0 0:1 / / ro - overlay overlay rw\n"
                   "2 1 0:2 / /tmp rw,nosuid,nodev,noexec - tmpfs tmpfs rw,size=65536k\n"
                   "3 1 0:3 / /workspace/group rw shared:7 - ext4 x rw\n"
                   "4 1 0:3 / /workspace/extra/docs ro - ext4 x rw\n",
                   mem, pids, LO_ONLY, false,
                   "runtime.mounts./workspace/group: rw shared (mounts propagate)");
    /* rslave, which an engine could apply while it reports rprivate: the host's mounts would
     * appear inside. */
    expect_runtime(GOOD_STATUS,
                   "1 0 0:1 / / ro - overlay overlay rw\n"
                   "2 1 0:2 / /tmp rw,nosuid,nodev,noexec - tmpfs tmpfs rw,size=65536k\n"
                   "3 1 0:3 / /workspace/group rw master:2 - ext4 x rw\n"
                   "4 1 0:3 / /workspace/extra/docs ro - ext4 x rw\n" SYSTEM_MOUNTS,
                   mem, pids, LO_ONLY, false,
                   "runtime.mounts./workspace/group: rw slave (the host's mounts propagate in");
    expect_runtime(
        GOOD_STATUS,
        "1 0 0:1 / / ro - overlay overlay rw\n"
        "2 1 0:2 / /tmp rw,nosuid,nodev,noexec - tmpfs tmpfs rw,size=65536k\n"
        "3 1 0:3 / /workspace/group rw - ext4 x rw\n"
        "4 1 0:3 / /workspace/extra/docs ro master:5 propagate_from:1 - ext4 x rw\n" SYSTEM_MOUNTS,
        mem, pids, LO_ONLY, false, "runtime.mounts./workspace/extra/docs: ro slave");
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO "5 3 0:9 / /workspace/group/.ssh ro - ext4 x rw\n",
                   mem, pids, LO_ONLY, false, "mounted below it: /workspace/group/.ssh");
    expect_runtime(GOOD_STATUS,
                   "1 0 0:1 / / ro - overlay overlay rw\n"
                   "2 1 0:2 / /tmp rw,nosuid,nodev,noexec - tmpfs tmpfs rw,size=65536k\n"
                   "4 1 0:3 / /workspace/extra/docs ro - ext4 x rw\n",
                   mem, pids, LO_ONLY, false, "runtime.mounts./workspace/group");
    /* In a user namespace the host sees the mapped ids. */
    id_map = "         0       1000          1\n         1     300000      65536\n";
    const char *mapped = "Name:\tcatatonit\nUid:\t300999\t300999\t300999\t300999\n"
                         "Gid:\t300999\t300999\t300999\t300999\nGroups:\t300999 \n";
    _cleanup_free_ char *userns = xasprintf("%s%s", mapped, strstr(GOOD_STATUS, "NSpid"));
    expect_runtime(userns, GOOD_MOUNTINFO, mem, pids, LO_ONLY, false, NULL);
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, mem, pids, LO_ONLY, false,
                   "runtime.Uid: '1000\t1000\t1000\t1000', asked 1000 (host 300999)");
    id_map = "         0          0 4294967295\n";
    /* A tmpfs size that is not a whole number of pages shows rounded up. */
    uint64_t saved_size = cfg->sandbox.tmp_size;
    cfg->sandbox.tmp_size = 1025 * 1024;
    _cleanup_free_ char *odd =
        xasprintf("1 0 0:1 / / ro - overlay overlay rw\n"
                  "2 1 0:2 / /tmp rw,nosuid,nodev,noexec - tmpfs tmpfs rw,size=%luk\n"
                  "3 1 0:3 / /workspace/group rw - ext4 x rw\n"
                  "4 1 0:3 / /workspace/extra/docs ro - ext4 x rw\n" SYSTEM_MOUNTS,
                  (unsigned long)((1025 * 1024 + sysconf(_SC_PAGESIZE) - 1) /
                                  sysconf(_SC_PAGESIZE) * sysconf(_SC_PAGESIZE) / 1024));
    expect_runtime(GOOD_STATUS, odd, mem, pids, LO_ONLY, false, NULL);
    cfg->sandbox.tmp_size = saved_size;
    /* The source was swapped (say for a symlink to ~/.ssh) after it was checked. */
    swap_docs = true;
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, mem, pids, LO_ONLY, false,
                   "runtime.mounts./workspace/extra/docs: ro,relatime; it is device");
    swap_docs = false;
}

/* GOOD_MOUNTINFO with the line holding from replaced by to ("" drops it). */
static char *mountinfo_with(const char *from, const char *to)
{
    const char *good = GOOD_MOUNTINFO;
    const char *at = strstr(good, from);
    assert_non_null(at);
    const char *bol = at;
    while (bol > good && bol[-1] != '\n')
        bol--;
    const char *eol = strchr(at, '\n') + 1;
    return xasprintf("%.*s%s%s", (int)(bol - good), good, to, eol);
}

/* The engines' masks and read-only paths, each as the kernel shows it: a path that exists in
 * the container must be under a bind of /dev/null or a read-only tmpfs (masked), or on a
 * read-only mount (read-only); a path the kernel lacks needs nothing. */
static void test_runtime_system_paths(void **state)
{
    (void)state;
    const char *mem = "536870912\n", *pids = "256\n";
    build_tree(GOOD_STATUS, GOOD_MOUNTINFO, mem, pids, LO_ONLY, false);
    sandbox_spec s = make_spec(ENGINE_DOCKER);
    strbuf report = STRBUF_INIT;
    nc_error *err = NULL;
    if (run_runtime(&s, &report, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    const char *const lines[] = {
        "ok runtime.masked./proc/keys\n",
        "ok runtime.masked./proc/timer_list\n",
        "ok runtime.masked./proc/acpi\n",
        "ok runtime.masked./sys/firmware\n",
        "ok runtime.masked./proc/kcore (absent)\n",
        "ok runtime.readonly./proc/sys\n",
        "ok runtime.readonly./proc/asound (absent)\n",
        "ok runtime.readonly./sys\n",
    };
    for (size_t i = 0; i < NC_ARRAY_SIZE(lines); i++)
        if (!strstr(report.buf, lines[i]))
            fail_msg("no '%s' in:\n%s", lines[i], report.buf);
    strbuf_release(&report);
    drop_tree();

    static const struct {
        const char *from, *to, *failed;
    } cases[] = {
        /* No mask: the real /proc/keys of the host kernel shows. */
        {"/proc/keys", "",
         "runtime.masked./proc/keys: readable in the container: its mount is '/proc' proc"},
        {"/sys/firmware ro,", "20 11 0:14 / /sys/firmware rw,relatime - tmpfs tmpfs rw\n",
         "runtime.masked./sys/firmware: readable in the container: its mount is "
         "'/sys/firmware' tmpfs (rw,relatime)"},
        {"/proc/timer_list", "19 10 0:6 /zero /proc/timer_list ro - devtmpfs devtmpfs rw\n",
         "runtime.masked./proc/timer_list"},
        /* A mask made on the root mount before /proc was mounted lies under /proc: hidden. */
        {"/proc/keys", "18 1 0:12 /null /proc/keys rw - tmpfs tmpfs rw\n",
         "runtime.masked./proc/keys"},
        /* A procfs mounted over /proc after the masks hides all of them. */
        {"/sys/firmware",
         "20 11 0:14 / /sys/firmware ro,relatime - tmpfs tmpfs rw,size=0k\n"
         "21 1 0:15 / /proc rw,nosuid,nodev,noexec - proc proc rw\n",
         "runtime.masked./proc/acpi: readable in the container: its mount is '/proc' proc"},
        /* The file itself mounted back over its mask. */
        {"/proc/keys",
         "18 10 0:12 /null /proc/keys rw - tmpfs tmpfs rw\n"
         "22 18 0:10 /keys /proc/keys rw - proc proc rw\n",
         "runtime.masked./proc/keys"},
        {"/proc/sys ro,", "16 10 0:10 /sys /proc/sys rw,nosuid - proc proc rw\n",
         "runtime.readonly./proc/sys: writable in the container: its mount is '/proc/sys' proc "
         "(rw,nosuid)"},
        {"/proc/bus", "", "runtime.readonly./proc/bus: writable"},
        {"sysfs", "11 1 0:11 / /sys rw,nosuid - sysfs sysfs rw\n",
         "runtime.readonly./sys: its mount is /sys rw,nosuid"},
    };
    for (size_t i = 0; i < NC_ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *mi = mountinfo_with(cases[i].from, cases[i].to);
        expect_runtime(GOOD_STATUS, mi, mem, pids, LO_ONLY, false, cases[i].failed);
    }
    /* A kernel that has /proc/kcore: it must be masked too. */
    also_present = "/proc/kcore";
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO, mem, pids, LO_ONLY, false,
                   "runtime.masked./proc/kcore: readable in the container");
    expect_runtime(GOOD_STATUS, GOOD_MOUNTINFO "23 10 0:6 /null /proc/kcore rw - devtmpfs d rw\n",
                   mem, pids, LO_ONLY, false, NULL);
    also_present = NULL;
}

static void test_runtime_waivers(void **state)
{
    (void)state;
    char *waive[] = {"memory", "pids", "cgroupns", NULL};
    char **saved = cfg->sandbox.allow_unenforced;
    cfg->sandbox.allow_unenforced = waive;
    build_tree(GOOD_STATUS, GOOD_MOUNTINFO, "9223372036854771712\n", "max\n", LO_ONLY, true);
    sandbox_spec s = make_spec(ENGINE_DOCKER);
    strbuf report = STRBUF_INIT;
    nc_error *err = NULL;
    if (run_runtime(&s, &report, &err) < 0)
        fail_msg("waived checks still failed: %s", nc_error_msg(err));
    if (!strstr(report.buf, "waived runtime.cgroup.memory: the engine accepted a memory limit of "
                            "536870912 but the container's cgroup '/docker/abc' has none"))
        fail_msg("report:\n%s", report.buf);
    assert_non_null(strstr(report.buf, "ok runtime.init\n"));
    assert_non_null(strstr(report.buf, "ok runtime.Seccomp\n"));
    assert_non_null(strstr(report.buf, "ok runtime.mounts./tmp\n"));
    assert_non_null(strstr(report.buf, "waived runtime.cgroup.pids"));
    assert_non_null(strstr(report.buf, "waived runtime.ns.cgroup"));
    strbuf_release(&report);
    /* A waiver covers only its own check. */
    cfg->sandbox.allow_unenforced = (char *[]){"memory", NULL};
    assert_int_equal(run_runtime(&s, NULL, &err), -EPERM);
    assert_null(strstr(err->msg, "runtime.cgroup.memory"));
    assert_non_null(strstr(err->msg, "runtime.cgroup.pids"));
    assert_non_null(strstr(err->msg, "allow_unenforced = [\"pids\"]"));
    nc_error_free(err);
    err = NULL;
    drop_tree();
    /* No process to look at. */
    cfg->sandbox.allow_unenforced = NULL;
    build_tree(GOOD_STATUS, GOOD_MOUNTINFO, "1", "1", LO_ONLY, false);
    _cleanup_free_ char *proc = xasprintf("%s/proc", tree);
    assert_int_equal(sandbox_verify_runtime(&s, 999, proc, "/x", NULL, &err), -EPERM);
    assert_non_null(strstr(err->msg, "cannot be inspected from here"));
    nc_error_free(err);
    err = NULL;
    cfg->sandbox.allow_unenforced = (char *[]){"runtime", NULL};
    assert_int_equal(sandbox_verify_runtime(&s, 999, proc, "/x", NULL, &err), 0);
    /* An engine on another host (pid -1): even a pid that exists here is never read. */
    cfg->sandbox.allow_unenforced = NULL;
    assert_int_equal(sandbox_verify_runtime(&s, -1, proc, "/x", NULL, &err), -EPERM);
    assert_non_null(strstr(err->msg, "the engine runs on another host"));
    nc_error_free(err);
    err = NULL;
    drop_tree();
    cfg->sandbox.allow_unenforced = saved;
}

/* HOME's tmpfs (agent.home) is declared like /tmp and verified like it: after create and in the
 * running container's mounts. */
static void test_home_tmpfs(void **state)
{
    (void)state;
    sandbox_spec s = make_spec(ENGINE_DOCKER);
    s.home_tmpfs = "/home/agent";
    _cleanup_json_ nc_json *j = build(&s);
    const nc_json *tmpfs = json_get(json_get(j, "HostConfig"), "Tmpfs");
    assert_string_equal(str_at(tmpfs, "/home/agent", NULL), "rw,noexec,nosuid,nodev,size=67108864");
    assert_non_null(json_get(tmpfs, "/tmp"));

    const struct {
        const char *home_opts, *failed;
    } inspect_cases[] = {
        {"rw,noexec,nosuid,nodev,size=67108864", NULL},
        {NULL, "HostConfig.Tmpfs./home/agent: options '(none)'"},
        {"rw,nosuid,nodev,size=67108864", "HostConfig.Tmpfs./home/agent"},
    };
    for (size_t i = 0; i < NC_ARRAY_SIZE(inspect_cases); i++) {
        struct inspect x = inspect_defaults(ENGINE_DOCKER);
        x.home = "/home/agent";
        x.home_opts = inspect_cases[i].home_opts;
        _cleanup_free_ char *text = inspect_json(&x);
        _cleanup_json_ nc_json *doc = NULL;
        assert_int_equal(json_parse(text, strlen(text), &doc, NULL), 0);
        nc_error *err = NULL;
        int r = sandbox_verify_inspect(&s, doc, NULL, &err);
        const char *failed = inspect_cases[i].failed;
        if (failed ? r != -EPERM || !strstr(nc_error_msg(err), failed) : r != 0)
            fail_msg("inspect case %zu: %d '%s'", i, r, nc_error_msg(err));
        nc_error_free(err);
    }

    const struct {
        const char *line, *failed;
    } runtime_cases[] = {
        {"5 1 0:4 / /home/agent rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,size=65536k\n",
         NULL},
        {"", "runtime.mounts./home/agent:  missing"},
        {"5 1 0:4 / /home/agent rw,nosuid,nodev,relatime - tmpfs tmpfs rw,size=65536k\n",
         "runtime.mounts./home/agent"},
        {"5 1 0:3 / /home/agent rw,nosuid,nodev,noexec,relatime - ext4 /dev/vda rw\n",
         "runtime.mounts./home/agent"},
    };
    for (size_t i = 0; i < NC_ARRAY_SIZE(runtime_cases); i++) {
        _cleanup_free_ char *mountinfo = xasprintf("%s%s", GOOD_MOUNTINFO, runtime_cases[i].line);
        build_tree(GOOD_STATUS, mountinfo, "536870912\n", "256\n", LO_ONLY, false);
        sandbox_spec rs = make_spec(ENGINE_DOCKER);
        rs.home_tmpfs = "/home/agent";
        strbuf report = STRBUF_INIT;
        nc_error *err = NULL;
        int r = run_runtime(&rs, &report, &err);
        const char *failed = runtime_cases[i].failed;
        if (failed ? r != -EPERM || !strstr(nc_error_msg(err), failed) : r != 0)
            fail_msg("runtime case %zu: %d '%s'\n%s", i, r, nc_error_msg(err), report.buf);
        if (!failed)
            assert_non_null(strstr(report.buf, "ok runtime.mounts./home/agent\n"));
        nc_error_free(err);
        strbuf_release(&report);
        drop_tree();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_docker),
        cmocka_unit_test(test_spec_podman_and_api44),
        cmocka_unit_test(test_inspect_accepts),
        cmocka_unit_test(test_inspect_refuses_each_weakened_field),
        cmocka_unit_test(test_inspect_runtime),
        cmocka_unit_test(test_prepare_caps_rule),
        cmocka_unit_test(test_create_warning_is_fatal),
        cmocka_unit_test(test_libpod_rootless_warning),
        cmocka_unit_test(test_libpod_create_errors),
        cmocka_unit_test(test_libpod_runtime),
        cmocka_unit_test(test_bundle_seccomp),
        cmocka_unit_test(test_podman3_uses_compat_create),
        cmocka_unit_test(test_inspect_waivers),
        cmocka_unit_test(test_runtime),
        cmocka_unit_test(test_runtime_filter_loaded_late),
        cmocka_unit_test(test_runtime_system_paths),
        cmocka_unit_test(test_runtime_waivers),
        cmocka_unit_test(test_home_tmpfs),
    };
    return cmocka_run_group_tests_name("sandbox-verify", tests, setup, teardown);
}
