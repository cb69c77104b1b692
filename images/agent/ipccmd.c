/* Scripted mode's IPC commands (see ipccmd.h): each parses its words and makes one request of
 * ipcreq.h (one NanoClaw-format file in ipc/messages or ipc/tasks), then reports a result. Like
 * NanoClaw's tools they are fire-and-forget: the result says the file was written, not what the
 * host decided. */
#include "ipccmd.h"

#include <stdio.h>
#include <string.h>

#include "ipc.h"
#include "ipcreq.h"
#include "protocol.h"
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

/* The result of one request: shown on success, else an error naming the command. */
static int report(const struct agent *a, int r, nc_error *err, const char *what, const char *shown)
{
    if (r < 0) {
        _cleanup_free_ char *msg = xasprintf("%s: %s", what, nc_error_msg(err));
        return proto_error(a->session_id, msg);
    }
    return proto_result(a->session_id, shown);
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
    /* The model's tool forces a non-main agent's target to its own chat and checks the schedule
     * (mcptool.c); this command writes any --target and any value, so that tests see the host
     * refuse them. */
    struct ipcreq_schedule s = {.task_id = id,
                                .prompt = prompt,
                                .script = script,
                                .schedule_type = type,
                                .schedule_value = value,
                                .context_mode = context,
                                .target_jid = target};
    _cleanup_error_ nc_error *err = NULL;
    int r = ipcreq_schedule(a, &s, &err);
    _cleanup_free_ char *shown = xasprintf("scheduled %s %s", type, value);
    return report(a, r, err, "schedule", shown);
}

/* pause-task, resume-task, cancel-task ID */
static int cmd_task_op(const struct agent *a, const char *type, const char *arg)
{
    _cleanup_free_ char *id = rest(arg);
    if (!*id)
        return proto_error(a->session_id, "a task id is expected");
    _cleanup_error_ nc_error *err = NULL;
    int r = ipcreq_task_op(a, type, id, &err);
    _cleanup_free_ char *shown = xasprintf("%s %s", type, id);
    return report(a, r, err, type, shown);
}

/* update-task ID PROMPT */
static int cmd_update(const struct agent *a, const char *arg)
{
    const char *p = arg;
    _cleanup_free_ char *id = next_word(&p);
    _cleanup_free_ char *prompt = rest(p);
    if (!id || !*prompt)
        return proto_error(a->session_id, "update-task: ID PROMPT expected");
    struct ipcreq_update u = {.task_id = id, .prompt = prompt};
    _cleanup_error_ nc_error *err = NULL;
    int r = ipcreq_update(a, &u, &err);
    _cleanup_free_ char *shown = xasprintf("update_task %s", id);
    return report(a, r, err, "update-task", shown);
}

/* register-group JID NAME FOLDER TRIGGER [--main] */
static int cmd_register(const struct agent *a, const char *arg)
{
    const char *p = arg;
    _cleanup_free_ char *jid = next_word(&p), *name = next_word(&p), *folder = next_word(&p),
                        *trigger = next_word(&p), *flag = next_word(&p);
    if (!trigger)
        return proto_error(a->session_id, "register-group: JID NAME FOLDER TRIGGER expected");
    struct ipcreq_group g = {.jid = jid,
                             .name = name,
                             .folder = folder,
                             .trigger = trigger,
                             .ask_main = flag && strcmp(flag, "--main") == 0};
    _cleanup_error_ nc_error *err = NULL;
    int r = ipcreq_register_group(a, &g, &err);
    _cleanup_free_ char *shown = xasprintf("register_group %s", folder);
    return report(a, r, err, "register-group", shown);
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
        if (ipc_send_message(a, jid, text, NULL, &err) < 0) {
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
        _cleanup_error_ nc_error *err = NULL;
        int r = ipcreq_refresh_groups(a, &err);
        return report(a, r, err, "refresh-groups", "refresh_groups");
    }
    if (IS("list-tasks")) {
        _cleanup_strbuf_ strbuf out = STRBUF_INIT;
        _cleanup_error_ nc_error *err = NULL;
        int r = ipcreq_list_tasks(a, &out, &err);
        return report(a, r, err, "list-tasks", strbuf_str(&out));
    }
#undef IS
    *handled = false;
    return 0;
}
