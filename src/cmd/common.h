/* What most commands do first: load and resolve the configuration, and connect to the
 * engine. Each helper logs the error itself and returns the exit status to use, or 0. */
#ifndef NC_CMD_COMMON_H
#define NC_CMD_COMMON_H

#include <getopt.h>
#include <stdbool.h>

#include "config.h"
#include "engine/engine.h"
#include "util/strbuf.h"

/* The options every command takes: -c/--config FILE, -H/--host URI, -h/--help (main also
 * accepts the first two before the command, and hands them on). Put CMD_COMMON_OPTIONS
 * in the command's option table and CMD_COMMON_SHORT in its short option string, and pass each
 * option getopt returns to cmd_option() before the command's own. */
typedef struct cmd_common {
    const char *config_path;
    const char *host;
} cmd_common;

#define CMD_COMMON_OPTIONS                                                                         \
    {"config", required_argument, NULL, 'c'}, {"host", required_argument, NULL, 'H'},              \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }
#define CMD_COMMON_SHORT "c:H:h"

enum {
    CMD_OPT_OTHER = -1,   /* not a common option: the command's own */
    CMD_OPT_HANDLED = -2, /* stored in the cmd_common: go on */
};
/* Returns CMD_OPT_OTHER, CMD_OPT_HANDLED, or an exit status to return at once (--help prints
 * usage and gives 0; an unknown option or a missing argument prints it to stderr and gives 2). */
int cmd_option(int o, cmd_common *c, const char *usage);
/* A switch of a command: --NAME, or -SHORT, sets *set. */
typedef struct cmd_switch {
    const char *name;
    char short_name;
    bool *set;
} cmd_switch;
/* The whole command line of a command with no operands: the common options and the n
 * switches. Returns CMD_OPT_HANDLED to go on, or an exit status to return at once. */
int cmd_parse_switches(int argc, char **argv, const char *usage, const cmd_switch *sw, size_t n,
                       cmd_common *c);
/* Prints usage to stderr and returns the usage exit status. */
int cmd_usage_error(const char *usage);

/* A process that holds secrets (the model key, a bot token, webhook secrets) writes no core
 * file: a crash must not put them on disk. Warns if the limit cannot be set. */
void cmd_no_core_dumps(void);

/* Loads (--config path, may be NULL) and resolves the configuration. EXIT_USAGE on failure. */
int cmd_load_config(const char *path, nc_config **ret);
/* Connects to the engine, in the order of engine/endpoint.h: --host (may be NULL),
 * DOCKER_HOST, CONTAINER_HOST, engine.host, the default sockets. When report is not NULL it
 * receives every candidate's state (probe_all: see engine_opts). EXIT_USAGE when the address
 * the user set is malformed or unsupported (tcp://, an overlong path), EXIT_ENGINE when no
 * engine answers. */
int cmd_open_engine(const nc_config *c, const char *host_flag, bool probe_all,
                    engine_report *report, engine **ret);

/* cmd_load_config, then cmd_open_engine with --host: what a command that talks to the engine
 * does first. On failure nothing is left allocated. */
int cmd_connect(const cmd_common *c, nc_config **ret_cfg, engine **ret_e);
/* cmd_connect that also hands the logged error's text on in *ret_msg (allocated; left alone on
 * success), for a command that reports errors a second way (run --json). */
int cmd_connect_msg(const cmd_common *c, nc_config **ret_cfg, engine **ret_e, char **ret_msg);

#endif
