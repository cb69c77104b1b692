/* NULL-terminated arrays of owned strings. */
#ifndef NC_UTIL_STRV_H
#define NC_UTIL_STRV_H

#include <stdbool.h>
#include <stddef.h>

#include "util/cleanup.h"

size_t strv_len(char *const *v);
/* Appends a copy of s; *v may be NULL (an empty array). */
void strv_push(char ***v, const char *s);
/* Appends s itself, taking ownership. */
void strv_push_take(char ***v, char *s);
bool strv_contains(char *const *v, const char *s);
/* The same strings in the same order (NULL is the empty vector). */
bool strv_equal(char *const *a, char *const *b);
/* A deep copy; NULL for NULL or an empty vector. */
char **strv_dup(char *const *v);
void strv_free(char **v);
NC_DEFINE_CLEANUP(char **, strv_free)
#define _cleanup_strv_ _cleanup_(strv_freep)

#endif
