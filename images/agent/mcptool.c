/* Model mode's NanoClaw tools (see mcptool.h): a table of definitions, one generic input check
 * against each schema, and one small handler per tool over ipcreq.h. */
#include "mcptool.h"

#include <errno.h>
#include <string.h>

#include "ipc.h"
#include "ipcreq.h"
#include "util/xalloc.h"
#include "util/banned.h"

enum ptype { P_STR, P_BOOL };

struct param {
    const char *name;
    enum ptype type;
    bool required;
    bool main_only;             /* in the schema, and read, for the main group only */
    const char *const *choices; /* NULL-terminated allowed values, or NULL for any */
    const char *desc;
};

struct tooldef {
    const char *name;
    bool main_only;
    const char *desc;
    const struct param *params;
    size_t n;
    /* in has passed the schema check; on success *out holds the result text. */
    int (*run)(const struct tooldef *t, const struct agent *a, const nc_json *in, strbuf *out,
               nc_error **err);
    const char *op; /* the ipcreq type, for the task operations */
};

static const char *const schedule_types[] = {"cron", "interval", "once", NULL};
static const char *const context_modes[] = {"group", "isolated", NULL};

#define SCHEDULE_VALUE_DESC                                                                        \
    "cron: a cron expression in local time, e.g. \"0 9 * * *\" (daily at 9:00) or "                \
    "\"*/5 * * * *\"; interval: milliseconds between runs, e.g. \"300000\" (5 minutes); once: "    \
    "a local time without \"Z\" or an offset, e.g. \"2026-02-01T15:30:00\""
#define SCRIPT_DESC                                                                                \
    "Optional shell script run before each run: the task wakes the agent only when its last "      \
    "output line is {\"wakeAgent\": true, \"data\": ...}"

static const struct param send_params[] = {
    {"text", P_STR, true, false, NULL, "The message text to send."},
    {"sender", P_STR, false, false, NULL,
     "Your role or identity name (e.g. \"Researcher\"), for channels that show it."},
};

static const struct param schedule_params[] = {
    {"prompt", P_STR, true, false, NULL,
     "What the agent should do when the task runs. It runs without this conversation, so say "
     "everything it needs."},
    {"schedule_type", P_STR, true, false, schedule_types,
     "cron (recurring at times), interval (recurring every N ms) or once (one time)."},
    {"schedule_value", P_STR, true, false, NULL, SCHEDULE_VALUE_DESC},
    {"context_mode", P_STR, false, false, context_modes,
     "group (default): runs with the group's conversation history; isolated: a fresh session."},
    {"target_group_jid", P_STR, false, true, NULL,
     "The JID of the group the task is for (main group only); default: this group."},
    {"script", P_STR, false, false, NULL, SCRIPT_DESC},
};

static const struct param task_id_params[] = {
    {"task_id", P_STR, true, false, NULL, "The id of the task."},
};

static const struct param update_params[] = {
    {"task_id", P_STR, true, false, NULL, "The id of the task to update."},
    {"prompt", P_STR, false, false, NULL, "The new prompt."},
    {"schedule_type", P_STR, false, false, schedule_types, "The new schedule type."},
    {"schedule_value", P_STR, false, false, NULL, "The new schedule value. " SCHEDULE_VALUE_DESC},
    {"script", P_STR, false, false, NULL, "A new pre-check script; an empty string removes it."},
};

static const struct param register_params[] = {
    {"jid", P_STR, true, false, NULL, "The chat JID of the group."},
    {"name", P_STR, true, false, NULL, "The group's display name."},
    {"folder", P_STR, true, false, NULL,
     "The group's folder name: lowercase letters, digits and hyphens, e.g. \"family-chat\"."},
    {"trigger", P_STR, true, false, NULL, "The trigger word, e.g. \"@Andy\"."},
    {"requiresTrigger", P_BOOL, false, false, NULL,
     "Whether messages need the trigger to wake the agent (default false)."},
};

static const char *str(const nc_json *in, const char *key)
{
    return json_string(json_get(in, key));
}

static int run_send(const struct tooldef *t, const struct agent *a, const nc_json *in, strbuf *out,
                    nc_error **err)
{
    (void)t;
    int r = ipc_send_message(a, NULL, str(in, "text"), str(in, "sender"), err);
    if (r < 0)
        return r;
    strbuf_addstr(out, "Message sent.");
    return 0;
}

static int run_schedule(const struct tooldef *t, const struct agent *a, const nc_json *in,
                        strbuf *out, nc_error **err)
{
    (void)t;
    const char *type = str(in, "schedule_type"), *value = str(in, "schedule_value");
    int r = ipcreq_check_schedule(type, value, err);
    if (r < 0)
        return nc_error_wrap(err, "invalid schedule");
    _cleanup_free_ char *name = ipc_unique_name();
    _cleanup_free_ char *id = xasprintf("task-%s", name);
    /* A non-main group's task is for its own chat, whatever the model asked (NanoClaw). */
    struct ipcreq_schedule s = {.task_id = id,
                                .prompt = str(in, "prompt"),
                                .script = str(in, "script"),
                                .schedule_type = type,
                                .schedule_value = value,
                                .context_mode = str(in, "context_mode"),
                                .target_jid = a->is_main ? str(in, "target_group_jid") : NULL};
    if ((r = ipcreq_schedule(a, &s, err)) < 0)
        return r;
    strbuf_addf(out, "Task %s scheduled: %s - %s", id, type, value);
    return 0;
}

static int run_list(const struct tooldef *t, const struct agent *a, const nc_json *in, strbuf *out,
                    nc_error **err)
{
    (void)t;
    (void)in;
    return ipcreq_list_tasks(a, out, err);
}

static int run_task_op(const struct tooldef *t, const struct agent *a, const nc_json *in,
                       strbuf *out, nc_error **err)
{
    const char *id = str(in, "task_id");
    int r = ipcreq_task_op(a, t->op, id, err);
    if (r < 0)
        return r;
    const char *what = strcmp(t->op, "pause_task") == 0    ? "pause"
                       : strcmp(t->op, "resume_task") == 0 ? "resume"
                                                           : "cancellation";
    strbuf_addf(out, "Task %s %s requested.", id, what);
    return 0;
}

static int run_update(const struct tooldef *t, const struct agent *a, const nc_json *in,
                      strbuf *out, nc_error **err)
{
    (void)t;
    struct ipcreq_update u = {.task_id = str(in, "task_id"),
                              .prompt = str(in, "prompt"),
                              .script = str(in, "script"),
                              .schedule_type = str(in, "schedule_type"),
                              .schedule_value = str(in, "schedule_value")};
    int r;
    /* With both given the pair can be checked here; either alone the host checks. */
    if (u.schedule_type && u.schedule_value &&
        (r = ipcreq_check_schedule(u.schedule_type, u.schedule_value, err)) < 0)
        return nc_error_wrap(err, "invalid schedule");
    if ((r = ipcreq_update(a, &u, err)) < 0)
        return r;
    strbuf_addf(out, "Task %s update requested.", u.task_id);
    return 0;
}

static int run_register(const struct tooldef *t, const struct agent *a, const nc_json *in,
                        strbuf *out, nc_error **err)
{
    (void)t;
    bool requires = false;
    (void)json_bool(json_get(in, "requiresTrigger"), &requires);
    struct ipcreq_group g = {.jid = str(in, "jid"),
                             .name = str(in, "name"),
                             .folder = str(in, "folder"),
                             .trigger = str(in, "trigger"),
                             .requires_trigger = requires};
    int r = ipcreq_register_group(a, &g, err);
    if (r < 0)
        return r;
    strbuf_addf(out, "Group \"%s\" registered. It will start receiving messages immediately.",
                g.name);
    return 0;
}

#define N(p) (sizeof(p) / sizeof((p)[0]))

static const struct tooldef tools[] = {
    {"send_message", false,
     "Send a message to the user or group at once, while you are still running: for progress "
     "updates, or several messages. When you run as a scheduled task your final reply is not "
     "sent to anyone; use this tool to tell the user or group something.",
     send_params, N(send_params), run_send, NULL},
    {"schedule_task", false,
     "Schedule a task: a prompt that runs as a full agent later, on a cron schedule, every "
     "interval, or once. Returns the new task's id.",
     schedule_params, N(schedule_params), run_schedule, NULL},
    {"list_tasks", false,
     "List the scheduled tasks: from the main group all of them, from another group its own.", NULL,
     0, run_list, NULL},
    {"pause_task", false, "Pause a scheduled task. It will not run until resumed.", task_id_params,
     N(task_id_params), run_task_op, "pause_task"},
    {"resume_task", false, "Resume a paused task.", task_id_params, N(task_id_params), run_task_op,
     "resume_task"},
    {"cancel_task", false, "Cancel and delete a scheduled task.", task_id_params, N(task_id_params),
     run_task_op, "cancel_task"},
    {"update_task", false,
     "Update a scheduled task: only the fields given change. Runtime details are kept.",
     update_params, N(update_params), run_update, NULL},
    {"register_group", true,
     "Register a new chat group so that the agent answers messages there (main group only).",
     register_params, N(register_params), run_register, NULL},
};

static bool offered(const struct agent *a, const struct tooldef *t)
{
    return !t->main_only || a->is_main;
}

static bool param_offered(const struct agent *a, const struct param *p)
{
    return !p->main_only || a->is_main;
}

void mcptool_add_defs(const struct agent *a, nc_jgen *g)
{
    for (size_t i = 0; i < N(tools); i++) {
        const struct tooldef *t = &tools[i];
        if (!offered(a, t))
            continue;
        jgen_obj_open(g);
        jgen_kv_str(g, "name", t->name);
        jgen_kv_str(g, "description", t->desc);
        jgen_key(g, "input_schema");
        jgen_obj_open(g);
        jgen_kv_str(g, "type", "object");
        jgen_key(g, "properties");
        jgen_obj_open(g);
        for (size_t k = 0; k < t->n; k++) {
            const struct param *p = &t->params[k];
            if (!param_offered(a, p))
                continue;
            jgen_key(g, p->name);
            jgen_obj_open(g);
            jgen_kv_str(g, "type", p->type == P_STR ? "string" : "boolean");
            if (p->choices) {
                jgen_key(g, "enum");
                jgen_arr_open(g);
                for (const char *const *c = p->choices; *c; c++)
                    jgen_str(g, *c);
                jgen_arr_close(g);
            }
            jgen_kv_str(g, "description", p->desc);
            jgen_obj_close(g);
        }
        jgen_obj_close(g);
        jgen_key(g, "required");
        jgen_arr_open(g);
        for (size_t k = 0; k < t->n; k++)
            if (t->params[k].required)
                jgen_str(g, t->params[k].name);
        jgen_arr_close(g);
        jgen_obj_close(g);
        jgen_obj_close(g);
    }
}

/* The model's input against t's schema: what the API itself may not enforce. */
static int check_input(const struct agent *a, const struct tooldef *t, const nc_json *in,
                       nc_error **err)
{
    if (in && !json_is_object(in))
        return nc_error_set(err, EINVAL, "%s: the input is not a JSON object", t->name);
    for (size_t k = 0; k < t->n; k++) {
        const struct param *p = &t->params[k];
        const nc_json *v = json_get(in, p->name);
        if (!param_offered(a, p) || !v || json_is_null(v)) {
            if (p->required)
                return nc_error_set(err, EINVAL, "%s: '%s' is required", t->name, p->name);
            continue;
        }
        if (p->type == P_BOOL && !json_is_bool(v))
            return nc_error_set(err, EINVAL, "%s: '%s' must be a boolean", t->name, p->name);
        if (p->type == P_BOOL)
            continue;
        const char *s = json_string(v);
        if (!s)
            return nc_error_set(err, EINVAL, "%s: '%s' must be a string", t->name, p->name);
        if (p->required && !*s)
            return nc_error_set(err, EINVAL, "%s: '%s' must not be empty", t->name, p->name);
        if (!p->choices)
            continue;
        bool ok = false;
        for (const char *const *c = p->choices; *c && !ok; c++)
            ok = strcmp(s, *c) == 0;
        if (!ok)
            return nc_error_set(err, EINVAL,
                                "%s: '%s' must be one of the schema's values, not '%s'", t->name,
                                p->name, s);
    }
    return 0;
}

bool mcptool_run(const struct agent *a, const char *name, const nc_json *input, strbuf *out,
                 bool *failed)
{
    const struct tooldef *t = NULL;
    for (size_t i = 0; i < N(tools) && !t; i++)
        if (strcmp(tools[i].name, name) == 0 && offered(a, &tools[i]))
            t = &tools[i];
    if (!t)
        return false;
    _cleanup_error_ nc_error *err = NULL;
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    int r = check_input(a, t, input, &err);
    if (r >= 0)
        r = t->run(t, a, input, &text, &err);
    if (r < 0) {
        strbuf_addstr(out, nc_error_msg(err));
        *failed = true;
    } else {
        strbuf_add(out, text.buf ? text.buf : "", text.len);
        *failed = false;
    }
    return true;
}
