#include "sandbox/spec.h"

#include <errno.h>
#include <string.h>

#include "orch/owner.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

const char *const *sandbox_tmpfs_targets(engine_kind kind)
{
    static const char *const docker[] = {"/tmp", NULL};
    static const char *const podman[] = {"/tmp", "/var/tmp", "/run", "/dev/shm", NULL};
    return kind == ENGINE_PODMAN ? podman : docker;
}

const char **sandbox_spec_tmpfs(const sandbox_spec *s)
{
    const char *const *base = sandbox_tmpfs_targets(s->kind);
    size_t n = 0;
    while (base[n])
        n++;
    const char **all = xreallocarray(NULL, n + 2, sizeof(*all));
    for (size_t i = 0; i < n; i++)
        all[i] = base[i];
    if (s->home_tmpfs)
        all[n++] = s->home_tmpfs;
    all[n] = NULL;
    return all;
}

char *sandbox_tmpfs_options(const sandbox_settings *s)
{
    return xasprintf("rw,noexec,nosuid,nodev,size=%llu", (unsigned long long)s->tmp_size);
}

char *sandbox_seccomp_opt(const sandbox_spec *s)
{
    if (strcmp(s->settings->seccomp_profile, "unconfined") == 0)
        return xstrdup("seccomp=unconfined");
    if (s->kind == ENGINE_PODMAN)
        return xasprintf("seccomp=%s", s->seccomp_path ? s->seccomp_path : "");
    return xasprintf("seccomp=%s", s->seccomp_json ? s->seccomp_json : "");
}

static void ulimit(nc_jgen *g, const char *name, int64_t v)
{
    jgen_obj_open(g);
    jgen_kv_str(g, "Name", name);
    jgen_kv_int(g, "Soft", v);
    jgen_kv_int(g, "Hard", v);
    jgen_obj_close(g);
}

static void host_config(nc_jgen *g, const sandbox_spec *s)
{
    const sandbox_settings *st = s->settings;
    jgen_key(g, "HostConfig");
    jgen_obj_open(g);
    jgen_kv_bool(g, "ReadonlyRootfs", st->read_only_rootfs);
    jgen_kv_bool(g, "Privileged", false);
    jgen_key(g, "CapDrop");
    jgen_arr_open(g);
    jgen_str(g, "ALL");
    jgen_arr_close(g);
    jgen_kv_strv(g, "CapAdd", st->cap_add);
    jgen_key(g, "SecurityOpt");
    jgen_arr_open(g);
    if (st->no_new_privileges)
        jgen_str(g, "no-new-privileges");
    _cleanup_free_ char *seccomp = sandbox_seccomp_opt(s);
    jgen_str(g, seccomp);
    jgen_arr_close(g);
    jgen_kv_str(g, "NetworkMode", st->network);
    jgen_kv_int(g, "PidsLimit", st->pids_limit);
    jgen_kv_int(g, "Memory", (int64_t)st->memory);
    jgen_kv_int(g, "MemorySwap", (int64_t)st->memory);
    jgen_kv_int(g, "NanoCpus", st->nano_cpus);
    jgen_key(g, "Ulimits");
    jgen_arr_open(g);
    ulimit(g, "nofile", st->nofile);
    ulimit(g, "nproc", st->nproc);
    ulimit(g, "core", 0);
    jgen_arr_close(g);
    jgen_key(g, "Tmpfs");
    jgen_obj_open(g);
    _cleanup_free_ char *topts = sandbox_tmpfs_options(st);
    _cleanup_free_ const char **tmpfs = sandbox_spec_tmpfs(s);
    for (const char **t = tmpfs; *t; t++)
        jgen_kv_str(g, *t, topts);
    jgen_obj_close(g);
    jgen_kv_int(g, "ShmSize", (int64_t)st->tmp_size);
    jgen_kv_str(g, "IpcMode", "private");
    if (s->api_minor >= 41)
        jgen_kv_str(g, "CgroupnsMode", "private");
    jgen_kv_bool(g, "Init", st->init);
    if (s->runtime && *s->runtime)
        jgen_kv_str(g, "Runtime", s->runtime);
    jgen_key(g, "Devices");
    jgen_arr_open(g);
    jgen_arr_close(g);
    jgen_key(g, "PortBindings");
    jgen_obj_open(g);
    jgen_obj_close(g);
    jgen_kv_bool(g, "PublishAllPorts", false);
    jgen_kv_bool(g, "AutoRemove", false);
    jgen_key(g, "RestartPolicy");
    jgen_obj_open(g);
    jgen_kv_str(g, "Name", "no");
    jgen_obj_close(g);
    jgen_key(g, "LogConfig");
    jgen_obj_open(g);
    jgen_kv_str(g, "Type", "none");
    jgen_key(g, "Config");
    jgen_obj_open(g);
    jgen_obj_close(g);
    jgen_obj_close(g);
    jgen_key(g, "Mounts");
    jgen_arr_open(g);
    for (size_t i = 0; i < s->nmounts; i++) {
        const sandbox_mount *m = &s->mounts[i];
        jgen_obj_open(g);
        jgen_kv_str(g, "Type", "bind");
        jgen_kv_str(g, "Source", m->source);
        jgen_kv_str(g, "Target", m->target);
        jgen_kv_bool(g, "ReadOnly", m->read_only);
        jgen_key(g, "BindOptions");
        jgen_obj_open(g);
        jgen_kv_str(g, "Propagation", "rprivate");
        /* Nothing mounted below a source comes along (a ~/.ssh mounted inside an allowed
         * root, say), so read-only binds need no recursive read-only either: the engines
         * differ there (below API 1.44 and on Podman it is not recursive). */
        jgen_kv_bool(g, "NonRecursive", true);
        jgen_obj_close(g);
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    jgen_obj_close(g);
}

int sandbox_spec_json(const sandbox_spec *s, strbuf *out, nc_error **err)
{
    const sandbox_settings *st = s->settings;
    if (!s->image || !*s->image)
        return nc_error_set(err, EINVAL, "no image to run");
    if (strcmp(st->seccomp_profile, "unconfined") != 0 &&
        !(s->kind == ENGINE_PODMAN ? s->seccomp_path : s->seccomp_json))
        return nc_error_set(err, EINVAL, "no seccomp profile for the %s engine",
                            engine_kind_name(s->kind));
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "Image", s->image);
    if (s->cmd)
        jgen_kv_strv(g, "Cmd", s->cmd);
    jgen_kv_strv(g, "Env", s->env);
    if (s->workdir)
        jgen_kv_str(g, "WorkingDir", s->workdir);
    jgen_kv_str(g, "User", st->user);
    jgen_kv_bool(g, "OpenStdin", true);
    jgen_kv_bool(g, "StdinOnce", true);
    jgen_kv_bool(g, "AttachStdin", true);
    jgen_kv_bool(g, "AttachStdout", true);
    jgen_kv_bool(g, "AttachStderr", true);
    jgen_kv_bool(g, "Tty", false);
    jgen_kv_bool(g, "NetworkDisabled", strcmp(st->network, "none") == 0);
    jgen_key(g, "Labels");
    jgen_obj_open(g);
    jgen_kv_str(g, NC_LABEL_INSTALL, s->install_id);
    jgen_kv_str(g, NC_LABEL_GROUP, s->group);
    jgen_kv_str(g, NC_LABEL_RUN, s->run_id);
    jgen_kv_str(g, NC_LABEL_OWNER, s->owner);
    if (s->seccomp_digest)
        jgen_kv_str(g, NC_LABEL_SECCOMP, s->seccomp_digest);
    jgen_obj_close(g);
    host_config(g, s);
    jgen_obj_close(g);
    return jgen_finish(g, out, err);
}
