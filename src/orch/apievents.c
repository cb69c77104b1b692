#include "orch/apievents.h"

#include <errno.h>
#include <string.h>

#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one (overlong forms,
 * surrogates and code points past U+10FFFF are not). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

void api_jgen_text(nc_jgen *g, const char *s)
{
    if (!s) {
        jgen_null(g);
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    while (i < n && utf8_seq(p + i, n - i))
        i += utf8_seq(p + i, n - i);
    if (i == n) {
        jgen_strn(g, s, n);
        return;
    }
    _cleanup_strbuf_ strbuf clean = STRBUF_INIT;
    for (i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (k) {
            strbuf_add(&clean, p + i, k);
            i += k;
        } else {
            strbuf_addstr(&clean, "\xef\xbf\xbd"); /* U+FFFD */
            i++;
        }
    }
    jgen_strn(g, clean.buf, clean.len);
}

/* Finishes g (a complete object, so it cannot fail) and appends it as one line. */
static void put_line(strbuf *out, nc_jgen *g)
{
    if (jgen_finish(g, out, NULL) < 0)
        abort(); /* a misuse of the generator in this file */
    strbuf_addch(out, '\n');
}

void api_event_accepted(strbuf *out, int64_t id)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "event", "accepted");
    jgen_kv_int(g, "id", id);
    jgen_obj_close(g);
    put_line(out, g);
}

void api_event_state(strbuf *out, const char *state, int64_t attempts, const char *error)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "event", "state");
    jgen_key(g, "state");
    api_jgen_text(g, state);
    jgen_kv_int(g, "attempts", attempts);
    jgen_key(g, "error");
    api_jgen_text(g, error);
    jgen_obj_close(g);
    put_line(out, g);
}

void api_event_reply(strbuf *out, int64_t id, const char *text)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "event", "reply");
    jgen_kv_int(g, "id", id);
    jgen_key(g, "text");
    api_jgen_text(g, text);
    jgen_obj_close(g);
    put_line(out, g);
}

void api_event_simple(strbuf *out, api_event_kind kind)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "event", kind == API_EV_SHUTDOWN ? "shutdown" : "heartbeat");
    jgen_obj_close(g);
    put_line(out, g);
}

void api_event_waiting(strbuf *out, const char *reason)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "event", "waiting");
    jgen_key(g, "reason");
    api_jgen_text(g, reason);
    jgen_obj_close(g);
    put_line(out, g);
}

bool api_state_is_terminal(const char *state)
{
    return strcmp(state, "done") == 0 || strcmp(state, "failed") == 0 ||
           strcmp(state, "skipped") == 0;
}

void api_event_release(api_event *ev)
{
    free(ev->state);
    free(ev->error);
    free(ev->text);
    *ev = (api_event){0};
}

static int need_int(const nc_json *root, const char *key, int64_t *out, nc_error **err)
{
    if (!json_int(json_get(root, key), out))
        return nc_error_set(err, EPROTO, "event member '%s' is not an integer", key);
    return 0;
}

static int need_str(const nc_json *root, const char *key, char **out, nc_error **err)
{
    const char *s = json_string(json_get(root, key));
    if (!s)
        return nc_error_set(err, EPROTO, "event member '%s' is not a string", key);
    *out = xstrdup(s);
    return 0;
}

int api_event_parse(const char *line, size_t len, api_event *ev, nc_error **err)
{
    *ev = (api_event){0};
    _cleanup_json_ nc_json *root = NULL;
    int r = json_parse(line, len, &root, err);
    if (r < 0) {
        nc_error_wrap(err, "event line");
        return -EPROTO;
    }
    const char *kind = json_string(json_get(root, "event"));
    if (!json_is_object(root) || !kind)
        return nc_error_set(err, EPROTO, "event line is not an object with a string 'event'");
    if (strcmp(kind, "accepted") == 0) {
        ev->kind = API_EV_ACCEPTED;
        return need_int(root, "id", &ev->id, err);
    }
    if (strcmp(kind, "state") == 0) {
        ev->kind = API_EV_STATE;
        if ((r = need_str(root, "state", &ev->state, err)) < 0 ||
            (r = need_int(root, "attempts", &ev->attempts, err)) < 0)
            return r;
        const nc_json *e = json_get(root, "error");
        if (e && !json_is_null(e) && (r = need_str(root, "error", &ev->error, err)) < 0)
            return r;
        return 0;
    }
    if (strcmp(kind, "reply") == 0) {
        ev->kind = API_EV_REPLY;
        if ((r = need_int(root, "id", &ev->id, err)) < 0)
            return r;
        return need_str(root, "text", &ev->text, err);
    }
    if (strcmp(kind, "waiting") == 0) {
        ev->kind = API_EV_WAITING;
        return need_str(root, "reason", &ev->text, err);
    }
    if (strcmp(kind, "heartbeat") == 0)
        ev->kind = API_EV_HEARTBEAT;
    else if (strcmp(kind, "shutdown") == 0)
        ev->kind = API_EV_SHUTDOWN;
    else
        ev->kind = API_EV_UNKNOWN;
    return 0;
}

int api_lines_feed(api_lines *l, const char *data, size_t len, api_line_cb on_line, void *userdata,
                   nc_error **err)
{
    size_t max = l->max ? l->max : API_EVENT_MAX_LINE;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (take > max || l->buf.len > max - take)
            return nc_error_set(err, EMSGSIZE, "event line longer than %zu bytes", max);
        strbuf_add(&l->buf, data, take);
        if (!nl)
            return 0;
        data += take + 1;
        len -= take + 1;
        size_t n = l->buf.len;
        if (n > 0 && l->buf.buf[n - 1] == '\r')
            n--;
        int r = on_line(l->buf.buf ? l->buf.buf : "", n, userdata);
        strbuf_reset(&l->buf);
        if (r != 0)
            return r;
    }
    return 0;
}

size_t api_lines_pending(const api_lines *l)
{
    return l->buf.len;
}

void api_lines_release(api_lines *l)
{
    strbuf_release(&l->buf);
}
