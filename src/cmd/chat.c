/* nanocell chat: a line-by-line conversation with a group's agent through the daemon. Each line
 * read is posted as a message and its replies are printed as they come; end of input ends the
 * chat. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/apiclient.h"
#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "orch/api.h"
#include "util/log.h"
#include "util/banned.h"

static const char usage_text[] =
    "usage: nanocell chat [--api SOCKET] [--group G]\n"
    "\n"
    "Talks to group G's agent through the daemon (`nanocell serve`): each line of standard\n"
    "input is a message, and its replies are printed as they come. Exits 0 at the end of\n"
    "input, 3 when no daemon answers. A message that fails is reported and the chat goes on.\n"
    "\n"
    "  --group G     the group; default: the main group, else the only group\n"
    "  --api SOCKET  the daemon's socket (default: $NANOCELL_API, /run/nanocell/api.sock\n"
    "                as root, else $XDG_RUNTIME_DIR/nanocell/api.sock)\n";

static void print_reply(const api_event *ev, const char *line, size_t len, void *ud)
{
    (void)line;
    (void)len;
    (void)ud;
    if (ev->kind != API_EV_REPLY)
        return;
    print_text(stdout, ev->text);
    size_t n = strlen(ev->text);
    if (n == 0 || ev->text[n - 1] != '\n')
        fputc('\n', stdout);
    fflush(stdout);
}

static int chat_loop(apiclient *ac, const char *folder)
{
    bool prompt = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (prompt) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0)
            return EXIT_OK;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if ((size_t)n > API_MAX_BODY / 2) {
            log_error("line too long (%zd bytes): not sent", n);
            continue;
        }
        int rc = apiclient_send(ac, folder, line, true, print_reply, NULL);
        /* A failed message was reported; the chat goes on. Without a daemon, or for a group
         * that is gone, it cannot. */
        if (rc == EXIT_ENGINE || rc == EXIT_USAGE)
            return rc;
    }
}

int cmd_chat(int argc, char **argv)
{
    apiclient ac = {0};
    const char *group = NULL;
    static const struct option opts[] = {
        APICLIENT_OPTIONS, {"group", required_argument, NULL, 'g'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, APICLIENT_SHORT "g:", opts, NULL)) != -1) {
        int rc = apiclient_option(o, &ac, usage_text);
        if (rc >= 0)
            return rc;
        if (rc == CMD_OPT_HANDLED)
            continue;
        if (o == 'g')
            group = optarg;
        else
            return cmd_usage_error(usage_text);
    }
    if (optind != argc)
        return cmd_usage_error(usage_text);
    int rc = apiclient_open(&ac);
    if (rc)
        return rc;
    _cleanup_free_ char *folder = NULL;
    rc = apiclient_default_group(&ac, group, &folder);
    if (rc == 0)
        rc = chat_loop(&ac, folder);
    apiclient_close(&ac);
    return rc;
}
