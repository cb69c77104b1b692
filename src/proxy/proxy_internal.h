/* What the proxy's files share: the per-group state and one connection's context. */
#ifndef NC_PROXY_INTERNAL_H
#define NC_PROXY_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy/addr.h"
#include "proxy/audit.h"
#include "proxy/credential.h"
#include "proxy/policy.h"
#include "proxy/proxy.h"
#include "proxy/request.h"
#include "util/strbuf.h"

#define PROXY_HANDLE_POOL 8

typedef struct proxy_group {
    char *name;
    proxy_settings settings_copy;   /* the group's settings when it was added */
    const proxy_settings *settings; /* = &settings_copy */
    egress_policy *policy;
    proxy_credential *cred;
    proxy_url upstream;
    char *upstream_base; /* "https://host:port/base" */
    /* proxy.ca_file with the system CAs, written once as <dir>/<group>.ca.pem (NULL: no
     * ca_file), so libcurl parses the bundle once per handle and caches it */
    char *ca_path;
    /* (proxy.lock) idle libcurl handles, reused: they keep the parsed CA store, the DNS cache
     * and open upstream connections */
    void *handles[PROXY_HANDLE_POOL];
    size_t nhandles;
    char *socket_path;
    int listen_fd;
    /* under proxy.lock */
    int64_t active;
    int64_t requests;        /* this turn */
    uint64_t upstream_bytes; /* this turn */
    char *run_id;
} proxy_group;

struct proxy {
    char *dir;
    proxy_audit *audit;
    proxy_group **groups;
    size_t ngroups;
    pthread_mutex_t lock;
    pthread_mutex_t add_lock; /* one proxy_add_group at a time: a socket is made once */
    pthread_cond_t idle;      /* signalled when a connection thread ends */
    int64_t threads;
    int wake[2]; /* a byte wakes the accept thread (group added, stop) */
    bool stopping;
    bool accepting;
    pthread_t acceptor;
    int *conn_fds; /* open client connections, shut down on stop */
    size_t nconn_fds;
};

/* One connection's state, owned by its thread. */
typedef struct proxy_conn {
    proxy *p;
    proxy_group *g;
    int fd;
    uint64_t start_ms;      /* mono */
    uint64_t start_wall_ms; /* for the audit log */
    uint64_t deadline;      /* proxy.request_timeout from the start */
    strbuf in;              /* bytes read from the client, head first */
    strbuf body;            /* a chunked request's body, decoded */
    proxy_request req;
    bool have_req;
    proxy_audit_entry audit;
    char *rule; /* owned text for audit.rule */
    char *host; /* owned normalized name for audit.host */
} proxy_conn;

void proxy_conn_run(proxy_conn *c);

/* Charges n bytes against the group's per-turn upstream budget. Returns false when that goes
 * over proxy.max_upstream_bytes_per_turn (the bytes count all the same). */
bool proxy_charge(proxy_conn *c, uint64_t n);

/* Sends a complete error response with a JSON body (Messages API error shape) and records
 * status and reason in the audit entry. */
void proxy_respond_error(proxy_conn *c, int status, const char *type, const char *message);

/* The model API call (upstream.c): forwards c->req with body[0..len) and streams the answer. */
void proxy_forward_model(proxy_conn *c, const char *body, size_t len);
/* CONNECT and absolute-form plain HTTP (tunnel.c). */
void proxy_tunnel(proxy_conn *c);
void proxy_plain_http(proxy_conn *c, const char *body, size_t len);

/* Builds the CA bundle for proxy.ca_file: the system bundle curl uses, then the file. */
int proxy_upstream_ca_blob(const char *ca_file, strbuf *out, nc_error **err);
/* Frees the group's idle libcurl handles. */
void proxy_upstream_release(proxy_group *g);

#endif
