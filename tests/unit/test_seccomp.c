/* src/sandbox/seccomp.c and seccomp_build.c: policies/seccomp/agent.json loads with the
 * expected shape; every profile in tests/policies/bad is refused with its exact message; the
 * canonical form and digest ignore formatting; seccomp_policy_write writes once. Then by
 * effect: a child process loads the agent filter and checks what it allows and denies, and
 * Node.js and CPython (skipped when absent) do real work under it. One test pins down the
 * libseccomp behaviour that the conflict check exists for. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/seccomp.h"
#include "util/fileutil.h"
#include "util/json.h"
#include "util/sha256.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

extern char **environ;

static char *repo_path(const char *rel)
{
    const char *root = getenv("NANOCELL_ROOT");
    return xasprintf("%s/%s", root ? root : ".", rel);
}

/* "SCMP_ARCH_X86_64" on x86_64, "SCMP_ARCH_AARCH64" on aarch64. */
static const char *native_arch(void)
{
    return seccomp_arch_native() == SCMP_ARCH_AARCH64 ? "SCMP_ARCH_AARCH64" : "SCMP_ARCH_X86_64";
}

static seccomp_policy *load_agent(void)
{
    _cleanup_free_ char *path = repo_path("policies/seccomp/agent.json");
    seccomp_policy *p = NULL;
    nc_error *err = NULL;
    if (seccomp_policy_load_file(path, &p, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    return p;
}

static seccomp_policy *load_text_ok(const char *text)
{
    seccomp_policy *p = NULL;
    nc_error *err = NULL;
    if (seccomp_policy_load_text(text, strlen(text), "inline", &p, &err) < 0)
        fail_msg("load '%s': %s", text, nc_error_msg(err));
    return p;
}

static void load_text_fails(const char *text, int code, const char *want)
{
    seccomp_policy *p = NULL;
    _cleanup_error_ nc_error *err = NULL;
    int r = seccomp_policy_load_text(text, strlen(text), "inline", &p, &err);
    assert_null(p);
    if (r != -code || !err || strcmp(err->msg, want) != 0)
        fail_msg("load '%s': got %d '%s', want %d '%s'", text, r, nc_error_msg(err), -code, want);
}

static void test_agent_loads(void **state)
{
    (void)state;
    _cleanup_seccomp_policy_ seccomp_policy *p = load_agent();
    assert_int_equal(p->nrules, 22);
    assert_int_equal(p->nnames, 341);
    assert_non_null(p->architectures);
    assert_string_equal(p->architectures[0], "SCMP_ARCH_X86_64");
    assert_string_equal(p->architectures[1], "SCMP_ARCH_AARCH64");
    assert_null(p->architectures[2]);
    char hex[SHA256_HEX_SIZE];
    sha256_hex(p->canonical, strlen(p->canonical), hex);
    assert_string_equal(p->digest, hex);
    /* Compact and sorted: no layout whitespace, and archMap is the first key. */
    assert_null(strchr(p->canonical, '\n'));
    assert_null(strchr(p->canonical, '\t'));
    assert_non_null(strstr(p->canonical, "{\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\""));
    assert_true(strncmp(p->canonical, "{\"archMap\":", 11) == 0);
}

/* Stricter than the loader, for our own profile only: every name is a real syscall (not one
 * libseccomp merely knows for another architecture) on each architecture its rule is for, so
 * the profile has no dead names. */
static void test_agent_names_exist(void **state)
{
    (void)state;
    _cleanup_free_ char *path = repo_path("policies/seccomp/agent.json");
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    assert_int_equal(read_file(path, SECCOMP_POLICY_MAX_BYTES, &text, NULL), 0);
    _cleanup_json_ nc_json *root = NULL;
    assert_int_equal(json_parse(text.buf, text.len, &root, NULL), 0);
    const nc_json *rules = json_get(root, "syscalls");
    for (size_t i = 0; i < json_array_len(rules); i++) {
        const nc_json *r = json_array_at(rules, i);
        const nc_json *only = json_get(json_get(r, "includes"), "arches");
        bool amd64_only =
            json_array_len(only) == 1 && strcmp(json_string(json_array_at(only, 0)), "amd64") == 0;
        assert_true(!only || amd64_only);
        const nc_json *names = json_get(r, "names");
        for (size_t k = 0; k < json_array_len(names); k++) {
            const char *n = json_string(json_array_at(names, k));
            if (seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, n) < 0)
                fail_msg("syscalls[%zu]: '%s' is not a syscall on x86_64", i, n);
            if (!amd64_only && seccomp_syscall_resolve_name_arch(SCMP_ARCH_AARCH64, n) < 0)
                fail_msg("syscalls[%zu]: '%s' is not a syscall on aarch64 (mark the rule "
                         "amd64-only)",
                         i, n);
        }
    }
}

static const struct {
    const char *file;
    int code;
    const char *msg; /* after "policy 'PATH': " */
} bad_cases[] = {
    {"allow-by-default.json", EINVAL,
     "defaultAction: SCMP_ACT_ALLOW lets through every syscall the profile does not name: an "
     "allow-by-default profile is no sandbox"},
    {"bad-arch.json", EINVAL, "archMap[1].architecture: unknown architecture 'SCMP_ARCH_ARM65'"},
    {"bad-cap.json", EINVAL,
     "syscalls[21].includes.caps[0]: unknown capability 'CAP_SYS_RAWIOO' (expected a name like "
     "CAP_SYS_ADMIN)"},
    {"bad-goarch.json", EINVAL,
     "syscalls[21].includes.arches[0]: unknown architecture 'x86_64' (expected a Go name like "
     "amd64, arm64, x32)"},
    {"bad-min-kernel.json", EINVAL,
     "syscalls[21].includes.minKernel: '5' is not a kernel version like \"4.8\""},
    {"bad-op.json", EINVAL, "syscalls[2].args[0].op: unknown operator 'SCMP_CMP_MASKED_NE'"},
    {"both-arch-keys.json", EINVAL, "'architectures' and 'archMap' are mutually exclusive"},
    {"empty-names.json", EINVAL, "syscalls[4].names: empty list"},
    {"empty-object.json", EINVAL,
     "empty profile: Docker runs a container given {} without seccomp"},
    {"errno-on-allow.json", EINVAL,
     "syscalls[12].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not "
     "SCMP_ACT_ALLOW"},
    {"errno-zero-default.json", EINVAL,
     "defaultErrnoRet: 0 would report success for every syscall the profile does not name"},
    {"index-6.json", EINVAL,
     "syscalls[2].args[0].index: 6 is out of range 0..5 (a syscall has six arguments)"},
    {"log-by-default.json", EINVAL,
     "defaultAction: SCMP_ACT_LOG lets through every syscall the profile does not name: an "
     "allow-by-default profile is no sandbox"},
    {"masked-swapped.json", EINVAL,
     "syscalls[6].args[0]: valueTwo 0xffffffff has bits outside the mask 0x5412, so the rule "
     "never matches (for SCMP_CMP_MASKED_EQ, value is the mask and valueTwo the datum)"},
    {"name-and-names.json", EINVAL, "syscalls[4]: both 'name' and 'names' (use 'names')"},
    {"not-json.json", EINVAL, "invalid json: lexical error: invalid char in json text."},
    {"shadowed-ioctl.json", EINVAL,
     "syscalls[6]: 'ioctl' has an unconditional rule in syscalls[0] and a rule with conditions "
     "and another action in syscalls[6]; libseccomp would silently drop the conditional one"},
    {"trailing-garbage.json", EINVAL, "invalid json: parse error: trailing garbage"},
    {"unknown-action.json", EINVAL, "syscalls[4].action: unknown action 'SCMP_ACT_DENY'"},
    {"unknown-flag.json", EINVAL, "flags[0]: unknown flag 'SECCOMP_FILTER_FLAG_NEW_LISTENER'"},
    {"unknown-key.json", EINVAL, "unknown top-level key 'defaultErrno'"},
    {"unknown-syscall.json", EINVAL,
     "syscalls[0].names[3]: unknown syscall 'not_a_syscall' on x86_64"},
    {"value-too-big.json", EINVAL,
     "syscalls[2].args[0].value: expected an integer in 0..18446744073709551615"},
};

static void test_bad_policies(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = repo_path("tests/policies/bad");
    /* Every file in the directory has a case, so none is skipped by accident. */
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        files++;
        bool found = false;
        for (size_t i = 0; i < NC_ARRAY_SIZE(bad_cases) && !found; i++)
            found = strcmp(bad_cases[i].file, de->d_name) == 0;
        if (!found)
            fail_msg("tests/policies/bad/%s has no expected message", de->d_name);
    }
    closedir(d);
    assert_int_equal(files, NC_ARRAY_SIZE(bad_cases));
    for (size_t i = 0; i < NC_ARRAY_SIZE(bad_cases); i++) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, bad_cases[i].file);
        _cleanup_free_ char *want = xasprintf("policy '%s': %s", path, bad_cases[i].msg);
        seccomp_policy *p = NULL;
        _cleanup_error_ nc_error *err = NULL;
        int r = seccomp_policy_load_file(path, &p, &err);
        assert_null(p);
        if (r != -bad_cases[i].code || !err || strcmp(err->msg, want) != 0)
            fail_msg("%s: got %d '%s', want %d '%s'", bad_cases[i].file, r, nc_error_msg(err),
                     -bad_cases[i].code, want);
    }
}

static void test_refusals_inline(void **state)
{
    (void)state;
    load_text_fails("[]", EINVAL, "policy 'inline': a profile is a JSON object, not an array");
    load_text_fails("{\"syscalls\":[]}", EINVAL, "policy 'inline': missing 'defaultAction'");
    load_text_fails("{\"defaultAction\":\"SCMP_ACT_KILL\",\"defaultErrnoRet\":1}", EINVAL,
                    "policy 'inline': defaultErrnoRet: only valid with SCMP_ACT_ERRNO or "
                    "SCMP_ACT_TRACE, not SCMP_ACT_KILL");
    load_text_fails("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":4096}", EINVAL,
                    "policy 'inline': defaultErrnoRet: expected an integer in 0..4095");
    load_text_fails("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"x86_64\","
                    "\"SCMP_ARCH_X86_64\"]}",
                    EINVAL,
                    "policy 'inline': architectures[1]: duplicate architecture "
                    "'SCMP_ARCH_X86_64'");
    load_text_fails("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
                    "\"action\":\"SCMP_ACT_NOTIFY\"}]}",
                    EINVAL,
                    "policy 'inline': syscalls[0].action: SCMP_ACT_NOTIFY needs a 'listenerPath'");
    load_text_fails("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
                    "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"op\":\"SCMP_CMP_EQ\","
                    "\"value\":-1}]}]}",
                    EINVAL,
                    "policy 'inline': syscalls[0].args[0].value: expected an integer in "
                    "0..18446744073709551615");
    load_text_fails("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
                    "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"op\":\"SCMP_CMP_EQ\","
                    "\"value\":1,\"mask\":2}]}]}",
                    EINVAL, "policy 'inline': syscalls[0].args[0]: unknown key 'mask'");
    load_text_fails("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
                    "\"action\":\"SCMP_ACT_ALLOW\"},{\"names\":[\"read\"],\"action\":"
                    "\"SCMP_ACT_KILL\"}]}",
                    EINVAL,
                    "policy 'inline': syscalls[1]: 'read' already has an unconditional rule with "
                    "another action in syscalls[0]");
    /* The conditional rule has the default action (EPERM both), so it would not even be
     * added; the unconditional allow would still defeat its intent. */
    load_text_fails("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"ioctl\"],"
                    "\"action\":\"SCMP_ACT_ALLOW\"},{\"names\":[\"ioctl\"],\"action\":"
                    "\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":1,\"op\":\"SCMP_CMP_MASKED_EQ\","
                    "\"value\":4294967295,\"valueTwo\":21522}]}]}",
                    EINVAL,
                    "policy 'inline': syscalls[1]: 'ioctl' has an unconditional rule in "
                    "syscalls[0] and a rule with conditions and another action in syscalls[1]; "
                    "libseccomp would silently drop the conditional one");
    /* Too large is refused before parsing. */
    size_t big = SECCOMP_POLICY_MAX_BYTES + 1;
    char *text = xmalloc(big);
    memset(text, ' ', big);
    seccomp_policy *p = NULL;
    _cleanup_error_ nc_error *err = NULL;
    assert_int_equal(seccomp_policy_load_text(text, big, "big", &p, &err), -EFBIG);
    assert_string_equal(err->msg, "policy 'big': larger than 1048576 bytes");
    free(text);
    _cleanup_error_ nc_error *err2 = NULL;
    assert_int_equal(seccomp_policy_load_file("/nonexistent/p.json", &p, &err2), -ENOENT);
    assert_string_equal(err2->msg, "policy '/nonexistent/p.json': open '/nonexistent/p.json': No "
                                   "such file or directory");
}

/* Docker-format features the agent profile does not use, accepted with Docker's meaning. */
static void test_accepted_forms(void **state)
{
    (void)state;
    /* No architecture key: the native one. Legacy "name", nulls read as absent. */
    _cleanup_seccomp_policy_ seccomp_policy *a =
        load_text_ok("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"archMap\":null,\"syscalls\":["
                     "{\"name\":\"read\",\"action\":\"SCMP_ACT_ALLOW\",\"args\":null,"
                     "\"includes\":{},\"excludes\":null,\"comment\":\"\"}]}");
    assert_int_equal(a->nrules, 1);
    assert_int_equal(a->nnames, 1);
    assert_string_equal(a->architectures[0], native_arch());
    assert_null(a->architectures[1]);
    /* Architecture names in any case, with or without the prefix. */
    _cleanup_seccomp_policy_ seccomp_policy *b =
        load_text_ok("{\"defaultAction\":\"SCMP_ACT_KILL_PROCESS\",\"architectures\":["
                     "\"scmp_arch_x86\",\"x86_64\",\"X32\"]}");
#ifdef __x86_64__
    /* The native architecture comes first: includes.arches match against it. */
    assert_string_equal(b->architectures[0], "SCMP_ARCH_X86_64");
    assert_string_equal(b->architectures[1], "SCMP_ARCH_X86");
    assert_string_equal(b->architectures[2], "SCMP_ARCH_X32");
#endif
    /* Docker's capability-gated pairs: with every capability dropped only the second rule
     * applies, so they do not conflict. */
    _cleanup_seccomp_policy_ seccomp_policy *c = load_text_ok(
        "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
        "{\"names\":[\"clone\",\"unshare\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":"
        "[\"CAP_SYS_ADMIN\"]}},"
        "{\"names\":[\"clone\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":"
        "2114060288,\"op\":\"SCMP_CMP_MASKED_EQ\"}],\"excludes\":{\"caps\":[\"CAP_SYS_ADMIN\"],"
        "\"arches\":[\"s390\",\"s390x\"],\"minKernel\":\"99.0\"}},"
        "{\"names\":[\"ptrace\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":"
        "\"4.8\",\"arches\":[\"arm64\",\"amd64\"]}},"
        "{\"names\":[\"socket\"],\"action\":\"SCMP_ACT_TRACE\",\"errnoRet\":7}],"
        "\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"],\"listenerPath\":\"\"}");
    assert_int_equal(c->nrules, 4);
    assert_int_equal(c->nnames, 5);
    scmp_filter_ctx ctx = NULL;
    nc_error *err = NULL;
    if (seccomp_policy_build(c, &ctx, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    seccomp_release(ctx);
    /* A profile for another architecture loads (it compiles for aarch64 here), but cannot be
     * built for loading on this machine. */
    _cleanup_seccomp_policy_ seccomp_policy *d =
        load_text_ok("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"archMap\":[{\"architecture\":"
                     "\"SCMP_ARCH_AARCH64\",\"subArchitectures\":[\"SCMP_ARCH_ARM\"]}],"
                     "\"syscalls\":[{\"names\":[\"openat\",\"arm_fadvise64_64\"],\"action\":"
                     "\"SCMP_ACT_ALLOW\"}]}");
    assert_string_equal(d->architectures[0], "SCMP_ARCH_AARCH64");
    assert_string_equal(d->architectures[1], "SCMP_ARCH_ARM");
#ifdef __x86_64__
    _cleanup_error_ nc_error *e2 = NULL;
    assert_int_equal(seccomp_policy_build(d, &ctx, &e2), -ENOTSUP);
    assert_string_equal(e2->msg, "policy 'inline': does not cover the native architecture x86_64");
#endif
}

static int load_many_conditions(int n, bool distinct_high_words, nc_error **err)
{
    _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":"
                       "[\"socket\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[");
    for (int i = 0; i < n; i++) {
        uint64_t v = distinct_high_words ? (uint64_t)i << 32 | (uint64_t)i : (uint64_t)i * 7;
        strbuf_addf(&sb, "%s{\"index\":0,\"op\":\"SCMP_CMP_EQ\",\"value\":%llu}", i ? "," : "",
                    (unsigned long long)v);
    }
    strbuf_addstr(&sb, "]}]}");
    seccomp_policy *p = NULL;
    int r = seccomp_policy_load_text(sb.buf, sb.len, "big", &p, err);
    seccomp_policy_free(p);
    return r;
}

/* A filter past the kernel's 4096 instructions is refused at load, not at container start;
 * so is one with so many conditions that it cannot fit, before libseccomp spends time on it. */
static void test_too_many_instructions(void **state)
{
    (void)state;
    _cleanup_error_ nc_error *err = NULL;
    /* Distinct high words cost two instructions per condition: ~4800 in all. */
    assert_int_equal(load_many_conditions(1200, true, &err), -E2BIG);
    if (!strstr(err->msg, "instructions, more than the kernel's limit of 4096"))
        fail_msg("%s", err->msg);
    _cleanup_error_ nc_error *err2 = NULL;
    assert_int_equal(load_many_conditions(5000, false, &err2), -E2BIG);
    if (!strstr(err2->msg, ": more than 4096 rules and conditions to compile; the kernel takes "
                           "at most 4096 instructions"))
        fail_msg("%s", err2->msg);
    /* Well under: 600 conditions compile. */
    assert_int_equal(load_many_conditions(600, true, NULL), 0);
}

static void test_canonical_and_digest(void **state)
{
    (void)state;
    const char *a = "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,"
                    "\"architectures\":[\"SCMP_ARCH_X86_64\"],\"syscalls\":[{\"names\":"
                    "[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\"},{\"names\":[\"ioctl\"],"
                    "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1,\"args\":[{\"index\":1,"
                    "\"value\":4294967295,\"valueTwo\":21522,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]}";
    const char *b = "{\n  \"syscalls\": [\n    {\"action\": \"SCMP_ACT_ALLOW\",\n"
                    "     \"names\": [\"read\", \"write\"]},\n"
                    "    {\"args\": [{\"op\": \"SCMP_CMP_MASKED_EQ\", \"valueTwo\": 21522,\n"
                    "               \"value\": 4294967295, \"index\": 1}],\n"
                    "     \"errnoRet\": 1, \"action\": \"SCMP_ACT_ERRNO\",\n"
                    "     \"names\": [\"io\\u0063tl\"]}\n  ],\n"
                    "  \"architectures\" : [ \"SCMP_ARCH_X86_64\" ],\n"
                    "  \"defaultErrnoRet\" : 38,\t\"defaultAction\":\"SCMP_ACT_ERRNO\"\n}\n";
    const char *c = "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,"
                    "\"architectures\":[\"SCMP_ARCH_X86_64\"],\"syscalls\":[{\"names\":"
                    "[\"write\",\"read\"],\"action\":\"SCMP_ACT_ALLOW\"},{\"names\":[\"ioctl\"],"
                    "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1,\"args\":[{\"index\":1,"
                    "\"value\":4294967295,\"valueTwo\":21522,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]}";
    _cleanup_seccomp_policy_ seccomp_policy *pa = load_text_ok(a);
    _cleanup_seccomp_policy_ seccomp_policy *pb = load_text_ok(b);
    _cleanup_seccomp_policy_ seccomp_policy *pc = load_text_ok(c);
    assert_string_equal(pa->canonical, pb->canonical);
    assert_string_equal(pa->digest, pb->digest);
    assert_string_equal(pa->canonical,
                        "{\"architectures\":[\"SCMP_ARCH_X86_64\"],\"defaultAction\":"
                        "\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,\"syscalls\":[{\"action\":"
                        "\"SCMP_ACT_ALLOW\",\"names\":[\"read\",\"write\"]},{\"action\":"
                        "\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":1,\"op\":\"SCMP_CMP_MASKED_EQ\","
                        "\"value\":4294967295,\"valueTwo\":21522}],\"errnoRet\":1,\"names\":"
                        "[\"ioctl\"]}]}");
    /* Array order is meaning (Docker adds rules in order), so it changes the digest. */
    assert_string_not_equal(pa->digest, pc->digest);
    /* Loading the canonical form again is a fixed point. */
    _cleanup_seccomp_policy_ seccomp_policy *agent = load_agent();
    _cleanup_seccomp_policy_ seccomp_policy *again = load_text_ok(agent->canonical);
    assert_string_equal(agent->canonical, again->canonical);
    assert_string_equal(agent->digest, again->digest);
}

static void test_write_once(void **state)
{
    (void)state;
    _cleanup_seccomp_policy_ seccomp_policy *p = load_agent();
    char tmp[] = "/tmp/nc-seccomp-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    _cleanup_free_ char *dir = xasprintf("%s/profiles/seccomp", tmp);
    _cleanup_free_ char *want = xasprintf("%s/%s.json", dir, p->digest);
    nc_error *err = NULL;
    mode_t old_umask = umask(077);
    char *path = NULL;
    if (seccomp_policy_write(p, dir, 0644, &path, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    umask(old_umask);
    assert_string_equal(path, want);
    struct stat st1, st2;
    assert_int_equal(stat(path, &st1), 0);
    assert_int_equal(st1.st_mode & 07777, 0644);
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    assert_int_equal(read_file(path, SECCOMP_POLICY_MAX_BYTES, &body, NULL), 0);
    assert_string_equal(body.buf, p->canonical);
    char hex[SHA256_HEX_SIZE];
    sha256_hex(body.buf, body.len, hex);
    assert_string_equal(hex, p->digest);
    free(path);

    /* Already there: reused, not rewritten (same inode), with the mode asked for now. */
    path = NULL;
    assert_int_equal(seccomp_policy_write(p, dir, 0600, &path, NULL), 0);
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino);
    assert_int_equal(st2.st_mode & 07777, 0600);
    free(path);

    /* A damaged copy is replaced. */
    assert_int_equal(truncate(want, 10), 0);
    path = NULL;
    assert_int_equal(seccomp_policy_write(p, dir, 0600, &path, NULL), 0);
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st2.st_mode & 07777, 0600);
    strbuf_reset(&body);
    assert_int_equal(read_file(path, SECCOMP_POLICY_MAX_BYTES, &body, NULL), 0);
    assert_string_equal(body.buf, p->canonical);
    free(path);

    unlink(want);
    rmdir(dir);
    _cleanup_free_ char *mid = xasprintf("%s/profiles", tmp);
    rmdir(mid);
    rmdir(tmp);
}

/* ---- by effect ---------------------------------------------------------------------------- */

typedef void (*child_fn)(int out, void *arg);

/* Reads what the child wrote until EOF (bounded), then reaps it. Returns its wait status. */
static int reap(pid_t pid, int fd, strbuf *out)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (out->len < 256 * 1024)
            strbuf_add(out, buf, (size_t)n);
    }
    close(fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

/* Runs fn in a child under the filter built from p (no_new_privs first, as the native fallback
 * will) and fails the test with the child's report unless it exits 0. */
static void run_filtered(const seccomp_policy *p, child_fn fn, void *arg, const char *what)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        alarm(120); /* survives exec: a hung runtime cannot hang the suite */
        scmp_filter_ctx ctx = NULL;
        nc_error *err = NULL;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
            dprintf(fds[1], "FAIL prctl: %s\n", strerror(errno));
            _exit(100);
        }
        if (seccomp_policy_build(p, &ctx, &err) < 0) {
            dprintf(fds[1], "FAIL build: %s\n", nc_error_msg(err));
            _exit(100);
        }
        int r = seccomp_load(ctx);
        if (r < 0) {
            dprintf(fds[1], "FAIL seccomp_load: %s\n", strerror(-r));
            _exit(100);
        }
        fn(fds[1], arg);
        _exit(100); /* fn exits */
    }
    close(fds[1]);
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    int status = reap(pid, fds[0], &out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s under the agent filter: %s %d; output:\n%s", what,
                 WIFEXITED(status) ? "exit" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), strbuf_str(&out));
}

static int nfail;

/* Names the check about to run, so a check that kills the child is identified. */
static void trying(int out, const char *what)
{
    dprintf(out, "try %s\n", what);
}

static void check(int out, const char *what, bool ok, long r, int e)
{
    if (!ok) {
        nfail++;
        dprintf(out, "FAIL %s: returned %ld, errno %d (%s)\n", what, r, e, strerror(e));
    }
}

#define EXPECT_ERRNO(what, call, want)                                                             \
    do {                                                                                           \
        trying(out, what);                                                                         \
        errno = 0;                                                                                 \
        long r_ = (long)(call);                                                                    \
        int e_ = errno;                                                                            \
        check(out, what, r_ == -1 && e_ == (want), r_, e_);                                        \
        if (r_ >= 0 && r_ > 2)                                                                     \
            close((int)r_);                                                                        \
    } while (0)

#define EXPECT_OK(what, call)                                                                      \
    do {                                                                                           \
        trying(out, what);                                                                         \
        errno = 0;                                                                                 \
        long r_ = (long)(call);                                                                    \
        int e_ = errno;                                                                            \
        check(out, what, r_ >= 0, r_, e_);                                                         \
    } while (0)

static void *thread_fn(void *arg)
{
    return arg;
}

static void agent_checks(int out, void *arg)
{
    (void)arg;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        _exit(101);
    char c = 'x';
    int n = 0;

    /* Calls the profile turns into ENOSYS, so runtimes fall back. */
    char params[120] = {0}; /* struct io_uring_params */
    EXPECT_ERRNO("io_uring_setup", syscall(__NR_io_uring_setup, 1, params), ENOSYS);
    /* NULL, 0: if the filter let clone3 through, the kernel would answer EINVAL. */
    EXPECT_ERRNO("clone3", syscall(__NR_clone3, NULL, 0), ENOSYS);
    struct timex tx = {0};
    EXPECT_ERRNO("adjtimex (not named by the profile)", adjtimex(&tx), ENOSYS);
    EXPECT_ERRNO("personality(ADDR_NO_RANDOMIZE)", personality(ADDR_NO_RANDOMIZE), ENOSYS);
#ifdef __x86_64__
    /* x32 numbers (bit 30) on the x86_64 ABI: libseccomp's bad-architecture action kills. */
    pid_t x = fork();
    if (x == 0) {
        syscall(0x40000000 | __NR_getpid);
        _exit(0);
    }
    int xs = 0;
    check(out, "x32 getpid is killed",
          x > 0 && waitpid(x, &xs, 0) == x && WIFSIGNALED(xs) && WTERMSIG(xs) == SIGSYS, x, xs);
#endif

    /* Named denials: EPERM. */
    EXPECT_ERRNO("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER), EPERM);
    EXPECT_ERRNO("setns", setns(0, 0), EPERM);
    EXPECT_ERRNO("ptrace(PTRACE_TRACEME)", ptrace(PTRACE_TRACEME, 0, NULL, NULL), EPERM);
    struct iovec iov = {&c, 1};
    EXPECT_ERRNO("process_vm_readv", process_vm_readv(getppid(), &iov, 1, &iov, 1, 0), EPERM);
    EXPECT_ERRNO("keyctl", syscall(__NR_keyctl, 0 /* GET_KEYRING_ID */, -3, 0), EPERM);
    /* Keyring 0 is invalid: the kernel itself would answer EINVAL, never add a key. */
    EXPECT_ERRNO("add_key", syscall(__NR_add_key, "user", "k", "v", 1, 0), EPERM);
    EXPECT_ERRNO("bpf", syscall(__NR_bpf, 0, NULL, 0), EPERM);
    EXPECT_ERRNO("userfaultfd", syscall(__NR_userfaultfd, 0), EPERM);
    EXPECT_ERRNO("mount", mount("none", "/nonexistent-nanocell", "tmpfs", 0, NULL), EPERM);
    EXPECT_ERRNO("chroot", chroot("/"), EPERM);
    EXPECT_ERRNO("name_to_handle_at", syscall(__NR_name_to_handle_at, AT_FDCWD, "/", NULL, NULL, 0),
                 EPERM);

    /* ioctl: TIOCSTI and TIOCLINUX denied on the low 32 bits (on a pipe, so that nothing can
     * reach a terminal if the filter failed: the kernel would say ENOTTY), the rest allowed. */
    EXPECT_ERRNO("ioctl TIOCSTI", ioctl(p[0], TIOCSTI, &c), EPERM);
    EXPECT_ERRNO("ioctl TIOCSTI | 1 << 32", syscall(__NR_ioctl, p[0], 0x100005412UL, &c), EPERM);
    EXPECT_ERRNO("ioctl TIOCSTI | 0xffffffff00000000",
                 syscall(__NR_ioctl, p[0], 0xffffffff00005412UL, &c), EPERM);
    EXPECT_ERRNO("ioctl TIOCLINUX", ioctl(p[0], TIOCLINUX, &c), EPERM);
    EXPECT_OK("ioctl FIONREAD (0x541B, next to TIOCLINUX)", ioctl(p[0], FIONREAD, &n));
    EXPECT_OK("ioctl FIONREAD | 1 << 32", syscall(__NR_ioctl, p[0], 0x10000541BUL, &n));
    EXPECT_OK("ioctl FIOCLEX", ioctl(p[0], FIOCLEX));
    /* Neighbours of both denied commands reach the kernel, which answers ENOTTY on a pipe. */
    static const unsigned long near[] = {0x5411,       0x5413,         0x541D, 0x5402,
                                         0x5410,       0x5418,         0x5416, 0x80045430UL,
                                         0x40045431UL, 0x5412 ^ 0x8000};
    for (size_t i = 0; i < NC_ARRAY_SIZE(near); i++) {
        char what[64];
        snprintf(what, sizeof(what), "ioctl 0x%lx", near[i]);
        EXPECT_ERRNO(what, syscall(__NR_ioctl, p[0], near[i], &n), ENOTTY);
    }

    /* socket: AF_UNIX, AF_INET, AF_NETLINK/NETLINK_ROUTE; the rest EAFNOSUPPORT. */
    EXPECT_OK("socket(AF_INET)", socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_OK("socket(AF_UNIX)", socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    EXPECT_OK("socket(AF_NETLINK, NETLINK_ROUTE)",
              socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    EXPECT_ERRNO("socket(AF_NETLINK, NETLINK_AUDIT)",
                 socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT), EPROTONOSUPPORT);
    EXPECT_ERRNO("socket(AF_PACKET)", socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0), EAFNOSUPPORT);
    EXPECT_ERRNO("socket(AF_VSOCK)", socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0), EAFNOSUPPORT);
    EXPECT_ERRNO("socket(AF_ALG)", socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), EAFNOSUPPORT);
    EXPECT_ERRNO("socket(AF_KEY)", socket(AF_KEY, SOCK_RAW | SOCK_CLOEXEC, 2), EAFNOSUPPORT);
    EXPECT_ERRNO("socket(AF_INET | 1 << 32)",
                 syscall(__NR_socket, 0x100000002UL, SOCK_STREAM | SOCK_CLOEXEC, 0), EAFNOSUPPORT);
    EXPECT_ERRNO("socket(46)", socket(46, SOCK_STREAM, 0), EAFNOSUPPORT);
    int sv[2];
    EXPECT_OK("socketpair(AF_UNIX)", socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    EXPECT_ERRNO("socketpair(AF_INET)", socketpair(AF_INET, SOCK_STREAM, 0, sv), EAFNOSUPPORT);

    /* clone: no namespace flags. If the filter let it through, the new child leaves at once. */
    long cr = syscall(__NR_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
    if (cr == 0)
        _exit(0);
    if (cr > 0)
        waitpid((pid_t)cr, NULL, 0);
    check(out, "clone(CLONE_NEWNS)", cr == -1 && errno == EPERM, cr, errno);
    cr = syscall(__NR_clone, CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
    if (cr == 0)
        _exit(0);
    if (cr > 0)
        waitpid((pid_t)cr, NULL, 0);
    check(out, "clone(CLONE_NEWUSER|CLONE_NEWPID)", cr == -1 && errno == EPERM, cr, errno);
    pid_t f = fork();
    if (f == 0)
        _exit(7);
    int st = 0;
    check(out, "fork", f > 0 && waitpid(f, &st, 0) == f && WIFEXITED(st) && WEXITSTATUS(st) == 7, f,
          errno);
    /* glibc creates threads and posix_spawn children with clone3 and falls back to clone on
     * ENOSYS. */
    pthread_t t;
    void *tr = NULL;
    int pe = pthread_create(&t, NULL, thread_fn, &c);
    check(out, "pthread_create", pe == 0 && pthread_join(t, &tr) == 0 && tr == &c, pe, pe);
    pid_t sp;
    char *argv[] = {"/bin/true", NULL};
    pe = posix_spawn(&sp, "/bin/true", NULL, NULL, argv, environ);
    check(out, "posix_spawn /bin/true",
          pe == 0 && waitpid(sp, &st, 0) == sp && WIFEXITED(st) && WEXITSTATUS(st) == 0, pe, pe);
    EXPECT_OK("personality query", personality(0xffffffff));
    EXPECT_OK("getrandom", getrandom(&c, 1, 0));
    dprintf(out, "%d failed\n", nfail);
    _exit(nfail ? 1 : 0);
}

static void test_filter_by_effect(void **state)
{
    (void)state;
    _cleanup_seccomp_policy_ seccomp_policy *p = load_agent();
    run_filtered(p, agent_checks, NULL, "checks");
}

/* What the conflict check relies on: libseccomp keeps one decision tree per syscall, and an
 * unconditional rule wipes out that syscall's conditional rules, in either order, whatever
 * their actions. If a libseccomp update changes this, revisit check_conflicts(). */
static void raw_child(int out, void *arg)
{
    (void)out;
    int order = *(int *)arg;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    struct scmp_arg_cmp tiocsti = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffff, TIOCSTI);
    if (order == 0) {
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EIO), SCMP_SYS(ioctl), 0);
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, tiocsti);
    } else {
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, tiocsti);
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EIO), SCMP_SYS(ioctl), 0);
    }
    if (seccomp_load(ctx) < 0)
        _exit(2);
    int p[2];
    char c = 0;
    if (pipe(p) < 0)
        _exit(3);
    errno = 0;
    /* EIO: the conditional EPERM rule is gone. */
    _exit(ioctl(p[0], TIOCSTI, &c) == -1 && errno == EIO ? 0 : 1);
}

static void test_libseccomp_unconditional_wins(void **state)
{
    (void)state;
    for (int order = 0; order < 2; order++) {
        int fds[2];
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                _exit(4);
            raw_child(fds[1], &order);
        }
        close(fds[1]);
        _cleanup_strbuf_ strbuf out = STRBUF_INIT;
        int status = reap(pid, fds[0], &out);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("order %d: libseccomp no longer lets an unconditional rule replace the "
                     "conditional ones (status 0x%x)",
                     order, status);
    }
}

/* ---- runtimes ----------------------------------------------------------------------------- */

static bool in_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    _cleanup_free_ char *copy = xstrdup(path);
    for (char *s = copy, *end; s; s = end ? end + 1 : NULL) {
        end = strchr(s, ':');
        if (end)
            *end = '\0';
        _cleanup_free_ char *full = xasprintf("%s/%s", *s ? s : ".", prog);
        if (access(full, X_OK) == 0)
            return true;
    }
    return false;
}

typedef struct runtime_job {
    const char *prog;
    const char *flag;
    char *script;
    const char *env; /* NAME=VALUE to add, or NULL */
} runtime_job;

static void exec_runtime(int out, void *arg)
{
    (void)out;
    runtime_job *j = arg;
    char *argv[] = {(char *)j->prog, (char *)j->flag, j->script, NULL};
    if (j->env)
        putenv((char *)j->env);
    execvp(j->prog, argv);
    dprintf(2, "FAIL exec %s: %s\n", j->prog, strerror(errno));
    _exit(127);
}

static void run_runtime(const char *prog, const char *flag, const char *script, const char *env)
{
    if (!in_path(prog)) {
        print_message("%s not found in PATH: skipped\n", prog);
        skip();
    }
    _cleanup_free_ char *path = repo_path(script);
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    nc_error *err = NULL;
    if (read_file(path, 1 << 20, &text, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    _cleanup_seccomp_policy_ seccomp_policy *p = load_agent();
    runtime_job j = {prog, flag, text.buf, env};
    run_filtered(p, exec_runtime, &j, prog);
}

static void test_node_under_filter(void **state)
{
    (void)state;
    run_runtime("node", "-e", "tests/policies/workloads/node.js", NULL);
}

/* libuv 1.45+ probes io_uring when asked to (Node 20.3+ only then): it must get ENOSYS and
 * fall back to epoll, not die. */
static void test_node_io_uring_probe(void **state)
{
    (void)state;
    run_runtime("node", "-e", "tests/policies/workloads/node.js", "UV_USE_IO_URING=1");
}

static void test_python_under_filter(void **state)
{
    (void)state;
    run_runtime("python3", "-c", "tests/policies/workloads/python.py", NULL);
}

/* The OCI form Podman generates from a profile (its bundle's config.json, linux.seccomp) is
 * accepted when it holds exactly the rules that apply on this host, in order; every kind of
 * difference is refused and named. */
static void test_matches_oci(void **state)
{
    (void)state;
    bool arm = seccomp_arch_native() == SCMP_ARCH_AARCH64;
    const char *here = arm ? "arm64" : "amd64", *other = arm ? "amd64" : "arm64";
    _cleanup_free_ char *profile = xasprintf(
        "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,\"syscalls\":["
        "{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\"},"
        "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":[\"%s\"]}},"
        "{\"names\":[\"gettid\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":[\"%s\"]}},"
        "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,"
        "\"value\":0,\"valueTwo\":0,\"op\":\"SCMP_CMP_EQ\"}]},"
        "{\"names\":[\"kill\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}",
        here, other);
    seccomp_policy *p = NULL;
    nc_error *err = NULL;
    if (seccomp_policy_load_text(profile, strlen(profile), "oci-test", &p, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    const char *rw = "{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\"}";
    const char *pid = "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\"}";
    const char *tid = "{\"names\":[\"gettid\"],\"action\":\"SCMP_ACT_ALLOW\"}";
    const char *pers = "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{"
                       "\"index\":0,\"value\":0,\"op\":\"SCMP_CMP_EQ\"}]}";
    const char *pers1 = "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{"
                        "\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}";
    const char *kill1 = "{\"names\":[\"kill\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}";
    const char *kill2 = "{\"names\":[\"kill\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":2}";
    const char *killa = "{\"names\":[\"kill\"],\"action\":\"SCMP_ACT_ALLOW\"}";
    _cleanup_free_ char *arch = xasprintf("\"%s\"", native_arch());
    _cleanup_free_ char *arches =
        xasprintf("\"%s\",\"%s\"", native_arch(), arm ? "SCMP_ARCH_X86_64" : "SCMP_ARCH_AARCH64");
    const struct {
        const char *dflt, *arches, *r[6], *why; /* why: NULL = accepted */
    } cases[] = {
        {"SCMP_ACT_ERRNO", arch, {rw, pid, pers, kill1}, NULL},
        {"SCMP_ACT_ERRNO", arch, {rw, pid, kill1}, "syscalls[2] has other names"},
        {"SCMP_ACT_ERRNO", arch, {rw, pid, pers}, "profile rule syscalls[4] is missing"},
        {"SCMP_ACT_ERRNO", arch, {rw, pid, tid, pers, kill1}, "syscalls[2] has other names"},
        {"SCMP_ACT_ERRNO", arch, {rw, pid, pers, kill1, tid}, "1 rules more than the profile's"},
        {"SCMP_ACT_ERRNO", arch, {rw, pid, pers1, kill1}, "syscalls[2] has other args"},
        {"SCMP_ACT_ERRNO", arch, {rw, pid, pers, kill2}, "syscalls[3] has other errnoRet"},
        {"SCMP_ACT_ERRNO", arch, {rw, pid, pers, killa}, "syscalls[3] has other action"},
        {"SCMP_ACT_ALLOW", arch, {rw, pid, pers, kill1}, "defaultAction 'SCMP_ACT_ALLOW'"},
        {"SCMP_ACT_ERRNO", arches, {rw, pid, pers, kill1}, "is not one the profile names"},
        {"SCMP_ACT_ERRNO", "", {rw, pid, pers, kill1}, "is not listed"},
    };
    for (size_t i = 0; i < NC_ARRAY_SIZE(cases); i++) {
        strbuf oci = STRBUF_INIT;
        strbuf_addf(&oci,
                    "{\"defaultAction\":\"%s\",\"defaultErrnoRet\":38,\"architectures\":[%s],"
                    "\"syscalls\":[",
                    cases[i].dflt, cases[i].arches);
        for (size_t k = 0; cases[i].r[k]; k++)
            strbuf_addf(&oci, "%s%s", k ? "," : "", cases[i].r[k]);
        strbuf_addstr(&oci, "]}");
        nc_json *doc = NULL;
        assert_int_equal(json_parse(oci.buf, oci.len, &doc, NULL), 0);
        char *why = NULL;
        bool same = seccomp_policy_matches_oci(p, doc, &why);
        if (cases[i].why ? same || !why || !strstr(why, cases[i].why) : !same)
            fail_msg("case %zu: %s: %s", i, same ? "accepted" : "refused", why ? why : "");
        free(why);
        json_free(doc);
        strbuf_release(&oci);
    }
    char *why = NULL;
    assert_false(seccomp_policy_matches_oci(p, NULL, &why));
    assert_string_equal(why, "no seccomp section");
    free(why);
    seccomp_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_loads),
        cmocka_unit_test(test_agent_names_exist),
        cmocka_unit_test(test_bad_policies),
        cmocka_unit_test(test_refusals_inline),
        cmocka_unit_test(test_accepted_forms),
        cmocka_unit_test(test_too_many_instructions),
        cmocka_unit_test(test_canonical_and_digest),
        cmocka_unit_test(test_write_once),
        cmocka_unit_test(test_matches_oci),
        cmocka_unit_test(test_filter_by_effect),
        cmocka_unit_test(test_libseccomp_unconditional_wins),
        cmocka_unit_test(test_node_under_filter),
        cmocka_unit_test(test_node_io_uring_probe),
        cmocka_unit_test(test_python_under_filter),
    };
    return cmocka_run_group_tests_name("seccomp", tests, NULL, NULL);
}
