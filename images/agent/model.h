/* Model mode: a client for the Messages API (POST /v1/messages) through the host's credential
 * proxy, on the unix socket named by NANOCELL_MODEL_SOCKET, with a tool loop: `bash` and
 * NanoClaw's IPC tools (mcptool.h).
 *
 * The agent never holds a credential: its requests carry no x-api-key or authorization header,
 * and the proxy adds the key on its way out. Nothing here prints or returns an environment
 * value other than the model name.
 *
 * Conversation state lives in memory for the process's life, so follow-ups continue it, and in
 * the group folder (history.h), so a later container given the same sessionId continues it too.
 * A query that fails leaves the conversation as it was before the query, so the next one starts
 * from a well-formed history; only a query that succeeds is saved.
 *
 * With NANOCELL_MODEL_STREAM=1 the request asks for a streamed reply ("stream": true), put back
 * together by sse.h before it is used: the same tool loop and the same one result. */
#ifndef NC_AGENT_MODEL_H
#define NC_AGENT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "util/error.h"

#define MODEL_DEFAULT "claude-sonnet-4-5"
#define MODEL_DEFAULT_MAX_TOKENS 4096
#define MODEL_MAX_MAX_TOKENS 1000000
#define MODEL_MAX_REPLY ((size_t)8 * 1024 * 1024)
#define MODEL_MAX_REQUEST ((size_t)32 * 1024 * 1024)
#define MODEL_TIMEOUT_MS ((uint64_t)300 * 1000)
#define MODEL_MAX_TOOL_ROUNDS 50

/* A model client when NANOCELL_MODEL_SOCKET is set and not empty, else NULL (scripted mode).
 * Reads NANOCELL_MODEL, NANOCELL_MODEL_MAX_TOKENS and NANOCELL_MODEL_STREAM too; a bad value there
 * makes every query fail with an error naming the variable. */
struct model *model_from_env(void);
void model_free(struct model *m);

/* Runs one query: the prompt as a user message, then tool rounds until the model ends its turn.
 * On success *ret_text holds the final text blocks joined (allocated). */
int model_query(struct model *m, const struct agent *a, const char *prompt, char **ret_text,
                nc_error **err);

#endif
