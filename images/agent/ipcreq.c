/* NanoClaw's IPC requests (see ipcreq.h). */
#include "ipcreq.h"

#include <errno.h>
#include <string.h>

#include "ipc.h"
#include "orch/schedule.h"
#include "util/fileutil.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Bytes of a task's prompt that list_tasks shows, as NanoClaw's prompt.slice(0, 50). */
#define LIST_PROMPT_MAX 50

static int write_task(const struct agent *a, nc_jgen *g, const char *type, nc_error **err)
{
    _cleanup_strbuf_ strbuf json = STRBUF_INIT;
    int r = jgen_finish(g, &json, err);
    if (r >= 0)
        r = ipc_write_file(a, "tasks", json.buf, json.len, err);
    return r < 0 ? nc_error_wrap(err, "%s", type) : 0;
}

/* type, groupFolder, isMain, timestamp: what every task file of NanoClaw's tools carries. */
static void common(const struct agent *a, nc_jgen *g, const char *type)
{
    _cleanup_free_ char *ts = ipc_iso_now();
    jgen_kv_str(g, "type", type);
    jgen_kv_str(g, "groupFolder", a->group_folder);
    jgen_kv_bool(g, "isMain", a->is_main);
    jgen_kv_str(g, "timestamp", ts);
}

int ipcreq_schedule(const struct agent *a, const struct ipcreq_schedule *s, nc_error **err)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    common(a, g, "schedule_task");
    if (s->task_id)
        jgen_kv_str(g, "taskId", s->task_id);
    jgen_kv_str(g, "prompt", s->prompt);
    if (s->script)
        jgen_kv_str(g, "script", s->script);
    jgen_kv_str(g, "schedule_type", s->schedule_type);
    jgen_kv_str(g, "schedule_value", s->schedule_value);
    jgen_kv_str(g, "context_mode", s->context_mode ? s->context_mode : "group");
    jgen_kv_str(g, "targetJid", s->target_jid ? s->target_jid : a->chat_jid);
    jgen_kv_str(g, "createdBy", a->group_folder);
    jgen_obj_close(g);
    return write_task(a, g, "schedule_task", err);
}

int ipcreq_task_op(const struct agent *a, const char *type, const char *task_id, nc_error **err)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    common(a, g, type);
    jgen_kv_str(g, "taskId", task_id);
    jgen_obj_close(g);
    return write_task(a, g, type, err);
}

int ipcreq_update(const struct agent *a, const struct ipcreq_update *u, nc_error **err)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    common(a, g, "update_task");
    jgen_kv_str(g, "taskId", u->task_id);
    if (u->prompt)
        jgen_kv_str(g, "prompt", u->prompt);
    if (u->script)
        jgen_kv_str(g, "script", u->script);
    if (u->schedule_type)
        jgen_kv_str(g, "schedule_type", u->schedule_type);
    if (u->schedule_value)
        jgen_kv_str(g, "schedule_value", u->schedule_value);
    jgen_obj_close(g);
    return write_task(a, g, "update_task", err);
}

int ipcreq_register_group(const struct agent *a, const struct ipcreq_group *r, nc_error **err)
{
    _cleanup_free_ char *ts = ipc_iso_now();
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "type", "register_group");
    jgen_kv_str(g, "jid", r->jid);
    jgen_kv_str(g, "name", r->name);
    jgen_kv_str(g, "folder", r->folder);
    jgen_kv_str(g, "trigger", r->trigger);
    jgen_kv_bool(g, "requiresTrigger", r->requires_trigger);
    if (r->ask_main)
        jgen_kv_bool(g, "isMain", true);
    jgen_kv_str(g, "timestamp", ts);
    jgen_obj_close(g);
    return write_task(a, g, "register_group", err);
}

int ipcreq_refresh_groups(const struct agent *a, nc_error **err)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    common(a, g, "refresh_groups");
    jgen_obj_close(g);
    return write_task(a, g, "refresh_groups", err);
}

static const char *str_or(const nc_json *t, const char *key, const char *dflt)
{
    const char *s = json_string(json_get(t, key));
    return s ? s : dflt;
}

int ipcreq_list_tasks(const struct agent *a, strbuf *out, nc_error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/ipc/current_tasks.json", a->workspace);
    _cleanup_strbuf_ strbuf raw = STRBUF_INIT;
    _cleanup_json_ nc_json *root = NULL;
    _cleanup_error_ nc_error *rerr = NULL;
    int r = read_file(path, IPCREQ_MAX_TASKS_FILE, &raw, &rerr);
    if (r == -ENOENT) {
        strbuf_addstr(out, "No scheduled tasks found.");
        return 0;
    }
    if (r < 0)
        return nc_error_set(err, -r, "%s", nc_error_msg(rerr));
    if ((r = json_parse(raw.buf ? raw.buf : "", raw.len, &root, err)) < 0)
        return r;
    if (!json_is_array(root))
        return nc_error_set(err, EPROTO, "'%s' is not a JSON array", path);
    size_t shown = 0;
    for (size_t i = 0; i < json_array_len(root); i++) {
        const nc_json *t = json_array_at(root, i);
        const char *folder = json_string(json_get(t, "groupFolder"));
        if (!a->is_main && (!folder || strcmp(folder, a->group_folder) != 0))
            continue;
        const char *prompt = str_or(t, "prompt", "");
        size_t n = strlen(prompt);
        if (n > LIST_PROMPT_MAX) {
            n = LIST_PROMPT_MAX;
            while (n && ((unsigned char)prompt[n] & 0xC0) == 0x80)
                n--; /* not in the middle of a UTF-8 sequence */
        }
        strbuf_addstr(out, shown++ ? "\n" : "Scheduled tasks:\n");
        strbuf_addf(out, "- [%s] ", str_or(t, "id", "?"));
        strbuf_add(out, prompt, n);
        strbuf_addf(out, "... (%s: %s) - %s, next: %s", str_or(t, "schedule_type", "?"),
                    str_or(t, "schedule_value", "?"), str_or(t, "status", "?"),
                    str_or(t, "next_run", "N/A"));
    }
    if (!shown)
        strbuf_addstr(out, "No scheduled tasks found.");
    return 0;
}

int ipcreq_check_schedule(const char *type, const char *value, nc_error **err)
{
    enum sched_kind kind;
    sched s;
    int r = sched_kind_parse(type, &kind, err);
    if (r < 0)
        return r;
    if (kind == SCHED_ONCE) {
        size_t n = strlen(value);
        bool zulu = n && (value[n - 1] == 'Z' || value[n - 1] == 'z');
        bool offset = n >= 6 && (value[n - 6] == '+' || value[n - 6] == '-') && value[n - 3] == ':';
        if (zulu || offset)
            return nc_error_set(err, EINVAL,
                                "once time '%s' must be a local time without 'Z' or an offset "
                                "(e.g. 2026-02-01T15:30:00)",
                                value);
    }
    return sched_parse(kind, value, NULL, &s, err);
}
