/* The egress relay: 127.0.0.1:EGRESS_DEFAULT_PORT inside the container, forwarded byte for byte
 * to the credential proxy's unix socket (util/relay.h), so tools that only know HTTPS_PROXY and
 * HTTP_PROXY (curl, git, package managers, busybox wget) reach the proxy under NetworkMode none,
 * where the loopback interface still exists.
 *
 * The port is NANOCELL_RELAY_PORT (default 3128; 0 turns the relay off). A port that is already
 * taken means the host serves it from outside (proxy/netns_relay.h): the relay then quietly does
 * nothing, since both forward to the same socket. */
#ifndef NC_AGENT_EGRESS_H
#define NC_AGENT_EGRESS_H

#define EGRESS_DEFAULT_PORT 3128

/* Forks the relay as a child that ends with the agent (PR_SET_PDEATHSIG; as PID 1 the agent's
 * end takes the whole container with it). The child's stdio is /dev/null: it never writes to the
 * marker stream. Does nothing when sock_path is NULL or empty. */
void egress_start(const char *sock_path);

/* `nanocell-agent relay`: the same relay in the foreground, for images whose own entrypoint
 * wants it. Uses NANOCELL_MODEL_SOCKET (default /run/nanocell/proxy.sock). It serves until
 * killed; it returns 1 (the exit status) only when it cannot listen, after saying why on
 * stderr. */
int egress_main(void);

#endif
