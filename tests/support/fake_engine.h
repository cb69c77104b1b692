/* A scripted fake container engine for tests: an HTTP/1.1 server on a unix socket, run in
 * background threads inside the test process.
 *
 * It plays a script of canned exchanges in order and checks every request against the exchange it
 * consumes, so engine-client code can be driven through exact faults (malformed JSON, truncated
 * chunked bodies, error statuses, hang-ups mid-stream, slow replies, the hijacked attach
 * protocol) without a real engine.
 *
 * Matching: requests are matched against the script in arrival order across all connections. A
 * connection thread takes the next unconsumed exchange when a request is complete. A request that
 * does not match is a problem: it is answered with
 *   500 {"message":"fake engine: unexpected request METHOD PATH"}
 * and the exchange is consumed anyway. Requests after the end of the script are answered the
 * same way. fake_engine_stop() reports every problem; exchange numbers in the report are script
 * indices (0-based, the same i as in fake_engine_request_body()).
 *
 * Responses are written exactly as given: the test controls framing. After a response the
 * connection stays open for the next request (keep-alive) unless the exchange hangs up, holds,
 * hijacks, or the response says "Connection: close" or has no framing (no Content-Length, not
 * chunked, and a status that may carry a body), in which case it is closed after writing.
 *
 * Limits: a request head is at most FAKE_ENGINE_MAX_HEAD bytes, a request body (after chunked
 * decoding) and a hijacked stdin at most FAKE_ENGINE_MAX_BODY. Going over a limit is a problem
 * and closes the connection. A misbehaving client never crashes or hangs the fake; setup failures
 * (socket, bind, threads) abort() with a message, since this is test code.
 *
 * Ownership: the script array is copied, but the strings it points to are not: they must stay
 * valid until fake_engine_stop() returns (string literals or the response arena below). */
#ifndef NC_TESTS_FAKE_ENGINE_H
#define NC_TESTS_FAKE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define FAKE_ENGINE_MAX_HEAD ((size_t)64 * 1024)
#define FAKE_ENGINE_MAX_BODY ((size_t)16 * 1024 * 1024)

struct fake_exchange {
    const char *method;        /* expected method, e.g. "POST"; NULL = any */
    const char *path;          /* expected request target including query, e.g.
                                  "/v1.41/containers/create?name=x"; NULL = any;
                                  a trailing '*' means "starts with" */
    const char *body;          /* expected exact request body; NULL = not checked */
    const char *body_contains; /* substring the request body must contain; NULL = not checked */
    const char *body_lacks;    /* substring the request body must not contain; NULL = not
                                  checked */
    const char *headers[4];    /* each "Name: value" must be present (name case-insensitive,
                                  value exact after trimming); NULL entries ignored */
    const char *response;      /* raw bytes written back: status line, headers, body; NULL =
                                  nothing is written (and the connection is closed) */
    size_t response_len;       /* 0 means strlen(response) */
    int delay_ms;              /* wait this long before responding (interruptible by stop) */
    long hangup_after;         /* <= 0: write the whole response; > 0: write only this many
                                  bytes of it, then close the connection. 0 means "whole" so
                                  that exchanges that leave it out behave normally; to hang up
                                  before the first byte, give response NULL */
    bool hold_open;            /* after responding (and after the stream, with hijack), keep
                                  the connection open without reading or writing until the
                                  engine stops (a hung stream) */
    bool hijack;               /* after the response (e.g. a 101), read the client's raw bytes
                                  until it half-closes (EOF), store them as this exchange's
                                  stdin, then write `stream` and close. Bytes the client sent
                                  right behind the request count as stdin too */
    const char *stream;        /* bytes written after the hijacked stdin hit EOF */
    size_t stream_len;         /* 0 means strlen(stream) */
    int stream_delay_ms;       /* wait before writing the stream */
};

struct fake_engine_opts {
    const char *api_version;    /* if set, GET/HEAD /_ping (any /vX.Y/_ping too) is answered
                                   automatically, outside the script: 200, body "OK",
                                   header "Api-Version: <this>" */
    const char *libpod_version; /* if set, the automatic ping adds "Libpod-Api-Version: <this>" */
};

struct fake_engine;

/* Starts listening on a socket inside a fresh private temp dir (under $TMPDIR or /tmp) and serves
 * the script in order. opts may be NULL. Never returns NULL (aborts on setup failure). */
struct fake_engine *fake_engine_start(const struct fake_exchange *script, size_t n,
                                      const struct fake_engine_opts *opts);
/* The socket path; valid until fake_engine_free(). */
const char *fake_engine_socket(const struct fake_engine *fe);
/* Stops serving (wakes any delay or held connection, refuses new connections), joins every
 * thread, and checks: every exchange was requested in order and matched, and nothing unexpected
 * arrived. Returns 0 when all is well (and sets *ret_report to NULL); otherwise -1 and
 * *ret_report (allocated, one line per problem) says what went wrong, e.g.
 *   "exchange 2: expected POST /v1.41/containers/x/start, got GET /v1.41/containers/x/json".
 * ret_report may be NULL. Calling it again returns the same verdict. */
int fake_engine_stop(struct fake_engine *fe, char **ret_report);
/* What the client sent: request i's body (request i is the one matched against exchange i; it
 * may lie beyond the script), or exchange i's hijacked stdin. Binary-safe and NUL-terminated.
 * NULL (and *len 0) when there is no such request, or no stdin was stored for exchange i (a
 * stdin is stored when the client half-closed, or at stop). Valid until fake_engine_free(); safe
 * to call while the engine runs. */
const char *fake_engine_request_body(const struct fake_engine *fe, size_t i, size_t *len);
const char *fake_engine_stdin(const struct fake_engine *fe, size_t i, size_t *len);
/* Request i's headers as received, one "Name: value\n" line each (value trimmed), so a test can
 * check that a header is absent. NULL when there is no such request. Valid until
 * fake_engine_free(). */
const char *fake_engine_request_headers(const struct fake_engine *fe, size_t i);
/* Requests matched against the script so far, including those beyond its end. Automatic pings
 * are not counted. */
size_t fake_engine_requests_seen(const struct fake_engine *fe);
/* Pings answered automatically (see fake_engine_opts.api_version). */
size_t fake_engine_pings_seen(const struct fake_engine *fe);
/* Stops first if needed; removes the socket and its dir. Accepts NULL. */
void fake_engine_free(struct fake_engine *fe);

/* Response builders. The returned bytes are owned by a global arena freed by
 * fake_free_responses() (call it at test teardown), so scripts can be written inline. They are
 * thread-safe. Reason phrases follow Docker: 101 is "UPGRADED". */

/* Status line, Content-Type: application/json, Content-Length, body. */
const char *fake_json(int status, const char *json);
/* Like fake_json with the given Content-Type; content_type NULL leaves the header out. */
const char *fake_text(int status, const char *content_type, const char *body);
/* Transfer-Encoding: chunked, one chunk per string (empty strings are skipped: a zero-size chunk
 * would end the body). terminate=false leaves out the final 0-chunk (a truncated body). */
const char *fake_chunked(int status, const char *content_type, const char *const *chunks,
                         size_t nchunks, bool terminate);
/* Status line, extra_headers verbatim (each line ending in "\r\n"; NULL for none), blank line.
 * fake_headers_only(101, "Content-Type: application/vnd.docker.multiplexed-stream\r\n"
 *                        "Connection: Upgrade\r\nUpgrade: tcp\r\n")
 * gives Docker's hijack reply. */
const char *fake_headers_only(int status, const char *extra_headers);
/* A multiplexed stream frame: 8-byte header {type,0,0,0,size big-endian} + payload. Returns the
 * bytes and stores their length in *ret_len. len must fit in 32 bits. */
const char *fake_frame(int stream_type, const char *payload, size_t len, size_t *ret_len);
/* Concatenates n byte ranges, given as n pairs of (const char *, size_t), into one arena buffer.
 * The lengths must really be size_t (varargs): use FAKE_STR() for strings. */
const char *fake_concat(size_t *ret_len, size_t n, ...);
#define FAKE_STR(s) (const char *)(s), strlen(s)
void fake_free_responses(void);

#endif
