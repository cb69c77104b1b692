/* Names, host:port patterns, upstream URLs and address classes for the egress policy.
 *
 * A host is matched by name only. A name is a DNS name of letters, digits, '-' and '.', labels
 * of 1-63 bytes, at most 253 bytes, compared in lower case without a trailing dot; anything an
 * IP parser would take (inet_aton's "127.1" and "0x7f.1", "2130706433", IPv6 in brackets) is
 * not a name, so an agent can never name an address directly. */
#ifndef NC_PROXY_ADDR_H
#define NC_PROXY_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/error.h"

#define PROXY_NAME_MAX 253

typedef struct proxy_hostport {
    char *host;  /* normalized name; for a suffix pattern, the part after "*." */
    bool suffix; /* "*.example.com:443": any name below example.com, not example.com itself */
    uint16_t port;
} proxy_hostport;

/* Parses "host:port" (pattern: also "*.suffix:port"). The port is required, 1-65535. */
int proxy_hostport_parse(const char *v, bool pattern, proxy_hostport *ret, nc_error **err);
void proxy_hostport_release(proxy_hostport *hp);
bool proxy_hostport_match(const proxy_hostport *pat, const char *name, uint16_t port);

/* The normalized form of name[0..len) (lower case, one trailing dot dropped), or NULL when it
 * is not a DNS name (see above). Allocated. */
char *proxy_name_normalize(const char *name, size_t len);

/* An upstream base URL: "https://host[:port][/path]", no query, no user info. The host may be
 * an address: the operator chose it, the agent did not. */
typedef struct proxy_url {
    char *host; /* as written, brackets kept for IPv6 */
    uint16_t port;
    char *base_path; /* "" or "/path" without a trailing '/' */
} proxy_url;
int proxy_url_parse(const char *v, proxy_url *ret, nc_error **err);
void proxy_url_release(proxy_url *u);

/* Whether an address is one an agent must not reach unless a rule allows it explicitly:
 * unspecified, loopback, private (RFC 1918, ULA), shared (100.64/10), link-local (which holds
 * the cloud metadata service 169.254.169.254), multicast, reserved and documentation ranges,
 * and IPv4-mapped or NAT64 forms of those. */
bool proxy_addr_private(const struct sockaddr *sa);

#endif
