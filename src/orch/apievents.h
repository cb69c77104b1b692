/* The event stream of a posted message (POST /v1/groups/{folder}/messages): newline-delimited
 * JSON, one object per line, each with an "event" member. The server writes it (src/orch/api.c)
 * and the clients read it (src/cmd/), both through this module, so the format has one
 * definition:
 *
 *   {"event":"accepted","id":N}                       the message is committed, as id N
 *   {"event":"state","state":S,"attempts":N,"error":E} the message's state changed; S is
 *                                                     "pending", "running", "done", "failed" or
 *                                                     "skipped"; E is a string or null
 *   {"event":"reply","id":M,"text":T}                 a stored reply to the message's batch
 *   {"event":"waiting","reason":R}                    the message is stored and waits: it is
 *                                                     context for a group's trigger, sent
 *                                                     with the next message that has it
 *   {"event":"heartbeat"}                             nothing happened for a while
 *   {"event":"shutdown"}                              the daemon is stopping; the message is
 *                                                     kept and runs at the next start
 *
 * A stream ends after a state event whose state is terminal (done, failed, skipped), after a
 * waiting event, after a shutdown event, or right after the accepted event when the client asked
 * not to wait. A reader ignores events it does not know, so new ones can be added. */
#ifndef NC_ORCH_APIEVENTS_H
#define NC_ORCH_APIEVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

/* The longest line a reader accepts. A reply holds at most agent.max_result_size (64 MiB at
 * most) of text, and JSON escaping can make that six times longer. */
#define API_EVENT_MAX_LINE ((size_t)512 * 1024 * 1024)

typedef enum api_event_kind {
    API_EV_UNKNOWN = 0, /* a well-formed event of a kind this build does not know */
    API_EV_ACCEPTED,
    API_EV_STATE,
    API_EV_REPLY,
    API_EV_HEARTBEAT,
    API_EV_SHUTDOWN,
    API_EV_WAITING,
} api_event_kind;

typedef struct api_event {
    api_event_kind kind;
    int64_t id;       /* accepted: the message; reply: the reply */
    char *state;      /* state */
    int64_t attempts; /* state */
    char *error;      /* state; NULL when null */
    char *text;       /* reply; waiting: the reason */
} api_event;

/* ---- writing ----
 * Text from the store (replies, errors) is what agents wrote, and may hold bytes that are not
 * UTF-8, which a JSON document cannot carry: api_jgen_text writes such a string with each
 * invalid byte replaced by U+FFFD, and NULL as null. Every writer below uses it, so each
 * appends exactly one line, with its newline. */
struct nc_jgen;
void api_jgen_text(struct nc_jgen *g, const char *s);

void api_event_accepted(strbuf *out, int64_t id);
void api_event_state(strbuf *out, const char *state, int64_t attempts, const char *error);
void api_event_reply(strbuf *out, int64_t id, const char *text);
void api_event_simple(strbuf *out, api_event_kind kind); /* heartbeat, shutdown */
void api_event_waiting(strbuf *out, const char *reason);

/* Whether a message in this state will not change any more (the stream's last state event). */
bool api_state_is_terminal(const char *state);

/* ---- reading ---- */
/* Parses one line (without its newline) into ev. A line that is not a JSON object with a string
 * "event", or a known event whose members are missing or of the wrong type, is EPROTO with a
 * message naming the member. Release ev with api_event_release, also after a failure. */
int api_event_parse(const char *line, size_t len, api_event *ev, nc_error **err);
void api_event_release(api_event *ev);

/* Splits a byte stream into lines. Feed the stream in slices of any size; on_line is called
 * once per complete line, without the "\n" (and without a "\r" before it). A line longer than
 * max (0: API_EVENT_MAX_LINE) is EMSGSIZE. A non-zero return of on_line stops the feed and is
 * returned. */
typedef struct api_lines {
    strbuf buf;
    size_t max;
} api_lines;

#define API_LINES_INIT                                                                             \
    {                                                                                              \
        STRBUF_INIT, 0                                                                             \
    }

typedef int (*api_line_cb)(const char *line, size_t len, void *userdata);
int api_lines_feed(api_lines *l, const char *data, size_t len, api_line_cb on_line, void *userdata,
                   nc_error **err);
/* Bytes after the last newline: a stream that ended there was cut. */
size_t api_lines_pending(const api_lines *l);
void api_lines_release(api_lines *l);

#endif
