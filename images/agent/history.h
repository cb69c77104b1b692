/* The model conversation kept in the group folder, so that a later container given the same
 * sessionId continues it: WS/group/.nanocell/sessions/<sessionId>.jsonl, one message object a
 * line, written whole after each query that succeeds (a temporary file, then rename; mode
 * 0600). Only a session id made of letters, digits, '-' and '_' (1 to 128 of them) names a
 * file; any other id keeps the conversation in memory only. Without WS/group nothing is kept. */
#ifndef NC_AGENT_HISTORY_H
#define NC_AGENT_HISTORY_H

#include <stddef.h>

#include "agent.h"
#include "util/error.h"
#include "util/json.h"

/* The conversation's file for a's session, allocated; NULL when none is kept (above). */
char *history_path(const struct agent *a);

/* Reads path, calling push for each message in order (push takes ownership). A missing file is
 * success with no message. A file over max bytes, a line that is not a JSON object with a
 * "role", or an unreadable file is an error; messages pushed before it stay pushed, so the
 * caller decides what to keep. */
int history_load(const char *path, size_t max, void (*push)(nc_json *msg, void *userdata),
                 void *userdata, nc_error **err);

/* Writes msgs[0..n) to path, creating its directory (0700) as needed. */
int history_save(const char *path, nc_json *const *msgs, size_t n, nc_error **err);

#endif
