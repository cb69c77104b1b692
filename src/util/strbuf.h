/* A growable byte buffer, the one type for dynamic strings (after git's strbuf).
 *
 * Invariant: once anything has been added, buf[len] == '\0', so buf can be used as a C string
 * (it may also hold NUL bytes inside, for binary data). An empty, never-grown strbuf has
 * buf == NULL; strbuf_str() returns "" for it. */
#ifndef NC_UTIL_STRBUF_H
#define NC_UTIL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util/cleanup.h"

typedef struct strbuf {
    char *buf;
    size_t len;
    size_t alloc;
} strbuf;

#define STRBUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Ensures room for extra more bytes plus the terminating NUL. */
void strbuf_grow(strbuf *sb, size_t extra);
void strbuf_add(strbuf *sb, const void *data, size_t len);
void strbuf_addstr(strbuf *sb, const char *s);
void strbuf_addch(strbuf *sb, char c);
void strbuf_addf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(strbuf *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Removes the first n bytes (all of them when n >= len). */
void strbuf_consume(strbuf *sb, size_t n);
/* Shortens to len bytes (no-op when len >= sb->len). */
void strbuf_truncate(strbuf *sb, size_t len);
/* Empties the buffer but keeps its allocation. */
void strbuf_reset(strbuf *sb);
/* Frees the allocation and returns the strbuf to STRBUF_INIT. */
void strbuf_release(strbuf *sb);
/* Hands the allocated string to the caller (never NULL) and resets sb. */
char *strbuf_detach(strbuf *sb, size_t *ret_len);
/* The contents as a C string; "" when empty. Valid until the next change. */
const char *strbuf_str(const strbuf *sb);

#define _cleanup_strbuf_ _cleanup_(strbuf_release)

#endif
