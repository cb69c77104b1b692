/* Compiling a validated seccomp profile with libseccomp: one filter per architecture group,
 * the compile proof done at load time, and seccomp_policy_build for loading. libseccomp's
 * -errno returns are passed through with the rule and architecture they concern. */
#include "sandbox/seccomp.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "sandbox/seccomp_internal.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* BPF_MAXINSNS: the kernel refuses a longer filter when it is loaded, so a profile that
 * compiles past it would only fail at container start. */
#define SC_BPF_MAX_INSNS 4096
#define SC_BPF_INSN_SIZE 8 /* sizeof(struct sock_filter) */
/* Rules handed to libseccomp for one filter (a name with its conditions, one per condition
 * when they are ORed). Each distinct one costs at least one instruction, so a profile past
 * this cannot fit the kernel's limit anyway; refusing it early also bounds libseccomp's time,
 * which grows quadratically with the conditions on one syscall (7 s for 20000). */
#define SC_MAX_RULE_ADDS 4096

/* Then only rules without includes.minKernel apply. */
void sc_kernel_version(unsigned *major, unsigned *minor)
{
    struct utsname u;
    *major = *minor = 0;
    if (uname(&u) < 0)
        return;
    const char *s = u.release;
    unsigned v[2] = {0, 0};
    for (int part = 0; part < 2; part++) {
        int digits = 0;
        while (isdigit((unsigned char)*s) && digits < 5) {
            v[part] = v[part] * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (!digits || (part == 0 && *s++ != '.'))
            return;
    }
    *major = v[0];
    *minor = v[1];
}

/* One (syscall, rule) pair that goes into a filter, for the conflict check. */
typedef struct sc_added {
    int nr; /* native syscall number (pseudo numbers for other architectures' calls) */
    const char *name;
    size_t rule;
    bool cond;
    uint32_t action;
} sc_added;

static int cmp_added(const void *a, const void *b)
{
    const sc_added *x = a, *y = b;
    if (x->nr != y->nr)
        return x->nr < y->nr ? -1 : 1;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* libseccomp keeps one tree per syscall, and an unconditional rule replaces every rule with
 * conditions for that syscall, in whichever order they are added and whatever their actions
 * (verified by effect in tests/unit/test_seccomp.c). A profile that allows ioctl outright and
 * denies TIOCSTI with a condition would lose the denial without a word, so refuse it. */
static int check_conflicts(sc_added *v, size_t n, nc_error **err)
{
    qsort(v, n, sizeof(*v), cmp_added);
    for (size_t i = 0; i < n;) {
        size_t end = i;
        const sc_added *uncond = NULL;
        while (end < n && v[end].nr == v[i].nr) {
            if (!v[end].cond && !uncond)
                uncond = &v[end];
            end++;
        }
        for (size_t k = i; uncond && k < end; k++) {
            if (v[k].action == uncond->action)
                continue;
            const sc_added *later = v[k].rule > uncond->rule ? &v[k] : uncond;
            const sc_added *earlier = later == uncond ? &v[k] : uncond;
            if (v[k].cond)
                return nc_error_set(err, EINVAL,
                                    "syscalls[%zu]: '%s' has an unconditional rule in "
                                    "syscalls[%zu] and a rule with conditions and another action "
                                    "in syscalls[%zu]; libseccomp would silently drop the "
                                    "conditional one",
                                    later->rule, v[k].name, uncond->rule, v[k].rule);
            return nc_error_set(err, EINVAL,
                                "syscalls[%zu]: '%s' already has an unconditional rule with "
                                "another action in syscalls[%zu]",
                                later->rule, v[k].name, earlier->rule);
        }
        i = end;
    }
    return 0;
}

static int add_rule(scmp_filter_ctx ctx, const sc_rule *r, size_t idx, int nr, const char *name,
                    const char *arch, nc_error **err)
{
    struct scmp_arg_cmp cmp[6];
    int rc = 0;
    if (!r->split) {
        /* Distinct indices, so at most six: one rule, conditions ANDed. */
        for (size_t i = 0; i < r->nargs; i++)
            cmp[i] = (struct scmp_arg_cmp){r->args[i].index, r->args[i].op, r->args[i].value,
                                           r->args[i].value_two};
        rc = seccomp_rule_add_array(ctx, r->action, nr, (unsigned)r->nargs, cmp);
    } else {
        /* An index repeats: libseccomp cannot AND two conditions on one argument, so each
         * condition becomes a rule of its own (OR), as runc and crun do. */
        for (size_t i = 0; i < r->nargs && rc == 0; i++) {
            cmp[0] = (struct scmp_arg_cmp){r->args[i].index, r->args[i].op, r->args[i].value,
                                           r->args[i].value_two};
            rc = seccomp_rule_add_array(ctx, r->action, nr, 1, cmp);
        }
    }
    if (rc < 0)
        return nc_error_set(err, -rc, "syscalls[%zu]: add rule for '%s' on %s: %s", idx, name, arch,
                            strerror(-rc));
    return 0;
}

int sc_build_group(const struct sc_model *m, const sc_group *g, bool for_load, scmp_filter_ctx *ret,
                   nc_error **err)
{
    const char *main_name = sc_arch_name(g->arches[0]);
    _cleanup_seccomp_ctx_ scmp_filter_ctx ctx = seccomp_init(m->default_action);
    /* libseccomp says only NULL: the default action is one this kernel or libseccomp does
     * not support (it probes e.g. KILL_PROCESS with the seccomp syscall), or memory ran out. */
    if (!ctx)
        return nc_error_set(err, ENOTSUP,
                            "%s: initialise the filter: libseccomp refused the default action "
                            "(not supported by this kernel or libseccomp)",
                            main_name);
    uint32_t native = seccomp_arch_native();
    bool has_native = false;
    int rc;
    for (size_t i = 0; i < g->narches; i++) {
        if (g->arches[i] == native) {
            has_native = true;
            continue;
        }
        if ((rc = seccomp_arch_add(ctx, g->arches[i])) < 0)
            return nc_error_set(err, -rc, "%s: add architecture %s: %s", main_name,
                                sc_arch_name(g->arches[i]), strerror(-rc));
    }
    if (!has_native && (rc = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE)) < 0)
        return nc_error_set(err, -rc, "%s: remove the native architecture: %s", main_name,
                            strerror(-rc));
    if (for_load) {
        static const struct {
            unsigned flag;
            enum scmp_filter_attr attr;
            const char *name;
        } attrs[] = {
            {SC_FLAG_TSYNC, SCMP_FLTATR_CTL_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC"},
            {SC_FLAG_LOG, SCMP_FLTATR_CTL_LOG, "SECCOMP_FILTER_FLAG_LOG"},
            {SC_FLAG_SPEC_ALLOW, SCMP_FLTATR_CTL_SSB, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"},
        };
        /* SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only concerns notify listeners, which
         * nanocell's own filters never have; libseccomp 2.5 has no attribute for it. */
        for (size_t i = 0; i < NC_ARRAY_SIZE(attrs); i++)
            if ((m->flags & attrs[i].flag) && (rc = seccomp_attr_set(ctx, attrs[i].attr, 1)) < 0)
                return nc_error_set(err, -rc, "%s: %s: %s", main_name, attrs[i].name,
                                    strerror(-rc));
    }

    unsigned kmajor, kminor;
    sc_kernel_version(&kmajor, &kminor);
    size_t total = 0;
    for (size_t i = 0; i < m->nrules; i++)
        total += m->rules[i].nnames;
    _cleanup_free_ sc_added *added = xreallocarray(NULL, total ? total : 1, sizeof(*added));
    size_t nadded = 0;
    size_t adds = 0;
    for (size_t i = 0; i < m->nrules; i++) {
        const sc_rule *r = &m->rules[i];
        if (!sc_rule_applies(r, g->arches[0], kmajor, kminor))
            continue;
        adds += r->nnames * (r->split ? r->nargs : 1);
        if (adds > SC_MAX_RULE_ADDS)
            return nc_error_set(err, E2BIG,
                                "%s: more than %d rules and conditions to compile; the kernel "
                                "takes at most %d instructions",
                                main_name, SC_MAX_RULE_ADDS, SC_BPF_MAX_INSNS);
        for (size_t k = 0; k < r->nnames; k++) {
            int nr = seccomp_syscall_resolve_name(r->names[k]);
            if (nr == __NR_SCMP_ERROR)
                return nc_error_set(err, EINVAL, "syscalls[%zu]: unknown syscall '%s' on %s", i,
                                    r->names[k], sc_arch_name(native));
            added[nadded++] = (sc_added){nr, r->names[k], i, r->nargs > 0, r->action};
        }
    }
    /* Rules with the default action take part in the check: next to an unconditional rule
     * their intent is lost just the same. */
    if ((rc = check_conflicts(added, nadded, err)) < 0)
        return rc;
    for (size_t i = 0; i < nadded; i++) {
        const sc_rule *r = &m->rules[added[i].rule];
        /* libseccomp refuses a rule with the default action; it would change nothing. */
        if (r->action == m->default_action)
            continue;
        if ((rc = add_rule(ctx, r, added[i].rule, added[i].nr, added[i].name, main_name, err)) < 0)
            return rc;
    }
    *ret = TAKE_PTR(ctx);
    return 0;
}

int sc_compile_check(const struct sc_model *m, nc_error **err)
{
    for (size_t gi = 0; gi < m->ngroups; gi++) {
        const char *name = sc_arch_name(m->groups[gi].arches[0]);
        _cleanup_seccomp_ctx_ scmp_filter_ctx ctx = NULL;
        int r = sc_build_group(m, &m->groups[gi], false, &ctx, err);
        if (r < 0)
            return r;
        _cleanup_close_ int fd = memfd_create("nanocell-seccomp", MFD_CLOEXEC);
        if (fd < 0)
            return nc_error_set(err, errno, "%s: memfd_create: %s", name, strerror(errno));
        if ((r = seccomp_export_bpf(ctx, fd)) < 0)
            return nc_error_set(err, -r, "%s: compile the filter: %s", name, strerror(-r));
        struct stat st;
        if (fstat(fd, &st) < 0)
            return nc_error_set(err, errno, "%s: stat the compiled filter: %s", name,
                                strerror(errno));
        size_t insns = (size_t)st.st_size / SC_BPF_INSN_SIZE;
        if (insns > SC_BPF_MAX_INSNS)
            return nc_error_set(err, E2BIG,
                                "%s: the compiled filter has %zu instructions, more than the "
                                "kernel's limit of %d",
                                name, insns, SC_BPF_MAX_INSNS);
    }
    return 0;
}

int seccomp_policy_build(const seccomp_policy *p, scmp_filter_ctx *ret, nc_error **err)
{
    uint32_t native = seccomp_arch_native();
    for (size_t gi = 0; gi < p->model->ngroups; gi++) {
        if (p->model->groups[gi].arches[0] != native)
            continue;
        int r = sc_build_group(p->model, &p->model->groups[gi], true, ret, err);
        if (r < 0)
            return nc_error_wrap(err, "policy '%s'", p->source);
        return 0;
    }
    return nc_error_set(err, ENOTSUP, "policy '%s': does not cover the native architecture %s",
                        p->source, sc_arch_name(native));
}
