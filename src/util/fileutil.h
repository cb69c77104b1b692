/* Files: bounded reads, atomic writes, directory creation. Every descriptor is O_CLOEXEC. */
#ifndef NC_UTIL_FILEUTIL_H
#define NC_UTIL_FILEUTIL_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/strbuf.h"

/* Appends the contents of path to out. A file larger than max bytes is EFBIG (nothing is
 * appended); a missing file is ENOENT. Messages name the path. */
int read_file(const char *path, size_t max, strbuf *out, nc_error **err);
/* read_file, and *ret_st is the fstat of the very file that was read (for ownership and mode
 * checks without a race between the check and the read). */
int read_file_stat(const char *path, size_t max, strbuf *out, struct stat *ret_st, nc_error **err);
/* Writes data to path atomically: a temporary file in the same directory, fsync, rename. A
 * reader sees the old file or the whole new one, never a part. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, nc_error **err);
/* Creates path and its missing parents with mode (existing directories are left as they
 * are). */
int mkdir_p(const char *path, mode_t mode, nc_error **err);

#endif
