/* Fail-closed verification that the engine built the container nanocell asked for.
 *
 * After create, sandbox_verify_inspect() compares every hardening field of the inspect document
 * with the spec (CIS Docker Benchmark §5 and the stricter checks of
 * ../shared/reference/security.md §1.3). After start, sandbox_verify_runtime() reads the
 * container's init process from /proc on this host: capabilities, no_new_privs, seccomp mode,
 * namespaces, the network devices, the cgroup memory and pids limits, and the mounts: the
 * binds, and the engine's masks and read-only mounts over /proc and /sys. Engines
 * drop settings silently (rootless Podman on cgroup v1 accepts Memory and PidsLimit and applies
 * neither; Podman's compat API ignores CgroupnsMode, which is why Podman 4's containers are
 * created through libpod), and only the kernel's view tells.
 *
 * Both append one line per check to report, for the run log: "ok NAME", "waived NAME: why"
 * (sandbox.allow_unenforced) or "FAILED NAME: why". Any failure makes them return -EPERM with
 * an error naming every failed check; the caller removes the container and refuses the turn. */
#ifndef NC_SANDBOX_VERIFY_H
#define NC_SANDBOX_VERIFY_H

#include <stdint.h>

#include "sandbox/spec.h"
#include "util/json.h"

/* The paths both engines' defaults hide from a container (Docker's MaskedPaths and Podman's
 * agree on these): each must be covered by a bind of /dev/null (a file) or a read-only tmpfs (a
 * directory). NULL-terminated. */
extern const char *const sandbox_masked_paths[];
/* The paths the defaults keep read-only (Docker's ReadonlyPaths; Docker masks /proc/asound and
 * Podman makes it read-only, so a mask counts too). NULL-terminated. */
extern const char *const sandbox_readonly_paths[];

int sandbox_verify_inspect(const sandbox_spec *want, const nc_json *inspect, strbuf *report,
                           nc_error **err);
/* The same for a container Podman created through its libpod API: libpod is its
 * GET /libpod/containers/{id}/json, which names the OCI runtime (OCIRuntime) that a pinned
 * sandbox.runtime is checked against. NULL: as sandbox_verify_inspect. */
int sandbox_verify_inspect_libpod(const sandbox_spec *want, const nc_json *inspect,
                                  const nc_json *libpod, strbuf *report, nc_error **err);

/* proc_root is "/proc" (tests point it elsewhere); cgroup_root is "/sys/fs/cgroup". pid -1:
 * the engine is on another host (endpoint_is_local), so nothing can be read: a failure, or the
 * "runtime" waiver. */
int sandbox_verify_runtime(const sandbox_spec *want, int64_t pid, const char *proc_root,
                           const char *cgroup_root, strbuf *report, nc_error **err);

/* For a container Podman created through libpod, once started: the OCI spec Podman handed the
 * runtime, static_dir/config.json (static_dir: libpod's StaticDir, the bundle, on this host),
 * holds nanocell's seccomp profile as it applies here (verify_bundle.c), where the inspect only
 * echoes the annotation nanocell sent. A bundle nanocell's user may not read (a rootful
 * service, nanocell not root) is a "note" line in report, not a failure; sandbox_launch calls
 * this only for an engine on a unix socket (a bundle on this host). */
int sandbox_verify_bundle(const sandbox_spec *want, const char *static_dir, strbuf *report,
                          nc_error **err);

#endif
