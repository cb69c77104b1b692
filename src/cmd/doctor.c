/* nanocell doctor: what nanocell found on this host and whether it can do its job here. It
 * prints the engine it chose and why (with every candidate address and its state), what that
 * engine is and supports, and checks what `run` will need, for every group: the image on the
 * engine, the OCI runtime, the seccomp profile, the extra mounts and their allowlist, and the
 * hardening this engine can enforce; and the channels' secrets and where they are sent.
 * Exit status: 0 all is well, 1 problems found, 2 bad configuration, 3 no engine. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/image.h"
#include "agent/turn.h"
#include "channels/checks.h"
#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "engine/container.h"
#include "engine/libpod.h"
#include "sandbox/mounts.h"
#include "orch/owner.h"
#include "proxy/credential.h"
#include "proxy/policy.h"
#include "sandbox/prepare.h"
#include "sandbox/runtime.h"
#include "sandbox/seccomp.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/termsafe.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char usage_text[] =
    "usage: nanocell doctor [-c|--config FILE] [-H|--host URI] [-j|--json]\n"
    "\n"
    "Checks the configuration, finds the container engine (listing every candidate\n"
    "address and its state) and reports what it supports: API version, OCI runtimes,\n"
    "cgroup version, rootless mode, seccomp, resource limits. Then checks what\n"
    "'nanocell run' will need, for every group: the agent image on the engine, the\n"
    "OCI runtime, the seccomp profile, the extra mounts and their allowlist; and the\n"
    "channels: the Telegram token file (0600, ours), https for the Bot API and the\n"
    "hooks' urls (plain http only to this host), the hooks' secrets.\n"
    "\n"
    "  -j, --json     one JSON object: config, engine, candidates, checks\n"
    "\n"
    "Exits 0 when all is well (warnings allowed), 1 when problems were found,\n"
    "2 on a configuration error and 3 when no engine answers.\n";

typedef enum check_status { CHECK_OK, CHECK_WARN, CHECK_PROBLEM } check_status;

static const char *const status_names[] = {"ok", "warn", "problem"};

struct check {
    check_status status;
    char *text;
};

struct doctor {
    bool json;
    struct check *checks;
    size_t nchecks;
    size_t problems;
};

static void add_check(struct doctor *d, check_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_check(struct doctor *d, check_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    d->checks = xreallocarray(d->checks, d->nchecks + 1, sizeof(*d->checks));
    d->checks[d->nchecks++] = (struct check){st, text};
    if (st == CHECK_PROBLEM)
        d->problems++;
}

static void doctor_release(struct doctor *d)
{
    for (size_t i = 0; i < d->nchecks; i++)
        free(d->checks[i].text);
    free(d->checks);
}

static const char *yes_no(bool b)
{
    return b ? "yes" : "no";
}

/* Prints each line of text with the given prefix. */
static void print_lines(const char *prefix, const char *text)
{
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        _cleanup_free_ char *safe = termsafe_str(line, n, 0); /* may quote an engine */
        printf("%s%s\n", prefix, safe);
        line += n + (nl ? 1 : 0);
    }
}

/* "group 'x': " for a group's settings, "" for the global ones. */
static char *scope_of(const nc_group_config *g)
{
    return g ? xasprintf("group '%s': ", g->name) : xstrdup("");
}

/* The sandbox settings of the global config (g NULL) or of a group. Groups whose value equals
 * the global one are not checked again. */
static const sandbox_settings *settings_of(const nc_config *cfg, const nc_group_config *g)
{
    return g ? &g->sandbox : &cfg->sandbox;
}

static void check_seccomp(struct doctor *d, const nc_config *cfg, const nc_group_config *g)
{
    const sandbox_settings *s = settings_of(cfg, g);
    if (g && strcmp(s->seccomp_profile, cfg->sandbox.seccomp_profile) == 0)
        return;
    _cleanup_free_ char *scope = scope_of(g);
    _cleanup_(seccomp_policy_freep) seccomp_policy *pol = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (sandbox_load_seccomp(s, &pol, &err) < 0)
        add_check(d, CHECK_PROBLEM, "%sseccomp profile: %s", scope, nc_error_msg(err));
    else if (pol)
        add_check(d, CHECK_OK, "%sseccomp profile %s: %zu rules, sha256 %.16s...", scope,
                  pol->source, pol->nrules, pol->digest);
    else
        add_check(d, CHECK_WARN, "%sseccomp is unconfined", scope);
}

/* A runtime pinned on Podman: verification refuses a container whose OCIRuntime (libpod's
 * inspect) is not the pinned one, and Podman 4.3 runs every container on its service's runtime
 * whatever the create asks for. Only that runtime can pass; through the compat API alone
 * (Podman 3) none can be confirmed. service_rt: /libpod/info's runtime, NULL when unknown. */
static void check_podman_runtime(struct doctor *d, const char *scope, const char *pinned,
                                 const engine *e, const char *service_rt, const char *why)
{
    if (!engine_libpod_usable(e))
        add_check(d, CHECK_PROBLEM,
                  "%ssandbox.runtime '%s' is known to the engine, but refused on Podman %s: its "
                  "Docker-compatible inspect reports no runtime, so none can be confirmed and "
                  "every run will fail; leave sandbox.runtime \"auto\" and set Podman's own "
                  "runtime",
                  scope, pinned, e->version ? e->version : "");
    else if (!service_rt)
        add_check(d, CHECK_WARN,
                  "%ssandbox.runtime '%s' is known to the engine, but which runtime the Podman "
                  "service runs is unknown (%s): a run is refused unless it is '%s'",
                  scope, pinned, why ? why : "libpod info", pinned);
    else if (strcmp(service_rt, pinned) == 0)
        add_check(d, CHECK_OK,
                  "%ssandbox.runtime '%s' is known to the engine, and is the runtime the Podman "
                  "service runs",
                  scope, pinned);
    else
        add_check(d, CHECK_PROBLEM,
                  "%ssandbox.runtime '%s' is refused on Podman: the service runs its containers "
                  "on '%s' whatever runtime is asked for (Podman 4.3 ignores it), and nanocell "
                  "refuses a container not on the pinned runtime, so every run will fail; pin "
                  "'%s', or make '%s' the service's runtime (containers.conf [engine] runtime) "
                  "and restart it",
                  scope, pinned, service_rt, service_rt, pinned);
}

static void check_runtime(struct doctor *d, const nc_config *cfg, const nc_group_config *g,
                          const engine *e, const engine_info *info, const char *podman_rt,
                          const char *podman_why)
{
    const sandbox_settings *s = settings_of(cfg, g);
    if (!s->runtime || !*s->runtime || strcmp(s->runtime, "auto") == 0)
        return;
    if (g && cfg->sandbox.runtime && strcmp(s->runtime, cfg->sandbox.runtime) == 0)
        return;
    _cleanup_free_ char *scope = scope_of(g);
    if (strv_contains(info->runtimes, s->runtime) && e->kind == ENGINE_PODMAN) {
        check_podman_runtime(d, scope, s->runtime, e, podman_rt, podman_why);
        return;
    }
    if (strv_contains(info->runtimes, s->runtime)) {
        add_check(d, CHECK_OK, "%ssandbox.runtime '%s' is known to the engine", scope, s->runtime);
        return;
    }
    _cleanup_strbuf_ strbuf known = STRBUF_INIT;
    for (size_t i = 0; info->runtimes && info->runtimes[i]; i++)
        strbuf_addf(&known, "%s%s", i ? ", " : "", info->runtimes[i]);
    add_check(d, CHECK_PROBLEM,
              "%ssandbox.runtime '%s' is not known to the engine (it has: %s): every run will "
              "fail",
              scope, s->runtime, known.len ? known.buf : "none reported");
}

/* The runtime `run` would use for the default group, and why (sandbox/runtime.h): under auto
 * this may run the trial container, when no cached verdict fits the engine. */
static void check_runtime_choice(struct doctor *d, const nc_config *cfg, engine *e,
                                 const char *podman_rt)
{
    _cleanup_free_ char *owner = owner_self();
    _cleanup_free_ char *run_id = turn_make_run_id();
    sandbox_request req = {.cfg = cfg,
                           .group = "default",
                           .engine = e,
                           .image = cfg->agent_image,
                           .run_id = run_id,
                           .owner = owner};
    _cleanup_(sandbox_runtime_choice_release) sandbox_runtime_choice c = {0};
    _cleanup_error_ nc_error *err = NULL;
    if (sandbox_runtime_choose(e, &req, NULL, &c, &err) < 0) {
        add_check(d, CHECK_WARN, "runtime     not decided: %s", nc_error_msg(err));
        return;
    }
    if (e->kind == ENGINE_PODMAN && *c.name && podman_rt && strcmp(c.name, podman_rt) != 0)
        add_check(d, CHECK_WARN, "runtime     %s (%s), but the Podman service runs '%s'", c.name,
                  c.why, podman_rt);
    else
        add_check(d, CHECK_OK, "runtime     %s (%s)", *c.name ? c.name : "the engine's default",
                  c.why);
}

/* The extra mounts as `run` will treat them: the allowlist must load, and each mount must pass
 * the mount policy (run refuses the turn, or skips the mount with on_rejected_mount = "skip"). */
static void check_mounts(struct doctor *d, const nc_config *cfg, const nc_group_config *g,
                         const engine *e)
{
    const sandbox_settings *s = settings_of(cfg, g);
    if (!s->mounts || !s->mounts[0])
        return;
    /* A group that is not the main one, with the global mounts, fares as the global ones. */
    if (g && !g->main && strv_equal(s->mounts, cfg->sandbox.mounts) &&
        strcmp(s->on_rejected_mount, cfg->sandbox.on_rejected_mount) == 0)
        return;
    _cleanup_free_ char *scope = scope_of(g);
    bool skip = strcmp(s->on_rejected_mount, "skip") == 0;
    check_status bad = skip ? CHECK_WARN : CHECK_PROBLEM;
    const char *consequence = skip ? "run skips the mounts" : "every run will fail";
    _cleanup_free_ char *allow_path = NULL;
    if (*cfg->mount_allowlist)
        allow_path = xstrdup(cfg->mount_allowlist);
    else
        (void)mount_allowlist_default_path(&allow_path);
    _cleanup_(mount_allowlist_freep) mount_allowlist *allow = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (mount_allowlist_load(allow_path, &allow, &err) < 0) {
        add_check(d, bad, "%ssandbox.mounts is set but %s: %s", scope, nc_error_msg(err),
                  consequence);
        return;
    }
    char **never = sandbox_never_mounted(cfg, e, allow_path, true);
    for (size_t i = 0; s->mounts[i]; i++) {
        mount_request mr = {0};
        mount_spec ms = {0};
        _cleanup_error_ nc_error *merr = NULL;
        int r = mount_request_parse(s->mounts[i], &mr, &merr);
        if (r == 0)
            r = mount_validate(allow, &mr, g && g->main, e->api_minor, never, &ms, &merr);
        if (r < 0)
            add_check(d, bad, "%s%s: %s", scope, nc_error_msg(merr), consequence);
        else
            add_check(d, CHECK_OK, "%smount '%s' -> %s%s%s%s", scope, s->mounts[i], ms.target,
                      ms.read_only ? " (read-only)" : " (read-write)", ms.note ? ": " : "",
                      ms.note ? ms.note : "");
        mount_request_release(&mr);
        mount_spec_release(&ms);
    }
    strv_free(never);
}

static void check_image(struct doctor *d, const nc_config *cfg, engine *e)
{
    engine_image img = {0};
    _cleanup_error_ nc_error *err = NULL;
    int r = agent_image_find(e, cfg->agent_image, cfg->agent_pull, &img, &err);
    if (r == 0) {
        add_check(d, CHECK_OK, "agent.image '%s' is on the engine (%.19s)", cfg->agent_image,
                  img.id);
        engine_image_release(&img);
    } else if (r == -ENOENT && agent_image_pullable(cfg->agent_image, cfg->agent_pull)) {
        add_check(d, CHECK_WARN, "%s", nc_error_msg(err));
    } else {
        add_check(d, CHECK_PROBLEM, "%s%s", nc_error_msg(err),
                  r == -ENOENT ? ": every run will fail" : "");
    }
}

static void check_engine(struct doctor *d, const engine *e, const engine_info *info,
                         const sandbox_settings *sb)
{
    /* Podman 4 and newer: containers are created through libpod, which applies the cgroup
     * namespace; older Podman has only the compat API, which ignores it. */
    if (e->kind == ENGINE_PODMAN && !engine_libpod_usable(e) && info->cgroup_version &&
        strcmp(info->cgroup_version, "1") == 0 &&
        !sandbox_allows_unenforced(sb, SANDBOX_UNENFORCED_CGROUPNS))
        add_check(d, CHECK_PROBLEM,
                  "Podman %s has no libpod API nanocell uses (Podman 4 or newer), and its "
                  "Docker-compatible API ignores CgroupnsMode and puts containers in the host's "
                  "cgroup namespace on cgroup v1: nanocell refuses them unless "
                  "sandbox.allow_unenforced includes \"cgroupns\"; upgrade Podman",
                  e->version);
    if (!info->seccomp)
        add_check(d, CHECK_PROBLEM, "the engine has no seccomp support: agents cannot be confined");
    if (!info->memory_limit || !info->pids_limit)
        add_check(d, CHECK_PROBLEM, "the engine cannot enforce %s%s%s limits",
                  info->memory_limit ? "" : "memory",
                  !info->memory_limit && !info->pids_limit ? " and " : "",
                  info->pids_limit ? "" : "pids");
    bool limits_waived = sandbox_allows_unenforced(sb, SANDBOX_UNENFORCED_MEMORY) &&
                         sandbox_allows_unenforced(sb, SANDBOX_UNENFORCED_PIDS) &&
                         sandbox_allows_unenforced(sb, SANDBOX_UNENFORCED_CPU);
    if (info->rootless && e->kind == ENGINE_PODMAN && info->cgroup_version &&
        strcmp(info->cgroup_version, "1") == 0 && !limits_waived)
        add_check(d, CHECK_PROBLEM,
                  "rootless Podman on cgroup v1 cannot enforce memory, pids or CPU limits (it "
                  "ignores them, and says so at create): nanocell refuses its containers "
                  "unless sandbox.allow_unenforced = [\"memory\", \"pids\", \"cpu\"]. "
                  "What would make them work: cgroup v2 with the memory, pids and cpu "
                  "controllers delegated to your user (systemd: Delegate= for user@.service), "
                  "or a rootful engine");
    if (info->rootless && engine_libpod_usable(e) && !engine_libpod_at_least(e, 4, 3))
        add_check(d, CHECK_PROBLEM,
                  "rootless Podman %s cannot run the container user as yours (userns "
                  "keep-id:uid=,gid= needs Podman 4.3 or newer): upgrade Podman",
                  e->version);
}

/* Settings weaker than the hardened defaults, globally and per group: warnings. */
static void check_loosened(struct doctor *d, const nc_config *cfg)
{
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
        add_check(d, CHECK_OK, "nothing loosened: every container gets the hardened defaults");
    for (char *line = loose.buf; line && *line;) {
        char *nl = strchr(line, '\n');
        add_check(d, CHECK_WARN, "loosened  %.*s", nl ? (int)(nl - line) : (int)strlen(line), line);
        line = nl ? nl + 1 : NULL;
    }
}

static void on_channel_check(void *ud, channel_check_status st, const char *text)
{
    add_check(ud,
              st == CHANNEL_CHECK_OK     ? CHECK_OK
              : st == CHANNEL_CHECK_WARN ? CHECK_WARN
                                         : CHECK_PROBLEM,
              "%s", text);
}

/* Model mode: on when a key is configured, and then the key must load (it is never shown), the
 * egress policy must be valid and list proxy.upstream. */
static void check_proxy(struct doctor *d, const nc_config *cfg, const nc_group_config *g)
{
    const proxy_settings *s = g ? &g->proxy : &cfg->proxy;
    _cleanup_free_ char *scope = scope_of(g);
    if (g && proxy_settings_equal(s, &cfg->proxy))
        return; /* same as the global settings: reported once */
    if (!proxy_settings_enabled(s)) {
        add_check(d, CHECK_OK,
                  "%smodel mode off: no proxy.api_key_file or proxy.api_key_env, so no proxy runs "
                  "and the agent runs scripted",
                  scope);
        return;
    }
    _cleanup_(proxy_credential_freep) proxy_credential *cred = NULL;
    _cleanup_(egress_policy_freep) egress_policy *pol = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (proxy_credential_load(s, &cred, &err) < 0) {
        add_check(d, CHECK_PROBLEM, "%smodel mode: %s", scope, nc_error_msg(err));
        return;
    }
    if (egress_policy_for(s, &pol, &err) < 0) {
        add_check(d, CHECK_PROBLEM, "%smodel mode: %s", scope, nc_error_msg(err));
        return;
    }
    _cleanup_free_ char *desc = egress_policy_describe(pol);
    add_check(d, CHECK_OK, "%smodel mode on: key from %s, upstream %s, model %s; %s", scope,
              proxy_credential_source(cred), s->upstream, cfg->agent_model, desc);
}

/* Every check of what `run` needs, for the global settings and each group. */
static void run_checks(struct doctor *d, const nc_config *cfg, engine *e, const engine_info *info)
{
    check_image(d, cfg, e);
    check_engine(d, e, info, &cfg->sandbox);
    /* The runtime the Podman service runs, for runtimes pinned on it. */
    _cleanup_free_ char *podman_rt = NULL;
    _cleanup_error_ nc_error *podman_err = NULL;
    if (e->kind == ENGINE_PODMAN && engine_libpod_usable(e))
        (void)engine_libpod_default_runtime(e, &podman_rt, &podman_err);
    check_runtime_choice(d, cfg, e, podman_rt);
    for (size_t i = 0; i <= cfg->ngroups; i++) {
        const nc_group_config *g = i ? &cfg->groups[i - 1] : NULL;
        check_seccomp(d, cfg, g);
        check_runtime(d, cfg, g, e, info, podman_rt, podman_err ? nc_error_msg(podman_err) : NULL);
        check_mounts(d, cfg, g, e);
        check_proxy(d, cfg, g);
    }
    check_loosened(d, cfg);
    channels_check_config(cfg, on_channel_check, d);
}

/* "ok, in use", "ok, not used: DOCKER_HOST comes first", "missing", ... */
static char *probe_state(const engine_report *rep, size_t i)
{
    const engine_probe *p = &rep->probes[i];
    const engine_probe *decider = NULL;
    for (size_t k = 0; k < i && !decider; k++)
        if (rep->probes[k].chosen || (rep->probes[k].user_set && rep->probes[k].tried))
            decider = &rep->probes[k];
    if (p->chosen)
        return xstrdup("ok, in use");
    if (!decider)
        return xstrdup(p->state);
    if (decider->chosen)
        return xasprintf("%s, not used: %s comes first", p->state, decider->source);
    return xasprintf("%s, not used: %s is final", p->state, decider->source);
}

static void json_kv_str_or_null(nc_jgen *g, const char *key, const char *s);

/* "unix", "tcp" (plain), "tls" (verified) or "tls, not verified". */
static const char *transport_name(const engine *e)
{
    if (!e->ep.tcp_host)
        return "unix";
    if (!e->ep.tls.enabled)
        return "tcp";
    return e->ep.tls.verify ? "tls" : "tls, not verified";
}

static void json_candidates(nc_jgen *g, const engine_report *rep)
{
    jgen_key(g, "candidates");
    jgen_arr_open(g);
    for (size_t i = 0; i < rep->n; i++) {
        const engine_probe *p = &rep->probes[i];
        _cleanup_free_ char *state = probe_state(rep, i);
        jgen_obj_open(g);
        jgen_kv_str(g, "uri", p->uri);
        jgen_kv_str(g, "source", p->source);
        json_kv_str_or_null(g, "context", p->context);
        jgen_kv_bool(g, "user_set", p->user_set);
        jgen_kv_bool(g, "chosen", p->chosen);
        jgen_kv_bool(g, "ok", p->tried && p->code == 0);
        jgen_kv_str(g, "state", state);
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
}

static void json_kv_str_or_null(nc_jgen *g, const char *key, const char *s)
{
    jgen_key(g, key);
    if (s)
        jgen_str(g, s);
    else
        jgen_null(g);
}

static void print_json(const struct doctor *d, const nc_config *cfg, const engine_report *rep,
                       const engine *e, const engine_info *info)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_key(g, "config");
    if (cfg) {
        jgen_obj_open(g);
        json_kv_str_or_null(g, "path", cfg->path);
        jgen_kv_str(g, "data_dir", cfg->data_dir);
        jgen_kv_str(g, "install_id", cfg->install_id);
        jgen_obj_close(g);
    } else {
        jgen_null(g);
    }
    jgen_key(g, "engine");
    if (e && info) {
        jgen_obj_open(g);
        jgen_kv_str(g, "kind", engine_kind_name(e->kind));
        json_kv_str_or_null(g, "version", info->server_version);
        jgen_kv_str(g, "uri", e->ep.uri);
        jgen_kv_str(g, "source", e->ep.source);
        json_kv_str_or_null(g, "context", e->ep.context);
        jgen_kv_str(g, "transport", transport_name(e));
        _cleanup_free_ char *api = xasprintf("1.%d", e->api_minor);
        _cleanup_free_ char *server_api = xasprintf("1.%d", e->server_api);
        jgen_kv_str(g, "api", api);
        jgen_kv_str(g, "server_api", server_api);
        json_kv_str_or_null(g, "min_api", info->min_api);
        jgen_kv_strv(g, "runtimes", info->runtimes);
        json_kv_str_or_null(g, "default_runtime", info->default_runtime);
        json_kv_str_or_null(g, "cgroup_version", info->cgroup_version);
        json_kv_str_or_null(g, "cgroup_driver", info->cgroup_driver);
        jgen_kv_bool(g, "rootless", info->rootless);
        jgen_kv_bool(g, "seccomp", info->seccomp);
        jgen_kv_bool(g, "memory_limit", info->memory_limit);
        jgen_kv_bool(g, "swap_limit", info->swap_limit);
        jgen_kv_bool(g, "pids_limit", info->pids_limit);
        jgen_kv_bool(g, "cpu_cfs_quota", info->cpu_cfs_quota);
        json_kv_str_or_null(g, "os", info->os);
        json_kv_str_or_null(g, "kernel", info->kernel);
        jgen_obj_close(g);
    } else {
        jgen_null(g);
    }
    if (rep)
        json_candidates(g, rep);
    else {
        jgen_key(g, "candidates");
        jgen_arr_open(g);
        jgen_arr_close(g);
    }
    jgen_key(g, "checks");
    jgen_arr_open(g);
    for (size_t i = 0; i < d->nchecks; i++) {
        jgen_obj_open(g);
        jgen_kv_str(g, "status", status_names[d->checks[i].status]);
        jgen_kv_str(g, "text", d->checks[i].text);
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    jgen_kv_int(g, "problems", (int64_t)d->problems);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    if (jgen_finish(g, &out, NULL) == 0)
        printf("%s\n", out.buf);
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

static void print_candidates(const engine_report *rep)
{
    printf("\nengine candidates:\n");
    for (size_t i = 0; i < rep->n; i++) {
        _cleanup_free_ char *state = probe_state(rep, i);
        _cleanup_free_ char *line =
            xasprintf("%s (%s): %s", rep->probes[i].uri, rep->probes[i].source, state);
        print_lines("  ", line);
    }
}

static void print_engine(const engine *e, const engine_info *info)
{
    printf("\n%-12s%s %s at %s (%s)\n", "engine", engine_kind_name(e->kind),
           info->server_version ? info->server_version : "(version unknown)", e->ep.uri,
           e->ep.source);
    if (e->ep.tcp_host)
        printf("%-12s%s%s%s\n", "transport", transport_name(e),
               e->ep.tls.cert ? ", client certificate " : "", e->ep.tls.cert ? e->ep.tls.cert : "");
    printf("%-12s1.%d in use (engine serves up to 1.%d, from %s)\n", "api", e->api_minor,
           e->server_api, info->min_api ? info->min_api : "?");
    print_strv("runtimes", info->runtimes, NULL);
    printf("%-12s%s\n", "default rt", info->default_runtime ? info->default_runtime : "?");
    printf("%-12sv%s, %s driver\n", "cgroups", info->cgroup_version ? info->cgroup_version : "?",
           info->cgroup_driver ? info->cgroup_driver : "?");
    printf("%-12s%s\n", "rootless", yes_no(info->rootless));
    printf("%-12s%s\n", "seccomp", info->seccomp ? "supported" : "NOT supported");
    printf("%-12smemory %s, swap %s, pids %s, cpu quota %s\n", "limits", yes_no(info->memory_limit),
           yes_no(info->swap_limit), yes_no(info->pids_limit), yes_no(info->cpu_cfs_quota));
    printf("%-12s%s, kernel %s\n", "host", info->os ? info->os : "?",
           info->kernel ? info->kernel : "?");
}

static void print_checks(const struct doctor *d)
{
    printf("\nchecks:\n");
    for (size_t i = 0; i < d->nchecks; i++) {
        _cleanup_free_ char *prefix = xasprintf("  %-8s", status_names[d->checks[i].status]);
        print_lines(prefix, d->checks[i].text);
    }
    printf("\n");
    if (d->problems)
        printf("%zu problem%s found\n", d->problems, d->problems > 1 ? "s" : "");
    else
        printf("ok: no problems found\n");
}

int cmd_doctor(int argc, char **argv)
{
    cmd_common common = {0};
    struct doctor d = {0};
    const cmd_switch sw[] = {{"json", 'j', &d.json}};
    int rc = cmd_parse_switches(argc, argv, usage_text, sw, NC_ARRAY_SIZE(sw), &common);
    if (rc != CMD_OPT_HANDLED)
        return rc;
    _cleanup_config_ nc_config *cfg = NULL;
    rc = cmd_load_config(common.config_path, &cfg);
    if (rc) {
        if (d.json) {
            add_check(&d, CHECK_PROBLEM, "the configuration could not be loaded (see stderr)");
            print_json(&d, NULL, NULL, NULL, NULL);
        }
        doctor_release(&d);
        return rc;
    }
    if (!d.json) {
        printf("%-12s%s\n", "config", cfg->path ? cfg->path : "built-in defaults (no config file)");
        printf("%-12s%s\n", "data dir", cfg->data_dir);
        printf("%-12s%s\n", "install id", cfg->install_id);
    }

    _cleanup_(engine_report_release) engine_report report = {0};
    _cleanup_engine_ engine *e = NULL;
    rc = cmd_open_engine(cfg, common.host, true, &report, &e);
    if (!d.json)
        print_candidates(&report);
    if (rc) {
        add_check(&d, CHECK_PROBLEM,
                  rc == EXIT_USAGE
                      ? "the engine address set is not usable (see above)"
                      : "no engine: start Docker (scripts/engine-up.sh) or Podman "
                        "(scripts/podman-up.sh), or point --host / DOCKER_HOST at an engine "
                        "socket");
        if (d.json)
            print_json(&d, cfg, &report, NULL, NULL);
        else
            printf("\n%s\n", d.checks[d.nchecks - 1].text);
        doctor_release(&d);
        return rc;
    }
    _cleanup_error_ nc_error *err = NULL;
    engine_info info = {0};
    if (engine_get_info(e, &info, &err) < 0) {
        log_error("%s", nc_error_msg(err));
        doctor_release(&d);
        return EXIT_ENGINE;
    }
    if (!d.json) {
        info_make_safe(&info);
        print_engine(e, &info);
    }
    run_checks(&d, cfg, e, &info);
    if (d.json)
        print_json(&d, cfg, &report, e, &info);
    else
        print_checks(&d);
    rc = d.problems ? EXIT_AGENT_ERROR : EXIT_OK;
    engine_info_release(&info);
    doctor_release(&d);
    return rc;
}
