/* Seccomp profiles: validation of the JSON document into the model of seccomp_internal.h (see
 * seccomp.h for the semantics). libseccomp is used here only to resolve architecture and
 * syscall names, libcap only to resolve capability names. */
#include "sandbox/seccomp_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>

#include "util/xalloc.h"
#include "util/banned.h"

/* Architectures by their libseccomp names, newest included: the installed libseccomp decides
 * which of them resolve. */
static const char *const arch_names[] = {
    "x86",    "x86_64",  "x32",      "arm",       "aarch64",     "loongarch64", "m68k",     "mips",
    "mipsel", "mips64",  "mipsel64", "mips64n32", "mipsel64n32", "parisc",      "parisc64", "ppc",
    "ppc64",  "ppc64le", "s390",     "s390x",     "riscv64",     "sh",          "sheb",
};

/* Go architecture names, as includes/excludes.arches use them, and their libseccomp names. */
static const struct {
    const char *go;
    const char *scmp;
} goarches[] = {
    {"386", "x86"},
    {"x86", "x86"},
    {"amd64", "x86_64"},
    {"x32", "x32"},
    {"arm", "arm"},
    {"arm64", "aarch64"},
    {"loong64", "loongarch64"},
    {"m68k", "m68k"},
    {"mips", "mips"},
    {"mipsle", "mipsel"},
    {"mips64", "mips64"},
    {"mips64le", "mipsel64"},
    {"mips64n32", "mips64n32"},
    {"mips64n32le", "mipsel64n32"},
    {"parisc", "parisc"},
    {"parisc64", "parisc64"},
    {"ppc", "ppc"},
    {"ppc64", "ppc64"},
    {"ppc64le", "ppc64le"},
    {"s390", "s390"},
    {"s390x", "s390x"},
    {"riscv64", "riscv64"},
};

static const char *const top_keys[] = {"defaultAction", "defaultErrnoRet",  "architectures",
                                       "archMap",       "syscalls",         "flags",
                                       "listenerPath",  "listenerMetadata", NULL};
static const char *const rule_keys[] = {"names",    "name",     "action",  "errnoRet", "args",
                                        "includes", "excludes", "comment", NULL};
static const char *const arg_keys[] = {"index", "value", "valueTwo", "op", NULL};
static const char *const cond_keys[] = {"caps", "arches", "minKernel", NULL};
static const char *const archmap_keys[] = {"architecture", "subArchitectures", NULL};

enum act_kind {
    ACT_KILL,
    ACT_KILL_PROCESS,
    ACT_KILL_THREAD,
    ACT_TRAP,
    ACT_ERRNO,
    ACT_TRACE,
    ACT_ALLOW,
    ACT_LOG,
    ACT_NOTIFY
};

static const struct {
    const char *name;
    enum act_kind kind;
} actions[] = {
    {"SCMP_ACT_KILL", ACT_KILL},
    {"SCMP_ACT_KILL_PROCESS", ACT_KILL_PROCESS},
    {"SCMP_ACT_KILL_THREAD", ACT_KILL_THREAD},
    {"SCMP_ACT_TRAP", ACT_TRAP},
    {"SCMP_ACT_ERRNO", ACT_ERRNO},
    {"SCMP_ACT_TRACE", ACT_TRACE},
    {"SCMP_ACT_ALLOW", ACT_ALLOW},
    {"SCMP_ACT_LOG", ACT_LOG},
    {"SCMP_ACT_NOTIFY", ACT_NOTIFY},
};

static const struct {
    const char *name;
    enum scmp_compare op;
} ops[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static const struct {
    const char *name;
    unsigned flag;
} flag_names[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", SC_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SC_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SC_FLAG_SPEC_ALLOW},
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SC_FLAG_WAIT_KILLABLE_RECV},
};

/* errno values the kernel can return (MAX_ERRNO); TRACE passes 16 bits to the tracer. */
#define SC_MAX_ERRNO 4095
#define SC_MAX_TRACE 65535

const char *sc_arch_name(uint32_t token)
{
    for (size_t i = 0; i < NC_ARRAY_SIZE(arch_names); i++)
        if (seccomp_arch_resolve_name(arch_names[i]) == token)
            return arch_names[i];
    return "unknown";
}

uint32_t sc_goarch_token(const char *goarch)
{
    for (size_t i = 0; i < NC_ARRAY_SIZE(goarches); i++)
        if (strcmp(goarches[i].go, goarch) == 0)
            return seccomp_arch_resolve_name(goarches[i].scmp);
    return 0;
}

static bool goarch_known(const char *goarch)
{
    for (size_t i = 0; i < NC_ARRAY_SIZE(goarches); i++)
        if (strcmp(goarches[i].go, goarch) == 0)
            return true;
    return false;
}

/* "SCMP_ARCH_X86_64", "x86_64", "scmp_arch_x86_64": the token, or 0. */
static uint32_t resolve_arch(const char *name)
{
    if (strncasecmp(name, "SCMP_ARCH_", 10) == 0)
        name += 10;
    char lower[32];
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof(lower))
        return 0;
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    return seccomp_arch_resolve_name(lower);
}

void sc_model_free(struct sc_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nrules; i++) {
        free(m->rules[i].names);
        free(m->rules[i].args);
        free(m->rules[i].inc.arches);
        free(m->rules[i].exc.arches);
    }
    free(m->rules);
    free(m->groups);
    json_free(m->root);
    free(m);
}

static int bad(nc_error **err, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets "WHERE: message" (or just the message when where is empty) with code EINVAL. */
static int bad(nc_error **err, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    if (where && *where)
        return nc_error_set(err, EINVAL, "%s: %s", where, msg);
    return nc_error_set(err, EINVAL, "%s", msg);
}

static int check_keys(const nc_json *obj, const char *const *known, const char *where,
                      nc_error **err)
{
    for (size_t i = 0; i < json_object_len(obj); i++) {
        const char *k = json_object_key(obj, i);
        bool ok = false;
        for (size_t j = 0; known[j] && !ok; j++)
            ok = strcmp(known[j], k) == 0;
        if (!ok) {
            if (!*where)
                return bad(err, "", "unknown top-level key '%s'", k);
            return bad(err, where, "unknown key '%s'", k);
        }
    }
    return 0;
}

static const char *type_name(const nc_json *v)
{
    if (json_is_object(v))
        return "an object";
    if (json_is_array(v))
        return "an array";
    if (json_is_string(v))
        return "a string";
    if (json_is_number(v))
        return "a number";
    if (json_is_bool(v))
        return "a boolean";
    return "null";
}

/* An optional member: absent or null (Docker's Go structs read null as absent). */
static const nc_json *opt(const nc_json *obj, const char *key)
{
    const nc_json *v = json_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int want_string(const nc_json *v, const char *where, const char **out, nc_error **err)
{
    if (!json_is_string(v))
        return bad(err, where, "expected a string, not %s", type_name(v));
    *out = json_string(v);
    return 0;
}

static int want_array(const nc_json *v, const char *where, nc_error **err)
{
    if (!json_is_array(v))
        return bad(err, where, "expected an array, not %s", type_name(v));
    return 0;
}

static int want_object(const nc_json *v, const char *where, nc_error **err)
{
    if (!json_is_object(v))
        return bad(err, where, "expected an object, not %s", type_name(v));
    return 0;
}

static int want_uint(const nc_json *v, const char *where, uint64_t max, uint64_t *out,
                     nc_error **err)
{
    uint64_t n;
    if (!json_uint64(v, &n) || n > max)
        return bad(err, where, "expected an integer in 0..%llu", (unsigned long long)max);
    *out = n;
    return 0;
}

/* The action named by action_v, with its errno or trace value from errno_v (may be NULL).
 * For the default action, allowing actions are refused, and an errno must not be 0. */
static int parse_action(const nc_json *action_v, const nc_json *errno_v, const char *where_action,
                        const char *where_errno, bool is_default, uint32_t *out, nc_error **err)
{
    const char *name = NULL;
    int r = want_string(action_v, where_action, &name, err);
    if (r < 0)
        return r;
    size_t i = 0;
    while (i < NC_ARRAY_SIZE(actions) && strcmp(actions[i].name, name) != 0)
        i++;
    if (i == NC_ARRAY_SIZE(actions))
        return bad(err, where_action, "unknown action '%s'", name);
    enum act_kind kind = actions[i].kind;
    if (is_default && (kind == ACT_ALLOW || kind == ACT_LOG))
        return bad(err, where_action,
                   "%s lets through every syscall the profile does not name: an allow-by-default "
                   "profile is no sandbox",
                   name);
    if (is_default && kind == ACT_NOTIFY)
        return bad(err, where_action, "SCMP_ACT_NOTIFY cannot be the default action");
    uint64_t e = 1; /* EPERM, as Docker and runc default */
    if (errno_v) {
        if (kind != ACT_ERRNO && kind != ACT_TRACE)
            return bad(err, where_errno, "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s",
                       name);
        r = want_uint(errno_v, where_errno, kind == ACT_TRACE ? SC_MAX_TRACE : SC_MAX_ERRNO, &e,
                      err);
        if (r < 0)
            return r;
        if (is_default && kind == ACT_ERRNO && e == 0)
            return bad(err, where_errno,
                       "0 would report success for every syscall the profile does not name");
    }
    switch (kind) {
    case ACT_KILL:
        *out = SCMP_ACT_KILL;
        break;
    case ACT_KILL_PROCESS:
        *out = SCMP_ACT_KILL_PROCESS;
        break;
    case ACT_KILL_THREAD:
        *out = SCMP_ACT_KILL_THREAD;
        break;
    case ACT_TRAP:
        *out = SCMP_ACT_TRAP;
        break;
    case ACT_ERRNO:
        *out = SCMP_ACT_ERRNO((uint32_t)e);
        break;
    case ACT_TRACE:
        *out = SCMP_ACT_TRACE((uint32_t)e);
        break;
    case ACT_ALLOW:
        *out = SCMP_ACT_ALLOW;
        break;
    case ACT_LOG:
        *out = SCMP_ACT_LOG;
        break;
    case ACT_NOTIFY:
        *out = SCMP_ACT_NOTIFY;
        break;
    default:
        return bad(err, where_action, "unhandled action '%s'", name);
    }
    return 0;
}

/* "N.M" with at most 5 digits each. */
static bool parse_kernel_version(const char *s, unsigned *major, unsigned *minor)
{
    unsigned v[2] = {0, 0};
    for (int part = 0; part < 2; part++) {
        size_t digits = 0;
        while (isdigit((unsigned char)*s) && digits < 6) {
            v[part] = v[part] * 10 + (unsigned)(*s - '0');
            s++;
            digits++;
        }
        if (digits == 0 || digits > 5)
            return false;
        if (part == 0 && *s++ != '.')
            return false;
    }
    if (*s)
        return false;
    *major = v[0];
    *minor = v[1];
    return true;
}

/* Capability names as Docker compares them: upper case with the CAP_ prefix, known to libcap. */
static bool cap_name_ok(const char *name)
{
    if (strncmp(name, "CAP_", 4) != 0)
        return false;
    for (const char *s = name; *s; s++)
        if (!isupper((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
            return false;
    cap_value_t v;
    return cap_from_name(name, &v) == 0;
}

static int parse_cond(const nc_json *v, const char *where, sc_cond *c, nc_error **err)
{
    int r = want_object(v, where, err);
    if (r < 0)
        return r;
    if ((r = check_keys(v, cond_keys, where, err)) < 0)
        return r;
    const nc_json *caps = opt(v, "caps");
    if (caps) {
        _cleanup_free_ char *w = xasprintf("%s.caps", where);
        if ((r = want_array(caps, w, err)) < 0)
            return r;
        for (size_t i = 0; i < json_array_len(caps); i++) {
            _cleanup_free_ char *wi = xasprintf("%s.caps[%zu]", where, i);
            const char *name = NULL;
            if ((r = want_string(json_array_at(caps, i), wi, &name, err)) < 0)
                return r;
            if (!cap_name_ok(name))
                return bad(err, wi, "unknown capability '%s' (expected a name like CAP_SYS_ADMIN)",
                           name);
        }
        c->ncaps = json_array_len(caps);
    }
    const nc_json *arches = opt(v, "arches");
    if (arches) {
        _cleanup_free_ char *w = xasprintf("%s.arches", where);
        if ((r = want_array(arches, w, err)) < 0)
            return r;
        size_t n = json_array_len(arches);
        c->arches = xreallocarray(NULL, n ? n : 1, sizeof(*c->arches));
        for (size_t i = 0; i < n; i++) {
            _cleanup_free_ char *wi = xasprintf("%s.arches[%zu]", where, i);
            const char *name = NULL;
            if ((r = want_string(json_array_at(arches, i), wi, &name, err)) < 0)
                return r;
            if (!goarch_known(name))
                return bad(err, wi,
                           "unknown architecture '%s' (expected a Go name like amd64, arm64, x32)",
                           name);
            c->arches[c->narches++] = name;
        }
    }
    const nc_json *mk = opt(v, "minKernel");
    if (mk) {
        _cleanup_free_ char *w = xasprintf("%s.minKernel", where);
        const char *s = NULL;
        if ((r = want_string(mk, w, &s, err)) < 0)
            return r;
        if (!parse_kernel_version(s, &c->kmajor, &c->kminor))
            return bad(err, w, "'%s' is not a kernel version like \"4.8\"", s);
        c->has_min_kernel = true;
    }
    return 0;
}

static int parse_args(const nc_json *v, const char *where, sc_rule *rule, nc_error **err)
{
    int r = want_array(v, where, err);
    if (r < 0)
        return r;
    size_t n = json_array_len(v);
    rule->args = xreallocarray(NULL, n ? n : 1, sizeof(*rule->args));
    unsigned seen = 0;
    for (size_t i = 0; i < n; i++) {
        const nc_json *a = json_array_at(v, i);
        _cleanup_free_ char *wa = xasprintf("%s[%zu]", where, i);
        if ((r = want_object(a, wa, err)) < 0 || (r = check_keys(a, arg_keys, wa, err)) < 0)
            return r;
        sc_arg *arg = &rule->args[rule->nargs++];
        *arg = (sc_arg){0};
        uint64_t index;
        _cleanup_free_ char *wix = xasprintf("%s.index", wa);
        if (!opt(a, "index"))
            return bad(err, wa, "missing 'index'");
        if (!json_uint64(opt(a, "index"), &index))
            return bad(err, wix, "expected an integer in 0..5");
        if (index > 5)
            return bad(err, wix, "%llu is out of range 0..5 (a syscall has six arguments)",
                       (unsigned long long)index);
        arg->index = (unsigned)index;
        if (seen & (1u << index))
            rule->split = true;
        seen |= 1u << index;
        const char *op = NULL;
        _cleanup_free_ char *wop = xasprintf("%s.op", wa);
        if (!opt(a, "op"))
            return bad(err, wa, "missing 'op'");
        if ((r = want_string(opt(a, "op"), wop, &op, err)) < 0)
            return r;
        size_t k = 0;
        while (k < NC_ARRAY_SIZE(ops) && strcmp(ops[k].name, op) != 0)
            k++;
        if (k == NC_ARRAY_SIZE(ops))
            return bad(err, wop, "unknown operator '%s'", op);
        arg->op = ops[k].op;
        _cleanup_free_ char *wv = xasprintf("%s.value", wa);
        if (!opt(a, "value"))
            return bad(err, wa, "missing 'value'");
        if ((r = want_uint(opt(a, "value"), wv, UINT64_MAX, &arg->value, err)) < 0)
            return r;
        if (opt(a, "valueTwo")) {
            _cleanup_free_ char *wv2 = xasprintf("%s.valueTwo", wa);
            if ((r = want_uint(opt(a, "valueTwo"), wv2, UINT64_MAX, &arg->value_two, err)) < 0)
                return r;
        }
        /* A datum with bits outside the mask never matches: most likely value and valueTwo
         * were swapped, which would silently disable the rule. */
        if (arg->op == SCMP_CMP_MASKED_EQ && (arg->value_two & ~arg->value))
            return bad(err, wa,
                       "valueTwo 0x%llx has bits outside the mask 0x%llx, so the rule never "
                       "matches (for SCMP_CMP_MASKED_EQ, value is the mask and valueTwo the "
                       "datum)",
                       (unsigned long long)arg->value_two, (unsigned long long)arg->value);
    }
    return 0;
}

static bool arches_contain(const sc_cond *c, uint32_t token)
{
    for (size_t i = 0; i < c->narches; i++)
        if (sc_goarch_token(c->arches[i]) == token)
            return true;
    return false;
}

/* Whether includes/excludes.arches let the rule into a filter with this main architecture. */
static bool arch_conds_allow(const sc_rule *r, uint32_t main)
{
    if (r->inc.narches && !arches_contain(&r->inc, main))
        return false;
    if (r->exc.narches && arches_contain(&r->exc, main))
        return false;
    return true;
}

static bool kernel_at_least(unsigned kmajor, unsigned kminor, const sc_cond *c)
{
    return kmajor > c->kmajor || (kmajor == c->kmajor && kminor >= c->kminor);
}

bool sc_rule_applies(const sc_rule *r, uint32_t main, unsigned kmajor, unsigned kminor)
{
    if (!arch_conds_allow(r, main))
        return false;
    /* Every capability is dropped: an include of any never holds, an exclude never bites. */
    if (r->inc.ncaps)
        return false;
    if (r->inc.has_min_kernel && !kernel_at_least(kmajor, kminor, &r->inc))
        return false;
    if (r->exc.has_min_kernel && kernel_at_least(kmajor, kminor, &r->exc))
        return false;
    return true;
}

static void add_unique(uint32_t *set, size_t *n, size_t cap, uint32_t token)
{
    for (size_t i = 0; i < *n; i++)
        if (set[i] == token)
            return;
    if (*n < cap)
        set[(*n)++] = token;
}

/* Every name must be known to libseccomp on every architecture the rule can be compiled for:
 * those of the groups it applies to, and those its includes.arches name. */
static int check_names(const struct sc_model *m, const sc_rule *r, const char *where,
                       nc_error **err)
{
    uint32_t check[SC_MAX_ARCHES]; /* distinct tokens: fewer than libseccomp knows */
    size_t n = 0;
    for (size_t g = 0; g < m->ngroups; g++) {
        if (!arch_conds_allow(r, m->groups[g].arches[0]))
            continue;
        for (size_t a = 0; a < m->groups[g].narches; a++)
            add_unique(check, &n, NC_ARRAY_SIZE(check), m->groups[g].arches[a]);
    }
    for (size_t i = 0; i < r->inc.narches; i++) {
        uint32_t t = sc_goarch_token(r->inc.arches[i]);
        if (t)
            add_unique(check, &n, NC_ARRAY_SIZE(check), t);
    }
    if (n == 0)
        check[n++] = seccomp_arch_native();
    for (size_t i = 0; i < r->nnames; i++) {
        for (size_t a = 0; a < n; a++) {
            if (seccomp_syscall_resolve_name_arch(check[a], r->names[i]) == __NR_SCMP_ERROR) {
                _cleanup_free_ char *w = r->legacy_name ? xasprintf("%s.name", where)
                                                        : xasprintf("%s.names[%zu]", where, i);
                return bad(err, w, "unknown syscall '%s' on %s", r->names[i],
                           sc_arch_name(check[a]));
            }
        }
    }
    return 0;
}

static int parse_rule(const struct sc_model *m, const nc_json *v, size_t idx, bool have_listener,
                      sc_rule *rule, nc_error **err)
{
    _cleanup_free_ char *where = xasprintf("syscalls[%zu]", idx);
    int r = want_object(v, where, err);
    if (r < 0 || (r = check_keys(v, rule_keys, where, err)) < 0)
        return r;
    const nc_json *names = opt(v, "names"), *name = opt(v, "name");
    if (names && name)
        return bad(err, where, "both 'name' and 'names' (use 'names')");
    if (!names && !name)
        return bad(err, where, "missing 'names'");
    if (name) {
        _cleanup_free_ char *w = xasprintf("%s.name", where);
        const char *s = NULL;
        if ((r = want_string(name, w, &s, err)) < 0)
            return r;
        if (!*s)
            return bad(err, w, "empty syscall name");
        rule->names = xmalloc(sizeof(*rule->names));
        rule->names[0] = s;
        rule->nnames = 1;
        rule->legacy_name = true;
    } else {
        _cleanup_free_ char *w = xasprintf("%s.names", where);
        if ((r = want_array(names, w, err)) < 0)
            return r;
        size_t n = json_array_len(names);
        if (n == 0)
            return bad(err, w, "empty list");
        rule->names = xreallocarray(NULL, n, sizeof(*rule->names));
        for (size_t i = 0; i < n; i++) {
            _cleanup_free_ char *wi = xasprintf("%s.names[%zu]", where, i);
            if ((r = want_string(json_array_at(names, i), wi, &rule->names[i], err)) < 0)
                return r;
            if (!*rule->names[i])
                return bad(err, wi, "empty syscall name");
            rule->nnames++;
        }
    }
    const nc_json *action = opt(v, "action");
    if (!action)
        return bad(err, where, "missing 'action'");
    _cleanup_free_ char *wa = xasprintf("%s.action", where);
    _cleanup_free_ char *we = xasprintf("%s.errnoRet", where);
    if ((r = parse_action(action, opt(v, "errnoRet"), wa, we, false, &rule->action, err)) < 0)
        return r;
    if (rule->action == SCMP_ACT_NOTIFY && !have_listener)
        return bad(err, wa, "SCMP_ACT_NOTIFY needs a 'listenerPath'");
    if (opt(v, "args")) {
        _cleanup_free_ char *w = xasprintf("%s.args", where);
        if ((r = parse_args(opt(v, "args"), w, rule, err)) < 0)
            return r;
    }
    if (opt(v, "includes")) {
        _cleanup_free_ char *w = xasprintf("%s.includes", where);
        if ((r = parse_cond(opt(v, "includes"), w, &rule->inc, err)) < 0)
            return r;
    }
    if (opt(v, "excludes")) {
        _cleanup_free_ char *w = xasprintf("%s.excludes", where);
        if ((r = parse_cond(opt(v, "excludes"), w, &rule->exc, err)) < 0)
            return r;
    }
    if (opt(v, "comment")) {
        _cleanup_free_ char *w = xasprintf("%s.comment", where);
        const char *s = NULL;
        if ((r = want_string(opt(v, "comment"), w, &s, err)) < 0)
            return r;
    }
    return check_names(m, rule, where, err);
}

static int add_arch(sc_group *g, const nc_json *v, const char *where, nc_error **err)
{
    const char *name = NULL;
    int r = want_string(v, where, &name, err);
    if (r < 0)
        return r;
    uint32_t t = resolve_arch(name);
    if (!t)
        return bad(err, where, "unknown architecture '%s'", name);
    for (size_t i = 0; i < g->narches; i++)
        if (g->arches[i] == t)
            return bad(err, where, "duplicate architecture '%s'", name);
    if (g->narches == SC_MAX_ARCHES)
        return bad(err, where, "more than %d architectures", SC_MAX_ARCHES);
    g->arches[g->narches++] = t;
    return 0;
}

static int parse_arches(struct sc_model *m, const nc_json *doc, nc_error **err)
{
    const nc_json *list = opt(doc, "architectures"), *map = opt(doc, "archMap");
    int r;
    if (list && map)
        return bad(err, "", "'architectures' and 'archMap' are mutually exclusive");
    if (list) {
        if ((r = want_array(list, "architectures", err)) < 0)
            return r;
    }
    if (map) {
        if ((r = want_array(map, "archMap", err)) < 0)
            return r;
    }
    if (json_array_len(list)) {
        /* One filter with every listed architecture; the native one (when listed) is main. */
        m->groups = xnew0(sc_group);
        m->ngroups = 1;
        for (size_t i = 0; i < json_array_len(list); i++) {
            _cleanup_free_ char *w = xasprintf("architectures[%zu]", i);
            if ((r = add_arch(&m->groups[0], json_array_at(list, i), w, err)) < 0)
                return r;
        }
        sc_group *g = &m->groups[0];
        for (size_t i = 1; i < g->narches; i++) {
            if (g->arches[i] == seccomp_arch_native()) {
                g->arches[i] = g->arches[0];
                g->arches[0] = seccomp_arch_native();
            }
        }
        return 0;
    }
    size_t n = json_array_len(map);
    if (n == 0) {
        m->groups = xnew0(sc_group);
        m->ngroups = 1;
        m->groups[0].arches[0] = seccomp_arch_native();
        m->groups[0].narches = 1;
        return 0;
    }
    m->groups = xreallocarray(NULL, n, sizeof(*m->groups));
    for (size_t i = 0; i < n; i++) {
        const nc_json *e = json_array_at(map, i);
        _cleanup_free_ char *w = xasprintf("archMap[%zu]", i);
        if ((r = want_object(e, w, err)) < 0 || (r = check_keys(e, archmap_keys, w, err)) < 0)
            return r;
        sc_group *g = &m->groups[m->ngroups++];
        *g = (sc_group){0};
        _cleanup_free_ char *wa = xasprintf("%s.architecture", w);
        if (!opt(e, "architecture"))
            return bad(err, w, "missing 'architecture'");
        if ((r = add_arch(g, opt(e, "architecture"), wa, err)) < 0)
            return r;
        for (size_t k = 0; k + 1 < m->ngroups; k++)
            if (m->groups[k].arches[0] == g->arches[0])
                return bad(err, wa, "duplicate architecture '%s'",
                           json_string(opt(e, "architecture")));
        const nc_json *subs = opt(e, "subArchitectures");
        if (subs && !json_is_null(subs)) {
            _cleanup_free_ char *ws = xasprintf("%s.subArchitectures", w);
            if ((r = want_array(subs, ws, err)) < 0)
                return r;
            for (size_t k = 0; k < json_array_len(subs); k++) {
                _cleanup_free_ char *wk = xasprintf("%s[%zu]", ws, k);
                if ((r = add_arch(g, json_array_at(subs, k), wk, err)) < 0)
                    return r;
            }
        }
    }
    return 0;
}

static int parse_flags(struct sc_model *m, const nc_json *v, nc_error **err)
{
    int r = want_array(v, "flags", err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < json_array_len(v); i++) {
        _cleanup_free_ char *w = xasprintf("flags[%zu]", i);
        const char *s = NULL;
        if ((r = want_string(json_array_at(v, i), w, &s, err)) < 0)
            return r;
        size_t k = 0;
        while (k < NC_ARRAY_SIZE(flag_names) && strcmp(flag_names[k].name, s) != 0)
            k++;
        if (k == NC_ARRAY_SIZE(flag_names))
            return bad(err, w, "unknown flag '%s'", s);
        m->flags |= flag_names[k].flag;
    }
    return 0;
}

int sc_parse_model(nc_json *root, struct sc_model **ret, nc_error **err)
{
    _cleanup_(sc_model_freep) struct sc_model *m = xnew0(struct sc_model);
    m->root = root;
    int r;
    if (!json_is_object(root))
        return bad(err, "", "a profile is a JSON object, not %s", type_name(root));
    if (json_object_len(root) == 0)
        return bad(err, "", "empty profile: Docker runs a container given {} without seccomp");
    if ((r = check_keys(root, top_keys, "", err)) < 0)
        return r;
    const nc_json *da = opt(root, "defaultAction");
    if (!da)
        return bad(err, "", "missing 'defaultAction'");
    if ((r = parse_action(da, opt(root, "defaultErrnoRet"), "defaultAction", "defaultErrnoRet",
                          true, &m->default_action, err)) < 0)
        return r;
    if ((r = parse_arches(m, root, err)) < 0)
        return r;
    if (opt(root, "flags") && (r = parse_flags(m, opt(root, "flags"), err)) < 0)
        return r;
    bool have_listener = false;
    static const char *const listener_keys[] = {"listenerPath", "listenerMetadata"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(listener_keys); i++) {
        const nc_json *lv = opt(root, listener_keys[i]);
        const char *s = NULL;
        if (lv && (r = want_string(lv, listener_keys[i], &s, err)) < 0)
            return r;
        if (lv && i == 0)
            have_listener = *s != '\0';
    }
    const nc_json *sys = opt(root, "syscalls");
    if (sys) {
        if ((r = want_array(sys, "syscalls", err)) < 0)
            return r;
        size_t n = json_array_len(sys);
        m->rules = xcalloc(n ? n : 1, sizeof(*m->rules));
        for (size_t i = 0; i < n; i++) {
            m->nrules++;
            if ((r = parse_rule(m, json_array_at(sys, i), i, have_listener, &m->rules[i], err)) < 0)
                return r;
        }
    }
    *ret = TAKE_PTR(m);
    return 0;
}
