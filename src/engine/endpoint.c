#include "engine/endpoint.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/context.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define DOCKER_DEFAULT_SOCKET "/var/run/docker.sock"

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static char *tcp_uri(const char *host, int port)
{
    bool v6 = strchr(host, ':') != NULL;
    if (port)
        return xasprintf("tcp://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
    return xasprintf("tcp://%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "");
}

/* "host[:port]", "[v6]:port". */
static int parse_tcp(const char *hp, const char *source, engine_endpoint *out, nc_error **err)
{
    const char *slash = strchr(hp, '/');
    if (slash && slash[1])
        return nc_error_set(err, EPROTONOSUPPORT,
                            "a base path after a tcp address is not "
                            "supported");
    size_t len = slash ? (size_t)(slash - hp) : strlen(hp);
    const char *host = hp, *port = NULL;
    size_t hlen;
    if (len && hp[0] == '[') {
        const char *close = memchr(hp, ']', len);
        if (!close)
            return nc_error_set(err, EINVAL, "unclosed '[' in a tcp address");
        host = hp + 1;
        hlen = (size_t)(close - host);
        for (size_t i = 0; i < hlen; i++)
            if (!isxdigit((unsigned char)host[i]) && host[i] != ':' && host[i] != '.')
                return nc_error_set(err, EINVAL, "invalid IPv6 address in a tcp address");
        if (close + 1 < hp + len) {
            if (close[1] != ':')
                return nc_error_set(err, EINVAL, "junk after ']' in a tcp address");
            port = close + 2;
        }
    } else {
        const char *colon = memchr(hp, ':', len);
        hlen = colon ? (size_t)(colon - hp) : len;
        port = colon ? colon + 1 : NULL;
        for (size_t i = 0; i < hlen; i++)
            if (!isalnum((unsigned char)host[i]) && host[i] != '.' && host[i] != '-' &&
                host[i] != '_')
                return nc_error_set(err, EINVAL, "invalid host name in a tcp address");
    }
    if (!hlen || hlen > 253)
        return nc_error_set(err, EINVAL, "a tcp address needs a host (tcp://host:port)");
    int p = 0;
    if (port) {
        size_t plen = (size_t)(hp + len - port);
        if (!plen || plen > 5)
            return nc_error_set(err, EINVAL, "invalid port in a tcp address");
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)port[i]))
                return nc_error_set(err, EINVAL, "invalid port in a tcp address");
            p = p * 10 + (port[i] - '0');
        }
        if (p < 1 || p > 65535)
            return nc_error_set(err, EINVAL, "port %d out of range in a tcp address", p);
    }
    out->tcp_host = xstrndup(host, hlen);
    out->tcp_port = p;
    out->uri = tcp_uri(out->tcp_host, p);
    out->source = xstrdup(source);
    return 0;
}

int endpoint_parse(const char *uri, const char *source, engine_endpoint *out, nc_error **err)
{
    const char *path;
    if (!uri || !*uri)
        return nc_error_set(err, EINVAL, "empty engine address");
    if (has_prefix(uri, "tcp://"))
        return parse_tcp(uri + strlen("tcp://"), source, out, err);
    if (has_prefix(uri, "unix://")) {
        path = uri + strlen("unix://");
        if (!*path)
            path = DOCKER_DEFAULT_SOCKET;
    } else if (uri[0] == '/') {
        path = uri;
    } else if (has_prefix(uri, "http://") || has_prefix(uri, "https://")) {
        return nc_error_set(err, EPROTONOSUPPORT,
                            "write a remote engine as tcp://host:port (TLS comes from the "
                            "engine.tls_* keys or DOCKER_TLS_VERIFY)");
    } else if (has_prefix(uri, "ssh://")) {
        return nc_error_set(err, EPROTONOSUPPORT,
                            "ssh engines are not supported, since nanocell never runs other "
                            "programs; forward the remote socket with 'ssh -N -L "
                            "/tmp/engine.sock:/var/run/docker.sock host' and use "
                            "unix:///tmp/engine.sock (README: remote engines)");
    } else if (has_prefix(uri, "npipe://")) {
        return nc_error_set(err, EPROTONOSUPPORT,
                            "named pipes are Windows-only; under WSL use the engine's unix socket");
    } else if (has_prefix(uri, "fd://")) {
        return nc_error_set(err, EPROTONOSUPPORT, "fd:// is for daemons, not clients");
    } else {
        return nc_error_set(err, EINVAL, "unrecognised engine address: expected unix:///path");
    }
    if (path[0] != '/')
        return nc_error_set(err, EINVAL, "the socket path must be absolute");
    size_t len = strlen(path);
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    if (len > max)
        return nc_error_set(err, ENAMETOOLONG,
                            "socket path is %zu bytes, more than the %zu a unix socket address "
                            "holds",
                            len, max);
    out->socket_path = xstrdup(path);
    out->uri = xasprintf("unix://%s", path);
    out->source = xstrdup(source);
    return 0;
}

static void tls_release(engine_tls *t)
{
    free(t->ca);
    free(t->cert);
    free(t->key);
    free(t->server_name);
    *t = (engine_tls){0};
}

void endpoint_release(engine_endpoint *ep)
{
    free(ep->uri);
    free(ep->socket_path);
    free(ep->tcp_host);
    free(ep->source);
    free(ep->context);
    tls_release(&ep->tls);
    *ep = (engine_endpoint){0};
}

bool endpoint_is_local(const engine_endpoint *ep)
{
    if (!ep->tcp_host)
        return true;
    const char *h = ep->tcp_host;
    if (strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0)
        return true;
    /* 127.x.y.z as an address, never a name that merely starts so ("127.example.com"). */
    if (!has_prefix(h, "127."))
        return false;
    return strspn(h, "0123456789.") == strlen(h);
}

void endpoint_copy(engine_endpoint *dst, const engine_endpoint *src)
{
    *dst = (engine_endpoint){
        .uri = xstrdup_or_null(src->uri),
        .socket_path = xstrdup_or_null(src->socket_path),
        .tcp_host = xstrdup_or_null(src->tcp_host),
        .tcp_port = src->tcp_port,
        .source = xstrdup_or_null(src->source),
        .context = xstrdup_or_null(src->context),
        .tls = {.enabled = src->tls.enabled,
                .verify = src->tls.verify,
                .ca = xstrdup_or_null(src->tls.ca),
                .cert = xstrdup_or_null(src->tls.cert),
                .key = xstrdup_or_null(src->tls.key),
                .server_name = xstrdup_or_null(src->tls.server_name)},
    };
}

/* dir/name when that file exists, else NULL. */
static char *file_in(const char *dir, const char *name)
{
    char *p = xasprintf("%s/%s", dir, name);
    if (access(p, F_OK) == 0)
        return p;
    free(p);
    return NULL;
}

static int need_file(const char *key, const char *path, nc_error **err)
{
    if (path && access(path, R_OK) < 0)
        return nc_error_set(err, errno, "%s '%s': %s", key, path, strerror(errno));
    return 0;
}

static bool set(const char *s)
{
    return s && *s;
}

int endpoint_setup_tls(engine_endpoint *ep, const endpoint_tls_config *cfg, const char *tls_dir,
                       bool skip_verify, nc_error **err)
{
    if (!ep->tcp_host)
        return 0;
    engine_tls t = {0};
    const char *what;
    if (ep->context) {
        what = "the context's TLS files";
        if (tls_dir) {
            t = (engine_tls){.enabled = true,
                             .verify = !skip_verify,
                             .ca = file_in(tls_dir, "ca.pem"),
                             .cert = file_in(tls_dir, "cert.pem"),
                             .key = file_in(tls_dir, "key.pem")};
        } else if (skip_verify) {
            t.enabled = true;
        }
    } else if (set(cfg->ca) || set(cfg->cert) || set(cfg->key) || set(cfg->server_name)) {
        what = "engine.tls_cert and engine.tls_key";
        t = (engine_tls){.enabled = true,
                         .verify = true,
                         .ca = set(cfg->ca) ? xstrdup(cfg->ca) : NULL,
                         .cert = set(cfg->cert) ? xstrdup(cfg->cert) : NULL,
                         .key = set(cfg->key) ? xstrdup(cfg->key) : NULL,
                         .server_name = set(cfg->server_name) ? xstrdup(cfg->server_name) : NULL};
    } else {
        what = "DOCKER_CERT_PATH's cert.pem and key.pem";
        const char *verify = secure_getenv("DOCKER_TLS_VERIFY");
        const char *tls = secure_getenv("DOCKER_TLS");
        const char *certs = secure_getenv("DOCKER_CERT_PATH");
        if (set(verify) || set(tls) || set(certs)) {
            _cleanup_free_ char *dir = set(certs) ? xstrdup(certs) : docker_config_dir();
            t.enabled = true;
            t.verify = set(verify);
            if (dir) {
                t.ca = file_in(dir, "ca.pem");
                t.cert = file_in(dir, "cert.pem");
                t.key = file_in(dir, "key.pem");
            }
        }
    }
    int r = 0;
    if (!t.cert != !t.key)
        r = nc_error_set(err, EINVAL, "a client certificate needs its key and the reverse (%s)",
                         what);
    if (r == 0)
        r = need_file("CA file", t.ca, err);
    if (r == 0)
        r = need_file("client certificate", t.cert, err);
    if (r == 0)
        r = need_file("client key", t.key, err);
    if (r == 0 && !t.enabled && !cfg->allow_insecure)
        r = nc_error_set(err, EPERM,
                         "plain tcp without TLS is refused: whoever reaches an engine's API is "
                         "root on its host; give it TLS (engine.tls_ca, engine.tls_cert, "
                         "engine.tls_key, or DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH), or set "
                         "engine.allow_insecure_tcp = true on a network only you can reach");
    if (r == 0 && t.enabled && !t.verify && !cfg->allow_insecure)
        r = nc_error_set(err, EPERM,
                         "TLS without verifying the engine's certificate is refused (anyone on "
                         "the path could be the engine); set DOCKER_TLS_VERIFY=1 with a ca.pem, "
                         "or engine.allow_insecure_tcp = true");
    if (r < 0) {
        tls_release(&t);
        return r;
    }
    tls_release(&ep->tls);
    ep->tls = t;
    if (!ep->tcp_port) {
        ep->tcp_port = t.enabled ? 2376 : 2375;
        free(ep->uri);
        ep->uri = tcp_uri(ep->tcp_host, ep->tcp_port);
    }
    return 0;
}

static endpoint_candidate *add(endpoint_candidate **c, size_t *n, char *uri, char *source,
                               bool user_set)
{
    *c = xreallocarray(*c, *n + 1, sizeof(**c));
    (*c)[*n] = (endpoint_candidate){.uri = uri, .source = source, .user_set = user_set};
    return &(*c)[(*n)++];
}

/* The Docker context name from source (DOCKER_CONTEXT or currentContext), as a candidate. */
static void add_context(endpoint_candidate **c, size_t *n, const char *dir, char *name,
                        char *source)
{
    docker_context ctx = {0};
    _cleanup_error_ nc_error *cerr = NULL;
    char *label = xasprintf("Docker context '%s' from %s", name, source);
    free(source);
    if (docker_context_load(dir, name, &ctx, &cerr) < 0) {
        endpoint_candidate *e = add(c, n, xasprintf("context:%s", name), label, true);
        e->context = name;
        e->error = xstrdup(nc_error_msg(cerr));
        return;
    }
    endpoint_candidate *e = add(c, n, TAKE_PTR(ctx.host), label, true);
    e->context = name;
    e->tls_dir = TAKE_PTR(ctx.tls_dir);
    e->skip_tls_verify = ctx.skip_tls_verify;
    docker_context_release(&ctx);
}

size_t endpoint_candidates(const char *host, const char *host_source, const char *config_host,
                           endpoint_candidate **ret)
{
    endpoint_candidate *c = NULL;
    size_t n = 0;
    const char *env;
    if (host && *host)
        add(&c, &n, xstrdup(host), xstrdup(host_source ? host_source : "--host"), true);
    if ((env = secure_getenv("DOCKER_HOST")) && *env)
        add(&c, &n, xstrdup(env), xstrdup("DOCKER_HOST"), true);
    if ((env = secure_getenv("CONTAINER_HOST")) && *env)
        add(&c, &n, xstrdup(env), xstrdup("CONTAINER_HOST"), true);
    /* DOCKER_CONTEXT, else currentContext in Docker's config.json. */
    _cleanup_free_ char *dir = docker_config_dir();
    char *ctx_name = NULL, *ctx_source = NULL;
    _cleanup_error_ nc_error *cerr = NULL;
    int cr = docker_context_current(dir, &ctx_name, &ctx_source, &cerr);
    bool ctx_env = cr > 0 && strcmp(ctx_source, "DOCKER_CONTEXT") == 0;
    if (ctx_env)
        add_context(&c, &n, dir, ctx_name, ctx_source);
    if (config_host && *config_host)
        add(&c, &n, xstrdup(config_host), xstrdup("config key engine.host"), true);
    if (cr > 0 && !ctx_env) {
        add_context(&c, &n, dir, ctx_name, ctx_source);
    } else if (cr < 0) {
        endpoint_candidate *e =
            add(&c, &n, xasprintf("%s/config.json", dir), xstrdup("Docker's config.json"), true);
        e->error = xstrdup(nc_error_msg(cerr));
    }
    add(&c, &n, xstrdup("unix://" DOCKER_DEFAULT_SOCKET), xstrdup("default Docker socket"), false);
    env = secure_getenv("XDG_RUNTIME_DIR");
    if (env && *env)
        add(&c, &n, xasprintf("unix://%s/podman/podman.sock", env),
            xstrdup("rootless Podman socket"), false);
    add(&c, &n, xstrdup("unix:///run/podman/podman.sock"), xstrdup("rootful Podman socket"), false);
    *ret = c;
    return n;
}

void endpoint_candidates_free(endpoint_candidate *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].uri);
        free(c[i].source);
        free(c[i].context);
        free(c[i].tls_dir);
        free(c[i].error);
    }
    free(c);
}
