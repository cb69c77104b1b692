/* What most commands do first: load and resolve the configuration, and connect to the
 * engine. Each helper logs the error itself and returns the exit status to use, or 0. */
#ifndef NC_CMD_COMMON_H
#define NC_CMD_COMMON_H

#include "config.h"
#include "engine/engine.h"
#include "util/strbuf.h"

/* Loads (--config path, may be NULL) and resolves the configuration. EXIT_USAGE on failure. */
int cmd_load_config(const char *path, nc_config **ret);
/* Connects to the engine: --host (may be NULL) beats engine.host. When report is not NULL
 * the candidates tried are appended to it. EXIT_ENGINE on failure. */
int cmd_open_engine(const nc_config *c, const char *host_flag, strbuf *report, engine **ret);

#endif
