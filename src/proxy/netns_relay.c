/* Loopback listeners in a container's network namespace (see netns_relay.h). */
#include "proxy/netns_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/relay.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct netns_relay {
    pthread_t thread;
    bool running;
    int stop_w, stop_r; /* the serving thread stops when stop_w is closed */
    int lfd[NETNS_RELAY_MAX_PORTS];
    uint16_t port[NETNS_RELAY_MAX_PORTS];
    size_t n;
    char *sock_path;
};

/* What the short-lived thread that enters the namespace is given and hands back. */
struct opener {
    int ns_fd;
    int64_t pid;
    const uint16_t *ports;
    size_t nports;
    int lfd[NETNS_RELAY_MAX_PORTS];
    uint16_t port[NETNS_RELAY_MAX_PORTS];
    nc_error *err;
};

static void *open_listeners(void *arg)
{
    struct opener *o = arg;
    /* Only this thread changes namespace. It goes back before it ends; had that failed, the
     * thread ends anyway and takes the foreign namespace with it. */
    _cleanup_close_ int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) {
        nc_error_set(&o->err, errno, "open /proc/thread-self/ns/net: %s", strerror(errno));
        return NULL;
    }
    if (setns(o->ns_fd, CLONE_NEWNET) < 0) {
        int e = errno;
        nc_error_set(&o->err, e, "enter the container's network namespace: %s%s", strerror(e),
                     e == EPERM ? " (this needs root: CAP_SYS_ADMIN)" : "");
        return NULL;
    }
    /* The host's own namespace (a pid of another host's engine, or one reused after the
     * container ended): listeners there would give every local user the proxy. */
    struct stat hs, cs;
    if (fstat(home, &hs) < 0 || fstat(o->ns_fd, &cs) < 0) {
        nc_error_set(&o->err, errno, "fstat a network namespace: %s", strerror(errno));
    } else if (hs.st_dev == cs.st_dev && hs.st_ino == cs.st_ino) {
        nc_error_set(&o->err, EEXIST,
                     "process %lld is in nanocell's own network namespace, not a container's",
                     (long long)o->pid);
    }
    for (size_t i = 0; i < o->nports && !o->err; i++) {
        _cleanup_error_ nc_error *lerr = NULL;
        int r = relay_listen_loopback(o->ports[i], &o->lfd[i], &o->port[i], &lerr);
        if (r == -EADDRINUSE && i > 0)
            continue; /* best effort: someone inside serves it already */
        if (r < 0) {
            nc_error_set(&o->err, lerr->code, "%s", nc_error_msg(lerr));
            break;
        }
    }
    if (setns(home, CLONE_NEWNET) < 0 && !o->err)
        nc_error_set(&o->err, errno, "return to the host's network namespace: %s", strerror(errno));
    return NULL;
}

static void *serve(void *arg)
{
    netns_relay *r = arg;
    int fds[NETNS_RELAY_MAX_PORTS];
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->lfd[i] >= 0)
            fds[n++] = r->lfd[i];
    relay_serve(fds, n, r->sock_path, r->stop_r, NULL);
    return NULL;
}

/* Starts fn in a thread with every signal blocked: signals stay the caller's to handle. */
static int spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e;
}

static void close_listeners(netns_relay *r)
{
    for (size_t i = 0; i < NETNS_RELAY_MAX_PORTS; i++)
        if (r->lfd[i] >= 0) {
            close(r->lfd[i]);
            r->lfd[i] = -1;
        }
}

void netns_relay_stop(netns_relay *r)
{
    if (!r)
        return;
    if (r->stop_w >= 0)
        close(r->stop_w); /* the serving thread's poll sees the hang-up */
    if (r->running)
        pthread_join(r->thread, NULL);
    if (r->stop_r >= 0)
        close(r->stop_r);
    close_listeners(r);
    free(r->sock_path);
    free(r);
}

int netns_relay_start(int64_t pid, const char *sock_path, const uint16_t *ports, size_t nports,
                      netns_relay **ret, nc_error **err)
{
    if (nports == 0 || nports > NETNS_RELAY_MAX_PORTS)
        return nc_error_set(err, EINVAL, "%zu loopback ports asked for, at most %d", nports,
                            NETNS_RELAY_MAX_PORTS);
    if (pid <= 0)
        return nc_error_set(err, ESRCH, "no process id for the container");
    _cleanup_free_ char *path = xasprintf("/proc/%lld/ns/net", (long long)pid);
    _cleanup_close_ int ns_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0) {
        /* Another user's process (a rootless engine's container) is EACCES here: the same
         * cause as setns's EPERM, said the same way. */
        int e = errno;
        return nc_error_set(err,
                            e == ENOENT   ? ESRCH
                            : e == EACCES ? EPERM
                                          : e,
                            "open '%s': %s%s", path, strerror(e),
                            e == EACCES ? " (this needs root)" : "");
    }

    _cleanup_(netns_relay_stopp) netns_relay *r = xnew0(netns_relay);
    r->stop_w = r->stop_r = -1;
    for (size_t i = 0; i < NETNS_RELAY_MAX_PORTS; i++)
        r->lfd[i] = -1;
    r->n = nports;
    r->sock_path = xstrdup(sock_path);

    struct opener o = {.ns_fd = ns_fd, .pid = pid, .ports = ports, .nports = nports};
    for (size_t i = 0; i < NETNS_RELAY_MAX_PORTS; i++)
        o.lfd[i] = -1;
    pthread_t t;
    int e = spawn(&t, open_listeners, &o);
    if (e)
        return nc_error_set(err, e, "start a thread: %s", strerror(e));
    pthread_join(t, NULL);
    memcpy(r->lfd, o.lfd, sizeof(r->lfd));
    memcpy(r->port, o.port, sizeof(r->port));
    if (o.err) {
        int code = o.err->code;
        nc_error_set(err, code, "%s", nc_error_msg(o.err));
        nc_error_free(o.err);
        return -code;
    }

    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return nc_error_set(err, errno, "pipe: %s", strerror(errno));
    r->stop_r = p[0];
    r->stop_w = p[1];
    if ((e = spawn(&r->thread, serve, r)))
        return nc_error_set(err, e, "start a thread: %s", strerror(e));
    r->running = true;
    *ret = TAKE_PTR(r);
    return 0;
}

uint16_t netns_relay_port(const netns_relay *r, size_t i)
{
    return i < r->n && r->lfd[i] >= 0 ? r->port[i] : 0;
}
