/* Scripted mode's IPC commands, NanoClaw's MCP tools as commands (README.md lists them):
 *   ipc-send-to JID TEXT
 *   schedule [--id ID] [--target JID] [--context group|isolated] [--script S] TYPE VALUE PROMPT
 *   pause-task ID | resume-task ID | cancel-task ID | update-task ID PROMPT
 *   register-group JID NAME FOLDER TRIGGER [--main]
 *   refresh-groups | list-tasks (NanoClaw's list_tasks text, ipcreq.h)
 * VALUE and other words may be "quoted" to hold spaces. */
#ifndef NC_AGENT_IPCCMD_H
#define NC_AGENT_IPCCMD_H

#include <stdbool.h>
#include <stddef.h>

#include "agent.h"

/* Runs the command word[0..wlen) with arg when it is one of the above (*handled true): returns
 * what proto_result/proto_error return. */
int ipccmd_run(const struct agent *a, const char *word, size_t wlen, const char *arg,
               bool *handled);

#endif
