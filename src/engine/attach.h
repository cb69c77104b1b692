/* Attaching to a container's stdio: POST /containers/{id}/attach, hijacked.
 *
 * Attach before start (output produced earlier is lost), and write stdin only after this
 * returns (Docker drops stdin bytes that arrive before it has read the request). The request
 * carries exactly "Connection: Upgrade" and "Upgrade: tcp" (Docker Desktop's proxy needs them,
 * Podman compares the value exactly), no body, and an empty detachKeys so that Podman does not
 * scan stdin for ctrl-p ctrl-q. Docker answers 101, older paths 200; both are accepted. An
 * error reply is plain text on Docker and JSON on Podman; either way the message is read.
 *
 * With Tty=false the stream is multiplexed (demux.h) whatever Content-Type says: the framing
 * follows from how the container was created. With OpenStdin and StdinOnce, closing stdin
 * (a half-close of the socket) gives the process EOF while its output keeps streaming. */
#ifndef NC_ENGINE_ATTACH_H
#define NC_ENGINE_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "engine/engine.h"

typedef struct engine_attach engine_attach;

int engine_attach_open(engine *e, const char *id, engine_attach **ret, nc_error **err);
/* The socket, for poll(): POLLIN for output, POLLOUT for stdin. It is non-blocking. Bytes may
 * already be buffered (engine_attach_buffered) when poll says nothing is readable. */
int engine_attach_fd(const engine_attach *a);
size_t engine_attach_buffered(const engine_attach *a);
/* Reads stream bytes, buffered ones first. Returns the count, 0 at end of stream, -EAGAIN when
 * nothing is ready, or another negative errno (with err set) when the connection failed. */
ssize_t engine_attach_read(engine_attach *a, char *buf, size_t cap, nc_error **err);
/* Writes some stdin without blocking. Returns bytes written (> 0), -EAGAIN, or a negative
 * errno with err set (EPIPE: the engine no longer takes stdin). */
ssize_t engine_attach_write(engine_attach *a, const char *data, size_t len, nc_error **err);
/* Writes all of data, waiting at most timeout_ms. For small writes where nothing must be read
 * meanwhile; a turn interleaves engine_attach_write with reads instead. */
int engine_attach_write_all(engine_attach *a, const char *data, size_t len, long timeout_ms,
                            nc_error **err);
/* Half-closes the connection: the container's stdin reaches EOF, output keeps coming. */
int engine_attach_close_stdin(engine_attach *a, nc_error **err);
void engine_attach_free(engine_attach *a);
NC_DEFINE_CLEANUP(engine_attach *, engine_attach_free)
#define _cleanup_attach_ _cleanup_(engine_attach_freep)

#endif
