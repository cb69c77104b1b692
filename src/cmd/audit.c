/* nanocell audit [--group G] [--since T] [--json]: the proxy's audit log
 * (<data_dir>/proxy/audit.log, proxy/audit.h), oldest first. It reads the file directly, so it
 * works with or without a daemon, for `run` and `serve` alike. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "proxy/audit.h"
#include "util/json.h"
#include "util/log.h"
#include "util/termsafe.h"
#include "util/timeutil.h"
#include "util/units.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* A line longer than this is not one the proxy wrote: skipped. */
#define AUDIT_LINE_MAX (64 * 1024)

static const char usage_text[] =
    "usage: nanocell audit [-c|--config FILE] [--group G] [--since T] [--json]\n"
    "\n"
    "Prints the credential proxy's audit log, oldest first: one line per model request,\n"
    "tunnel or plain-HTTP request (time, group, run id, kind, method, host:port, path,\n"
    "status, bytes up/down, latency, and the rule that allowed or denied it).\n"
    "\n"
    "  --group G   only group G\n"
    "  --since T   only lines from T on: YYYY-MM-DDTHH:MM:SS (UTC) or a duration ago\n"
    "              (\"90s\", \"10m\", \"2h\")\n"
    "  --json      the log's own lines, one JSON object each\n";

/* T as milliseconds since the epoch. */
static int parse_since(const char *s, uint64_t *ret)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end && (!*end || strcmp(end, "Z") == 0)) {
        time_t t = timegm(&tm);
        if (t < 0)
            return -EINVAL;
        *ret = (uint64_t)t * 1000;
        return 0;
    }
    uint64_t ago;
    if (parse_duration_ms(s, &ago, NULL) < 0)
        return -EINVAL;
    uint64_t now = wall_ms();
    *ret = ago < now ? now - ago : 0;
    return 0;
}

static const char *str(const nc_json *o, const char *k)
{
    const char *v = json_string(json_get(o, k));
    return v && *v ? v : "-";
}

static void print_human(const nc_json *o)
{
    int64_t port = 0, status = 0, up = 0, down = 0, ms = 0;
    (void)json_int(json_get(o, "port"), &port);
    (void)json_int(json_get(o, "status"), &status);
    (void)json_int(json_get(o, "bytes_up"), &up);
    (void)json_int(json_get(o, "bytes_down"), &down);
    (void)json_int(json_get(o, "latency_ms"), &ms);
    _cleanup_free_ char *line = xasprintf("%s %s %s %s %s %s:%" PRId64 " %s %" PRId64 " up=%" PRId64
                                          " down=%" PRId64 " %" PRId64 "ms %s",
                                          str(o, "time"), str(o, "group"), str(o, "run_id"),
                                          str(o, "kind"), str(o, "method"), str(o, "host"), port,
                                          str(o, "path"), status, up, down, ms, str(o, "rule"));
    _cleanup_free_ char *safe = termsafe_cstr(line, 0);
    printf("%s\n", safe);
}

/* Prints the matching lines of one audit file; a missing file has none. */
static int print_file(const char *path, const char *group, uint64_t since, bool json)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f && errno == ENOENT)
        return 0;
    if (!f) {
        log_error("open audit log '%s': %s", path, strerror(errno));
        return -errno;
    }
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (n > AUDIT_LINE_MAX)
            continue;
        nc_json *obj = NULL;
        if (json_parse(line, (size_t)n, &obj, NULL) < 0)
            continue;
        uint64_t t = 0;
        bool keep = json_uint64(json_get(obj, "time_ms"), &t) && t >= since &&
                    (!group || strcmp(str(obj, "group"), group) == 0);
        if (keep && json) {
            _cleanup_free_ char *safe = termsafe_str(line, (size_t)n - (line[n - 1] == '\n'), 0);
            printf("%s\n", safe);
        } else if (keep) {
            print_human(obj);
        }
        json_free(obj);
    }
    return 0;
}

int cmd_audit(int argc, char **argv)
{
    enum { OPT_GROUP = 1000, OPT_SINCE, OPT_JSON };
    static const struct option opts[] = {CMD_COMMON_OPTIONS,
                                         {"group", required_argument, NULL, OPT_GROUP},
                                         {"since", required_argument, NULL, OPT_SINCE},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {NULL, 0, NULL, 0}};
    cmd_common common = {0};
    const char *group = NULL;
    uint64_t since = 0;
    bool json = false;
    int o;
    while ((o = getopt_long(argc, argv, CMD_COMMON_SHORT, opts, NULL)) != -1) {
        int rc = cmd_option(o, &common, usage_text);
        if (rc >= 0)
            return rc;
        if (rc == CMD_OPT_HANDLED)
            continue;
        if (o == OPT_GROUP) {
            group = optarg;
        } else if (o == OPT_SINCE) {
            if (parse_since(optarg, &since) < 0) {
                log_error("--since '%s': expected YYYY-MM-DDTHH:MM:SS or a duration such as "
                          "\"2h\"",
                          optarg);
                return EXIT_USAGE;
            }
        } else if (o == OPT_JSON) {
            json = true;
        } else {
            return cmd_usage_error(usage_text);
        }
    }
    if (optind != argc)
        return cmd_usage_error(usage_text);
    _cleanup_config_ nc_config *cfg = NULL;
    int rc = cmd_load_config(common.config_path, &cfg);
    if (rc)
        return rc;
    _cleanup_free_ char *path = proxy_audit_path(cfg->data_dir);
    _cleanup_free_ char *rotated = xasprintf("%s.1", path);
    /* The rotated file holds the older lines. */
    const char *files[] = {rotated, path};
    for (size_t i = 0; i < NC_ARRAY_SIZE(files); i++)
        if (print_file(files[i], group, since, json) < 0)
            return EXIT_AGENT_ERROR;
    return EXIT_OK;
}
