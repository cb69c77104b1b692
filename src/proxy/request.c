#include "proxy/request.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"
#include "util/banned.h"

static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A visible character or a space or tab inside a field value. */
static bool is_vchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static const char *find_head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return buf + i;
    return NULL;
}

static int bad(nc_error **err, const char *what)
{
    return nc_error_set(err, EBADMSG, "malformed request: %s", what);
}

static int parse_port(const char *s, size_t n, uint16_t *ret)
{
    if (n == 0 || n > 5 || s[0] == '0')
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *ret = (uint16_t)v;
    return 0;
}

/* "host:port" (CONNECT). IPv6 literals in brackets are kept so the policy can refuse them. */
static int parse_authority(proxy_request *req, const char *a, nc_error **err)
{
    const char *colon = strrchr(a, ':');
    if (!colon || colon == a)
        return bad(err, "CONNECT needs host:port");
    if (parse_port(colon + 1, strlen(colon + 1), &req->port) < 0)
        return bad(err, "bad port");
    req->host = xstrndup(a, (size_t)(colon - a));
    if (strchr(req->host, '@') || strchr(req->host, '/'))
        return bad(err, "bad CONNECT host");
    return 0;
}

static int parse_absolute(proxy_request *req, const char *t, nc_error **err)
{
    static const char http[] = "http://";
    if (strncasecmp(t, http, strlen(http)) != 0)
        return bad(err, "only http:// URLs are proxied (https goes through CONNECT)");
    const char *h = t + strlen(http);
    size_t hl = strcspn(h, "/?#");
    const char *auth_end = h + hl;
    if (memchr(h, '@', hl))
        return bad(err, "user information in the URL");
    const char *colon = NULL;
    if (*h == '[') {
        const char *close = memchr(h, ']', hl);
        if (!close)
            return bad(err, "bad URL host");
        colon = close + 1 < auth_end && close[1] == ':' ? close + 1 : NULL;
        if (!colon && close + 1 != auth_end)
            return bad(err, "bad URL host");
    } else {
        colon = memchr(h, ':', hl);
    }
    req->port = 80;
    if (colon && parse_port(colon + 1, (size_t)(auth_end - colon - 1), &req->port) < 0)
        return bad(err, "bad URL port");
    size_t name_len = colon ? (size_t)(colon - h) : hl;
    if (!name_len)
        return bad(err, "URL without a host");
    req->host = xstrndup(h, name_len);
    if (*auth_end == '#')
        return bad(err, "fragment in the URL");
    req->path = *auth_end == '/' ? xstrdup(auth_end) : xasprintf("/%s", auth_end);
    if (strchr(req->path, '#'))
        return bad(err, "fragment in the URL");
    return 0;
}

static int parse_request_line(proxy_request *req, const char *line, size_t n, nc_error **err)
{
    const char *sp1 = memchr(line, ' ', n);
    if (!sp1 || sp1 == line)
        return bad(err, "bad request line");
    for (const char *p = line; p < sp1; p++)
        if (!is_tchar((unsigned char)*p))
            return bad(err, "bad method");
    const char *t = sp1 + 1;
    const char *sp2 = memchr(t, ' ', (size_t)(line + n - t));
    if (!sp2 || sp2 == t)
        return bad(err, "bad request line");
    for (const char *p = t; p < sp2; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return bad(err, "bad request target");
    size_t vl = (size_t)(line + n - sp2 - 1);
    if (vl != 8 || (memcmp(sp2 + 1, "HTTP/1.1", 8) != 0 && memcmp(sp2 + 1, "HTTP/1.0", 8) != 0))
        return bad(err, "only HTTP/1.0 and HTTP/1.1 are spoken");
    req->method = xstrndup(line, (size_t)(sp1 - line));
    req->target = xstrndup(t, (size_t)(sp2 - t));
    if (strcmp(req->method, "CONNECT") == 0) {
        req->form = PROXY_FORM_AUTHORITY;
        return parse_authority(req, req->target, err);
    }
    if (req->target[0] == '/') {
        req->form = PROXY_FORM_ORIGIN;
        req->path = xstrdup(req->target);
        return 0;
    }
    req->form = PROXY_FORM_ABSOLUTE;
    return parse_absolute(req, req->target, err);
}

static int add_header(proxy_request *req, const char *line, size_t n, nc_error **err)
{
    if (line[0] == ' ' || line[0] == '\t')
        return bad(err, "obsolete line folding");
    const char *colon = memchr(line, ':', n);
    if (!colon || colon == line)
        return bad(err, "header line without a name");
    for (const char *p = line; p < colon; p++)
        if (!is_tchar((unsigned char)*p))
            return bad(err, "bad header name");
    const char *v = colon + 1, *end = line + n;
    for (const char *p = v; p < end; p++)
        if (!is_vchar((unsigned char)*p))
            return bad(err, "control character in a header value");
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (req->nheaders >= PROXY_MAX_HEADERS)
        return nc_error_set(err, EMSGSIZE, "more than %d header fields", PROXY_MAX_HEADERS);
    req->headers = xreallocarray(req->headers, req->nheaders + 1, sizeof(*req->headers));
    proxy_header *h = &req->headers[req->nheaders++];
    h->name = xstrndup(line, (size_t)(colon - line));
    for (char *p = h->name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    h->value = xstrndup(v, (size_t)(end - v));
    return 0;
}

static int check_framing(proxy_request *req, nc_error **err)
{
    size_t lengths = 0, encodings = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const proxy_header *h = &req->headers[i];
        if (strcmp(h->name, "content-length") == 0) {
            lengths++;
            const char *p = h->value;
            if (!*p || strlen(p) > 15)
                return bad(err, "bad Content-Length");
            uint64_t v = 0;
            for (; *p; p++) {
                if (!isdigit((unsigned char)*p))
                    return bad(err, "bad Content-Length");
                v = v * 10 + (uint64_t)(*p - '0');
            }
            req->content_length = v;
            req->has_length = true;
        } else if (strcmp(h->name, "transfer-encoding") == 0) {
            encodings++;
            if (strcasecmp(h->value, "chunked") != 0)
                return nc_error_set(err, ENOSYS, "unsupported Transfer-Encoding");
            req->chunked = true;
        }
    }
    if (lengths > 1)
        return bad(err, "more than one Content-Length");
    if (encodings > 1)
        return bad(err, "more than one Transfer-Encoding");
    if (lengths && encodings)
        return bad(err, "both Content-Length and Transfer-Encoding");
    return 0;
}

static int parse(const char *buf, size_t len, proxy_request *req, nc_error **err)
{
    const char *end = find_head_end(buf, len < PROXY_MAX_HEAD ? len : PROXY_MAX_HEAD);
    if (!end) {
        if (len >= PROXY_MAX_HEAD)
            return nc_error_set(err, EMSGSIZE, "request head longer than %d bytes", PROXY_MAX_HEAD);
        /* A bare LF or a NUL is refused at once, before more bytes are awaited. */
        for (size_t i = 0; i < len; i++)
            if (buf[i] == '\0' || (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')))
                return bad(err, "bare LF or NUL in the head");
        return -EAGAIN;
    }
    size_t head = (size_t)(end - buf);
    if (memchr(buf, '\0', head))
        return bad(err, "NUL in the head");
    const char *p = buf;
    bool first = true;
    while (p < buf + head + 2) {
        const char *cr = memchr(p, '\r', (size_t)(buf + head + 2 - p));
        if (!cr || cr[1] != '\n')
            return bad(err, "bare CR");
        size_t n = (size_t)(cr - p);
        if (memchr(p, '\n', n))
            return bad(err, "bare LF");
        int r = first ? parse_request_line(req, p, n, err) : add_header(req, p, n, err);
        if (r < 0)
            return r;
        first = false;
        p = cr + 2;
        if (p >= buf + head + 2)
            break;
    }
    int r = check_framing(req, err);
    if (r < 0)
        return r;
    req->head_len = head + 4;
    return 0;
}

int proxy_request_parse(const char *buf, size_t len, proxy_request *req, nc_error **err)
{
    *req = (proxy_request){0};
    int r = parse(buf, len, req, err);
    if (r < 0)
        proxy_request_release(req);
    return r;
}

void proxy_request_release(proxy_request *req)
{
    free(req->method);
    free(req->target);
    free(req->host);
    free(req->path);
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    *req = (proxy_request){0};
}

const char *proxy_request_header(const proxy_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

/* Whether the Connection field lists name (comma-separated tokens, any case). */
static bool connection_names(const proxy_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strcmp(req->headers[i].name, "connection") != 0)
            continue;
        for (const char *p = req->headers[i].value; *p;) {
            p += strspn(p, " \t,");
            size_t n = strcspn(p, " \t,");
            if (n && n == strlen(name) && strncasecmp(p, name, n) == 0)
                return true;
            p += n;
        }
    }
    return false;
}

bool proxy_header_stripped(const proxy_request *req, const char *name)
{
    static const char *const never[] = {"authorization",
                                        "x-api-key",
                                        "cookie",
                                        "connection",
                                        "keep-alive",
                                        "te",
                                        "trailer",
                                        "upgrade",
                                        "host",
                                        "content-length",
                                        "expect",
                                        "transfer-encoding",
                                        NULL};
    for (size_t i = 0; never[i]; i++)
        if (strcasecmp(name, never[i]) == 0)
            return true;
    if (strncasecmp(name, "proxy-", 6) == 0)
        return true;
    return req && connection_names(req, name);
}

/* The end of the CRLF-terminated line starting at p, or NULL when it is not complete yet;
 * *bad when a bare LF or a line longer than 4 KiB shows it never will be a good one. */
static const char *line_end(const char *p, const char *end, bool *bad)
{
    for (const char *q = p; q < end; q++) {
        if (*q == '\n') {
            *bad = q == p || q[-1] != '\r';
            return q + 1;
        }
        if (q - p > 4096) {
            *bad = true;
            return NULL;
        }
    }
    return NULL;
}

int proxy_chunked_decode(const char *buf, size_t len, uint64_t max, strbuf *out, size_t *consumed,
                         nc_error **err)
{
    const char *p = buf, *end = buf + len;
    *consumed = 0;
    for (;;) {
        bool badline = false;
        const char *nl = line_end(p, end, &badline);
        if (badline)
            return bad(err, "bad chunk size line");
        if (!nl)
            return -EAGAIN;
        uint64_t size = 0;
        const char *q = p;
        for (; q < nl - 2 && isxdigit((unsigned char)*q); q++) {
            if (q - p >= 15)
                return bad(err, "chunk size too long");
            int d = isdigit((unsigned char)*q) ? *q - '0' : (tolower((unsigned char)*q) - 'a' + 10);
            size = size * 16 + (uint64_t)d;
        }
        if (q == p || (q < nl - 2 && *q != ';'))
            return bad(err, "bad chunk size");
        if (size == 0) {
            /* trailer fields, then an empty line */
            const char *t = nl;
            for (;;) {
                const char *tl = line_end(t, end, &badline);
                if (badline)
                    return bad(err, "bad trailer line");
                if (!tl)
                    return -EAGAIN;
                bool empty = tl - t == 2;
                t = tl;
                if (empty) {
                    *consumed = (size_t)(t - buf);
                    return 0;
                }
            }
        }
        if (out->len + size > max)
            return nc_error_set(err, EMSGSIZE, "chunked body longer than %llu bytes",
                                (unsigned long long)max);
        if ((uint64_t)(end - nl) < size + 2)
            return -EAGAIN;
        if (nl[size] != '\r' || nl[size + 1] != '\n')
            return bad(err, "chunk not followed by CRLF");
        strbuf_add(out, nl, (size_t)size);
        p = nl + size + 2;
        *consumed = (size_t)(p - buf); /* whole chunks only: a resumed call starts here */
    }
}
