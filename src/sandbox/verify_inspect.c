/* sandbox_verify_inspect: the inspect document against the spec. Tolerated engine differences
 * are only the documented ones: Podman lists the dropped default capabilities instead of
 * "ALL", names ulimits RLIMIT_*, reports IpcMode "shareable" for a private namespace, echoes
 * NanoCpus as CpuQuota/CpuPeriod too, reports binds under Binds and does not report
 * CgroupnsMode, MaskedPaths or ReadonlyPaths (the runtime check looks at the namespace and the
 * mounts themselves). */
#include "sandbox/verify.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "sandbox/verify_report.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Docker's default capability set: what Podman lists as dropped for CapDrop ["ALL"]. */
static const char *const default_caps[] = {
    "AUDIT_WRITE", "CHOWN",   "DAC_OVERRIDE", "FOWNER",  "FSETID",           "KILL",       "MKNOD",
    "NET_RAW",     "SETFCAP", "SETGID",       "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "SETUID",
};

/* Engine socket names that must never appear as a mount source. */
static const char *const socket_names[] = {"docker.sock", "podman.sock", "containerd.sock",
                                           "crio.sock", "docker.proxy.sock"};

/* "cap_net_raw", "CAP_NET_RAW", "net_raw" all compare as "NET_RAW". */
static bool cap_eq(const char *a, const char *b)
{
    if (strncasecmp(a, "CAP_", 4) == 0)
        a += 4;
    if (strncasecmp(b, "CAP_", 4) == 0)
        b += 4;
    return strcasecmp(a, b) == 0;
}

static bool json_array_has_cap(const nc_json *arr, const char *cap)
{
    for (size_t i = 0; i < json_array_len(arr); i++) {
        const char *s = json_string(json_array_at(arr, i));
        if (s && cap_eq(s, cap))
            return true;
    }
    return false;
}

static int64_t get_int(const nc_json *v, int64_t dflt)
{
    int64_t x;
    return json_int(v, &x) ? x : dflt;
}

static bool get_bool(const nc_json *v)
{
    bool b = false;
    json_bool(v, &b);
    return b;
}

static bool empty_or_null(const nc_json *v)
{
    return !v || json_is_null(v) || (json_is_array(v) && json_array_len(v) == 0) ||
           (json_is_object(v) && json_object_len(v) == 0);
}

static void check_caps(vreport *v, const sandbox_spec *s, const nc_json *hc)
{
    const nc_json *drop = json_get(hc, "CapDrop");
    const nc_json *add = json_get(hc, "CapAdd");
    bool dropped = json_array_has_cap(drop, "ALL");
    if (!dropped && s->kind == ENGINE_PODMAN) {
        dropped = true;
        for (size_t i = 0; i < NC_ARRAY_SIZE(default_caps); i++) {
            bool wanted = false;
            for (char **c = s->settings->cap_add; c && *c; c++)
                wanted |= cap_eq(*c, default_caps[i]);
            if (!wanted && !json_array_has_cap(drop, default_caps[i])) {
                vreport_fail(v, "HostConfig.CapDrop", "%s is not dropped", default_caps[i]);
                return;
            }
        }
    }
    vreport_check(v, dropped, "HostConfig.CapDrop", "does not drop ALL");
    size_t want_n = 0;
    for (char **c = s->settings->cap_add; c && *c; c++, want_n++)
        if (!json_array_has_cap(add, *c)) {
            vreport_fail(v, "HostConfig.CapAdd", "%s missing", *c);
            return;
        }
    vreport_check(v, json_array_len(add) == want_n, "HostConfig.CapAdd",
                  "grants %zu capabilities, asked %zu", json_array_len(add), want_n);
}

static void check_security_opt(vreport *v, const sandbox_spec *s, const nc_json *hc)
{
    const nc_json *so = json_get(hc, "SecurityOpt");
    _cleanup_free_ char *seccomp = sandbox_seccomp_opt(s);
    bool nnp = false, sec = false;
    for (size_t i = 0; i < json_array_len(so); i++) {
        const char *o = json_string(json_array_at(so, i));
        if (!o)
            continue;
        nnp |= strcmp(o, "no-new-privileges") == 0 || strcmp(o, "no-new-privileges:true") == 0 ||
               strcmp(o, "no-new-privileges=true") == 0;
        sec |= strcmp(o, seccomp) == 0;
    }
    if (s->settings->no_new_privileges)
        vreport_check(v, nnp, "HostConfig.SecurityOpt.no-new-privileges", "missing");
    vreport_check(v, sec, "HostConfig.SecurityOpt.seccomp",
                  "the engine does not hold the profile nanocell sent");
}

/* Limits the engine reports as not set can be waived (sandbox.allow_unenforced), for engines
 * that cannot apply them: rootless Podman 4 on cgroup v1 reports Memory, PidsLimit and NanoCpus
 * as 0 and no Ulimits. */
static void check_limits(vreport *v, const sandbox_settings *st, const nc_json *hc)
{
    bool waive_mem = sandbox_allows_unenforced(st, SANDBOX_UNENFORCED_MEMORY);
    int64_t pids = get_int(json_get(hc, "PidsLimit"), 0);
    if (st->pids_limit == 0)
        vreport_check(v, pids <= 0, "HostConfig.PidsLimit", "%lld, asked unlimited",
                      (long long)pids);
    else
        vreport_check_waivable(v, pids == st->pids_limit,
                               pids <= 0 && sandbox_allows_unenforced(st, SANDBOX_UNENFORCED_PIDS),
                               "HostConfig.PidsLimit", "%lld, asked %lld", (long long)pids,
                               (long long)st->pids_limit);
    int64_t mem = get_int(json_get(hc, "Memory"), 0);
    int64_t swap = get_int(json_get(hc, "MemorySwap"), 0);
    vreport_check_waivable(v, mem == (int64_t)st->memory, mem == 0 && waive_mem,
                           "HostConfig.Memory", "%lld, asked %llu", (long long)mem,
                           (unsigned long long)st->memory);
    vreport_check_waivable(v, st->memory ? swap == mem : swap <= 0,
                           mem == 0 && swap <= 0 && waive_mem, "HostConfig.MemorySwap",
                           "%lld, asked %llu (no swap)", (long long)swap,
                           (unsigned long long)st->memory);
    int64_t nano = get_int(json_get(hc, "NanoCpus"), 0);
    int64_t quota = get_int(json_get(hc, "CpuQuota"), 0);
    int64_t period = get_int(json_get(hc, "CpuPeriod"), 0);
    /* Podman echoes NanoCpus and also sets the equivalent CFS quota. */
    bool cpu_ok =
        nano == st->nano_cpus && (quota == 0 || vreport_cfs_is(quota, period, st->nano_cpus));
    vreport_check_waivable(
        v, cpu_ok, nano == 0 && quota <= 0 && sandbox_allows_unenforced(st, SANDBOX_UNENFORCED_CPU),
        "HostConfig.NanoCpus", "%lld (quota %lld/%lld), asked %lld", (long long)nano,
        (long long)quota, (long long)period, (long long)st->nano_cpus);
    vreport_check(v, !get_bool(json_get(hc, "OomKillDisable")), "HostConfig.OomKillDisable",
                  "the OOM killer is disabled");
}

static bool ulimit_name_is(const char *got, const char *want)
{
    if (strncasecmp(got, "RLIMIT_", 7) == 0)
        got += 7;
    return strcasecmp(got, want) == 0;
}

static void check_ulimits(vreport *v, const sandbox_settings *st, const nc_json *hc)
{
    const struct {
        const char *name;
        int64_t want;
    } want[] = {{"nofile", st->nofile}, {"nproc", st->nproc}, {"core", 0}};
    const nc_json *ul = json_get(hc, "Ulimits");
    for (size_t k = 0; k < NC_ARRAY_SIZE(want); k++) {
        bool ok = false, found = false;
        for (size_t i = 0; i < json_array_len(ul); i++) {
            const nc_json *u = json_array_at(ul, i);
            const char *n = json_string(json_get(u, "Name"));
            if (n && ulimit_name_is(n, want[k].name)) {
                found = true;
                ok = get_int(json_get(u, "Soft"), -1) == want[k].want &&
                     get_int(json_get(u, "Hard"), -1) == want[k].want;
            }
        }
        _cleanup_free_ char *name = xasprintf("HostConfig.Ulimits.%s", want[k].name);
        vreport_check_waivable(
            v, ok, !found && sandbox_allows_unenforced(st, SANDBOX_UNENFORCED_ULIMITS), name,
            "%s, asked %lld", found ? "different" : "not set", (long long)want[k].want);
    }
}

static void check_tmpfs(vreport *v, const sandbox_spec *s, const nc_json *hc)
{
    const nc_json *tmpfs = json_get(hc, "Tmpfs");
    _cleanup_free_ char *size = xasprintf("size=%llu", (unsigned long long)s->settings->tmp_size);
    _cleanup_free_ const char **targets = sandbox_spec_tmpfs(s);
    for (const char **t = targets; *t; t++) {
        const char *opts = json_string(json_get(tmpfs, *t));
        _cleanup_free_ char *name = xasprintf("HostConfig.Tmpfs.%s", *t);
        vreport_check(
            v,
            opts && vreport_has_option(opts, "noexec") && vreport_has_option(opts, "nosuid") &&
                vreport_has_option(opts, "nodev") && vreport_has_option(opts, size),
            name, "options '%s', asked noexec,nosuid,nodev,%s", opts ? opts : "(none)", size);
    }
}

static void check_namespaces(vreport *v, const sandbox_spec *s, const nc_json *hc)
{
    const char *net = json_string(json_get(hc, "NetworkMode"));
    vreport_check(v, net && strcmp(net, s->settings->network) == 0, "HostConfig.NetworkMode",
                  "'%s', asked '%s'", net ? net : "", s->settings->network);
    const char *ipc = json_string(json_get(hc, "IpcMode"));
    vreport_check(v, ipc && (strcmp(ipc, "private") == 0 || strcmp(ipc, "shareable") == 0),
                  "HostConfig.IpcMode", "'%s', asked private", ipc ? ipc : "");
    const char *cgns = json_string(json_get(hc, "CgroupnsMode"));
    if (s->kind == ENGINE_DOCKER && s->api_minor >= 41)
        vreport_check(v, cgns && strcmp(cgns, "private") == 0, "HostConfig.CgroupnsMode",
                      "'%s', asked private", cgns ? cgns : "");
    const char *const host_only[] = {"PidMode", "UTSMode", "UsernsMode"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(host_only); i++) {
        const char *m = json_string(json_get(hc, host_only[i]));
        _cleanup_free_ char *name = xasprintf("HostConfig.%s", host_only[i]);
        vreport_check(v, !m || strcmp(m, "host") != 0, name, "shares the host's namespace");
    }
}

static bool json_array_has_string(const nc_json *arr, const char *want)
{
    for (size_t i = 0; i < json_array_len(arr); i++) {
        const char *s = json_string(json_array_at(arr, i));
        if (s && strcmp(s, want) == 0)
            return true;
    }
    return false;
}

/* One list of system paths: reported, an array, and holding each of want (or, for read-only
 * paths, masked instead). */
static void check_path_list(vreport *v, const char *name, const nc_json *list,
                            const char *const *want, const nc_json *also)
{
    if (!list || json_is_null(list) || !json_is_array(list)) {
        vreport_fail(v, name,
                     "not reported, so nothing confirms that /proc and /sys paths are "
                     "hidden");
        return;
    }
    if (json_array_len(list) == 0) {
        vreport_fail(v, name, "empty: /proc and /sys paths are exposed");
        return;
    }
    _cleanup_strbuf_ strbuf missing = STRBUF_INIT;
    for (const char *const *p = want; *p; p++)
        if (!json_array_has_string(list, *p) && !json_array_has_string(also, *p))
            strbuf_addf(&missing, "%s'%s'", missing.len ? ", " : "", *p);
    vreport_check(v, missing.len == 0, name, "lacks %s", strbuf_str(&missing));
}

/* Docker reports the masked and read-only paths it will apply: an empty list means none at all
 * (--security-opt systempaths=unconfined), and a missing one confirms nothing. Podman's compat
 * API neither takes nor reports them (it applies its own defaults): there only a list it does
 * report is checked, and the runtime check looks at the mounts themselves. */
static void check_system_paths(vreport *v, const sandbox_spec *s, const nc_json *hc)
{
    const nc_json *masked = json_get(hc, "MaskedPaths");
    const nc_json *ro = json_get(hc, "ReadonlyPaths");
    if (s->kind == ENGINE_DOCKER || (masked && !json_is_null(masked)))
        check_path_list(v, "HostConfig.MaskedPaths", masked, sandbox_masked_paths, NULL);
    if (s->kind == ENGINE_DOCKER || (ro && !json_is_null(ro)))
        check_path_list(v, "HostConfig.ReadonlyPaths", ro, sandbox_readonly_paths, masked);
}

static const nc_json *find_mount(const nc_json *mounts, const char *target)
{
    for (size_t i = 0; i < json_array_len(mounts); i++) {
        const char *d = json_string(json_get(json_array_at(mounts, i), "Destination"));
        if (d && strcmp(d, target) == 0)
            return json_array_at(mounts, i);
    }
    return NULL;
}

static void check_mounts(vreport *v, const sandbox_spec *s, const nc_json *inspect)
{
    const nc_json *mounts = json_get(inspect, "Mounts");
    for (size_t i = 0; i < s->nmounts; i++) {
        const sandbox_mount *m = &s->mounts[i];
        const nc_json *got = find_mount(mounts, m->target);
        const char *src = json_string(json_get(got, "Source"));
        bool rw = get_bool(json_get(got, "RW"));
        /* Mounts below the source must not propagate to the host or from it (CIS 5.20). */
        const char *prop = json_string(json_get(got, "Propagation"));
        bool private =
            !prop || !*prop || strcmp(prop, "rprivate") == 0 || strcmp(prop, "private") == 0;
        _cleanup_free_ char *name = xasprintf("Mounts.%s", m->target);
        vreport_check(v,
                      got && src && strcmp(src, m->source) == 0 && rw == !m->read_only && private,
                      name, "'%s' %s %s, asked '%s' %s rprivate", src ? src : "(missing)",
                      rw ? "rw" : "ro", prop ? prop : "", m->source, m->read_only ? "ro" : "rw");
    }
    size_t binds = 0;
    for (size_t i = 0; i < json_array_len(mounts); i++) {
        const nc_json *m = json_array_at(mounts, i);
        const char *src = json_string(json_get(m, "Source"));
        const char *type = json_string(json_get(m, "Type"));
        if (type && strcmp(type, "bind") == 0)
            binds++;
        for (size_t k = 0; src && k < NC_ARRAY_SIZE(socket_names); k++)
            if (strstr(src, socket_names[k])) {
                vreport_fail(v, "Mounts.engine-socket", "'%s' is mounted", src);
                return;
            }
    }
    vreport_check(v, binds == s->nmounts, "Mounts", "%zu bind mounts, asked %zu", binds,
                  s->nmounts);
}

/* The runtime asked for (gVisor's runsc, say), which is isolation too. Podman's compat inspect
 * reports "oci" whatever the runtime: for a container created through libpod, libpod's own
 * inspect names it (OCIRuntime); through the compat API (Podman 3) none can be confirmed. */
static void check_runtime(vreport *v, const sandbox_spec *s, const nc_json *hc,
                          const nc_json *libpod)
{
    if (!s->runtime || !*s->runtime)
        return;
    if (libpod) {
        const char *rt = json_string(json_get(libpod, "OCIRuntime"));
        vreport_check(v, rt && strcmp(rt, s->runtime) == 0, "OCIRuntime",
                      "Podman runs it on '%s', asked '%s'", rt ? rt : "", s->runtime);
        return;
    }
    const char *rt = json_string(json_get(hc, "Runtime"));
    vreport_check(v, rt && strcmp(rt, s->runtime) == 0, "HostConfig.Runtime", "'%s', asked '%s'%s",
                  rt ? rt : "", s->runtime,
                  s->kind == ENGINE_PODMAN ? " (Podman's Docker-compatible inspect reports "
                                             "no runtime, so none can be confirmed: set "
                                             "Podman's own runtime and leave "
                                             "sandbox.runtime \"auto\" or empty)"
                                           : "");
}

int sandbox_verify_inspect(const sandbox_spec *s, const nc_json *inspect, strbuf *report,
                           nc_error **err)
{
    return sandbox_verify_inspect_libpod(s, inspect, NULL, report, err);
}

int sandbox_verify_inspect_libpod(const sandbox_spec *s, const nc_json *inspect,
                                  const nc_json *libpod, strbuf *report, nc_error **err)
{
    vreport v = {.report = report};
    const sandbox_settings *st = s->settings;
    const nc_json *hc = json_get(inspect, "HostConfig");
    const char *user = json_string(json_get(json_get(inspect, "Config"), "User"));
    vreport_check(&v, user && strcmp(user, st->user) == 0, "Config.User", "'%s', asked '%s'",
                  user ? user : "", st->user);
    vreport_check(&v, get_bool(json_get(hc, "ReadonlyRootfs")) == st->read_only_rootfs,
                  "HostConfig.ReadonlyRootfs", "not %s", st->read_only_rootfs ? "true" : "false");
    vreport_check(&v, json_get(hc, "Privileged") && !get_bool(json_get(hc, "Privileged")),
                  "HostConfig.Privileged", "privileged or not reported");
    check_caps(&v, s, hc);
    check_security_opt(&v, s, hc);
    check_limits(&v, st, hc);
    check_ulimits(&v, st, hc);
    check_tmpfs(&v, s, hc);
    check_namespaces(&v, s, hc);
    vreport_check(&v, get_bool(json_get(hc, "Init")) == st->init, "HostConfig.Init", "not %s",
                  st->init ? "true" : "false");
    check_runtime(&v, s, hc, libpod);
    vreport_check(&v, empty_or_null(json_get(hc, "Devices")), "HostConfig.Devices",
                  "host devices are exposed");
    vreport_check(&v,
                  empty_or_null(json_get(hc, "PortBindings")) &&
                      !get_bool(json_get(hc, "PublishAllPorts")),
                  "HostConfig.PortBindings", "ports are published");
    check_system_paths(&v, s, hc);
    check_mounts(&v, s, inspect);
    return vreport_finish(&v, "the container is not the one nanocell asked for", err);
}
