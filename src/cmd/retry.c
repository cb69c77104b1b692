/* nanocell retry G: the failed messages of group G are tried again now. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cmd/apiclient.h"
#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char usage_text[] =
    "usage: nanocell retry [--api SOCKET] G\n"
    "\n"
    "Makes the daemon try group G's failed messages again (their retries were spent; they\n"
    "were kept). Prints how many.\n"
    "  --api SOCKET the daemon's socket (default: $NANOCELL_API, /run/nanocell/api.sock\n"
    "               as root, else $XDG_RUNTIME_DIR/nanocell/api.sock)\n";

int cmd_retry(int argc, char **argv)
{
    apiclient ac = {0};
    static const struct option opts[] = {APICLIENT_OPTIONS, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, APICLIENT_SHORT, opts, NULL)) != -1) {
        int rc = apiclient_option(o, &ac, usage_text);
        if (rc >= 0)
            return rc;
        if (rc != CMD_OPT_HANDLED)
            return cmd_usage_error(usage_text);
    }
    if (optind != argc - 1)
        return cmd_usage_error(usage_text);
    const char *folder = argv[optind];
    int rc = apiclient_open(&ac);
    if (rc)
        return rc;
    _cleanup_free_ char *path = apiclient_group_path(folder, "/retry", &rc);
    _cleanup_json_ nc_json *root = NULL;
    _cleanup_free_ char *what = xasprintf("retry group '%s'", folder);
    if (path)
        rc = apiclient_call(&ac, "POST", path, NULL, what, &root);
    if (path && rc == 0) {
        int64_t n = 0;
        (void)json_int(json_get(root, "retried"), &n);
        _cleanup_free_ char *msg =
            xasprintf("%" PRId64 " failed message%s of group '%s' will run again", n,
                      n == 1 ? "" : "s", folder);
        print_text(stdout, msg);
        fputc('\n', stdout);
    }
    apiclient_close(&ac);
    return rc;
}
