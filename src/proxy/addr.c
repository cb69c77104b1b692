#include "proxy/addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

char *proxy_name_normalize(const char *name, size_t len)
{
    if (len && name[len - 1] == '.')
        len--;
    if (len == 0 || len > PROXY_NAME_MAX)
        return NULL;
    char *out = xstrndup(name, len);
    size_t label = 0;
    bool last_has_alpha = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c == '.') {
            if (label == 0 || out[i - 1] == '-')
                goto bad;
            label = 0;
            last_has_alpha = false;
            continue;
        }
        if (!isalnum(c) && c != '-')
            goto bad;
        if (c == '-' && label == 0)
            goto bad;
        out[i] = (char)tolower(c);
        last_has_alpha |= isalpha(c) != 0;
        if (++label > 63)
            goto bad;
    }
    if (label == 0 || out[len - 1] == '-')
        goto bad;
    /* The last label of a real name is never all digits: that rules out dotted quads and
     * "2130706433". inet_aton catches the rest of its forms ("0x7f", "0x7f.0x1"). */
    struct in_addr a;
    if (!last_has_alpha || inet_aton(out, &a))
        goto bad;
    return out;
bad:
    free(out);
    return NULL;
}

static int parse_port(const char *s, uint16_t *ret)
{
    if (!*s || strlen(s) > 5)
        return -EINVAL;
    unsigned v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v == 0 || v > 65535 || (s[0] == '0'))
        return -EINVAL;
    *ret = (uint16_t)v;
    return 0;
}

int proxy_hostport_parse(const char *v, bool pattern, proxy_hostport *ret, nc_error **err)
{
    const char *colon = strrchr(v, ':');
    if (!colon)
        return nc_error_set(err, EINVAL, "'%s' needs a port (host:port)", v);
    uint16_t port;
    if (parse_port(colon + 1, &port) < 0)
        return nc_error_set(err, EINVAL, "'%s': the port must be a number from 1 to 65535", v);
    const char *h = v;
    bool suffix = false;
    if (pattern && strncmp(h, "*.", 2) == 0) {
        suffix = true;
        h += 2;
    }
    char *name = proxy_name_normalize(h, (size_t)(colon - h));
    if (!name)
        return nc_error_set(err, EINVAL,
                            "'%s': '%.*s' is not a host name (addresses are never matched)", v,
                            (int)(colon - h), h);
    *ret = (proxy_hostport){.host = name, .suffix = suffix, .port = port};
    return 0;
}

void proxy_hostport_release(proxy_hostport *hp)
{
    free(hp->host);
    hp->host = NULL;
}

bool proxy_hostport_match(const proxy_hostport *pat, const char *name, uint16_t port)
{
    if (pat->port != port)
        return false;
    if (!pat->suffix)
        return strcmp(pat->host, name) == 0;
    size_t n = strlen(name), m = strlen(pat->host);
    return n > m + 1 && name[n - m - 1] == '.' && strcmp(name + n - m, pat->host) == 0;
}

int proxy_url_parse(const char *v, proxy_url *ret, nc_error **err)
{
    const char *scheme = "https://";
    if (strncmp(v, scheme, strlen(scheme)) != 0)
        return nc_error_set(err, EINVAL, "upstream '%s' must start with https://", v);
    const char *h = v + strlen(scheme);
    size_t hl;
    const char *rest;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (!close)
            return nc_error_set(err, EINVAL, "upstream '%s' has an unclosed '['", v);
        hl = (size_t)(close - h) + 1;
    } else {
        hl = strcspn(h, ":/?#@");
    }
    rest = h + hl;
    if (hl == 0)
        return nc_error_set(err, EINVAL, "upstream '%s' has no host", v);
    for (size_t i = 0; i < hl; i++)
        if (!isalnum((unsigned char)h[i]) && !strchr(".-[]:", h[i]))
            return nc_error_set(err, EINVAL, "upstream '%s' has a bad host", v);
    uint16_t port = 443;
    if (*rest == ':') {
        size_t pl = strcspn(rest + 1, "/?#");
        char *ps = xstrndup(rest + 1, pl);
        int r = parse_port(ps, &port);
        free(ps);
        if (r < 0)
            return nc_error_set(err, EINVAL, "upstream '%s' has a bad port", v);
        rest += 1 + pl;
    }
    if (*rest && *rest != '/')
        return nc_error_set(err, EINVAL, "upstream '%s' may hold no user, query or fragment", v);
    for (const char *p = rest; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/-._~", *p))
            return nc_error_set(err, EINVAL, "upstream '%s' has a bad path", v);
    size_t bl = strlen(rest);
    while (bl && rest[bl - 1] == '/')
        bl--;
    *ret = (proxy_url){.host = xstrndup(h, hl), .port = port, .base_path = xstrndup(rest, bl)};
    return 0;
}

void proxy_url_release(proxy_url *u)
{
    free(u->host);
    free(u->base_path);
    *u = (proxy_url){0};
}

static bool v4_private(uint32_t a)
{
    static const struct {
        uint32_t net, mask;
    } ranges[] = {
        {0x00000000, 0xff000000}, /* 0/8 "this network" */
        {0x0a000000, 0xff000000}, /* 10/8 */
        {0x64400000, 0xffc00000}, /* 100.64/10 shared */
        {0x7f000000, 0xff000000}, /* 127/8 loopback */
        {0xa9fe0000, 0xffff0000}, /* 169.254/16 link-local, metadata */
        {0xac100000, 0xfff00000}, /* 172.16/12 */
        {0xc0000000, 0xffffff00}, /* 192.0.0/24 */
        {0xc0000200, 0xffffff00}, /* 192.0.2/24 documentation */
        {0xc0a80000, 0xffff0000}, /* 192.168/16 */
        {0xc6120000, 0xfffe0000}, /* 198.18/15 benchmarking */
        {0xc6336400, 0xffffff00}, /* 198.51.100/24 documentation */
        {0xcb007100, 0xffffff00}, /* 203.0.113/24 documentation */
        {0xe0000000, 0xe0000000}, /* 224/4 multicast and 240/4 reserved, broadcast */
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
        if ((a & ranges[i].mask) == ranges[i].net)
            return true;
    return false;
}

bool proxy_addr_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return v4_private(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    if (sa->sa_family != AF_INET6)
        return true;
    const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t zero[12] = {0};
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 || memcmp(b, zero, 12) == 0) {
        /* ::a.b.c.d (deprecated compatible form), ::1 and :: land here too */
        uint32_t v4 =
            ((uint32_t)b[12] << 24) | ((uint32_t)b[13] << 16) | ((uint32_t)b[14] << 8) | b[15];
        return v4_private(v4) || memcmp(b, zero, 12) == 0;
    }
    if ((b[0] & 0xfe) == 0xfc) /* fc00::/7 unique local */
        return true;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 link-local */
        return true;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) /* fec0::/10 site-local */
        return true;
    if (b[0] == 0xff) /* multicast */
        return true;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) /* documentation */
        return true;
    if (b[0] == 0x01 && b[1] == 0 && b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 &&
        b[6] == 0 && b[7] == 0) /* 100::/64 discard */
        return true;
    return false;
}
