/* netns_relay_run PID SOCKET PORT...: opens the loopback listeners of proxy/netns_relay.h in the
 * network namespace of PID, relaying to SOCKET, prints "ready P1 P2 ..." (the ports bound, 0 for
 * one skipped) on stdout, and serves until its stdin ends. For tests/cli/engine_relay.sh, which
 * needs the host side of a turn's relay without the rest of a turn. Exit status 1 with the error
 * on stderr when the listeners cannot be opened. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proxy/netns_relay.h"
#include "util/banned.h"

int main(int argc, char **argv)
{
    if (argc < 4 || argc - 3 > NETNS_RELAY_MAX_PORTS) {
        fprintf(stderr, "usage: netns_relay_run PID SOCKET PORT...\n");
        return 2;
    }
    uint16_t ports[NETNS_RELAY_MAX_PORTS];
    size_t n = 0;
    for (int i = 3; i < argc; i++)
        ports[n++] = (uint16_t)strtoul(argv[i], NULL, 10);
    netns_relay *r = NULL;
    nc_error *err = NULL;
    if (netns_relay_start(strtoll(argv[1], NULL, 10), argv[2], ports, n, &r, &err) < 0) {
        fprintf(stderr, "netns_relay_run: %s\n", nc_error_msg(err));
        nc_error_free(err);
        return 1;
    }
    printf("ready");
    for (size_t i = 0; i < n; i++)
        printf(" %u", netns_relay_port(r, i));
    printf("\n");
    fflush(stdout);
    char buf[256];
    while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
        ;
    netns_relay_stop(r);
    return 0;
}
