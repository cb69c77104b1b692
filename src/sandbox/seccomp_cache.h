/* The seccomp profile a sandbox uses, loaded once per distinct content (seccomp_cache.c). */
#ifndef NC_SANDBOX_SECCOMP_CACHE_H
#define NC_SANDBOX_SECCOMP_CACHE_H

#include "sandbox/seccomp.h"
#include "sandbox/settings.h"
#include "util/error.h"

/* The profile of s (sandbox.seccomp_profile: "" the built-in one, a path, or "unconfined"),
 * validated as seccomp_policy_load_text does. *ret is NULL for "unconfined", else the policy:
 * borrowed from the cache (valid until exit), or, when the cache is full, also in *owned, which
 * the caller frees. Thread-safe. */
int seccomp_cache_load(const sandbox_settings *s, const seccomp_policy **ret,
                       seccomp_policy **owned, nc_error **err);

#endif
