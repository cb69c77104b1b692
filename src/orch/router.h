/* What turns a group's pending messages into an agent's prompt: trigger matching, the batch
 * window, and the prompt's format (NanoClaw v1's router).
 *
 * Pure functions over strings and arrays; no I/O, no store. */
#ifndef NC_ORCH_ROUTER_H
#define NC_ORCH_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

/* True when text, after leading whitespace, starts with trigger (case-insensitive) and the
 * trigger ends at a word boundary: the next character is not a letter, digit or '_' (so
 * "@Andy," and "@Andy" match "@Andy", "@Andyx" does not). An empty trigger never matches. */
bool router_trigger_matches(const char *trigger, const char *text);

/* The trigger a group uses: its own, or "@" + the assistant name when it has none. Allocated. */
char *router_group_trigger(const char *group_trigger, const char *assistant_name);

/* One message as the router sees it. */
typedef struct router_msg {
    int64_t id;
    const char *sender;
    const char *text;
    int64_t time_ms;
} router_msg;

/* Chooses the batch among a group's pending messages msgs[0..n), oldest first.
 * - A group that answers everything (main, or requires_trigger false): the oldest max messages.
 * - Otherwise the batch ends at the first message matching trigger and holds at most the max
 *   messages up to it (the older ones are context); messages before the window are skipped.
 *   With no matching message there is no batch: the messages wait as context.
 * Sets *start and *count (the batch is msgs[*start .. *start + *count)); *skip is how many
 * messages before *start are outside the window (msgs[0 .. *skip)). Returns false when there is
 * no batch. */
bool router_select(const router_msg *msgs, size_t n, bool needs_trigger, const char *trigger,
                   size_t max, size_t *skip, size_t *start, size_t *count);

/* The prompt for a batch, as NanoClaw formats it:
 *   <messages>
 *   <message sender="NAME" time="2026-12-03T08:05:45Z">TEXT</message>
 *   ...
 *   </messages>
 * with &, <, >, " and ' escaped in attributes and text. Appended to out. */
void router_format(const router_msg *msgs, size_t n, strbuf *out);

/* The retry delay after the nth failed turn in a row (n >= 1): base, doubling each time (with
 * orch.retry_base's default of 5 s: 5, 10, 20, 40, 80 s). Returns 0 when n is past
 * ROUTER_MAX_RETRIES: the batch fails. */
#define ROUTER_MAX_RETRIES 5
#define ROUTER_RETRY_BASE_MS 5000
uint64_t router_backoff_ms(uint64_t base_ms, unsigned n);

/* True when an agent's error text says its session is gone (NanoClaw's stale-session rule:
 * "no conversation found", "ENOENT ... .jsonl", "session ... not found", any case). */
bool router_stale_session(const char *error);

#endif
