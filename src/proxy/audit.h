/* The proxy's audit log: one JSON object per line for every request or tunnel, appended to
 * <data_dir>/proxy/audit.log (mode 0600). A line holds the time, group, run id, kind (model,
 * connect, http), method, host, port, path (without its query string, which may carry
 * secrets), status, bytes each way, latency and the rule that allowed or denied it. Never a
 * body, never a header. Past max_bytes the file is renamed to audit.log.1 (replacing the one
 * before) and a new one is started, so the log holds at most twice that. */
#ifndef NC_PROXY_AUDIT_H
#define NC_PROXY_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"
#include "util/strbuf.h"

typedef struct proxy_audit_entry {
    uint64_t time_ms; /* wall clock, when the request arrived */
    const char *group;
    const char *run_id; /* NULL: none */
    const char *kind;   /* "model", "connect", "http", or "-" before the head was read */
    const char *method;
    const char *host;
    uint16_t port;
    const char *path;
    int status;
    uint64_t bytes_up;   /* agent to upstream */
    uint64_t bytes_down; /* upstream to agent */
    uint64_t latency_ms;
    const char *rule;
} proxy_audit_entry;

typedef struct proxy_audit proxy_audit;

/* The audit log's path under data_dir. Allocated. */
char *proxy_audit_path(const char *data_dir);
int proxy_audit_open(const char *path, uint64_t max_bytes, proxy_audit **ret, nc_error **err);
/* Appends one line (one write(2), under a lock). A failed write is counted, never fatal. */
void proxy_audit_write(proxy_audit *a, const proxy_audit_entry *e);
uint64_t proxy_audit_failures(const proxy_audit *a);
void proxy_audit_close(proxy_audit *a);
NC_DEFINE_CLEANUP(proxy_audit *, proxy_audit_close)

/* The line for e, with its newline (for the writer and tests). */
void proxy_audit_format(const proxy_audit_entry *e, strbuf *out);

#endif
