/* nanocell policy check [FILE...]: validates policies the way nanocell loads them.
 * - A .json file is a seccomp profile: parsed, every name resolved with libseccomp for each
 *   architecture, and built into a filter once to prove it compiles.
 * - A .toml file is an egress policy when it has a [model] or [egress] table (proxy/policy.h),
 *   else a mount allowlist.
 * - Without files: the policies the configuration uses, for the global settings and every
 *   group (the built-in or configured seccomp profile, and the mount allowlist when a group
 *   asks for extra mounts), and each group's effective egress policy (its policy file with the
 *   configuration's proxy.allow/deny/allow_private, and proxy.upstream among its upstreams).
 * Exit 0 when every policy is valid, 1 when one is not, 2 on usage errors. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "proxy/policy.h"
#include "sandbox/mounts.h"
#include "sandbox/prepare.h"
#include "sandbox/seccomp.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/toml.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char usage_text[] =
    "usage: nanocell policy check [-c|--config FILE] [POLICY...]\n"
    "\n"
    "Validates seccomp profiles (*.json, Docker's format), mount allowlists (*.toml) and\n"
    "egress policies (*.toml with a [model] or [egress] table, as policies/egress.toml).\n"
    "Without POLICY, checks the policies the configuration uses. Exits 0 when all are\n"
    "valid, 1 when one is not, 2 on usage errors.\n";

static void report_seccomp(const seccomp_policy *p)
{
    printf("ok  seccomp %s: %zu rules, %zu syscall names, architectures", p->source, p->nrules,
           p->nnames);
    for (size_t i = 0; p->architectures && p->architectures[i]; i++)
        printf(" %s", p->architectures[i]);
    printf(", sha256 %s\n", p->digest);
}

static int check_seccomp_file(const char *path)
{
    _cleanup_(seccomp_policy_freep) seccomp_policy *p = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (seccomp_policy_load_file(path, &p, &err) < 0) {
        printf("BAD seccomp %s: %s\n", path, nc_error_msg(err));
        return 1;
    }
    report_seccomp(p);
    return 0;
}

static int check_allowlist_file(const char *path, bool missing_ok)
{
    _cleanup_(mount_allowlist_freep) mount_allowlist *a = NULL;
    _cleanup_error_ nc_error *err = NULL;
    int r = mount_allowlist_load(path, &a, &err);
    if (r == -ENOENT && missing_ok) {
        printf("ok  mount allowlist: %s\n", nc_error_msg(err));
        return 0;
    }
    if (r < 0) {
        printf("BAD mount allowlist %s: %s\n", path ? path : "(default)", nc_error_msg(err));
        return 1;
    }
    _cleanup_free_ char *desc = mount_allowlist_describe(a);
    printf("ok  %s", desc);
    return 0;
}

static int check_egress_file(const char *path)
{
    _cleanup_(egress_policy_freep) egress_policy *p = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (egress_policy_load(path, &p, &err) < 0) {
        printf("BAD egress %s: %s\n", path, nc_error_msg(err));
        return 1;
    }
    _cleanup_free_ char *desc = egress_policy_describe(p);
    printf("ok  %s\n", desc);
    return 0;
}

/* Whether a .toml file is an egress policy: it parses and has a [model] or [egress] table. */
static bool is_egress_file(const char *path)
{
    _cleanup_toml_ toml_node *root = NULL;
    if (toml_parse_file(path, &root, NULL) < 0)
        return false;
    return toml_get(root, "model") || toml_get(root, "egress");
}

static int check_egress_settings(const char *who, const proxy_settings *s)
{
    _cleanup_(egress_policy_freep) egress_policy *p = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (egress_policy_for(s, &p, &err) < 0) {
        printf("BAD egress for %s: %s\n", who, nc_error_msg(err));
        return 1;
    }
    _cleanup_free_ char *desc = egress_policy_describe(p);
    printf("ok  %s (for %s)\n", desc, who);
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int check_settings(const char *who, const sandbox_settings *s)
{
    _cleanup_(seccomp_policy_freep) seccomp_policy *p = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (sandbox_load_seccomp(s, &p, &err) < 0) {
        printf("BAD seccomp for %s: %s\n", who, nc_error_msg(err));
        return 1;
    }
    if (!p)
        printf("ok  seccomp for %s: unconfined (a loosening)\n", who);
    else
        report_seccomp(p);
    return 0;
}

static int check_configured(const nc_config *cfg)
{
    int bad = check_settings("the global settings", &cfg->sandbox);
    bool mounts = cfg->sandbox.mounts != NULL;
    for (size_t i = 0; i < cfg->ngroups; i++) {
        const sandbox_settings *s = &cfg->groups[i].sandbox;
        if (strcmp(s->seccomp_profile, cfg->sandbox.seccomp_profile) != 0) {
            _cleanup_free_ char *who = xasprintf("group '%s'", cfg->groups[i].name);
            bad += check_settings(who, s);
        }
        mounts |= s->mounts != NULL;
    }
    bad += check_allowlist_file(*cfg->mount_allowlist ? cfg->mount_allowlist : NULL, !mounts);
    bad += check_egress_settings("the global settings", &cfg->proxy);
    for (size_t i = 0; i < cfg->ngroups; i++) {
        if (proxy_settings_equal(&cfg->groups[i].proxy, &cfg->proxy))
            continue;
        _cleanup_free_ char *who = xasprintf("group '%s'", cfg->groups[i].name);
        bad += check_egress_settings(who, &cfg->groups[i].proxy);
    }
    return bad;
}

int cmd_policy(int argc, char **argv)
{
    static const struct option opts[] = {CMD_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    cmd_common common = {0};
    int o;
    /* Options may come before and after "check" ("+": stop at the first word). */
    while ((o = getopt_long(argc, argv, "+" CMD_COMMON_SHORT, opts, NULL)) != -1) {
        int rc = cmd_option(o, &common, usage_text);
        if (rc >= 0)
            return rc;
    }
    if (optind >= argc || strcmp(argv[optind], "check") != 0)
        return cmd_usage_error(usage_text);
    optind++;
    while ((o = getopt_long(argc, argv, CMD_COMMON_SHORT, opts, NULL)) != -1) {
        int rc = cmd_option(o, &common, usage_text);
        if (rc >= 0)
            return rc;
    }
    int bad = 0;
    if (optind == argc) {
        _cleanup_config_ nc_config *cfg = NULL;
        int rc = cmd_load_config(common.config_path, &cfg);
        if (rc)
            return rc;
        bad = check_configured(cfg);
    }
    for (int i = optind; i < argc; i++) {
        if (ends_with(argv[i], ".json")) {
            bad += check_seccomp_file(argv[i]);
        } else if (ends_with(argv[i], ".toml") && is_egress_file(argv[i])) {
            bad += check_egress_file(argv[i]);
        } else if (ends_with(argv[i], ".toml")) {
            bad += check_allowlist_file(argv[i], false);
        } else {
            log_error("cannot tell what kind of policy '%s' is: seccomp profiles end in .json, "
                      "mount allowlists in .toml",
                      argv[i]);
            return EXIT_USAGE;
        }
    }
    return bad ? EXIT_AGENT_ERROR : EXIT_OK;
}
