/* The fake engine's response builders (see fake_engine.h) and the arena that owns their bytes. */
#include "support/fake_engine.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/xalloc.h"
#include "util/banned.h"

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static char **arena;
static size_t arena_n, arena_alloc;

static const char *arena_keep(strbuf *sb, size_t *ret_len)
{
    size_t len;
    char *p = strbuf_detach(sb, &len);
    pthread_mutex_lock(&arena_lock);
    if (arena_n == arena_alloc) {
        arena_alloc = arena_alloc ? arena_alloc * 2 : 16;
        arena = xreallocarray(arena, arena_alloc, sizeof(*arena));
    }
    arena[arena_n++] = p;
    pthread_mutex_unlock(&arena_lock);
    if (ret_len)
        *ret_len = len;
    return p;
}

void fake_free_responses(void)
{
    pthread_mutex_lock(&arena_lock);
    for (size_t i = 0; i < arena_n; i++)
        free(arena[i]);
    free(arena);
    arena = NULL;
    arena_n = arena_alloc = 0;
    pthread_mutex_unlock(&arena_lock);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "UPGRADED"; /* what dockerd writes on hijack */
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 409:
        return "Conflict";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return NULL;
    }
}

/* Go's net/http writes "status code N" for a status it has no text for. */
static void add_status_line(strbuf *sb, int status)
{
    const char *reason = reason_phrase(status);
    if (reason)
        strbuf_addf(sb, "HTTP/1.1 %d %s\r\n", status, reason);
    else
        strbuf_addf(sb, "HTTP/1.1 %d status code %d\r\n", status, status);
}

const char *fake_text(int status, const char *content_type, const char *body)
{
    strbuf sb = STRBUF_INIT;
    size_t len = strlen(body);
    add_status_line(&sb, status);
    if (content_type)
        strbuf_addf(&sb, "Content-Type: %s\r\n", content_type);
    strbuf_addf(&sb, "Content-Length: %zu\r\n\r\n", len);
    strbuf_add(&sb, body, len);
    return arena_keep(&sb, NULL);
}

const char *fake_json(int status, const char *json)
{
    return fake_text(status, "application/json", json);
}

const char *fake_chunked(int status, const char *content_type, const char *const *chunks,
                         size_t nchunks, bool terminate)
{
    strbuf sb = STRBUF_INIT;
    add_status_line(&sb, status);
    if (content_type)
        strbuf_addf(&sb, "Content-Type: %s\r\n", content_type);
    strbuf_addstr(&sb, "Transfer-Encoding: chunked\r\n\r\n");
    for (size_t i = 0; i < nchunks; i++) {
        size_t len = strlen(chunks[i]);
        if (!len)
            continue;
        strbuf_addf(&sb, "%zx\r\n", len);
        strbuf_add(&sb, chunks[i], len);
        strbuf_addstr(&sb, "\r\n");
    }
    if (terminate)
        strbuf_addstr(&sb, "0\r\n\r\n");
    return arena_keep(&sb, NULL);
}

const char *fake_headers_only(int status, const char *extra_headers)
{
    strbuf sb = STRBUF_INIT;
    add_status_line(&sb, status);
    if (extra_headers)
        strbuf_addstr(&sb, extra_headers);
    strbuf_addstr(&sb, "\r\n");
    return arena_keep(&sb, NULL);
}

const char *fake_frame(int stream_type, const char *payload, size_t len, size_t *ret_len)
{
    if (len > UINT32_MAX) {
        fprintf(stderr, "fake_frame: payload of %zu bytes does not fit a frame\n", len);
        abort();
    }
    unsigned char hdr[8] = {(unsigned char)stream_type,
                            0,
                            0,
                            0,
                            (unsigned char)(len >> 24),
                            (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8),
                            (unsigned char)len};
    strbuf sb = STRBUF_INIT;
    strbuf_add(&sb, hdr, sizeof(hdr));
    strbuf_add(&sb, payload, len);
    return arena_keep(&sb, ret_len);
}

const char *fake_concat(size_t *ret_len, size_t n, ...)
{
    strbuf sb = STRBUF_INIT;
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *p = va_arg(ap, const char *);
        size_t len = va_arg(ap, size_t);
        if (len)
            strbuf_add(&sb, p, len);
    }
    va_end(ap);
    return arena_keep(&sb, ret_len);
}
