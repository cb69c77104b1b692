/* Where the engine is: parsing engine addresses and listing the candidates to try.
 *
 * Discovery order (engine_open probes them), Docker's CLI's: --host, DOCKER_HOST, then
 * CONTAINER_HOST (Podman's), then the Docker context (not read yet: see endpoint.c), then the
 * config's engine.host, then the default sockets /var/run/docker.sock,
 * $XDG_RUNTIME_DIR/podman/podman.sock and /run/podman/podman.sock. The first address the user
 * set (any but the defaults) is final: when it fails, nanocell reports why and does not fall back
 * to some other engine behind the user's back. The candidates after it are still listed, so that
 * `nanocell doctor` can show what was set and why it is not used. */
#ifndef NC_ENGINE_ENDPOINT_H
#define NC_ENGINE_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct engine_endpoint {
    char *uri;         /* normalised: "unix:///path" */
    char *socket_path; /* the filesystem socket */
    char *source;      /* where the address came from, e.g. "DOCKER_HOST" or "default" */
} engine_endpoint;

/* Parses "unix:///path", "unix://" (the Docker default) or an absolute path. tcp://, ssh://,
 * npipe:// and fd:// give EPROTONOSUPPORT with what to do instead; a socket path that does not
 * fit in sockaddr_un gives ENAMETOOLONG (never truncated); anything else EINVAL. Messages do
 * not repeat the address: callers say which address and where it came from. */
int endpoint_parse(const char *uri, const char *source, engine_endpoint *out, nc_error **err);
void endpoint_release(engine_endpoint *ep);

typedef struct endpoint_candidate {
    char *uri;
    const char *source; /* static string */
    bool user_set;      /* final: no fallback after it */
} endpoint_candidate;

/* Fills *ret with every candidate in discovery order and returns their count (at least the
 * defaults). host is --host (NULL or "" when unset) and host_source names it ("--host" when
 * NULL); config_host is the config's engine.host (NULL or "" when unset). Reads DOCKER_HOST,
 * CONTAINER_HOST and XDG_RUNTIME_DIR from the environment. Free with endpoint_candidates_free. */
size_t endpoint_candidates(const char *host, const char *host_source, const char *config_host,
                           endpoint_candidate **ret);
void endpoint_candidates_free(endpoint_candidate *c, size_t n);

#endif
