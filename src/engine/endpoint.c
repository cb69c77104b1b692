#include "engine/endpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "util/xalloc.h"
#include "util/banned.h"

#define DOCKER_DEFAULT_SOCKET "/var/run/docker.sock"

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int endpoint_parse(const char *uri, const char *source, engine_endpoint *out, nc_error **err)
{
    const char *path;
    if (!uri || !*uri)
        return nc_error_set(err, EINVAL, "empty engine address");
    if (has_prefix(uri, "unix://")) {
        path = uri + strlen("unix://");
        if (!*path)
            path = DOCKER_DEFAULT_SOCKET;
    } else if (uri[0] == '/') {
        path = uri;
    } else if (has_prefix(uri, "tcp://") || has_prefix(uri, "http://") ||
               has_prefix(uri, "https://")) {
        return nc_error_set(err, EPROTONOSUPPORT,
                            "tcp engines are not supported yet; use a unix:// socket, or forward "
                            "the remote one with 'ssh -L /tmp/engine.sock:/var/run/docker.sock'");
    } else if (has_prefix(uri, "ssh://")) {
        return nc_error_set(err, EPROTONOSUPPORT,
                            "ssh engines are not supported; forward the remote socket with "
                            "'ssh -L /tmp/engine.sock:/var/run/docker.sock' and use "
                            "unix:///tmp/engine.sock");
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

void endpoint_release(engine_endpoint *ep)
{
    free(ep->uri);
    free(ep->socket_path);
    free(ep->source);
    ep->uri = ep->socket_path = ep->source = NULL;
}

static void add(endpoint_candidate **c, size_t *n, char *uri, const char *source, bool user_set)
{
    *c = xreallocarray(*c, *n + 1, sizeof(**c));
    (*c)[*n] = (endpoint_candidate){uri, source, user_set};
    (*n)++;
}

size_t endpoint_candidates(const char *host, const char *host_source, const char *config_host,
                           endpoint_candidate **ret)
{
    endpoint_candidate *c = NULL;
    size_t n = 0;
    const char *env;
    if (host && *host)
        add(&c, &n, xstrdup(host), host_source ? host_source : "--host", true);
    if ((env = secure_getenv("DOCKER_HOST")) && *env)
        add(&c, &n, xstrdup(env), "DOCKER_HOST", true);
    if ((env = secure_getenv("CONTAINER_HOST")) && *env)
        add(&c, &n, xstrdup(env), "CONTAINER_HOST", true);
    /* The Docker context goes here, as in Docker's CLI: DOCKER_CONTEXT, else currentContext in
     * $DOCKER_CONFIG/config.json (~/.docker/config.json), naming an endpoint under
     * contexts/meta/. Not read yet; when it is, it is user-set (final) like the ones above. */
    if (config_host && *config_host)
        add(&c, &n, xstrdup(config_host), "config key engine.host", true);
    add(&c, &n, xstrdup("unix://" DOCKER_DEFAULT_SOCKET), "default Docker socket", false);
    env = secure_getenv("XDG_RUNTIME_DIR");
    if (env && *env)
        add(&c, &n, xasprintf("unix://%s/podman/podman.sock", env), "rootless Podman socket",
            false);
    add(&c, &n, xstrdup("unix:///run/podman/podman.sock"), "rootful Podman socket", false);
    *ret = c;
    return n;
}

void endpoint_candidates_free(endpoint_candidate *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].uri);
    free(c);
}
