/* Launching a verified container: create, inspect and verify, attach, register the wait,
 * start, and verify the running process, in the order the engines need
 * (../shared/reference/docker-api.md §1.7). Nothing from the caller has reached the container
 * when this returns: its process is blocked reading stdin, and the caller writes the payload
 * only once the container is known to be confined as asked.
 *
 * Any create warning is fatal: Docker answers 201 and reports a limit it could not apply only
 * in Warnings. On any failure the container is removed and the error says what failed; EPERM
 * means the sandbox could not be verified. */
#ifndef NC_SANDBOX_LAUNCH_H
#define NC_SANDBOX_LAUNCH_H

#include <stdint.h>

#include "engine/attach.h"
#include "engine/engine.h"
#include "engine/wait.h"
#include "sandbox/oomwatch.h"
#include "sandbox/spec.h"

typedef struct sandbox_container {
    char *id;
    char *name;
    char *image_id;        /* from inspect: the image the engine really used */
    char *runtime;         /* from inspect: the OCI runtime, NULL for the engine default */
    int64_t pid;           /* the container's init on the engine host */
    engine_attach *attach; /* stdio, hijacked before start */
    engine_wait *wait;     /* registered before start */
    oomwatch *oom;         /* the host's own view of OOM kills; NULL when unavailable */
    strbuf report;         /* verification lines, for the run log */
    strbuf phases;         /* "create=41 inspect=6 ...": milliseconds per step, for the run log */
    uint64_t phase_mark;   /* mono_ms() at the end of the last step */
} sandbox_container;

/* Where the runtime check reads; tests may point these at a prepared tree. */
typedef struct sandbox_launch_opts {
    const char *proc_root;   /* default "/proc" */
    const char *cgroup_root; /* default "/sys/fs/cgroup" */
} sandbox_launch_opts;

int sandbox_launch(engine *e, const sandbox_spec *spec, const char *name,
                   const sandbox_launch_opts *opts, sandbox_container **ret, nc_error **err);
/* Removes the container (forcibly: a running one is killed) and frees c. Errors are returned
 * but c is freed either way. A container already gone is not an error. */
int sandbox_container_remove(engine *e, sandbox_container *c, nc_error **err);
/* Closes the current step of c's timeline: appends "name=<ms since the last step>". */
void sandbox_phase(sandbox_container *c, const char *name);
/* Frees c without touching the container. */
void sandbox_container_free(sandbox_container *c);

#endif
