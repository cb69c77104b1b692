/* The IPC watcher: files agents write into their group's ipc/messages and ipc/tasks (NanoClaw
 * v1's file IPC), seen through inotify the moment they are written or renamed in, plus one scan
 * of each directory when it is first watched (files that came while the daemon was down). No
 * poll loop.
 *
 * For each file: ipc_file_read() (regular, one link, at most max_file bytes, opened
 * O_NOFOLLOW|O_NONBLOCK relative to the directory's descriptor, and owned by the agent's user:
 * the owner of the directory it is in, which nanocell gives to the container's user for each
 * group and the agent cannot give away), ipc_parse(), then the
 * caller's on_request, which authorizes and acts. A file that is acted on or denied is deleted;
 * a file that cannot be read or parsed, or past the group's rate limit (max_per_minute files a
 * minute), is moved to the group's ipc/errors with the reason logged (deleted when even that
 * fails). Names that do not end in ".json" (a writer's temporary file) are left alone.
 *
 * Directories are opened relative to data_dir/groups/<group> (nanocell's own, the agent cannot
 * change it) without following links at any level the agent controls, and watched through
 * their descriptors: a messages/ or tasks/ the agent replaces with a symlink is never followed,
 * and one it replaces with a new directory is watched again.
 *
 * The watcher runs on a thread of its own (ipc_watcher_start), or is driven by the caller
 * through ipc_watcher_fd and ipc_watcher_dispatch (tests). */
#ifndef NC_ORCH_IPC_H
#define NC_ORCH_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "orch/ipc_file.h"
#include "util/error.h"
#include "util/strbuf.h"

typedef struct ipc_watcher ipc_watcher;

typedef struct ipc_callbacks {
    /* Acts on one request from group's directory. Returns 0 when done; 0 with *denied set when
     * refused (a constant reason: the file is deleted, the denial logged and counted); a
     * negative errno with *err when the request is bad or failed (the file goes to errors). */
    int (*on_request)(void *ud, const char *group, const ipc_request *q, const char **denied,
                      nc_error **err);
    /* The groups to watch; called at start and after ipc_watcher_resync. *folders is
     * NULL-terminated (strv). The caller makes each group's ipc/ folders before it returns
     * them. */
    int (*groups)(void *ud, char ***folders, nc_error **err);
    /* Called on the watcher's thread after ipc_watcher_later (may be NULL). */
    void (*later)(void *ud);
    void *ud;
} ipc_callbacks;

typedef struct ipc_limits {
    size_t max_file;         /* ipc.max_file_size */
    unsigned max_per_minute; /* ipc.max_files_per_minute, per group */
} ipc_limits;

/* groups_dir: data_dir/groups. Nothing is watched until the first dispatch or start. */
int ipc_watcher_new(const char *groups_dir, const ipc_limits *lim, const ipc_callbacks *cb,
                    ipc_watcher **ret, nc_error **err);
/* Stops the thread (if started) and frees. Accepts NULL. */
void ipc_watcher_free(ipc_watcher *w);
void ipc_watcher_set_limits(ipc_watcher *w, const ipc_limits *lim);

/* Runs the watcher on its own thread until ipc_watcher_free. */
int ipc_watcher_start(ipc_watcher *w, nc_error **err);
/* The groups changed: the watcher asks for them again (any thread). */
void ipc_watcher_resync(ipc_watcher *w);
/* The watcher calls callbacks.later on its thread soon, once however often this is called
 * before (any thread): work a caller should not wait for. */
void ipc_watcher_later(ipc_watcher *w);

/* Without a thread: the descriptor to poll, and one round (a resync if asked, then every
 * pending event; never blocks). */
int ipc_watcher_fd(const ipc_watcher *w);
void ipc_watcher_dispatch(ipc_watcher *w);

/* Counts, for /metrics and tests. */
typedef struct ipc_counts {
    uint64_t done, denied, errors, limited;
} ipc_counts;
void ipc_watcher_counts(ipc_watcher *w, ipc_counts *ret);
/* Appends nanocell_ipc_files_total{outcome} and nanocell_ipc_denied_total{group,type}. */
void ipc_watcher_metrics(ipc_watcher *w, strbuf *out);

#endif
