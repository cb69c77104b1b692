/* Reading a secret (a bot token, a hook secret, an API key) from a file the daemon's user alone
 * can read. One reader for every secret file, so each one gets the same checks. */
#ifndef NC_UTIL_SECRETFILE_H
#define NC_UTIL_SECRETFILE_H

#include <stddef.h>

#include "util/error.h"

/* Reads path into buf (cap bytes, so at most cap - 1 bytes of secret and a NUL), without one
 * trailing newline ("\n" or "\r\n"); *len is the secret's length.
 *
 * The file is opened O_NOFOLLOW (a symbolic link is ELOOP) and O_NONBLOCK, so a FIFO or a device
 * cannot block the open; what was opened must then be a regular file (EINVAL), owned by the
 * effective user (EACCES), with no permission bit for group or others (EACCES: 0600 or 0400),
 * and no longer than cap - 1 bytes (EFBIG). A NUL byte in it is EINVAL, so *len is the secret's
 * strlen.
 *
 * On every failure buf is wiped (explicit_bzero) before return. Messages name the path and
 * never quote what the file holds. */
int secretfile_read_into(const char *path, char *buf, size_t cap, size_t *len, nc_error **err);

/* secretfile_read_into a new buffer of max + 1 bytes: *ret (owned by the caller, who wipes it
 * with explicit_bzero before free) holds the secret and its NUL. */
int secretfile_read(const char *path, size_t max, char **ret, size_t *len, nc_error **err);

#endif
