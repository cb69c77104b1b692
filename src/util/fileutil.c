#include "util/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/xalloc.h"
#include "util/banned.h"

int read_file(const char *path, size_t max, strbuf *out, nc_error **err)
{
    struct stat st;
    return read_file_stat(path, max, out, &st, err);
}

int read_file_stat(const char *path, size_t max, strbuf *out, struct stat *ret_st, nc_error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return nc_error_set(err, errno, "open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nc_error_set(err, errno, "stat '%s': %s", path, strerror(errno));
    *ret_st = st;
    if (S_ISDIR(st.st_mode))
        return nc_error_set(err, EISDIR, "'%s' is a directory", path);
    size_t start = out->len;
    for (;;) {
        strbuf_grow(out, 8192);
        size_t room = out->alloc - out->len - 1;
        ssize_t n = read(fd, out->buf + out->len, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            strbuf_truncate(out, start);
            return nc_error_set(err, e, "read '%s': %s", path, strerror(e));
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
        out->buf[out->len] = '\0';
        if (out->len - start > max) {
            strbuf_truncate(out, start);
            return nc_error_set(err, EFBIG, "'%s' is larger than %zu bytes", path, max);
        }
    }
    return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, nc_error **err)
{
    uint32_t rnd = 0;
    (void)getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
    _cleanup_free_ char *tmp = xasprintf("%s.tmp.%d.%08x", path, (int)getpid(), rnd);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return nc_error_set(err, errno, "create '%s': %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    int e = 0;
    while (left && !e) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            e = errno;
        else {
            p += n;
            left -= (size_t)n;
        }
    }
    if (!e && fchmod(fd, mode) < 0)
        e = errno;
    if (!e && fsync(fd) < 0)
        e = errno;
    if (close(fd) < 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) < 0)
        e = errno;
    if (e) {
        unlink(tmp);
        return nc_error_set(err, e, "write '%s': %s", path, strerror(e));
    }
    return 0;
}

int mkdir_p(const char *path, mode_t mode, nc_error **err)
{
    _cleanup_free_ char *p = xstrdup(path);
    for (char *s = p + 1;; s++) {
        bool end = *s == '\0';
        if (*s == '/' || end) {
            *s = '\0';
            if (mkdir(p, mode) < 0 && errno != EEXIST)
                return nc_error_set(err, errno, "create directory '%s': %s", p, strerror(errno));
            struct stat st;
            if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
                return nc_error_set(err, ENOTDIR, "'%s' is not a directory", p);
            if (end)
                break;
            *s = '/';
        }
    }
    return 0;
}
