/* The libpod create body (sandbox/spec_libpod.c): golden fields of Podman's SpecGenerator for
 * the hardened defaults, the rootless keep-id mapping, and agreement with the Docker body built
 * from the same spec (one spec model, two forms). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "config.h"
#include "sandbox/spec.h"
#include "util/json.h"
#include "util/xalloc.h"

#define SECCOMP_PATH "/var/lib/nanocell/seccomp/abc.json"

static nc_config *cfg;
static char *env[] = {"HOME=/home/agent", "NANOCELL_GROUP=g1", NULL};
static char *cmd[] = {"/usr/bin/agent", "--once", NULL};
static const sandbox_mount mounts[] = {
    {.source = "/srv/groups/g1", .target = "/workspace/group"},
    {.source = "/srv/extra/docs", .target = "/workspace/extra/docs", .read_only = true},
};

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
    return 0;
}

static sandbox_spec make_spec(void)
{
    return (sandbox_spec){
        .settings = &cfg->sandbox,
        .image = "nanocell-agent:latest",
        .cmd = cmd,
        .env = env,
        .workdir = "/workspace/group",
        .install_id = "inst1",
        .group = "g1",
        .run_id = "run1",
        .owner = "boot/1/2",
        .mounts = mounts,
        .nmounts = NC_ARRAY_SIZE(mounts),
        .home_tmpfs = "/home/agent",
        .seccomp_json = "{\"defaultAction\":\"SCMP_ACT_ERRNO\"}",
        .seccomp_path = SECCOMP_PATH,
        .seccomp_digest = "abc",
        .kind = ENGINE_PODMAN,
        .api_minor = 41,
    };
}

static nc_json *build(const sandbox_spec *s, bool keep_id)
{
    strbuf out = STRBUF_INIT;
    nc_error *err = NULL;
    sandbox_libpod_opts o = {.name = "nc-g1-run1", .keep_id = keep_id};
    if (sandbox_spec_libpod_json(s, &o, &out, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    nc_json *doc = NULL;
    assert_int_equal(json_parse(out.buf, out.len, &doc, NULL), 0);
    strbuf_release(&out);
    return doc;
}

/* The value at a dotted path ("resource_limits.memory.limit"). */
static const nc_json *at(const nc_json *v, const char *path)
{
    _cleanup_free_ char *copy = xstrdup(path);
    for (char *p = copy, *dot; p; p = dot ? dot + 1 : NULL) {
        dot = strchr(p, '.');
        if (dot)
            *dot = '\0';
        v = json_get(v, p);
    }
    return v;
}

static void expect_str(const nc_json *doc, const char *path, const char *want)
{
    const char *got = json_string(at(doc, path));
    if (!got || strcmp(got, want) != 0)
        fail_msg("%s: '%s', want '%s'", path, got ? got : "(missing)", want);
}

static void expect_int(const nc_json *doc, const char *path, int64_t want)
{
    int64_t got = -12345;
    if (!json_int(at(doc, path), &got) || got != want)
        fail_msg("%s: %lld, want %lld", path, (long long)got, (long long)want);
}

static void expect_bool(const nc_json *doc, const char *path, bool want)
{
    bool got = !want;
    if (!json_bool(at(doc, path), &got) || got != want)
        fail_msg("%s: not %s", path, want ? "true" : "false");
}

/* Array of strings, exactly. */
static void expect_strs(const nc_json *v, const char *what, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    if (json_array_len(v) != n)
        fail_msg("%s: %zu entries, want %zu", what, json_array_len(v), n);
    for (size_t i = 0; i < n; i++) {
        const char *got = json_string(json_array_at(v, i));
        if (!got || strcmp(got, want[i]) != 0)
            fail_msg("%s[%zu]: '%s', want '%s'", what, i, got ? got : "(missing)", want[i]);
    }
}

static const nc_json *find_mount(const nc_json *doc, const char *dest)
{
    const nc_json *m = json_get(doc, "mounts");
    for (size_t i = 0; i < json_array_len(m); i++) {
        const char *d = json_string(json_get(json_array_at(m, i), "destination"));
        if (d && strcmp(d, dest) == 0)
            return json_array_at(m, i);
    }
    fail_msg("no mount at '%s'", dest);
    return NULL;
}

static void test_hardened_fields(void **state)
{
    (void)state;
    sandbox_spec s = make_spec();
    _cleanup_json_ nc_json *doc = build(&s, false);
    expect_str(doc, "name", "nc-g1-run1");
    expect_str(doc, "image", "nanocell-agent:latest");
    expect_strs(json_get(doc, "command"), "command",
                (const char *[]){"/usr/bin/agent", "--once", NULL});
    expect_str(doc, "env.HOME", "/home/agent");
    expect_str(doc, "env.NANOCELL_GROUP", "g1");
    expect_str(doc, "work_dir", "/workspace/group");
    expect_str(doc, "user", "1000:1000");
    expect_bool(doc, "stdin", true);
    expect_bool(doc, "terminal", false);
    const nc_json *labels = json_get(doc, "labels");
    assert_string_equal(json_string(json_get(labels, "nanocell.install")), "inst1");
    assert_string_equal(json_string(json_get(labels, "nanocell.run")), "run1");
    assert_string_equal(json_string(json_get(labels, "nanocell.group")), "g1");
    assert_string_equal(json_string(json_get(labels, "nanocell.seccomp")), "abc");
    const nc_json *ann = json_get(doc, "annotations");
    assert_string_equal(json_string(json_get(ann, "io.podman.annotations.seccomp")), SECCOMP_PATH);
    expect_bool(doc, "privileged", false);
    expect_strs(json_get(doc, "cap_drop"), "cap_drop", (const char *[]){"ALL", NULL});
    expect_strs(json_get(doc, "cap_add"), "cap_add", (const char *[]){NULL});
    expect_bool(doc, "no_new_privileges", true);
    expect_str(doc, "seccomp_profile_path", SECCOMP_PATH);
    expect_bool(doc, "read_only_filesystem", true);
    expect_str(doc, "cgroupns.nsmode", "private");
    expect_str(doc, "ipcns.nsmode", "private");
    expect_str(doc, "pidns.nsmode", "private");
    expect_str(doc, "utsns.nsmode", "private");
    expect_str(doc, "netns.nsmode", "none");
    assert_null(json_get(doc, "userns")); /* rootful: no user namespace, as Docker */
    expect_int(doc, "resource_limits.memory.limit", 536870912);
    expect_int(doc, "resource_limits.memory.swap", 536870912);
    expect_int(doc, "resource_limits.pids.limit", 256);
    expect_int(doc, "resource_limits.cpu.quota", 100000);
    expect_int(doc, "resource_limits.cpu.period", 100000);
    const struct {
        const char *type;
        int64_t v;
    } rl[] = {{"nofile", 1024}, {"nproc", 512}, {"core", 0}};
    const nc_json *r = json_get(doc, "r_limits");
    assert_int_equal(json_array_len(r), NC_ARRAY_SIZE(rl));
    for (size_t i = 0; i < NC_ARRAY_SIZE(rl); i++) {
        /* Podman prefixes RLIMIT_ itself: "RLIMIT_NOFILE" would become RLIMIT_RLIMIT_NOFILE and
         * leave its own default of 1048576 in place. */
        expect_str(json_array_at(r, i), "type", rl[i].type);
        expect_int(json_array_at(r, i), "soft", rl[i].v);
        expect_int(json_array_at(r, i), "hard", rl[i].v);
    }
    const char *const tmpfs[] = {"/tmp", "/var/tmp", "/run", "/dev/shm", "/home/agent"};
    const char *const topts[] = {"rw", "noexec", "nosuid", "nodev", "size=67108864", NULL};
    for (size_t i = 0; i < NC_ARRAY_SIZE(tmpfs); i++) {
        const nc_json *m = find_mount(doc, tmpfs[i]);
        expect_str(m, "type", "tmpfs");
        expect_strs(json_get(m, "options"), tmpfs[i], topts);
    }
    const nc_json *g = find_mount(doc, "/workspace/group");
    expect_str(g, "type", "bind");
    expect_str(g, "source", "/srv/groups/g1");
    /* "bind", never "rbind": a mount below the source must not come along. */
    expect_strs(json_get(g, "options"), "group options",
                (const char *[]){"bind", "rw", "rprivate", NULL});
    const nc_json *d = find_mount(doc, "/workspace/extra/docs");
    expect_strs(json_get(d, "options"), "docs options",
                (const char *[]){"bind", "ro", "rprivate", NULL});
    assert_int_equal(json_array_len(json_get(doc, "mounts")), NC_ARRAY_SIZE(tmpfs) + 2);
    expect_int(doc, "shm_size", 67108864);
    expect_bool(doc, "init", true);
    assert_string_equal(json_string(json_get(ann, "io.podman.annotations.init")), "TRUE");
    assert_null(json_get(doc, "oci_runtime"));
    expect_bool(doc, "remove", false);
    expect_str(doc, "restart_policy", "no");
    expect_str(doc, "log_configuration.driver", "none");
    assert_null(json_get(doc, "portmappings"));
    assert_null(json_get(doc, "devices"));
}

/* Rootless: the container user is mapped onto the service's own user. */
static void test_keep_id(void **state)
{
    (void)state;
    sandbox_spec s = make_spec();
    char *saved = cfg->sandbox.user;
    cfg->sandbox.user = "1234:2345";
    _cleanup_json_ nc_json *doc = build(&s, true);
    cfg->sandbox.user = saved;
    expect_str(doc, "userns.nsmode", "keep-id");
    expect_str(doc, "userns.value", "uid=1234,gid=2345");
    expect_str(doc, "user", "1234:2345");
}

/* Settings carried as asked: unconfined, the bridge network, no limits, a runtime, cap_add,
 * init off. */
static void test_loosened_settings(void **state)
{
    (void)state;
    sandbox_settings st = cfg->sandbox;
    st.seccomp_profile = "unconfined";
    st.network = "bridge";
    st.memory = 0;
    st.pids_limit = 0;
    st.nano_cpus = 500000000;
    st.init = false;
    st.no_new_privileges = false;
    st.cap_add = (char *[]){"NET_BIND_SERVICE", NULL};
    sandbox_spec s = make_spec();
    s.settings = &st;
    s.seccomp_path = NULL;
    s.runtime = "crun";
    _cleanup_json_ nc_json *doc = build(&s, false);
    expect_str(doc, "seccomp_profile_path", "unconfined");
    assert_string_equal(
        json_string(json_get(json_get(doc, "annotations"), "io.podman.annotations.seccomp")),
        "unconfined");
    assert_null(json_get(json_get(doc, "annotations"), "io.podman.annotations.init"));
    expect_str(doc, "netns.nsmode", "bridge");
    assert_null(at(doc, "resource_limits.memory"));
    assert_null(at(doc, "resource_limits.pids"));
    expect_int(doc, "resource_limits.cpu.quota", 50000);
    expect_bool(doc, "init", false);
    expect_bool(doc, "no_new_privileges", false);
    expect_str(doc, "oci_runtime", "crun");
    expect_strs(json_get(doc, "cap_add"), "cap_add", (const char *[]){"NET_BIND_SERVICE", NULL});
}

static void test_refusals(void **state)
{
    (void)state;
    sandbox_spec s = make_spec();
    strbuf out = STRBUF_INIT;
    nc_error *err = NULL;
    sandbox_libpod_opts o = {.name = "x"};
    s.seccomp_path = NULL; /* a profile, but no file for Podman to read */
    assert_int_equal(sandbox_spec_libpod_json(&s, &o, &out, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "no seccomp profile file"));
    nc_error_free(err);
    err = NULL;
    s = make_spec();
    char *bad_env[] = {"NOEQUALS", NULL};
    s.env = bad_env;
    assert_int_equal(sandbox_spec_libpod_json(&s, &o, &out, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "'NOEQUALS' is not KEY=value"));
    nc_error_free(err);
    err = NULL;
    s = make_spec();
    o.name = NULL;
    assert_int_equal(sandbox_spec_libpod_json(&s, &o, &out, &err), -EINVAL);
    nc_error_free(err);
    strbuf_release(&out);
}

/* One spec, two forms: the values the Docker body carries are the ones the libpod body
 * carries. */
static void test_agrees_with_docker_body(void **state)
{
    (void)state;
    sandbox_spec s = make_spec();
    strbuf docker = STRBUF_INIT;
    assert_int_equal(sandbox_spec_json(&s, &docker, NULL), 0);
    _cleanup_json_ nc_json *d = NULL;
    assert_int_equal(json_parse(docker.buf, docker.len, &d, NULL), 0);
    strbuf_release(&docker);
    _cleanup_json_ nc_json *l = build(&s, false);
    const nc_json *hc = json_get(d, "HostConfig");
    int64_t a, b;
    const struct {
        const char *docker, *libpod;
    } same[] = {{"Memory", "resource_limits.memory.limit"},
                {"MemorySwap", "resource_limits.memory.swap"},
                {"PidsLimit", "resource_limits.pids.limit"},
                {"ShmSize", "shm_size"}};
    for (size_t i = 0; i < NC_ARRAY_SIZE(same); i++) {
        assert_true(json_int(json_get(hc, same[i].docker), &a));
        assert_true(json_int(at(l, same[i].libpod), &b));
        if (a != b)
            fail_msg("%s %lld, %s %lld", same[i].docker, (long long)a, same[i].libpod,
                     (long long)b);
    }
    assert_true(json_int(json_get(hc, "NanoCpus"), &a));
    assert_true(json_int(at(l, "resource_limits.cpu.quota"), &b));
    assert_int_equal(a, b * 10000);
    assert_string_equal(json_string(json_get(d, "User")), json_string(json_get(l, "user")));
    const nc_json *tmpfs = json_get(hc, "Tmpfs");
    for (size_t i = 0; i < json_object_len(tmpfs); i++) {
        const char *key = json_object_key(tmpfs, i);
        const nc_json *m = find_mount(l, key);
        expect_str(m, "type", "tmpfs");
    }
    assert_int_equal(json_array_len(json_get(hc, "Mounts")) + json_object_len(tmpfs),
                     json_array_len(json_get(l, "mounts")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hardened_fields),         cmocka_unit_test(test_keep_id),
        cmocka_unit_test(test_loosened_settings),       cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_agrees_with_docker_body),
    };
    return cmocka_run_group_tests_name("spec-libpod", tests, setup, teardown);
}
