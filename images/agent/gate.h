/* A scheduled task's pre-check script (NanoClaw v1's script gate, §5 of the reference): the
 * agent runs it before waking the model, and the script's last line of output decides.
 *
 * The script runs as /bin/sh -c SCRIPT with stdin /dev/null, for at most GATE_TIMEOUT_MS (then
 * its process group is killed); at most GATE_MAX_OUTPUT bytes of its stdout are kept. Its last
 * non-empty stdout line must be JSON {"wakeAgent": bool, "data"?: any}. An error, a timeout, no
 * output or wakeAgent false: the agent is not woken. */
#ifndef NC_AGENT_GATE_H
#define NC_AGENT_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GATE_TIMEOUT_MS ((uint64_t)30 * 1000)
#define GATE_MAX_OUTPUT ((size_t)1024 * 1024)

/* Runs script; *wake says whether to go on, *data is the "data" member as pretty JSON (or
 * NULL), *why says why not (allocated, for stderr). */
void gate_run(const char *script, bool *wake, char **data, char **why);

/* The prompt NanoClaw gives the model after the gate: "[SCHEDULED TASK]\n\nScript output:\n
 * DATA\n\nInstructions:\nPROMPT"; without a script, its scheduled-task prefix. Allocated. */
char *gate_prompt(const char *prompt, const char *data, bool had_script);

#endif
