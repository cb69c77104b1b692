/* nanocell doctor: what nanocell found on this host and whether it can do its job here. It
 * prints the engine it chose and why, what that engine is and supports, and every problem.
 * Exit status: 0 all is well, 1 problems found, 2 bad configuration, 3 no engine. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "sandbox/mounts.h"
#include "sandbox/prepare.h"
#include "sandbox/seccomp.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/termsafe.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char usage_text[] =
    "usage: nanocell doctor [--config FILE] [--host URI]\n"
    "\n"
    "Checks the configuration, finds the container engine and reports what it\n"
    "supports: API version, OCI runtimes, cgroup version, rootless mode, seccomp,\n"
    "resource limits. Exits 0 when all is well, 1 when problems were found,\n"
    "2 on a configuration error and 3 when no engine answers.\n";

static const char *yes_no(bool b)
{
    return b ? "yes" : "no";
}

/* The sandbox as configured: seccomp profile, mount allowlist, loosened settings. Returns the
 * number of problems. */
static int report_sandbox(const nc_config *cfg)
{
    int problems = 0;
    printf("\nsandbox:\n");
    _cleanup_(seccomp_policy_freep) seccomp_policy *pol = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (sandbox_load_seccomp(&cfg->sandbox, &pol, &err) < 0) {
        printf("problem: seccomp profile: %s\n", nc_error_msg(err));
        problems++;
    } else if (pol) {
        printf("  seccomp   %s: %zu rules, sha256 %.16s...\n", pol->source, pol->nrules,
               pol->digest);
    } else {
        printf("  seccomp   unconfined\n");
    }
    _cleanup_(mount_allowlist_freep) mount_allowlist *allow = NULL;
    nc_error_free(TAKE_PTR(err));
    if (mount_allowlist_load(*cfg->mount_allowlist ? cfg->mount_allowlist : NULL, &allow, &err) < 0)
        printf("  mounts    %s\n", nc_error_msg(err));
    else
        printf("  mounts    allowlist '%s' with %zu root%s\n", allow->source, allow->nroots,
               allow->nroots == 1 ? "" : "s");
    _cleanup_config_ nc_config *hardened = config_defaults();
    _cleanup_strbuf_ strbuf loose = STRBUF_INIT;
    int n = sandbox_settings_loosened(&cfg->sandbox, &hardened->sandbox, &loose);
    for (size_t i = 0; i < cfg->ngroups; i++) {
        _cleanup_strbuf_ strbuf g = STRBUF_INIT;
        if (sandbox_settings_loosened(&cfg->groups[i].sandbox, &hardened->sandbox, &g) > 0) {
            for (char *line = g.buf; line && *line;) {
                char *nl = strchr(line, '\n');
                strbuf_addf(&loose, "group '%s': %.*s\n", cfg->groups[i].name,
                            nl ? (int)(nl - line) : (int)strlen(line), line);
                n++;
                line = nl ? nl + 1 : NULL;
            }
        }
    }
    if (!n)
        printf("  loosened  nothing: every container gets the hardened defaults\n");
    for (char *line = loose.buf; line && *line;) {
        char *nl = strchr(line, '\n');
        printf("  loosened  %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        line = nl ? nl + 1 : NULL;
    }
    return problems;
}

/* Replaces *s with its terminal-safe form (util/termsafe.h), on one line. */
static void make_safe(char **s)
{
    char *safe = termsafe_cstr(*s, 0);
    free(*s);
    *s = safe;
}

/* What the engine reported is printed for a person: no field may drive the terminal. */
static void info_make_safe(engine_info *i)
{
    char **fields[] = {&i->server_version, &i->min_api,        &i->os,
                       &i->kernel,         &i->cgroup_version, &i->cgroup_driver,
                       &i->default_runtime};
    for (size_t k = 0; k < NC_ARRAY_SIZE(fields); k++)
        make_safe(fields[k]);
    for (size_t k = 0; i->runtimes && i->runtimes[k]; k++)
        make_safe(&i->runtimes[k]);
}

static void print_strv(const char *label, char **v, const char *suffix)
{
    printf("%-12s", label);
    for (size_t i = 0; v && v[i]; i++)
        printf("%s%s", i ? ", " : "", v[i]);
    printf("%s%s\n", v ? "" : "(none reported)", suffix ? suffix : "");
}

int cmd_doctor(int argc, char **argv)
{
    cmd_common common = {0};
    int rc = cmd_parse_switch(argc, argv, usage_text, NULL, &common, NULL);
    if (rc != CMD_OPT_HANDLED)
        return rc;
    _cleanup_config_ nc_config *cfg = NULL;
    rc = cmd_load_config(common.config_path, &cfg);
    if (rc)
        return rc;
    printf("%-12s%s\n", "config", cfg->path ? cfg->path : "built-in defaults (no config file)");
    printf("%-12s%s\n", "data dir", cfg->data_dir);
    printf("%-12s%s\n", "install id", cfg->install_id);

    _cleanup_strbuf_ strbuf report = STRBUF_INIT;
    _cleanup_engine_ engine *e = NULL;
    rc = cmd_open_engine(cfg, common.host, &report, &e);
    printf("\nengine candidates:\n");
    for (const char *line = strbuf_str(&report); *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        _cleanup_free_ char *safe = termsafe_str(line, n, 0); /* may quote an engine */
        printf("  %s\n", safe);
        line += n + (nl ? 1 : 0);
    }
    if (rc) {
        printf("\nno engine: start Docker (scripts/engine-up.sh) or Podman "
               "(scripts/podman-up.sh), or point --host / DOCKER_HOST at an engine socket\n");
        return rc;
    }
    _cleanup_error_ nc_error *err = NULL;
    engine_info info = {0};
    if (engine_get_info(e, &info, &err) < 0) {
        log_error("%s", nc_error_msg(err));
        return EXIT_ENGINE;
    }
    info_make_safe(&info);
    int problems = 0;
    printf("\n%-12s%s %s at %s (%s)\n", "engine", engine_kind_name(e->kind),
           info.server_version ? info.server_version : "(version unknown)", e->ep.uri,
           e->ep.source);
    printf("%-12s1.%d in use (engine serves up to 1.%d, from %s)\n", "api", e->api_minor,
           e->server_api, info.min_api ? info.min_api : "?");
    print_strv("runtimes", info.runtimes, NULL);
    printf("%-12s%s\n", "default rt", info.default_runtime ? info.default_runtime : "?");
    printf("%-12sv%s, %s driver\n", "cgroups", info.cgroup_version ? info.cgroup_version : "?",
           info.cgroup_driver ? info.cgroup_driver : "?");
    printf("%-12s%s\n", "rootless", yes_no(info.rootless));
    printf("%-12s%s\n", "seccomp", info.seccomp ? "supported" : "NOT supported");
    printf("%-12smemory %s, swap %s, pids %s, cpu quota %s\n", "limits", yes_no(info.memory_limit),
           yes_no(info.swap_limit), yes_no(info.pids_limit), yes_no(info.cpu_cfs_quota));
    printf("%-12s%s, kernel %s\n", "host", info.os ? info.os : "?",
           info.kernel ? info.kernel : "?");

    problems += report_sandbox(cfg);
    printf("\n");
    const sandbox_settings *sb = &cfg->sandbox;
    if (e->kind == ENGINE_PODMAN && info.cgroup_version && strcmp(info.cgroup_version, "1") == 0 &&
        !sandbox_allows_unenforced(sb, SANDBOX_UNENFORCED_CGROUPNS)) {
        printf("problem: Podman's Docker-compatible API ignores CgroupnsMode and puts containers "
               "in the host's cgroup namespace on cgroup v1: nanocell refuses them unless "
               "sandbox.allow_unenforced includes \"cgroupns\"\n");
        problems++;
    }
    if (!info.seccomp) {
        printf("problem: the engine has no seccomp support: agents cannot be confined\n");
        problems++;
    }
    if (!info.memory_limit || !info.pids_limit) {
        printf(
            "problem: the engine cannot enforce %s%s%s limits\n", info.memory_limit ? "" : "memory",
            !info.memory_limit && !info.pids_limit ? " and " : "", info.pids_limit ? "" : "pids");
        problems++;
    }
    bool limits_waived = sandbox_allows_unenforced(sb, SANDBOX_UNENFORCED_MEMORY) &&
                         sandbox_allows_unenforced(sb, SANDBOX_UNENFORCED_PIDS) &&
                         sandbox_allows_unenforced(sb, SANDBOX_UNENFORCED_CPU) &&
                         sandbox_allows_unenforced(sb, SANDBOX_UNENFORCED_ULIMITS);
    if (info.rootless && e->kind == ENGINE_PODMAN && info.cgroup_version &&
        strcmp(info.cgroup_version, "1") == 0 && !limits_waived) {
        printf("problem: rootless Podman on cgroup v1 accepts memory and pids limits but does "
               "not apply them (nor CPU quotas or ulimits): nanocell refuses its containers "
               "unless sandbox.allow_unenforced waives them\n");
        problems++;
    }
    if (problems)
        printf("%d problem%s found\n", problems, problems > 1 ? "s" : "");
    else
        printf("ok: no problems found\n");
    engine_info_release(&info);
    return problems ? EXIT_AGENT_ERROR : EXIT_OK;
}
