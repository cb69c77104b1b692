/* The local API: HTTP/1.1 and JSON on a unix socket, served by libmicrohttpd (the only file
 * that includes it is src/orch/api.c). The endpoints are listed in api.c; the event stream of
 * a posted message is described in src/orch/apievents.h.
 *
 * The server only reads and writes the store and calls the daemon's service functions
 * (src/orch/daemon.h); it never prints. Each connection has a thread of its own, so a slow,
 * stuck or vanished client holds only that thread (see api.c for why). */
#ifndef NC_ORCH_API_H
#define NC_ORCH_API_H

#include <stddef.h>

#include "orch/daemon.h"
#include "util/error.h"

/* The largest request body; a larger one is refused with 413. */
#define API_MAX_BODY ((size_t)1024 * 1024)
/* Connections served at once (api.max_clients); more wait in the kernel's backlog. */
#define API_DEFAULT_MAX_CLIENTS 64
/* A connection with no traffic for this long is closed (a stream in progress is not idle). */
#define API_DEFAULT_IDLE_TIMEOUT_S 60
/* Page sizes of GET /v1/messages and /v1/groups/{folder}/runs: the default and the most. */
#define API_DEFAULT_PAGE 100
#define API_MAX_PAGE 1000
/* A stream with nothing to say for this long sends a heartbeat event: a client that vanished
 * is so noticed (the write fails) and its connection freed. */
#define API_HEARTBEAT_MS 15000

/* Binds the API's unix socket at path and listens on it; *fd is the listening socket
 * (SOCK_CLOEXEC, non-blocking), owned by the caller.
 *
 * The parent directory is created 0700 when missing (one level); an existing one must be
 * owned by this user and not writable by group or others, since whoever can write it can put
 * their own socket in our place. A path too long for sun_path is ENAMETOOLONG, never truncated.
 * An existing socket is removed only when nothing answers on it (connect fails with
 * ECONNREFUSED: a daemon that died); when another daemon answers it is EADDRINUSE. Anything
 * else at path is EEXIST. The socket is created 0600 (umask): call this before other threads
 * create files, as umask is per process. */
int api_listen(const char *path, int *fd, nc_error **err);

typedef struct api_opts {
    unsigned max_clients;    /* 0: API_DEFAULT_MAX_CLIENTS */
    unsigned idle_timeout_s; /* 0: API_DEFAULT_IDLE_TIMEOUT_S */
} api_opts;

typedef struct api_server api_server;

/* Serves the API on listen_fd (from api_listen; ownership passes to the server, also on
 * failure). path is the socket's path, removed by api_stop when it is still our socket. d must
 * outlive the server. */
int api_start(nc_daemon *d, int listen_fd, const char *path, const api_opts *o, api_server **ret,
              nc_error **err);
/* Stops accepting connections and removes the socket file (when it is still the one we bound);
 * requests in progress, and streams, go on. Idempotent. */
void api_quiesce(api_server *s);
/* Shutdown: stops accepting, ends every stream with a "shutdown" event (a stream still writing
 * to a client that does not read is cut after a short wait), closes every connection, removes
 * the socket file and frees the server. NULL is a no-op. */
void api_stop(api_server *s);
/* Streams in progress (tests and status). */
size_t api_stream_count(api_server *s);

#endif
