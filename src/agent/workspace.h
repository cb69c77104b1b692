/* A group's folders on the host, and the host's writes into them.
 *
 *   data_dir/groups/<group>/            nanocell's, 0711, never mounted
 *     workspace/                        mounted at /workspace/group, owned by the container user
 *     ipc/{messages,tasks,input}/       mounted at /workspace/ipc, owned by the container user
 *     state/                            the agent's own state (NanoClaw's data/sessions/<G>/
 *                                       .claude), mounted at agent.state_dir, owned by the
 *                                       container user
 *     logs/                             run logs, nanocell's, 0700, never mounted
 *   data_dir/groups/global/             global memory (NanoClaw's groups/global), 0755, mounted
 *                                       at /workspace/global: read-write for the main group,
 *                                       whose container user owns it, read-only for the others
 *
 * "global" is not a valid group name (config_valid_group_name), so the global folder never
 * collides with a group's.
 *
 * NanoClaw keeps its logs inside the mounted group folder; here nothing the agent can write
 * holds host-only files. The agent owns workspace/ and ipc/, so it can replace anything inside
 * them, a directory with a symlink say: every host operation there goes through directory
 * descriptors opened with O_NOFOLLOW, ownership is set on descriptors (never on paths), and
 * files are created with O_EXCL|O_NOFOLLOW, so nanocell never follows a link the agent planted,
 * even when it runs as root. */
#ifndef NC_AGENT_WORKSPACE_H
#define NC_AGENT_WORKSPACE_H

#include <stdbool.h>
#include <sys/types.h>

#include "engine/engine.h"
#include "util/error.h"

#define WORKSPACE_GROUP_TARGET "/workspace/group"
#define WORKSPACE_IPC_TARGET "/workspace/ipc"
#define WORKSPACE_GLOBAL_TARGET "/workspace/global"

typedef struct workspace {
    char *root;      /* data_dir/groups/<group> */
    char *workspace; /* .../workspace */
    char *ipc;       /* .../ipc */
    char *state;     /* .../state */
    char *logs;      /* .../logs */
    char *global;    /* data_dir/groups/global, once workspace_prepare_global() made it */
} workspace;

/* The host owner of what the container user (uid:gid, sandbox.user) writes on the group's
 * folders, which is who must own them: uid:gid itself, but for rootless Podman 4, whose
 * containers nanocell runs with userns keep-id: there the container user is the service's own
 * user (SO_PEERCRED on its socket), and a folder given to uid:gid would be another host user's,
 * which the container cannot write. Updates *uid and *gid in place. An engine not on a unix
 * socket leaves them as they are: its binds are not this host's folders. */
int workspace_owner(engine *e, uid_t *uid, gid_t *gid, nc_error **err);

/* Creates the layout (idempotent), gives workspace/, ipc/ and state/ to uid:gid when running as
 * root, and clears what an earlier turn left in ipc/input (a _close, follow-ups it never
 * read). */
int workspace_prepare(const char *data_dir, const char *group, uid_t uid, gid_t gid, workspace *ret,
                      nc_error **err);
/* Creates data_dir/groups/global (idempotent, mode 0755) and sets w->global. writer: the turn
 * of a main group, whose agent may write global memory: the folder is given to uid:gid (when
 * running as root). Other groups only read it and change nothing. The folder's contents are
 * the main agent's: the host never reads or writes inside it. */
int workspace_prepare_global(workspace *w, const char *data_dir, uid_t uid, gid_t gid, bool writer,
                             nc_error **err);
void workspace_release(workspace *w);

/* Writes a follow-up message into ipc/input: <ms>-<rand>.json holding
 * {"type":"message","text":...}, created under a temporary name and renamed. */
int workspace_send_input(const workspace *w, const char *text, nc_error **err);
/* Writes the _close sentinel into ipc/input. */
int workspace_send_close(const workspace *w, nc_error **err);

#endif
