/* nanocell groups add|ls|show|rm: the daemon's groups, through its API. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/apiclient.h"
#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char usage_text[] =
    "usage: nanocell groups add G [--main] [--name NAME] [--image IMAGE] [--trigger T]\n"
    "                             [--no-trigger] [--telegram CHAT_ID] [--allow SENDER]...\n"
    "       nanocell groups link G --telegram CHAT_ID [--allow SENDER]...\n"
    "       nanocell groups chats [--json]\n"
    "       nanocell groups ls [--json]\n"
    "       nanocell groups show G [--json]\n"
    "       nanocell groups rm G\n"
    "\n"
    "Manages the groups of the running daemon (`nanocell serve`). Each group has its own\n"
    "agent, folder, memory and session; its local chat is local:G.\n"
    "\n"
    "  add G        G is the group's folder name: letters, digits, '-' and '_'\n"
    "  --main       the main group: it answers every message (at most one)\n"
    "  --name NAME  a display name (default: G)\n"
    "  --image I    the agent image for this group (default: agent.image)\n"
    "  --trigger T  the word that starts a message for the agent (default: @<assistant name>)\n"
    "  --no-trigger answer every message, not only those that start with the trigger\n"
    "  --telegram ID the Telegram chat ID (what /chatid answers) talks to G: its chat is\n"
    "               tg:ID; `link` adds a chat to a group that exists\n"
    "  --allow S    only sender S (a Telegram user id) is heard in G; repeat for more\n"
    "  chats        chats the channels know: registered (with their group) or not\n"
    "  ls, show     --json prints JSON (ls: one object per line)\n"
    "  rm G         removes the group with its messages, runs and session from the store\n"
    "  --api SOCKET the daemon's socket (default: $NANOCELL_API, /run/nanocell/api.sock\n"
    "               as root, else $XDG_RUNTIME_DIR/nanocell/api.sock)\n";

/* The string member key of v, or "". */
static const char *str_of(const nc_json *v, const char *key)
{
    const char *s = json_string(json_get(v, key));
    return s ? s : "";
}

static bool bool_of(const nc_json *v, const char *key)
{
    bool b = false;
    return json_bool(json_get(v, key), &b) && b;
}

/* Prints the fields after the label, terminal-safe. */
static void print_field(const char *label, const char *value)
{
    printf("%-17s ", label);
    print_text(stdout, value);
    fputc('\n', stdout);
}

static void print_group(const nc_json *g)
{
    print_field("folder:", str_of(g, "folder"));
    print_field("name:", str_of(g, "name"));
    print_field("main:", bool_of(g, "is_main") ? "yes" : "no");
    print_field("trigger:", str_of(g, "trigger")[0] ? str_of(g, "trigger") : "(default)");
    print_field("requires trigger:", bool_of(g, "is_main")            ? "no (main group)"
                                     : bool_of(g, "requires_trigger") ? "yes"
                                                                      : "no");
    print_field("image:", str_of(g, "image")[0] ? str_of(g, "image") : "(agent.image)");
    print_field("added:", str_of(g, "added"));
}

/* A Telegram chat id: an integer (groups' are negative). Printed when it is not. */
static bool telegram_id_ok(const char *id)
{
    const char *digits = id + (id[0] == '-');
    if (*digits && strspn(digits, "0123456789") == strlen(digits) && strlen(digits) <= 18)
        return true;
    log_error("groups: --telegram '%s': a chat id is a number, as /chatid answers", id);
    return false;
}

/* Maps tg:<telegram> to folder, with the senders allowed (may be NULL). */
static int link_chat(apiclient *ac, const char *folder, const char *telegram, char **allow)
{
    if (!telegram_id_ok(telegram))
        return EXIT_USAGE;
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    _cleanup_free_ char *jid = xasprintf("tg:%s", telegram);
    jgen_kv_str(g, "jid", jid);
    if (allow) {
        jgen_key(g, "allow");
        jgen_arr_open(g);
        for (char **a = allow; *a; a++)
            jgen_str(g, *a);
        jgen_arr_close(g);
    }
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    _cleanup_error_ nc_error *err = NULL;
    if (jgen_finish(g, &body, &err) < 0) {
        log_error("groups: arguments are not valid UTF-8: %s", nc_error_msg(err));
        return EXIT_USAGE;
    }
    int rc = 0;
    _cleanup_free_ char *path = apiclient_group_path(folder, "/chats", &rc);
    if (!path)
        return rc;
    _cleanup_json_ nc_json *root = NULL;
    _cleanup_free_ char *what = xasprintf("link chat '%s' to group '%s'", jid, folder);
    rc = apiclient_call(ac, "POST", path, body.buf, what, &root);
    if (rc == 0)
        print_field("chat:", jid);
    return rc;
}

static int groups_link(apiclient *ac, int argc, char **argv)
{
    const char *telegram = NULL;
    _cleanup_strv_ char **allow = NULL;
    static const struct option opts[] = {APICLIENT_OPTIONS,
                                         {"telegram", required_argument, NULL, 'g'},
                                         {"allow", required_argument, NULL, 'w'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, APICLIENT_SHORT, opts, NULL)) != -1) {
        int rc = apiclient_option(o, ac, usage_text);
        if (rc >= 0)
            return rc;
        if (rc == CMD_OPT_HANDLED)
            continue;
        if (o == 'g')
            telegram = optarg;
        else if (o == 'w')
            strv_push(&allow, optarg);
        else
            return cmd_usage_error(usage_text);
    }
    if (optind != argc - 1 || !telegram)
        return cmd_usage_error(usage_text);
    int rc = apiclient_open(ac);
    return rc ? rc : link_chat(ac, argv[optind], telegram, allow);
}

static int groups_chats(apiclient *ac, bool json)
{
    int rc = apiclient_open(ac);
    if (rc)
        return rc;
    _cleanup_json_ nc_json *root = NULL;
    rc = apiclient_call(ac, "GET", "/v1/chats", NULL, "list chats", &root);
    if (rc)
        return rc;
    const nc_json *chats = json_get(root, "chats");
    if (!json)
        printf("%-24s %-16s %-10s %s\n", "CHAT", "GROUP", "KIND", "NAME");
    for (size_t i = 0; i < json_array_len(chats); i++) {
        const nc_json *c = json_array_at(chats, i);
        if (json) {
            print_json_line(stdout, c);
            continue;
        }
        const char *grp = str_of(c, "group");
        _cleanup_free_ char *line =
            xasprintf("%-24s %-16s %-10s %s", str_of(c, "jid"), grp[0] ? grp : "(unregistered)",
                      str_of(c, "kind")[0] ? str_of(c, "kind") : "-", str_of(c, "name"));
        print_text(stdout, line);
        fputc('\n', stdout);
    }
    return EXIT_OK;
}

static int groups_add(apiclient *ac, int argc, char **argv)
{
    const char *name = NULL, *image = NULL, *trigger = NULL, *telegram = NULL;
    _cleanup_strv_ char **allow = NULL;
    bool is_main = false, no_trigger = false;
    static const struct option opts[] = {APICLIENT_OPTIONS,
                                         {"main", no_argument, NULL, 'm'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"image", required_argument, NULL, 'i'},
                                         {"trigger", required_argument, NULL, 't'},
                                         {"no-trigger", no_argument, NULL, 'T'},
                                         {"telegram", required_argument, NULL, 'g'},
                                         {"allow", required_argument, NULL, 'w'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, APICLIENT_SHORT "mn:i:t:", opts, NULL)) != -1) {
        int rc = apiclient_option(o, ac, usage_text);
        if (rc >= 0)
            return rc;
        if (rc == CMD_OPT_HANDLED)
            continue;
        switch (o) {
        case 'm':
            is_main = true;
            break;
        case 'n':
            name = optarg;
            break;
        case 'i':
            image = optarg;
            break;
        case 't':
            trigger = optarg;
            break;
        case 'T':
            no_trigger = true;
            break;
        case 'g':
            telegram = optarg;
            break;
        case 'w':
            strv_push(&allow, optarg);
            break;
        default:
            return cmd_usage_error(usage_text);
        }
    }
    if (optind != argc - 1)
        return cmd_usage_error(usage_text);
    if (allow && !telegram) {
        log_error("groups add: --allow needs --telegram");
        return EXIT_USAGE;
    }
    if (telegram && !telegram_id_ok(telegram))
        return EXIT_USAGE;
    const char *folder = argv[optind];
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "folder", folder);
    if (name)
        jgen_kv_str(g, "name", name);
    if (image)
        jgen_kv_str(g, "image", image);
    if (trigger)
        jgen_kv_str(g, "trigger", trigger);
    if (no_trigger)
        jgen_kv_bool(g, "requires_trigger", false);
    if (is_main)
        jgen_kv_bool(g, "is_main", true);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    _cleanup_error_ nc_error *err = NULL;
    if (jgen_finish(g, &body, &err) < 0) {
        log_error("groups add: arguments are not valid UTF-8: %s", nc_error_msg(err));
        return EXIT_USAGE;
    }
    int rc = apiclient_open(ac);
    if (rc)
        return rc;
    _cleanup_json_ nc_json *root = NULL;
    _cleanup_free_ char *what = xasprintf("add group '%s'", folder);
    rc = apiclient_call(ac, "POST", "/v1/groups", body.buf, what, &root);
    if (rc == 0)
        print_group(root);
    if (rc == 0 && telegram)
        rc = link_chat(ac, folder, telegram, allow);
    return rc;
}

static int groups_ls(apiclient *ac, bool json)
{
    int rc = apiclient_open(ac);
    if (rc)
        return rc;
    _cleanup_json_ nc_json *root = NULL;
    rc = apiclient_call(ac, "GET", "/v1/groups", NULL, "list groups", &root);
    if (rc)
        return rc;
    const nc_json *groups = json_get(root, "groups");
    if (!json)
        printf("%-20s %-5s %-8s %-16s %s\n", "GROUP", "MAIN", "TRIGGER", "NAME", "IMAGE");
    for (size_t i = 0; i < json_array_len(groups); i++) {
        const nc_json *g = json_array_at(groups, i);
        if (json) {
            print_json_line(stdout, g);
            continue;
        }
        const char *trigger = bool_of(g, "is_main")             ? "-"
                              : !bool_of(g, "requires_trigger") ? "off"
                              : str_of(g, "trigger")[0]         ? str_of(g, "trigger")
                                                                : "default";
        _cleanup_free_ char *line = xasprintf(
            "%-20s %-5s %-8s %-16s %s", str_of(g, "folder"), bool_of(g, "is_main") ? "yes" : "no",
            trigger, str_of(g, "name"), str_of(g, "image")[0] ? str_of(g, "image") : "-");
        print_text(stdout, line);
        fputc('\n', stdout);
    }
    return EXIT_OK;
}

static int groups_show_rm(apiclient *ac, const char *folder, bool rm, bool json)
{
    int rc = apiclient_open(ac);
    if (rc)
        return rc;
    _cleanup_free_ char *path = apiclient_group_path(folder, "", &rc);
    if (!path)
        return rc;
    _cleanup_json_ nc_json *root = NULL;
    _cleanup_free_ char *what = xasprintf("%s group '%s'", rm ? "remove" : "show", folder);
    rc = apiclient_call(ac, rm ? "DELETE" : "GET", path, NULL, what, &root);
    if (rc)
        return rc;
    if (rm) {
        _cleanup_free_ char *msg = xasprintf("removed group '%s'", folder);
        print_text(stdout, msg);
        fputc('\n', stdout);
    } else if (json) {
        print_json_line(stdout, root);
    } else {
        print_group(root);
    }
    return EXIT_OK;
}

/* ls, show and rm: --json (not for rm) and the operands wanted (0 or 1). */
static int parse_simple(apiclient *ac, int argc, char **argv, bool json_ok, int operands,
                        bool *json)
{
    static const struct option opts[] = {
        APICLIENT_OPTIONS, {"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, APICLIENT_SHORT "j", opts, NULL)) != -1) {
        int rc = apiclient_option(o, ac, usage_text);
        if (rc >= 0)
            return rc;
        if (rc == CMD_OPT_HANDLED)
            continue;
        if (o == 'j' && json_ok)
            *json = true;
        else
            return cmd_usage_error(usage_text);
    }
    return optind == argc - operands ? CMD_OPT_HANDLED : cmd_usage_error(usage_text);
}

int cmd_groups(int argc, char **argv)
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
    if (strcmp(sub, "add") == 0) {
        rc = groups_add(&ac, argc, argv);
    } else if (strcmp(sub, "link") == 0) {
        rc = groups_link(&ac, argc, argv);
    } else if (strcmp(sub, "chats") == 0) {
        rc = parse_simple(&ac, argc, argv, true, 0, &json);
        if (rc == CMD_OPT_HANDLED)
            rc = groups_chats(&ac, json);
    } else if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0) {
        rc = parse_simple(&ac, argc, argv, true, 0, &json);
        if (rc == CMD_OPT_HANDLED)
            rc = groups_ls(&ac, json);
    } else if (strcmp(sub, "show") == 0 || strcmp(sub, "rm") == 0) {
        bool rm = strcmp(sub, "rm") == 0;
        rc = parse_simple(&ac, argc, argv, !rm, 1, &json);
        if (rc == CMD_OPT_HANDLED)
            rc = groups_show_rm(&ac, argv[optind], rm, json);
    } else {
        log_error("groups: unknown subcommand '%s'", sub);
        rc = cmd_usage_error(usage_text);
    }
    apiclient_close(&ac);
    return rc;
}
