/* HTTPS (and, for tests and local receivers, plain HTTP) requests to the internet, for channels:
 * the Telegram Bot API and webhook receivers. libcurl, like src/engine/http.c, which speaks only
 * to a unix socket.
 *
 * URLs may carry a secret (Telegram puts the bot token in the path): an error never quotes the
 * URL, and any text given as redact is cut out of libcurl's error text as well. */
#ifndef NC_CHANNELS_WEBCLIENT_H
#define NC_CHANNELS_WEBCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

/* The largest reply body read; a larger one is an error (EFBIG). */
#define WEB_MAX_BODY ((size_t)4 * 1024 * 1024)

typedef struct web_request {
    const char *method; /* "GET" or "POST" */
    const char *url;
    const char *content_type; /* for body; NULL: application/json */
    const char *body;         /* NULL: none */
    size_t body_len;
    char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
    long timeout_ms;      /* the whole request */
    const char *redact;   /* a secret that must not appear in an error; may be NULL */
    /* Polled during the transfer; returning true aborts it (ECANCELED). */
    bool (*cancel)(void *userdata);
    void *userdata;
} web_request;

typedef struct web_response {
    long status;
    strbuf body;
    char *retry_after; /* the Retry-After header, or NULL */
} web_response;

/* Sends the request and reads the whole reply, whatever its status. Fails only when no complete
 * reply arrived: ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, EPROTO, EFBIG, ECANCELED. */
int web_request_send(const web_request *req, web_response *resp, nc_error **err);
void web_response_release(web_response *r);

/* A copy of text with every occurrence of secret replaced by "<redacted>". */
char *web_redact(const char *text, const char *secret);

#endif
