/* File IPC with the host under $WORKSPACE/ipc (NanoClaw v1 layout):
 *   input/     host -> agent: follow-up messages <ms>-<rand>.json {"type":"message","text":...}
 *              and the empty `_close` sentinel
 *   messages/  agent -> host: chat messages {"type":"message","chatJid","text","groupFolder",
 *              "timestamp"}
 *
 * Both sides write atomically (a temporary name that does not end in ".json", then rename), so
 * a reader only ever sees whole files. Notes about skipped files go to stderr, which the host
 * logs and never parses. */
#ifndef NC_AGENT_IPC_H
#define NC_AGENT_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "util/error.h"
#include "util/strbuf.h"

/* Bytes of one input file read; a larger file is deleted with a note. */
#define IPC_MAX_INPUT_FILE ((size_t)4 * 1024 * 1024)

/* Whether $WORKSPACE/ipc/input exists as a directory: without it there are no follow-ups. */
bool ipc_input_exists(const struct agent *a);
/* Deletes $WORKSPACE/ipc/input/_close; true when it was there (or exists and cannot be
 * deleted: the host asked to close either way). */
bool ipc_take_close(const struct agent *a);
/* Reads every pending input/<name>.json in name order, deletes each, and appends the text of each
 * {"type":"message","text":...} to prompt, joined with "\n" (a "\n" goes before the first one
 * too when prompt is not empty). Returns how many messages were appended. */
size_t ipc_drain_input(const struct agent *a, strbuf *prompt);
/* Waits at most max_ms for something to arrive in input/ (a follow-up or `_close`), woken by
 * inotify as soon as the host renames a file in; without inotify it just sleeps. The caller
 * looks at input/ afterwards either way. */
void ipc_wait(const struct agent *a, uint64_t max_ms);
/* Writes messages/<ms>-<rand>.json for text to chat_jid (NULL: the agent's own chat),
 * atomically; sender (NULL: none) is NanoClaw's optional "sender" field. */
int ipc_send_message(const struct agent *a, const char *chat_jid, const char *text,
                     const char *sender, nc_error **err);
/* "<ms>-<6 random base36 chars>", NanoClaw's name for a file (plus ".json") or a task (after
 * "task-"). Allocated. */
char *ipc_unique_name(void);
/* Writes json into ipc/<dir>/<ms>-<rand>.json atomically (dir: "messages" or "tasks"). */
int ipc_write_file(const struct agent *a, const char *dir, const char *json, size_t len,
                   nc_error **err);
/* Now in ISO 8601 UTC with milliseconds, as JavaScript's Date.toISOString(). Allocated. */
char *ipc_iso_now(void);

#endif
