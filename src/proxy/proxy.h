/* The credential and egress proxy (host side). One listening unix socket per group, created
 * before the group's container and bind-mounted into it at PROXY_CONTAINER_SOCKET. The group of
 * a connection is the socket it arrived on, never anything the request says.
 *
 * What arrives is plain HTTP/1.1 (proxy/request.h), one request per connection:
 *   - origin form ("POST /v1/messages"): a model API call. Methods and paths come from the
 *     group's egress policy (proxy/policy.h); authorization, x-api-key, cookie and proxy-*
 *     fields are dropped and the configured key added as x-api-key; it goes to proxy.upstream
 *     over HTTPS with libcurl (certificate verification on, proxy.ca_file trusted besides the
 *     system CAs), and the response streams back as it arrives (server-sent events included),
 *     never buffered whole. The response ends with the connection.
 *   - CONNECT host:port: a tunnel (TLS stays end to end) when the policy allows the name and
 *     port, and
 *   - absolute form ("GET http://host/path"): plain HTTP under the same rules as CONNECT.
 *   For both, the name is resolved here and every address checked (proxy/addr.h); the proxy
 *   connects to the address it checked, so DNS cannot rebind a name onto the host.
 * Anything else is 403 with a JSON reason ({"type":"error","error":{"type":...,"message":...}},
 * the Messages API's error shape); a limit reached is 429 (proxy.max_*: request size, requests
 * and upstream bytes per turn, concurrent connections per group; the time limits end a request
 * with 408 or by closing it). Every request or tunnel is one line in the audit log
 * (proxy/audit.h).
 *
 * Each connection has a thread of its own, so a slow client (slowloris) holds only its own
 * thread, for at most proxy.header_timeout, and its group's connection slots. The proxy
 * never prints; it never puts the key in an error, a log line or the audit log.
 *
 * The process must ignore SIGPIPE (nanocell run and serve do): libcurl runs with
 * CURLOPT_NOSIGNAL, as threads require, and TLS writes to an upstream that went away would
 * otherwise kill it. */
#ifndef NC_PROXY_PROXY_H
#define NC_PROXY_PROXY_H

#include <stdint.h>

#include "config.h"
#include "util/cleanup.h"
#include "util/error.h"

/* Where the socket appears in the container. */
#define PROXY_CONTAINER_SOCKET "/run/nanocell/proxy.sock"
/* The container's loopback listeners (the relay, images/agent): HTTPS_PROXY and the model. */
#define PROXY_CONTAINER_HTTP_PROXY "http://127.0.0.1:3128"
#define PROXY_CONTAINER_BASE_URL "http://127.0.0.1:3129"
/* What ANTHROPIC_API_KEY holds in the container: the proxy ignores and replaces it. */
#define PROXY_PLACEHOLDER_KEY "placeholder-not-a-key"

typedef struct proxy proxy;

/* A proxy with no groups yet: opens the audit log (data_dir/proxy/audit.log) and makes the
 * socket directory data_dir/proxy/<pid>. cfg must be resolved; the proxy keeps no pointer to
 * it. */
int proxy_new(const nc_config *cfg, proxy **ret, nc_error **err);
/* Serves a group with its settings in cfg (copied): loads its credential and effective egress
 * policy, and creates its listening socket, connectable only by the group's container user
 * (sandbox.user; as root the socket is chowned to it with mode 0600, otherwise it is 0666
 * inside a 0700 directory). *ret_socket is the socket's host path, owned by the proxy. Adding
 * a group twice returns the same socket (with the settings it was first added with). */
int proxy_add_group(proxy *p, const nc_config *cfg, const char *group, const char **ret_socket,
                    nc_error **err);
/* A turn starts for group: its per-turn counters start again and run_id tags its audit lines. */
void proxy_begin_turn(proxy *p, const char *group, const char *run_id);
/* Serves one connection accepted elsewhere (a TCP listener in a container's network namespace)
 * as the group's. Takes fd in every case. */
int proxy_serve_fd(proxy *p, const char *group, int fd, nc_error **err);
/* Stops: closes and unlinks the sockets, ends open connections and waits for their threads. */
void proxy_free(proxy *p);
NC_DEFINE_CLEANUP(proxy *, proxy_free)

/* The environment a turn with a proxy gives its container, NULL-terminated, allocated strings
 * (free with strv_free): NANOCELL_MODEL_SOCKET, NANOCELL_MODEL (model, agent.model),
 * HTTPS_PROXY and HTTP_PROXY (both cases), NO_PROXY (loopback), ANTHROPIC_BASE_URL and the
 * placeholder ANTHROPIC_API_KEY. No credential ever: the key stays here. */
char **proxy_container_env(const char *model);

#endif
