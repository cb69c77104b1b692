/* NanoClaw v1 agent protocol, container side: the stdin input object and the stdout markers.
 *
 * Input: one JSON object {prompt, sessionId?, groupFolder, chatJid, isMain, isScheduledTask?,
 * assistantName?} on stdin, then EOF. proto_read_all() reads every byte to EOF first (the host
 * verifies the sandbox while the agent blocks there), keeping at most PROTO_MAX_INPUT bytes.
 *
 * Output: each result is exactly three lines
 *   ---NANOCLAW_OUTPUT_START---
 *   {"status":"success"|"error","result":string|null,"newSessionId":"..."[,"error":"..."]}
 *   ---NANOCLAW_OUTPUT_END---
 * written to fd 1 with write(2) as they are made (no stdio buffering), so the host sees each one
 * at once. The JSON line is always valid JSON on one line, whatever the result holds.
 *
 * Errors: the output functions return 0, or a negative errno when stdout is gone (the host closed
 * the pipe); the caller then has no one to talk to and ends the process. */
#ifndef NC_AGENT_PROTOCOL_H
#define NC_AGENT_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

#define PROTO_START "---NANOCLAW_OUTPUT_START---"
#define PROTO_END "---NANOCLAW_OUTPUT_END---"
/* Bytes of stdin kept; a longer input is read to its end, then refused. */
#define PROTO_MAX_INPUT ((size_t)16 * 1024 * 1024)

struct agent_input {
    char *prompt;
    char *session_id; /* NULL when absent or empty */
    char *group_folder;
    char *chat_jid;
    char *assistant_name; /* NULL when absent or empty */
    bool is_main;
    bool is_scheduled;
    char *script; /* a scheduled task's pre-check script; NULL when absent or empty */
};

/* Reads fd to EOF into out. Over PROTO_MAX_INPUT bytes is EFBIG, reported after EOF. */
int proto_read_all(int fd, strbuf *out, nc_error **err);
/* Parses the input object. prompt must be a string; the other fields, when present, must have
 * their types. Messages are for "Failed to parse input: <message>". */
int proto_parse_input(const char *text, size_t len, struct agent_input *in, nc_error **err);
void proto_input_clear(struct agent_input *in);

/* A fresh random session id (UUID v4 form). */
char *proto_new_session_id(void);

/* Writes all of data to fd, resuming after EINTR and short writes. */
int proto_write_all(int fd, const void *data, size_t len);

/* {"status":"success","result":text,"newSessionId":session}. */
int proto_result(const char *session, const char *text);
/* {"status":"error","result":null,"newSessionId":session,"error":msg}; session NULL leaves
 * newSessionId out (the input could not be parsed, so there is no session yet). */
int proto_error(const char *session, const char *msg);
/* The session-update marker {"status":"success","result":null,"newSessionId":session}: the query
 * is complete. */
int proto_session_update(const char *session);
/* A success result whose text is n bytes, streamed in chunks so that n may exceed memory. */
int proto_big_result(const char *session, uint64_t n);

#endif
