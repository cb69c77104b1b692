/* HTTP/1.1 over a Unix socket, or over TCP with or without TLS, through libcurl. This module is the
 * only one that includes curl.
 *
 * Two ways to make a request:
 * - http_request(): synchronous, on the client's one reused easy handle (keep-alive across
 *   calls). The whole body is read into memory, up to opts.max_body bytes; a larger body is an
 *   error, never a truncated parse.
 * - http_async_*(): a request on a connection of its own that returns as soon as the response
 *   headers are in, and is then driven in bounded steps. Used for the container wait (which must
 *   be registered before start) and for streams such as /events.
 *
 * Neither follows redirects, sends a body from stdin, or uses CURLOPT_FAILONERROR: a non-2xx
 * reply is returned with its body so the caller can read the engine's message. */
#ifndef NC_ENGINE_HTTP_H
#define NC_ENGINE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/cleanup.h"
#include "util/error.h"
#include "util/strbuf.h"

/* Bounds on what a reply may make us hold. */
#define HTTP_MAX_HEADERS 128
#define HTTP_MAX_HEADER_BYTES (64 * 1024)

typedef struct http_opts {
    const char *socket_path; /* filesystem Unix socket; length checked by the caller */
    /* TCP instead of socket_path when tcp_host is set: the host (an IPv6 address without
     * brackets) and port, https when tls. With tls_verify the server's certificate must chain
     * to tls_ca (NULL: the system's CAs) and name tls_server_name (NULL: tcp_host). tls_cert and
     * tls_key (PEM files) are the client's certificate. */
    const char *tcp_host;
    int tcp_port;
    bool tls;
    bool tls_verify;
    const char *tls_ca;
    const char *tls_cert;
    const char *tls_key;
    const char *tls_server_name;
    long connect_timeout_ms;
    long timeout_ms; /* whole-request bound for http_request() */
    size_t max_body; /* reply body cap, in bytes */
} http_opts;

typedef struct http_header {
    char *name;
    char *value;
} http_header;

typedef struct http_response {
    long status;
    strbuf body;
    http_header *headers;
    size_t nheaders;
} http_response;

#define HTTP_RESPONSE_INIT                                                                         \
    {                                                                                              \
        0, STRBUF_INIT, NULL, 0                                                                    \
    }

/* Case-insensitive header lookup; NULL when absent. */
const char *http_response_header(const http_response *r, const char *name);
void http_response_release(http_response *r);

typedef struct http_client http_client;

/* The options are copied. */
http_client *http_client_new(const http_opts *opts);
void http_client_free(http_client *c);
NC_DEFINE_CLEANUP(http_client *, http_client_free)
const http_opts *http_client_opts(const http_client *c);

/* Sends method target (an absolute path with query, e.g. "/v1.41/containers/json?all=1").
 * A non-NULL body is sent with the given content type; a POST without body sends
 * Content-Length: 0. Fills resp (release it with http_response_release) for every reply,
 * whatever its status. Fails only when no complete reply arrived: engine unreachable
 * (ECONNREFUSED/ENOENT), timed out (ETIMEDOUT), hung up or a malformed reply (ECONNRESET or
 * EPROTO), body over the cap (EFBIG). */
int http_request(http_client *c, const char *method, const char *target, const char *content_type,
                 const char *body, size_t body_len, http_response *resp, nc_error **err);

/* Async requests. The data callback, when given, receives the body of a 2xx reply as it
 * arrives (in arbitrary slices) instead of it being stored; returning non-zero aborts the
 * transfer. The body of any other reply is stored (capped), for its error message. */
typedef int (*http_data_cb)(const char *data, size_t len, void *userdata);
typedef struct http_async http_async;

/* Starts a body-less request on a new connection and waits up to header_timeout_ms for the
 * response headers. On success *ret holds the transfer, whose status and headers are known. */
int http_async_start(const http_opts *opts, const char *method, const char *target,
                     long header_timeout_ms, http_data_cb cb, void *userdata, http_async **ret,
                     nc_error **err);
/* http_async_start with a request body (copied) of the given content type: a request whose
 * reply streams, such as a message posted to the nanocell daemon. body NULL: as
 * http_async_start. */
int http_async_start_body(const http_opts *opts, const char *method, const char *target,
                          const char *content_type, const char *body, size_t body_len,
                          long header_timeout_ms, http_data_cb cb, void *userdata, http_async **ret,
                          nc_error **err);
/* Drives the transfer for at most timeout_ms. Returns 1 when the reply is complete, 0 when the
 * time ran out first (call again), negative on failure (as http_request). Once the transfer has
 * ended, every later call gives the same answer: 1 again, or the same error. */
int http_async_pump(http_async *a, long timeout_ms, nc_error **err);
/* Status, headers and (without a callback) the body received so far. */
const http_response *http_async_response(const http_async *a);
void http_async_free(http_async *a);
NC_DEFINE_CLEANUP(http_async *, http_async_free)

/* A bare connection (TCP, and TLS when opts say so) for a request the caller writes and reads
 * itself: a hijacked attach over tcp (hijack.h does unix sockets on its own). Made within
 * timeout_ms. send and recv never block: they return the bytes moved, -EAGAIN when the socket
 * is not ready (poll http_stream_fd), or a negative errno with err set; recv returns 0 at the
 * end of the stream. TLS may hold received bytes that poll does not see: read until -EAGAIN
 * before polling. */
typedef struct http_stream http_stream;
int http_stream_open(const http_opts *opts, long timeout_ms, http_stream **ret, nc_error **err);
int http_stream_fd(const http_stream *s);
ssize_t http_stream_send(http_stream *s, const char *data, size_t len, nc_error **err);
ssize_t http_stream_recv(http_stream *s, char *buf, size_t cap, nc_error **err);
/* Half-closes the connection (shutdown(SHUT_WR) on its socket, as Docker's CLI does over TLS:
 * the engine reads end of stream, its replies keep coming). */
int http_stream_shutdown_write(http_stream *s, nc_error **err);
void http_stream_free(http_stream *s);
NC_DEFINE_CLEANUP(http_stream *, http_stream_free)

/* "unix socket '/path'" or "tcp host:port", for messages. Allocated. */
char *http_opts_where(const http_opts *o);

#endif
