#include "sandbox/verify_report.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "sandbox/verify.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Paths that do not exist in a kernel (/proc/kcore without CONFIG_PROC_KCORE, /proc/sched_debug
 * since Linux 5.13) stay in the lists: the runtime check skips what the container cannot see. */
const char *const sandbox_masked_paths[] = {
    "/proc/acpi",        "/proc/kcore",
    "/proc/keys",        "/proc/latency_stats",
    "/proc/timer_list",  "/proc/timer_stats",
    "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware",     NULL,
};
const char *const sandbox_readonly_paths[] = {
    "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

void vreport_ok(vreport *v, const char *name)
{
    if (v->report)
        strbuf_addf(v->report, "ok %s\n", name);
}

static void line(vreport *v, const char *tag, const char *name, const char *fmt, va_list ap)
{
    _cleanup_free_ char *why = xvasprintf(fmt, ap);
    if (v->report)
        strbuf_addf(v->report, "%s %s: %s\n", tag, name, why);
    if (tag[0] == 'F') {
        strbuf_addf(&v->failed, "%s%s: %s", v->nfailed ? "; " : "", name, why);
        v->nfailed++;
    }
}

void vreport_fail(vreport *v, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line(v, "FAILED", name, fmt, ap);
    va_end(ap);
}

void vreport_waive(vreport *v, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line(v, "waived", name, fmt, ap);
    va_end(ap);
}

void vreport_check(vreport *v, bool ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        vreport_ok(v, name);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    line(v, "FAILED", name, fmt, ap);
    va_end(ap);
}

void vreport_check_waivable(vreport *v, bool ok, bool waived, const char *name, const char *fmt,
                            ...)
{
    if (ok) {
        vreport_ok(v, name);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    line(v, waived ? "waived" : "FAILED", name, fmt, ap);
    va_end(ap);
}

bool vreport_cfs_is(int64_t quota, int64_t period, int64_t nano)
{
    int64_t scaled;
    if (quota <= 0 || period <= 0 || __builtin_mul_overflow(quota, (int64_t)1000000000, &scaled))
        return false;
    return scaled / period == nano;
}

bool vreport_has_option(const char *options, const char *opt)
{
    size_t n = strlen(opt);
    for (const char *p = options; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, opt, n) == 0)
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

int vreport_finish(vreport *v, const char *what, nc_error **err)
{
    int r = 0;
    if (v->nfailed)
        r = nc_error_set(err, EPERM, "%s: %s", what, strbuf_str(&v->failed));
    strbuf_release(&v->failed);
    return r;
}
