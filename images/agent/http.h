/* A minimal HTTP/1.1 client over a unix socket, for the model proxy: one POST per connection
 * ("Connection: close"), a reply framed by Content-Length, chunked transfer encoding, or the end
 * of the connection.
 *
 * Bounds: the whole exchange (connect, send, receive) must finish within timeout_ms; the reply
 * head may be at most HTTP_MAX_HEAD bytes and the decoded body at most max_body bytes. Going over
 * a bound, a malformed reply, or a connection that ends before the reply is complete is an
 * error: a partial reply is never handed back as if it were whole. The socket is non-blocking
 * and O_CLOEXEC, so every wait is a bounded poll(). */
#ifndef NC_AGENT_HTTP_H
#define NC_AGENT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

#define HTTP_MAX_HEAD ((size_t)64 * 1024)

struct http_reply {
    int status;
    strbuf body; /* decoded; the caller releases it */
};

/* POSTs body to path on the unix socket sock_path. extra_headers: NULL-terminated "Name: value"
 * lines (Host, Content-Length and Connection are added here). Any complete reply, whatever its
 * status, is success; *reply is then filled. */
int http_post_unix(const char *sock_path, const char *path, const char *const *extra_headers,
                   const char *body, size_t body_len, uint64_t timeout_ms, size_t max_body,
                   struct http_reply *reply, nc_error **err);

#endif
