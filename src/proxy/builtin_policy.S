/* The built-in egress policy, policies/egress.toml, embedded in the binary so that nanocell
 * needs no installed data files. Declared in proxy/policy.h. */
    .section .rodata
    .global nc_builtin_egress_policy
    .type nc_builtin_egress_policy, @object
nc_builtin_egress_policy:
    .incbin "policies/egress.toml"
    .global nc_builtin_egress_policy_end
nc_builtin_egress_policy_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
