/* Seccomp profiles: the whole of seccomp_policy_load_text (parse, validate, compile once per
 * architecture group). A profile that loads must also build for this machine when it covers
 * it, and its canonical form must load to the same canonical form and digest. Inputs are
 * capped at 64 KiB: compiling is the slow part, and size limits are tested in the unit tests. */
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/seccomp.h"

#define FUZZ_MAX_INPUT (64 * 1024)

/* libseccomp 2.5.4 (Debian 12) loses argument-chain nodes when a shorter rule prunes a longer
 * one of the same syscall, e.g. for ioctl (arg0 == 2 && arg1 & 0xffffffff == 0x541c), then
 * (arg1 == 2), then (arg1 & 0xffffffff == 0x541c): 192 bytes per filter, even after
 * seccomp_release(). The fuzzer found it (corpus/seccomp/libseccomp-prune-leak); it is not
 * ours to fix. Only allocations made inside seccomp_rule_add_array are suppressed, so a filter
 * we forget to release (seccomp_init's allocations) is still reported. Seeing that frame needs
 * the slow unwinder: libseccomp has no frame pointers. Both hooks only take effect in
 * sanitizer builds (make fuzz, make asan). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:seccomp_rule_add_array\n";
}

const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    seccomp_policy *p = NULL;
    nc_error *err = NULL;
    if (seccomp_policy_load_text((const char *)data, size, "fuzz", &p, &err) < 0) {
        if (!err || !err->msg || !*err->msg)
            abort(); /* a refusal always says why */
        nc_error_free(err);
        return 0;
    }
    if (err)
        abort(); /* success leaves err untouched */
    scmp_filter_ctx ctx = NULL;
    if (seccomp_policy_build(p, &ctx, &err) == 0)
        seccomp_release(ctx);
    else
        nc_error_free(err);
    err = NULL;
    seccomp_policy *again = NULL;
    if (seccomp_policy_load_text(p->canonical, strlen(p->canonical), "canonical", &again, &err) < 0)
        abort(); /* the canonical form of a valid profile is valid */
    if (strcmp(again->canonical, p->canonical) != 0 || strcmp(again->digest, p->digest) != 0)
        abort(); /* and a fixed point */
    seccomp_policy_free(again);
    seccomp_policy_free(p);
    return 0;
}
