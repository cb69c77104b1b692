#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static int level = -1;

static log_level level_from_env(void)
{
    const char *v = secure_getenv("NANOCELL_LOG");
    if (!v)
        return LOG_INFO;
    if (strcmp(v, "error") == 0)
        return LOG_ERROR;
    if (strcmp(v, "warn") == 0)
        return LOG_WARN;
    if (strcmp(v, "debug") == 0)
        return LOG_DEBUG;
    return LOG_INFO;
}

log_level log_get_level(void)
{
    if (level < 0)
        level = (int)level_from_env();
    return (log_level)level;
}

void log_msg(log_level l, const char *fmt, ...)
{
    if ((int)l > (int)log_get_level())
        return;
    static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};
    va_list ap;
    va_start(ap, fmt);
    flockfile(stderr);
    fprintf(stderr, "nanocell: %s", prefix[l]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
    va_end(ap);
}
