/* Everything a container needs from configuration and policy, checked before it is asked for:
 * the group's settings, the seccomp profile (validated with libseccomp; for Podman also written
 * to a file the engine can read), nanocell's own mounts (never an engine socket or a parent of
 * one), and the extra mounts (the mount policy of sandbox/mounts.h; a rejected one refuses the
 * turn or is skipped, as sandbox.on_rejected_mount says). The result holds a sandbox_spec for
 * sandbox_launch() and owns everything the spec points to. */
#ifndef NC_SANDBOX_PREPARE_H
#define NC_SANDBOX_PREPARE_H

#include "config.h"
#include "engine/engine.h"
#include "sandbox/spec.h"
#include "util/strbuf.h"

typedef struct sandbox_request {
    const nc_config *cfg;
    const char *group;
    const engine *engine;
    const char *image;
    char *const *cmd;
    char *const *env;
    const char *workdir;
    const char *run_id;
    const char *owner;
    const sandbox_mount *own; /* nanocell's own mounts: group folder, IPC dir */
    size_t nown;
    const bool *is_main;    /* NULL: the group's [[group]] entry says; else the caller's store */
    const char *home_tmpfs; /* a tmpfs for HOME (sandbox_spec.home_tmpfs); NULL: none */
    /* The OCI runtime to ask for ("" = the engine's default), as sandbox/runtime.h chose it;
     * NULL: sandbox.runtime itself, with "auto" taken as the engine's default. */
    const char *runtime;
} sandbox_request;

typedef struct sandbox_prepared {
    sandbox_spec spec;
    char seccomp_digest[65]; /* "" when unconfined */
    char *seccomp_source;    /* where the profile came from */
    strbuf notes;            /* mounts forced read-only or skipped, one per line */
    /* storage the spec points into */
    char *seccomp_json;
    char *seccomp_path;
    sandbox_mount *mounts;
    char **strings;
} sandbox_prepared;

int sandbox_prepare(const sandbox_request *req, sandbox_prepared **ret, nc_error **err);
/* Paths that are never mounted, besides the built-in engine sockets: the socket of e, the
 * allowlist (NULL: none), the configuration file and, for extra mounts, the data dir. A strv:
 * free with strv_free. doctor asks the same question run does. */
char **sandbox_never_mounted(const nc_config *cfg, const engine *e, const char *allowlist,
                             bool with_data_dir);
void sandbox_prepared_free(sandbox_prepared *p);
NC_DEFINE_CLEANUP(sandbox_prepared *, sandbox_prepared_free)
#define _cleanup_prepared_ _cleanup_(sandbox_prepared_freep)

/* Loads the group's seccomp profile as configured ("" = the built-in one); for doctor and
 * `policy check` as well. *ret is NULL for "unconfined". */
struct seccomp_policy;
int sandbox_load_seccomp(const sandbox_settings *s, struct seccomp_policy **ret, nc_error **err);

#endif
