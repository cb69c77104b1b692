/* Egress for the agent's other tools: CONNECT tunnels and absolute-form plain-HTTP requests.
 * Both go through one gate: the host must be a name (never an address), the policy must allow
 * name:port (deny wins), and every address the name resolves to must be public unless an
 * allow_private entry matches. The proxy then connects to an address it checked itself. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/io.h"
#include "proxy/proxy_internal.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Connecting to one upstream address may take this long. */
#define CONNECT_TIMEOUT_MS 10000
#define RELAY_CHUNK 65536

/* Applies the gate and connects. Returns the upstream fd, or responds and returns -1. */
static int open_upstream(proxy_conn *c)
{
    const proxy_request *r = &c->req;
    c->host = proxy_name_normalize(r->host, strlen(r->host));
    if (!c->host) {
        c->rule = xstrdup("not a host name");
        _cleanup_free_ char *why =
            xasprintf("'%s' is not a host name: addresses are never allowed, only names", r->host);
        proxy_respond_error(c, 403, "permission_error", why);
        return -1;
    }
    bool private_ok = false;
    if (!egress_allows(c->g->policy, c->host, r->port, &c->rule, &private_ok)) {
        _cleanup_free_ char *why =
            xasprintf("egress to %s:%u is not allowed (%s)", c->host, r->port, c->rule);
        proxy_respond_error(c, 403, "permission_error", why);
        return -1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", r->port);
    int gr = getaddrinfo(c->host, port, &hints, &res);
    if (gr != 0) {
        _cleanup_free_ char *why = xasprintf("cannot resolve '%s': %s", c->host, gai_strerror(gr));
        proxy_respond_error(c, 502, "api_error", why);
        return -1;
    }
    /* Every address first: a name with one private address among public ones is refused
     * whole, so which one a connect picks never matters. */
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (!private_ok && proxy_addr_private(ai->ai_addr)) {
            freeaddrinfo(res);
            free(c->rule);
            c->rule = xasprintf("private address refused for %s", c->host);
            _cleanup_free_ char *why =
                xasprintf("'%s' resolves to a private, loopback or link-local address: refused (an "
                          "allow_private entry would allow it)",
                          c->host);
            proxy_respond_error(c, 403, "permission_error", why);
            return -1;
        }
    }
    int fd = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        uint64_t dl = deadline_after(mono_ms(), CONNECT_TIMEOUT_MS);
        if (dl > c->deadline)
            dl = c->deadline;
        fd = proxy_io_connect(ai->ai_addr, ai->ai_addrlen, dl);
    }
    freeaddrinfo(res);
    if (fd < 0) {
        _cleanup_free_ char *why =
            xasprintf("cannot connect to %s:%u: %s", c->host, r->port, strerror(-fd));
        proxy_respond_error(c, 502, "api_error", why);
        return -1;
    }
    return fd;
}

static int atoi_status(const char *p)
{
    int v = 0;
    for (int i = 0; i < 3; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* Copies bytes both ways until both sides are done or the deadline. to_client_only: plain
 * HTTP, where the agent's later bytes are never sent (they could be a second request). */
static void relay(proxy_conn *c, int up, bool to_client_only)
{
    char *buf = xmalloc(RELAY_CHUNK);
    bool client_open = !to_client_only, up_open = true;
    while (client_open || up_open) {
        uint64_t left = ms_until(c->deadline);
        if (!left)
            break;
        struct pollfd fds[2] = {{.fd = client_open ? c->fd : -1, .events = POLLIN},
                                {.fd = up_open ? up : -1, .events = POLLIN}};
        int n = poll(fds, 2, left > 60000 ? 60000 : (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int from = i == 0 ? c->fd : up, to = i == 0 ? up : c->fd;
            ssize_t got = read(from, buf, RELAY_CHUNK);
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (got <= 0) {
                if (i == 0)
                    client_open = false;
                else
                    up_open = false;
                shutdown(to, SHUT_WR);
                if (got < 0 || i == 1) /* upstream done: the tunnel is done */
                    goto out;
                continue;
            }
            if (i == 1 && c->audit.status == 0 && got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0)
                c->audit.status = atoi_status(buf + 9);
            if (i == 0)
                c->audit.bytes_up += (uint64_t)got;
            else
                c->audit.bytes_down += (uint64_t)got;
            bool within = proxy_charge(c, (uint64_t)got);
            if (proxy_io_write(to, buf, (size_t)got, c->deadline) < 0)
                goto out;
            if (!within) {
                free(c->rule);
                c->rule = xstrdup("cut: over proxy.max_upstream_bytes_per_turn");
                goto out;
            }
        }
    }
out:
    free(buf);
}

void proxy_tunnel(proxy_conn *c)
{
    _cleanup_close_ int up = open_upstream(c);
    if (up < 0)
        return;
    static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
    if (proxy_io_write(c->fd, ok, sizeof(ok) - 1, c->deadline) < 0)
        return;
    c->audit.status = 200;
    /* Bytes the client sent after the head (a TLS ClientHello, eagerly) go first. */
    size_t extra = c->in.len - c->req.head_len;
    if (extra) {
        c->audit.bytes_up += extra;
        (void)proxy_charge(c, extra);
        if (proxy_io_write(up, c->in.buf + c->req.head_len, extra, c->deadline) < 0)
            return;
    }
    relay(c, up, false);
}

void proxy_plain_http(proxy_conn *c, const char *body, size_t len)
{
    _cleanup_close_ int up = open_upstream(c);
    if (up < 0)
        return;
    const proxy_request *r = &c->req;
    _cleanup_strbuf_ strbuf head = STRBUF_INIT;
    strbuf_addf(&head, "%s %s HTTP/1.1\r\n", r->method, r->path);
    if (r->port == 80)
        strbuf_addf(&head, "Host: %s\r\n", c->host);
    else
        strbuf_addf(&head, "Host: %s:%u\r\n", c->host, r->port);
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *n = r->headers[i].name;
        /* The agent's own credentials for a site it may reach are its business; the proxy's
         * fields and hop-by-hop fields never pass. */
        bool own = strcmp(n, "authorization") == 0 || strcmp(n, "cookie") == 0;
        if (proxy_header_stripped(r, n) && !own)
            continue;
        strbuf_addf(&head, "%s: %s\r\n", n, r->headers[i].value);
    }
    if (r->has_length || r->chunked) /* a chunked body goes on decoded */
        strbuf_addf(&head, "Content-Length: %zu\r\n", len);
    strbuf_addstr(&head, "Connection: close\r\n\r\n");
    c->audit.bytes_up = head.len + len;
    if (!proxy_charge(c, head.len + len)) {
        proxy_respond_error(
            c, 429, "rate_limit_error",
            "this turn's upstream bytes are over proxy.max_upstream_bytes_per_turn");
        return;
    }
    if (proxy_io_write(up, head.buf, head.len, c->deadline) < 0 ||
        (len && proxy_io_write(up, body, len, c->deadline) < 0)) {
        proxy_respond_error(c, 502, "api_error", "the upstream closed during the request");
        return;
    }
    relay(c, up, true);
    if (!c->audit.status)
        c->audit.status = 502;
}
