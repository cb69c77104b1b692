#include "util/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "util/xalloc.h"
#include "util/banned.h"

static int error_vset(nc_error **err, int code, int http_status, const char *fmt, va_list ap)
{
    if (code <= 0)
        code = EIO;
    if (err && !*err) {
        nc_error *e = xnew0(nc_error);
        e->code = code;
        e->http_status = http_status;
        e->msg = xvasprintf(fmt, ap);
        *err = e;
    }
    return -code;
}

int nc_error_set(nc_error **err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = error_vset(err, code, 0, fmt, ap);
    va_end(ap);
    return r;
}

int nc_error_set_http(nc_error **err, int code, int http_status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = error_vset(err, code, http_status, fmt, ap);
    va_end(ap);
    return r;
}

int nc_error_wrap(nc_error **err, const char *fmt, ...)
{
    if (!err || !*err)
        return -EIO;
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *ctx = xvasprintf(fmt, ap);
    va_end(ap);
    char *msg = xasprintf("%s: %s", ctx, (*err)->msg);
    free((*err)->msg);
    (*err)->msg = msg;
    return -(*err)->code;
}

const char *nc_error_msg(const nc_error *err)
{
    return err && err->msg ? err->msg : "unknown error";
}

void nc_error_free(nc_error *err)
{
    if (!err)
        return;
    free(err->msg);
    free(err);
}
