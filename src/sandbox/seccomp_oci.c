/* seccomp_policy_matches_oci: a profile against the OCI form an engine generated from it.
 *
 * Podman (containers/common's seccomp package) turns the Docker-format profile into the OCI
 * runtime spec's linux.seccomp: the default action and errno and the flags as they are, the
 * native architecture with its sub-architectures, and every rule whose includes/excludes hold
 * on this host (architecture, the container's capabilities, the kernel version), in the
 * profile's order, with its names, action, errno and argument conditions. The comparison is of
 * the two documents, field by field, never of a compiled filter (the runtime compiles it with
 * its own libseccomp and may add its own stub). */
#include "sandbox/seccomp.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/seccomp_internal.h"
#include "util/xalloc.h"
#include "util/banned.h"

static bool same_string(const nc_json *a, const nc_json *b)
{
    const char *x = json_string(a), *y = json_string(b);
    return x && y && strcmp(x, y) == 0;
}

/* Both absent, or the same integer. */
static bool same_opt_int(const nc_json *a, const nc_json *b)
{
    if (!a || !b || json_is_null(a) || json_is_null(b))
        return (!a || json_is_null(a)) && (!b || json_is_null(b));
    uint64_t x, y;
    return json_uint64(a, &x) && json_uint64(b, &y) && x == y;
}

/* Absent counts as 0 (valueTwo). */
static bool same_u64_or_zero(const nc_json *a, const nc_json *b)
{
    uint64_t x = 0, y = 0;
    if (a && !json_is_null(a) && !json_uint64(a, &x))
        return false;
    if (b && !json_is_null(b) && !json_uint64(b, &y))
        return false;
    return x == y;
}

/* Both absent or empty, or the same strings in the same order. */
static bool same_strings(const nc_json *a, const nc_json *b)
{
    size_t n = json_array_len(a);
    if (n != json_array_len(b))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!same_string(json_array_at(a, i), json_array_at(b, i)))
            return false;
    return true;
}

/* The profile's rule names: "names", or the legacy "name" alone. */
static bool same_names(const nc_json *rule, const nc_json *oci)
{
    const nc_json *names = json_get(rule, "names");
    if (names)
        return same_strings(names, json_get(oci, "names"));
    const nc_json *got = json_get(oci, "names");
    return json_array_len(got) == 1 && same_string(json_get(rule, "name"), json_array_at(got, 0));
}

static bool same_args(const nc_json *a, const nc_json *b)
{
    size_t n = json_array_len(a);
    if (n != json_array_len(b))
        return false;
    for (size_t i = 0; i < n; i++) {
        const nc_json *x = json_array_at(a, i), *y = json_array_at(b, i);
        uint64_t ix, iy, vx, vy;
        if (!json_uint64(json_get(x, "index"), &ix) || !json_uint64(json_get(y, "index"), &iy) ||
            ix != iy || !json_uint64(json_get(x, "value"), &vx) ||
            !json_uint64(json_get(y, "value"), &vy) || vx != vy ||
            !same_u64_or_zero(json_get(x, "valueTwo"), json_get(y, "valueTwo")) ||
            !same_string(json_get(x, "op"), json_get(y, "op")))
            return false;
    }
    return true;
}

/* x86_64's token for "SCMP_ARCH_X86_64"; 0 when libseccomp does not know the name. */
static uint32_t oci_arch_token(const char *name)
{
    if (!name || strncmp(name, "SCMP_ARCH_", 10) != 0)
        return 0;
    _cleanup_free_ char *lower = xstrdup(name + 10);
    for (char *c = lower; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return seccomp_arch_resolve_name(lower);
}

/* The OCI architectures: the native one is there, and each is of the native group. */
static bool arches_ok(const struct sc_model *m, uint32_t native, const nc_json *list, char **why)
{
    const sc_group *g = NULL;
    for (size_t i = 0; i < m->ngroups && !g; i++)
        if (m->groups[i].arches[0] == native)
            g = &m->groups[i];
    if (!g) {
        *why = xasprintf("the profile does not cover the native architecture %s",
                         sc_arch_name(native));
        return false;
    }
    bool has_native = false;
    for (size_t i = 0; i < json_array_len(list); i++) {
        const char *name = json_string(json_array_at(list, i));
        uint32_t t = oci_arch_token(name);
        bool known = false;
        for (size_t k = 0; k < g->narches && t; k++)
            known |= g->arches[k] == t;
        if (!known) {
            *why = xasprintf("architecture '%s' is not one the profile names with %s",
                             name ? name : "(not a string)", sc_arch_name(native));
            return false;
        }
        has_native |= t == native;
    }
    if (!has_native)
        *why = xasprintf("the native architecture %s is not listed", sc_arch_name(native));
    return has_native;
}

bool seccomp_policy_matches_oci(const seccomp_policy *p, const nc_json *oci, char **why)
{
    *why = NULL;
    const struct sc_model *m = p->model;
    const nc_json *doc = m->root;
    if (!json_is_object(oci)) {
        *why = xstrdup("no seccomp section");
        return false;
    }
    if (!same_string(json_get(doc, "defaultAction"), json_get(oci, "defaultAction"))) {
        *why = xasprintf("defaultAction '%s', the profile's '%s'",
                         json_string(json_get(oci, "defaultAction")) ?: "",
                         json_string(json_get(doc, "defaultAction")) ?: "");
        return false;
    }
    if (!same_opt_int(json_get(doc, "defaultErrnoRet"), json_get(oci, "defaultErrnoRet"))) {
        *why = xstrdup("defaultErrnoRet differs from the profile's");
        return false;
    }
    if (!same_strings(json_get(doc, "flags"), json_get(oci, "flags"))) {
        *why = xstrdup("flags differ from the profile's");
        return false;
    }
    uint32_t native = seccomp_arch_native();
    if (!arches_ok(m, native, json_get(oci, "architectures"), why))
        return false;
    unsigned kmajor, kminor;
    sc_kernel_version(&kmajor, &kminor);
    const nc_json *rules = json_get(doc, "syscalls");
    const nc_json *got = json_get(oci, "syscalls");
    size_t n = json_array_len(got), k = 0;
    for (size_t i = 0; i < m->nrules; i++) {
        if (!sc_rule_applies(&m->rules[i], native, kmajor, kminor))
            continue;
        const nc_json *want = json_array_at(rules, i);
        if (k >= n) {
            *why = xasprintf("profile rule syscalls[%zu] is missing", i);
            return false;
        }
        const nc_json *have = json_array_at(got, k);
        const char *what =
            !same_names(want, have)                                                 ? "names"
            : !same_string(json_get(want, "action"), json_get(have, "action"))      ? "action"
            : !same_opt_int(json_get(want, "errnoRet"), json_get(have, "errnoRet")) ? "errnoRet"
            : !same_args(json_get(want, "args"), json_get(have, "args"))            ? "args"
                                                                                    : NULL;
        if (what) {
            *why =
                xasprintf("syscalls[%zu] has other %s than profile rule syscalls[%zu]", k, what, i);
            return false;
        }
        k++;
    }
    if (k != n) {
        *why = xasprintf("%zu rules more than the profile's (syscalls[%zu] onwards)", n - k, k);
        return false;
    }
    return true;
}
