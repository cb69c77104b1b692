/* A group's sandbox settings: the `sandbox.*` configuration keys, set globally and overridable
 * per [[group]]. The defaults are the hardened ones (see config.example.toml); anything else
 * is an explicit loosening, which sandbox_settings_loosened() names for `nanocell doctor`.
 *
 * Some properties are not settings at all, because no operator should want them otherwise:
 * Privileged is always false, no devices, no published ports, IPC and cgroup namespaces are
 * private, core dumps are off (ulimit core=0), and no engine socket is ever mounted. */
#ifndef NC_SANDBOX_SETTINGS_H
#define NC_SANDBOX_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/strbuf.h"

/* Verification failures an operator may choose to tolerate (sandbox.allow_unenforced). */
#define SANDBOX_UNENFORCED_MEMORY "memory"     /* the engine did not apply the memory limit */
#define SANDBOX_UNENFORCED_PIDS "pids"         /* the engine did not apply the pids limit */
#define SANDBOX_UNENFORCED_CPU "cpu"           /* the engine did not apply the CPU quota */
#define SANDBOX_UNENFORCED_ULIMITS "ulimits"   /* the engine did not apply nofile/nproc/core */
#define SANDBOX_UNENFORCED_RUNTIME "runtime"   /* the container's process cannot be inspected */
#define SANDBOX_UNENFORCED_CGROUPNS "cgroupns" /* the engine left the host's cgroup namespace */

typedef struct sandbox_settings {
    bool read_only_rootfs;
    bool no_new_privileges;
    char **cap_add;     /* capability names; empty by default */
    char *network;      /* "none"; "bridge" is a loosening */
    uint64_t memory;    /* bytes; MemorySwap is always the same (no swap). 0 = unlimited */
    int64_t pids_limit; /* 0 = unlimited */
    int64_t nano_cpus;  /* from "cpus" ("1", "0.5"); 0 = unlimited */
    int64_t nofile;
    int64_t nproc;
    char *user;              /* numeric "uid:gid" */
    uint64_t tmp_size;       /* size of each writable tmpfs (/tmp, and Podman's others) */
    char *seccomp_profile;   /* "" = the built-in agent profile, a file path, or "unconfined" */
    bool init;               /* an init process reaps zombies (tini / catatonit) */
    char **mounts;           /* extra mounts, "HOST[:CONTAINER][:ro|:rw]" */
    char *on_rejected_mount; /* "refuse" (the turn does not run) or "skip" */
    char **allow_unenforced; /* SANDBOX_UNENFORCED_* names to tolerate */
    char *runtime; /* OCI runtime name; "auto" (sandbox/runtime.h); "" = the engine's default */
} sandbox_settings;

void sandbox_settings_copy(sandbox_settings *dst, const sandbox_settings *src);
void sandbox_settings_release(sandbox_settings *s);
bool sandbox_allows_unenforced(const sandbox_settings *s, const char *what);

/* Validators used by the configuration keys. */
int sandbox_check_network(const char *v, nc_error **err);
int sandbox_check_user(const char *v, nc_error **err);
/* Parses sandbox.user, "uid:gid" (both numeric, both required). */
int sandbox_parse_user(const char *v, uid_t *uid, gid_t *gid, nc_error **err);
int sandbox_check_cpus(const char *v, int64_t *ret_nano, nc_error **err);
int sandbox_check_cap(const char *v, nc_error **err);
int sandbox_check_unenforced(const char *v, nc_error **err);
int sandbox_check_on_rejected(const char *v, nc_error **err);

/* Appends one line per setting that is weaker than the hardened default, e.g.
 * "network 'bridge' (default 'none')". Returns how many. */
int sandbox_settings_loosened(const sandbox_settings *s, const sandbox_settings *hardened,
                              strbuf *out);

#endif
