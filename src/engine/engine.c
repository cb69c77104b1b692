#include "engine/engine.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* The longest engine message quoted in an error. */
#define ENGINE_MAX_MESSAGE 512

const char *engine_kind_name(engine_kind k)
{
    return k == ENGINE_PODMAN ? "Podman" : "Docker";
}

char *engine_url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    strbuf sb = STRBUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            strbuf_addch(&sb, (char)*p);
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            strbuf_add(&sb, enc, 3);
        }
    }
    return strbuf_detach(&sb, NULL);
}

static int errno_for_status(long status)
{
    switch (status) {
    case 400:
        return EINVAL;
    case 401:
    case 403:
        return EACCES;
    case 404:
        return ENOENT;
    case 409:
        return EBUSY;
    case 501:
        return ENOSYS;
    case 503:
        return EAGAIN;
    default:
        return EIO;
    }
}

/* The engine's message, made safe to print: the JSON "message" when the body is a JSON object
 * with one, else the text itself; control characters become spaces, length is bounded. */
static char *reply_message(const char *body, size_t len)
{
    _cleanup_json_ nc_json *root = NULL;
    const char *msg = NULL;
    size_t mlen = 0;
    if (len && json_parse(body, len, &root, NULL) == 0) {
        msg = json_string(json_get(root, "message"));
        if (msg)
            mlen = strlen(msg);
    }
    if (!msg) {
        msg = body;
        mlen = len;
    }
    strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < mlen && sb.len < ENGINE_MAX_MESSAGE; i++) {
        unsigned char c = (unsigned char)msg[i];
        strbuf_addch(&sb, c < 0x20 || c == 0x7f ? ' ' : (char)c);
    }
    /* Trim the blanks that replaced trailing newlines. */
    while (sb.len && sb.buf[sb.len - 1] == ' ')
        strbuf_truncate(&sb, sb.len - 1);
    size_t lead = 0;
    while (lead < sb.len && sb.buf[lead] == ' ')
        lead++;
    strbuf_consume(&sb, lead);
    if (!sb.len)
        strbuf_addstr(&sb, "(no message)");
    else if (mlen > ENGINE_MAX_MESSAGE)
        strbuf_addstr(&sb, "...");
    return strbuf_detach(&sb, NULL);
}

int engine_reply_error(long status, const char *body, size_t len, nc_error **err)
{
    _cleanup_free_ char *msg = reply_message(body, len);
    return nc_error_set_http(err, errno_for_status(status), (int)status, "%ld %s", status, msg);
}

int engine_call_raw(engine *e, const char *method, const char *target, const char *json_body,
                    http_response *resp, nc_error **err)
{
    _cleanup_free_ char *full = xasprintf("%s%s", e->api_prefix, target);
    int r = http_request(e->http, method, full, "application/json", json_body,
                         json_body ? strlen(json_body) : 0, resp, err);
    if (r < 0)
        return r;
    long status = resp->status;
    if ((status < 200 || status > 299) && status != 304) {
        r = engine_reply_error(status, resp->body.buf, resp->body.len, err);
        http_response_release(resp);
        return r;
    }
    return (int)status;
}

int engine_call(engine *e, const char *method, const char *target, const char *json_body,
                nc_json **ret_json, nc_error **err)
{
    http_response resp = HTTP_RESPONSE_INIT;
    int status = engine_call_raw(e, method, target, json_body, &resp, err);
    if (status < 0)
        return status;
    if (ret_json) {
        *ret_json = NULL;
        if (resp.body.len) {
            int r = json_parse(resp.body.buf, resp.body.len, ret_json, err);
            if (r < 0) {
                http_response_release(&resp);
                return nc_error_wrap(err, "%s %s: reply", method, target);
            }
        }
    }
    http_response_release(&resp);
    return status;
}

/* Parses "1.NN" into NN. */
static bool parse_api_version(const char *s, int *minor)
{
    if (!s || strncmp(s, "1.", 2) != 0)
        return false;
    char *end;
    errno = 0;
    long v = strtol(s + 2, &end, 10);
    if (errno || end == s + 2 || *end || v < 0 || v > 999)
        return false;
    *minor = (int)v;
    return true;
}

/* Is the socket there and usable by us? Gives the reason when not. */
static int check_socket(const char *path, nc_error **err)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT)
            return nc_error_set(err, ENOENT, "missing");
        if (errno == EACCES)
            return nc_error_set(err, EACCES, "permission denied on a directory of the path");
        return nc_error_set(err, errno, "stat: %s", strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode))
        return nc_error_set(err, ENOTSOCK, "not a socket");
    if (access(path, R_OK | W_OK) < 0)
        return nc_error_set(err, EACCES,
                            "permission denied (socket owned by uid %u gid %u, mode %o; join its "
                            "group or use rootless Podman)",
                            (unsigned)st.st_uid, (unsigned)st.st_gid, st.st_mode & 07777);
    return 0;
}

/* Pings the engine and negotiates the API version. */
static int handshake(engine *e, nc_error **err)
{
    http_response resp = HTTP_RESPONSE_INIT;
    int r = http_request(e->http, "GET", "/_ping", NULL, NULL, 0, &resp, err);
    if (r < 0)
        return r;
    if (resp.status != 200) {
        r = engine_reply_error(resp.status, resp.body.buf, resp.body.len, err);
        http_response_release(&resp);
        return nc_error_wrap(err, "not an engine: /_ping answered");
    }
    const char *api = http_response_header(&resp, "Api-Version");
    const char *libpod = http_response_header(&resp, "Libpod-Api-Version");
    const char *server = http_response_header(&resp, "Server");
    int minor;
    if (!parse_api_version(api, &minor)) {
        r = nc_error_set(err, EPROTO, "not an engine: /_ping reported API version '%s'",
                         api ? api : "(none)");
        http_response_release(&resp);
        return r;
    }
    e->kind = libpod ? ENGINE_PODMAN : ENGINE_DOCKER;
    e->libpod_api = libpod ? xstrdup(libpod) : NULL;
    e->server = xstrdup(server ? server : "unknown");
    const char *slash = server ? strchr(server, '/') : NULL;
    e->version = slash ? xstrndup(slash + 1, strcspn(slash + 1, " ")) : xstrdup("unknown");
    http_response_release(&resp);
    e->server_api = minor;
    if (minor < ENGINE_API_MIN)
        return nc_error_set(err, EPROTONOSUPPORT,
                            "engine speaks API 1.%d, older than 1.%d, the oldest nanocell "
                            "supports (Docker 19.03, Podman 3); upgrade the engine",
                            minor, ENGINE_API_MIN);
    e->api_minor = minor < ENGINE_API_MAX ? minor : ENGINE_API_MAX;
    e->api_prefix = xasprintf("/v1.%d", e->api_minor);
    if (minor > ENGINE_API_MAX && e->kind == ENGINE_DOCKER) {
        /* Newer Docker releases raise their minimum: make sure ours is still served. */
        _cleanup_json_ nc_json *v = NULL;
        r = engine_call(e, "GET", "/version", NULL, &v, err);
        if (r < 0)
            return nc_error_wrap(err, "read engine version");
        int min_minor;
        const char *min = json_string(json_get(v, "MinAPIVersion"));
        if (min && parse_api_version(min, &min_minor) && min_minor > e->api_minor)
            return nc_error_set(err, EPROTONOSUPPORT,
                                "engine requires API %s or newer, nanocell speaks up to 1.%d", min,
                                ENGINE_API_MAX);
    }
    return 0;
}

/* http_opts pointing into e->ep, whose strings live as long as e. */
static http_opts opts_for(const engine *e, long connect_ms, long request_ms, size_t max_body)
{
    return (http_opts){
        .socket_path = e->ep.socket_path,
        .tcp_host = e->ep.tcp_host,
        .tcp_port = e->ep.tcp_port,
        .tls = e->ep.tls.enabled,
        .tls_verify = e->ep.tls.verify,
        .tls_ca = e->ep.tls.ca,
        .tls_cert = e->ep.tls.cert,
        .tls_key = e->ep.tls.key,
        .tls_server_name = e->ep.tls.server_name,
        .connect_timeout_ms = connect_ms,
        .timeout_ms = request_ms,
        .max_body = max_body,
    };
}

void engine_set_http_opts(engine *e, const engine_opts *o)
{
    e->http_opts = opts_for(
        e, o->connect_timeout_ms > 0 ? o->connect_timeout_ms : ENGINE_DEFAULT_CONNECT_TIMEOUT_MS,
        o->request_timeout_ms > 0 ? o->request_timeout_ms : ENGINE_DEFAULT_REQUEST_TIMEOUT_MS,
        o->max_response_bytes ? o->max_response_bytes : ENGINE_DEFAULT_MAX_RESPONSE);
}

/* Connects to the engine at ep, which it takes over (released on failure). */
static int try_endpoint(const engine_opts *o, engine_endpoint *ep, engine **ret, nc_error **err)
{
    int r = ep->socket_path ? check_socket(ep->socket_path, err) : 0;
    if (r < 0) {
        endpoint_release(ep);
        return r;
    }
    _cleanup_engine_ engine *e = xnew0(engine);
    e->ep = *ep;
    *ep = (engine_endpoint){0};
    engine_set_http_opts(e, o);
    e->http = http_client_new(&e->http_opts);
    r = handshake(e, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(e);
    return 0;
}

int engine_open_endpoint(const engine_opts *o, engine_endpoint *ep, engine **ret, nc_error **err)
{
    return try_endpoint(o, ep, ret, err);
}

static engine_probe *add_probe(engine_report *report, const endpoint_candidate *c)
{
    report->probes = xreallocarray(report->probes, report->n + 1, sizeof(*report->probes));
    engine_probe *p = &report->probes[report->n++];
    *p = (engine_probe){.uri = xstrdup(c->uri),
                        .source = xstrdup(c->source),
                        .context = c->context ? xstrdup(c->context) : NULL,
                        .user_set = c->user_set};
    return p;
}

void engine_report_release(engine_report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->probes[i].uri);
        free(r->probes[i].source);
        free(r->probes[i].context);
        free(r->probes[i].state);
    }
    free(r->probes);
    *r = (engine_report){0};
}

int engine_open(const engine_opts *o, engine_report *report, engine **ret, nc_error **err)
{
    endpoint_candidate *cands;
    size_t n = endpoint_candidates(o->host, o->host_source, o->config_host, &cands);
    _cleanup_strbuf_ strbuf tried = STRBUF_INIT;
    int r = -ENOENT;
    bool decided = false; /* an engine was chosen, or a final address failed */
    for (size_t i = 0; i < n; i++) {
        engine_probe *p = report ? add_probe(report, &cands[i]) : NULL;
        if (decided && !(p && o->probe_all)) {
            if (p)
                p->state = xstrdup("not tried");
            continue;
        }
        _cleanup_error_ nc_error *cerr = NULL;
        engine_endpoint ep = {0};
        engine *e = NULL;
        int cr = cands[i].error ? nc_error_set(&cerr, EINVAL, "%s", cands[i].error)
                                : endpoint_parse(cands[i].uri, cands[i].source, &ep, &cerr);
        if (cr == 0 && cands[i].context)
            ep.context = xstrdup(cands[i].context);
        if (cr == 0)
            cr =
                endpoint_setup_tls(&ep, &o->tls, cands[i].tls_dir, cands[i].skip_tls_verify, &cerr);
        if (cr < 0)
            endpoint_release(&ep);
        bool bad = cr < 0;
        if (cr == 0)
            cr = try_endpoint(o, &ep, &e, &cerr);
        if (p) {
            p->tried = true;
            p->bad_address = bad;
            p->code = cr < 0 ? -cr : 0;
            p->state = xstrdup(cr < 0 ? nc_error_msg(cerr) : "ok");
        }
        if (decided) {
            engine_free(e); /* probed for the report only */
            continue;
        }
        r = cr;
        if (cr == 0) {
            *ret = e;
            decided = true;
            if (p)
                p->chosen = true;
        } else if (cands[i].user_set) {
            r = nc_error_set_http(err, cerr->code, cerr->http_status, "engine '%s' (from %s): %s",
                                  cands[i].uri, cands[i].source, nc_error_msg(cerr));
            decided = true;
        } else {
            strbuf_addf(&tried, "%s%s: %s", tried.len ? "; " : "", cands[i].uri,
                        nc_error_msg(cerr));
        }
    }
    if (r < 0 && (!err || !*err))
        r = nc_error_set(err, -r,
                         "no container engine found (%s); start Docker or Podman, or "
                         "point DOCKER_HOST at its socket",
                         strbuf_str(&tried));
    endpoint_candidates_free(cands, n);
    return r < 0 ? r : 0;
}

engine *engine_dup(const engine *e)
{
    engine *d = xnew0(engine);
    endpoint_copy(&d->ep, &e->ep);
    d->kind = e->kind;
    d->api_minor = e->api_minor;
    d->server_api = e->server_api;
    d->api_prefix = xstrdup(e->api_prefix);
    d->server = e->server ? xstrdup(e->server) : NULL;
    d->version = e->version ? xstrdup(e->version) : NULL;
    d->libpod_api = e->libpod_api ? xstrdup(e->libpod_api) : NULL;
    d->http_opts = opts_for(d, e->http_opts.connect_timeout_ms, e->http_opts.timeout_ms,
                            e->http_opts.max_body);
    d->http = http_client_new(&d->http_opts);
    return d;
}

void engine_free(engine *e)
{
    if (!e)
        return;
    http_client_free(e->http);
    endpoint_release(&e->ep);
    free(e->api_prefix);
    free(e->server);
    free(e->version);
    free(e->libpod_api);
    free(e);
}

static char *dup_string(const nc_json *v)
{
    const char *s = json_string(v);
    return s ? xstrdup(s) : NULL;
}

static bool get_bool(const nc_json *v)
{
    bool b = false;
    json_bool(v, &b);
    return b;
}

int engine_get_info(engine *e, engine_info *ret, nc_error **err)
{
    _cleanup_json_ nc_json *info = NULL;
    _cleanup_json_ nc_json *ver = NULL;
    int r = engine_call(e, "GET", "/info", NULL, &info, err);
    if (r < 0)
        return nc_error_wrap(err, "read engine info");
    r = engine_call(e, "GET", "/version", NULL, &ver, err);
    if (r < 0)
        return nc_error_wrap(err, "read engine version");
    if (!json_is_object(info) || !json_is_object(ver))
        return nc_error_set(err, EPROTO, "engine info or version reply is not a JSON object");
    engine_info i = {0};
    i.server_version = dup_string(json_get(ver, "Version"));
    i.min_api = dup_string(json_get(ver, "MinAPIVersion"));
    i.os = dup_string(json_get(info, "OperatingSystem"));
    i.kernel = dup_string(json_get(info, "KernelVersion"));
    i.cgroup_version = dup_string(json_get(info, "CgroupVersion"));
    i.cgroup_driver = dup_string(json_get(info, "CgroupDriver"));
    i.default_runtime = dup_string(json_get(info, "DefaultRuntime"));
    const nc_json *rt = json_get(info, "Runtimes");
    for (size_t k = 0; k < json_object_len(rt); k++)
        strv_push(&i.runtimes, json_object_key(rt, k));
    const nc_json *so = json_get(info, "SecurityOptions");
    for (size_t k = 0; k < json_array_len(so); k++) {
        const char *s = json_string(json_array_at(so, k));
        if (!s)
            continue;
        strv_push(&i.security_options, s);
        i.seccomp |= strstr(s, "name=seccomp") != NULL;
        i.apparmor |= strstr(s, "name=apparmor") != NULL;
        i.selinux |= strstr(s, "name=selinux") != NULL;
        i.userns |= strstr(s, "name=userns") != NULL;
        i.rootless |= strstr(s, "name=rootless") != NULL;
    }
    i.rootless |= get_bool(json_get(info, "Rootless"));
    i.memory_limit = get_bool(json_get(info, "MemoryLimit"));
    i.swap_limit = get_bool(json_get(info, "SwapLimit"));
    i.pids_limit = get_bool(json_get(info, "PidsLimit"));
    i.cpu_cfs_quota = get_bool(json_get(info, "CpuCfsQuota"));
    json_int(json_get(info, "NCPU"), &i.ncpu);
    json_int(json_get(info, "MemTotal"), &i.mem_total);
    *ret = i;
    return 0;
}

void engine_info_release(engine_info *i)
{
    free(i->server_version);
    free(i->min_api);
    free(i->os);
    free(i->kernel);
    free(i->cgroup_version);
    free(i->cgroup_driver);
    free(i->default_runtime);
    strv_free(i->runtimes);
    strv_free(i->security_options);
    *i = (engine_info){0};
}
