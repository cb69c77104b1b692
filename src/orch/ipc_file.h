/* One IPC file an agent wrote into its group's ipc/messages or ipc/tasks (NanoClaw v1's
 * formats, docs in ../shared/reference/nanoclaw-v1.md §4.2): reading it safely, and parsing it
 * into a request.
 *
 * The directory belongs to the agent, which may put anything there: a symlink to a host file, a
 * FIFO, a device, a hard link to a file elsewhere, a huge file, or swap a file between the
 * host's checks and its open. ipc_file_read() therefore works only through the directory's
 * descriptor, never follows a link, never blocks, and checks the file it actually opened. */
#ifndef NC_ORCH_IPC_FILE_H
#define NC_ORCH_IPC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/strbuf.h"

/* A name the host reads: ends in ".json", does not start with '.', holds no '/', at most
 * NAME_MAX bytes. Other names (a writer's "x.json.tmp", "_close") are left alone. */
bool ipc_file_name_ok(const char *name);

/* Reads dirfd/name into out (at most max bytes). The file must be a regular file with one link,
 * owned by owner, at most max bytes, opened with O_NOFOLLOW|O_NONBLOCK relative to dirfd, and
 * the file opened must be the one checked. Returns 0, or a negative errno with *err saying why
 * ("symbolic link", "FIFO", "hard link", "larger than 65536 bytes", "owned by uid 0, not
 * 1000"): -ENOENT when the name is gone (nothing to do), anything else means the file is to be
 * moved to ipc/errors. */
int ipc_file_read(int dirfd, const char *name, uid_t owner, size_t max, strbuf *out,
                  nc_error **err);
/* The same, with the stat of the file read (its ctime is when it was written or renamed in:
 * the daemon measures its IPC latency from there). */
int ipc_file_read_stat(int dirfd, const char *name, uid_t owner, size_t max, strbuf *out,
                       struct stat *ret_st, nc_error **err);

/* For tests only: fn runs between ipc_file_read()'s lstat and its open (NULL: none), so a test
 * can swap the file there. */
void ipc_file_test_hook(void (*fn)(int dirfd, const char *name, void *ud), void *ud);

typedef enum ipc_type {
    IPC_MESSAGE,
    IPC_SCHEDULE_TASK,
    IPC_PAUSE_TASK,
    IPC_RESUME_TASK,
    IPC_CANCEL_TASK,
    IPC_UPDATE_TASK,
    IPC_REFRESH_GROUPS,
    IPC_REGISTER_GROUP,
} ipc_type;

/* Its name in the file ("message", "schedule_task", ...). */
const char *ipc_type_name(ipc_type t);

/* A parsed request. Strings are allocated or NULL when absent. What the file says about who
 * sent it (groupFolder, isMain, createdBy) is not kept: identity is the directory's. */
typedef struct ipc_request {
    ipc_type type;
    char *chat_jid;         /* message: chatJid */
    char *text;             /* message */
    char *sender;           /* message: sender (optional) */
    char *task_id;          /* schedule (optional), pause, resume, cancel, update */
    char *prompt;           /* schedule, update */
    char *script;           /* schedule, update ("" on update removes it) */
    char *schedule_type;    /* schedule, update: "cron", "interval", "once" */
    char *schedule_value;   /* schedule, update */
    char *context_mode;     /* schedule: as written; the caller maps others to "isolated" */
    char *target_jid;       /* schedule: targetJid */
    char *jid;              /* register_group */
    char *name;             /* register_group */
    char *folder;           /* register_group */
    char *trigger;          /* register_group */
    bool requires_trigger;  /* register_group (default false, as the MCP tool's) */
    bool sets_is_main;      /* register_group: the file tried to set isMain (refused) */
    char *container_config; /* register_group: containerConfig as JSON text, or NULL */
    int64_t arrived_ns;     /* set by the watcher: when the file arrived (its ctime), wall ns */
} ipc_request;

/* Parses a file's bytes. in_tasks: the file came from ipc/tasks (task and admin types), else
 * from ipc/messages (type "message" only). -EINVAL with *err for bad JSON, an unknown or
 * misplaced type, or a missing or mistyped field. */
int ipc_parse(const char *buf, size_t len, bool in_tasks, ipc_request *ret, nc_error **err);
void ipc_request_release(ipc_request *r);

#endif
