/* A raw HTTP/1.1 connection on a Unix socket, for requests that the engine hijacks (attach):
 * after the reply head the socket carries the container's stdio in both directions, and only a
 * raw socket can half-close it (shutdown(SHUT_WR)), which is how stdin reaches EOF. libcurl has
 * no half-close, so these requests do not go through http.c's transfers. Over tcp (and TLS) the
 * connection is http.c's bare stream instead (http_stream_*), half-closed on its socket as
 * Docker's CLI does; everything else here is the same.
 *
 * Every wait is bounded by poll() with a deadline; descriptors are close-on-exec from the start
 * and non-blocking once connected. */
#ifndef NC_ENGINE_HIJACK_H
#define NC_ENGINE_HIJACK_H

#include <stddef.h>
#include <sys/types.h>

#include "engine/http.h"
#include "util/error.h"
#include "util/strbuf.h"

/* A reply head longer than this is refused. */
#define HIJACK_MAX_HEAD (64 * 1024)
/* An error body read after a failed hijack is cut at this size. */
#define HIJACK_MAX_ERROR_BODY (64 * 1024)

typedef struct http_head {
    int status;
    http_header *headers;
    size_t nheaders;
} http_head;

/* Parses a reply head at the start of buf[0..len): status line "HTTP/1.x NNN [reason]", then
 * header lines, then an empty line; lines end in CRLF or LF. Returns the head's length when it
 * is complete (the bytes after it belong to the body or stream), 0 when more bytes are needed,
 * or -EPROTO when it is malformed or longer than HIJACK_MAX_HEAD / HTTP_MAX_HEADERS. */
ssize_t http_head_parse(const char *buf, size_t len, http_head *out, nc_error **err);
const char *http_head_header(const http_head *h, const char *name);
void http_head_release(http_head *h);

typedef struct hijack_conn {
    int fd;              /* the socket, also for a stream (poll it, never read it directly) */
    http_stream *stream; /* tcp: the connection; NULL on a unix socket */
    http_head head;
    strbuf pending; /* bytes that arrived after the head and are not consumed yet */
} hijack_conn;

/* Connects to path, sends request (a complete request head, and nothing else), and reads the
 * reply head, all within timeout_ms. On success the head is parsed and any bytes after it are
 * in c->pending; the status is the caller's to judge. */
int hijack_open(const char *path, const char *request, long timeout_ms, hijack_conn *c,
                nc_error **err);
/* Reads the rest of an error reply: Content-Length bytes, or until the engine closes, at most
 * HIJACK_MAX_ERROR_BODY bytes and timeout_ms. Appends it to body (after c->pending). */
void hijack_read_error_body(hijack_conn *c, long timeout_ms, strbuf *body);
void hijack_close(hijack_conn *c);
/* hijack_open on the engine o names: its unix socket, or its tcp address (TLS included). */
int hijack_open_opts(const http_opts *o, const char *request, long timeout_ms, hijack_conn *c,
                     nc_error **err);
/* Non-blocking I/O on the connection, as recv/send: bytes moved, 0 at the end of the stream
 * (recv), -EAGAIN, or another negative errno (err is set, with the system's message). */
ssize_t hijack_recv(hijack_conn *c, char *buf, size_t cap, nc_error **err);
ssize_t hijack_send(hijack_conn *c, const char *data, size_t len, nc_error **err);
int hijack_shutdown_write(hijack_conn *c, nc_error **err);

/* Waits until fd is ready for events (POLLIN/POLLOUT), at most timeout_ms (< 0: forever).
 * Returns 1 when ready, 0 on timeout, negative errno on failure. */
int fd_wait(int fd, short events, long timeout_ms);

#endif
