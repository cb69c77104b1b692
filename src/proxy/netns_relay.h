/* Loopback listeners inside a container's network namespace, served from the host: how an agent
 * that knows nothing of nanocell (one that reads ANTHROPIC_BASE_URL and HTTPS_PROXY and speaks
 * TCP) reaches the group's credential proxy while its container has NetworkMode none.
 *
 * A short-lived thread enters the namespace of the container's init (setns on
 * /proc/<pid>/ns/net, which needs CAP_SYS_ADMIN: root, so rootful engines only), opens the
 * listeners on 127.0.0.1 there and returns to the host's namespace. A socket keeps the namespace
 * it was made in, so the listeners stay inside the container while a serving thread in the host
 * process relays each connection's bytes to the proxy's unix socket (util/relay.h). Nothing runs
 * in the container and nothing is added to its image, its mounts or its capabilities; the
 * container gains no route out, only two loopback ports whose other end is the proxy, which
 * decides what passes.
 *
 * The first port is required; the others are best effort: one already taken (the reference
 * agent's own egress relay on 3128 may have won the race) is skipped, and reads as 0 from
 * netns_relay_port. Threads run with every signal blocked. */
#ifndef NC_PROXY_NETNS_RELAY_H
#define NC_PROXY_NETNS_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* The ports the container's environment names (HTTPS_PROXY, ANTHROPIC_BASE_URL). */
#define NETNS_RELAY_EGRESS_PORT 3128
#define NETNS_RELAY_MODEL_PORT 3129
#define NETNS_RELAY_MAX_PORTS 4

typedef struct netns_relay netns_relay;

/* Opens 127.0.0.1:ports[i] (0: a free port) in the network namespace of pid and serves them,
 * relaying to sock_path, until netns_relay_stop. nports is 1 to NETNS_RELAY_MAX_PORTS. EPERM
 * when the namespace cannot be opened or entered (not root), ESRCH when pid is gone, EEXIST
 * when pid is in this process's own network namespace (never a container's). */
int netns_relay_start(int64_t pid, const char *sock_path, const uint16_t *ports, size_t nports,
                      netns_relay **ret, nc_error **err);
/* The port bound for ports[i]; 0 when it was skipped. */
uint16_t netns_relay_port(const netns_relay *r, size_t i);
/* Stops serving, closes every listener and open connection, and frees r. Accepts NULL. */
void netns_relay_stop(netns_relay *r);
NC_DEFINE_CLEANUP(netns_relay *, netns_relay_stop)

#endif
