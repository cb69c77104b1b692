/* nanocell tasks add|ls|show|pause|resume|rm: the daemon's scheduled tasks, through its API. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/apiclient.h"
#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char usage_text[] =
    "usage: nanocell tasks add --group G (--once YYYY-MM-DDTHH:MM:SS | --cron EXPR |\n"
    "                          --every DURATION) [--context group|isolated] [--id ID]\n"
    "                          [--script SCRIPT] PROMPT\n"
    "       nanocell tasks ls [--group G] [--json]\n"
    "       nanocell tasks show ID [--json]\n"
    "       nanocell tasks pause ID | resume ID | rm ID\n"
    "\n"
    "Manages the scheduled tasks of the running daemon (`nanocell serve`). A task runs its\n"
    "PROMPT as a turn of the group's agent when due; its replies go to the group's chat.\n"
    "Times are read and shown in orch.timezone (default: the host's zone).\n"
    "\n"
    "  --group G       the group whose agent runs the task\n"
    "  --once T        once, at the local time T\n"
    "  --cron EXPR     on a 5-field cron schedule (\"*/5 * * * *\", \"0 9 * * mon-fri\")\n"
    "  --every DUR     every DUR (\"30s\", \"5m\", \"1h\", or milliseconds), anchored to the\n"
    "                  first run (no drift)\n"
    "  --context C     isolated (default): a fresh session each run; group: the group's session\n"
    "  --id ID         the task's id (default: task-<ms>-<random>)\n"
    "  --script S      a pre-check shell script the agent runs first: its last output line,\n"
    "                  {\"wakeAgent\": false}, skips the run\n"
    "  ls, show        --json prints JSON (ls: one object per line); next runs are shown in\n"
    "                  the zone with its offset\n"
    "  pause, resume   a paused task does not run; resumed, a run it missed fires once\n"
    "  rm ID           removes the task and its runs' log\n"
    "  --api SOCKET    the daemon's socket (default: $NANOCELL_API, /run/nanocell/api.sock\n"
    "                  as root, else $XDG_RUNTIME_DIR/nanocell/api.sock)\n";

static const char *str_of(const nc_json *v, const char *key)
{
    const char *s = json_string(json_get(v, key));
    return s ? s : "";
}

static void print_field(const char *label, const char *value)
{
    printf("%-13s ", label);
    print_text(stdout, value);
    fputc('\n', stdout);
}

static void print_task(const nc_json *t)
{
    print_field("id:", str_of(t, "id"));
    print_field("group:", str_of(t, "group"));
    print_field("chat:", str_of(t, "chat_jid"));
    _cleanup_free_ char *sched =
        xasprintf("%s %s", str_of(t, "schedule_type"), str_of(t, "schedule_value"));
    print_field("schedule:", sched);
    print_field("context:", str_of(t, "context_mode"));
    print_field("status:", str_of(t, "status"));
    print_field("next run:", str_of(t, "next_run_local")[0] ? str_of(t, "next_run_local") : "-");
    print_field("last run:", str_of(t, "last_run")[0] ? str_of(t, "last_run") : "-");
    if (str_of(t, "last_result")[0])
        print_field("last result:", str_of(t, "last_result"));
    if (str_of(t, "script")[0])
        print_field("script:", str_of(t, "script"));
    print_field("prompt:", str_of(t, "prompt"));
    const nc_json *runs = json_get(t, "runs");
    for (size_t i = 0; i < json_array_len(runs); i++) {
        const nc_json *r = json_array_at(runs, i);
        _cleanup_free_ char *line =
            xasprintf("%s %s (due %s)%s%s", str_of(r, "ran"), str_of(r, "status"), str_of(r, "due"),
                      str_of(r, "error")[0] ? ": " : "", str_of(r, "error"));
        print_field(i == 0 ? "runs:" : "", line);
    }
}

static int tasks_add(apiclient *ac, int argc, char **argv)
{
    const char *group = NULL, *type = NULL, *value = NULL, *context = NULL, *id = NULL,
               *script = NULL;
    static const struct option opts[] = {
        APICLIENT_OPTIONS,
        {"group", required_argument, NULL, 'g'},
        {"once", required_argument, NULL, 'o'},
        {"cron", required_argument, NULL, 'C'}, /* 'c' is --config */
        {"every", required_argument, NULL, 'e'},
        {"context", required_argument, NULL, 'x'},
        {"id", required_argument, NULL, 'i'},
        {"script", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, APICLIENT_SHORT "g:", opts, NULL)) != -1) {
        int rc = apiclient_option(o, ac, usage_text);
        if (rc >= 0)
            return rc;
        if (rc == CMD_OPT_HANDLED)
            continue;
        const char *kind = o == 'o' ? "once" : o == 'C' ? "cron" : o == 'e' ? "interval" : NULL;
        if (kind) {
            if (type) {
                log_error("tasks add: give one of --once, --cron and --every");
                return cmd_usage_error(usage_text);
            }
            type = kind;
            value = optarg;
            continue;
        }
        switch (o) {
        case 'g':
            group = optarg;
            break;
        case 'x':
            context = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        case 's':
            script = optarg;
            break;
        default:
            return cmd_usage_error(usage_text);
        }
    }
    if (!group || !type || optind != argc - 1) {
        if (!group || !type)
            log_error("tasks add: --group and one of --once, --cron, --every are required");
        return cmd_usage_error(usage_text);
    }
    if (context && strcmp(context, "group") != 0 && strcmp(context, "isolated") != 0) {
        log_error("tasks add: --context '%s' is not 'group' or 'isolated'", context);
        return cmd_usage_error(usage_text);
    }
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "group", group);
    jgen_kv_str(g, "prompt", argv[optind]);
    jgen_kv_str(g, "schedule_type", type);
    jgen_kv_str(g, "schedule_value", value);
    if (context)
        jgen_kv_str(g, "context_mode", context);
    if (id)
        jgen_kv_str(g, "id", id);
    if (script)
        jgen_kv_str(g, "script", script);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    _cleanup_error_ nc_error *err = NULL;
    if (jgen_finish(g, &body, &err) < 0) {
        log_error("tasks add: arguments are not valid UTF-8: %s", nc_error_msg(err));
        return EXIT_USAGE;
    }
    int rc = apiclient_open(ac);
    if (rc)
        return rc;
    _cleanup_json_ nc_json *root = NULL;
    _cleanup_free_ char *what = xasprintf("add a task to group '%s'", group);
    rc = apiclient_call(ac, "POST", "/v1/tasks", body.buf, what, &root);
    if (rc == 0)
        print_task(root);
    return rc;
}

static int tasks_ls(apiclient *ac, const char *group, bool json)
{
    int rc = apiclient_open(ac);
    if (rc)
        return rc;
    _cleanup_free_ char *esc = group ? apiclient_escape(group) : NULL;
    _cleanup_free_ char *path = group ? xasprintf("/v1/tasks?group=%s", esc) : xstrdup("/v1/tasks");
    _cleanup_json_ nc_json *root = NULL;
    rc = apiclient_call(ac, "GET", path, NULL, "list tasks", &root);
    if (rc)
        return rc;
    const nc_json *tasks = json_get(root, "tasks");
    if (!json) {
        _cleanup_free_ char *tz = xasprintf("# next runs in %s", str_of(root, "timezone"));
        print_text(stdout, tz);
        printf("\n%-28s %-12s %-9s %-28s %-25s %s\n", "ID", "GROUP", "STATUS", "SCHEDULE",
               "NEXT RUN", "PROMPT");
    }
    for (size_t i = 0; i < json_array_len(tasks); i++) {
        const nc_json *t = json_array_at(tasks, i);
        if (json) {
            print_json_line(stdout, t);
            continue;
        }
        _cleanup_free_ char *sched =
            xasprintf("%s %s", str_of(t, "schedule_type"), str_of(t, "schedule_value"));
        _cleanup_free_ char *line =
            xasprintf("%-28s %-12s %-9s %-28s %-25s %.40s", str_of(t, "id"), str_of(t, "group"),
                      str_of(t, "status"), sched,
                      str_of(t, "next_run_local")[0] ? str_of(t, "next_run_local") : "-",
                      str_of(t, "prompt"));
        print_text(stdout, line);
        fputc('\n', stdout);
    }
    return EXIT_OK;
}

/* show, pause, resume, rm of one task. */
static int tasks_one(apiclient *ac, const char *sub, const char *id, bool json)
{
    int rc = apiclient_open(ac);
    if (rc)
        return rc;
    if (!*id || strchr(id, '/')) {
        log_error("tasks %s: '%s' is not a task id", sub, id);
        return EXIT_USAGE;
    }
    _cleanup_free_ char *esc = apiclient_escape(id);
    _cleanup_free_ char *path = xasprintf("/v1/tasks/%s", esc);
    _cleanup_json_ nc_json *root = NULL;
    _cleanup_free_ char *what = xasprintf("%s task '%s'", sub, id);
    if (strcmp(sub, "show") == 0)
        rc = apiclient_call(ac, "GET", path, NULL, what, &root);
    else if (strcmp(sub, "rm") == 0)
        rc = apiclient_call(ac, "DELETE", path, NULL, what, &root);
    else
        rc = apiclient_call(ac, "PATCH", path,
                            strcmp(sub, "pause") == 0 ? "{\"status\":\"paused\"}"
                                                      : "{\"status\":\"active\"}",
                            what, &root);
    if (rc)
        return rc;
    if (json) {
        print_json_line(stdout, root);
    } else if (strcmp(sub, "show") == 0) {
        print_task(root);
    } else {
        _cleanup_free_ char *msg = xasprintf("%s task '%s'",
                                             strcmp(sub, "rm") == 0      ? "removed"
                                             : strcmp(sub, "pause") == 0 ? "paused"
                                                                         : "resumed",
                                             id);
        print_text(stdout, msg);
        fputc('\n', stdout);
    }
    return EXIT_OK;
}

/* ls (with --group) and the one-task subcommands: --json and the operands wanted. */
static int parse_simple(apiclient *ac, int argc, char **argv, int operands, const char **group,
                        bool *json)
{
    static const struct option opts[] = {APICLIENT_OPTIONS,
                                         {"json", no_argument, NULL, 'j'},
                                         {"group", required_argument, NULL, 'g'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, APICLIENT_SHORT "jg:", opts, NULL)) != -1) {
        int rc = apiclient_option(o, ac, usage_text);
        if (rc >= 0)
            return rc;
        if (rc == CMD_OPT_HANDLED)
            continue;
        if (o == 'j')
            *json = true;
        else if (o == 'g' && group)
            *group = optarg;
        else
            return cmd_usage_error(usage_text);
    }
    return optind == argc - operands ? CMD_OPT_HANDLED : cmd_usage_error(usage_text);
}

int cmd_tasks(int argc, char **argv)
{
    if (argc < 2)
        return cmd_usage_error(usage_text);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    apiclient ac = {0};
    const char *sub = argv[1];
    argc--;
    argv++;
    int rc;
    bool json = false;
    const char *group = NULL;
    if (strcmp(sub, "add") == 0) {
        rc = tasks_add(&ac, argc, argv);
    } else if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0) {
        rc = parse_simple(&ac, argc, argv, 0, &group, &json);
        if (rc == CMD_OPT_HANDLED)
            rc = tasks_ls(&ac, group, json);
    } else if (strcmp(sub, "show") == 0 || strcmp(sub, "pause") == 0 ||
               strcmp(sub, "resume") == 0 || strcmp(sub, "rm") == 0) {
        rc = parse_simple(&ac, argc, argv, 1, NULL, &json);
        if (rc == CMD_OPT_HANDLED)
            rc = tasks_one(&ac, sub, argv[optind], json);
    } else {
        log_error("tasks: unknown subcommand '%s'", sub);
        rc = cmd_usage_error(usage_text);
    }
    apiclient_close(&ac);
    return rc;
}
