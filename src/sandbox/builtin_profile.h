/* The built-in agent seccomp profile (policies/seccomp/agent.json), embedded at build time by
 * builtin_profile.S. The bytes run from nc_builtin_seccomp_profile to
 * nc_builtin_seccomp_profile_end, followed by a NUL. */
#ifndef NC_SANDBOX_BUILTIN_PROFILE_H
#define NC_SANDBOX_BUILTIN_PROFILE_H

extern const char nc_builtin_seccomp_profile[];
extern const char nc_builtin_seccomp_profile_end[];

#define NC_BUILTIN_SECCOMP_NAME "built-in agent profile (policies/seccomp/agent.json)"

#endif
