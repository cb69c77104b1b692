/* The hardened container spec: one function turns a group's resolved sandbox settings into the
 * body of POST /containers/create.
 *
 * Always: Privileged false, CapDrop ALL (plus only the configured CapAdd), no devices, no
 * published ports, IpcMode private, CgroupnsMode private (API >= 1.41), ulimit core=0,
 * MemorySwap equal to Memory (no swap), NanoCpus only (never CpuQuota/CpuPeriod), never
 * OomKillDisable, AutoRemove false (nanocell reads the exit status and OOMKilled, then removes
 * the container itself), LogConfig none (agent output is read through attach and never written
 * to the engine's log files), stdin open once, no TTY.
 *
 * Engine differences (../shared/reference/docker-api.md §3):
 * - Docker takes the seccomp profile inline ("seccomp=<JSON>"); Podman reads the same option
 *   as a file path on the engine host, so it gets the path of the written profile.
 * - Podman with ReadonlyRootfs mounts writable tmpfs on /tmp, /var/tmp, /run and /dev/shm
 *   without noexec or a size; nanocell declares all four itself, noexec,nosuid,nodev,size=.
 *
 * Binds are non-recursive (BindOptions.NonRecursive, API 1.40): nothing mounted below a source is
 * carried into the container, so a read-only bind is read-only throughout on every engine and
 * API version. The runtime check verifies that nothing appears below a bind target. */
#ifndef NC_SANDBOX_SPEC_H
#define NC_SANDBOX_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/types.h>

#include "engine/engine.h"
#include "sandbox/settings.h"
#include "util/error.h"
#include "util/strbuf.h"

typedef struct sandbox_mount {
    const char *source; /* absolute host path, already resolved and checked */
    const char *target; /* absolute path in the container */
    bool read_only;
    /* The source's identity when it was checked (sandbox_prepare fills it): the runtime check
     * requires the container's mount to be that very directory or file, so a source swapped
     * for a symlink between the check and the engine's mount(2) is caught. */
    dev_t dev;
    ino_t ino;
} sandbox_mount;

typedef struct sandbox_spec {
    const sandbox_settings *settings;
    const char *image;
    char *const *cmd; /* NULL: the image's command */
    char *const *env; /* "KEY=value"; never a secret */
    const char *workdir;
    /* labels */
    const char *install_id;
    const char *group;
    const char *run_id;
    const char *owner;
    const sandbox_mount *mounts;
    size_t nmounts;
    /* A private tmpfs for the agent's HOME, besides the engine's list (NULL: none). Same
     * options as /tmp; mounts may lie below it (the state dir). */
    const char *home_tmpfs;
    const char *seccomp_json;   /* canonical profile (Docker); unused when unconfined */
    const char *seccomp_path;   /* the same profile written to a file (Podman) */
    const char *seccomp_digest; /* recorded as a label */
    const char *runtime; /* the OCI runtime asked for; "" = the engine's default (never "auto") */
    engine_kind kind;
    int api_minor;
} sandbox_spec;

/* The tmpfs mount points nanocell declares on an engine, NULL-terminated. */
const char *const *sandbox_tmpfs_targets(engine_kind kind);
/* Every tmpfs a spec declares: the engine's, then home_tmpfs when set. NULL-terminated; free()
 * the array, not the strings. */
const char **sandbox_spec_tmpfs(const sandbox_spec *s);
/* Their options, e.g. "rw,noexec,nosuid,nodev,size=67108864". Allocated. */
char *sandbox_tmpfs_options(const sandbox_settings *s);
/* The SecurityOpt entry for seccomp, as sent. Allocated. */
char *sandbox_seccomp_opt(const sandbox_spec *s);

/* The label that records the seccomp profile's digest. */
#define NC_LABEL_SECCOMP "nanocell.seccomp"

/* Appends the create body to out (the Docker API's POST /containers/create). */
int sandbox_spec_json(const sandbox_spec *s, strbuf *out, nc_error **err);

/* What the libpod body needs besides the spec. */
typedef struct sandbox_libpod_opts {
    const char *name; /* the container's name: libpod takes it in the body */
    /* Rootless Podman: map the container user (sandbox.user) to the service's own user
     * (userns keep-id:uid=U,gid=G, Podman 4.3), so what it writes on a bind is the host
     * user's, with no chown to subordinate ids. Rootful Podman has no user namespace, as
     * Docker. */
    bool keep_id;
} sandbox_libpod_opts;

/* Appends the same spec as the SpecGenerator body of Podman's POST /libpod/containers/create
 * (spec_libpod.c), which applies what Podman 4's compat create drops: the private cgroup
 * namespace above all. Same settings, same tmpfs list, same labels; the seccomp profile goes
 * as the path of the written file (seccomp_path), as for Podman's compat API. */
int sandbox_spec_libpod_json(const sandbox_spec *s, const sandbox_libpod_opts *o, strbuf *out,
                             nc_error **err);

#endif
