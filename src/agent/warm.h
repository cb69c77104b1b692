/* A container launched ahead of its turn, for the daemon's warm pool (src/orch/pool.c).
 *
 * turn_prelaunch() (agent/turn.h) builds it exactly as a cold turn builds its container: the
 * group's settings, mounts, runtime and hardened spec, created, verified in inspect and in
 * /proc, attached, its wait registered and started, its process blocked reading stdin. Nothing
 * of any turn has reached it. What it was made from is kept: the create body, the image the
 * engine used, and the identity of its process (below).
 *
 * At the moment of use the turn that takes it prepares everything a cold turn would (folders,
 * image, runtime, spec) and hands the container on only when all of this still holds, else it
 * is discarded and the turn runs cold:
 *   - the create body a cold turn would send now is byte for byte the one it was made with
 *     (the configuration, the policies, the group's mounts and labels are unchanged);
 *   - the image the tag names now is the image it runs;
 *   - its process is the same one (pid and start time), alive and not a zombie, in the same
 *     namespaces, with the same mount table (nothing mounted or unmounted since);
 *   - the runtime check (sandbox_verify_runtime) passes again, as for a cold container;
 *   - nothing came on its attach stream (an agent blocked on stdin writes nothing), and the
 *     stream is still open.
 * A pooled container serves one turn of one group, never two. */
#ifndef NC_AGENT_WARM_H
#define NC_AGENT_WARM_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/workspace.h"
#include "engine/engine.h"
#include "sandbox/launch.h"
#include "util/error.h"

/* What a process is, as /proc tells it: start time, namespaces, mount table. */
typedef struct warm_identity {
    uint64_t start_time; /* field 22 of /proc/<pid>/stat */
    char *ns[7];         /* readlink of /proc/<pid>/ns/<name>, in warm_ns_names order */
    char *mountinfo;     /* /proc/<pid>/mountinfo */
} warm_identity;

struct turn_warm {
    sandbox_container *c;
    char *group;
    char *run_id;
    char *image;     /* the reference asked for */
    char *spec_json; /* the create body it was made with */
    bool is_main;
    uint64_t memory;  /* its memory limit (sandbox.memory), bytes */
    uint64_t made_ms; /* mono_ms() when it was ready */
    warm_identity id;
};

/* Reads the identity of pid under proc_root. */
int warm_identity_take(int64_t pid, const char *proc_root, warm_identity *ret, nc_error **err);
/* 0 when pid under proc_root still has the identity want; else -ESTALE with err saying what
 * changed (or another negative errno when /proc could not be read). */
int warm_identity_check(const warm_identity *want, int64_t pid, const char *proc_root,
                        nc_error **err);
void warm_identity_release(warm_identity *id);

/* 0 when nothing came on the attach stream of c and it is still open; else -ESTALE. */
int warm_attach_quiet(const sandbox_container *c, nc_error **err);

/* The group's folders as workspace_prepare() and workspace_prepare_global() left them (the
 * paths of w, global included), each checked to be a directory and not a symlink; ENOENT when
 * a turn has not made them yet. Nothing is created, changed or cleared. */
int warm_find_folders(const char *data_dir, const char *group, workspace *w, nc_error **err);

/* Frees w without touching the container (sandbox_container_remove does that). */
void turn_warm_free(struct turn_warm *w);

#endif
