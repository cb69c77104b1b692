/* TCP to unix socket byte relay (see relay.h). */
#include "util/relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/xalloc.h"
#include "util/banned.h"

/* One direction of a pair: bytes read from one side, waiting to be written to the other. */
struct half {
    char buf[RELAY_BUF];
    size_t len, off;
    bool eof;  /* the reading side said it sends no more */
    bool shut; /* that was passed on with shutdown(SHUT_WR) */
};

/* fd[0] is the TCP client, fd[1] the unix connection; h[i] holds what fd[i] sent. */
struct pair {
    int fd[2];
    struct half h[2];
};

int relay_listen_loopback(uint16_t port, int *ret_fd, uint16_t *ret_port, nc_error **err)
{
    _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return nc_error_set(err, errno, "socket: %s", strerror(errno));
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return nc_error_set(err, errno, "bind 127.0.0.1:%u: %s", port, strerror(errno));
    if (listen(fd, 64) < 0)
        return nc_error_set(err, errno, "listen on 127.0.0.1:%u: %s", port, strerror(errno));
    socklen_t len = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        return nc_error_set(err, errno, "getsockname: %s", strerror(errno));
    if (ret_port)
        *ret_port = ntohs(sa.sin_port);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static int connect_unix(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    /* A unix connect completes at once or fails; a full backlog (EAGAIN) counts as failure,
     * so one busy proxy never stalls the relay's other pairs. */
    while (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        if (errno == EINTR)
            continue;
        close(fd);
        return -1;
    }
    return fd;
}

static void pair_close(struct pair **pp)
{
    struct pair *p = *pp;
    close(p->fd[0]);
    close(p->fd[1]);
    free(p);
    *pp = NULL;
}

/* Reads what fd[i] has into h[i]. false: the pair must close. */
static bool pair_read(struct pair *p, int i)
{
    struct half *h = &p->h[i];
    ssize_t n = recv(p->fd[i], h->buf, sizeof(h->buf), 0);
    if (n > 0) {
        h->len = (size_t)n;
        h->off = 0;
    } else if (n == 0) {
        h->eof = true;
    } else if (errno != EAGAIN && errno != EINTR) {
        return false;
    }
    return true;
}

/* Writes what h[1-i] holds to fd[i]. false: the pair must close. */
static bool pair_write(struct pair *p, int i)
{
    struct half *h = &p->h[1 - i];
    ssize_t n = send(p->fd[i], h->buf + h->off, h->len - h->off, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    h->off += (size_t)n;
    if (h->off == h->len)
        h->len = h->off = 0;
    return true;
}

/* Passes on half-closes whose data is all written. false: both directions are done. */
static bool pair_settle(struct pair *p)
{
    for (int i = 0; i < 2; i++) {
        struct half *h = &p->h[i];
        if (h->eof && !h->len && !h->shut) {
            shutdown(p->fd[1 - i], SHUT_WR);
            h->shut = true;
        }
    }
    return !(p->h[0].shut && p->h[1].shut);
}

static short wanted(const struct pair *p, int i)
{
    short ev = 0;
    if (!p->h[i].len && !p->h[i].eof)
        ev |= POLLIN;
    if (p->h[1 - i].len)
        ev |= POLLOUT;
    return ev;
}

static void accept_one(int lfd, const struct sockaddr_un *sa, struct pair **pairs)
{
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0)
        return;
    int u = connect_unix(sa);
    if (u < 0) {
        close(c);
        return;
    }
    for (size_t i = 0; i < RELAY_MAX_CONNS; i++)
        if (!pairs[i]) {
            pairs[i] = xnew0(struct pair);
            pairs[i]->fd[0] = c;
            pairs[i]->fd[1] = u;
            return;
        }
    close(c); /* every slot taken (two listeners were ready at once): this client ends */
    close(u);
}

int relay_serve(const int *lfds, size_t n, const char *sock_path, int stop_fd, nc_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t plen = strlen(sock_path);
    if (plen >= sizeof(sa.sun_path))
        return nc_error_set(err, ENAMETOOLONG, "socket path '%s' is longer than %zu bytes",
                            sock_path, sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, sock_path, plen + 1);

    struct pair *pairs[RELAY_MAX_CONNS] = {0};
    size_t cap = 1 + n + 2 * RELAY_MAX_CONNS;
    _cleanup_free_ struct pollfd *pfd = xreallocarray(NULL, cap, sizeof(*pfd));
    _cleanup_free_ int *who = xreallocarray(NULL, cap, sizeof(*who)); /* pair*2+side, or -1 */
    int r = 0;
    for (;;) {
        size_t np = 0, live = 0;
        if (stop_fd >= 0) {
            pfd[np] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
            who[np++] = -1;
        }
        for (size_t i = 0; i < RELAY_MAX_CONNS; i++)
            live += pairs[i] != NULL;
        size_t first_listener = np;
        if (live < RELAY_MAX_CONNS)
            for (size_t i = 0; i < n; i++) {
                pfd[np] = (struct pollfd){.fd = lfds[i], .events = POLLIN};
                who[np++] = -1;
            }
        size_t first_pair = np;
        for (size_t i = 0; i < RELAY_MAX_CONNS; i++)
            for (int s = 0; pairs[i] && s < 2; s++) {
                short ev = wanted(pairs[i], s);
                if (!ev)
                    continue; /* a hung-up side nobody waits on must not wake poll */
                pfd[np] = (struct pollfd){.fd = pairs[i]->fd[s], .events = ev};
                who[np++] = (int)(i * 2) + s;
            }
        if (poll(pfd, np, -1) < 0) {
            if (errno == EINTR)
                continue;
            r = nc_error_set(err, errno, "poll: %s", strerror(errno));
            break;
        }
        if (stop_fd >= 0 && pfd[0].revents)
            break;
        for (size_t k = first_pair; k < np; k++) {
            if (!pfd[k].revents)
                continue;
            size_t i = (size_t)who[k] / 2;
            int s = who[k] % 2;
            if (!pairs[i])
                continue;
            bool ok = true;
            if (pfd[k].revents & POLLOUT)
                ok = pair_write(pairs[i], s);
            if (ok && (pfd[k].events & POLLIN) && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                ok = pair_read(pairs[i], s);
            else if (ok && (pfd[k].revents & POLLERR))
                ok = false;
            if (!ok || !pair_settle(pairs[i]))
                pair_close(&pairs[i]);
        }
        for (size_t k = first_listener; k < first_pair; k++)
            if (pfd[k].revents & POLLIN)
                accept_one(pfd[k].fd, &sa, pairs);
    }
    for (size_t i = 0; i < RELAY_MAX_CONNS; i++)
        if (pairs[i])
            pair_close(&pairs[i]);
    return r;
}
