#include "cmd/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cmd/cmd.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

int cmd_usage_error(const char *usage)
{
    fputs(usage, stderr);
    return EXIT_USAGE;
}

int cmd_option(int o, cmd_common *c, const char *usage)
{
    switch (o) {
    case 'c':
        c->config_path = optarg;
        return CMD_OPT_HANDLED;
    case 'H':
        c->host = optarg;
        return CMD_OPT_HANDLED;
    case 'h':
        fputs(usage, stdout);
        return EXIT_OK;
    case '?':
    case ':':
        return cmd_usage_error(usage);
    default:
        return CMD_OPT_OTHER;
    }
}

int cmd_parse_switches(int argc, char **argv, const char *usage, const cmd_switch *sw, size_t n,
                       cmd_common *c)
{
    static const struct option common_opts[] = {CMD_COMMON_OPTIONS};
    size_t ncommon = NC_ARRAY_SIZE(common_opts);
    _cleanup_free_ struct option *opts = xreallocarray(NULL, ncommon + n + 1, sizeof(*opts));
    memcpy(opts, common_opts, sizeof(common_opts));
    strbuf shorts = STRBUF_INIT;
    strbuf_addstr(&shorts, CMD_COMMON_SHORT);
    for (size_t i = 0; i < n; i++) {
        opts[ncommon + i] = (struct option){sw[i].name, no_argument, NULL, sw[i].short_name};
        strbuf_addch(&shorts, sw[i].short_name);
    }
    opts[ncommon + n] = (struct option){NULL, 0, NULL, 0};
    int o, rc = CMD_OPT_HANDLED;
    while (rc == CMD_OPT_HANDLED && (o = getopt_long(argc, argv, shorts.buf, opts, NULL)) != -1) {
        int r = cmd_option(o, c, usage);
        if (r >= 0)
            rc = r;
        for (size_t i = 0; r == CMD_OPT_OTHER && i < n; i++)
            if (o == sw[i].short_name)
                *sw[i].set = true; /* getopt returns nothing else unknown */
    }
    strbuf_release(&shorts);
    if (rc != CMD_OPT_HANDLED)
        return rc;
    return optind == argc ? CMD_OPT_HANDLED : cmd_usage_error(usage);
}

/* The cores of the helpers below: they log the error and, when ret_msg is not NULL, also
 * hand its text on. */
static int load_config(const char *path, nc_config **ret, char **ret_msg)
{
    _cleanup_error_ nc_error *err = NULL;
    _cleanup_config_ nc_config *c = NULL;
    if (config_load(path, &c, &err) < 0 || config_resolve(c, &err) < 0) {
        log_error("%s", nc_error_msg(err));
        if (ret_msg)
            *ret_msg = xstrdup(nc_error_msg(err));
        return EXIT_USAGE;
    }
    *ret = TAKE_PTR(c);
    return 0;
}

static int open_engine(const nc_config *c, const char *host_flag, bool probe_all,
                       engine_report *report, engine **ret, char **ret_msg)
{
    engine_opts o = {
        .host = host_flag,
        .host_source = "--host",
        .config_host = c->engine_host,
        .tls = config_engine_tls(c),
        .probe_all = probe_all,
        .connect_timeout_ms = (long)c->engine_connect_timeout_ms,
        .request_timeout_ms = (long)c->engine_request_timeout_ms,
        .max_response_bytes = c->engine_max_response,
    };
    _cleanup_(engine_report_release) engine_report own = {0};
    if (!report)
        report = &own;
    _cleanup_error_ nc_error *err = NULL;
    if (engine_open(&o, report, ret, &err) < 0) {
        log_error("%s", nc_error_msg(err));
        if (ret_msg)
            *ret_msg = xstrdup(nc_error_msg(err));
        /* A malformed or unsupported address is the user's to fix, wherever it was set: the
         * same exit status as a bad engine.host in the config. */
        for (size_t i = 0; i < report->n; i++)
            if (report->probes[i].bad_address && report->probes[i].user_set &&
                !report->probes[i].chosen)
                return EXIT_USAGE;
        return EXIT_ENGINE;
    }
    return 0;
}

int cmd_load_config(const char *path, nc_config **ret)
{
    return load_config(path, ret, NULL);
}

int cmd_open_engine(const nc_config *c, const char *host_flag, bool probe_all,
                    engine_report *report, engine **ret)
{
    return open_engine(c, host_flag, probe_all, report, ret, NULL);
}

int cmd_connect_msg(const cmd_common *c, nc_config **ret_cfg, engine **ret_e, char **ret_msg)
{
    _cleanup_config_ nc_config *cfg = NULL;
    int rc = load_config(c->config_path, &cfg, ret_msg);
    if (rc)
        return rc;
    rc = open_engine(cfg, c->host, false, NULL, ret_e, ret_msg);
    if (rc)
        return rc;
    *ret_cfg = TAKE_PTR(cfg);
    return 0;
}

int cmd_connect(const cmd_common *c, nc_config **ret_cfg, engine **ret_e)
{
    return cmd_connect_msg(c, ret_cfg, ret_e, NULL);
}

void cmd_no_core_dumps(void)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) < 0)
        log_warn("could not turn core files off (%s): a crash may write secrets to disk",
                 strerror(errno));
}
