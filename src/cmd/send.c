/* nanocell send: posts one message to a group of the running daemon and prints the replies as
 * they are stored, until the agent has answered it (its query complete): exit 0, or 1 when the
 * message failed. */
#include <errno.h>
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
#include "util/xalloc.h"
#include "util/banned.h"

static const char usage_text[] =
    "usage: nanocell send [--api SOCKET] [--group G] [--json] [--no-wait] TEXT|-\n"
    "\n"
    "Sends TEXT (or standard input, for '-') to group G's agent through the daemon\n"
    "(`nanocell serve`) and prints its replies as they come. Exits 0 once the agent has\n"
    "answered, 1 when the message failed (it is kept: `nanocell retry G`), 3 when no\n"
    "daemon answers. A message for a group that needs its trigger, without it, is stored as\n"
    "context for the next message that has it: send says so and exits 0.\n"
    "\n"
    "  --group G     the group; default: the main group, else the only group\n"
    "  --json        print the daemon's events, one JSON object per line\n"
    "  --no-wait     exit once the message is stored, without waiting for replies\n"
    "  --api SOCKET  the daemon's socket (default: $NANOCELL_API, /run/nanocell/api.sock\n"
    "                as root, else $XDG_RUNTIME_DIR/nanocell/api.sock)\n";

/* Reads all of standard input, at most max bytes. NULL (printed) when it is larger or fails. */
static char *read_stdin(size_t max)
{
    strbuf sb = STRBUF_INIT;
    char buf[65536]; /* one read's worth */
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            log_error("read standard input: %s", strerror(errno));
            strbuf_release(&sb);
            return NULL;
        }
        if (n == 0)
            break;
        if (sb.len + (size_t)n > max) {
            log_error("the message on standard input is larger than %zu bytes", max);
            strbuf_release(&sb);
            return NULL;
        }
        strbuf_add(&sb, buf, (size_t)n);
    }
    while (sb.len && sb.buf[sb.len - 1] == '\n')
        strbuf_truncate(&sb, sb.len - 1);
    return strbuf_detach(&sb, NULL);
}

/* Prints a reply for a person, or every event as JSON. */
static void print_event(const api_event *ev, const char *line, size_t len, void *ud)
{
    bool json = *(bool *)ud;
    if (json) {
        _cleanup_json_ nc_json *v = NULL;
        if (json_parse(line, len, &v, NULL) == 0)
            print_json_line(stdout, v);
    } else if (ev->kind == API_EV_REPLY) {
        print_text(stdout, ev->text);
        size_t n = strlen(ev->text);
        if (n == 0 || ev->text[n - 1] != '\n')
            fputc('\n', stdout);
    }
    fflush(stdout);
}

int cmd_send(int argc, char **argv)
{
    apiclient ac = {0};
    const char *group = NULL;
    bool json = false, wait = true;
    static const struct option opts[] = {APICLIENT_OPTIONS,
                                         {"group", required_argument, NULL, 'g'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"no-wait", no_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, APICLIENT_SHORT "g:jn", opts, NULL)) != -1) {
        int rc = apiclient_option(o, &ac, usage_text);
        if (rc >= 0)
            return rc;
        if (rc == CMD_OPT_HANDLED)
            continue;
        if (o == 'g')
            group = optarg;
        else if (o == 'j')
            json = true;
        else if (o == 'n')
            wait = false;
        else
            return cmd_usage_error(usage_text);
    }
    if (optind != argc - 1)
        return cmd_usage_error(usage_text);
    _cleanup_free_ char *text =
        strcmp(argv[optind], "-") == 0 ? read_stdin(API_MAX_BODY) : xstrdup(argv[optind]);
    if (!text)
        return EXIT_USAGE;
    if (!text[0]) {
        log_error("the message is empty");
        return EXIT_USAGE;
    }
    int rc = apiclient_open(&ac);
    if (rc)
        return rc;
    _cleanup_free_ char *folder = NULL;
    rc = apiclient_default_group(&ac, group, &folder);
    if (rc == 0)
        rc = apiclient_send(&ac, folder, text, wait, print_event, &json);
    apiclient_close(&ac);
    return rc;
}
