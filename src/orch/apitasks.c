/* The local API's scheduled tasks (see api_internal.h and the endpoint list in api.c). A task is
 * {id, group, chat_jid, prompt, script, schedule_type, schedule_value, context_mode, status,
 * next_run, next_run_local, last_run, last_result, created_by, created}: times as ISO 8601 UTC,
 * next_run_local in orch.timezone with its offset; null when none. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "orch/api_internal.h"
#include "orch/apievents.h"
#include "orch/store_tasks.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "util/banned.h"

static unsigned fail(strbuf *out, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static unsigned fail(strbuf *out, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_key(g, "error");
    api_jgen_text(g, msg);
    jgen_obj_close(g);
    strbuf_reset(out);
    (void)jgen_finish(g, out, NULL);
    strbuf_addch(out, '\n');
    return status;
}

static unsigned fail_err(strbuf *out, const nc_error *e)
{
    unsigned status = 500;
    switch (e ? e->code : EIO) {
    case ENOENT:
        status = 404;
        break;
    case EEXIST:
        status = 409;
        break;
    case EINVAL:
        status = 400;
        break;
    case ESHUTDOWN:
        status = 503;
        break;
    case ENOSPC:
        status = 507;
        break;
    default:
        break;
    }
    return fail(out, status, "%s", nc_error_msg(e));
}

static unsigned done(nc_jgen *g, strbuf *out, unsigned status)
{
    _cleanup_error_ nc_error *err = NULL;
    if (jgen_finish(g, out, &err) < 0)
        return fail(out, 500, "generate reply: %s", nc_error_msg(err));
    strbuf_addch(out, '\n');
    return status;
}

static void time_or_null(nc_jgen *g, const char *key, int64_t ms)
{
    if (ms)
        apijson_time(g, key, ms);
    else {
        jgen_key(g, key);
        jgen_null(g);
    }
}

static void task_json(api_server *s, nc_jgen *g, const store_task *t)
{
    apijson_text(g, "id", t->id);
    apijson_text(g, "group", t->group);
    apijson_text(g, "chat_jid", t->chat_jid);
    apijson_text(g, "prompt", t->prompt);
    apijson_text(g, "script", t->script);
    apijson_text(g, "schedule_type", t->schedule_type);
    apijson_text(g, "schedule_value", t->schedule_value);
    apijson_text(g, "context_mode", t->context_mode);
    apijson_text(g, "status", t->status);
    time_or_null(g, "next_run", t->next_run_ms);
    _cleanup_free_ char *local = t->next_run_ms ? daemon_task_time(s->d, t->next_run_ms) : NULL;
    apijson_text(g, "next_run_local", local);
    time_or_null(g, "last_run", t->last_run_ms);
    apijson_text(g, "last_result", t->last_result);
    apijson_text(g, "created_by", t->created_by);
    apijson_time(g, "created", t->created_ms);
}

static unsigned reply_task(api_server *s, const char *id, bool runs, unsigned status, strbuf *out)
{
    store *st = daemon_store(s->d);
    store_task t = {0};
    _cleanup_error_ nc_error *err = NULL;
    if (store_task_get(st, id, &t, &err) < 0)
        return fail_err(out, err);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    task_json(s, g, &t);
    store_task_release(&t);
    if (runs) {
        store_task_run *v = NULL;
        size_t n = 0;
        if (store_task_runs(st, id, 100, &v, &n, &err) < 0)
            return fail_err(out, err);
        jgen_key(g, "runs");
        jgen_arr_open(g);
        for (size_t i = 0; i < n; i++) {
            jgen_obj_open(g);
            apijson_text(g, "run_id", v[i].run_id);
            apijson_time(g, "due", v[i].due_ms);
            apijson_time(g, "ran", v[i].run_ms);
            jgen_kv_int(g, "duration_ms", v[i].duration_ms);
            apijson_text(g, "status", v[i].status);
            apijson_text(g, "result", v[i].result);
            apijson_text(g, "error", v[i].error);
            jgen_obj_close(g);
        }
        jgen_arr_close(g);
        store_task_runs_free(v, n);
    }
    jgen_obj_close(g);
    return done(g, out, status);
}

static unsigned list(api_server *s, const char *group, strbuf *out)
{
    store_task *v = NULL;
    size_t n = 0;
    _cleanup_error_ nc_error *err = NULL;
    if (store_task_list(daemon_store(s->d), group, &v, &n, &err) < 0)
        return fail_err(out, err);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    apijson_text(g, "timezone", daemon_timezone(s->d));
    jgen_key(g, "tasks");
    jgen_arr_open(g);
    for (size_t i = 0; i < n; i++) {
        jgen_obj_open(g);
        task_json(s, g, &v[i]);
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    jgen_obj_close(g);
    store_tasks_free(v, n);
    return done(g, out, 200);
}

/* The body as an object whose members are all in fields; NULL with the reply made. */
static nc_json *body_object(const char *body, size_t len, const char *const *fields, strbuf *out,
                            unsigned *status)
{
    nc_json *root = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (!len || json_parse(body, len, &root, &err) < 0 || !json_is_object(root)) {
        json_free(root);
        *status = fail(out, 400, "request body: expected a JSON object%s%s", err ? ": " : "",
                       err ? nc_error_msg(err) : "");
        return NULL;
    }
    for (size_t i = 0; i < json_object_len(root); i++) {
        const char *key = json_object_key(root, i);
        const char *const *f = fields;
        while (*f && strcmp(*f, key) != 0)
            f++;
        const nc_json *v = json_object_value(root, i);
        if (!*f || !json_is_string(v)) {
            *status =
                fail(out, 400, *f ? "field '%s' must be a string" : "unknown field '%s'", key);
            json_free(root);
            return NULL;
        }
    }
    return root;
}

static unsigned add(api_server *s, const char *body, size_t len, strbuf *out)
{
    static const char *const fields[] = {
        "group",    "prompt", "schedule_type", "schedule_value", "context_mode", "script", "id",
        "chat_jid", NULL};
    unsigned status = 0;
    _cleanup_json_ nc_json *root = body_object(body, len, fields, out, &status);
    if (!root)
        return status;
#define F(k) json_string(json_get(root, k))
    store_task t = {
        .id = (char *)F("id"),
        .group = (char *)F("group"),
        .chat_jid = (char *)F("chat_jid"),
        .prompt = (char *)F("prompt"),
        .script = (char *)F("script"),
        .schedule_type = (char *)F("schedule_type"),
        .schedule_value = (char *)F("schedule_value"),
        .context_mode = (char *)F("context_mode"),
        .created_by = "api",
    };
#undef F
    const char *const required[] = {"group", "prompt", "schedule_type", "schedule_value"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(required); i++)
        if (!json_get(root, required[i]))
            return fail(out, 400, "field '%s' is required", required[i]);
    if (t.id) {
        for (const char *p = t.id; *p; p++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *p))
                return fail(out, 400, "field 'id' may hold only letters, digits, '.', '_', '-'");
        if (!*t.id || strlen(t.id) > 64)
            return fail(out, 400, "field 'id' must be 1 to 64 characters");
    }
    _cleanup_free_ char *id = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (daemon_task_add(s->d, &t, &id, &err) < 0)
        return fail_err(out, err);
    return reply_task(s, id, false, 201, out);
}

static unsigned patch(api_server *s, const char *id, const char *body, size_t len, strbuf *out)
{
    static const char *const fields[] = {"status", NULL};
    unsigned status = 0;
    _cleanup_json_ nc_json *root = body_object(body, len, fields, out, &status);
    if (!root)
        return status;
    const char *st = json_string(json_get(root, "status"));
    if (!st || (strcmp(st, "active") != 0 && strcmp(st, "paused") != 0))
        return fail(out, 400, "field 'status' must be \"active\" or \"paused\"");
    _cleanup_error_ nc_error *err = NULL;
    if (daemon_task_pause(s->d, id, strcmp(st, "paused") == 0, &err) < 0)
        return fail_err(out, err);
    return reply_task(s, id, false, 200, out);
}

unsigned apitasks_route(api_server *s, const char *method, const char *id, const char *group,
                        const char *body, size_t len, strbuf *out, const char **allow)
{
    if (!id) {
        if (strcmp(method, "GET") == 0)
            return len ? fail(out, 400, "this request takes no body") : list(s, group, out);
        if (strcmp(method, "POST") == 0)
            return group ? fail(out, 400, "unknown query parameter 'group'")
                         : add(s, body, len, out);
        *allow = "GET, POST";
        return fail(out, 405, "method not allowed");
    }
    if (strcmp(method, "GET") == 0)
        return len ? fail(out, 400, "this request takes no body")
                   : reply_task(s, id, true, 200, out);
    if (strcmp(method, "PATCH") == 0)
        return patch(s, id, body, len, out);
    if (strcmp(method, "DELETE") == 0) {
        _cleanup_error_ nc_error *err = NULL;
        if (daemon_task_remove(s->d, id, &err) < 0)
            return fail_err(out, err);
        _cleanup_jgen_ nc_jgen *g = jgen_new();
        jgen_obj_open(g);
        apijson_text(g, "removed", id);
        jgen_obj_close(g);
        return done(g, out, 200);
    }
    *allow = "GET, PATCH, DELETE";
    return fail(out, 405, "method not allowed");
}
