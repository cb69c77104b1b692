/* Internals shared by the fake engine's files; tests use fake_engine.h only.
 *
 *   fake_engine.c    lifecycle, threads, matching the script, serving exchanges
 *   fake_http.c      one connection: waits, reads, writes, request parsing, report quoting
 *   fake_response.c  the response builders and their arena */
#ifndef NC_TESTS_FAKE_INTERNAL_H
#define NC_TESTS_FAKE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "support/fake_engine.h"
#include "util/strbuf.h"

/* Bytes asked of one recv(). */
#define FAKE_READ_CHUNK ((size_t)64 * 1024)
/* Bytes of a body or target quoted in a report line. */
#define FAKE_REPORT_EXCERPT ((size_t)160)

/* Outcome of reading a request. */
enum {
    FAKE_RD_OK = 0,
    FAKE_RD_EOF,  /* the client closed cleanly between requests */
    FAKE_RD_BAD,  /* a problem was recorded (and answered); close the connection */
    FAKE_RD_STOP, /* the engine is stopping */
};

struct fake_header {
    char *name;
    char *value; /* trimmed */
};

struct fake_request {
    char *method;
    char *target;
    struct fake_header *headers;
    size_t nheaders;
    strbuf body; /* decoded */
};

/* One accepted connection, served by its own thread. */
struct fake_conn {
    struct fake_engine *fe;
    int stop_rd; /* the engine's stop pipe */
    pthread_t thread;
    int fd;      /* non-blocking */
    unsigned id; /* 1-based, in accept order, for reports */
    bool done;   /* under the engine's lock: the thread has ended and can be joined */
    strbuf in;   /* received and not yet consumed */
    struct fake_conn *next;
};

/* fake_engine.c: appends one line to the engine's problem list (fake_problem_add takes msg's
 * contents and releases it). Thread-safe. */
void fake_problem_add(struct fake_engine *fe, strbuf *msg);
void fake_problem(struct fake_engine *fe, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* fake_http.c */

/* Quotes client bytes for a report: printable ASCII as is, the rest as C escapes, cut after max
 * input bytes; _str quotes a string, cut after FAKE_REPORT_EXCERPT. */
void fake_add_excerpt(strbuf *sb, const char *s, size_t len, size_t max);
void fake_add_excerpt_str(strbuf *sb, const char *s);
/* Escapes s for a JSON string; bytes outside printable ASCII become \u00XX so the result is
 * valid JSON whatever the client sent. */
void fake_add_json_escaped(strbuf *sb, const char *s);
/* Trims spaces and tabs at both ends, in place. */
char *fake_trim(char *s);

/* Waits until fd has one of events (fd < 0: only sleeps), timeout_ms passes (< 0: no timeout) or
 * stop_rd turns readable (the engine stops). Returns 1 when fd is ready (or has an error or
 * hang-up, which the following call reports), 0 on timeout, -1 when stopping or poll fails.
 * Stopping wins over readiness. */
int fake_wait(int stop_rd, int fd, short events, int timeout_ms);
/* Receives more bytes into c->in. Returns > 0 on data, 0 on EOF or a connection error, -1 when
 * the engine stops. */
int fake_conn_fill(struct fake_conn *c);
/* Sends all of data. Returns 0, or -1 when the client is gone or the engine stops. */
int fake_conn_write(struct fake_conn *c, const char *data, size_t len);
/* Reads one whole request (head, and body decoded by Content-Length or chunked) and consumes it
 * from c->in. Returns FAKE_RD_*; on FAKE_RD_BAD the problem is recorded and, where the client
 * can still hear it, answered with a 4xx/5xx. req is filled (and must be cleared) either way. */
int fake_read_request(struct fake_conn *c, struct fake_request *req);
void fake_request_clear(struct fake_request *req);
/* The first header called name (case-insensitive), or NULL. */
const char *fake_request_header(const struct fake_request *req, const char *name);
/* Closes the connection. Bytes left unread in our receive queue would make the kernel hand the
 * client ECONNRESET instead of a clean EOF after our last bytes, so what is queued is read and
 * dropped first (at most FAKE_ENGINE_MAX_BODY). */
void fake_conn_close(struct fake_conn *c);

#endif
