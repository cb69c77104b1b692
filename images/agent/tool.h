/* The model's one tool, `bash`: runs a command with /bin/sh -c in a child process.
 *
 * The child gets /dev/null as stdin, its own process group, default signal dispositions and an
 * empty signal mask, and cwd as its working directory (when that can be entered). Its stdout and
 * stderr are captured separately, each up to TOOL_MAX_OUTPUT bytes (the rest is read and
 * dropped, and the cut is said). After TOOL_TIMEOUT_MS its whole process group is killed with
 * SIGKILL. Once the shell has exited, its pipes get TOOL_DRAIN_MS more to reach EOF (a
 * background child may hold them open); then the agent stops waiting for them. */
#ifndef NC_AGENT_TOOL_H
#define NC_AGENT_TOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

#define TOOL_MAX_OUTPUT ((size_t)64 * 1024)
#define TOOL_TIMEOUT_MS ((uint64_t)120 * 1000)
#define TOOL_DRAIN_MS ((uint64_t)1000)

/* Runs command and appends the tool_result text to out: the stdout, then the stderr (under a
 * "stderr:" line), each as valid UTF-8, then "exit status N" (or "killed by signal N", after
 * "timed out after 120 s" when it was the timeout). *failed is set when the command did not exit
 * with status 0. An error means the command could not be started at all. */
int tool_run_shell(const char *command, const char *cwd, strbuf *out, bool *failed, nc_error **err);

#endif
