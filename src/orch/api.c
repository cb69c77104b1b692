/* The local API over libmicrohttpd (Debian 0.9.75). Endpoints, all JSON unless said:
 *
 *   GET    /v1/health                      {"ok":true}
 *   GET    /v1/status                      daemon_status_json() and "counts" per group
 *   GET    /v1/groups                      {"groups":[group...]}
 *   POST   /v1/groups                      {folder, name?, trigger?, requires_trigger?, is_main?,
 *                                          image?} -> 201 group; maps the chat local:<folder>
 *   GET    /v1/groups/{folder}             group
 *   PATCH  /v1/groups/{folder}             {name?, trigger?, requires_trigger?, is_main?, image?}
 *   DELETE /v1/groups/{folder}             {"removed":folder}
 *   POST   /v1/groups/{folder}/messages    {text, sender?} (?wait=0|1) -> the NDJSON event
 *                                          stream of src/orch/apievents.h
 *   GET    /v1/groups/{folder}/runs        (?limit=N) {"runs":[run...]}, newest first
 *   POST   /v1/groups/{folder}/retry       {"retried":N}
 *   POST   /v1/groups/{folder}/chats       {jid, allow?} -> 201: maps a channel's chat ("tg:ID")
 *                                          to the group; allow adds senders to its allowlist
 *   GET    /v1/chats                       {"chats":[{jid, name, kind, group, last_seen?}]}: chats
 *                                          mapped or seen by a channel (group null: unregistered)
 *   GET    /v1/messages                    (?group=G&after=ID&limit=N) {"messages":[...],
 *                                          "last_id":ID, "more":bool}, oldest first
 *   GET    /v1/tasks                       (?group=G) {"timezone":Z,"tasks":[task...]}
 *   POST   /v1/tasks                       {group, prompt, schedule_type, schedule_value,
 *                                          context_mode?, script?, id?} -> 201 task
 *   GET    /v1/tasks/{id}                  task with its "runs", newest first
 *   PATCH  /v1/tasks/{id}                  {status: "active"|"paused"} -> task
 *   DELETE /v1/tasks/{id}                  {"removed":id}
 *   GET    /metrics                        daemon_metrics(), Prometheus text format 0.0.4
 *   POST   /hooks/{name}                   a signed webhook request (src/channels/webhook.h):
 *                                          202 {"id":N}; 401 bad signature or stale time, 409
 *                                          a replay, 404 no such hook, 413 over 64 KiB
 *
 * Errors are {"error":"..."}: 400 (names the field or parameter; unknown ones are refused), 404,
 * 405 (with Allow), 409 (a duplicate group, a second main group), 413 (body over API_MAX_BODY),
 * 503 (the daemon is shutting down), 507 (disk full), 500 (anything else).
 *
 * Threads. MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD: one thread accepts,
 * and each connection is served by a thread of its own. A message's stream is a content reader
 * callback that blocks until there is something to send (it waits on the daemon's change
 * counter, then reads the store): in MHD's other modes one blocked callback would stall every
 * connection that shares its thread, and a callback that returns 0 instead ("nothing yet") makes
 * MHD call it again at once, a busy loop. With a thread each, a slow reader, a stalled half
 * request or a stream waiting for a turn holds only its own thread, up to api_start's
 * max_clients connections (more wait in the listen backlog: MHD stops polling the
 * listening socket at the limit when it has its inter-thread channel, MHD_USE_ITC, which
 * MHD_quiesce_daemon needs anyway). No lock of ours is held while MHD writes to a client.
 *
 * Keep-alive. MHD 0.9.75 answers "Connection: close" when the handler queues its response on
 * its first call for a request: that call comes before the body is read, MHD then marks the
 * request "discard" (it will not read a body nor a next request) and closes after the reply
 * (connection.c, MHD_queue_response: "response was queued early"). A minimal handler that
 * answers on its first call, as MHD's examples do, so has every connection closed: most likely
 * what the check in ../shared/reference/daemon-proxy-channels.md saw. Here the first call only
 * allocates the request's state and the response is queued on the last call, once the body is
 * in, so keep-alive works (test_keep_alive). The one early reply is 413 for a Content-Length
 * over the cap, where closing without reading the body is the point. */
#include "orch/api.h"
#include "orch/api_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "channels/webhook.h"
#include "orch/apievents.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* One request's state, from MHD's first call of the handler to its completion callback. */
struct request {
    strbuf body;
    bool too_big;
};

/* ---- replies ---- */

static int http_status_for(int code)
{
    switch (code) {
    case ENOENT:
        return MHD_HTTP_NOT_FOUND;
    case EEXIST:
    case EALREADY:
        return MHD_HTTP_CONFLICT;
    case EINVAL:
        return MHD_HTTP_BAD_REQUEST;
    case EFBIG:
        return MHD_HTTP_CONTENT_TOO_LARGE;
    case ESHUTDOWN:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    case ENOSPC:
        return MHD_HTTP_INSUFFICIENT_STORAGE;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

static enum MHD_Result reply_bytes(struct MHD_Connection *c, unsigned status, const char *ctype,
                                   const char *allow, const char *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (allow)
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result reply_error_allow(struct MHD_Connection *c, unsigned status,
                                         const char *allow, const char *msg)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_key(g, "error");
    api_jgen_text(g, msg);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    if (jgen_finish(g, &out, NULL) < 0)
        abort(); /* the text is made valid UTF-8 above */
    strbuf_addch(&out, '\n');
    return reply_bytes(c, status, "application/json", allow, out.buf, out.len);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    return reply_error_allow(c, status, NULL, msg);
}

static enum MHD_Result reply_nc_error(struct MHD_Connection *c, const nc_error *e)
{
    return reply_error(c, (unsigned)http_status_for(e ? e->code : EIO), "%s", nc_error_msg(e));
}

/* Finishes g (a complete document) and sends it. */
static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, nc_jgen *g)
{
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    _cleanup_error_ nc_error *err = NULL;
    if (jgen_finish(g, &out, &err) < 0)
        return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "generate reply: %s",
                           nc_error_msg(err));
    strbuf_addch(&out, '\n');
    return reply_bytes(c, status, "application/json", NULL, out.buf, out.len);
}

/* ---- request parsing ---- */

/* The request body as a JSON object whose members are all in fields (NULL-terminated). An
 * empty body is allowed (an empty object) only when empty_ok. On failure a 400 is queued and
 * *ret stays NULL; the return value is then the handler's. */
static bool parse_body(struct MHD_Connection *c, const struct request *r, const char *const *fields,
                       bool empty_ok, nc_json **ret, enum MHD_Result *reply)
{
    *ret = NULL;
    if (r->body.len == 0 && empty_ok)
        return true;
    if (r->body.len == 0) {
        *reply = reply_error(c, MHD_HTTP_BAD_REQUEST, "request body: expected a JSON object");
        return false;
    }
    _cleanup_error_ nc_error *err = NULL;
    _cleanup_json_ nc_json *root = NULL;
    if (json_parse(r->body.buf, r->body.len, &root, &err) < 0) {
        *reply = reply_error(c, MHD_HTTP_BAD_REQUEST, "request body: %s", nc_error_msg(err));
        return false;
    }
    if (!json_is_object(root)) {
        *reply = reply_error(c, MHD_HTTP_BAD_REQUEST, "request body: expected a JSON object");
        return false;
    }
    for (size_t i = 0; i < json_object_len(root); i++) {
        const char *key = json_object_key(root, i);
        bool known = false;
        for (const char *const *f = fields; *f && !known; f++)
            known = strcmp(*f, key) == 0;
        if (!known) {
            *reply = reply_error(c, MHD_HTTP_BAD_REQUEST, "unknown field '%s'", key);
            return false;
        }
    }
    *ret = TAKE_PTR(root);
    return true;
}

/* Optional string member: absent leaves *out; present and not a string queues a 400. */
static bool field_str(struct MHD_Connection *c, const nc_json *root, const char *key,
                      const char **out, enum MHD_Result *reply)
{
    const nc_json *v = json_get(root, key);
    if (!v)
        return true;
    if (!json_is_string(v)) {
        *reply = reply_error(c, MHD_HTTP_BAD_REQUEST, "field '%s' must be a string", key);
        return false;
    }
    *out = json_string(v);
    return true;
}

static bool field_bool(struct MHD_Connection *c, const nc_json *root, const char *key, bool *out,
                       enum MHD_Result *reply)
{
    const nc_json *v = json_get(root, key);
    if (!v)
        return true;
    if (!json_bool(v, out)) {
        *reply = reply_error(c, MHD_HTTP_BAD_REQUEST, "field '%s' must be true or false", key);
        return false;
    }
    return true;
}

struct query_check {
    const char *const *allowed;
    const char *unknown;
};

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    (void)value;
    struct query_check *q = cls;
    for (const char *const *a = q->allowed; *a; a++)
        if (strcmp(*a, key) == 0)
            return MHD_YES;
    q->unknown = key;
    return MHD_NO;
}

/* Refuses (400 queued) a query parameter not in allowed (NULL-terminated). */
static bool check_query(struct MHD_Connection *c, const char *const *allowed,
                        enum MHD_Result *reply)
{
    struct query_check q = {allowed, NULL};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, &q);
    if (q.unknown) {
        *reply = reply_error(c, MHD_HTTP_BAD_REQUEST, "unknown query parameter '%s'", q.unknown);
        return false;
    }
    return true;
}

/* An integer query parameter in [min, max]; absent leaves *out. */
static bool query_int(struct MHD_Connection *c, const char *key, int64_t min, int64_t max,
                      int64_t *out, enum MHD_Result *reply)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    if (!v)
        return true;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < min || n > max || !(*v >= '0' && *v <= '9')) {
        *reply = reply_error(c, MHD_HTTP_BAD_REQUEST,
                             "query parameter '%s' must be an integer from %" PRId64 " to %" PRId64,
                             key, min, max);
        return false;
    }
    *out = n;
    return true;
}

static bool no_body(struct MHD_Connection *c, const struct request *r, enum MHD_Result *reply)
{
    if (r->body.len == 0)
        return true;
    *reply = reply_error(c, MHD_HTTP_BAD_REQUEST, "this request takes no body");
    return false;
}

/* ---- handlers ---- */

static enum MHD_Result get_status(api_server *s, struct MHD_Connection *c)
{
    store_group_counts *counts = NULL;
    size_t n = 0;
    _cleanup_error_ nc_error *err = NULL;
    if (store_counts(daemon_store(s->d), &counts, &n, &err) < 0)
        return reply_nc_error(c, err);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    daemon_status_json(s->d, g);
    jgen_key(g, "counts");
    jgen_arr_open(g);
    for (size_t i = 0; i < n; i++) {
        jgen_obj_open(g);
        apijson_text(g, "group", counts[i].folder);
        jgen_kv_int(g, "pending", counts[i].pending);
        jgen_kv_int(g, "running", counts[i].running);
        jgen_kv_int(g, "failed", counts[i].failed);
        jgen_kv_int(g, "undelivered", counts[i].undelivered);
        jgen_kv_int(g, "undeliverable", counts[i].undeliverable);
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    jgen_obj_close(g);
    store_counts_free(counts, n);
    return reply_json(c, MHD_HTTP_OK, g);
}

static enum MHD_Result list_groups(api_server *s, struct MHD_Connection *c)
{
    store_group *v = NULL;
    size_t n = 0;
    _cleanup_error_ nc_error *err = NULL;
    if (store_group_list(daemon_store(s->d), &v, &n, &err) < 0)
        return reply_nc_error(c, err);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_key(g, "groups");
    jgen_arr_open(g);
    for (size_t i = 0; i < n; i++)
        apijson_group(g, &v[i]);
    jgen_arr_close(g);
    jgen_obj_close(g);
    store_groups_free(v, n);
    return reply_json(c, MHD_HTTP_OK, g);
}

static enum MHD_Result reply_group(api_server *s, struct MHD_Connection *c, unsigned status,
                                   const char *folder)
{
    store_group grp = {0};
    _cleanup_error_ nc_error *err = NULL;
    if (store_group_get(daemon_store(s->d), folder, &grp, &err) < 0)
        return reply_nc_error(c, err);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    apijson_group(g, &grp);
    store_group_release(&grp);
    return reply_json(c, status, g);
}

static const char *const group_fields[] = {"folder",  "name",  "trigger", "requires_trigger",
                                           "is_main", "image", NULL};

/* Reads the settable members of a group from root into grp (strings borrowed from root). */
static bool group_fields_in(struct MHD_Connection *c, const nc_json *root, store_group *grp,
                            enum MHD_Result *reply)
{
    const char *name = grp->name, *trigger = grp->trigger, *image = grp->image;
    if (!field_str(c, root, "name", &name, reply) ||
        !field_str(c, root, "trigger", &trigger, reply) ||
        !field_str(c, root, "image", &image, reply) ||
        !field_bool(c, root, "requires_trigger", &grp->requires_trigger, reply) ||
        !field_bool(c, root, "is_main", &grp->is_main, reply))
        return false;
    grp->name = (char *)name;
    grp->trigger = (char *)trigger;
    grp->image = (char *)image;
    return true;
}

static enum MHD_Result add_group(api_server *s, struct MHD_Connection *c, const struct request *r)
{
    enum MHD_Result reply = MHD_NO;
    _cleanup_json_ nc_json *root = NULL;
    if (!parse_body(c, r, group_fields, false, &root, &reply))
        return reply;
    const char *folder = NULL;
    if (!field_str(c, root, "folder", &folder, &reply))
        return reply;
    if (!folder)
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "field 'folder' is required");
    /* Non-main groups answer only messages that start with their trigger unless told not to
     * (NanoClaw's default). */
    store_group grp = {
        .folder = (char *)folder, .name = "", .trigger = "", .requires_trigger = true, .image = ""};
    if (!group_fields_in(c, root, &grp, &reply))
        return reply;
    store *st = daemon_store(s->d);
    _cleanup_error_ nc_error *err = NULL;
    if (store_group_add(st, &grp, &err) < 0)
        return reply_nc_error(c, err);
    _cleanup_free_ char *jid = xasprintf("local:%s", folder);
    if (store_chat_map(st, jid, folder, &err) < 0) {
        /* A group without its local chat could not be talked to: take it back. */
        _cleanup_error_ nc_error *rm_err = NULL;
        (void)store_group_remove(st, folder, &rm_err);
        daemon_groups_changed(s->d);
        nc_error_wrap(&err, "map chat '%s'", jid);
        return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", nc_error_msg(err));
    }
    daemon_groups_changed(s->d);
    return reply_group(s, c, MHD_HTTP_CREATED, folder);
}

static enum MHD_Result patch_group(api_server *s, struct MHD_Connection *c, const struct request *r,
                                   const char *folder)
{
    enum MHD_Result reply = MHD_NO;
    _cleanup_json_ nc_json *root = NULL;
    if (!parse_body(c, r, group_fields, false, &root, &reply))
        return reply;
    if (json_get(root, "folder"))
        return reply_error(c, MHD_HTTP_BAD_REQUEST,
                           "field 'folder' cannot be changed: add a new group instead");
    store *st = daemon_store(s->d);
    store_group cur = {0};
    _cleanup_error_ nc_error *err = NULL;
    if (store_group_get(st, folder, &cur, &err) < 0)
        return reply_nc_error(c, err);
    store_group upd = cur;
    bool ok = group_fields_in(c, root, &upd, &reply);
    int rc = ok ? store_group_update(st, &upd, &err) : 0;
    store_group_release(&cur);
    if (!ok)
        return reply;
    if (rc < 0)
        return reply_nc_error(c, err);
    daemon_groups_changed(s->d);
    return reply_group(s, c, MHD_HTTP_OK, folder);
}

static enum MHD_Result remove_group(api_server *s, struct MHD_Connection *c, const char *folder)
{
    _cleanup_error_ nc_error *err = NULL;
    if (store_group_remove(daemon_store(s->d), folder, &err) < 0)
        return reply_nc_error(c, err);
    daemon_groups_changed(s->d);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    apijson_text(g, "removed", folder);
    jgen_obj_close(g);
    return reply_json(c, MHD_HTTP_OK, g);
}

/* 404 (queued) unless the group exists. */
static bool group_exists(api_server *s, struct MHD_Connection *c, const char *folder,
                         enum MHD_Result *reply)
{
    store_group grp = {0};
    _cleanup_error_ nc_error *err = NULL;
    if (store_group_get(daemon_store(s->d), folder, &grp, &err) < 0) {
        *reply = reply_nc_error(c, err);
        return false;
    }
    store_group_release(&grp);
    return true;
}

static enum MHD_Result list_runs(api_server *s, struct MHD_Connection *c, const char *folder)
{
    static const char *const q[] = {"limit", NULL};
    enum MHD_Result reply = MHD_NO;
    int64_t limit = API_DEFAULT_PAGE;
    if (!check_query(c, q, &reply) || !query_int(c, "limit", 1, API_MAX_PAGE, &limit, &reply) ||
        !group_exists(s, c, folder, &reply))
        return reply;
    store_run *v = NULL;
    size_t n = 0;
    _cleanup_error_ nc_error *err = NULL;
    if (store_run_list(daemon_store(s->d), folder, (size_t)limit, &v, &n, &err) < 0)
        return reply_nc_error(c, err);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_key(g, "runs");
    jgen_arr_open(g);
    for (size_t i = 0; i < n; i++)
        apijson_run(g, &v[i]);
    jgen_arr_close(g);
    jgen_obj_close(g);
    store_runs_free(v, n);
    return reply_json(c, MHD_HTTP_OK, g);
}

static enum MHD_Result list_messages(api_server *s, struct MHD_Connection *c)
{
    static const char *const q[] = {"group", "after", "limit", NULL};
    enum MHD_Result reply = MHD_NO;
    int64_t after = 0, limit = API_DEFAULT_PAGE;
    if (!check_query(c, q, &reply) || !query_int(c, "after", 0, INT64_MAX, &after, &reply) ||
        !query_int(c, "limit", 1, API_MAX_PAGE, &limit, &reply))
        return reply;
    const char *folder = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "group");
    if (folder && !group_exists(s, c, folder, &reply))
        return reply;
    store_message *v = NULL;
    size_t n = 0;
    _cleanup_error_ nc_error *err = NULL;
    if (store_message_list(daemon_store(s->d), folder, after, (size_t)limit, &v, &n, &err) < 0)
        return reply_nc_error(c, err);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_key(g, "messages");
    jgen_arr_open(g);
    for (size_t i = 0; i < n; i++)
        apijson_message(g, &v[i]);
    jgen_arr_close(g);
    jgen_kv_int(g, "last_id", n ? v[n - 1].id : after);
    jgen_kv_bool(g, "more", n == (size_t)limit);
    jgen_obj_close(g);
    store_messages_free(v, n);
    return reply_json(c, MHD_HTTP_OK, g);
}

static enum MHD_Result retry_group(api_server *s, struct MHD_Connection *c, const struct request *r,
                                   const char *folder)
{
    static const char *const none[] = {NULL};
    enum MHD_Result reply = MHD_NO;
    _cleanup_json_ nc_json *root = NULL;
    if (!parse_body(c, r, none, true, &root, &reply) || !group_exists(s, c, folder, &reply))
        return reply;
    _cleanup_error_ nc_error *err = NULL;
    int n = daemon_retry(s->d, folder, &err);
    if (n < 0)
        return reply_nc_error(c, err);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_int(g, "retried", n);
    jgen_obj_close(g);
    return reply_json(c, MHD_HTTP_OK, g);
}

/* POST /v1/groups/{folder}/chats {jid, allow?: [sender...]}: maps a channel's chat (tg:ID) to
 * the group, and adds senders to the group's allowlist. */
static enum MHD_Result add_chat(api_server *s, struct MHD_Connection *c, const struct request *r,
                                const char *folder)
{
    static const char *const fields[] = {"jid", "allow", NULL};
    enum MHD_Result reply = MHD_NO;
    _cleanup_json_ nc_json *root = NULL;
    const char *jid = NULL;
    if (!parse_body(c, r, fields, false, &root, &reply) ||
        !field_str(c, root, "jid", &jid, &reply) || !group_exists(s, c, folder, &reply))
        return reply;
    if (!jid || !jid[0] || !strchr(jid, ':') || strncmp(jid, "local:", 6) == 0)
        return reply_error(c, MHD_HTTP_BAD_REQUEST,
                           "field 'jid' must be a channel's chat, such as \"tg:123\"");
    const nc_json *allow = json_get(root, "allow");
    for (size_t i = 0; allow && i < json_array_len(allow); i++)
        if (!json_is_string(json_array_at(allow, i)) || !json_string(json_array_at(allow, i))[0])
            return reply_error(c, MHD_HTTP_BAD_REQUEST, "field 'allow' must list senders");
    if (allow && !json_is_array(allow))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "field 'allow' must list senders");
    store *st = daemon_store(s->d);
    _cleanup_error_ nc_error *err = NULL;
    if (store_chat_map(st, jid, folder, &err) < 0)
        return reply_nc_error(c, err);
    for (size_t i = 0; allow && i < json_array_len(allow); i++)
        if (store_sender_allow(st, folder, json_string(json_array_at(allow, i)), &err) < 0)
            return reply_nc_error(c, err);
    daemon_groups_changed(s->d);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    apijson_text(g, "jid", jid);
    apijson_text(g, "group", folder);
    jgen_obj_close(g);
    return reply_json(c, MHD_HTTP_CREATED, g);
}

/* GET /v1/chats: every chat mapped or seen by a channel, registered or not. */
static enum MHD_Result list_chats(api_server *s, struct MHD_Connection *c)
{
    store_chat *v = NULL;
    size_t n = 0;
    _cleanup_error_ nc_error *err = NULL;
    if (store_chat_list(daemon_store(s->d), &v, &n, &err) < 0)
        return reply_nc_error(c, err);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_key(g, "chats");
    jgen_arr_open(g);
    for (size_t i = 0; i < n; i++) {
        jgen_obj_open(g);
        apijson_text(g, "jid", v[i].jid);
        apijson_text(g, "name", v[i].name);
        apijson_text(g, "kind", v[i].kind);
        apijson_text(g, "group", v[i].group);
        if (v[i].last_ms)
            apijson_time(g, "last_seen", v[i].last_ms);
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    jgen_obj_close(g);
    store_chats_free(v, n);
    return reply_json(c, MHD_HTTP_OK, g);
}

/* POST /hooks/{name}: a signed webhook request (src/channels/webhook.h) -> 202 {"id":N}. */
static enum MHD_Result post_hook(api_server *s, struct MHD_Connection *c, const struct request *r,
                                 const char *name)
{
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, WEBHOOK_SIG_HEADER);
    const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, WEBHOOK_TS_HEADER);
    int64_t id = 0;
    _cleanup_error_ nc_error *err = NULL;
    if (daemon_webhook(s->d, name, sig, ts, r->body.buf ? r->body.buf : "", r->body.len, &id,
                       &err) < 0) {
        /* A missing or wrong signature (EACCES) or timestamp (ETIME): only here do these codes
         * mean the caller is not who it says. Elsewhere EACCES is the daemon's own trouble (a
         * file it cannot read), a 500. */
        if (err->code == EACCES || err->code == ETIME)
            return reply_error(c, MHD_HTTP_UNAUTHORIZED, "%s", nc_error_msg(err));
        return reply_nc_error(c, err);
    }
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_int(g, "id", id);
    jgen_obj_close(g);
    return reply_json(c, MHD_HTTP_ACCEPTED, g);
}

static enum MHD_Result get_metrics(api_server *s, struct MHD_Connection *c)
{
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    daemon_metrics(s->d, &out);
    return reply_bytes(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", NULL,
                       out.buf ? out.buf : "", out.len);
}

static enum MHD_Result post_message(api_server *s, struct MHD_Connection *c,
                                    const struct request *r, const char *folder)
{
    static const char *const fields[] = {"text", "sender", NULL};
    static const char *const q[] = {"wait", NULL};
    enum MHD_Result reply = MHD_NO;
    int64_t wait = 1;
    _cleanup_json_ nc_json *root = NULL;
    if (!check_query(c, q, &reply) || !query_int(c, "wait", 0, 1, &wait, &reply) ||
        !parse_body(c, r, fields, false, &root, &reply))
        return reply;
    const char *text = NULL, *sender = "user";
    if (!field_str(c, root, "text", &text, &reply) ||
        !field_str(c, root, "sender", &sender, &reply))
        return reply;
    if (!text)
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "field 'text' is required");
    if (!text[0])
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "field 'text' is empty");
    if (!sender[0])
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "field 'sender' is empty");

    int64_t id = 0;
    _cleanup_error_ nc_error *err = NULL;
    if (daemon_post_message(s->d, folder, NULL, sender, text, &id, &err) < 0)
        return reply_nc_error(c, err);

    _cleanup_free_ char *waiting = daemon_waits_for_trigger(s->d, folder, text);
    struct MHD_Response *resp = apistream_new(s, id, wait, waiting);
    if (!resp)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- routing ---- */

static bool method_is(struct MHD_Connection *c, const char *method, const char *allow,
                      enum MHD_Result *reply)
{
    /* allow is "GET" or "GET, POST"...: method must be one of its words. */
    size_t n = strlen(method);
    for (const char *p = allow; n > 0 && *p;) {
        size_t w = strcspn(p, ",");
        if (w == n && memcmp(p, method, n) == 0)
            return true;
        p += w;
        p += strspn(p, ", ");
    }
    *reply = reply_error_allow(c, MHD_HTTP_METHOD_NOT_ALLOWED, allow, "method not allowed");
    return false;
}

static enum MHD_Result route_group(api_server *s, struct MHD_Connection *c, const char *method,
                                   const struct request *r, const char *folder, const char *sub)
{
    static const char *const none[] = {NULL};
    enum MHD_Result reply = MHD_NO;
    if (!sub) {
        if (!method_is(c, method, "GET, PATCH, DELETE", &reply) || !check_query(c, none, &reply))
            return reply;
        if (strcmp(method, "GET") == 0)
            return no_body(c, r, &reply) ? reply_group(s, c, MHD_HTTP_OK, folder) : reply;
        if (strcmp(method, "PATCH") == 0)
            return patch_group(s, c, r, folder);
        return no_body(c, r, &reply) ? remove_group(s, c, folder) : reply;
    }
    if (strcmp(sub, "messages") == 0)
        return method_is(c, method, "POST", &reply) ? post_message(s, c, r, folder) : reply;
    if (strcmp(sub, "runs") == 0)
        return method_is(c, method, "GET", &reply) && no_body(c, r, &reply)
                   ? list_runs(s, c, folder)
                   : reply;
    if (strcmp(sub, "chats") == 0)
        return method_is(c, method, "POST", &reply) && check_query(c, none, &reply)
                   ? add_chat(s, c, r, folder)
                   : reply;
    if (strcmp(sub, "retry") == 0)
        return method_is(c, method, "POST", &reply) && check_query(c, none, &reply)
                   ? retry_group(s, c, r, folder)
                   : reply;
    return reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

/* /v1/tasks and /v1/tasks/{id} (apitasks.c). */
static enum MHD_Result route_tasks(api_server *s, struct MHD_Connection *c, const char *url,
                                   const char *method, const struct request *r)
{
    static const char *const by_group[] = {"group", NULL};
    static const char *const none[] = {NULL};
    enum MHD_Result reply = MHD_NO;
    const char *id = url[9] == '/' ? url + 10 : NULL;
    if ((id && (!*id || strchr(id, '/'))))
        return reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
    if (!check_query(c, id ? none : by_group, &reply))
        return reply;
    const char *group = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "group");
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    const char *allow = NULL;
    unsigned status = apitasks_route(s, method, id, group, r->body.buf, r->body.len, &out, &allow);
    return reply_bytes(c, status, "application/json", allow, out.buf, out.len);
}

static enum MHD_Result route(api_server *s, struct MHD_Connection *c, const char *url,
                             const char *method, const struct request *r)
{
    static const char *const none[] = {NULL};
    enum MHD_Result reply = MHD_NO;
    if (daemon_stopping(s->d))
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the daemon is shutting down");
    if (s->hooks_only && strncmp(url, "/hooks/", 7) != 0)
        return reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
    if (strcmp(url, "/v1/health") == 0) {
        if (!method_is(c, method, "GET", &reply) || !check_query(c, none, &reply) ||
            !no_body(c, r, &reply))
            return reply;
        _cleanup_jgen_ nc_jgen *g = jgen_new();
        jgen_obj_open(g);
        jgen_kv_bool(g, "ok", true);
        jgen_obj_close(g);
        return reply_json(c, MHD_HTTP_OK, g);
    }
    if (strcmp(url, "/v1/status") == 0)
        return method_is(c, method, "GET", &reply) && check_query(c, none, &reply) &&
                       no_body(c, r, &reply)
                   ? get_status(s, c)
                   : reply;
    if (strcmp(url, "/metrics") == 0)
        return method_is(c, method, "GET", &reply) && check_query(c, none, &reply) &&
                       no_body(c, r, &reply)
                   ? get_metrics(s, c)
                   : reply;
    if (strcmp(url, "/v1/messages") == 0)
        return method_is(c, method, "GET", &reply) && no_body(c, r, &reply) ? list_messages(s, c)
                                                                            : reply;
    static const char hooks[] = "/hooks/";
    if (strncmp(url, hooks, sizeof(hooks) - 1) == 0) {
        const char *name = url + sizeof(hooks) - 1;
        if (!name[0] || strchr(name, '/'))
            return reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
        return method_is(c, method, "POST", &reply) && check_query(c, none, &reply)
                   ? post_hook(s, c, r, name)
                   : reply;
    }
    if (strcmp(url, "/v1/chats") == 0)
        return method_is(c, method, "GET", &reply) && check_query(c, none, &reply) &&
                       no_body(c, r, &reply)
                   ? list_chats(s, c)
                   : reply;
    if (strcmp(url, "/v1/groups") == 0) {
        if (!method_is(c, method, "GET, POST", &reply) || !check_query(c, none, &reply))
            return reply;
        if (strcmp(method, "GET") == 0)
            return no_body(c, r, &reply) ? list_groups(s, c) : reply;
        return add_group(s, c, r);
    }
    if (strcmp(url, "/v1/tasks") == 0 || strncmp(url, "/v1/tasks/", 10) == 0)
        return route_tasks(s, c, url, method, r);
    static const char prefix[] = "/v1/groups/";
    if (strncmp(url, prefix, sizeof(prefix) - 1) == 0) {
        const char *rest = url + sizeof(prefix) - 1;
        const char *slash = strchr(rest, '/');
        _cleanup_free_ char *folder =
            slash ? xstrndup(rest, (size_t)(slash - rest)) : xstrdup(rest);
        const char *sub = slash ? slash + 1 : NULL;
        if (!folder[0] || (sub && strchr(sub, '/')))
            return reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
        return route_group(s, c, method, r, folder, sub);
    }
    return reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    api_server *s = cls;
    struct request *r = *con_cls;
    if (!r) {
        /* The first call: see "Keep-alive" above for why nothing is queued here. */
        *con_cls = xnew0(struct request);
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno == ERANGE || (end != cl && n > API_MAX_BODY))
                return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
                                   "request body is larger than %zu bytes", API_MAX_BODY);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        /* A body sent without a Content-Length (chunked) is counted as it comes; past the cap
         * the rest is read and dropped, and the reply is 413. */
        size_t n = *upload_data_size;
        if (!r->too_big && (n > API_MAX_BODY || r->body.len > API_MAX_BODY - n)) {
            r->too_big = true;
            strbuf_release(&r->body);
        }
        if (!r->too_big)
            strbuf_add(&r->body, upload_data, n);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body is larger than %zu bytes",
                           API_MAX_BODY);
    return route(s, c, url, method, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct request *r = *con_cls;
    if (!r)
        return;
    strbuf_release(&r->body);
    free(r);
    *con_cls = NULL;
}

/* ---- the server ---- */

static int start(struct nc_daemon *d, int fd, unsigned max_clients, bool hooks_only,
                 api_server **ret, nc_error **err)
{
    api_server *s = xnew0(api_server);
    s->d = d;
    s->hooks_only = hooks_only;
    s->quiesced_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    /* MHD gets a copy: it closes the socket it was given on some of its failure paths and not on
     * others, so after a failure the copy is left alone (one descriptor, on a path where the
     * daemon does not start) and the caller's stays the caller's. */
    int mfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (mfd < 0) {
        int e = errno;
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return nc_error_set(err, e, "duplicate the api socket: %s", strerror(e));
    }
    /* MHD_USE_POLL: the descriptors of a busy daemon may pass select()'s FD_SETSIZE. */
    s->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                  MHD_USE_POLL | MHD_USE_ITC,
                              0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET,
                              (MHD_socket)mfd, MHD_OPTION_CONNECTION_LIMIT,
                              max_clients ? max_clients : API_DEFAULT_MAX_CLIENTS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_IDLE_TIMEOUT_S,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->mhd) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return nc_error_set(err, EIO, "start the api server (libmicrohttpd)");
    }
    close(fd);
    *ret = s;
    return 0;
}

int api_start(struct nc_daemon *d, int fd, unsigned max_clients, api_server **ret, nc_error **err)
{
    return start(d, fd, max_clients, false, ret, err);
}

int api_start_hooks(struct nc_daemon *d, int fd, unsigned max_clients, api_server **ret,
                    nc_error **err)
{
    return start(d, fd, max_clients, true, ret, err);
}

void api_stop(api_server *s)
{
    if (!s)
        return;
    MHD_socket ls = MHD_quiesce_daemon(s->mhd);
    /* Ours to close now, but only after MHD_stop_daemon: MHD's threads may still use it. */
    s->quiesced_fd = ls == MHD_INVALID_SOCKET ? -1 : (int)ls;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    struct timespec deadline = mono_timespec_after(API_STOP_GRACE_MS);
    while (s->streams > 0)
        if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->lock);
    MHD_stop_daemon(s->mhd);
    if (s->quiesced_fd >= 0)
        close(s->quiesced_fd);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

size_t api_stream_count(api_server *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->streams;
    pthread_mutex_unlock(&s->lock);
    return n;
}
