/* The error contract, used by every module that can fail.
 *
 * A function that can fail returns int: 0 on success, a negative errno-style value on failure. It
 * takes a trailing `nc_error **err`. On failure it stores an allocated error there (if err is not
 * NULL and *err is NULL); on success it leaves *err untouched. Callers add context on the way up
 * with nc_error_wrap(), so messages read outermost first:
 *   "create container 'x': 404 no such image 'y'".
 * Messages are lowercase, with no trailing period, and quote their subject. */
#ifndef NC_UTIL_ERROR_H
#define NC_UTIL_ERROR_H

#include "util/cleanup.h"

typedef struct nc_error {
    int code;        /* positive errno value; never 0 */
    int http_status; /* HTTP status of an engine reply that caused this, else 0 */
    char *msg;
} nc_error;

/* Stores a new error and returns -code. A code <= 0 is stored as EIO. When *err already holds an
 * error, the first one is kept (it is the root cause) and this one is dropped. */
int nc_error_set(nc_error **err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like nc_error_set, and also records the HTTP status of the engine reply. */
int nc_error_set_http(nc_error **err, int code, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefixes the existing error with "context: " and returns its -code. With no error stored
 * (err NULL or *err NULL) it returns -EIO. */
int nc_error_wrap(nc_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns the message, or "unknown error" when err is NULL. */
const char *nc_error_msg(const nc_error *err);

void nc_error_free(nc_error *err);
NC_DEFINE_CLEANUP(nc_error *, nc_error_free)
#define _cleanup_error_ _cleanup_(nc_error_freep)

#endif
