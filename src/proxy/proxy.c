/* The proxy's sockets and threads (see proxy.h): one accept thread polls every group's
 * listening socket, and each connection gets a detached thread of its own (conn.c). */
#include "proxy/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proxy/proxy_internal.h"
#include "sandbox/settings.h"
#include "util/fileutil.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Pending connections per listening socket. */
#define PROXY_BACKLOG 64

static void group_free(proxy_group *g)
{
    if (!g)
        return;
    if (g->listen_fd >= 0)
        close(g->listen_fd);
    if (g->socket_path)
        unlink(g->socket_path);
    proxy_upstream_release(g);
    if (g->ca_path)
        unlink(g->ca_path);
    free(g->ca_path);
    free(g->name);
    proxy_settings_release(&g->settings_copy);
    egress_policy_free(g->policy);
    proxy_credential_free(g->cred);
    proxy_url_release(&g->upstream);
    free(g->upstream_base);
    free(g->socket_path);
    free(g->run_id);
    free(g);
}

static void wake(proxy *p)
{
    char b = 1;
    ssize_t n = write(p->wake[1], &b, 1);
    (void)n; /* a full pipe already wakes the thread */
}

static void track_fd(proxy *p, int fd)
{
    p->conn_fds = xreallocarray(p->conn_fds, p->nconn_fds + 1, sizeof(int));
    p->conn_fds[p->nconn_fds++] = fd;
}

static void untrack_fd(proxy *p, int fd)
{
    for (size_t i = 0; i < p->nconn_fds; i++)
        if (p->conn_fds[i] == fd) {
            p->conn_fds[i] = p->conn_fds[--p->nconn_fds];
            return;
        }
}

static void *conn_thread(void *arg)
{
    proxy_conn *c = arg;
    proxy *p = c->p;
    proxy_conn_run(c);
    pthread_mutex_lock(&p->lock);
    c->g->active--;
    untrack_fd(p, c->fd);
    close(c->fd);
    p->threads--;
    pthread_cond_broadcast(&p->idle);
    pthread_mutex_unlock(&p->lock);
    free(c);
    return NULL;
}

/* Answers 429 at once, without a thread, when the group has no connection slot left. */
static void refuse_busy(proxy *p, proxy_group *g, int fd)
{
    proxy_conn c = {.p = p, .g = g, .fd = fd, .start_ms = mono_ms(), .start_wall_ms = wall_ms()};
    c.deadline = deadline_after(c.start_ms, 1000);
    c.audit = (proxy_audit_entry){.time_ms = c.start_wall_ms, .group = g->name, .kind = "-"};
    _cleanup_free_ char *why =
        xasprintf("group '%s' has %lld connections open (proxy.max_connections)", g->name,
                  (long long)g->settings->max_connections);
    proxy_respond_error(&c, 429, "rate_limit_error", why);
    proxy_audit_write(p->audit, &c.audit);
    free(c.rule);
}

/* Takes fd: a thread serves it, or it is refused. */
static int serve(proxy *p, proxy_group *g, int fd, nc_error **err)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        return nc_error_set(err, e, "proxy connection: %s", strerror(e));
    }
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        close(fd);
        return nc_error_set(err, ESHUTDOWN, "the proxy is stopping");
    }
    if (g->active >= g->settings->max_connections) {
        pthread_mutex_unlock(&p->lock);
        refuse_busy(p, g, fd);
        close(fd);
        return 0;
    }
    proxy_conn *c = xnew0(proxy_conn);
    c->p = p;
    c->g = g;
    c->fd = fd;
    g->active++;
    p->threads++;
    track_fd(p, fd);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int r = pthread_create(&t, &attr, conn_thread, c);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        g->active--;
        p->threads--;
        untrack_fd(p, fd);
        pthread_mutex_unlock(&p->lock);
        close(fd);
        free(c);
        return nc_error_set(err, r, "proxy connection thread: %s", strerror(r));
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static void *accept_thread(void *arg)
{
    proxy *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        if (p->stopping) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        size_t n = p->ngroups;
        struct pollfd *fds = xreallocarray(NULL, n + 1, sizeof(*fds));
        proxy_group **gs = xreallocarray(NULL, n + 1, sizeof(*gs));
        for (size_t i = 0; i < n; i++) {
            fds[i] = (struct pollfd){.fd = p->groups[i]->listen_fd, .events = POLLIN};
            gs[i] = p->groups[i];
        }
        pthread_mutex_unlock(&p->lock);
        fds[n] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        int r = poll(fds, n + 1, -1);
        if (r > 0 && (fds[n].revents & POLLIN)) {
            char buf[64];
            while (read(p->wake[0], buf, sizeof(buf)) > 0)
                ;
        }
        for (size_t i = 0; r > 0 && i < n; i++) {
            if (!(fds[i].revents & POLLIN))
                continue;
            int fd = accept4(fds[i].fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0)
                continue; /* EAGAIN, or a peer gone before accept: nothing to serve */
            nc_error *err = NULL;
            if (serve(p, gs[i], fd, &err) < 0)
                nc_error_free(err);
        }
        free(fds);
        free(gs);
    }
}

int proxy_new(const nc_config *cfg, proxy **ret, nc_error **err)
{
    _cleanup_free_ char *base = xasprintf("%s/proxy", cfg->data_dir);
    int r = mkdir_p(base, 0711, err);
    if (r < 0)
        return nc_error_wrap(err, "proxy directory");
    proxy *p = xnew0(proxy);
    p->wake[0] = p->wake[1] = -1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->add_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->idle, &ca);
    pthread_condattr_destroy(&ca);
    p->dir = xasprintf("%s/%ld", base, (long)getpid());
    _cleanup_free_ char *audit = proxy_audit_path(cfg->data_dir);
    if (mkdir(p->dir, 0700) < 0 && errno != EEXIST) {
        r = nc_error_set(err, errno, "create '%s': %s", p->dir, strerror(errno));
        goto fail;
    }
    if ((r = proxy_audit_open(audit, cfg->proxy_audit_max, &p->audit, err)) < 0)
        goto fail;
    if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        r = nc_error_set(err, errno, "pipe: %s", strerror(errno));
        goto fail;
    }
    if ((r = pthread_create(&p->acceptor, NULL, accept_thread, p)) != 0) {
        r = nc_error_set(err, r, "proxy thread: %s", strerror(r));
        goto fail;
    }
    p->accepting = true;
    *ret = p;
    return 0;
fail:
    proxy_free(p);
    return r;
}

static proxy_group *find_group(proxy *p, const char *name)
{
    for (size_t i = 0; i < p->ngroups; i++)
        if (strcmp(p->groups[i]->name, name) == 0)
            return p->groups[i];
    return NULL;
}

static int listen_unix(const char *path, uid_t uid, gid_t gid, nc_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return nc_error_set(err, ENAMETOOLONG, "proxy socket path '%s' is longer than %zu bytes",
                            path, sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return nc_error_set(err, errno, "socket: %s", strerror(errno));
    unlink(path);
    /* Created with no access at all, then opened to exactly the container's user. */
    mode_t old = umask(0777);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    umask(old);
    if (r < 0)
        return nc_error_set(err, e, "bind proxy socket '%s': %s", path, strerror(e));
    if (geteuid() == 0) {
        if (chown(path, uid, gid) < 0 || chmod(path, 0600) < 0)
            return nc_error_set(err, errno, "proxy socket '%s': %s", path, strerror(errno));
    } else if (chmod(path, 0666) < 0) {
        /* Rootless: the container's user is a subordinate uid; the 0700 directory keeps every
         * other host user out, and the container sees only this file. */
        return nc_error_set(err, errno, "proxy socket '%s': %s", path, strerror(errno));
    }
    if (listen(fd, PROXY_BACKLOG) < 0)
        return nc_error_set(err, errno, "listen on '%s': %s", path, strerror(errno));
    return TAKE_FD(fd);
}

static int group_new(proxy *p, const nc_config *cfg, const char *name, proxy_group **ret,
                     nc_error **err)
{
    proxy_group *g = xnew0(proxy_group);
    g->listen_fd = -1;
    g->name = xstrdup(name);
    proxy_settings_copy(&g->settings_copy, config_proxy(cfg, name));
    g->settings = &g->settings_copy;
    const sandbox_settings *s = config_sandbox(cfg, name);
    uid_t uid;
    gid_t gid;
    int r;
    if ((r = sandbox_parse_user(s->user, &uid, &gid, err)) < 0 ||
        (r = proxy_credential_load(g->settings, &g->cred, err)) < 0 ||
        (r = egress_policy_for(g->settings, &g->policy, err)) < 0 ||
        (r = proxy_url_parse(g->settings->upstream, &g->upstream, err)) < 0)
        goto fail;
    g->upstream_base =
        xasprintf("https://%s:%u%s", g->upstream.host, g->upstream.port, g->upstream.base_path);
    if (*g->settings->ca_file) {
        _cleanup_strbuf_ strbuf bundle = STRBUF_INIT;
        _cleanup_free_ char *path = xasprintf("%s/%s.ca.pem", p->dir, name);
        if ((r = proxy_upstream_ca_blob(g->settings->ca_file, &bundle, err)) < 0 ||
            (r = write_file_atomic(path, bundle.buf, bundle.len, 0600, err)) < 0)
            goto fail;
        g->ca_path = TAKE_PTR(path);
    }
    g->socket_path = xasprintf("%s/%s.sock", p->dir, name);
    if ((r = listen_unix(g->socket_path, uid, gid, err)) < 0) {
        free(TAKE_PTR(g->socket_path));
        goto fail;
    }
    g->listen_fd = r;
    *ret = g;
    return 0;
fail:
    group_free(g);
    return nc_error_wrap(err, "proxy for group '%s'", name);
}

int proxy_add_group(proxy *p, const nc_config *cfg, const char *group, const char **ret_socket,
                    nc_error **err)
{
    pthread_mutex_lock(&p->add_lock);
    pthread_mutex_lock(&p->lock);
    proxy_group *g = find_group(p, group);
    pthread_mutex_unlock(&p->lock);
    int r = 0;
    if (!g && !config_valid_group_name(group))
        r = nc_error_set(err, EINVAL, "invalid group name '%s'", group);
    else if (!g && (r = group_new(p, cfg, group, &g, err)) == 0) {
        pthread_mutex_lock(&p->lock);
        p->groups = xreallocarray(p->groups, p->ngroups + 1, sizeof(*p->groups));
        p->groups[p->ngroups++] = g;
        pthread_mutex_unlock(&p->lock);
        wake(p);
    }
    pthread_mutex_unlock(&p->add_lock);
    if (r < 0)
        return r;
    if (ret_socket)
        *ret_socket = g->socket_path;
    return 0;
}

void proxy_begin_turn(proxy *p, const char *group, const char *run_id)
{
    pthread_mutex_lock(&p->lock);
    proxy_group *g = find_group(p, group);
    if (g) {
        g->requests = 0;
        g->upstream_bytes = 0;
        free(g->run_id);
        g->run_id = run_id ? xstrdup(run_id) : NULL;
    }
    pthread_mutex_unlock(&p->lock);
}

int proxy_serve_fd(proxy *p, const char *group, int fd, nc_error **err)
{
    pthread_mutex_lock(&p->lock);
    proxy_group *g = find_group(p, group);
    pthread_mutex_unlock(&p->lock);
    if (!g) {
        close(fd);
        return nc_error_set(err, ENOENT, "the proxy does not serve group '%s'", group);
    }
    return serve(p, g, fd, err);
}

void proxy_free(proxy *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    for (size_t i = 0; i < p->nconn_fds; i++)
        shutdown(p->conn_fds[i], SHUT_RDWR);
    pthread_mutex_unlock(&p->lock);
    if (p->accepting) {
        wake(p);
        pthread_join(p->acceptor, NULL);
    }
    pthread_mutex_lock(&p->lock);
    while (p->threads > 0) {
        /* A thread in a libcurl transfer notices within its progress callback's period. */
        for (size_t i = 0; i < p->nconn_fds; i++)
            shutdown(p->conn_fds[i], SHUT_RDWR);
        struct timespec ts = mono_timespec_after(200);
        pthread_cond_timedwait(&p->idle, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->ngroups; i++)
        group_free(p->groups[i]);
    free(p->groups);
    free(p->conn_fds);
    if (p->dir)
        rmdir(p->dir);
    free(p->dir);
    proxy_audit_close(p->audit);
    if (p->wake[0] >= 0)
        close(p->wake[0]);
    if (p->wake[1] >= 0)
        close(p->wake[1]);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->add_lock);
    free(p);
}

char **proxy_container_env(const char *model)
{
    char **env = NULL;
    strv_push(&env, "NANOCELL_MODEL_SOCKET=" PROXY_CONTAINER_SOCKET);
    strv_push_take(&env, xasprintf("NANOCELL_MODEL=%s", model));
    strv_push(&env, "HTTPS_PROXY=" PROXY_CONTAINER_HTTP_PROXY);
    strv_push(&env, "HTTP_PROXY=" PROXY_CONTAINER_HTTP_PROXY);
    strv_push(&env, "https_proxy=" PROXY_CONTAINER_HTTP_PROXY);
    strv_push(&env, "http_proxy=" PROXY_CONTAINER_HTTP_PROXY);
    /* ANTHROPIC_BASE_URL is on loopback: a client that honours the proxy variables (wget,
     * httpx) must go there directly, not ask the egress proxy for 127.0.0.1, which it refuses. */
    strv_push(&env, "NO_PROXY=127.0.0.1,localhost");
    strv_push(&env, "no_proxy=127.0.0.1,localhost");
    strv_push(&env, "ANTHROPIC_BASE_URL=" PROXY_CONTAINER_BASE_URL);
    strv_push(&env, "ANTHROPIC_API_KEY=" PROXY_PLACEHOLDER_KEY);
    return env;
}
