/* The `probe` command: what the sandbox lets the agent see, in plain words, one item a line:
 * identity, capabilities, no_new_privs, seccomp mode, reading /etc/shadow, writing /, a TCP
 * connect to 1.1.1.1:443 (non-blocking, at most PROBE_CONNECT_MS), network interfaces other than
 * lo, the cgroup memory and pids limits, and the names (never the values) of the environment.
 *
 * It only looks: nothing is left behind (a file it manages to create in / is removed). */
#ifndef NC_AGENT_PROBE_H
#define NC_AGENT_PROBE_H

#include "util/strbuf.h"

#define PROBE_CONNECT_MS 2000

/* Appends the report, lines separated by "\n", no trailing newline. */
void probe_report(strbuf *out);

#endif
