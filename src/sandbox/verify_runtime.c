/* sandbox_verify_runtime: the kernel's view of the container's init process. Everything is read
 * under proc_root and cgroup_root, so tests can hand it a prepared tree. A file that cannot be
 * read is a failure (nothing can be confirmed from it), never a pass. */
#include "sandbox/verify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/mounts.h"
#include "sandbox/verify_report.h"
#include "util/fileutil.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define PROC_FILE_MAX (256 * 1024)
/* With no-new-privileges the runtime loads the seccomp filter as its last step before exec,
 * after the engine's start has returned: a process that still shows mode 0 may not have got
 * there yet. Its status is read again, this often and at most this many times, before it is
 * judged (still 0: the check fails as before). */
#define SECCOMP_SETTLE_MS 5
#define SECCOMP_SETTLE_ROUNDS 100

/* The value of "Key:\tvalue" in a /proc status text, or NULL. Allocated. */
static char *status_field(const char *status, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = status; p && *p;) {
        const char *nl = strchr(p, '\n');
        if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
            const char *v = p + klen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t n = nl ? (size_t)(nl - v) : strlen(v);
            while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
            return xstrndup(v, n);
        }
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

/* Reads PROC/PID/FILE into *out; when it cannot, fails the check NAME and returns false. */
static bool read_proc_or_fail(vreport *v, const char *name, const char *proc, int64_t pid,
                              const char *file, strbuf *out)
{
    _cleanup_free_ char *path = xasprintf("%s/%lld/%s", proc, (long long)pid, file);
    _cleanup_error_ nc_error *rerr = NULL;
    if (read_file(path, PROC_FILE_MAX, out, &rerr) == 0)
        return true;
    vreport_fail(v, name, "%s", rerr->msg);
    return false;
}

static uint64_t cap_mask(char *const *caps)
{
    uint64_t mask = 0;
    for (size_t i = 0; caps && caps[i]; i++) {
        _cleanup_free_ char *name =
            strncasecmp(caps[i], "cap_", 4) == 0 ? xstrdup(caps[i]) : xasprintf("cap_%s", caps[i]);
        for (char *p = name; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        cap_value_t c;
        if (cap_from_name(name, &c) == 0 && c >= 0 && c < 64)
            mask |= 1ull << c;
    }
    return mask;
}

/* Whether every number in list ("1000\t1000\t1000\t1000", or "" for Groups) is want; an
 * empty list is allowed only when empty_ok. */
static bool ids_all(const char *list, unsigned long want, bool empty_ok)
{
    if (!list)
        return false;
    size_t seen = 0;
    for (const char *p = list;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        char *end;
        errno = 0;
        unsigned long id = strtoul(p, &end, 10);
        if (end == p || errno || id != want)
            return false;
        p = end;
        seen++;
    }
    return seen > 0 || empty_ok;
}

/* The host id that id inside the container maps to, by a uid_map/gid_map text ("inside
 * outside count" lines; "0 0 4294967295" without a user namespace), or -1 when unmapped. */
static long long map_id(const char *map, unsigned long id)
{
    for (const char *p = map; p && *p;) {
        unsigned long long in, out, count;
        int used = 0;
        if (sscanf(p, " %llu %llu %llu%n", &in, &out, &count, &used) != 3)
            break;
        if (id >= in && id - in < count)
            return (long long)(out + (id - in));
        p += used;
    }
    return -1;
}

/* The identity the process runs with: real, effective, saved and filesystem ids are the
 * configured ones (as the host sees them through the user namespace's maps), and no
 * supplementary group is another (the image's /etc/group can add some, group 0 among them). */
static void check_ids(vreport *v, const sandbox_settings *st, const char *status, const char *proc,
                      int64_t pid)
{
    uid_t uid;
    gid_t gid;
    if (sandbox_parse_user(st->user, &uid, &gid, NULL) < 0) {
        vreport_fail(v, "runtime.Uid", "sandbox.user '%s' is not uid:gid", st->user);
        return;
    }
    _cleanup_strbuf_ strbuf umap = STRBUF_INIT, gmap = STRBUF_INIT;
    if (!read_proc_or_fail(v, "runtime.Uid", proc, pid, "uid_map", &umap) ||
        !read_proc_or_fail(v, "runtime.Gid", proc, pid, "gid_map", &gmap))
        return;
    long long huid = map_id(strbuf_str(&umap), uid), hgid = map_id(strbuf_str(&gmap), gid);
    const struct {
        const char *field;
        unsigned long want;
        long long host;
        bool empty_ok;
    } ids[] = {{"Uid", uid, huid, false}, {"Gid", gid, hgid, false}, {"Groups", gid, hgid, true}};
    for (size_t i = 0; i < NC_ARRAY_SIZE(ids); i++) {
        _cleanup_free_ char *val = status_field(status, ids[i].field);
        _cleanup_free_ char *name = xasprintf("runtime.%s", ids[i].field);
        bool ok = ids[i].host >= 0 && ids_all(val, (unsigned long)ids[i].host, ids[i].empty_ok);
        vreport_check(v, ok, name, "'%s', asked %lu (host %lld)%s", val ? val : "missing",
                      ids[i].want, ids[i].host, ids[i].empty_ok ? " or none" : " for all four");
    }
}

static void check_status(vreport *v, const sandbox_spec *s, const char *status)
{
    const sandbox_settings *st = s->settings;
    /* The engine's pid must be the container's init: pid 1 in its own pid namespace. */
    _cleanup_free_ char *nspid = status_field(status, "NSpid");
    const char *last = nspid ? strrchr(nspid, '\t') : NULL;
    last = last ? last + 1 : nspid;
    vreport_check(v, nspid && strchr(nspid, '\t') && last && strcmp(last, "1") == 0, "runtime.init",
                  "the process is not pid 1 of its own pid namespace (NSpid %s)",
                  nspid ? nspid : "missing");
    uint64_t allowed = cap_mask(st->cap_add);
    const char *const sets[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(sets); i++) {
        _cleanup_free_ char *val = status_field(status, sets[i]);
        char *end = NULL;
        uint64_t caps = val ? strtoull(val, &end, 16) : ~0ull;
        _cleanup_free_ char *name = xasprintf("runtime.%s", sets[i]);
        vreport_check(v, val && end && !*end && (caps & ~allowed) == 0, name, "%s, allowed %016llx",
                      val ? val : "missing", (unsigned long long)allowed);
    }
    _cleanup_free_ char *nnp = status_field(status, "NoNewPrivs");
    if (st->no_new_privileges)
        vreport_check(v, nnp && strcmp(nnp, "1") == 0, "runtime.NoNewPrivs", "%s, asked 1",
                      nnp ? nnp : "missing");
    _cleanup_free_ char *seccomp = status_field(status, "Seccomp");
    if (strcmp(st->seccomp_profile, "unconfined") != 0)
        vreport_check(v, seccomp && strcmp(seccomp, "2") == 0, "runtime.Seccomp",
                      "mode %s, asked 2 (filter)", seccomp ? seccomp : "missing");
}

static void check_namespaces(vreport *v, const sandbox_spec *s, const char *proc, int64_t pid)
{
    const char *const kinds[] = {"net", "ipc", "cgroup", "pid", "mnt", "uts"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(kinds); i++) {
        _cleanup_free_ char *mine = xasprintf("%s/self/ns/%s", proc, kinds[i]);
        _cleanup_free_ char *theirs = xasprintf("%s/%lld/ns/%s", proc, (long long)pid, kinds[i]);
        char a[128], b[128]; /* "cgroup:[4026531835]" fits with room to spare */
        ssize_t na = readlink(mine, a, sizeof(a) - 1);
        ssize_t nb = readlink(theirs, b, sizeof(b) - 1);
        _cleanup_free_ char *name = xasprintf("runtime.ns.%s", kinds[i]);
        if (na < 0 || nb < 0) {
            vreport_fail(v, name, "cannot read '%s': %s", nb < 0 ? theirs : mine, strerror(errno));
            continue;
        }
        a[na] = b[nb] = '\0';
        bool shared = strcmp(a, b) == 0;
        if (shared && strcmp(kinds[i], "cgroup") == 0 &&
            sandbox_allows_unenforced(s->settings, SANDBOX_UNENFORCED_CGROUPNS))
            vreport_waive(v, name, "shares the host's cgroup namespace (%s)", b);
        else
            vreport_check(v, !shared, name, "shares the host's namespace %s%s", b,
                          strcmp(kinds[i], "cgroup") == 0
                              ? " (Podman 3's Docker-compatible API ignores CgroupnsMode; "
                                "upgrade to Podman 4, or waive with "
                                "sandbox.allow_unenforced = [\"cgroupns\"])"
                              : "");
    }
}

static void check_network(vreport *v, const sandbox_spec *s, const char *proc, int64_t pid)
{
    if (strcmp(s->settings->network, "none") != 0)
        return;
    _cleanup_strbuf_ strbuf dev = STRBUF_INIT;
    if (!read_proc_or_fail(v, "runtime.network", proc, pid, "net/dev", &dev))
        return;
    _cleanup_strbuf_ strbuf others = STRBUF_INIT;
    int line = 0;
    for (const char *p = strbuf_str(&dev); *p; line++) {
        const char *nl = strchr(p, '\n');
        const char *colon = strchr(p, ':');
        if (line >= 2 && colon && (!nl || colon < nl)) {
            const char *n = p;
            while (*n == ' ')
                n++;
            if ((size_t)(colon - n) != 2 || strncmp(n, "lo", 2) != 0)
                strbuf_addf(&others, "%s%.*s", others.len ? ", " : "", (int)(colon - n), n);
        }
        p = nl ? nl + 1 : p + strlen(p);
    }
    vreport_check(v, others.len == 0, "runtime.network", "interfaces besides lo: %s",
                  strbuf_str(&others));
}

/* The cgroup path of controller ("memory", "pids") for the process: the v1 hierarchy that
 * lists it, else the v2 one ("0::"). *v2 tells which. NULL when neither. Allocated. */
static char *cgroup_path(const char *cgroups, const char *controller, bool *v2)
{
    char *unified = NULL;
    for (const char *p = cgroups; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        _cleanup_free_ char *line = xstrndup(p, len);
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2) {
            *c2 = '\0';
            const char *ctrls = c1 + 1, *path = c2 + 1;
            if (!*ctrls && strncmp(line, "0", 1) == 0 && !unified)
                unified = xstrdup(path);
            for (const char *q = ctrls; *ctrls;) {
                const char *comma = strchr(q, ',');
                size_t n = comma ? (size_t)(comma - q) : strlen(q);
                if (n == strlen(controller) && strncmp(q, controller, n) == 0) {
                    free(unified);
                    *v2 = false;
                    return xstrdup(path);
                }
                if (!comma)
                    break;
                q = comma + 1;
            }
        }
        p += len + (nl ? 1 : 0);
    }
    *v2 = true;
    return unified;
}

static void check_cpu(vreport *v, const sandbox_settings *st, const char *cgroups,
                      const char *cgroot)
{
    if (st->nano_cpus == 0) {
        vreport_ok(v, "runtime.cgroup.cpu");
        return;
    }
    bool v2 = false;
    _cleanup_free_ char *path = cgroup_path(cgroups, "cpu", &v2);
    long long quota = -1, period = 0;
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    if (path && v2) {
        _cleanup_free_ char *f = xasprintf("%s%s/cpu.max", cgroot, path);
        if (read_file(f, 4096, &text, NULL) == 0 && strncmp(strbuf_str(&text), "max", 3) != 0) {
            char *end;
            quota = strtoll(strbuf_str(&text), &end, 10);
            period = strtoll(end, NULL, 10);
        }
    } else if (path) {
        _cleanup_free_ char *fq = xasprintf("%s/cpu%s/cpu.cfs_quota_us", cgroot, path);
        _cleanup_free_ char *fp = xasprintf("%s/cpu%s/cpu.cfs_period_us", cgroot, path);
        _cleanup_strbuf_ strbuf ptext = STRBUF_INIT;
        if (read_file(fq, 4096, &text, NULL) == 0 && read_file(fp, 4096, &ptext, NULL) == 0) {
            quota = strtoll(strbuf_str(&text), NULL, 10);
            period = strtoll(strbuf_str(&ptext), NULL, 10);
        }
    }
    bool ok = vreport_cfs_is(quota, period, st->nano_cpus);
    vreport_check_waivable(v, ok, sandbox_allows_unenforced(st, SANDBOX_UNENFORCED_CPU),
                           "runtime.cgroup.cpu",
                           "quota %lld per period %lld in cgroup '%s', asked %lld nano-CPUs", quota,
                           period, path ? path : "?", (long long)st->nano_cpus);
}

static void check_limit(vreport *v, const sandbox_spec *s, const char *cgroups, const char *cgroot,
                        const char *controller, uint64_t want, const char *waiver)
{
    _cleanup_free_ char *name = xasprintf("runtime.cgroup.%s", controller);
    if (want == 0) {
        vreport_ok(v, name);
        return;
    }
    bool v2 = false;
    _cleanup_free_ char *path = cgroup_path(cgroups, controller, &v2);
    bool mem = strcmp(controller, "memory") == 0;
    _cleanup_free_ char *file =
        path ? (v2 ? xasprintf("%s%s/%s", cgroot, path, mem ? "memory.max" : "pids.max")
                   : xasprintf("%s/%s%s/%s", cgroot, controller, path,
                               mem ? "memory.limit_in_bytes" : "pids.max"))
             : NULL;
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    bool read_ok = file && read_file(file, 4096, &text, NULL) == 0;
    char *end = NULL;
    uint64_t got = read_ok ? strtoull(strbuf_str(&text), &end, 10) : 0;
    /* cgroup v2 says "max"; v1 says LONG_MAX rounded to a page (9223372036854771712). */
    bool unlimited = !read_ok || strncmp(strbuf_str(&text), "max", 3) == 0 ||
                     (end && *end && *end != '\n') || got >= (1ull << 62);
    /* The kernel may round a memory limit down to a page; never up. */
    bool ok = !unlimited && (mem ? got <= want && got > 0 : got == want);
    if (ok) {
        vreport_ok(v, name);
        return;
    }
    _cleanup_free_ char *have = !read_ok    ? xasprintf("cannot be read (%s)", file ? file : "none")
                                : unlimited ? xstrdup("has none")
                                            : xasprintf("has %llu", (unsigned long long)got);
    _cleanup_free_ char *why =
        xasprintf("the engine accepted a %s limit of %llu but the "
                  "container's cgroup '%s' %s (rootless Podman on cgroup "
                  "v1 does this)",
                  controller, (unsigned long long)want, path ? path : "?", have);
    if (sandbox_allows_unenforced(s->settings, waiver))
        vreport_waive(v, name, "%s", why);
    else
        vreport_fail(v, name, "%s; waive with sandbox.allow_unenforced = [\"%s\"]", why, waiver);
}

/* /proc/<pid>/limits: "Max open files            1024                 1024                 files".
 * Returns the soft and hard values of the named limit; "unlimited" reads as -1. */
static bool rlimit_of(const char *limits, const char *label, long long *soft, long long *hard)
{
    const char *p = strstr(limits, label);
    if (!p)
        return false;
    p += strlen(label);
    long long v[2];
    for (int i = 0; i < 2; i++) {
        while (*p == ' ')
            p++;
        if (strncmp(p, "unlimited", 9) == 0) {
            v[i] = -1;
            p += 9;
        } else {
            char *end;
            v[i] = strtoll(p, &end, 10);
            if (end == p)
                return false;
            p = end;
        }
    }
    *soft = v[0];
    *hard = v[1];
    return true;
}

static void check_rlimits(vreport *v, const sandbox_settings *st, const char *proc, int64_t pid)
{
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    bool waive = sandbox_allows_unenforced(st, SANDBOX_UNENFORCED_ULIMITS);
    if (!read_proc_or_fail(v, "runtime.rlimits", proc, pid, "limits", &text))
        return;
    const struct {
        const char *label, *name;
        long long want;
    } want[] = {{"Max open files", "nofile", st->nofile},
                {"Max processes", "nproc", st->nproc},
                {"Max core file size", "core", 0}};
    for (size_t i = 0; i < NC_ARRAY_SIZE(want); i++) {
        long long soft = -2, hard = -2;
        bool found = rlimit_of(strbuf_str(&text), want[i].label, &soft, &hard);
        _cleanup_free_ char *name = xasprintf("runtime.rlimit.%s", want[i].name);
        vreport_check_waivable(v, found && soft == want[i].want && hard == want[i].want, waive,
                               name, "%lld/%lld, asked %lld", soft, hard, want[i].want);
    }
}

/* One line of mountinfo, split into the fields used here. */
struct mnt {
    long long id, parent;
    char *root; /* what is mounted, inside its filesystem: "/null" for a bind of /dev/null */
    char *target;
    char *opts; /* per-mount: "ro,nosuid,nodev,noexec,relatime" */
    char *fstype;
    char *super; /* per-superblock: "rw,size=65536k" */
    bool shared; /* in a peer group ("shared:N"): mounts propagate to and from its peers */
    bool slave;  /* receives from a peer group ("master:N"): the host's mounts propagate in */
};

static bool parse_id(const char *s, long long *ret)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return false;
    *ret = v;
    return true;
}

static bool parse_mountinfo_line(char *line, struct mnt *m)
{
    /* id parent maj:min root target opts [optional...] - fstype source super */
    char *f[6];
    char *save = NULL;
    for (int i = 0; i < 6; i++) {
        f[i] = strtok_r(i ? NULL : line, " ", &save);
        if (!f[i])
            return false;
    }
    char *t;
    m->shared = m->slave = false;
    while ((t = strtok_r(NULL, " ", &save)) && strcmp(t, "-") != 0) {
        m->shared |= strncmp(t, "shared:", 7) == 0;
        m->slave |= strncmp(t, "master:", 7) == 0;
    }
    if (!t || !parse_id(f[0], &m->id) || !parse_id(f[1], &m->parent))
        return false;
    m->root = f[3];
    m->target = f[4];
    m->opts = f[5];
    m->fstype = strtok_r(NULL, " ", &save);
    (void)strtok_r(NULL, " ", &save);
    m->super = strtok_r(NULL, " ", &save);
    return m->fstype && m->super;
}

/* The mount a lookup of path reaches, as the kernel walks it: from the namespace's root mount
 * (target "/", its parent not in the list) down through the child mounts on the way. Of a
 * mount's children on the path the shortest target wins (a mount at "/a" hides one at "/a/b"
 * made before it, and one at the parent's own target is stacked on it); on a tie, the later
 * line. NULL when there is no root mount. */
static const struct mnt *visible_mount(const struct mnt *m, size_t n, const char *path)
{
    const struct mnt *cur = NULL;
    for (size_t i = 0; i < n; i++) {
        bool orphan = true;
        for (size_t j = 0; j < n; j++)
            orphan &= m[j].id != m[i].parent;
        if (orphan && strcmp(m[i].target, "/") == 0)
            cur = &m[i];
    }
    /* Each step goes to a child; n steps bound a list whose ids form a cycle. */
    for (size_t steps = 0; cur && steps < n; steps++) {
        const struct mnt *next = NULL;
        for (size_t i = 0; i < n; i++)
            if (&m[i] != cur && m[i].parent == cur->id && mount_path_under(path, m[i].target) &&
                (!next || strlen(m[i].target) <= strlen(next->target)))
                next = &m[i];
        if (!next)
            return cur;
        cur = next;
    }
    return cur;
}

/* A masking mount sits exactly on the path: a bind of a /dev/null ("/null" in a devtmpfs, or
 * in the container's own /dev tmpfs under runc) over a file, or a read-only tmpfs over a
 * directory. */
static bool is_mask(const struct mnt *m, const char *path)
{
    if (!m || strcmp(m->target, path) != 0)
        return false;
    size_t n = strlen(m->root);
    if (n >= 5 && strcmp(m->root + n - 5, "/null") == 0 &&
        (strcmp(m->fstype, "devtmpfs") == 0 || strcmp(m->fstype, "tmpfs") == 0))
        return true;
    return strcmp(m->fstype, "tmpfs") == 0 && vreport_has_option(m->opts, "ro");
}

/* Whether path exists for the container: looked up through its root, so through its own /proc
 * and /sys. A path this kernel lacks is hidden already; a mask would exist. -1 with errno set
 * when it cannot be told. */
static int exists_inside(const char *proc, int64_t pid, const char *path)
{
    _cleanup_free_ char *inside = xasprintf("%s/%lld/root%s", proc, (long long)pid, path);
    struct stat st;
    if (lstat(inside, &st) == 0)
        return 1;
    return errno == ENOENT ? 0 : -1;
}

/* The engines' default masks and read-only paths, as the kernel shows them: the reported lists
 * (Docker) or the engine's word (Podman) are not enough, since a runtime can skip one. */
static void check_system_paths(vreport *v, const struct mnt *mounts, size_t n, const char *proc,
                               int64_t pid)
{
    for (int ro = 0; ro <= 1; ro++) {
        const char *const *list = ro ? sandbox_readonly_paths : sandbox_masked_paths;
        for (const char *const *p = list; *p; p++) {
            _cleanup_free_ char *name = xasprintf("runtime.%s.%s", ro ? "readonly" : "masked", *p);
            int e = exists_inside(proc, pid, *p);
            if (e < 0) {
                vreport_fail(v, name, "cannot look it up in the container: %s", strerror(errno));
                continue;
            }
            if (e == 0) {
                _cleanup_free_ char *absent = xasprintf("%s (absent)", name);
                vreport_ok(v, absent);
                continue;
            }
            const struct mnt *m = visible_mount(mounts, n, *p);
            if (!m) {
                vreport_fail(v, name, "no root mount in the container's mountinfo");
                continue;
            }
            bool ok = is_mask(m, *p) || (ro && vreport_has_option(m->opts, "ro"));
            vreport_check(v, ok, name, "%s in the container: its mount is '%s' %s (%s)",
                          ro ? "writable" : "readable", m->target, m->fstype, m->opts);
        }
    }
    /* sysfs is mounted read-only for an unprivileged container. */
    const struct mnt *sys = visible_mount(mounts, n, "/sys");
    vreport_check(v, sys && strcmp(sys->target, "/sys") == 0 && vreport_has_option(sys->opts, "ro"),
                  "runtime.readonly./sys", "its mount is %s %s", sys ? sys->target : "missing",
                  sys ? sys->opts : "");
}

static void check_mounts(vreport *v, const sandbox_spec *s, const char *proc, int64_t pid)
{
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    if (!read_proc_or_fail(v, "runtime.mounts", proc, pid, "mountinfo", &text))
        return;
    struct mnt *mounts = NULL;
    size_t n = 0;
    for (char *line = text.buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        struct mnt m;
        if (parse_mountinfo_line(line, &m)) {
            mounts = xreallocarray(mounts, n + 1, sizeof(*mounts));
            mounts[n++] = m;
        }
    }
    /* The last mount on a target is the one in effect. */
    const struct mnt *root = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(mounts[i].target, "/") == 0)
            root = &mounts[i];
    if (s->settings->read_only_rootfs)
        vreport_check(v, root && vreport_has_option(root->opts, "ro"), "runtime.mounts./",
                      "the root is %s", root ? root->opts : "missing");
    /* The kernel rounds a tmpfs size up to whole pages and shows it in KiB. */
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t pages = (s->settings->tmp_size + page - 1) / page;
    _cleanup_free_ char *size_k =
        xasprintf("size=%lluk", (unsigned long long)(pages * page / 1024));
    _cleanup_free_ const char **targets = sandbox_spec_tmpfs(s);
    for (const char **t = targets; *t; t++) {
        const struct mnt *m = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(mounts[i].target, *t) == 0)
                m = &mounts[i];
        _cleanup_free_ char *name = xasprintf("runtime.mounts.%s", *t);
        vreport_check(
            v,
            m && strcmp(m->fstype, "tmpfs") == 0 && vreport_has_option(m->opts, "noexec") &&
                vreport_has_option(m->opts, "nosuid") && vreport_has_option(m->opts, "nodev") &&
                vreport_has_option(m->super, size_k),
            name, "%s %s %s, asked tmpfs noexec,nosuid,nodev,%s", m ? m->fstype : "",
            m ? m->opts : "missing", m ? m->super : "", size_k);
    }
    for (size_t k = 0; k < s->nmounts; k++) {
        const sandbox_mount *want = &s->mounts[k];
        const struct mnt *m = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(mounts[i].target, want->target) == 0)
                m = &mounts[i];
        _cleanup_free_ char *name = xasprintf("runtime.mounts.%s", want->target);
        /* Only a private bind is nanocell's: in a peer group ("shared:") the container's
         * mounts reach the host, and as a slave ("master:", what rslave makes) the host's
         * mounts appear inside, whatever Propagation the engine reported. */
        bool ok = m && vreport_has_option(m->opts, want->read_only ? "ro" : "rw") && !m->shared &&
                  !m->slave;
        /* Binds are non-recursive: a mount below one that nanocell did not ask for came from
         * the host (or the engine ignored NonRecursive), and a read-only bind is only
         * read-only if nothing writable is mounted below it. */
        const char *below = NULL;
        for (size_t i = 0; ok && i < n; i++) {
            if (!mount_path_under(mounts[i].target, want->target) ||
                strcmp(mounts[i].target, want->target) == 0)
                continue;
            bool ours = false;
            for (size_t j = 0; j < s->nmounts; j++)
                ours |= strcmp(s->mounts[j].target, mounts[i].target) == 0;
            if (!ours || (want->read_only && !vreport_has_option(mounts[i].opts, "ro")))
                below = mounts[i].target;
        }
        /* The mount must be the very source that was checked: through the container's root,
         * the target has the source's device and inode. */
        _cleanup_free_ char *inside =
            xasprintf("%s/%lld/root%s", proc, (long long)pid, want->target);
        struct stat got = {0};
        int sr = stat(inside, &got);
        int serr = errno;
        bool same = sr == 0 && got.st_dev == want->dev && got.st_ino == want->ino;
        _cleanup_free_ char *what =
            same     ? NULL
            : sr < 0 ? xasprintf("; cannot stat '%s': %s", inside, strerror(serr))
                     : xasprintf("; it is device %llu inode %llu, not the checked source '%s' "
                                 "(device %llu inode %llu)",
                                 (unsigned long long)got.st_dev, (unsigned long long)got.st_ino,
                                 want->source, (unsigned long long)want->dev,
                                 (unsigned long long)want->ino);
        vreport_check(v, ok && !below && same, name, "%s%s%s%s%s%s", m ? m->opts : "missing",
                      m && m->shared ? " shared (mounts propagate)" : "",
                      m && m->slave ? " slave (the host's mounts propagate in; asked private)" : "",
                      below ? "; mounted below it: " : "", below ? below : "", what ? what : "");
    }
    check_system_paths(v, mounts, n, proc, pid);
    free(mounts);
}

int sandbox_verify_runtime(const sandbox_spec *s, int64_t pid, const char *proc, const char *cgroot,
                           strbuf *report, nc_error **err)
{
    vreport v = {.report = report};
    _cleanup_free_ char *status_path = xasprintf("%s/%lld/status", proc, (long long)pid);
    _cleanup_strbuf_ strbuf status = STRBUF_INIT;
    _cleanup_error_ nc_error *rerr = NULL;
    if (pid <= 0 || read_file(status_path, PROC_FILE_MAX, &status, &rerr) < 0) {
        const char *why = pid < 0    ? "the engine runs on another host, whose /proc this is not"
                          : pid == 0 ? "the engine reported no pid"
                                     : rerr->msg;
        if (sandbox_allows_unenforced(s->settings, SANDBOX_UNENFORCED_RUNTIME)) {
            vreport_waive(&v, "runtime", "the container's process cannot be inspected: %s", why);
            return vreport_finish(&v, "", err);
        }
        vreport_fail(&v, "runtime",
                     "the container's process cannot be inspected from here (%s); "
                     "waive with sandbox.allow_unenforced = [\"runtime\"]",
                     why);
        return vreport_finish(&v, "the running container could not be verified", err);
    }
    bool want_filter = strcmp(s->settings->seccomp_profile, "unconfined") != 0;
    for (int i = 0; want_filter && i < SECCOMP_SETTLE_ROUNDS; i++) {
        _cleanup_free_ char *mode = status_field(strbuf_str(&status), "Seccomp");
        if (!mode || strcmp(mode, "0") != 0)
            break;
        sleep_ms(SECCOMP_SETTLE_MS);
        strbuf_reset(&status);
        if (read_file(status_path, PROC_FILE_MAX, &status, NULL) < 0)
            break; /* gone: the checks below say so */
    }
    check_status(&v, s, strbuf_str(&status));
    check_ids(&v, s->settings, strbuf_str(&status), proc, pid);
    check_namespaces(&v, s, proc, pid);
    check_network(&v, s, proc, pid);
    _cleanup_free_ char *cg_path = xasprintf("%s/%lld/cgroup", proc, (long long)pid);
    _cleanup_strbuf_ strbuf cgroups = STRBUF_INIT;
    if (read_file(cg_path, PROC_FILE_MAX, &cgroups, NULL) < 0)
        strbuf_addstr(&cgroups, "");
    check_limit(&v, s, strbuf_str(&cgroups), cgroot, "memory", s->settings->memory,
                SANDBOX_UNENFORCED_MEMORY);
    check_limit(&v, s, strbuf_str(&cgroups), cgroot, "pids", (uint64_t)s->settings->pids_limit,
                SANDBOX_UNENFORCED_PIDS);
    check_cpu(&v, s->settings, strbuf_str(&cgroups), cgroot);
    check_rlimits(&v, s->settings, proc, pid);
    check_mounts(&v, s, proc, pid);
    /* When the process is gone, that explains whatever failed above: say so. */
    if (access(status_path, F_OK) < 0)
        vreport_fail(&v, "runtime",
                     "the container's process exited while it was checked: a container must wait "
                     "for its input before it can be verified");
    return vreport_finish(&v, "the running container is not confined as asked", err);
}
