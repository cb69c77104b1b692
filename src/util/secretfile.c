/* Secret files: see secretfile.h. */
#include "util/secretfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char *kind_of(mode_t m)
{
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a fifo"
           : S_ISSOCK(m) ? "a socket"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
                         : "not a regular file";
}

static int read_checked(const char *path, char *buf, size_t cap, size_t *len, nc_error **err)
{
    if (cap < 2)
        return nc_error_set(err, EINVAL, "'%s': no room for a secret", path);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ELOOP)
            return nc_error_set(err, ELOOP, "'%s' is a symbolic link", path);
        return nc_error_set(err, errno, "open '%s': %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nc_error_set(err, errno, "stat '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return nc_error_set(err, EINVAL, "'%s' is %s: a secret is read from a regular file", path,
                            kind_of(st.st_mode));
    if (st.st_uid != geteuid())
        return nc_error_set(err, EACCES, "'%s' is owned by uid %u, not by this user (uid %u)", path,
                            (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & 077)
        return nc_error_set(err, EACCES,
                            "'%s' has mode %04o: it must be 0600 or 0400 (no access for group "
                            "or others); run chmod 600 '%s'",
                            path, (unsigned)(st.st_mode & 07777), path);
    size_t n = 0;
    for (;;) {
        if (n == cap - 1) {
            /* Full: one more byte says whether the file is longer. */
            char extra;
            ssize_t m = read(fd, &extra, 1);
            if (m < 0 && errno == EINTR)
                continue;
            explicit_bzero(&extra, sizeof(extra));
            if (m < 0)
                return nc_error_set(err, errno, "read '%s': %s", path, strerror(errno));
            if (m > 0)
                return nc_error_set(err, EFBIG, "'%s' is larger than %zu bytes", path, cap - 1);
            break;
        }
        ssize_t m = read(fd, buf + n, cap - 1 - n);
        if (m < 0 && errno == EINTR)
            continue;
        if (m < 0)
            return nc_error_set(err, errno, "read '%s': %s", path, strerror(errno));
        if (m == 0)
            break;
        n += (size_t)m;
    }
    /* A NUL inside would hide the rest from every strlen, and from the wipe that uses it. */
    if (memchr(buf, '\0', n))
        return nc_error_set(err, EINVAL, "'%s' holds a NUL byte: a secret is text", path);
    if (n && buf[n - 1] == '\n') {
        n--;
        if (n && buf[n - 1] == '\r')
            n--;
    }
    buf[n] = '\0';
    *len = n;
    return 0;
}

int secretfile_read_into(const char *path, char *buf, size_t cap, size_t *len, nc_error **err)
{
    int r = read_checked(path, buf, cap, len, err);
    if (r < 0)
        explicit_bzero(buf, cap);
    return r;
}

int secretfile_read(const char *path, size_t max, char **ret, size_t *len, nc_error **err)
{
    char *buf = xmalloc(max + 1);
    int r = secretfile_read_into(path, buf, max + 1, len, err);
    if (r < 0) {
        free(buf); /* wiped by secretfile_read_into */
        return r;
    }
    *ret = buf;
    return 0;
}
