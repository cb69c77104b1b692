#include "engine/container.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/demux.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define ENGINE_MAX_REF 128

bool engine_valid_ref(const char *ref)
{
    size_t n = ref ? strlen(ref) : 0;
    if (n == 0 || n > ENGINE_MAX_REF || !isalnum((unsigned char)ref[0]))
        return false;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)ref[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != '-')
            return false;
    }
    return true;
}

static int check_ref(const char *what, const char *ref, nc_error **err)
{
    if (engine_valid_ref(ref))
        return 0;
    return nc_error_set(err, EINVAL, "invalid %s '%s'", what, ref ? ref : "(null)");
}

static char *dup_str(const nc_json *v)
{
    const char *s = json_string(v);
    return s ? xstrdup(s) : NULL;
}

int engine_parse_create_reply(const char *body, size_t len, char **ret_id, char ***ret_warnings,
                              nc_error **err)
{
    _cleanup_json_ nc_json *root = NULL;
    int r = json_parse(body, len, &root, err);
    if (r < 0)
        return r;
    const char *id = json_string(json_get(root, "Id"));
    if (!id || !engine_valid_ref(id))
        return nc_error_set(err, EPROTO, "create reply has no valid container id");
    _cleanup_strv_ char **warnings = NULL;
    const nc_json *w = json_get(root, "Warnings");
    for (size_t i = 0; i < json_array_len(w); i++) {
        const char *s = json_string(json_array_at(w, i));
        if (s && *s)
            strv_push(&warnings, s);
    }
    *ret_id = xstrdup(id);
    if (ret_warnings)
        *ret_warnings = TAKE_PTR(warnings);
    return 0;
}

int engine_container_create(engine *e, const char *name, const char *json_body, char **ret_id,
                            char ***ret_warnings, nc_error **err)
{
    int r = check_ref("container name", name, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *target = xasprintf("/containers/create?name=%s", name);
    http_response resp = HTTP_RESPONSE_INIT;
    r = engine_call_raw(e, "POST", target, json_body, &resp, err);
    if (r < 0)
        return r;
    r = engine_parse_create_reply(resp.body.buf, resp.body.len, ret_id, ret_warnings, err);
    http_response_release(&resp);
    return r;
}

/* A POST with no body to /containers/{id}/<verb><query>. Returns the status. */
static int post_verb(engine *e, const char *id, const char *verb, const char *query, nc_error **err)
{
    int r = check_ref("container id", id, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *target = xasprintf("/containers/%s/%s%s", id, verb, query);
    return engine_call(e, "POST", target, NULL, NULL, err);
}

int engine_container_start(engine *e, const char *id, nc_error **err)
{
    int r = post_verb(e, id, "start", "", err);
    if (r == 304)
        return nc_error_set_http(err, EALREADY, 304, "container is already running");
    return r < 0 ? r : 0;
}

int engine_container_stop(engine *e, const char *id, int grace_s, nc_error **err)
{
    _cleanup_free_ char *q = xasprintf("?t=%d", grace_s < 0 ? 0 : grace_s);
    int r = post_verb(e, id, "stop", q, err);
    return r < 0 ? r : 0;
}

int engine_container_kill(engine *e, const char *id, const char *signal, nc_error **err)
{
    _cleanup_free_ char *sig = engine_url_escape(signal);
    _cleanup_free_ char *q = xasprintf("?signal=%s", sig);
    _cleanup_error_ nc_error *kerr = NULL;
    int r = post_verb(e, id, "kill", q, &kerr);
    if (r >= 0)
        return 0;
    /* Docker says 409 for a container that is not running, Podman 4 says 500 ("container state
     * improper"): ask the state rather than read the text. */
    if (kerr->http_status == 409 || kerr->http_status == 500) {
        engine_state st = {0};
        if (engine_container_state(e, id, &st, NULL) == 0 && !st.running) {
            engine_state_release(&st);
            return nc_error_set_http(err, ESRCH, kerr->http_status, "container is not running");
        }
        engine_state_release(&st);
    }
    return nc_error_set_http(err, kerr->code, kerr->http_status, "%s", kerr->msg);
}

int engine_container_remove(engine *e, const char *id, bool force, nc_error **err)
{
    int r = check_ref("container id", id, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *target = xasprintf("/containers/%s?v=1%s", id, force ? "&force=1" : "");
    r = engine_call(e, "DELETE", target, NULL, NULL, err);
    return r < 0 ? r : 0;
}

int engine_container_inspect(engine *e, const char *id, nc_json **ret, nc_error **err)
{
    int r = check_ref("container id", id, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *target = xasprintf("/containers/%s/json", id);
    _cleanup_json_ nc_json *root = NULL;
    r = engine_call(e, "GET", target, NULL, &root, err);
    if (r < 0)
        return r;
    if (!json_is_object(root))
        return nc_error_set(err, EPROTO, "inspect reply is not a JSON object");
    *ret = TAKE_PTR(root);
    return 0;
}

int engine_parse_state(const nc_json *inspect, engine_state *ret, nc_error **err)
{
    const nc_json *st = json_get(inspect, "State");
    const char *status = json_string(json_get(st, "Status"));
    if (!status)
        return nc_error_set(err, EPROTO, "inspect reply has no State.Status");
    engine_state s = {0};
    s.status = xstrdup(status);
    json_bool(json_get(st, "Running"), &s.running);
    json_bool(json_get(st, "OOMKilled"), &s.oom_killed);
    json_int(json_get(st, "Pid"), &s.pid);
    json_int(json_get(st, "ExitCode"), &s.exit_code);
    const char *e = json_string(json_get(st, "Error"));
    s.error = e && *e ? xstrdup(e) : NULL;
    *ret = s;
    return 0;
}

void engine_state_release(engine_state *s)
{
    free(s->status);
    free(s->error);
    *s = (engine_state){0};
}

int engine_container_state(engine *e, const char *id, engine_state *ret, nc_error **err)
{
    _cleanup_json_ nc_json *root = NULL;
    int r = engine_container_inspect(e, id, &root, err);
    if (r < 0)
        return r;
    return engine_parse_state(root, ret, err);
}

char *engine_filters(const char *type, char *const *labels)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    if (type) {
        jgen_key(g, "type");
        jgen_arr_open(g);
        jgen_str(g, type);
        jgen_arr_close(g);
    }
    jgen_key(g, "label");
    jgen_arr_open(g);
    for (size_t i = 0; labels && labels[i]; i++)
        jgen_str(g, labels[i]);
    jgen_arr_close(g);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf json = STRBUF_INIT;
    if (jgen_finish(g, &json, NULL) < 0)
        abort(); /* only invalid UTF-8 in a label can fail, and labels are ours */
    return engine_url_escape(strbuf_str(&json));
}

char *engine_label_filter(char *const *labels)
{
    return engine_filters(NULL, labels);
}

int engine_parse_container_list(const char *body, size_t len, engine_container_summary **ret,
                                size_t *ret_n, nc_error **err)
{
    _cleanup_json_ nc_json *root = NULL;
    int r = json_parse(body, len, &root, err);
    if (r < 0)
        return r;
    if (!json_is_array(root))
        return nc_error_set(err, EPROTO, "container list reply is not a JSON array");
    size_t n = json_array_len(root);
    engine_container_summary *s = xcalloc(n ? n : 1, sizeof(*s));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const nc_json *c = json_array_at(root, i);
        const char *id = json_string(json_get(c, "Id"));
        if (!id || !engine_valid_ref(id))
            continue; /* an entry we could not act on safely */
        engine_container_summary *o = &s[k++];
        o->id = xstrdup(id);
        const char *name = json_string(json_array_at(json_get(c, "Names"), 0));
        o->name = xstrdup(name ? (name[0] == '/' ? name + 1 : name) : "");
        o->image = dup_str(json_get(c, "Image"));
        o->state = dup_str(json_get(c, "State"));
        o->status = dup_str(json_get(c, "Status"));
        json_int(json_get(c, "Created"), &o->created);
        const nc_json *labels = json_get(c, "Labels");
        for (size_t l = 0; l < json_object_len(labels); l++) {
            const char *v = json_string(json_object_value(labels, l));
            strv_push_take(&o->labels, xasprintf("%s=%s", json_object_key(labels, l), v ? v : ""));
        }
    }
    *ret = s;
    *ret_n = k;
    return 0;
}

int engine_container_list(engine *e, char *const *labels, engine_container_summary **ret,
                          size_t *ret_n, nc_error **err)
{
    _cleanup_free_ char *filter = engine_label_filter(labels);
    _cleanup_free_ char *target = xasprintf("/containers/json?all=1&filters=%s", filter);
    http_response resp = HTTP_RESPONSE_INIT;
    int r = engine_call_raw(e, "GET", target, NULL, &resp, err);
    if (r < 0)
        return r;
    r = engine_parse_container_list(resp.body.buf, resp.body.len, ret, ret_n, err);
    http_response_release(&resp);
    return r;
}

void engine_container_summaries_free(engine_container_summary *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        free(s[i].id);
        free(s[i].name);
        free(s[i].image);
        free(s[i].state);
        free(s[i].status);
        strv_free(s[i].labels);
    }
    free(s);
}

const char *engine_summary_label(const engine_container_summary *s, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; s->labels && s->labels[i]; i++)
        if (strncmp(s->labels[i], key, klen) == 0 && s->labels[i][klen] == '=')
            return s->labels[i] + klen + 1;
    return NULL;
}

struct logs_sink {
    strbuf *out;
    strbuf *errout;
};

static int logs_cb(int stream, const char *data, size_t len, void *userdata, nc_error **err)
{
    (void)err;
    struct logs_sink *s = userdata;
    strbuf_add(stream == DEMUX_STDERR ? s->errout : s->out, data, len);
    return 0;
}

int engine_container_logs(engine *e, const char *id, bool tty, strbuf *out, strbuf *errout,
                          nc_error **err)
{
    int r = check_ref("container id", id, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *target = xasprintf("/containers/%s/logs?stdout=1&stderr=1", id);
    http_response resp = HTTP_RESPONSE_INIT;
    r = engine_call_raw(e, "GET", target, NULL, &resp, err);
    if (r < 0)
        return r;
    demux d;
    demux_init(&d, tty);
    struct logs_sink sink = {out, errout};
    r = demux_feed(&d, resp.body.buf, resp.body.len, logs_cb, &sink, err);
    if (r == 0)
        r = demux_finish(&d, err);
    demux_release(&d);
    http_response_release(&resp);
    return r < 0 ? nc_error_wrap(err, "container logs") : 0;
}

int engine_parse_image(const char *body, size_t len, engine_image *ret, nc_error **err)
{
    _cleanup_json_ nc_json *root = NULL;
    int r = json_parse(body, len, &root, err);
    if (r < 0)
        return r;
    const char *id = json_string(json_get(root, "Id"));
    if (!id)
        return nc_error_set(err, EPROTO, "image inspect reply has no Id");
    engine_image img = {0};
    img.id = xstrdup(id);
    img.user = dup_str(json_get(json_get(root, "Config"), "User"));
    const nc_json *tags = json_get(root, "RepoTags");
    for (size_t i = 0; i < json_array_len(tags); i++) {
        const char *t = json_string(json_array_at(tags, i));
        if (t)
            strv_push(&img.repo_tags, t);
    }
    json_int(json_get(root, "Size"), &img.size);
    *ret = img;
    return 0;
}

int engine_image_inspect(engine *e, const char *ref, engine_image *ret, nc_error **err)
{
    /* Image references may hold '/', ':' and '@'; the engines route on the raw path, so those
     * stay and everything else outside [A-Za-z0-9._-] is refused. */
    for (const char *p = ref; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-/:@", *p))
            return nc_error_set(err, EINVAL, "invalid image reference '%s'", ref);
    if (!*ref)
        return nc_error_set(err, EINVAL, "empty image reference");
    _cleanup_free_ char *target = xasprintf("/images/%s/json", ref);
    http_response resp = HTTP_RESPONSE_INIT;
    int r = engine_call_raw(e, "GET", target, NULL, &resp, err);
    if (r < 0)
        return r;
    r = engine_parse_image(resp.body.buf, resp.body.len, ret, err);
    http_response_release(&resp);
    return r;
}

void engine_image_release(engine_image *img)
{
    free(img->id);
    free(img->user);
    strv_free(img->repo_tags);
    *img = (engine_image){0};
}
