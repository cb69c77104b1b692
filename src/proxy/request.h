/* The HTTP/1.1 request head an agent sends to the proxy socket: outside input, parsed strictly
 * and within fixed bounds (PROXY_MAX_HEAD bytes, PROXY_MAX_HEADERS fields). The proxy
 * re-serializes whatever it forwards and serves one request per connection, so nothing the
 * agent writes after the head is ever read as a second request.
 *
 * Accepted: "METHOD SP target SP HTTP/1.x CRLF", then fields "name: value CRLF", then CRLF.
 * Refused (400): a bare LF, obs-fold, whitespace before a colon, control characters, a field
 * name that is not a token, both Content-Length and Transfer-Encoding, more than one
 * Content-Length, a Content-Length that is not a decimal number. A Transfer-Encoding other than
 * exactly "chunked" is 501. A chunked body is decoded (proxy_chunked_decode) and forwarded
 * with a Content-Length.
 *
 * The target's forms: origin ("/v1/messages"), absolute ("http://host[:port]/path", plain HTTP
 * only; https URLs go through CONNECT), and authority ("host:port", CONNECT only). */
#ifndef NC_PROXY_REQUEST_H
#define NC_PROXY_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

#define PROXY_MAX_HEAD (64 * 1024)
#define PROXY_MAX_HEADERS 100

typedef enum proxy_form { PROXY_FORM_ORIGIN, PROXY_FORM_ABSOLUTE, PROXY_FORM_AUTHORITY } proxy_form;

typedef struct proxy_header {
    char *name; /* lower case */
    char *value;
} proxy_header;

typedef struct proxy_request {
    char *method;
    char *target; /* as sent */
    proxy_form form;
    /* absolute and authority forms: the host as sent (not yet a checked name) and the port
     * (80 for an absolute URL without one); path is the origin-form rest ("/" at least) */
    char *host;
    uint16_t port;
    char *path;
    proxy_header *headers;
    size_t nheaders;
    bool has_length;
    uint64_t content_length;
    bool chunked;
    size_t head_len; /* bytes of buf the head took, its final CRLF included */
} proxy_request;

/* Parses the head at buf[0..len). Returns 0 with *req filled, -EAGAIN when the head is not
 * complete yet, -EMSGSIZE when it is longer than PROXY_MAX_HEAD or has too many fields, -ENOSYS
 * for an unsupported Transfer-Encoding, or -EBADMSG for anything else malformed (err says what;
 * it never quotes header values). On failure *req is left empty. */
int proxy_request_parse(const char *buf, size_t len, proxy_request *req, nc_error **err);
void proxy_request_release(proxy_request *req);
/* The first value of a field (name in lower case), or NULL. */
const char *proxy_request_header(const proxy_request *req, const char *name);

/* Decodes a chunked body at buf[0..len) (what follows the head) into out, appending; chunk
 * extensions are ignored, trailers dropped. Returns 0 once the last chunk and the trailer
 * section are complete, -EAGAIN when more bytes are needed, -EMSGSIZE when out would pass max
 * bytes, or -EBADMSG. *consumed is the bytes used: all of the body on 0, the whole chunks
 * decoded on -EAGAIN, so that the next call resumes at buf + *consumed with the same out and
 * no byte is decoded twice. */
int proxy_chunked_decode(const char *buf, size_t len, uint64_t max, strbuf *out, size_t *consumed,
                         nc_error **err);

/* Whether the agent's field must never be forwarded: credentials (authorization, x-api-key,
 * cookie), proxy-* fields, and hop-by-hop or framing fields that the proxy sets itself
 * (connection, keep-alive, te, trailer, transfer-encoding, upgrade, host, content-length,
 * expect), and any field that the Connection field names. */
bool proxy_header_stripped(const proxy_request *req, const char *name);

#endif
