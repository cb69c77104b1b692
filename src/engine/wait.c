#include "engine/wait.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/container.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* The wait reply is one small JSON object. */
#define WAIT_MAX_BODY (64 * 1024)
/* How often the state is polled once the fallback is on. */
#define WAIT_POLL_MS 100

struct engine_wait {
    http_async *a;
    char *id;
    bool broken; /* the wait connection failed: rely on polling alone */
};

int engine_parse_wait_reply(const char *body, size_t len, int64_t *ret_code, nc_error **err)
{
    _cleanup_json_ nc_json *root = NULL;
    int r = json_parse(body, len, &root, err);
    if (r < 0)
        return nc_error_wrap(err, "wait reply");
    const char *msg = json_string(json_get(json_get(root, "Error"), "Message"));
    if (msg && *msg)
        return nc_error_set(err, EIO, "engine reported: %s", msg);
    int64_t code;
    if (!json_int(json_get(root, "StatusCode"), &code))
        return nc_error_set(err, EPROTO, "wait reply has no StatusCode");
    *ret_code = code;
    return 0;
}

int engine_wait_begin(engine *e, const char *id, const char *condition, engine_wait **ret,
                      nc_error **err)
{
    if (!engine_valid_ref(id))
        return nc_error_set(err, EINVAL, "invalid container id '%s'", id);
    _cleanup_free_ char *cond = engine_url_escape(condition);
    _cleanup_free_ char *target =
        xasprintf("%s/containers/%s/wait?condition=%s", e->api_prefix, id, cond);
    http_opts o = e->http_opts;
    o.max_body = WAIT_MAX_BODY;
    http_async *a = NULL;
    int r = http_async_start(&o, "POST", target, e->http_opts.timeout_ms, NULL, NULL, &a, err);
    if (r < 0)
        return r;
    const http_response *resp = http_async_response(a);
    if (resp->status != 200) {
        /* Errors come before the headers are flushed, so the body is complete or close. */
        _cleanup_error_ nc_error *ignored = NULL;
        (void)http_async_pump(a, 2000, &ignored);
        resp = http_async_response(a);
        r = engine_reply_error(resp->status, resp->body.buf, resp->body.len, err);
        http_async_free(a);
        return r;
    }
    engine_wait *w = xnew0(engine_wait);
    w->a = a;
    w->id = xstrdup(id);
    *ret = w;
    return 0;
}

int engine_wait_end(engine *e, engine_wait *w, long timeout_ms, long fallback_ms, int64_t *ret_code,
                    nc_error **err)
{
    uint64_t start = mono_ms();
    uint64_t deadline = start + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    uint64_t fallback_at = start + (uint64_t)(fallback_ms > 0 ? fallback_ms : 0);
    for (;;) {
        if (!w->broken) {
            uint64_t now = mono_ms();
            uint64_t step = now < fallback_at ? fallback_at - now : WAIT_POLL_MS;
            if (now + step > deadline)
                step = deadline > now ? deadline - now : 0;
            _cleanup_error_ nc_error *perr = NULL;
            int r = http_async_pump(w->a, (long)step, &perr);
            if (r == 1) {
                const http_response *resp = http_async_response(w->a);
                return engine_parse_wait_reply(resp->body.buf, resp->body.len, ret_code, err);
            }
            if (r < 0)
                w->broken = true; /* e.g. Podman closed it; the state still tells */
        } else {
            sleep_ms(ms_until(deadline) < WAIT_POLL_MS ? ms_until(deadline) : WAIT_POLL_MS);
        }
        uint64_t now = mono_ms();
        if (now >= fallback_at || w->broken) {
            engine_state st = {0};
            int r = engine_container_state(e, w->id, &st, err);
            if (r < 0)
                return nc_error_wrap(err, "wait for container '%s'", w->id);
            bool ended = !st.running && strcmp(st.status, "created") != 0;
            int64_t code = st.exit_code;
            engine_state_release(&st);
            if (ended) {
                *ret_code = code;
                return 0;
            }
        }
        if (mono_ms() >= deadline)
            return nc_error_set(err, ETIMEDOUT, "container '%s' still running after %ld ms", w->id,
                                timeout_ms);
    }
}

void engine_wait_free(engine_wait *w)
{
    if (!w)
        return;
    http_async_free(w->a);
    free(w->id);
    free(w);
}
