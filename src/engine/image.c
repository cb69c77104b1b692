#include "engine/image.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/termsafe.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* The longest engine text quoted from a stream line. */
#define PULL_MAX_MESSAGE 512

#define REF_NAME_MAX 255
#define REF_TAG_MAX 128

static bool lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool any_alnum(char c)
{
    return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* path-component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool path_component_ok(const char *s, size_t n)
{
    if (!n || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i < n;) {
        if (lower_alnum(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !lower_alnum(s[j]))
            j++;
        size_t len = j - i;
        bool dashes = true;
        for (size_t k = i; k < j; k++)
            dashes &= s[k] == '-';
        bool ok = dashes || (len == 1 && (s[i] == '.' || s[i] == '_')) ||
                  (len == 2 && s[i] == '_' && s[i + 1] == '_');
        if (!ok)
            return false;
        i = j;
    }
    return true;
}

/* domain: component ('.' component)* [':' port], component [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?
 */
static bool domain_ok(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t host = colon ? (size_t)(colon - s) : n;
    if (colon) {
        size_t port = n - host - 1;
        if (!port || port > 5)
            return false;
        for (size_t i = host + 1; i < n; i++)
            if (s[i] < '0' || s[i] > '9')
                return false;
    }
    for (size_t i = 0; i < host;) {
        size_t j = i;
        while (j < host && s[j] != '.')
            j++;
        if (j == i || !any_alnum(s[i]) || !any_alnum(s[j - 1]))
            return false;
        for (size_t k = i; k < j; k++)
            if (!any_alnum(s[k]) && s[k] != '-')
                return false;
        i = j + 1;
        if (j < host && i == host)
            return false; /* a trailing dot */
    }
    return host > 0;
}

static bool tag_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > REF_TAG_MAX || !(any_alnum(s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!any_alnum(s[i]) && !strchr("_.-", s[i]))
            return false;
    return true;
}

/* algorithm ':' hex{32,}, algorithm [A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)* */
static bool digest_ok(const char *s)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s)
        return false;
    bool need_alpha = true;
    for (const char *p = s; p < colon; p++) {
        bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
        if (need_alpha) {
            if (!alpha)
                return false;
            need_alpha = false;
        } else if (strchr("-_+.", *p)) {
            need_alpha = true;
        } else if (!any_alnum(*p)) {
            return false;
        }
    }
    if (need_alpha || strlen(colon + 1) < 32)
        return false;
    for (const char *p = colon + 1; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
            return false;
    return true;
}

int engine_image_ref_check(const char *ref, nc_error **err)
{
    if (!ref || !*ref)
        return nc_error_set(err, EINVAL, "empty image reference");
    _cleanup_free_ char *copy = xstrdup(ref);
    char *digest = strchr(copy, '@');
    if (digest) {
        *digest++ = '\0';
        if (!digest_ok(digest))
            return nc_error_set(err, EINVAL, "image reference '%s': invalid digest", ref);
    }
    char *slash = strrchr(copy, '/');
    char *colon = strrchr(copy, ':');
    if (colon && (!slash || colon > slash)) {
        *colon = '\0';
        if (!tag_ok(colon + 1))
            return nc_error_set(err, EINVAL,
                                "image reference '%s': invalid tag (letters, digits, '_', '.' "
                                "and '-', at most %d)",
                                ref, REF_TAG_MAX);
    }
    if (strlen(copy) > REF_NAME_MAX)
        return nc_error_set(err, EINVAL, "image reference '%s': name longer than %d characters",
                            ref, REF_NAME_MAX);
    /* The rule of Docker 20.10 and Podman for a domain: the first of several components,
     * holding '.' or ':', or "localhost" (newer Docker also takes an uppercase one). */
    char *p = copy;
    char *first = strchr(copy, '/');
    if (first) {
        size_t n = (size_t)(first - copy);
        if (memchr(copy, '.', n) || memchr(copy, ':', n) ||
            (n == 9 && strncmp(copy, "localhost", 9) == 0)) {
            if (!domain_ok(copy, n))
                return nc_error_set(err, EINVAL, "image reference '%s': invalid registry '%.*s'",
                                    ref, (int)n, copy);
            p = first + 1;
        }
    }
    for (;;) {
        char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (!path_component_ok(p, n))
            return nc_error_set(err, EINVAL,
                                "image reference '%s': invalid name component '%.*s' (lowercase "
                                "letters and digits, joined by '.', '_', '__' or dashes)",
                                ref, (int)n, p);
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

int engine_image_ref_split(const char *ref, char **ret_name, char **ret_tag, nc_error **err)
{
    if (!ref || !*ref)
        return nc_error_set(err, EINVAL, "empty image reference");
    const char *at = strchr(ref, '@');
    const char *slash = strrchr(ref, '/');
    const char *colon = strrchr(ref, ':');
    const char *split = at ? at : (colon && (!slash || colon > slash)) ? colon : NULL;
    if (split && (split == ref || !split[1]))
        return nc_error_set(err, EINVAL, "image reference '%s' has an empty name or tag", ref);
    *ret_name = split ? xstrndup(ref, (size_t)(split - ref)) : xstrdup(ref);
    *ret_tag = xstrdup(split ? split + 1 : "latest");
    return 0;
}

/* s made safe (util/termsafe.h), on one line and bounded, for messages. */
static char *clean(const char *s)
{
    size_t n = strlen(s);
    strbuf sb = STRBUF_INIT;
    termsafe_add(&sb, s, n < PULL_MAX_MESSAGE ? n : PULL_MAX_MESSAGE, 0);
    if (n > PULL_MAX_MESSAGE)
        strbuf_addstr(&sb, "...");
    return strbuf_detach(&sb, NULL);
}

static int parse_line(pull_stream *s, const char *line, size_t len)
{
    _cleanup_json_ nc_json *root = NULL;
    _cleanup_error_ nc_error *jerr = NULL;
    if (json_parse(line, len, &root, &jerr) < 0)
        return nc_error_set(&s->err, EPROTO, "pull progress: %s", nc_error_msg(jerr));
    if (!json_is_object(root))
        return nc_error_set(&s->err, EPROTO, "pull progress line is not a JSON object");
    s->objects++;
    const char *error = json_string(json_get(root, "error"));
    if (!error)
        error = json_string(json_get(json_get(root, "errorDetail"), "message"));
    if (error) {
        _cleanup_free_ char *msg = clean(*error ? error : "(no message)");
        return nc_error_set(&s->err, EIO, "%s", msg);
    }
    const char *status = json_string(json_get(root, "status"));
    if (!status)
        return 0;
    const char *id = json_string(json_get(root, "id"));
    _cleanup_free_ char *text = clean(status);
    free(s->last_status);
    s->last_status = id ? xasprintf("%.64s: %s", id, text) : xstrdup(text);
    /* Byte counters come many times a second: only the steps are worth a line. */
    bool counter = json_get(root, "progressDetail") && json_get(root, "progress");
    if (s->cb && !counter)
        s->cb(s->last_status, s->userdata);
    return 0;
}

int pull_stream_feed(pull_stream *s, const char *data, size_t len)
{
    if (s->err)
        return -s->err->code;
    if (len > ENGINE_PULL_MAX_STREAM - s->total)
        return nc_error_set(&s->err, EFBIG, "pull progress stream longer than %zu bytes",
                            ENGINE_PULL_MAX_STREAM);
    s->total += len;
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (s->line.len + take > ENGINE_PULL_MAX_LINE)
            return nc_error_set(&s->err, EFBIG, "pull progress line longer than %d bytes",
                                ENGINE_PULL_MAX_LINE);
        strbuf_add(&s->line, data, take);
        if (!nl)
            return 0;
        data += take + 1;
        len -= take + 1;
        while (s->line.len &&
               (s->line.buf[s->line.len - 1] == '\r' || s->line.buf[s->line.len - 1] == ' '))
            strbuf_truncate(&s->line, s->line.len - 1);
        if (s->line.len) {
            int r = parse_line(s, s->line.buf, s->line.len);
            strbuf_reset(&s->line);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

int pull_stream_finish(pull_stream *s, nc_error **err)
{
    if (!s->err && s->line.len) {
        (void)parse_line(s, s->line.buf, s->line.len);
        strbuf_reset(&s->line);
    }
    if (s->err)
        return nc_error_set(err, s->err->code, "%s", s->err->msg);
    if (!s->objects)
        return nc_error_set(err, EPROTO, "the engine's pull reply held no progress at all");
    return 0;
}

void pull_stream_release(pull_stream *s)
{
    strbuf_release(&s->line);
    nc_error_free(s->err);
    free(s->last_status);
    s->err = NULL;
    s->last_status = NULL;
}

static int on_stream(const char *data, size_t len, void *userdata)
{
    /* Non-zero aborts the transfer: the stream keeps why. */
    return pull_stream_feed(userdata, data, len) != 0;
}

static int pull(engine *e, const char *target, long timeout_ms, pull_stream *s, nc_error **err)
{
    uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
    _cleanup_(http_async_freep) http_async *a = NULL;
    _cleanup_error_ nc_error *aerr = NULL;
    int r = http_async_start(&e->http_opts, "POST", target, timeout_ms, on_stream, s, &a, &aerr);
    if (r < 0) {
        if (s->err)
            return nc_error_set(err, s->err->code, "%s", s->err->msg);
        return nc_error_set_http(err, aerr->code, aerr->http_status, "%s", aerr->msg);
    }
    const http_response *resp = http_async_response(a);
    if (resp->status != 200) {
        _cleanup_error_ nc_error *ignored = NULL;
        (void)http_async_pump(a, 2000, &ignored);
        return engine_reply_error(resp->status, resp->body.buf, resp->body.len, err);
    }
    for (;;) {
        _cleanup_error_ nc_error *perr = NULL;
        r = http_async_pump(a, (long)ms_until(deadline), &perr);
        if (s->err)
            return nc_error_set(err, s->err->code, "%s", s->err->msg);
        if (r < 0)
            return nc_error_set(err, perr->code, "the pull stream broke off: %s", perr->msg);
        if (r == 1)
            return pull_stream_finish(s, err);
        if (ms_until(deadline) == 0)
            return nc_error_set(err, ETIMEDOUT, "the pull took longer than %ld s",
                                timeout_ms / 1000);
    }
}

int engine_image_pull(engine *e, const char *ref, long timeout_ms, engine_pull_progress_cb cb,
                      void *userdata, nc_error **err)
{
    _cleanup_free_ char *name = NULL;
    _cleanup_free_ char *tag = NULL;
    int r = engine_image_ref_split(ref, &name, &tag, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *qname = engine_url_escape(name);
    _cleanup_free_ char *qtag = engine_url_escape(tag);
    _cleanup_free_ char *target =
        xasprintf("%s/images/create?fromImage=%s&tag=%s", e->api_prefix, qname, qtag);
    pull_stream s = {.cb = cb, .userdata = userdata};
    r = pull(e, target, timeout_ms, &s, err);
    pull_stream_release(&s);
    return r < 0 ? nc_error_wrap(err, "pull image '%s'", ref) : 0;
}
