#include "proxy/io.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/timeutil.h"
#include "util/banned.h"

static int wait_for(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t left = ms_until(deadline);
        if (!left)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n > 0)
            return 0;
    }
}

ssize_t proxy_io_read(int fd, void *buf, size_t len, uint64_t deadline)
{
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int r = wait_for(fd, POLLIN, deadline);
        if (r < 0)
            return r;
    }
}

int proxy_io_write(int fd, const void *buf, size_t len, uint64_t deadline)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            int r = wait_for(fd, POLLOUT, deadline);
            if (r < 0)
                return r;
            continue;
        }
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int proxy_io_connect(const void *addr, unsigned addrlen, uint64_t deadline)
{
    const struct sockaddr *sa = addr;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, sa, addrlen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    int r = wait_for(fd, POLLOUT, deadline);
    int e = 0;
    socklen_t l = sizeof(e);
    if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
        e = errno;
    if (r < 0 || e) {
        close(fd);
        return r < 0 ? r : -e;
    }
    return fd;
}
