/* The egress relay (see egress.h). */
#include "egress.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "text.h"
#include "util/relay.h"
#include "util/banned.h"

#define DEFAULT_SOCKET "/run/nanocell/proxy.sock"

/* The configured port; 0 when off or when NANOCELL_RELAY_PORT is not a port number. */
static uint16_t relay_port(void)
{
    const char *v = getenv("NANOCELL_RELAY_PORT");
    uint64_t port;
    if (!v || !*v)
        return EGRESS_DEFAULT_PORT;
    if (!text_parse_u64(v, 65535, &port))
        return 0;
    return (uint16_t)port;
}

void egress_start(const char *sock_path)
{
    uint16_t port = relay_port();
    if (!sock_path || !*sock_path || !port)
        return;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return; /* the agent goes on; a failed fork only means no relay */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(0); /* the agent ended before PDEATHSIG was armed */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
    }
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGHUP, &dfl, NULL);
    int fd;
    if (relay_listen_loopback(port, &fd, NULL, NULL) < 0)
        _exit(0); /* taken: the host serves this port */
    relay_serve(&fd, 1, sock_path, -1, NULL);
    _exit(0);
}

int egress_main(void)
{
    const char *sock = getenv("NANOCELL_MODEL_SOCKET");
    if (!sock || !*sock)
        sock = DEFAULT_SOCKET;
    uint16_t port = relay_port();
    if (!port) {
        fprintf(stderr, "relay: NANOCELL_RELAY_PORT is not a port from 1 to 65535\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    int fd;
    nc_error *err = NULL;
    if (relay_listen_loopback(port, &fd, NULL, &err) < 0 ||
        relay_serve(&fd, 1, sock, -1, &err) < 0) {
        fprintf(stderr, "relay: %s\n", nc_error_msg(err));
        nc_error_free(err);
        return 1;
    }
    return 0;
}
