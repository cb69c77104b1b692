/* sandbox_verify_bundle: the OCI spec Podman handed the runtime, against nanocell's seccomp
 * profile.
 *
 * Podman's inspect reports the seccomp profile only by echoing the annotation nanocell sent,
 * which proves nothing about the filter. Podman writes the spec the runtime loads, config.json,
 * into the container's bundle (libpod's StaticDir) before it starts the container; its
 * linux.seccomp is what runc or crun compiles and loads into the kernel. After start, that
 * section must be nanocell's profile as it applies on this host (seccomp_policy_matches_oci),
 * and the runtime check has already seen the process in seccomp filter mode. */
#include "sandbox/verify.h"

#include <errno.h>
#include <string.h>

#include "sandbox/seccomp_cache.h"
#include "sandbox/verify_report.h"
#include "util/fileutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* An OCI spec with a large profile stays far below this. */
#define BUNDLE_CONFIG_MAX (4u * 1024 * 1024)

int sandbox_verify_bundle(const sandbox_spec *s, const char *static_dir, strbuf *report,
                          nc_error **err)
{
    vreport v = {.report = report};
    const char *name = "bundle.seccomp";
    if (strcmp(s->settings->seccomp_profile, "unconfined") == 0)
        return vreport_finish(&v, "the runtime's spec is not the one nanocell asked for", err);
    if (!static_dir || static_dir[0] != '/') {
        vreport_fail(&v, name, "libpod's inspect names no bundle directory (StaticDir)");
        return vreport_finish(&v, "the runtime's spec is not the one nanocell asked for", err);
    }
    _cleanup_free_ char *path = xasprintf("%s/config.json", static_dir);
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    _cleanup_error_ nc_error *rerr = NULL;
    if (read_file(path, BUNDLE_CONFIG_MAX, &text, &rerr) < 0) {
        if (rerr->code == EACCES && report) {
            /* A rootful service's bundle, nanocell not root: only the annotation is left. */
            strbuf_addf(report, "note %s: not checked: %s\n", name, rerr->msg);
            return 0;
        }
        vreport_fail(&v, name, "%s", rerr->msg);
        return vreport_finish(&v, "the runtime's spec is not the one nanocell asked for", err);
    }
    _cleanup_json_ nc_json *spec = NULL;
    const seccomp_policy *pol = NULL;
    _cleanup_seccomp_policy_ seccomp_policy *owned = NULL;
    int r = json_parse(text.buf, text.len, &spec, &rerr);
    if (r < 0) {
        vreport_fail(&v, name, "'%s': %s", path, rerr->msg);
    } else if (seccomp_cache_load(s->settings, &pol, &owned, &rerr) < 0 || !pol) {
        vreport_fail(&v, name, "nanocell's profile: %s", rerr ? rerr->msg : "none");
    } else {
        _cleanup_free_ char *why = NULL;
        bool same =
            seccomp_policy_matches_oci(pol, json_get(json_get(spec, "linux"), "seccomp"), &why);
        vreport_check(&v, same, name, "'%s' does not hold nanocell's profile: %s", path,
                      why ? why : "");
    }
    return vreport_finish(&v, "the runtime's spec is not the one nanocell asked for", err);
}
