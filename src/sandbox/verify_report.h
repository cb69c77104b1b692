/* The record both verification passes keep: one report line per check, and the failures
 * gathered into one error. Internal to src/sandbox/verify_*.c. */
#ifndef NC_SANDBOX_VERIFY_REPORT_H
#define NC_SANDBOX_VERIFY_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"
#include "util/strbuf.h"

typedef struct vreport {
    strbuf *report; /* the caller's; may be NULL */
    strbuf failed;  /* "name: why; name: why" */
    int nfailed;
} vreport;

void vreport_ok(vreport *v, const char *name);
void vreport_fail(vreport *v, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void vreport_waive(vreport *v, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* vreport_ok when ok, else vreport_fail with the message. */
void vreport_check(vreport *v, bool ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Like vreport_check, but a failure becomes "waived" when waived is true. */
void vreport_check_waivable(vreport *v, bool ok, bool waived, const char *name, const char *fmt,
                            ...) __attribute__((format(printf, 5, 6)));
/* Whether a comma-separated option list ("rw,noexec,nosuid") holds opt as a whole item. */
bool vreport_has_option(const char *options, const char *opt);
/* Whether a CFS quota per period (engine- or kernel-reported, any size) is exactly nano CPUs
 * (1e9 = one CPU). Never overflows: a product that does not fit is a mismatch. */
bool vreport_cfs_is(int64_t quota, int64_t period, int64_t nano);
/* Returns 0, or -EPERM with "what: name: why; ..." when a check failed. Releases v. */
int vreport_finish(vreport *v, const char *what, nc_error **err);

#endif
