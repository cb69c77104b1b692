#include "cmd/common.h"

#include <stdio.h>

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

int cmd_parse_switch(int argc, char **argv, const char *usage, const char *flag, cmd_common *c,
                     bool *flag_set)
{
    struct option opts[] = {CMD_COMMON_OPTIONS, {NULL, 0, NULL, 0}, {NULL, 0, NULL, 0}};
    char shorts[sizeof(CMD_COMMON_SHORT) + 1] = CMD_COMMON_SHORT;
    if (flag) {
        opts[3] = (struct option){flag, no_argument, NULL, flag[0]};
        shorts[sizeof(CMD_COMMON_SHORT) - 1] = flag[0];
    }
    int o;
    while ((o = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        int rc = cmd_option(o, c, usage);
        if (rc >= 0)
            return rc;
        if (rc == CMD_OPT_OTHER)
            *flag_set = true; /* the switch: getopt returns nothing else unknown */
    }
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

static int open_engine(const nc_config *c, const char *host_flag, strbuf *report, engine **ret,
                       char **ret_msg)
{
    engine_opts o = {
        .host = host_flag ? host_flag : c->engine_host,
        .host_source = host_flag ? "--host" : "config key engine.host",
        .connect_timeout_ms = (long)c->engine_connect_timeout_ms,
        .request_timeout_ms = (long)c->engine_request_timeout_ms,
        .max_response_bytes = c->engine_max_response,
    };
    _cleanup_error_ nc_error *err = NULL;
    if (engine_open(&o, report, ret, &err) < 0) {
        log_error("%s", nc_error_msg(err));
        if (ret_msg)
            *ret_msg = xstrdup(nc_error_msg(err));
        return EXIT_ENGINE;
    }
    return 0;
}

int cmd_load_config(const char *path, nc_config **ret)
{
    return load_config(path, ret, NULL);
}

int cmd_open_engine(const nc_config *c, const char *host_flag, strbuf *report, engine **ret)
{
    return open_engine(c, host_flag, report, ret, NULL);
}

int cmd_connect_msg(const cmd_common *c, nc_config **ret_cfg, engine **ret_e, char **ret_msg)
{
    _cleanup_config_ nc_config *cfg = NULL;
    int rc = load_config(c->config_path, &cfg, ret_msg);
    if (rc)
        return rc;
    rc = open_engine(cfg, c->host, NULL, ret_e, ret_msg);
    if (rc)
        return rc;
    *ret_cfg = TAKE_PTR(cfg);
    return 0;
}

int cmd_connect(const cmd_common *c, nc_config **ret_cfg, engine **ret_e)
{
    return cmd_connect_msg(c, ret_cfg, ret_e, NULL);
}
