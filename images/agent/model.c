/* Model mode: Messages API client and the bash tool loop (see model.h). */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "history.h"
#include "http.h"
#include "mcptool.h"
#include "sse.h"
#include "text.h"
#include "tool.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Bytes of an API error message or of an unparsable reply quoted in an error. */
#define QUOTE_MAX 1000

/* NanoClaw v1's prefix for a scheduled task's prompt when it has no script. */
#define SCHEDULED_PREFIX                                                                           \
    "[SCHEDULED TASK - The following message was sent automatically and is not coming directly "   \
    "from the user or group.]\n\n"

struct model {
    char *socket;
    char *name;
    int64_t max_tokens;
    bool stream;        /* NANOCELL_MODEL_STREAM: ask for server-sent events */
    bool loaded;        /* the conversation file was looked at (first query) */
    char *config_error; /* set when an environment value is bad: every query fails with it */
    nc_json **messages; /* each a whole message object {"role":...,"content":...} */
    size_t n, alloc;
};

struct model *model_from_env(void)
{
    const char *sock = getenv("NANOCELL_MODEL_SOCKET");
    if (!sock || !*sock)
        return NULL;
    struct model *m = xnew0(struct model);
    m->socket = xstrdup(sock);
    const char *name = getenv("NANOCELL_MODEL");
    m->name = xstrdup(name && *name ? name : MODEL_DEFAULT);
    m->max_tokens = MODEL_DEFAULT_MAX_TOKENS;
    const char *mt = getenv("NANOCELL_MODEL_MAX_TOKENS");
    uint64_t v;
    if (mt && *mt) {
        if (text_parse_u64(mt, MODEL_MAX_MAX_TOKENS, &v) && v > 0)
            m->max_tokens = (int64_t)v;
        else /* the value is not echoed: only the variable's name */
            m->config_error = xasprintf("NANOCELL_MODEL_MAX_TOKENS is not a number from 1 to %d",
                                        MODEL_MAX_MAX_TOKENS);
    }
    const char *st = getenv("NANOCELL_MODEL_STREAM");
    if (st && (strcmp(st, "1") == 0 || strcmp(st, "true") == 0))
        m->stream = true;
    else if (st && *st && strcmp(st, "0") != 0 && strcmp(st, "false") != 0 && !m->config_error)
        m->config_error = xstrdup("NANOCELL_MODEL_STREAM is not 1, true, 0 or false");
    return m;
}

static void truncate_messages(struct model *m, size_t n)
{
    while (m->n > n)
        json_free(m->messages[--m->n]);
}

void model_free(struct model *m)
{
    if (!m)
        return;
    truncate_messages(m, 0);
    free(m->messages);
    free(m->socket);
    free(m->name);
    free(m->config_error);
    free(m);
}

static void push_loaded(nc_json *msg, void *userdata)
{
    struct model *m = userdata;
    if (m->n == m->alloc) {
        m->alloc = m->alloc ? m->alloc * 2 : 16;
        m->messages = xreallocarray(m->messages, m->alloc, sizeof(*m->messages));
    }
    m->messages[m->n++] = msg;
}

/* Appends the message that g holds (complete) to the conversation. */
static int push_message(struct model *m, nc_jgen *g, nc_error **err)
{
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    int r = jgen_finish(g, &text, err);
    if (r < 0)
        return r;
    nc_json *msg = NULL;
    if ((r = json_parse(text.buf, text.len, &msg, err)) < 0)
        return r;
    push_loaded(msg, m);
    return 0;
}

static char *system_prompt(const struct agent *a)
{
    return xasprintf(
        "You are %s, a personal assistant answering messages in a chat. You run inside an "
        "isolated Linux container. Your tool bash runs a shell command with /bin/sh -c in your "
        "workspace and returns its output and exit status: use it when a task needs files or "
        "computation. Your other tools talk to the host: send_message sends a message to the "
        "chat at once, and schedule_task, list_tasks, pause_task, resume_task, cancel_task and "
        "update_task manage scheduled tasks. Your final text reply is sent to the chat as your "
        "answer.",
        a->assistant_name);
}

static void add_tools(const struct agent *a, nc_jgen *g)
{
    jgen_arr_open(g);
    jgen_obj_open(g);
    jgen_kv_str(g, "name", "bash");
    jgen_kv_str(g, "description",
                "Run a shell command with /bin/sh -c inside the container. Returns its stdout, its "
                "stderr and its exit status. Each stream is cut at 64 KiB; the command is killed "
                "after 120 seconds.");
    jgen_key(g, "input_schema");
    jgen_obj_open(g);
    jgen_kv_str(g, "type", "object");
    jgen_key(g, "properties");
    jgen_obj_open(g);
    jgen_key(g, "command");
    jgen_obj_open(g);
    jgen_kv_str(g, "type", "string");
    jgen_kv_str(g, "description", "The shell command to run.");
    jgen_obj_close(g);
    jgen_obj_close(g);
    jgen_key(g, "required");
    jgen_arr_open(g);
    jgen_str(g, "command");
    jgen_arr_close(g);
    jgen_obj_close(g);
    jgen_obj_close(g);
    mcptool_add_defs(a, g);
    jgen_arr_close(g);
}

static int build_request(const struct model *m, const struct agent *a, const char *system,
                         strbuf *body, nc_error **err)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "model", m->name);
    jgen_kv_int(g, "max_tokens", m->max_tokens);
    jgen_kv_str(g, "system", system);
    if (m->stream)
        jgen_kv_bool(g, "stream", true);
    jgen_key(g, "messages");
    jgen_arr_open(g);
    for (size_t i = 0; i < m->n; i++)
        jgen_value(g, m->messages[i], false);
    jgen_arr_close(g);
    jgen_key(g, "tools");
    add_tools(a, g);
    jgen_obj_close(g);
    int r = jgen_finish(g, body, err);
    if (r < 0)
        return r;
    if (body->len > MODEL_MAX_REQUEST)
        return nc_error_set(err, EFBIG, "the conversation is longer than %zu bytes",
                            MODEL_MAX_REQUEST);
    return 0;
}

/* Quotes at most QUOTE_MAX bytes of s as valid UTF-8 on one line. */
static void add_quote(strbuf *out, const char *s, size_t len)
{
    size_t start = out->len;
    text_add_utf8(out, s, len < QUOTE_MAX ? len : QUOTE_MAX);
    for (size_t i = start; i < out->len; i++)
        if (out->buf[i] == '\n' || out->buf[i] == '\r')
            out->buf[i] = ' ';
    if (len > QUOTE_MAX)
        strbuf_addstr(out, "...");
}

/* One API call with the conversation so far; *ret_reply is the parsed reply object. */
static int call(const struct model *m, const struct agent *a, const char *system,
                nc_json **ret_reply, nc_error **err)
{
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    int r = build_request(m, a, system, &body, err);
    if (r < 0)
        return r;
    static const char *const headers[] = {"content-type: application/json",
                                          "anthropic-version: 2023-06-01",
                                          "accept: application/json", NULL};
    static const char *const stream_headers[] = {"content-type: application/json",
                                                 "anthropic-version: 2023-06-01",
                                                 "accept: text/event-stream", NULL};
    struct http_reply rep = {.body = STRBUF_INIT};
    r = http_post_unix(m->socket, "/v1/messages", m->stream ? stream_headers : headers, body.buf,
                       body.len, MODEL_TIMEOUT_MS, MODEL_MAX_REPLY, &rep, err);
    if (r < 0)
        return nc_error_wrap(err, "model API request");
    _cleanup_strbuf_ strbuf rbody = rep.body;
    _cleanup_json_ nc_json *root = NULL;
    _cleanup_error_ nc_error *perr = NULL;
    bool parsed = json_parse(rbody.buf ? rbody.buf : "", rbody.len, &root, &perr) == 0;
    if (rep.status < 200 || rep.status > 299) {
        const char *msg = json_string(json_get(json_get(root, "error"), "message"));
        if (!msg)
            msg = json_string(json_get(root, "message"));
        _cleanup_strbuf_ strbuf q = STRBUF_INIT;
        if (msg)
            add_quote(&q, msg, strlen(msg));
        else if (rbody.len)
            add_quote(&q, rbody.buf, rbody.len);
        else
            strbuf_addstr(&q, "no message");
        return nc_error_set(err, EIO, "model API returned HTTP %d: %s", rep.status, q.buf);
    }
    if (!parsed && m->stream) {
        /* A streamed reply; an error status above comes as plain JSON even then. */
        if ((r = sse_assemble(rbody.buf ? rbody.buf : "", rbody.len, &root, err)) < 0)
            return r;
        parsed = true;
    }
    if (!parsed)
        return nc_error_set(err, EPROTO, "model API reply is not valid JSON: %s",
                            nc_error_msg(perr));
    if (!json_is_array(json_get(root, "content")))
        return nc_error_set(err, EPROTO, "model API reply has no 'content' array");
    *ret_reply = TAKE_PTR(root);
    return 0;
}

static char *tool_cwd(const struct agent *a)
{
    char *group = xasprintf("%s/group", a->workspace);
    struct stat st;
    if (stat(group, &st) == 0 && S_ISDIR(st.st_mode))
        return group;
    free(group);
    return xstrdup(a->workspace);
}

/* Runs every tool_use block of content and appends the user message with their results. */
static int run_tools(struct model *m, const struct agent *a, const nc_json *content, nc_error **err)
{
    _cleanup_free_ char *cwd = tool_cwd(a);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "role", "user");
    jgen_key(g, "content");
    jgen_arr_open(g);
    size_t uses = 0;
    for (size_t i = 0; i < json_array_len(content); i++) {
        const nc_json *b = json_array_at(content, i);
        const char *type = json_string(json_get(b, "type"));
        if (!type || strcmp(type, "tool_use") != 0)
            continue;
        const char *id = json_string(json_get(b, "id"));
        if (!id)
            return nc_error_set(err, EPROTO, "model API reply has a tool_use without an id");
        uses++;
        const char *name = json_string(json_get(b, "name"));
        const nc_json *input = json_get(b, "input");
        const char *command = json_string(json_get(input, "command"));
        _cleanup_strbuf_ strbuf result = STRBUF_INIT;
        bool failed = true;
        if (name && strcmp(name, "bash") != 0 && mcptool_run(a, name, input, &result, &failed)) {
            /* one of NanoClaw's tools (mcptool.h) */
        } else if (!name || strcmp(name, "bash") != 0) {
            strbuf_addf(&result, "unknown tool '%s'", name ? name : "");
        } else if (!command) {
            strbuf_addstr(&result, "the bash tool needs a string 'command'");
        } else {
            _cleanup_error_ nc_error *terr = NULL;
            if (tool_run_shell(command, cwd, &result, &failed, &terr) < 0)
                strbuf_addf(&result, "cannot run the command: %s", nc_error_msg(terr));
        }
        jgen_obj_open(g);
        jgen_kv_str(g, "type", "tool_result");
        jgen_kv_str(g, "tool_use_id", id);
        jgen_kv_str(g, "content", strbuf_str(&result));
        if (failed)
            jgen_kv_bool(g, "is_error", true);
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    jgen_obj_close(g);
    if (!uses)
        return nc_error_set(err, EPROTO, "model API reply stopped for tool_use but has none");
    return push_message(m, g, err);
}

static int push_assistant(struct model *m, const nc_json *content, nc_error **err)
{
    if (json_array_len(content) == 0)
        return 0; /* the API refuses an empty assistant turn in a later request */
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "role", "assistant");
    jgen_key(g, "content");
    jgen_value(g, content, false);
    jgen_obj_close(g);
    return push_message(m, g, err);
}

static char *final_text(const nc_json *content)
{
    strbuf out = STRBUF_INIT;
    bool any = false;
    for (size_t i = 0; i < json_array_len(content); i++) {
        const nc_json *b = json_array_at(content, i);
        const char *type = json_string(json_get(b, "type"));
        const char *text = json_string(json_get(b, "text"));
        if (!type || strcmp(type, "text") != 0 || !text)
            continue;
        if (any)
            strbuf_addch(&out, '\n');
        strbuf_addstr(&out, text);
        any = true;
    }
    return strbuf_detach(&out, NULL);
}

static int query(struct model *m, const struct agent *a, const char *prompt, char **ret_text,
                 nc_error **err)
{
    if (m->config_error)
        return nc_error_set(err, EINVAL, "%s", m->config_error);
    _cleanup_free_ char *system = system_prompt(a);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "role", "user");
    _cleanup_free_ char *text = xasprintf("%s%s", a->is_scheduled ? SCHEDULED_PREFIX : "", prompt);
    jgen_kv_str(g, "content", text);
    jgen_obj_close(g);
    int r = push_message(m, g, err);
    if (r < 0)
        return r;
    for (int round = 0;; round++) {
        _cleanup_json_ nc_json *reply = NULL;
        if ((r = call(m, a, system, &reply, err)) < 0)
            return r;
        const nc_json *content = json_get(reply, "content");
        if ((r = push_assistant(m, content, err)) < 0)
            return r;
        const char *stop = json_string(json_get(reply, "stop_reason"));
        if (!stop || strcmp(stop, "tool_use") != 0) {
            *ret_text = final_text(content);
            return 0;
        }
        if (round >= MODEL_MAX_TOOL_ROUNDS)
            return nc_error_set(err, ELOOP, "gave up after %d tool rounds", MODEL_MAX_TOOL_ROUNDS);
        if ((r = run_tools(m, a, content, err)) < 0)
            return r;
    }
}

/* The conversation a sessionId names continues where it stopped: read once, before the first
 * query. A file that cannot be read whole starts a new conversation, said on stderr. */
static void load_history(struct model *m, const struct agent *a)
{
    m->loaded = true;
    _cleanup_free_ char *path = history_path(a);
    _cleanup_error_ nc_error *err = NULL;
    if (path && history_load(path, MODEL_MAX_REQUEST, push_loaded, m, &err) < 0) {
        truncate_messages(m, 0);
        fprintf(stderr, "model: a new conversation: %s\n", nc_error_msg(err));
    }
}

static void save_history(const struct model *m, const struct agent *a)
{
    _cleanup_free_ char *path = history_path(a);
    _cleanup_error_ nc_error *err = NULL;
    if (path && history_save(path, m->messages, m->n, &err) < 0)
        fprintf(stderr, "model: the conversation is not saved: %s\n", nc_error_msg(err));
}

int model_query(struct model *m, const struct agent *a, const char *prompt, char **ret_text,
                nc_error **err)
{
    if (!m->loaded)
        load_history(m, a);
    size_t before = m->n;
    int r = query(m, a, prompt, ret_text, err);
    if (r < 0)
        truncate_messages(m, before);
    else
        save_history(m, a);
    return r;
}
