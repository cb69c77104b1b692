/* Where the engine is: parsing engine addresses and listing the candidates to try.
 *
 * Discovery order (engine_open probes them), Docker's CLI's where it has one: --host,
 * DOCKER_HOST, then CONTAINER_HOST (Podman's), then the Docker context named by DOCKER_CONTEXT,
 * then the config's engine.host, then the context named by currentContext in Docker's
 * config.json (context.h), then the default sockets /var/run/docker.sock,
 * $XDG_RUNTIME_DIR/podman/podman.sock and /run/podman/podman.sock. The environment comes before
 * nanocell's config, and nanocell's config before Docker's. The first address the user set (any
 * but the defaults, a context included) is final: when it fails, nanocell reports why and does
 * not fall back to some other engine behind the user's back. The candidates after it are still
 * listed, so that `nanocell doctor` can show what was set and why it is not used.
 *
 * Addresses are unix:// sockets or tcp://host:port engines. A tcp engine must speak TLS with a
 * verified certificate (endpoint_setup_tls) unless the config says engine.allow_insecure_tcp:
 * whoever reaches an engine's API is root on its host. */
#ifndef NC_ENGINE_ENDPOINT_H
#define NC_ENGINE_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* How a tcp engine is reached. Files are PEM paths; NULL when not given. */
typedef struct engine_tls {
    bool enabled; /* https; false: plain http (allowed only by engine.allow_insecure_tcp) */
    bool verify;  /* the server's certificate and name are checked */
    char *ca;     /* CA bundle; NULL: the system's */
    char *cert;   /* client certificate and its key */
    char *key;
    char *server_name; /* the name checked in the certificate; NULL: the address's host */
} engine_tls;

typedef struct engine_endpoint {
    char *uri;         /* normalised: "unix:///path" or "tcp://host:port" */
    char *socket_path; /* unix: the filesystem socket; NULL for tcp */
    char *tcp_host;    /* tcp: the host as written (an IPv6 address without brackets) */
    int tcp_port;      /* tcp: the port; 0 when the address gave none (2375, or 2376 with TLS) */
    char *source;      /* where the address came from, e.g. "DOCKER_HOST" or "default" */
    char *context;     /* the Docker context it came from, NULL for none */
    engine_tls tls;    /* tcp only, filled by endpoint_setup_tls */
} engine_endpoint;

/* Parses "unix:///path", "unix://" (the Docker default), an absolute path, or
 * "tcp://host[:port]" (a name, an IPv4 address or a bracketed IPv6 one; no path). ssh://,
 * http(s)://, npipe:// and fd:// give EPROTONOSUPPORT with what to do instead; a socket path that
 * does not fit in sockaddr_un gives ENAMETOOLONG (never truncated); anything else EINVAL.
 * Messages do not repeat the address: callers say which address and where it came from. */
int endpoint_parse(const char *uri, const char *source, engine_endpoint *out, nc_error **err);
void endpoint_release(engine_endpoint *ep);
/* Whether the engine's processes are this host's: a unix socket, or tcp to a loopback address
 * (127.0.0.0/8, ::1, localhost). The runtime verification reads /proc, which is meaningless
 * (and could name an unrelated process) for an engine on another host. */
bool endpoint_is_local(const engine_endpoint *ep);
/* A deep copy. */
void endpoint_copy(engine_endpoint *dst, const engine_endpoint *src);

/* The TLS settings the user gave for tcp engines outside Docker contexts: the config's
 * engine.tls_* keys ("" or NULL when unset) and engine.allow_insecure_tcp. */
typedef struct endpoint_tls_config {
    const char *ca;
    const char *cert;
    const char *key;
    const char *server_name;
    bool allow_insecure;
} endpoint_tls_config;

/* Decides how a parsed tcp endpoint is reached (a unix one is left alone). Its TLS material
 * comes from, first match: its Docker context's TLS directory (ca.pem, cert.pem, key.pem, those
 * present) and SkipTLSVerify; the config's engine.tls_* when any is set; DOCKER_TLS_VERIFY
 * (non-empty: verify, as Docker's CLI) with DOCKER_CERT_PATH (default: Docker's config dir);
 * DOCKER_TLS or DOCKER_CERT_PATH alone (TLS without verification, as Docker's Go client). A
 * client certificate needs its key and the reverse. Plain tcp, and TLS without verification,
 * are refused with EPERM unless cfg->allow_insecure. Missing files give ENOENT. tls_dir is the
 * context's TLS directory (NULL: none) and skip_verify its SkipTLSVerify. */
int endpoint_setup_tls(engine_endpoint *ep, const endpoint_tls_config *cfg, const char *tls_dir,
                       bool skip_verify, nc_error **err);

typedef struct endpoint_candidate {
    char *uri;
    char *source;  /* e.g. "DOCKER_HOST", "Docker context 'desktop' (DOCKER_CONTEXT)" */
    char *context; /* the Docker context's name, NULL for none */
    char *tls_dir; /* the context's TLS directory, NULL for none */
    bool skip_tls_verify;
    char *error;   /* the context could not be read: why (the candidate is a bad address) */
    bool user_set; /* final: no fallback after it */
} endpoint_candidate;

/* Fills *ret with every candidate in discovery order and returns their count (at least the
 * defaults). host is --host (NULL or "" when unset) and host_source names it ("--host" when
 * NULL); config_host is the config's engine.host (NULL or "" when unset). Reads DOCKER_HOST,
 * CONTAINER_HOST, DOCKER_CONTEXT, DOCKER_CONFIG (or HOME) and XDG_RUNTIME_DIR from the
 * environment. Free with endpoint_candidates_free. */
size_t endpoint_candidates(const char *host, const char *host_source, const char *config_host,
                           endpoint_candidate **ret);
void endpoint_candidates_free(endpoint_candidate *c, size_t n);

#endif
