/* Which OCI runtime a container is asked to run on (sandbox.runtime).
 *
 * "crun", "runc", ...: pinned. That runtime is asked for, and a container that fails on it fails
 * the turn: a pinned runtime never falls back. "" is the engine's own default runtime.
 *
 * "auto" (the default): crun when the engine lists it in GET /info Runtimes and one trial
 * container starts and exits cleanly on it, else the engine's default. A listed crun is not
 * proof that it works (on a cgroup v1 hybrid host crun refuses every container: see
 * ../shared/reference/docker-api.md). The trial is a real launch: the caller's
 * sandbox_request (the group's hardened settings and labels, none of its folders) with
 * /bin/cat from the agent image as the command, created, verified and started by
 * sandbox_launch() exactly as a turn's container, given an empty stdin, waited for (exit 0) and
 * removed. Podman keeps its own default under auto: it picks its runtime itself (Podman 4.3
 * runs every container on the service's own, whatever the create asks), and libpod's inspect
 * names it (sandbox_launch). A runtime pinned on Podman is checked against that report.
 *
 * The verdict is cached per engine in data_dir/runtime-cache (0600, written atomically), keyed
 * by the engine's address, its version and crun's path from /info; a change of any of them, or
 * a file that does not parse, means a new trial. Within a process the verdict is also kept in
 * memory (thread-safe), so the daemon does not read the file every turn; /info is still asked
 * each time, to notice a changed crun. */
#ifndef NC_SANDBOX_RUNTIME_H
#define NC_SANDBOX_RUNTIME_H

#include <stdbool.h>

#include "engine/engine.h"
#include "sandbox/launch.h"
#include "sandbox/prepare.h"

#define SANDBOX_RUNTIME_AUTO "auto"
#define SANDBOX_RUNTIME_CANDIDATE "crun"
#define SANDBOX_RUNTIME_CACHE "runtime-cache"

typedef struct sandbox_runtime_choice {
    char *name;     /* the runtime to ask for; "" = the engine's default */
    char *why;      /* for doctor and the run log, e.g. "auto: crun listed, trial container
                     * ran cleanly; cached" or "pinned (sandbox.runtime)" */
    bool from_auto; /* decided by auto */
    bool cached;    /* auto's verdict came from the cache (memory or file) */
} sandbox_runtime_choice;

/* Decides the runtime for req's group (config_sandbox(req->cfg, req->group)). req is the
 * request the turn will make, used as is for the trial but for its command, mounts, run id
 * (run_id + "-rt") and runtime; the image must be present. opts: where the trial's runtime
 * check reads (NULL: the real /proc and cgroups). Fails only when the engine cannot be asked
 * (GET /info) or the trial cannot be made for a reason that is not crun's (the image is
 * missing, the preparation fails): that is not a verdict and nothing is cached. */
int sandbox_runtime_choose(engine *e, const sandbox_request *req, const sandbox_launch_opts *opts,
                           sandbox_runtime_choice *ret, nc_error **err);
void sandbox_runtime_choice_release(sandbox_runtime_choice *c);
/* Forgets the in-memory verdicts (tests). */
void sandbox_runtime_forget(void);

#endif
