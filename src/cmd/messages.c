/* nanocell messages: the stored messages, in and out, oldest first, from the daemon. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/apiclient.h"
#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Messages asked for per request. */
#define MESSAGES_PAGE 100

static const char usage_text[] =
    "usage: nanocell messages [--api SOCKET] [--group G] [--after ID] [--limit N] [--json]\n"
    "\n"
    "Prints the messages the daemon stored, inbound and replies, oldest first, with their\n"
    "state (a reply nobody was there to receive stays 'pending'; one its channel gave up on\n"
    "is 'failed', with the reason).\n"
    "\n"
    "  --group G    only group G\n"
    "  --after ID   only messages newer than id ID\n"
    "  --limit N    at most N messages\n"
    "  --json       one JSON object per line: id, group, chat, direction (in, out), sender,\n"
    "               text, state, time (ISO 8601 UTC), reply_to (replies), attempts (turns,\n"
    "               or a reply's delivery tries) and error (why the last one failed)\n"
    "  --api SOCKET the daemon's socket (default: $NANOCELL_API, /run/nanocell/api.sock\n"
    "               as root, else $XDG_RUNTIME_DIR/nanocell/api.sock)\n";

static bool parse_count(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < 0 || !(*s >= '0' && *s <= '9'))
        return false;
    *out = v;
    return true;
}

static void print_message(const nc_json *m)
{
    int64_t id = 0, reply_to = 0;
    (void)json_int(json_get(m, "id"), &id);
    const char *dir = json_string(json_get(m, "direction"));
    bool out = dir && strcmp(dir, "out") == 0;
    const char *text = json_string(json_get(m, "text"));
    _cleanup_free_ char *head = NULL;
    if (out && json_int(json_get(m, "reply_to"), &reply_to))
        head = xasprintf("#%" PRId64 " %s %s out %s (reply to #%" PRId64 "): ", id,
                         json_string(json_get(m, "time")) ?: "-",
                         json_string(json_get(m, "group")) ?: "-",
                         json_string(json_get(m, "state")) ?: "-", reply_to);
    else
        head = xasprintf(
            "#%" PRId64 " %s %s in %s %s: ", id, json_string(json_get(m, "time")) ?: "-",
            json_string(json_get(m, "group")) ?: "-", json_string(json_get(m, "state")) ?: "-",
            json_string(json_get(m, "sender")) ?: "-");
    print_text(stdout, head);
    print_text(stdout, text ? text : "");
    const char *state = json_string(json_get(m, "state"));
    const char *why = json_string(json_get(m, "error"));
    if (out && state && strcmp(state, "failed") == 0 && why) {
        _cleanup_free_ char *tail = xasprintf(" [not delivered: %s]", why);
        print_text(stdout, tail);
    }
    fputc('\n', stdout);
}

int cmd_messages(int argc, char **argv)
{
    apiclient ac = {0};
    const char *group = NULL;
    bool json = false;
    int64_t after = 0, limit = 0;
    static const struct option opts[] = {APICLIENT_OPTIONS,
                                         {"group", required_argument, NULL, 'g'},
                                         {"after", required_argument, NULL, 'a'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"json", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, APICLIENT_SHORT "g:a:n:j", opts, NULL)) != -1) {
        int rc = apiclient_option(o, &ac, usage_text);
        if (rc >= 0)
            return rc;
        if (rc == CMD_OPT_HANDLED)
            continue;
        if (o == 'g') {
            group = optarg;
        } else if (o == 'j') {
            json = true;
        } else if (o == 'a' && parse_count(optarg, &after)) {
            continue;
        } else if (o == 'n' && parse_count(optarg, &limit) && limit > 0) {
            continue;
        } else {
            if (o == 'a' || o == 'n')
                log_error("--%s: '%s' is not a %s number", o == 'a' ? "after" : "limit", optarg,
                          o == 'a' ? "non-negative" : "positive");
            return cmd_usage_error(usage_text);
        }
    }
    if (optind != argc)
        return cmd_usage_error(usage_text);
    int rc = apiclient_open(&ac);
    if (rc)
        return rc;
    _cleanup_free_ char *gq = NULL;
    if (group) {
        _cleanup_free_ char *esc = apiclient_escape(group);
        gq = xasprintf("&group=%s", esc);
    }
    int64_t printed = 0;
    for (;;) {
        int64_t page = MESSAGES_PAGE;
        if (limit && limit - printed < page)
            page = limit - printed;
        _cleanup_free_ char *target = xasprintf(
            "/v1/messages?after=%" PRId64 "&limit=%" PRId64 "%s", after, page, gq ? gq : "");
        _cleanup_json_ nc_json *root = NULL;
        rc = apiclient_call(&ac, "GET", target, NULL, "list messages", &root);
        if (rc)
            break;
        const nc_json *v = json_get(root, "messages");
        for (size_t i = 0; i < json_array_len(v); i++) {
            const nc_json *m = json_array_at(v, i);
            if (json)
                print_json_line(stdout, m);
            else
                print_message(m);
            printed++;
        }
        bool more = false;
        int64_t last = after;
        if (!json_bool(json_get(root, "more"), &more) || !more ||
            !json_int(json_get(root, "last_id"), &last) || last <= after ||
            (limit && printed >= limit))
            break;
        after = last;
    }
    apiclient_close(&ac);
    return rc;
}
