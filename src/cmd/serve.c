/* nanocell serve: the daemon. Channels (the local API, Telegram, webhooks) bring messages; they are
 * stored, queued per group and answered by turns in verified, hardened containers. See
 * docs/architecture.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "orch/daemon.h"
#include "util/log.h"
#include "util/banned.h"

static const char usage_text[] =
    "usage: nanocell serve [--config FILE] [--host URI] [--api SOCKET]\n"
    "\n"
    "Runs the daemon: a SQLite store in the data dir, a queue per group (one container per\n"
    "group, orch.max_concurrent in all), and the local API on a unix socket (mode 0600) that\n"
    "`nanocell send`, `chat`, `groups`, `messages`, `status` and `retry` talk to.\n"
    "Channels: Telegram (telegram.token or token_file set) and webhooks ([[hook]]: signed\n"
    "POST /hooks/NAME on the API socket), each in threads of its own, with its state in\n"
    "`nanocell status` and /metrics.\n"
    "A warm pool keeps a verified, started container ready per recently active group\n"
    "(pool.*), checked again when a turn takes it.\n"
    "\n"
    "  --api SOCKET   the API socket (default: $NANOCELL_API, /run/nanocell/api.sock as\n"
    "                 root, else $XDG_RUNTIME_DIR/nanocell/api.sock)\n"
    "\n"
    "SIGTERM/SIGINT: stop accepting, let running turns end within orch.shutdown_grace, then stop\n"
    "and remove their containers and the pooled ones, and exit 0. SIGHUP: reload the\n"
    "configuration (a bad one is refused and the running one stays) and drain the pool.\n"
    "An engine that does not answer is waited for: messages are stored and run when it does.\n"
    "With [[engines]] in the configuration (and no --host), groups are spread over those\n"
    "engines; one that fails is marked down and its turns are retried on the others.\n"
    "Exit status: 0 after a clean shutdown, 1 when the store or the socket cannot be used\n"
    "(another daemon, a corrupt or newer database, files others can write), 2 on a usage or\n"
    "configuration error.\n";

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        CMD_COMMON_OPTIONS, {"api", required_argument, NULL, 'a'}, {NULL, 0, NULL, 0}};
    cmd_common common = {0};
    const char *api = NULL;
    int o;
    while ((o = getopt_long(argc, argv, CMD_COMMON_SHORT "a:", opts, NULL)) != -1) {
        int rc = cmd_option(o, &common, usage_text);
        if (rc >= 0)
            return rc;
        if (rc == CMD_OPT_OTHER && o == 'a')
            api = optarg;
    }
    if (optind < argc)
        return cmd_usage_error(usage_text);
    cmd_no_core_dumps();
    daemon_opts dopts = {.config_path = common.config_path, .host = common.host, .api_socket = api};
    nc_daemon *d = NULL;
    _cleanup_error_ nc_error *err = NULL;
    int r = daemon_open(&dopts, &d, &err);
    if (r < 0) {
        log_error("%s", nc_error_msg(err));
        switch (-r) {
        case EINVAL:
        case ERANGE:
        case ENOENT:
            return EXIT_USAGE;
        default:
            return EXIT_AGENT_ERROR;
        }
    }
    r = daemon_run(d, &err);
    if (r < 0)
        log_error("%s", nc_error_msg(err));
    daemon_free(d);
    return r < 0 ? EXIT_AGENT_ERROR : EXIT_OK;
}
