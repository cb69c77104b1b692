/* The local API: HTTP/1.1 and JSON on a unix socket, served by libmicrohttpd (only the files
 * of this module include it: api.c, apistream.c, apijson.c; the socket is bound in apisock.c).
 * The endpoints are listed in api.c; the event stream of a posted message is described in
 * src/orch/apievents.h.
 *
 * The server only reads and writes the store and calls the daemon's service functions
 * (src/orch/daemon.h); it never prints. Each connection has a thread of its own, so a slow,
 * stuck or vanished client holds only that thread (see api.c for why). */
#ifndef NC_ORCH_API_H
#define NC_ORCH_API_H

#include <stddef.h>

#include "util/error.h"

/* The largest request body; a larger one is refused with 413. */
#define API_MAX_BODY ((size_t)1024 * 1024)
/* Connections served at once (api.max_clients); more wait in the kernel's backlog. */
#define API_DEFAULT_MAX_CLIENTS 64
/* A connection with no traffic for this long is closed (a stream in progress is not idle). */
#define API_IDLE_TIMEOUT_S 60
/* How long api_stop lets streams send their shutdown event before it closes them. */
#define API_STOP_GRACE_MS 3000
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

typedef struct api_server api_server;
struct nc_daemon;

/* Serves the API on fd (from api_listen), with at most max_clients connections at once (0:
 * API_DEFAULT_MAX_CLIENTS). On success the server owns fd; on failure it stays the caller's. d
 * must outlive the server. */
int api_start(struct nc_daemon *d, int fd, unsigned max_clients, api_server **ret, nc_error **err);
/* Binds a TCP listening socket at addr (api.tcp_listen: a loopback HOST:PORT), SOCK_CLOEXEC and
 * non-blocking. Anything but a loopback address is EINVAL. */
int api_listen_tcp(const char *addr, int *fd, nc_error **err);
/* api_start for the TCP listener: it serves only POST /hooks/NAME (404 for the rest). */
int api_start_hooks(struct nc_daemon *d, int fd, unsigned max_clients, api_server **ret,
                    nc_error **err);
/* Shutdown: stops accepting (MHD_quiesce_daemon), ends every stream with a "shutdown" event (a
 * stream whose client does not read is cut after API_STOP_GRACE_MS), closes every connection
 * (MHD_stop_daemon) and frees the server. The socket file stays: its path is the caller's to
 * remove. NULL is a no-op. */
void api_stop(api_server *s);
/* Streams in progress (tests and status). */
size_t api_stream_count(api_server *s);

#endif
