/* A connection to one container engine (Docker Engine, or Podman's Docker-compatible API):
 * discovery, version negotiation, and the one call path every endpoint goes through.
 *
 * engine_open() walks the candidates of endpoint.h in order, checks each socket (missing, not a
 * socket, permission denied), pings it, and negotiates the API version: min(engine,
 * ENGINE_API_MAX), refusing engines older than ENGINE_API_MIN. Every later path is prefixed
 * "/v1.NN". The first user-set address is final (endpoint.h).
 *
 * Errors from the engine carry the HTTP status (nc_error.http_status) and the engine's own
 * message, read from the JSON "message" field (Docker and Podman) or the raw text (Docker's
 * hijacked replies): "404 No such container: abc". Callers add what they were doing. */
#ifndef NC_ENGINE_ENGINE_H
#define NC_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/endpoint.h"
#include "engine/http.h"
#include "util/error.h"
#include "util/json.h"
#include "util/strbuf.h"

#define ENGINE_API_MIN 40 /* v1.40: Docker 19.03, Podman 3 */
#define ENGINE_API_MAX 47 /* v1.47: the newest we speak */

#define ENGINE_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define ENGINE_DEFAULT_REQUEST_TIMEOUT_MS 30000
#define ENGINE_DEFAULT_MAX_RESPONSE (8u * 1024 * 1024)

typedef struct engine_opts {
    const char *host;        /* --host; NULL or "" when not given */
    const char *host_source; /* names the host's origin in messages; NULL: "--host" */
    const char *config_host; /* the config's engine.host; NULL or "" when unset */
    endpoint_tls_config tls; /* engine.tls_* and engine.allow_insecure_tcp, for tcp engines */
    bool probe_all; /* with a report: probe the candidates after the one chosen too (doctor) */
    long connect_timeout_ms;
    long request_timeout_ms;
    size_t max_response_bytes;
} engine_opts;

typedef enum engine_kind { ENGINE_DOCKER, ENGINE_PODMAN } engine_kind;

/* Fields are read-only for users of the engine. */
typedef struct engine {
    engine_endpoint ep;
    engine_kind kind;
    int api_minor;    /* the negotiated version is 1.<api_minor> */
    int server_api;   /* the engine's own maximum, 1.<server_api> */
    char *api_prefix; /* "/v1.NN" */
    char *server;     /* the Server header, e.g. "Docker/20.10.24 (linux)" */
    char *version;    /* the release in it, e.g. "20.10.24"; "unknown" when absent */
    char *libpod_api; /* Podman's Libpod-Api-Version, NULL for Docker */
    http_opts http_opts;
    http_client *http; /* one handle, reused: keep-alive across calls */
} engine;

/* One candidate address as engine_open found it. */
typedef struct engine_probe {
    char *uri;
    char *source;  /* where the address came from, e.g. "DOCKER_HOST" */
    char *context; /* the Docker context it came from, NULL for none */
    bool user_set;
    bool tried;       /* false: not reached, the choice was made before it */
    bool chosen;      /* the engine engine_open returned */
    bool bad_address; /* malformed or unsupported address: a usage error, nothing was probed */
    int code;         /* 0 when an engine answered there, else the positive errno */
    char *state;      /* "ok", why not ("missing", "permission denied ..."), or "not tried" */
} engine_probe;

typedef struct engine_report {
    engine_probe *probes; /* every candidate, in discovery order */
    size_t n;
} engine_report;

void engine_report_release(engine_report *r);

/* Finds and connects to an engine. When report is not NULL it receives every candidate and
 * its state (for `nanocell doctor`, and for callers that tell a bad address from a missing
 * engine); with o->probe_all the candidates after the chosen one are probed as well, else
 * they are left "not tried". The error names every candidate and why it failed. */
int engine_open(const engine_opts *o, engine_report *report, engine **ret, nc_error **err);
void engine_free(engine *e);
/* Connects to the one engine at ep (taken over, released on failure), with no discovery: for
 * callers that name their engines themselves (the daemon's [[engines]]). ep must have been
 * through endpoint_setup_tls. */
int engine_open_endpoint(const engine_opts *o, engine_endpoint *ep, engine **ret, nc_error **err);
/* Fills e->http_opts from e->ep and o's limits (0: the defaults). */
void engine_set_http_opts(engine *e, const engine_opts *o);
/* A second connection to the engine e talks to, with what e negotiated (API version, kind,
 * version), opened with no round trip: for threads that each need their own connection to an
 * engine already checked. The connection itself is made by the first call. */
engine *engine_dup(const engine *e);
NC_DEFINE_CLEANUP(engine *, engine_free)
#define _cleanup_engine_ _cleanup_(engine_freep)

const char *engine_kind_name(engine_kind k);

/* Makes one API call. target is relative to the version prefix, query included
 * ("/containers/json?all=1"). A non-NULL json_body is sent as application/json. On 2xx or 304
 * it returns the status (the caller decides what 304 means) and, when ret_json is not NULL,
 * the parsed body (NULL when the body is empty). Any other status is an error with the
 * engine's message. */
int engine_call(engine *e, const char *method, const char *target, const char *json_body,
                nc_json **ret_json, nc_error **err);

/* Like engine_call, for replies that are not JSON: on 2xx or 304 the reply is left in *resp
 * (release it with http_response_release); on failure nothing is left to release. */
int engine_call_raw(engine *e, const char *method, const char *target, const char *json_body,
                    http_response *resp, nc_error **err);

/* Turns a non-2xx reply into an error: "<status> <engine message>". The errno follows the
 * status (404 ENOENT, 409 EBUSY, 400 EINVAL, 401/403 EACCES, 501 ENOSYS, 503 EAGAIN, else
 * EIO). Returns the negative errno. */
int engine_reply_error(long status, const char *body, size_t len, nc_error **err);

typedef struct engine_info {
    char *server_version; /* engine release, e.g. "20.10.24+dfsg1" or "4.3.1" */
    char *min_api;        /* oldest API version the engine serves, e.g. "1.12" */
    char *os;
    char *kernel;
    char *cgroup_version; /* "1" or "2"; NULL when the engine does not say */
    char *cgroup_driver;
    char *default_runtime;
    char **runtimes;         /* names the engine has configured; not proof they work */
    char **security_options; /* e.g. "name=seccomp,profile=default", "name=rootless" */
    bool rootless;
    bool seccomp;
    bool apparmor;
    bool selinux;
    bool userns;
    bool memory_limit; /* what the engine says its cgroups support */
    bool swap_limit;
    bool pids_limit;
    bool cpu_cfs_quota;
    int64_t ncpu;
    int64_t mem_total;
} engine_info;

/* GET /info and /version. Fields an engine leaves out stay NULL/false. */
int engine_get_info(engine *e, engine_info *ret, nc_error **err);
void engine_info_release(engine_info *i);

/* Percent-encodes s for a URL query value or path segment: everything but RFC 3986 unreserved
 * characters. Returns an allocated string. */
char *engine_url_escape(const char *s);

#endif
