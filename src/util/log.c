#include "util/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/termsafe.h"
#include "util/xalloc.h"
#include "util/banned.h"

static int level = -1;

/* Passed-through text: its cut UTF-8 sequence, and whether its last byte ended a line. */
static termsafe_stream pass = TERMSAFE_STREAM_INIT;
static bool pass_open_line;

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

/* Writes out what termsafe gave, remembering whether it ended a line. Caller holds stderr. */
static void pass_write(const strbuf *out)
{
    if (!out->len)
        return;
    fwrite(out->buf, 1, out->len, stderr);
    pass_open_line = out->buf[out->len - 1] != '\n';
}

static void pass_end_locked(void)
{
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    termsafe_stream_end(&pass, &out);
    pass_write(&out);
    if (pass_open_line)
        fputc('\n', stderr);
    pass_open_line = false;
}

void log_passthrough(const char *data, size_t len)
{
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    flockfile(stderr);
    termsafe_stream_add(&pass, &out, data, len, TERMSAFE_TEXT);
    pass_write(&out);
    funlockfile(stderr);
}

void log_passthrough_end(void)
{
    flockfile(stderr);
    pass_end_locked();
    funlockfile(stderr);
}

void log_msg(log_level l, const char *fmt, ...)
{
    if ((int)l > (int)log_get_level())
        return;
    static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    _cleanup_free_ char *safe = termsafe_cstr(msg, TERMSAFE_TEXT);
    flockfile(stderr);
    pass_end_locked();
    fprintf(stderr, "nanocell: %s%s\n", prefix[l], safe);
    funlockfile(stderr);
}
