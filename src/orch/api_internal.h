/* Shared by the files of the local API (api.c: the server and its routes; apistream.c: the
 * stream of a posted message; apijson.c: stored things as JSON). Only these include
 * libmicrohttpd. Not for other modules: their interface is api.h. */
#ifndef NC_ORCH_API_INTERNAL_H
#define NC_ORCH_API_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orch/api.h"
#include "orch/daemon.h"
#include "orch/store.h"
#include "util/json.h"

struct api_server {
    struct MHD_Daemon *mhd;
    nc_daemon *d;
    int quiesced_fd;      /* the listening socket once MHD handed it back: closed after stop */
    pthread_mutex_t lock; /* guards the fields below; never held across a client write */
    pthread_cond_t cond;  /* CLOCK_MONOTONIC; broadcast when a stream ends and at stop */
    size_t streams;
    bool stopping;
    bool hooks_only; /* the TCP listener (api.tcp_listen): only /hooks/ is served */
};

/* The streaming response for the committed message id (its first line, the accepted event, is
 * ready): it follows the message until it is done or failed, or with !wait ends after the
 * accepted event. NULL only when MHD cannot allocate it. The caller queues and destroys it. */
struct MHD_Response *apistream_new(api_server *s, int64_t id, bool wait, const char *waiting);

/* Stored things as JSON objects, text made valid UTF-8 (api_jgen_text). */
void apijson_group(nc_jgen *g, const store_group *grp);
void apijson_message(nc_jgen *g, const store_message *m);
void apijson_run(nc_jgen *g, const store_run *r);
/* key: the time as ISO 8601 UTC with milliseconds ("2026-12-01T10:00:00.123Z"). */
void apijson_time(nc_jgen *g, const char *key, int64_t ms);
/* key: text (NULL: null). */
void apijson_text(nc_jgen *g, const char *key, const char *s);

/* apitasks.c: GET/POST /v1/tasks (?group=G), GET/PATCH/DELETE /v1/tasks/{id}. id NULL: the
 * collection. Fills out with the JSON reply (an {"error"} too) and returns the HTTP status;
 * *allow is set with a 405. */
unsigned apitasks_route(api_server *s, const char *method, const char *id, const char *group,
                        const char *body, size_t len, strbuf *out, const char **allow);

#endif
