/* The API's unix socket: its default path (declared in daemon.h; shared by `serve` and every
 * client command) and binding it (api_listen, api.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "orch/api.h"
#include "orch/daemon.h"
#include "util/xalloc.h"
#include "util/banned.h"

char *daemon_default_api_socket(nc_error **err)
{
    const char *env = getenv("NANOCELL_API");
    if (env && env[0])
        return xstrdup(env);
    /* root's XDG_RUNTIME_DIR differs between a login shell (/run/user/0) and a systemd
     * service (none): one fixed path lets `nanocell send` in a root shell find the service. */
    if (geteuid() == 0)
        return xstrdup("/run/nanocell/api.sock");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    /* A relative XDG_RUNTIME_DIR is invalid (XDG Base Directory spec) and is ignored. */
    if (xdg && xdg[0] == '/')
        return xasprintf("%s/nanocell/api.sock", xdg);
    nc_error_set(err, ENOENT,
                 "no api socket path: set $NANOCELL_API or $XDG_RUNTIME_DIR, or give --api");
    return NULL;
}

int api_listen(const char *path, int *fd, nc_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len == 0)
        return nc_error_set(err, EINVAL, "api socket path is empty");
    if (len >= sizeof(sa.sun_path))
        return nc_error_set(err, ENAMETOOLONG,
                            "api socket path '%s' is %zu bytes, longer than the %zu a unix "
                            "socket address holds",
                            path, len, sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, len + 1);

    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else {
        free(dir);
        dir = xstrdup(".");
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return nc_error_set(err, errno, "create api socket directory '%s': %s", dir,
                            strerror(errno));
    struct stat st;
    if (stat(dir, &st) < 0)
        return nc_error_set(err, errno, "api socket directory '%s': %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return nc_error_set(err, ENOTDIR, "api socket directory '%s' is not a directory", dir);
    /* Whoever can write the directory can replace our socket with theirs, and every client
     * would then talk to them. */
    if (st.st_uid != geteuid())
        return nc_error_set(err, EPERM,
                            "api socket directory '%s' is owned by uid %u, not by this user "
                            "(uid %u)",
                            dir, (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return nc_error_set(err, EPERM,
                            "api socket directory '%s' is writable by group or others (mode "
                            "%04o)",
                            dir, (unsigned)(st.st_mode & 07777));

    _cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return nc_error_set(err, errno, "create api socket: %s", strerror(errno));

    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return nc_error_set(err, EEXIST, "api socket path '%s' exists and is not a socket",
                                path);
        _cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0)
            return nc_error_set(err, errno, "create api socket: %s", strerror(errno));
        if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return nc_error_set(err, EADDRINUSE,
                                "another nanocell daemon answers at '%s': stop it first", path);
        if (errno != ECONNREFUSED)
            return nc_error_set(err, errno, "probe existing api socket '%s': %s", path,
                                strerror(errno));
        /* A socket nothing listens on: left by a daemon that died. */
        if (unlink(path) < 0 && errno != ENOENT)
            return nc_error_set(err, errno, "remove stale api socket '%s': %s", path,
                                strerror(errno));
    } else if (errno != ENOENT) {
        return nc_error_set(err, errno, "api socket path '%s': %s", path, strerror(errno));
    }

    mode_t old = umask(0177);
    int r = bind(s, (struct sockaddr *)&sa, sizeof(sa));
    int bind_errno = errno;
    umask(old);
    if (r < 0)
        return nc_error_set(err, bind_errno, "bind api socket '%s': %s", path,
                            strerror(bind_errno));
    if (listen(s, SOMAXCONN) < 0) {
        int e = errno;
        unlink(path);
        return nc_error_set(err, e, "listen on api socket '%s': %s", path, strerror(e));
    }
    *fd = TAKE_FD(s);
    return 0;
}

int api_listen_tcp(const char *addr, int *fd, nc_error **err)
{
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return nc_error_set(err, EINVAL, "api.tcp_listen '%s': expected HOST:PORT", addr);
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 1 || port > 65535)
        return nc_error_set(err, EINVAL, "api.tcp_listen '%s': the port is not valid", addr);
    size_t hl = (size_t)(colon - addr);
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if ((hl == 9 && strncmp(addr, "127.0.0.1", 9) == 0) ||
        (hl == 9 && strncmp(addr, "localhost", 9) == 0)) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof(*in);
    } else if (hl == 5 && strncmp(addr, "[::1]", 5) == 0) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        in6->sin6_addr = in6addr_loopback;
        sl = sizeof(*in6);
    } else {
        /* No TLS here: the listener never leaves this host. */
        return nc_error_set(err, EINVAL, "api.tcp_listen '%s' is not a loopback address", addr);
    }
    int s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return nc_error_set(err, errno, "api.tcp_listen '%s': socket: %s", addr, strerror(errno));
    int one = 1;
    (void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s, (struct sockaddr *)&ss, sl) < 0 || listen(s, 128) < 0) {
        int e = errno;
        close(s);
        return nc_error_set(err, e, "api.tcp_listen '%s': %s", addr, strerror(e));
    }
    *fd = s;
    return 0;
}
