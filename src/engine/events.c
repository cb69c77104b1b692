#include "engine/events.h"

#include <errno.h>
#include <string.h>

#include "engine/container.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

int engine_parse_event(const char *line, size_t len, engine_event_cb cb, void *userdata,
                       nc_error **err)
{
    _cleanup_json_ nc_json *root = NULL;
    int r = json_parse(line, len, &root, err);
    if (r < 0)
        return nc_error_wrap(err, "event");
    if (!json_is_object(root))
        return nc_error_set(err, EPROTO, "event is not a JSON object");
    const nc_json *actor = json_get(root, "Actor");
    engine_event ev = {
        .type = json_string(json_get(root, "Type")),
        .action = json_string(json_get(root, "Action")),
        .id = json_string(json_get(actor, "ID")),
        .attributes = json_get(actor, "Attributes"),
    };
    if (!ev.action)
        ev.action = json_string(json_get(root, "status"));
    if (!ev.id)
        ev.id = json_string(json_get(root, "id"));
    json_int(json_get(root, "time"), &ev.time);
    json_int(json_get(root, "timeNano"), &ev.time_nano);
    return cb(&ev, userdata, err);
}

int event_splitter_feed(event_splitter *s, const char *data, size_t len)
{
    if (s->err)
        return -s->err->code;
    if (s->stop)
        return s->stop;
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (s->line.len + take > ENGINE_MAX_EVENT)
            return nc_error_set(&s->err, EFBIG, "event longer than %d bytes", ENGINE_MAX_EVENT);
        strbuf_add(&s->line, data, take);
        if (!nl)
            return 0;
        data += take + 1;
        len -= take + 1;
        if (s->line.len && s->line.buf[s->line.len - 1] == '\r')
            strbuf_truncate(&s->line, s->line.len - 1);
        if (s->line.len) {
            int r = engine_parse_event(s->line.buf, s->line.len, s->cb, s->userdata, &s->err);
            strbuf_reset(&s->line);
            if (r < 0) {
                if (!s->err)
                    nc_error_set(&s->err, -r, "event handler failed");
                return r;
            }
            if (r > 0) {
                s->stop = r;
                return r;
            }
        }
    }
    return 0;
}

void event_splitter_release(event_splitter *s)
{
    strbuf_release(&s->line);
    nc_error_free(s->err);
    s->err = NULL;
}

static int on_stream(const char *data, size_t len, void *userdata)
{
    /* Non-zero aborts the transfer: the splitter keeps why. */
    return event_splitter_feed(userdata, data, len) != 0;
}

int engine_events(engine *e, char *const *labels, int64_t since, int64_t until, long timeout_ms,
                  engine_event_cb cb, void *userdata, nc_error **err)
{
    _cleanup_free_ char *filters = engine_filters("container", labels);
    _cleanup_strbuf_ strbuf target = STRBUF_INIT;
    strbuf_addf(&target, "%s/events?filters=%s", e->api_prefix, filters);
    if (since)
        strbuf_addf(&target, "&since=%lld", (long long)since);
    if (until)
        strbuf_addf(&target, "&until=%lld", (long long)until);

    event_splitter s = {.cb = cb, .userdata = userdata};
    uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
    _cleanup_(http_async_freep) http_async *a = NULL;
    _cleanup_error_ nc_error *serr = NULL;
    int r = http_async_start(&e->http_opts, "GET", strbuf_str(&target), timeout_ms, on_stream, &s,
                             &a, &serr);
    if (r < 0) {
        /* Events that came with the headers may already have stopped or failed the stream. */
        if (s.err)
            r = nc_error_set(err, s.err->code, "%s", s.err->msg);
        else if (s.stop)
            r = 0;
        else
            r = nc_error_set_http(err, serr->code, serr->http_status, "%s", serr->msg);
        goto out;
    }
    const http_response *resp = http_async_response(a);
    if (resp->status != 200) {
        _cleanup_error_ nc_error *ignored = NULL;
        (void)http_async_pump(a, 2000, &ignored);
        r = engine_reply_error(resp->status, resp->body.buf, resp->body.len, err);
        goto out;
    }
    for (;;) {
        _cleanup_error_ nc_error *perr = NULL;
        r = http_async_pump(a, (long)ms_until(deadline), &perr);
        if (s.err) {
            r = nc_error_set(err, s.err->code, "%s", s.err->msg);
            break;
        }
        if (s.stop) {
            r = 0;
            break;
        }
        if (r < 0) {
            r = nc_error_set(err, perr->code, "event stream: %s", perr->msg);
            break;
        }
        if (r == 1) {
            r = 0;
            break;
        }
        if (ms_until(deadline) == 0) {
            r = nc_error_set(err, ETIMEDOUT, "event stream still open after %ld ms", timeout_ms);
            break;
        }
    }
out:
    event_splitter_release(&s);
    return r;
}
