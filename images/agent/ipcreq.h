/* NanoClaw's IPC requests, one function per request type: each writes one NanoClaw-format file
 * into ipc/tasks (ipc/messages for a message: ipc.h) as NanoClaw's MCP server does
 * (ipc-mcp-stdio.ts). Scripted mode's commands (ipccmd.h) and model mode's tools (mcptool.h) both
 * call these, so the two write the same files.
 *
 * Like NanoClaw's tools the requests are fire-and-forget: success means the file was written,
 * not that the host allowed it. Nothing here checks authorization; the host does. */
#ifndef NC_AGENT_IPCREQ_H
#define NC_AGENT_IPCREQ_H

#include <stdbool.h>

#include "agent.h"
#include "util/error.h"
#include "util/strbuf.h"

/* Bytes of ipc/current_tasks.json read. */
#define IPCREQ_MAX_TASKS_FILE ((size_t)1 << 20)

/* A schedule_task request. NULL members are left out or defaulted as said. */
struct ipcreq_schedule {
    const char *task_id;        /* NULL: the host picks one */
    const char *prompt;         /* required */
    const char *script;         /* NULL: none */
    const char *schedule_type;  /* required: cron, interval or once (not checked here) */
    const char *schedule_value; /* required */
    const char *context_mode;   /* NULL: "group" */
    const char *target_jid;     /* NULL: the agent's own chat */
};

/* An update_task request: NULL members are not in the file (unchanged); script "" removes the
 * task's script. */
struct ipcreq_update {
    const char *task_id; /* required */
    const char *prompt, *script, *schedule_type, *schedule_value;
};

/* A register_group request. */
struct ipcreq_group {
    const char *jid, *name, *folder, *trigger; /* all required */
    bool requires_trigger;
    bool ask_main; /* writes "isMain": true, which the host must refuse */
};

int ipcreq_schedule(const struct agent *a, const struct ipcreq_schedule *s, nc_error **err);
/* type: "pause_task", "resume_task" or "cancel_task". */
int ipcreq_task_op(const struct agent *a, const char *type, const char *task_id, nc_error **err);
int ipcreq_update(const struct agent *a, const struct ipcreq_update *u, nc_error **err);
int ipcreq_register_group(const struct agent *a, const struct ipcreq_group *g, nc_error **err);
int ipcreq_refresh_groups(const struct agent *a, nc_error **err);

/* Appends the tasks of ipc/current_tasks.json to out in NanoClaw's list_tasks form:
 *   Scheduled tasks:
 *   - [ID] <first 50 bytes of the prompt>... (TYPE: VALUE) - STATUS, next: NEXT_RUN
 * or "No scheduled tasks found." when there are none (or no file). Unless the agent is main, only
 * the tasks of its own group folder are listed, as NanoClaw filters again. An unreadable or
 * malformed file is an error. */
int ipcreq_list_tasks(const struct agent *a, strbuf *out, nc_error **err);

/* NanoClaw's client-side check of a schedule: cron must parse, interval must be a positive
 * number of milliseconds (or a duration the host takes), once must be a local time without "Z"
 * or an offset. The error says what is wrong. */
int ipcreq_check_schedule(const char *type, const char *value, nc_error **err);

#endif
