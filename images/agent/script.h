/* Scripted mode: the agent used when no model is configured (tests, the demo).
 *
 * A prompt is a sequence of commands separated by newlines or " ; ", run in order. Each command
 * is a word and an argument (README.md lists the vocabulary). A word that is not a command makes
 * the result "you said: <command>". A bad argument gives an error result and the script goes on.
 *
 * Results are written as they are made (protocol.h). The session-update marker is the caller's
 * job, after script_run() returns 0. */
#ifndef NC_AGENT_SCRIPT_H
#define NC_AGENT_SCRIPT_H

#include "agent.h"

/* Limits on command arguments. */
#define SCRIPT_MAX_EMIT 10000
#define SCRIPT_MAX_BYTES ((uint64_t)1 << 30) /* stderr, big, spew */
#define SCRIPT_MAX_SLEEP_MS ((uint64_t)24 * 3600 * 1000)
#define SCRIPT_MAX_HOG_MIB ((uint64_t)64 * 1024)

/* script_run() outcomes besides a negative errno (stdout is gone). */
enum {
    SCRIPT_DONE = 0, /* every command ran */
    SCRIPT_EXIT = 1, /* `exit C` (or `_close` during a sleep): end the process with *exit_code,
                        no session-update marker */
};

int script_run(const struct agent *a, const char *prompt, int *exit_code);

#endif
