/* Who may do what through IPC: NanoClaw v1's rule table (§4.3 of the reference), decided by
 * the identity of the directory a file appeared in, never by what the file says.
 *
 *   request          main group                         any other group
 *   message          to any chat                        only to a chat of its own
 *   schedule_task    for any registered group           only for itself
 *   pause/resume/
 *   cancel/update    any task                           only its own tasks
 *   refresh_groups   yes                                no
 *   register_group   yes, never setting is_main         no
 *
 * Nobody sets is_main through IPC: a register_group file that asks for it is refused. A
 * registered group gets no mounts from its file: a group's mounts come only from the
 * configuration, and pass the mount allowlist at every turn. Pure: the caller looks the
 * target up in the store. */
#ifndef NC_ORCH_IPC_AUTH_H
#define NC_ORCH_IPC_AUTH_H

#include <stdbool.h>

#include "orch/ipc_file.h"

typedef struct ipc_subject {
    const char *source; /* the folder of the group whose directory the file was in */
    bool source_main;   /* that group is the main group (the store says) */
    /* The group the request acts on, looked up by the caller: for a message the group its
     * chatJid maps to; for schedule_task the group its targetJid maps to (no targetJid: the
     * source); for a task operation the task's group. NULL: none (an unknown chat or task). */
    const char *target;
} ipc_subject;

/* NULL when allowed; else why not (a constant string, for the log and the metrics). */
const char *ipc_authorize(const ipc_request *q, const ipc_subject *s);

#endif
