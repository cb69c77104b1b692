/* Scripted mode's IPC commands (see ipccmd.h): each writes one NanoClaw-format file into
 * ipc/messages or ipc/tasks, as NanoClaw's MCP tools do (ipc-mcp-stdio.ts), and reports a
 * result. Like those tools they are fire-and-forget: the result says the file was written, not
 * what the host decided. */
#include "ipccmd.h"

#include <stdio.h>
#include <string.h>

#include "ipc.h"
#include "protocol.h"
#include "util/fileutil.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* The next word of *p: up to a space, or "..." (the quotes removed). NULL at the end. */
static char *next_word(const char **p)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s) {
        *p = s;
        return NULL;
    }
    const char *end;
    char *w;
    if (*s == '"' && (end = strchr(s + 1, '"'))) {
        w = xstrndup(s + 1, (size_t)(end - s - 1));
        end++;
    } else {
        end = s + strcspn(s, " \t");
        w = xstrndup(s, (size_t)(end - s));
    }
    *p = end;
    return w;
}

/* The rest of the line, trimmed, one pair of surrounding quotes removed. */
static char *rest(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"')
        return xstrndup(p + 1, n - 2);
    return xstrdup(p);
}

static int write_task(const struct agent *a, nc_jgen *g, const char *what, const char *shown)
{
    _cleanup_strbuf_ strbuf json = STRBUF_INIT;
    _cleanup_error_ nc_error *err = NULL;
    int r = jgen_finish(g, &json, &err);
    if (r >= 0)
        r = ipc_write_file(a, "tasks", json.buf, json.len, &err);
    if (r < 0) {
        _cleanup_free_ char *msg = xasprintf("%s: %s", what, nc_error_msg(err));
        return proto_error(a->session_id, msg);
    }
    return proto_result(a->session_id, shown);
}

static void common(const struct agent *a, nc_jgen *g, const char *type)
{
    _cleanup_free_ char *ts = ipc_iso_now();
    jgen_kv_str(g, "type", type);
    jgen_kv_str(g, "groupFolder", a->group_folder);
    jgen_kv_bool(g, "isMain", a->is_main);
    jgen_kv_str(g, "timestamp", ts);
}

/* schedule [--id ID] [--target JID] [--context C] [--script S] TYPE VALUE PROMPT */
static int cmd_schedule(const struct agent *a, const char *arg)
{
    _cleanup_free_ char *id = NULL, *target = NULL, *context = NULL, *script = NULL;
    _cleanup_free_ char *type = NULL, *value = NULL;
    const char *p = arg;
    for (;;) {
        const char *before = p;
        _cleanup_free_ char *w = next_word(&p);
        if (!w)
            return proto_error(a->session_id, "schedule: TYPE VALUE PROMPT expected");
        char **slot = strcmp(w, "--id") == 0        ? &id
                      : strcmp(w, "--target") == 0  ? &target
                      : strcmp(w, "--context") == 0 ? &context
                      : strcmp(w, "--script") == 0  ? &script
                                                    : NULL;
        if (!slot) {
            p = before;
            break;
        }
        free(*slot);
        *slot = next_word(&p);
    }
    type = next_word(&p);
    value = next_word(&p);
    _cleanup_free_ char *prompt = rest(p);
    if (!type || !value || !*prompt)
        return proto_error(a->session_id, "schedule: TYPE VALUE PROMPT expected");
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    common(a, g, "schedule_task");
    if (id)
        jgen_kv_str(g, "taskId", id);
    jgen_kv_str(g, "prompt", prompt);
    if (script)
        jgen_kv_str(g, "script", script);
    jgen_kv_str(g, "schedule_type", type);
    jgen_kv_str(g, "schedule_value", value);
    jgen_kv_str(g, "context_mode", context ? context : "group");
    /* The MCP tool forces a non-main agent's target to its own chat; this command writes any
     * --target, so that tests see the host refuse it. */
    jgen_kv_str(g, "targetJid", target ? target : a->chat_jid);
    jgen_kv_str(g, "createdBy", a->group_folder);
    jgen_obj_close(g);
    _cleanup_free_ char *shown = xasprintf("scheduled %s %s", type, value);
    return write_task(a, g, "schedule", shown);
}

/* pause-task, resume-task, cancel-task ID */
static int cmd_task_op(const struct agent *a, const char *type, const char *arg)
{
    _cleanup_free_ char *id = rest(arg);
    if (!*id)
        return proto_error(a->session_id, "a task id is expected");
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    common(a, g, type);
    jgen_kv_str(g, "taskId", id);
    jgen_obj_close(g);
    _cleanup_free_ char *shown = xasprintf("%s %s", type, id);
    return write_task(a, g, type, shown);
}

/* update-task ID PROMPT */
static int cmd_update(const struct agent *a, const char *arg)
{
    const char *p = arg;
    _cleanup_free_ char *id = next_word(&p);
    _cleanup_free_ char *prompt = rest(p);
    if (!id || !*prompt)
        return proto_error(a->session_id, "update-task: ID PROMPT expected");
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    common(a, g, "update_task");
    jgen_kv_str(g, "taskId", id);
    jgen_kv_str(g, "prompt", prompt);
    jgen_obj_close(g);
    _cleanup_free_ char *shown = xasprintf("update_task %s", id);
    return write_task(a, g, "update-task", shown);
}

/* register-group JID NAME FOLDER TRIGGER [--main] */
static int cmd_register(const struct agent *a, const char *arg)
{
    const char *p = arg;
    _cleanup_free_ char *jid = next_word(&p), *name = next_word(&p), *folder = next_word(&p),
                        *trigger = next_word(&p), *flag = next_word(&p);
    if (!trigger)
        return proto_error(a->session_id, "register-group: JID NAME FOLDER TRIGGER expected");
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    _cleanup_free_ char *ts = ipc_iso_now();
    jgen_kv_str(g, "type", "register_group");
    jgen_kv_str(g, "jid", jid);
    jgen_kv_str(g, "name", name);
    jgen_kv_str(g, "folder", folder);
    jgen_kv_str(g, "trigger", trigger);
    jgen_kv_bool(g, "requiresTrigger", false);
    if (flag && strcmp(flag, "--main") == 0)
        jgen_kv_bool(g, "isMain", true); /* the host must refuse this */
    jgen_kv_str(g, "timestamp", ts);
    jgen_obj_close(g);
    _cleanup_free_ char *shown = xasprintf("register_group %s", folder);
    return write_task(a, g, "register-group", shown);
}

/* list-tasks: the ids and states in ipc/current_tasks.json, as NanoClaw's list_tasks. */
static int cmd_list(const struct agent *a)
{
    _cleanup_free_ char *path = xasprintf("%s/ipc/current_tasks.json", a->workspace);
    _cleanup_strbuf_ strbuf raw = STRBUF_INIT;
    _cleanup_error_ nc_error *err = NULL;
    _cleanup_json_ nc_json *root = NULL;
    if (read_file(path, 1 << 20, &raw, &err) < 0 ||
        json_parse(raw.buf ? raw.buf : "", raw.len, &root, &err) < 0) {
        _cleanup_free_ char *msg = xasprintf("list-tasks: %s", nc_error_msg(err));
        return proto_error(a->session_id, msg);
    }
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    for (size_t i = 0; i < json_array_len(root); i++) {
        const nc_json *t = json_array_at(root, i);
        const char *id = json_string(json_get(t, "id"));
        const char *st = json_string(json_get(t, "status"));
        strbuf_addf(&out, "%s- [%s] %s", i ? "\n" : "", id ? id : "?", st ? st : "?");
    }
    return proto_result(a->session_id, out.len ? out.buf : "no tasks");
}

int ipccmd_run(const struct agent *a, const char *word, size_t wlen, const char *arg, bool *handled)
{
    *handled = true;
#define IS(w) (wlen == strlen(w) && memcmp(word, w, wlen) == 0)
    if (IS("ipc-send-to")) {
        const char *p = arg;
        _cleanup_free_ char *jid = next_word(&p);
        _cleanup_free_ char *text = rest(p);
        _cleanup_error_ nc_error *err = NULL;
        if (!jid || !*text)
            return proto_error(a->session_id, "ipc-send-to: JID TEXT expected");
        if (ipc_send_message(a, jid, text, &err) < 0) {
            _cleanup_free_ char *msg = xasprintf("ipc-send-to: %s", nc_error_msg(err));
            return proto_error(a->session_id, msg);
        }
        return proto_result(a->session_id, "sent");
    }
    if (IS("schedule"))
        return cmd_schedule(a, arg);
    if (IS("pause-task"))
        return cmd_task_op(a, "pause_task", arg);
    if (IS("resume-task"))
        return cmd_task_op(a, "resume_task", arg);
    if (IS("cancel-task"))
        return cmd_task_op(a, "cancel_task", arg);
    if (IS("update-task"))
        return cmd_update(a, arg);
    if (IS("register-group"))
        return cmd_register(a, arg);
    if (IS("refresh-groups")) {
        _cleanup_jgen_ nc_jgen *g = jgen_new();
        jgen_obj_open(g);
        common(a, g, "refresh_groups");
        jgen_obj_close(g);
        return write_task(a, g, "refresh-groups", "refresh_groups");
    }
    if (IS("list-tasks"))
        return cmd_list(a);
#undef IS
    *handled = false;
    return 0;
}
