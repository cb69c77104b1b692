/* The scripted `proxy-request` command (see proxyreq.h). */
#include "proxyreq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/xalloc.h"
#include "util/banned.h"

/* Bytes of the response read to find its status line. */
#define PROXYREQ_MAX 4096

int proxyreq_run(const char *line, strbuf *out, nc_error **err)
{
    const char *path = getenv("NANOCELL_PROXY_SOCKET");
    if (!path || !*path)
        path = PROXYREQ_SOCKET;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return nc_error_set(err, ENAMETOOLONG, "socket path '%s' is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return nc_error_set(err, errno, "connect to '%s': %s", path, strerror(errno));
    struct timeval tv = {.tv_sec = 10};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    _cleanup_free_ char *req = xasprintf("%s HTTP/1.1\r\nHost: nanocell\r\n\r\n", line);
    size_t len = strlen(req);
    if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
        return nc_error_set(err, errno ? errno : EIO, "send: %s", strerror(errno));
    char buf[PROXYREQ_MAX + 1];
    size_t got = 0;
    while (got < PROXYREQ_MAX && !memchr(buf, '\n', got)) {
        ssize_t n = read(fd, buf + got, PROXYREQ_MAX - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return nc_error_set(err, errno, "read: %s", strerror(errno));
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    size_t eol = strcspn(buf, "\r\n");
    if (!eol)
        return nc_error_set(err, EPROTO, "no response");
    strbuf_add(out, buf, eol);
    return 0;
}
