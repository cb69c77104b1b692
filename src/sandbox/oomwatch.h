/* Watching a container's memory cgroup for OOM kills from the host.
 *
 * The engine's State.OOMKilled is not enough: on the CI hosts (cgroup v1, kernel 6.18) neither
 * Docker nor Podman sets it after a kernel OOM kill, because containerd and conmon receive no
 * OOM event; and the container's cgroup, with its oom_kill counter, is removed within a few
 * milliseconds of the exit. So nanocell registers its own cgroup v1 OOM notifier
 * (cgroup.event_control + memory.oom_control + an eventfd) once the container runs.
 *
 * The eventfd is signalled once per OOM and once when the cgroup is removed. While the cgroup
 * exists, any signal is an OOM (and oom_kill confirms it); once it is gone, a count above one
 * means an OOM came before the removal. Measured here: both cases, read at once and 3 s late.
 *
 * Only cgroup v1 is handled; on cgroup v2 oomwatch_open() fails with EOPNOTSUPP and callers
 * rely on the engine's OOMKilled. */
#ifndef NC_SANDBOX_OOMWATCH_H
#define NC_SANDBOX_OOMWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"

typedef struct oomwatch oomwatch;

int oomwatch_open(int64_t pid, const char *proc_root, const char *cgroup_root, oomwatch **ret,
                  nc_error **err);
/* Becomes readable (POLLIN) when something happened; then call oomwatch_check(). */
int oomwatch_fd(const oomwatch *w);
/* Reads what happened so far. Returns true once an OOM kill has been seen. Cheap and
 * non-blocking: call it whenever the fd is readable, and once more after the container ended. */
bool oomwatch_check(oomwatch *w);
void oomwatch_free(oomwatch *w);
NC_DEFINE_CLEANUP(oomwatch *, oomwatch_free)

#endif
