/* The built-in agent seccomp profile, policies/seccomp/agent.json, embedded in the binary so
 * that nanocell needs no installed data files. It is validated like any other profile when
 * loaded (sandbox/seccomp.c). Declared in sandbox/builtin_profile.h. */
    .section .rodata
    .global nc_builtin_seccomp_profile
    .type nc_builtin_seccomp_profile, @object
nc_builtin_seccomp_profile:
    .incbin "policies/seccomp/agent.json"
    .global nc_builtin_seccomp_profile_end
nc_builtin_seccomp_profile_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
