/* A byte relay from loopback TCP listeners to one unix socket, shared by the host (the listener
 * it opens inside a container's network namespace, proxy/netns_relay.h) and the reference
 * agent (its egress relay on 127.0.0.1:3128, images/agent).
 *
 * Each accepted TCP connection is paired with a new connection to the unix socket path, and the
 * bytes are copied both ways as they come, unchanged: the relay never parses them, so HTTP,
 * CONNECT tunnels and server-sent events pass through alike. A half-close on one side is passed
 * on to the other (shutdown SHUT_WR) once what was read before it is written. A pair whose
 * socket fails, or whose unix connection cannot be made, is closed at once: the client sees its
 * connection end.
 *
 * Bounds: at most RELAY_MAX_CONNS pairs at a time (further clients wait in the listen backlog
 * until one ends) and RELAY_BUF bytes buffered per direction of a pair. Every descriptor is
 * non-blocking and close-on-exec, writes use MSG_NOSIGNAL, and nothing here prints. */
#ifndef NC_UTIL_RELAY_H
#define NC_UTIL_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define RELAY_MAX_CONNS 64
#define RELAY_BUF ((size_t)16 * 1024)

/* Opens a non-blocking TCP listener on 127.0.0.1:port (0: a free port) in the caller's network
 * namespace. *ret_port is the port bound (may be NULL). EADDRINUSE when the port is taken. */
int relay_listen_loopback(uint16_t port, int *ret_fd, uint16_t *ret_port, nc_error **err);

/* Serves the listeners lfds[0..n) (borrowed) until stop_fd, when >= 0, is readable or hung up.
 * Returns 0 when stopped, or a negative errno when poll itself fails. sock_path longer than
 * sun_path allows is ENAMETOOLONG before anything is served. */
int relay_serve(const int *lfds, size_t n, const char *sock_path, int stop_fd, nc_error **err);

#endif
