/* The run log: one file per turn, groups/<group>/logs/run-<UTC timestamp>.log, mode 0600.
 * It holds metadata only: when, which group, run and container, image, engine and runtime,
 * the seccomp profile's digest, the verification report, how the turn ended, byte counts and
 * truncation flags, and the prompt's length. Never the prompt, the results, the environment or
 * a secret. Text values, some of which come from an engine, are made safe for a terminal and
 * kept to their one line (util/termsafe.h): no value can add a line or a control character. */
#ifndef NC_AGENT_RUNLOG_H
#define NC_AGENT_RUNLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct turn_record {
    uint64_t started_ms; /* wall clock */
    uint64_t duration_ms;
    const char *group;
    const char *run_id;
    const char *container_id;
    const char *image;
    const char *image_id;
    const char *engine; /* e.g. "Docker 20.10.24 (API 1.41) at unix:///var/run/docker.sock" */
    const char *runtime;
    const char *seccomp_digest;
    const char *seccomp_source;
    size_t prompt_bytes;
    bool launched;
    int64_t exit_code; /* -1 when unknown */
    bool oom_killed;
    bool timed_out;
    bool interrupted;
    uint64_t results;
    uint64_t error_results;
    uint64_t skipped_blocks;
    uint64_t stdout_bytes;
    uint64_t stderr_bytes;
    bool stdout_truncated;
    bool stderr_truncated;
    const char *outcome;      /* "success", or what went wrong */
    const char *verification; /* the report lines, "" when the turn never launched */
    const char *phases;       /* "create=41 inspect=6 ...": ms per step; NULL if not launched */
} turn_record;

/* Writes the record into logs_dir (created beforehand, nanocell's own). Returns the file's
 * path in *ret_path when it is not NULL. */
int runlog_write(const char *logs_dir, const turn_record *r, char **ret_path, nc_error **err);

#endif
