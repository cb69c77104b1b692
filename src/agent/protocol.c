#include "agent/protocol.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "util/json.h"
#include "util/termsafe.h"
#include "util/units.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Inside a block, markers are searched with the newline that must precede them. */
#define START_LINE "\n" PROTOCOL_START
#define END_LINE "\n" PROTOCOL_END

int protocol_input_json(const agent_input *in, strbuf *out, nc_error **err)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "prompt", in->prompt);
    if (in->session_id)
        jgen_kv_str(g, "sessionId", in->session_id);
    jgen_kv_str(g, "groupFolder", in->group_folder);
    jgen_kv_str(g, "chatJid", in->chat_jid);
    jgen_kv_bool(g, "isMain", in->is_main);
    if (in->is_scheduled_task)
        jgen_kv_bool(g, "isScheduledTask", true);
    if (in->assistant_name)
        jgen_kv_str(g, "assistantName", in->assistant_name);
    if (in->script)
        jgen_kv_str(g, "script", in->script);
    jgen_obj_close(g);
    return jgen_finish(g, out, err);
}

int protocol_parse_result(const char *text, size_t len, protocol_result_cb cb, void *userdata,
                          nc_error **err)
{
    _cleanup_json_ nc_json *root = NULL;
    int r = json_parse(text, len, &root, err);
    if (r < 0)
        return r;
    if (!json_is_object(root))
        return nc_error_set(err, EINVAL, "not a JSON object");
    const char *status = json_string(json_get(root, "status"));
    if (!status || (strcmp(status, "success") != 0 && strcmp(status, "error") != 0))
        return nc_error_set(err, EINVAL, "status is not \"success\" or \"error\"");
    const nc_json *res = json_get(root, "result");
    if (res && !json_is_null(res) && !json_is_string(res))
        return nc_error_set(err, EINVAL, "result is neither a string nor null");
    const nc_json *sid = json_get(root, "newSessionId");
    if (sid && !json_is_null(sid) && !json_is_string(sid))
        return nc_error_set(err, EINVAL, "newSessionId is not a string");
    /* A session id is an identifier that is shown, stored and sent back: one with a control
     * character (or invalid UTF-8) is refused, never cleaned up into a different id. (A NUL
     * never gets here: json_parse refuses it, naming the field.) */
    const char *sid_text = json_string(sid);
    if (sid_text && !termsafe_is_clean(sid_text, strlen(sid_text), 0))
        return nc_error_set(err, EINVAL, "newSessionId holds a control character");
    const nc_json *e = json_get(root, "error");
    if (e && !json_is_null(e) && !json_is_string(e))
        return nc_error_set(err, EINVAL, "error is not a string");
    agent_result ar = {
        .success = strcmp(status, "success") == 0,
        .result = json_string(res),
        .session = json_string(sid),
        .error = json_string(e),
    };
    cb(&ar, userdata);
    return 0;
}

void marker_parser_init(marker_parser *p, size_t max_block, protocol_result_cb on_result,
                        protocol_warn_cb on_warn, void *userdata)
{
    memset(p, 0, sizeof(*p));
    p->max_block = max_block;
    p->on_result = on_result;
    p->on_warn = on_warn;
    p->userdata = userdata;
    /* The stream starts at the start of a line. */
    strbuf_addch(&p->pending, '\n');
}

void marker_parser_release(marker_parser *p)
{
    strbuf_release(&p->block);
    strbuf_release(&p->pending);
}

static void warn(marker_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(marker_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    if (p->on_warn)
        p->on_warn(msg, p->userdata);
}

static void block_add(marker_parser *p, const char *data, size_t n)
{
    p->block_bytes += n;
    if (p->oversize)
        return;
    if (p->block.len + n > p->max_block) {
        p->oversize = true;
        strbuf_release(&p->block);
        return;
    }
    strbuf_add(&p->block, data, n);
}

static void deliver(marker_parser *p)
{
    if (p->oversize) {
        _cleanup_free_ char *size = format_size_human(p->block_bytes);
        _cleanup_free_ char *limit = format_size_human(p->max_block);
        _cleanup_free_ char *msg =
            xasprintf("the agent's result is %s, more than the limit of %s", size, limit);
        agent_result ar = {.success = false, .error = msg};
        p->results++;
        p->on_result(&ar, p->userdata);
        warn(p, "%s", msg);
        return;
    }
    const char *t = strbuf_str(&p->block);
    size_t n = p->block.len;
    while (n && isspace((unsigned char)*t))
        t++, n--;
    while (n && isspace((unsigned char)t[n - 1]))
        n--;
    _cleanup_error_ nc_error *err = NULL;
    if (protocol_parse_result(t, n, p->on_result, p->userdata, &err) < 0) {
        p->skipped++;
        warn(p, "skipped an output block that is not a valid result: %s", nc_error_msg(err));
        return;
    }
    p->results++;
}

static void reset_block(marker_parser *p)
{
    p->in_block = p->oversize = false;
    p->block_bytes = 0;
    strbuf_reset(&p->block);
}

void marker_feed(marker_parser *p, const char *data, size_t len)
{
    strbuf_add(&p->pending, data, len);
    for (;;) {
        const char *buf = strbuf_str(&p->pending);
        size_t n = p->pending.len;
        if (!p->in_block) {
            /* Outside a block a start marker counts anywhere, as in NanoClaw: an agent may
             * print text without a newline right before it. */
            const char *s = memmem(buf, n, PROTOCOL_START, strlen(PROTOCOL_START));
            if (!s) {
                /* Keep what could be the beginning of a marker. */
                size_t keep = strlen(START_LINE) - 1;
                if (n > keep)
                    strbuf_consume(&p->pending, n - keep);
                return;
            }
            reset_block(p);
            p->in_block = true;
            strbuf_consume(&p->pending, (size_t)(s - buf) + strlen(PROTOCOL_START));
            continue;
        }
        const char *e = memmem(buf, n, END_LINE, strlen(END_LINE));
        const char *s = memmem(buf, n, START_LINE, strlen(START_LINE));
        if (s && (!e || s < e)) {
            /* A new block began before this one ended. */
            p->skipped++;
            warn(p, "skipped an output block without an end marker");
            reset_block(p);
            strbuf_consume(&p->pending, (size_t)(s - buf));
            continue;
        }
        if (e) {
            block_add(p, buf, (size_t)(e - buf));
            deliver(p);
            reset_block(p);
            strbuf_consume(&p->pending, (size_t)(e - buf) + strlen(END_LINE));
            continue;
        }
        size_t keep =
            strlen(START_LINE) > strlen(END_LINE) ? strlen(START_LINE) - 1 : strlen(END_LINE) - 1;
        if (n > keep) {
            block_add(p, buf, n - keep);
            strbuf_consume(&p->pending, n - keep);
        }
        return;
    }
}

void marker_finish(marker_parser *p)
{
    if (p->in_block) {
        p->skipped++;
        warn(p, "the output ended inside a result block (no end marker)");
        reset_block(p);
    }
    strbuf_reset(&p->pending);
}
