/* The agent protocol, compatible with NanoClaw v1 agent images.
 *
 * In: one JSON object on stdin, {prompt, sessionId?, groupFolder, chatJid, isMain,
 * isScheduledTask?, assistantName?}, then EOF.
 *
 * Out: any number of results on stdout, each
 *   ---NANOCLAW_OUTPUT_START---
 *   {"status":"success"|"error","result":string|null,"newSessionId"?,"error"?}
 *   ---NANOCLAW_OUTPUT_END---
 * A result with "result": null is a session update: the agent finished a query and waits for
 * follow-up input.
 *
 * The parser is incremental: markers may be split across reads at any byte. Outside a block a
 * start marker counts anywhere (as in NanoClaw: text without a newline may precede it). Inside a
 * block, the end marker (and a new start marker, which abandons an unterminated block) count
 * only at the start of a line: agents print each marker on a line of its own and a JSON string
 * cannot hold a raw newline, so a marker quoted inside a result can never cut it short. Text
 * outside markers is ignored. A block that is not a valid result is skipped with a warning that
 * says why; that includes a string holding a NUL character (\u0000, which a C string would cut
 * short: the warning names the field) and a newSessionId holding a control character (an
 * identifier is never cleaned up into another one). A block larger than the result cap is
 * delivered as an error result, and nothing of it is held beyond the cap, so memory stays
 * bounded whatever the agent prints. */
#ifndef NC_AGENT_PROTOCOL_H
#define NC_AGENT_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

#define PROTOCOL_START "---NANOCLAW_OUTPUT_START---"
#define PROTOCOL_END "---NANOCLAW_OUTPUT_END---"

typedef struct agent_input {
    const char *prompt;
    const char *session_id; /* NULL: a new session */
    const char *group_folder;
    const char *chat_jid;
    bool is_main;
    bool is_scheduled_task;
    const char *assistant_name; /* NULL: not sent */
    const char *script;         /* a scheduled task's pre-check script; NULL: not sent */
} agent_input;

/* Appends the stdin payload (one JSON object, no trailing newline). Fails only on invalid
 * UTF-8 in a string. */
int protocol_input_json(const agent_input *in, strbuf *out, nc_error **err);

typedef struct agent_result {
    bool success;        /* status "success" (else "error") */
    const char *result;  /* NULL: a session update (or an error without text) */
    const char *session; /* newSessionId, or NULL */
    const char *error;   /* error text, or NULL */
} agent_result;

/* Receives each result in order; the strings are valid during the call only. */
typedef void (*protocol_result_cb)(const agent_result *r, void *userdata);
/* Receives each warning (a skipped block, an oversize result, output ending in a block). */
typedef void (*protocol_warn_cb)(const char *msg, void *userdata);

typedef struct marker_parser {
    size_t max_block; /* a block above this many bytes is an oversize result */
    bool in_block;
    bool oversize;
    uint64_t block_bytes; /* bytes of the current block, counted even past the cap */
    strbuf block;         /* the current block, up to max_block */
    strbuf pending;       /* bytes not decided yet: a marker may start here */
    uint64_t results;     /* delivered */
    uint64_t skipped;     /* invalid blocks */
    protocol_result_cb on_result;
    protocol_warn_cb on_warn;
    void *userdata;
} marker_parser;

void marker_parser_init(marker_parser *p, size_t max_block, protocol_result_cb on_result,
                        protocol_warn_cb on_warn, void *userdata);
void marker_parser_release(marker_parser *p);
/* Feeds stdout bytes. Never fails: bad blocks become warnings. */
void marker_feed(marker_parser *p, const char *data, size_t len);
/* End of output: a block left open is reported. */
void marker_finish(marker_parser *p);

/* Parses one block's text (between the markers) into a result. Exposed for tests and fuzzing.
 * Returns 0 and calls cb, or a negative errno with err set when the text is not a result. */
int protocol_parse_result(const char *text, size_t len, protocol_result_cb cb, void *userdata,
                          nc_error **err);

#endif
