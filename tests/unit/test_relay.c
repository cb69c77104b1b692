/* The byte relay from loopback TCP to a unix socket (util/relay.h), and the host's listeners in
 * a network namespace (proxy/netns_relay.h), here a child's namespace of its own: an
 * echo server on a unix socket stands in for the proxy. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxy/netns_relay.h"
#include "util/relay.h"
#include "util/xalloc.h"

static char dir[64];
static char sock_path[128];
static int echo_fd = -1;
static pthread_t echo_thread;

/* Echoes each connection's bytes back until it half-closes, then half-closes too. */
static void *echo_conn(void *arg)
{
    int c = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = read(c, buf, sizeof(buf))) > 0)
        if (write(c, buf, (size_t)n) != n)
            break;
    shutdown(c, SHUT_WR);
    close(c);
    return NULL;
}

static void *echo_main(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept4(echo_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            return NULL; /* the listener was shut down */
        pthread_t t;
        pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)c);
        pthread_detach(t);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/nc-relay-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(sock_path, sizeof(sock_path), "%s/proxy.sock", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
    echo_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (bind(echo_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(echo_fd, 128) < 0)
        return -1;
    return pthread_create(&echo_thread, NULL, echo_main, NULL);
}

static int teardown(void **state)
{
    (void)state;
    shutdown(echo_fd, SHUT_RDWR);
    pthread_join(echo_thread, NULL);
    close(echo_fd);
    unlink(sock_path);
    rmdir(dir);
    return 0;
}

static int connect_port(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Sends len bytes of a pattern on a TCP connection, half-closes, and checks every byte comes
 * back before the relay passes the echo server's half-close on (EOF). */
static void *roundtrip(void *arg)
{
    uint16_t port = (uint16_t)(uintptr_t)arg;
    const size_t len = 200 * 1024; /* many times RELAY_BUF */
    _cleanup_free_ char *out = xmalloc(len);
    _cleanup_free_ char *in = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        out[i] = (char)(i * 7 + port);
    int fd = connect_port(port);
    size_t sent = 0, got = 0;
    bool shut = false;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (shut ? 0 : POLLOUT)};
        if (poll(&p, 1, 30000) <= 0)
            break;
        if ((p.revents & POLLOUT) && !shut) {
            ssize_t n = send(fd, out + sent, len - sent > 8192 ? 8192 : len - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            if (sent == len) {
                shutdown(fd, SHUT_WR);
                shut = true;
            }
        }
        if (p.revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(fd, in + got, len + 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    }
    close(fd);
    return (void *)(uintptr_t)(got == len && memcmp(in, out, len) == 0);
}

struct server {
    pthread_t t;
    int lfd;
    int stop[2];
    int r;
    const char *path;
};

static void *serve_main(void *arg)
{
    struct server *s = arg;
    s->r = relay_serve(&s->lfd, 1, s->path, s->stop[0], NULL);
    return NULL;
}

static uint16_t server_start(struct server *s, const char *path)
{
    uint16_t port = 0;
    *s = (struct server){.path = path};
    assert_int_equal(relay_listen_loopback(0, &s->lfd, &port, NULL), 0);
    assert_true(port > 0);
    assert_int_equal(pipe2(s->stop, O_CLOEXEC), 0);
    assert_int_equal(pthread_create(&s->t, NULL, serve_main, s), 0);
    return port;
}

static void server_stop(struct server *s)
{
    close(s->stop[1]);
    pthread_join(s->t, NULL);
    assert_int_equal(s->r, 0);
    close(s->stop[0]);
    close(s->lfd);
}

static void test_bytes_both_ways(void **state)
{
    (void)state;
    struct server s;
    uint16_t port = server_start(&s, sock_path);
    pthread_t t[12];
    for (size_t i = 0; i < NC_ARRAY_SIZE(t); i++)
        assert_int_equal(pthread_create(&t[i], NULL, roundtrip, (void *)(uintptr_t)port), 0);
    for (size_t i = 0; i < NC_ARRAY_SIZE(t); i++) {
        void *ok;
        pthread_join(t[i], &ok);
        assert_true((uintptr_t)ok);
    }
    server_stop(&s);
}

/* No proxy behind the socket: the client's connection just ends, and the relay goes on. */
static void test_no_proxy(void **state)
{
    (void)state;
    _cleanup_free_ char *missing = xasprintf("%s/absent.sock", dir);
    struct server s;
    uint16_t port = server_start(&s, missing);
    for (int i = 0; i < 3; i++) {
        int fd = connect_port(port);
        char c;
        ssize_t n = read(fd, &c, 1);
        assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
        close(fd);
    }
    server_stop(&s);
}

static void test_path_too_long(void **state)
{
    (void)state;
    char long_path[200];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    nc_error *err = NULL;
    assert_int_equal(relay_serve(NULL, 0, long_path, -1, &err), -ENAMETOOLONG);
    assert_non_null(strstr(nc_error_msg(err), "is longer than"));
    nc_error_free(err);
}

/* A child in a network namespace of its own, its loopback up, that waits to be killed: the
 * container's init, as far as the relay can tell. */
static pid_t netns_child(void)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char ok = 0;
        /* Gone with the test, even one that fails before netns_child_end. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 && unshare(CLONE_NEWNET) == 0) {
            int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            struct ifreq ifr = {0};
            snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
            if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
                ifr.ifr_flags |= IFF_UP;
                ok = ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
            }
        }
        if (write(p[1], &ok, 1) != 1 || !ok)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    char ok = 0;
    assert_int_equal(read(p[0], &ok, 1), 1);
    close(p[0]);
    assert_true(ok);
    return pid;
}

static void netns_child_end(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* What a thread does inside the child's namespace: a roundtrip to port, a check that nothing
 * listens on port (refused), or (port 0) a listener that takes a free port, whose number and
 * fd it hands back. */
struct inside {
    pid_t pid;
    uint16_t port;
    bool refused;
    int fd;
    bool ok;
};

static bool refused(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool r =
        fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == ECONNREFUSED;
    if (fd >= 0)
        close(fd);
    return r;
}

static void *inside_main(void *arg)
{
    struct inside *in = arg;
    _cleanup_free_ char *path = xasprintf("/proc/%d/ns/net", (int)in->pid);
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) < 0)
        return NULL; /* the thread ends in whatever namespace it is in */
    close(ns);
    if (in->refused)
        in->ok = refused(in->port);
    else if (in->port)
        in->ok = (uintptr_t)roundtrip((void *)(uintptr_t)in->port) != 0;
    else
        in->ok = relay_listen_loopback(0, &in->fd, &in->port, NULL) == 0;
    return NULL;
}

static struct inside run_inside(pid_t pid, uint16_t port, bool want_refused)
{
    struct inside in = {.pid = pid, .port = port, .refused = want_refused, .fd = -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, inside_main, &in), 0);
    pthread_join(t, NULL);
    return in;
}

/* The host's listeners, opened in the namespace of another process (as root), and reached
 * from a thread that enters it too. */
static void test_netns_relay(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    pid_t child = netns_child();
    /* A port taken inside: the required one fails, a best-effort one is skipped. */
    struct inside busy = run_inside(child, 0, false);
    assert_true(busy.ok);

    netns_relay *r = NULL;
    nc_error *err = NULL;
    uint16_t ports[] = {0, busy.port};
    assert_int_equal(netns_relay_start(child, sock_path, ports, 2, &r, &err), 0);
    uint16_t port = netns_relay_port(r, 0);
    assert_true(port > 0);
    assert_int_equal(netns_relay_port(r, 1), 0);
    assert_true(run_inside(child, port, false).ok);
    netns_relay_stop(r);
    /* Stopped: nothing listens there any more. */
    assert_true(run_inside(child, port, true).ok);

    uint16_t first_busy[] = {busy.port};
    r = NULL;
    assert_int_equal(netns_relay_start(child, sock_path, first_busy, 1, &r, &err), -EADDRINUSE);
    assert_null(r);
    assert_non_null(strstr(nc_error_msg(err), "bind 127.0.0.1:"));
    nc_error_free(TAKE_PTR(err));
    close(busy.fd);
    netns_child_end(child);
}

/* A pid in nanocell's own namespace (another host's engine's pid, or one reused after the
 * container ended) is refused: listeners there would serve the proxy to every local user. */
static void test_netns_relay_own_namespace(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    int probe;
    uint16_t free_port;
    assert_int_equal(relay_listen_loopback(0, &probe, &free_port, NULL), 0);
    close(probe);
    netns_relay *r = NULL;
    nc_error *err = NULL;
    uint16_t ports[] = {free_port};
    assert_int_equal(netns_relay_start(getpid(), sock_path, ports, 1, &r, &err), -EEXIST);
    assert_null(r);
    assert_non_null(strstr(nc_error_msg(err), "own network namespace"));
    nc_error_free(err);
    assert_true(refused(free_port)); /* nothing was left listening */
}

static void test_netns_relay_errors(void **state)
{
    (void)state;
    netns_relay *r = NULL;
    nc_error *err = NULL;
    uint16_t ports[] = {0};
    /* A pid that cannot exist (above pid_max's ceiling). */
    assert_int_equal(netns_relay_start(1 << 30, sock_path, ports, 1, &r, &err), -ESRCH);
    assert_non_null(strstr(nc_error_msg(err), "/ns/net"));
    nc_error_free(TAKE_PTR(err));
    assert_int_equal(netns_relay_start(0, sock_path, ports, 1, &r, &err), -ESRCH);
    nc_error_free(TAKE_PTR(err));
    assert_int_equal(netns_relay_start(getpid(), sock_path, ports, 0, &r, &err), -EINVAL);
    nc_error_free(TAKE_PTR(err));
    assert_null(r);
    netns_relay_stop(NULL);
}

/* What a nanocell that is not root gets (rootless engines): EPERM, whether the namespace is
 * another user's (the open fails) or its own (setns fails). */
static void test_netns_relay_not_root(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        uint16_t ports[] = {0};
        netns_relay *r = NULL;
        nc_error *e1 = NULL, *e2 = NULL;
        int a = netns_relay_start(1, sock_path, ports, 1, &r, &e1);
        int b = netns_relay_start(getpid(), sock_path, ports, 1, &r, &e2);
        bool ok = a == -EPERM && strstr(nc_error_msg(e1), "this needs root") && b == -EPERM &&
                  strstr(nc_error_msg(e2), "this needs root") && !r;
        _exit(ok ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_both_ways),
        cmocka_unit_test(test_no_proxy),
        cmocka_unit_test(test_path_too_long),
        cmocka_unit_test(test_netns_relay),
        cmocka_unit_test(test_netns_relay_errors),
        cmocka_unit_test(test_netns_relay_not_root),
        cmocka_unit_test(test_netns_relay_own_namespace),
    };
    return cmocka_run_group_tests_name("relay", tests, setup, teardown);
}
