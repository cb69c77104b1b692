/* Server-sent events of the Messages API, assembled (see sse.h). */
#include "sse.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct block {
    bool used;
    bool tool; /* tool_use; else text */
    char *id, *name;
    strbuf data; /* the text, or the input's JSON */
};

struct stream {
    struct block b[SSE_MAX_BLOCKS];
    char *stop_reason;
    bool stopped;
};

static void stream_release(struct stream *s)
{
    for (size_t i = 0; i < SSE_MAX_BLOCKS; i++) {
        free(s->b[i].id);
        free(s->b[i].name);
        strbuf_release(&s->b[i].data);
    }
    free(s->stop_reason);
}

static int block_at(const nc_json *ev, struct stream *s, struct block **ret, nc_error **err)
{
    int64_t i;
    if (!json_int(json_get(ev, "index"), &i) || i < 0 || i >= SSE_MAX_BLOCKS)
        return nc_error_set(err, EPROTO, "model API stream has a block index out of range");
    *ret = &s->b[i];
    return 0;
}

/* One event's data (a JSON object). */
static int on_event(const char *data, size_t len, struct stream *s, nc_error **err)
{
    _cleanup_json_ nc_json *ev = NULL;
    _cleanup_error_ nc_error *perr = NULL;
    if (json_parse(data, len, &ev, &perr) < 0 || !json_is_object(ev))
        return nc_error_set(err, EPROTO, "model API stream has an event that is not JSON");
    const char *type = json_string(json_get(ev, "type"));
    struct block *b;
    int r;
    if (!type)
        return 0;
    if (strcmp(type, "error") == 0) {
        const char *msg = json_string(json_get(json_get(ev, "error"), "message"));
        return nc_error_set(err, EIO, "model API stream error: %.1000s", msg ? msg : "no message");
    }
    if (strcmp(type, "content_block_start") == 0) {
        if ((r = block_at(ev, s, &b, err)) < 0)
            return r;
        /* A second start at an index begins that block again. */
        free(b->id);
        free(b->name);
        b->id = b->name = NULL;
        strbuf_reset(&b->data);
        b->used = false;
        const nc_json *cb = json_get(ev, "content_block");
        const char *bt = json_string(json_get(cb, "type"));
        if (!bt || (strcmp(bt, "text") != 0 && strcmp(bt, "tool_use") != 0))
            return 0; /* dropped (sse.h) */
        b->used = true;
        b->tool = strcmp(bt, "tool_use") == 0;
        if (b->tool) {
            const char *id = json_string(json_get(cb, "id"));
            const char *name = json_string(json_get(cb, "name"));
            b->id = id ? xstrdup(id) : NULL;
            b->name = name ? xstrdup(name) : NULL;
        } else if (json_string(json_get(cb, "text"))) {
            strbuf_addstr(&b->data, json_string(json_get(cb, "text")));
        }
    } else if (strcmp(type, "content_block_delta") == 0) {
        if ((r = block_at(ev, s, &b, err)) < 0)
            return r;
        const nc_json *d = json_get(ev, "delta");
        const char *dt = json_string(json_get(d, "type"));
        const char *piece = NULL;
        if (dt && strcmp(dt, "text_delta") == 0 && !b->tool)
            piece = json_string(json_get(d, "text"));
        else if (dt && strcmp(dt, "input_json_delta") == 0 && b->tool)
            piece = json_string(json_get(d, "partial_json"));
        if (b->used && piece)
            strbuf_addstr(&b->data, piece);
    } else if (strcmp(type, "message_delta") == 0) {
        const char *stop = json_string(json_get(json_get(ev, "delta"), "stop_reason"));
        if (stop) {
            free(s->stop_reason);
            s->stop_reason = xstrdup(stop);
        }
    } else if (strcmp(type, "message_stop") == 0) {
        s->stopped = true;
    }
    return 0;
}

static int build(const struct stream *s, nc_json **ret, nc_error **err)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_key(g, "content");
    jgen_arr_open(g);
    for (size_t i = 0; i < SSE_MAX_BLOCKS; i++) {
        const struct block *b = &s->b[i];
        if (!b->used)
            continue;
        jgen_obj_open(g);
        if (!b->tool) {
            jgen_kv_str(g, "type", "text");
            jgen_kv_str(g, "text", strbuf_str(&b->data));
        } else {
            jgen_kv_str(g, "type", "tool_use");
            if (b->id)
                jgen_kv_str(g, "id", b->id);
            if (b->name)
                jgen_kv_str(g, "name", b->name);
            jgen_key(g, "input");
            _cleanup_json_ nc_json *input = NULL;
            const char *js = b->data.len ? b->data.buf : "{}";
            if (json_parse(js, strlen(js), &input, NULL) < 0)
                return nc_error_set(err, EPROTO,
                                    "model API stream has a tool_use whose input "
                                    "is not valid JSON");
            jgen_value(g, input, false);
        }
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    if (s->stop_reason)
        jgen_kv_str(g, "stop_reason", s->stop_reason);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    int r = jgen_finish(g, &text, err);
    if (r < 0)
        return r;
    return json_parse(text.buf, text.len, ret, err);
}

int sse_assemble(const char *body, size_t len, nc_json **ret_reply, nc_error **err)
{
    struct stream s = {0}; /* a zeroed strbuf is STRBUF_INIT */
    _cleanup_strbuf_ strbuf data = STRBUF_INIT;
    int r = 0;
    size_t pos = 0;
    while (r == 0 && pos < len && !s.stopped) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len;
        size_t llen = end - pos;
        const char *line = body + pos;
        if (llen && line[llen - 1] == '\r')
            llen--;
        if (llen == 0) { /* the end of an event */
            if (data.len)
                r = on_event(data.buf, data.len, &s, err);
            strbuf_reset(&data);
        } else if (llen >= 5 && memcmp(line, "data:", 5) == 0) {
            size_t skip = llen > 5 && line[5] == ' ' ? 6 : 5;
            if (data.len)
                strbuf_addch(&data, '\n');
            strbuf_add(&data, line + skip, llen - skip);
        } /* event:, id:, retry: and comments carry nothing the agent needs */
        pos = nl ? end + 1 : len;
    }
    if (r == 0 && !s.stopped && data.len)
        r = on_event(data.buf, data.len, &s, err); /* a last event with no blank line after */
    if (r == 0 && !s.stopped)
        r = nc_error_set(err, EPROTO,
                         "model API stream is truncated: it ended before "
                         "message_stop");
    if (r == 0)
        r = build(&s, ret_reply, err);
    stream_release(&s);
    return r;
}
