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
 *   GET    /v1/messages                    (?group=G&after=ID&limit=N) {"messages":[...],
 *                                          "last_id":ID, "more":bool}, oldest first
 *   GET    /metrics                        daemon_metrics(), Prometheus text format 0.0.4
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
 * request or a stream waiting for a turn holds only its own thread, up to
 * api_opts.max_clients connections (more wait in the listen backlog: MHD stops polling the
 * listening socket at the limit when it has its inter-thread channel, MHD_USE_ITC, which
 * MHD_quiesce_daemon needs anyway). No lock of ours is held while MHD writes to a client.
 *
 * Keep-alive. MHD 0.9.75 answers "Connection: close" when the handler queues its response on
 * its first call for a request: that call comes before the body is read, MHD then marks the
 * request "discard" (it will not read a body nor a next request) and closes after the reply
 * (connection.c, MHD_queue_response: "response was queued early"). This is why a minimal
 * handler, and the check in ../shared/reference/daemon-proxy-channels.md, saw every connection
 * closed. Here the first call only allocates the request's state; the response is queued on the
 * last call, once the body is in, so keep-alive works. The one early reply is 413 for a
 * Content-Length over the cap, where closing without reading the body is the point. */
#include "orch/api.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "orch/apievents.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* How long api_stop lets streams send their shutdown event before it closes them. */
#define API_STOP_GRACE_MS 3000
/* How long a stream waits for a change before it looks at the store again. */
#define API_STREAM_WAIT_MS 1000
/* MHD's buffer for a stream's chunks (advisory). */
#define API_STREAM_BLOCK (32 * 1024)

struct api_server {
    struct MHD_Daemon *mhd;
    nc_daemon *d;
    int listen_fd; /* until MHD_quiesce_daemon hands it back: then ours to close after stop */
    bool quiesced;
    char *path;
    bool have_id; /* dev/ino of the socket file we bound */
    dev_t dev;
    ino_t ino;
    pthread_mutex_t lock; /* guards the fields below; never held across a client write */
    pthread_cond_t cond;  /* CLOCK_MONOTONIC */
    size_t streams;
    bool stopping;
};

/* One request's state, from MHD's first call of the handler to its completion callback. */
struct request {
    strbuf body;
    bool too_big;
};

/* ---- socket ---- */

int api_listen(const char *path, int *fd, nc_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len == 0)
        return nc_error_set(err, EINVAL, "api socket path is empty");
    if (len >= sizeof(sa.sun_path))
        return nc_error_set(err, ENAMETOOLONG,
                            "api socket path '%s' is %zu bytes, longer than the %zu a unix "
                            "socket address holds",
                            path, len, sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, len + 1);

    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else {
        free(dir);
        dir = xstrdup(".");
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return nc_error_set(err, errno, "create api socket directory '%s': %s", dir,
                            strerror(errno));
    struct stat st;
    if (stat(dir, &st) < 0)
        return nc_error_set(err, errno, "api socket directory '%s': %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return nc_error_set(err, ENOTDIR, "api socket directory '%s' is not a directory", dir);
    /* Whoever can write the directory can replace our socket with theirs, and every client
     * would then talk to them. */
    if (st.st_uid != geteuid())
        return nc_error_set(err, EPERM,
                            "api socket directory '%s' is owned by uid %u, not by this user "
                            "(uid %u)",
                            dir, (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return nc_error_set(err, EPERM,
                            "api socket directory '%s' is writable by group or others (mode "
                            "%04o)",
                            dir, (unsigned)(st.st_mode & 07777));

    _cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return nc_error_set(err, errno, "create api socket: %s", strerror(errno));

    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return nc_error_set(err, EEXIST, "api socket path '%s' exists and is not a socket",
                                path);
        _cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0)
            return nc_error_set(err, errno, "create api socket: %s", strerror(errno));
        if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return nc_error_set(err, EADDRINUSE,
                                "another nanocell daemon answers at '%s': stop it first", path);
        if (errno != ECONNREFUSED)
            return nc_error_set(err, errno, "probe existing api socket '%s': %s", path,
                                strerror(errno));
        /* A socket nothing listens on: left by a daemon that died. */
        if (unlink(path) < 0 && errno != ENOENT)
            return nc_error_set(err, errno, "remove stale api socket '%s': %s", path,
                                strerror(errno));
    } else if (errno != ENOENT) {
        return nc_error_set(err, errno, "api socket path '%s': %s", path, strerror(errno));
    }

    mode_t old = umask(0177);
    int r = bind(s, (struct sockaddr *)&sa, sizeof(sa));
    int bind_errno = errno;
    umask(old);
    if (r < 0)
        return nc_error_set(err, bind_errno, "bind api socket '%s': %s", path,
                            strerror(bind_errno));
    if (listen(s, SOMAXCONN) < 0) {
        int e = errno;
        unlink(path);
        return nc_error_set(err, e, "listen on api socket '%s': %s", path, strerror(e));
    }
    *fd = TAKE_FD(s);
    return 0;
}

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

/* ---- JSON of stored things ---- */

/* "2026-12-01T10:00:00.123Z" */
static void put_time(nc_jgen *g, const char *key, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32]; /* "YYYY-MM-DDTHH:MM:SS" is 19 bytes for any 4-digit year */
    jgen_key(g, key);
    if (ms < 0 || !gmtime_r(&secs, &tm) ||
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        jgen_null(g);
        return;
    }
    _cleanup_free_ char *s = xasprintf("%s.%03dZ", buf, (int)(ms % 1000));
    jgen_str(g, s);
}

static void put_text(nc_jgen *g, const char *key, const char *s)
{
    jgen_key(g, key);
    api_jgen_text(g, s);
}

static void group_json(nc_jgen *g, const store_group *grp)
{
    jgen_obj_open(g);
    put_text(g, "folder", grp->folder);
    put_text(g, "name", grp->name && grp->name[0] ? grp->name : grp->folder);
    put_text(g, "trigger", grp->trigger ? grp->trigger : "");
    jgen_kv_bool(g, "requires_trigger", grp->requires_trigger);
    jgen_kv_bool(g, "is_main", grp->is_main);
    put_text(g, "image", grp->image ? grp->image : "");
    put_time(g, "added", grp->added_ms);
    jgen_obj_close(g);
}

static void message_json(nc_jgen *g, const store_message *m)
{
    jgen_obj_open(g);
    jgen_kv_int(g, "id", m->id);
    put_text(g, "group", m->group);
    put_text(g, "chat", m->chat_jid);
    jgen_kv_str(g, "direction", m->outbound ? "out" : "in");
    put_text(g, "sender", m->sender);
    put_text(g, "text", m->text);
    put_text(g, "state", m->state);
    put_time(g, "time", m->time_ms);
    if (m->outbound) {
        jgen_kv_int(g, "reply_to", m->reply_to);
    } else {
        if (m->batch)
            jgen_kv_int(g, "batch", m->batch);
        jgen_kv_int(g, "attempts", m->attempts);
        if (m->error)
            put_text(g, "error", m->error);
    }
    if (m->run_id)
        put_text(g, "run_id", m->run_id);
    jgen_obj_close(g);
}

static void run_json(nc_jgen *g, const store_run *r)
{
    jgen_obj_open(g);
    put_text(g, "run_id", r->run_id);
    put_text(g, "group", r->group);
    put_text(g, "state", r->state);
    put_time(g, "started", r->started_ms);
    if (r->ended_ms > 0)
        put_time(g, "ended", r->ended_ms);
    if (r->outcome) {
        put_text(g, "outcome", r->outcome);
        jgen_kv_int(g, "exit_code", r->exit_code);
    }
    if (r->container_id)
        put_text(g, "container_id", r->container_id);
    if (r->log_path)
        put_text(g, "log_path", r->log_path);
    jgen_obj_close(g);
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
        put_text(g, "group", counts[i].folder);
        jgen_kv_int(g, "pending", counts[i].pending);
        jgen_kv_int(g, "running", counts[i].running);
        jgen_kv_int(g, "failed", counts[i].failed);
        jgen_kv_int(g, "undelivered", counts[i].undelivered);
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
        group_json(g, &v[i]);
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
    group_json(g, &grp);
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
    put_text(g, "removed", folder);
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
        run_json(g, &v[i]);
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
        message_json(g, &v[i]);
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

static enum MHD_Result get_metrics(api_server *s, struct MHD_Connection *c)
{
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    daemon_metrics(s->d, &out);
    return reply_bytes(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", NULL,
                       out.buf ? out.buf : "", out.len);
}

/* ---- the message stream ---- */

struct stream {
    api_server *s;
    int64_t id; /* the posted message */
    bool have_state;
    char *state;
    int attempts;
    int64_t batch;      /* the message's last batch (0: not handed to a turn yet) */
    int64_t last_reply; /* replies up to this id have been looked at */
    strbuf out;         /* lines for the client; out.buf[off..] not yet handed to MHD */
    size_t off;
    int64_t *sent; /* replies whose lines are in out: delivered once MHD wants more */
    size_t nsent;
    bool ended; /* the last event is in out */
    uint64_t last_event_ms;
};

static void stream_free(void *cls)
{
    struct stream *st = cls;
    api_server *s = st->s;
    free(st->state);
    free(st->sent);
    strbuf_release(&st->out);
    free(st);
    pthread_mutex_lock(&s->lock);
    s->streams--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static bool server_stopping(api_server *s)
{
    pthread_mutex_lock(&s->lock);
    bool stop = s->stopping;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

/* Appends the events that the store holds and the client has not seen: the message's state
 * when it changed (a terminal one after the replies, as it is stored after them), and the
 * batch's replies not yet delivered. */
static int stream_poll(struct stream *st, nc_error **err)
{
    store *db = daemon_store(st->s->d);
    store_message m = {0};
    int r = store_message_get(db, st->id, &m, err);
    if (r == -ENOENT) {
        /* Removed with its group. */
        api_event_state(&st->out, "failed", st->attempts, "the message was removed with its group");
        st->ended = true;
        return 0;
    }
    if (r < 0)
        return r;
    if (m.batch)
        st->batch = m.batch;
    bool changed = !st->have_state || strcmp(st->state, m.state) != 0 || st->attempts != m.attempts;
    bool terminal = api_state_is_terminal(m.state);
    if (changed && !terminal)
        api_event_state(&st->out, m.state, m.attempts, m.error);
    if (st->batch) {
        store_message *v = NULL;
        size_t n = 0;
        r = store_replies(db, st->batch, st->last_reply, &v, &n, err);
        if (r < 0) {
            store_message_release(&m);
            return r;
        }
        for (size_t i = 0; i < n; i++) {
            st->last_reply = v[i].id;
            /* Delivered ones were sent already; superseded ones are never to be. */
            if (strcmp(v[i].state, "pending") != 0)
                continue;
            api_event_reply(&st->out, v[i].id, v[i].text);
            st->sent = xreallocarray(st->sent, st->nsent + 1, sizeof(*st->sent));
            st->sent[st->nsent++] = v[i].id;
        }
        store_messages_free(v, n);
    }
    if (changed && terminal) {
        api_event_state(&st->out, m.state, m.attempts, m.error);
        st->ended = true;
    }
    if (changed) {
        free(st->state);
        st->state = xstrdup(m.state);
        st->attempts = m.attempts;
        st->have_state = true;
    }
    store_message_release(&m);
    return 0;
}

/* Waits until there is something to send, and appends it. */
static int stream_fill(struct stream *st, nc_error **err)
{
    nc_daemon *d = st->s->d;
    for (;;) {
        /* Read the counter first: a change made while the store is read moves it again. */
        uint64_t gen = daemon_change_gen(d);
        int r = stream_poll(st, err);
        if (r < 0)
            return r;
        if (st->out.len > 0 || st->ended)
            return 0;
        if (server_stopping(st->s)) {
            api_event_simple(&st->out, API_EV_SHUTDOWN);
            st->ended = true;
            return 0;
        }
        if (mono_ms() - st->last_event_ms >= API_HEARTBEAT_MS) {
            api_event_simple(&st->out, API_EV_HEARTBEAT);
            return 0;
        }
        if (daemon_stopping(d)) {
            /* The change counter may no longer wait; turns still running in the shutdown
             * grace can add replies, so look again a little later until api_stop. */
            pthread_mutex_lock(&st->s->lock);
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += 250 * 1000 * 1000;
            if (ts.tv_nsec >= 1000 * 1000 * 1000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000 * 1000 * 1000;
            }
            if (!st->s->stopping)
                pthread_cond_timedwait(&st->s->cond, &st->s->lock, &ts);
            pthread_mutex_unlock(&st->s->lock);
        } else {
            (void)daemon_wait_change(d, gen, API_STREAM_WAIT_MS);
        }
    }
}

/* MHD calls this for the next slice of the body, in the connection's own thread, and only once
 * the previous slice was written to the client's socket: so the replies of earlier slices are
 * delivered when it is called again. A client that went away makes the write fail, MHD closes
 * the connection and calls stream_free, and replies not yet written stay pending in the
 * outbox. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *st = cls;
    if (st->off == st->out.len) {
        store *db = daemon_store(st->s->d);
        for (size_t i = 0; i < st->nsent; i++) {
            _cleanup_error_ nc_error *err = NULL;
            /* -EALREADY: superseded meanwhile by a requeue; nothing to do. */
            (void)store_outbox_delivered(db, st->sent[i], &err);
        }
        st->nsent = 0;
        strbuf_reset(&st->out);
        st->off = 0;
        if (st->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        _cleanup_error_ nc_error *err = NULL;
        if (stream_fill(st, &err) < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR; /* the client sees a cut stream */
        st->last_event_ms = mono_ms();
    }
    size_t n = st->out.len - st->off;
    if (n > max)
        n = max;
    memcpy(buf, st->out.buf + st->off, n);
    st->off += n;
    return (ssize_t)n;
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

    struct stream *st = xnew0(struct stream);
    st->s = s;
    st->id = id;
    st->last_event_ms = mono_ms();
    api_event_accepted(&st->out, id);
    if (!wait)
        st->ended = true;
    pthread_mutex_lock(&s->lock);
    s->streams++;
    pthread_mutex_unlock(&s->lock);
    /* From here stream_free owns st, also when the response is never sent. */
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, API_STREAM_BLOCK, stream_read, st, stream_free);
    if (!resp) {
        stream_free(st);
        return MHD_NO;
    }
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
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
    if (strcmp(sub, "retry") == 0)
        return method_is(c, method, "POST", &reply) && check_query(c, none, &reply)
                   ? retry_group(s, c, r, folder)
                   : reply;
    return reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

static enum MHD_Result route(api_server *s, struct MHD_Connection *c, const char *url,
                             const char *method, const struct request *r)
{
    static const char *const none[] = {NULL};
    enum MHD_Result reply = MHD_NO;
    if (daemon_stopping(s->d))
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the daemon is shutting down");
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
    if (strcmp(url, "/v1/groups") == 0) {
        if (!method_is(c, method, "GET, POST", &reply) || !check_query(c, none, &reply))
            return reply;
        if (strcmp(method, "GET") == 0)
            return no_body(c, r, &reply) ? list_groups(s, c) : reply;
        return add_group(s, c, r);
    }
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

int api_start(nc_daemon *d, int listen_fd, const char *path, const api_opts *o, api_server **ret,
              nc_error **err)
{
    _cleanup_close_ int fd = listen_fd;
    api_server *s = xnew0(api_server);
    s->d = d;
    s->path = xstrdup(path);
    s->listen_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        s->have_id = true;
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
    unsigned max_clients = o && o->max_clients ? o->max_clients : API_DEFAULT_MAX_CLIENTS;
    unsigned idle = o && o->idle_timeout_s ? o->idle_timeout_s : API_DEFAULT_IDLE_TIMEOUT_S;
    s->mhd =
        MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                             MHD_USE_POLL | MHD_USE_ITC,
                         0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                         MHD_OPTION_CONNECTION_LIMIT, max_clients, MHD_OPTION_CONNECTION_TIMEOUT,
                         idle, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->mhd) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s->path);
        free(s);
        return nc_error_set(err, EIO, "start the api server on '%s'", path);
    }
    /* MHD owns the listening socket now, and closes it in MHD_stop_daemon unless it was
     * quiesced. */
    s->listen_fd = TAKE_FD(fd);
    *ret = s;
    return 0;
}

void api_quiesce(api_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    bool first = !s->quiesced;
    s->quiesced = true;
    pthread_mutex_unlock(&s->lock);
    if (!first)
        return;
    MHD_socket ls = MHD_quiesce_daemon(s->mhd);
    /* Ours to close now, but only after MHD_stop_daemon (MHD's threads may still use it). */
    s->listen_fd = ls == MHD_INVALID_SOCKET ? -1 : (int)ls;
    if (s->path && s->have_id) {
        struct stat st;
        if (stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
            unlink(s->path);
        s->have_id = false;
    }
}

void api_stop(api_server *s)
{
    if (!s)
        return;
    api_quiesce(s);
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += API_STOP_GRACE_MS / 1000;
    while (s->streams > 0)
        if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->lock);
    MHD_stop_daemon(s->mhd);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}

size_t api_stream_count(api_server *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->streams;
    pthread_mutex_unlock(&s->lock);
    return n;
}
