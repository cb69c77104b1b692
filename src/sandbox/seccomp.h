/* Seccomp profiles in Docker's JSON format (docker-api.md section 4): load, validate, compile,
 * digest.
 *
 * A profile is validated completely before anything uses it, and every refusal names the place
 * in the document:
 *   policy 'agent.json': syscalls[3].names[2]: unknown syscall 'foo' on x86_64
 * Loading also compiles the profile with libseccomp, once per architecture group, to prove that
 * it builds and fits the kernel's instruction limit; it is never loaded into this process.
 *
 * What nanocell sends to an engine is the canonical form (compact, object keys sorted), and its
 * SHA-256 is recorded in every run log, so a run can be tied to the exact filter it ran under.
 *
 * Semantics follow Docker and runc where the format leaves a choice:
 *  - archMap selects the entry of the native architecture (with its sub-architectures);
 *  - includes/excludes.arches take Go architecture names (amd64, arm64, x32, ...) and are
 *    matched against the main architecture of the filter;
 *  - includes/excludes.caps are evaluated as if every capability were dropped (nanocell drops
 *    them all), so a rule that includes a capability never applies; sandbox_prepare refuses
 *    such a profile for a group with sandbox.cap_add, where the engine would decide otherwise;
 *  - includes/excludes.minKernel compare with the running kernel;
 *  - when one argument index appears twice in a rule, every condition of the rule becomes a
 *    rule of its own (OR), as runc and crun do, since libseccomp cannot AND one argument;
 *  - a rule whose action equals the default action is skipped (libseccomp refuses it).
 * Stricter than Docker: unknown keys, unknown syscall names, allow-by-default and empty
 * profiles are refused, and so is a syscall given an unconditional rule and another rule with a
 * different action, because libseccomp silently keeps only the first unconditional rule and
 * drops every conditional one. Two conditional rules with different actions whose conditions
 * overlap are not detected: libseccomp's internal order decides between them, so write
 * conditions that are disjoint (policies/seccomp/README.md). */
#ifndef NC_SANDBOX_SECCOMP_H
#define NC_SANDBOX_SECCOMP_H

#include <seccomp.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/cleanup.h"
#include "util/error.h"
#include "util/json.h"

/* Profiles larger than this are refused before parsing. */
#define SECCOMP_POLICY_MAX_BYTES (1024 * 1024)

struct sc_model;

typedef struct seccomp_policy {
    char *source;           /* file path, or the name given for built-in text */
    char *canonical;        /* canonical JSON: compact, object keys sorted; what nanocell sends */
    char digest[65];        /* sha256 hex of canonical: recorded in every run log */
    size_t nrules;          /* rule objects in "syscalls" */
    size_t nnames;          /* syscall names over all rules */
    long caps_rule;         /* index in "syscalls" of the first rule with includes/excludes.caps
                             * (evaluated as if every capability were dropped), or -1 */
    char **architectures;   /* resolved SCMP_ARCH_* names, NULL-terminated: every architecture
                             * the profile covers (archMap: each entry and its sub-architectures;
                             * neither key: the native one) */
    struct sc_model *model; /* private: the validated profile, for seccomp_policy_build */
} seccomp_policy;

/* Parses and validates a profile, and compiles it once per architecture group to prove that it
 * builds; never loads it. text need not be NUL-terminated. Errors read "policy 'SOURCE': ...",
 * with code EINVAL for a bad profile, EFBIG past SECCOMP_POLICY_MAX_BYTES, E2BIG when the
 * compiled filter exceeds the kernel's 4096 instructions, or libseccomp's own code. */
int seccomp_policy_load_text(const char *text, size_t len, const char *source, seccomp_policy **ret,
                             nc_error **err);
/* The same for a file, read up to SECCOMP_POLICY_MAX_BYTES; source is the path. */
int seccomp_policy_load_file(const char *path, seccomp_policy **ret, nc_error **err);
void seccomp_policy_free(seccomp_policy *p);
NC_DEFINE_CLEANUP(seccomp_policy *, seccomp_policy_free)
#define _cleanup_seccomp_policy_ _cleanup_(seccomp_policy_freep)

/* Writes the canonical JSON to dir/<digest>.json (with mode, atomically; dir is created when
 * missing) unless a file with exactly that content is already there (then only its mode is set),
 * and returns the path in *ret_path (owned by the caller). Podman reads seccomp profiles as a
 * file path on the engine host, as the service's user: 0600 when that is root or nanocell's own
 * user, 0644 for another user's rootless service. The file holds the canonical text without a
 * trailing newline, so its SHA-256 is its name. */
int seccomp_policy_write(const seccomp_policy *p, const char *dir, mode_t mode, char **ret_path,
                         nc_error **err);

/* Whether oci, the "linux.seccomp" object of an OCI runtime spec that an engine generated from
 * this profile (Podman writes it to the container's bundle, config.json, for the runtime to
 * load), is the profile as it applies on this host: the same default action and errno, filter
 * flags, the native architecture (and only architectures of its group), and exactly the rules
 * that apply here (includes/excludes evaluated as for the filter nanocell compiles), in order,
 * each with the same names, action, errno and argument conditions. On a difference, returns
 * false with the first one in *why (allocated). */
bool seccomp_policy_matches_oci(const seccomp_policy *p, const nc_json *oci, char **why);

/* Compiles the profile for the native architecture into a filter context ready for
 * seccomp_load() (the native fallback, and tests). The profile must cover the native
 * architecture (ENOTSUP otherwise). Filter flags become libseccomp attributes; libseccomp's
 * defaults stay (NO_NEW_PRIVS set on load, a foreign architecture kills). */
int seccomp_policy_build(const seccomp_policy *p, scmp_filter_ctx *ret, nc_error **err);

NC_DEFINE_CLEANUP(scmp_filter_ctx, seccomp_release)
#define _cleanup_seccomp_ctx_ _cleanup_(seccomp_releasep)

#endif
