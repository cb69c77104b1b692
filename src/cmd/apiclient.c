#include "cmd/apiclient.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/common.h"
#include "orch/daemon.h"
#include "util/log.h"
#include "util/termsafe.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Bounds of a client's requests. A page of messages may hold long replies. */
#define CLIENT_CONNECT_TIMEOUT_MS 5000L
#define CLIENT_REQUEST_TIMEOUT_MS 60000L
#define CLIENT_MAX_REPLY API_EVENT_MAX_LINE
/* A stream that sends nothing, not even a heartbeat, for this long is given up. */
#define CLIENT_STREAM_SILENCE_MS (3 * 15000)

/* ---- terminal-safe text ---- */

/* Text from the daemon is what an agent wrote: made safe for a terminal (util/termsafe.h).
 * Lines logged with log_* are made safe by the logger itself. */
void print_text(FILE *f, const char *s)
{
    _cleanup_free_ char *safe = termsafe_cstr(s, TERMSAFE_TEXT);
    fputs(safe, f);
}

void print_json_line(FILE *f, const nc_json *v)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_value(g, v, false);
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    if (jgen_finish(g, &out, NULL) == 0)
        fprintf(f, "%s\n", out.buf);
}

/* "nanocell: error: what: msg", msg made terminal-safe. */
static void print_error(const char *what, const char *msg)
{
    log_error("%s: %s", what, msg);
}

/* ---- options and the connection ---- */

int apiclient_option(int o, apiclient *ac, const char *usage)
{
    if (o == 'A') {
        ac->api_flag = optarg;
        return CMD_OPT_HANDLED;
    }
    /* --help and getopt's errors as every command has them; the clients' tables hold no
     * --config or --host, so cmd_option never stores one. */
    cmd_common unused = {0};
    return cmd_option(o, &unused, usage);
}

int apiclient_open(apiclient *ac)
{
    _cleanup_error_ nc_error *err = NULL;
    if (ac->api_flag && !ac->api_flag[0]) {
        log_error("--api: empty socket path");
        return EXIT_USAGE;
    }
    ac->socket = ac->api_flag ? xstrdup(ac->api_flag) : daemon_default_api_socket(&err);
    if (!ac->socket) {
        log_error("%s", nc_error_msg(err));
        return EXIT_USAGE;
    }
    http_opts o = {
        .socket_path = ac->socket,
        .connect_timeout_ms = CLIENT_CONNECT_TIMEOUT_MS,
        .timeout_ms = CLIENT_REQUEST_TIMEOUT_MS,
        .max_body = CLIENT_MAX_REPLY,
    };
    ac->http = http_client_new(&o);
    return 0;
}

void apiclient_close(apiclient *ac)
{
    http_client_free(ac->http);
    ac->http = NULL;
    free(ac->socket);
    ac->socket = NULL;
}

static int no_daemon(const apiclient *ac)
{
    log_error("no nanocell daemon answers at '%s': start one with `nanocell serve`", ac->socket);
    return EXIT_ENGINE;
}

/* The exit status for a request that got no complete reply. */
static int transport_error(const apiclient *ac, const char *what, const nc_error *e)
{
    if (e && e->code == ECONNREFUSED)
        return no_daemon(ac);
    /* http.c words its errors for the engine; say what they mean here. */
    if (e && e->code == ETIMEDOUT)
        log_error("%s: the daemon at '%s' did not answer in time", what, ac->socket);
    else if (e && (e->code == ECONNRESET || e->code == EPROTO))
        log_error("%s: the daemon at '%s' hung up or sent a malformed reply", what, ac->socket);
    else
        log_error("%s: daemon at '%s': %s", what, ac->socket, nc_error_msg(e));
    return EXIT_ENGINE;
}

/* The exit status for a non-2xx reply with body, after printing the daemon's error. */
static int reply_error(long status, const char *body, size_t len, const char *what)
{
    _cleanup_json_ nc_json *root = NULL;
    const char *msg = NULL;
    if (json_parse(body, len, &root, NULL) == 0)
        msg = json_string(json_get(root, "error"));
    _cleanup_free_ char *fallback = xasprintf("the daemon answered HTTP %ld", status);
    print_error(what, msg ? msg : fallback);
    return status >= 400 && status < 500 ? EXIT_USAGE : EXIT_AGENT_ERROR;
}

char *apiclient_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    strbuf out = STRBUF_INIT;
    strbuf_addstr(&out, "");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            strbuf_addch(&out, (char)*p);
        } else {
            strbuf_addch(&out, '%');
            strbuf_addch(&out, hex[*p >> 4]);
            strbuf_addch(&out, hex[*p & 15]);
        }
    }
    return strbuf_detach(&out, NULL);
}

char *apiclient_group_path(const char *folder, const char *suffix, int *rc)
{
    /* The server sees the path decoded, so an encoded '/' would still split it. */
    if (!folder[0] || strchr(folder, '/')) {
        log_error("invalid group name '%s'", folder);
        *rc = EXIT_USAGE;
        return NULL;
    }
    _cleanup_free_ char *esc = apiclient_escape(folder);
    return xasprintf("/v1/groups/%s%s", esc, suffix);
}

int apiclient_call(apiclient *ac, const char *method, const char *target, const char *body,
                   const char *what, nc_json **root)
{
    *root = NULL;
    http_response resp = HTTP_RESPONSE_INIT;
    _cleanup_error_ nc_error *err = NULL;
    if (http_request(ac->http, method, target, body ? "application/json" : NULL, body,
                     body ? strlen(body) : 0, &resp, &err) < 0)
        return transport_error(ac, what, err);
    int rc = 0;
    if (resp.status < 200 || resp.status > 299) {
        rc = reply_error(resp.status, resp.body.buf ? resp.body.buf : "", resp.body.len, what);
    } else if (json_parse(resp.body.buf ? resp.body.buf : "", resp.body.len, root, &err) < 0) {
        log_error("%s: daemon at '%s' sent a reply that is not JSON: %s", what, ac->socket,
                  nc_error_msg(err));
        rc = EXIT_ENGINE;
    }
    http_response_release(&resp);
    return rc;
}

int apiclient_default_group(apiclient *ac, const char *flag, char **folder)
{
    if (flag) {
        *folder = xstrdup(flag);
        return 0;
    }
    _cleanup_json_ nc_json *root = NULL;
    int rc = apiclient_call(ac, "GET", "/v1/groups", NULL, "list groups", &root);
    if (rc)
        return rc;
    const nc_json *groups = json_get(root, "groups");
    size_t n = json_array_len(groups);
    for (size_t i = 0; i < n; i++) {
        const nc_json *g = json_array_at(groups, i);
        bool main = false;
        if (json_bool(json_get(g, "is_main"), &main) && main &&
            json_string(json_get(g, "folder"))) {
            *folder = xstrdup(json_string(json_get(g, "folder")));
            return 0;
        }
    }
    if (n == 1 && json_string(json_get(json_array_at(groups, 0), "folder"))) {
        *folder = xstrdup(json_string(json_get(json_array_at(groups, 0), "folder")));
        return 0;
    }
    if (n == 0)
        log_error("no groups yet: add one with `nanocell groups add NAME --main`");
    else
        log_error("%zu groups and none is the main group: say which with --group", n);
    return EXIT_USAGE;
}

/* ---- the event stream ---- */

struct send_state {
    apiclient_event_cb on_event;
    void *ud;
    api_lines lines;
    nc_error *err; /* a malformed stream */
    int rc;        /* -1 until a last event */
    bool accepted;
    int64_t id;
    uint64_t last_data_ms;
};

static int on_line(const char *line, size_t len, void *userdata)
{
    struct send_state *s = userdata;
    api_event ev;
    if (api_event_parse(line, len, &ev, &s->err) < 0) {
        api_event_release(&ev);
        return -EPROTO;
    }
    if (s->on_event)
        s->on_event(&ev, line, len, s->ud);
    if (ev.kind == API_EV_ACCEPTED) {
        s->accepted = true;
        s->id = ev.id;
    } else if (ev.kind == API_EV_STATE && strcmp(ev.state, "pending") == 0 && ev.attempts > 0) {
        _cleanup_free_ char *what =
            xasprintf("message %" PRId64 ": try %" PRId64 " failed, the daemon tries again", s->id,
                      ev.attempts);
        print_error(what, ev.error ? ev.error : "no reason given");
    } else if (ev.kind == API_EV_STATE && api_state_is_terminal(ev.state)) {
        s->rc = strcmp(ev.state, "done") == 0 ? EXIT_OK : EXIT_AGENT_ERROR;
        if (strcmp(ev.state, "failed") == 0) {
            _cleanup_free_ char *what = xasprintf("message %" PRId64 " failed after %" PRId64
                                                  " tries (`nanocell retry` runs it "
                                                  "again)",
                                                  s->id, ev.attempts);
            print_error(what, ev.error ? ev.error : "no reason given");
        } else if (strcmp(ev.state, "skipped") == 0) {
            log_error("message %" PRId64 " was skipped: it is context outside the window of the "
                      "group's trigger",
                      s->id);
        }
    } else if (ev.kind == API_EV_WAITING) {
        log_info("message %" PRId64 " is stored and waits: %s", s->id, ev.text);
        s->rc = EXIT_OK;
    } else if (ev.kind == API_EV_SHUTDOWN) {
        log_error("the daemon is shutting down: message %" PRId64 " is stored and runs when it "
                  "starts again",
                  s->id);
        s->rc = EXIT_ENGINE;
    }
    api_event_release(&ev);
    return 0;
}

static int on_data(const char *data, size_t len, void *userdata)
{
    struct send_state *s = userdata;
    s->last_data_ms = mono_ms();
    int r = api_lines_feed(&s->lines, data, len, on_line, s, &s->err);
    return r == 0 ? 0 : 1;
}

int apiclient_send(apiclient *ac, const char *folder, const char *text, bool wait,
                   apiclient_event_cb on_event, void *ud)
{
    int rc = 0;
    _cleanup_free_ char *path =
        apiclient_group_path(folder, wait ? "/messages" : "/messages?wait=0", &rc);
    if (!path)
        return rc;
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "text", text);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    _cleanup_error_ nc_error *err = NULL;
    if (jgen_finish(g, &body, &err) < 0) {
        log_error("the message is not valid UTF-8 text: %s", nc_error_msg(err));
        return EXIT_USAGE;
    }
    struct send_state s = {.on_event = on_event, .ud = ud, .rc = -1, .last_data_ms = mono_ms()};
    _cleanup_(http_async_freep) http_async *a = NULL;
    const http_opts *o = http_client_opts(ac->http);
    if (http_async_start_body(o, "POST", path, "application/json", body.buf, body.len,
                              CLIENT_REQUEST_TIMEOUT_MS, on_data, &s, &a, &err) < 0) {
        api_lines_release(&s.lines);
        return transport_error(ac, "send", err);
    }
    int r;
    while ((r = http_async_pump(a, 1000, &err)) == 0) {
        if (mono_ms() - s.last_data_ms > CLIENT_STREAM_SILENCE_MS) {
            log_error("send: the daemon at '%s' sent nothing for %d s", ac->socket,
                      CLIENT_STREAM_SILENCE_MS / 1000);
            r = -ETIMEDOUT;
            break;
        }
    }
    const http_response *resp = http_async_response(a);
    if (resp->status && (resp->status < 200 || resp->status > 299)) {
        rc =
            reply_error(resp->status, resp->body.buf ? resp->body.buf : "", resp->body.len, "send");
    } else if (s.err) {
        log_error("send: malformed event stream from '%s': %s", ac->socket, nc_error_msg(s.err));
        rc = EXIT_ENGINE;
    } else if (s.rc >= 0) {
        rc = s.rc;
    } else if (!wait && s.accepted && r == 1) {
        rc = EXIT_OK;
    } else if (r < 0 && r != -ETIMEDOUT && !s.accepted) {
        rc = transport_error(ac, "send", err);
    } else {
        log_error("send: the daemon closed the stream before the message was answered; it is "
                  "stored and runs when the daemon runs (see `nanocell messages`)");
        rc = EXIT_ENGINE;
    }
    nc_error_free(s.err);
    api_lines_release(&s.lines);
    return rc;
}
