/* sandbox_spec_libpod_json: the same hardened spec as sandbox_spec_json, as the SpecGenerator of
 * Podman's POST /libpod/containers/create. Field names are Podman 4's (pkg/specgen/specgen.go);
 * libpod ignores names it does not know, so a misspelt field is a setting silently dropped:
 * verification after create catches that as it catches any other. */
#include "sandbox/spec.h"

#include <errno.h>
#include <string.h>

#include "orch/owner.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Podman's inspect reports SecurityOpt seccomp= and Init from these annotations, which its own
 * CLI sets from the same options (libpod/define/annotations.go). */
#define PODMAN_ANNOTATION_SECCOMP "io.podman.annotations.seccomp"
#define PODMAN_ANNOTATION_INIT "io.podman.annotations.init"

#define CFS_PERIOD_US 100000

static void ns(nc_jgen *g, const char *key, const char *mode, const char *value)
{
    jgen_key(g, key);
    jgen_obj_open(g);
    jgen_kv_str(g, "nsmode", mode);
    if (value)
        jgen_kv_str(g, "value", value);
    jgen_obj_close(g);
}

static void rlimit(nc_jgen *g, const char *type, int64_t v)
{
    jgen_obj_open(g);
    jgen_kv_str(g, "type", type);
    jgen_kv_int(g, "soft", v);
    jgen_kv_int(g, "hard", v);
    jgen_obj_close(g);
}

static void mount_entry(nc_jgen *g, const char *type, const char *source, const char *target,
                        const char *const *options)
{
    jgen_obj_open(g);
    jgen_kv_str(g, "destination", target);
    jgen_kv_str(g, "type", type);
    jgen_kv_str(g, "source", source);
    jgen_key(g, "options");
    jgen_arr_open(g);
    for (const char *const *o = options; *o; o++)
        jgen_str(g, *o);
    jgen_arr_close(g);
    jgen_obj_close(g);
}

static void mounts(nc_jgen *g, const sandbox_spec *s)
{
    jgen_key(g, "mounts");
    jgen_arr_open(g);
    _cleanup_free_ char *size = xasprintf("size=%llu", (unsigned long long)s->settings->tmp_size);
    _cleanup_free_ const char **tmpfs = sandbox_spec_tmpfs(s);
    const char *const topts[] = {"rw", "noexec", "nosuid", "nodev", size, NULL};
    for (const char **t = tmpfs; *t; t++)
        mount_entry(g, "tmpfs", "tmpfs", *t, topts);
    for (size_t i = 0; i < s->nmounts; i++) {
        const sandbox_mount *m = &s->mounts[i];
        /* "bind", not "rbind": nothing mounted below the source comes along (as
         * BindOptions.NonRecursive on the compat API). */
        const char *const bopts[] = {"bind", m->read_only ? "ro" : "rw", "rprivate", NULL};
        mount_entry(g, "bind", m->source, m->target, bopts);
    }
    jgen_arr_close(g);
}

static void resources(nc_jgen *g, const sandbox_settings *st)
{
    jgen_key(g, "resource_limits");
    jgen_obj_open(g);
    if (st->memory) {
        jgen_key(g, "memory");
        jgen_obj_open(g);
        jgen_kv_int(g, "limit", (int64_t)st->memory);
        /* memory+swap, as MemorySwap: equal to the memory limit means no swap. */
        jgen_kv_int(g, "swap", (int64_t)st->memory);
        jgen_obj_close(g);
    }
    if (st->pids_limit > 0) {
        jgen_key(g, "pids");
        jgen_obj_open(g);
        jgen_kv_int(g, "limit", st->pids_limit);
        jgen_obj_close(g);
    }
    if (st->nano_cpus > 0) {
        jgen_key(g, "cpu");
        jgen_obj_open(g);
        jgen_kv_int(g, "quota", st->nano_cpus / (1000000000 / CFS_PERIOD_US));
        jgen_kv_int(g, "period", CFS_PERIOD_US);
        jgen_obj_close(g);
    }
    jgen_obj_close(g);
}

/* Env as libpod wants it: a map. Every entry must be KEY=value. */
static int env_map(nc_jgen *g, char *const *env, nc_error **err)
{
    jgen_key(g, "env");
    jgen_obj_open(g);
    for (size_t i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        if (!eq || eq == env[i])
            return nc_error_set(err, EINVAL, "environment entry '%s' is not KEY=value", env[i]);
        _cleanup_free_ char *key = xstrndup(env[i], (size_t)(eq - env[i]));
        jgen_kv_str(g, key, eq + 1);
    }
    jgen_obj_close(g);
    return 0;
}

int sandbox_spec_libpod_json(const sandbox_spec *s, const sandbox_libpod_opts *o, strbuf *out,
                             nc_error **err)
{
    const sandbox_settings *st = s->settings;
    if (!s->image || !*s->image)
        return nc_error_set(err, EINVAL, "no image to run");
    if (!o || !o->name || !*o->name)
        return nc_error_set(err, EINVAL, "no container name");
    bool unconfined = strcmp(st->seccomp_profile, "unconfined") == 0;
    if (!unconfined && !s->seccomp_path)
        return nc_error_set(err, EINVAL, "no seccomp profile file for the Podman engine");
    const char *seccomp = unconfined ? "unconfined" : s->seccomp_path;
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "name", o->name);
    jgen_kv_str(g, "image", s->image);
    if (s->cmd)
        jgen_kv_strv(g, "command", s->cmd);
    int r = env_map(g, s->env, err);
    if (r < 0)
        return r;
    if (s->workdir)
        jgen_kv_str(g, "work_dir", s->workdir);
    jgen_kv_str(g, "user", st->user);
    jgen_kv_bool(g, "stdin", true);
    jgen_kv_bool(g, "terminal", false);
    jgen_key(g, "labels");
    jgen_obj_open(g);
    jgen_kv_str(g, NC_LABEL_INSTALL, s->install_id);
    jgen_kv_str(g, NC_LABEL_GROUP, s->group);
    jgen_kv_str(g, NC_LABEL_RUN, s->run_id);
    jgen_kv_str(g, NC_LABEL_OWNER, s->owner);
    if (s->seccomp_digest)
        jgen_kv_str(g, NC_LABEL_SECCOMP, s->seccomp_digest);
    jgen_obj_close(g);
    jgen_key(g, "annotations");
    jgen_obj_open(g);
    jgen_kv_str(g, PODMAN_ANNOTATION_SECCOMP, seccomp);
    if (st->init)
        jgen_kv_str(g, PODMAN_ANNOTATION_INIT, "TRUE");
    jgen_obj_close(g);
    /* security */
    jgen_kv_bool(g, "privileged", false);
    jgen_kv_strv(g, "cap_drop", (char *[]){"ALL", NULL});
    jgen_kv_strv(g, "cap_add", st->cap_add);
    jgen_kv_bool(g, "no_new_privileges", st->no_new_privileges);
    jgen_kv_str(g, "seccomp_profile_path", seccomp);
    jgen_kv_bool(g, "read_only_filesystem", st->read_only_rootfs);
    /* namespaces: all private; the cgroup one is what the compat API drops */
    ns(g, "cgroupns", "private", NULL);
    ns(g, "ipcns", "private", NULL);
    ns(g, "pidns", "private", NULL);
    ns(g, "utsns", "private", NULL);
    ns(g, "netns", strcmp(st->network, "none") == 0 ? "none" : st->network, NULL);
    if (o->keep_id) {
        uid_t uid;
        gid_t gid;
        r = sandbox_parse_user(st->user, &uid, &gid, err);
        if (r < 0)
            return r;
        _cleanup_free_ char *ids =
            xasprintf("uid=%lu,gid=%lu", (unsigned long)uid, (unsigned long)gid);
        ns(g, "userns", "keep-id", ids);
    }
    /* resources */
    resources(g, st);
    jgen_key(g, "r_limits");
    jgen_arr_open(g);
    rlimit(g, "nofile", st->nofile);
    rlimit(g, "nproc", st->nproc);
    rlimit(g, "core", 0);
    jgen_arr_close(g);
    /* storage */
    mounts(g, s);
    jgen_kv_int(g, "shm_size", (int64_t)st->tmp_size);
    jgen_kv_bool(g, "init", st->init);
    if (s->runtime && *s->runtime)
        jgen_kv_str(g, "oci_runtime", s->runtime);
    jgen_kv_bool(g, "publish_image_ports", false);
    jgen_kv_bool(g, "remove", false);
    jgen_kv_str(g, "restart_policy", "no");
    jgen_key(g, "log_configuration");
    jgen_obj_open(g);
    jgen_kv_str(g, "driver", "none");
    jgen_obj_close(g);
    jgen_obj_close(g);
    return jgen_finish(g, out, err);
}
