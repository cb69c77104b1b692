/* The one OOM policy: these allocators abort the process when memory runs out, so callers never
 * check for NULL. Array sizes are overflow-checked. */
#ifndef NC_UTIL_XALLOC_H
#define NC_UTIL_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* realloc for an array of nmemb elements of size bytes; aborts on multiplication overflow. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xstrdup(s), or NULL for NULL. */
char *xstrdup_or_null(const char *s);
/* Returns a newly allocated formatted string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Allocates a zeroed object of the given type. */
#define xnew0(type) ((type *)xcalloc(1, sizeof(type)))

#endif
