#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"
#include "agent/workspace.h"
#include "channels/checks.h"
#include "engine/endpoint.h"
#include "engine/image.h"
#include "sandbox/mounts.h"
#include "sandbox/spec.h"
#include "util/fileutil.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/toml.h"
#include "util/units.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* K_STRINGS is an array of strings; K_CPUS a decimal string stored as nano-CPUs. */
enum key_type { K_STRING, K_BOOL, K_INT, K_SIZE, K_DURATION, K_STRINGS, K_CPUS };

/* Keys live in nc_config (BASE_CONFIG) or in sandbox_settings (BASE_SANDBOX). Sandbox keys
 * have a value per group: the global one, or the group's override. */
enum key_base { BASE_CONFIG, BASE_SANDBOX, BASE_PROXY };

struct key {
    const char *name; /* dotted, as written in the file */
    enum key_type type;
    enum key_base base;
    size_t offset;   /* into nc_config or sandbox_settings */
    const char *def; /* the default, as TOML value text */
    int64_t min;     /* bounds for K_INT, K_SIZE (bytes), K_DURATION (ms); min == max: none */
    int64_t max;
    /* extra validation of each string (K_STRING, each K_STRINGS element), or of a number */
    int (*check)(const char *value, nc_error **err);
    int (*check_num)(uint64_t value, nc_error **err);
};

static int check_install_id(const char *v, nc_error **err)
{
    if (!*v)
        return 0;
    if (strlen(v) > 32)
        return nc_error_set(err, EINVAL, "install id '%s' is longer than 32 characters", v);
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return nc_error_set(err, EINVAL,
                                "install id '%s' may only hold letters, digits, - and _", v);
    return 0;
}

static int check_absolute_or_empty(const char *v, nc_error **err)
{
    if (*v && v[0] != '/')
        return nc_error_set(err, EINVAL, "'%s' must be an absolute path", v);
    return 0;
}

static int check_engine_host(const char *v, nc_error **err)
{
    if (!*v)
        return 0;
    engine_endpoint ep = {0};
    int r = endpoint_parse(v, "config", &ep, err);
    endpoint_release(&ep);
    return r < 0 ? nc_error_wrap(err, "engine address '%s'", v) : 0;
}

static int check_server_name(const char *v, nc_error **err)
{
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_' && *p != ':')
            return nc_error_set(err, EINVAL, "'%s' is not a host name or address", v);
    return 0;
}

static int check_seccomp_profile(const char *v, nc_error **err)
{
    if (*v && strcmp(v, "unconfined") != 0 && v[0] != '/')
        return nc_error_set(err, EINVAL,
                            "'%s' must be \"\" (the built-in profile), an absolute path, or "
                            "\"unconfined\"",
                            v);
    return 0;
}

static int check_runtime(const char *v, nc_error **err)
{
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
            return nc_error_set(err, EINVAL, "runtime name '%s' is not valid", v);
    return 0;
}

/* agent.model goes into the container's environment and a JSON request: a plain token. */
static int check_model(const char *v, nc_error **err)
{
    if (!*v || strlen(v) > 128)
        return nc_error_set(err, EINVAL, "a model name is 1-128 characters");
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._:@/-", *p))
            return nc_error_set(err, EINVAL,
                                "model name '%s' holds a character other than "
                                "letters, digits and ._:@/-",
                                v);
    return 0;
}

/* The bot token is in every Bot API URL: plain http would send it in the clear, so it is
 * only for a server on this host (a test fake, a local Bot API server). */
static int check_api_base(const char *v, nc_error **err)
{
    if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0)
        return nc_error_set(err, EINVAL, "'%s' must start with https:// (or http://)", v);
    if (v[strlen(v) - 1] == '/')
        return nc_error_set(err, EINVAL, "'%s' must not end with '/'", v);
    if (channel_url_cleartext_remote(v))
        return nc_error_set(err, EINVAL,
                            "'%s' is plain http to another host: the bot token (in every URL) "
                            "would cross the network in the clear; use https (http only to "
                            "127.0.0.0/8, [::1] or localhost)",
                            v);
    return 0;
}

/* "" or a loopback address with a port: the TCP listener has no TLS, so it never leaves the
 * host (a TLS proxy in front can take it further). */
static int check_tcp_listen(const char *v, nc_error **err)
{
    if (!*v)
        return 0;
    const char *colon = strrchr(v, ':');
    size_t hl = colon ? (size_t)(colon - v) : 0;
    bool loopback = colon && ((hl == 9 && strncmp(v, "127.0.0.1", 9) == 0) ||
                              (hl == 5 && strncmp(v, "[::1]", 5) == 0) ||
                              (hl == 9 && strncmp(v, "localhost", 9) == 0));
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!loopback || !colon[1] || *end || port < 1 || port > 65535)
        return nc_error_set(err, EINVAL,
                            "'%s' must be 127.0.0.1:PORT, [::1]:PORT or localhost:PORT: the "
                            "listener has no TLS and stays on this host",
                            v);
    return 0;
}

/* An IANA zone name as it appears under /usr/share/zoneinfo ("Europe/Paris", "UTC"), or "" for
 * the host's zone. The zone itself is loaded, and refused if missing, when the daemon starts. */
static int check_timezone(const char *v, nc_error **err)
{
    if (strlen(v) > 64 || v[0] == '/' || strstr(v, ".."))
        return nc_error_set(err, EINVAL, "'%s' is not an IANA time zone name", v);
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
            return nc_error_set(err, EINVAL, "'%s' is not an IANA time zone name", v);
    return 0;
}

static int check_memory(uint64_t v, nc_error **err)
{
    /* Docker refuses less than 6 MiB; 0 means no limit (a loosening doctor reports). */
    if (v && v < 6 * 1024 * 1024)
        return nc_error_set(err, ERANGE, "a memory limit must be 0 (none) or at least 6m");
    return 0;
}

static int check_image(const char *v, nc_error **err)
{
    if (!*v)
        return nc_error_set(err, EINVAL, "an image is required");
    return engine_image_ref_check(v, err);
}

static int check_pull(const char *v, nc_error **err)
{
    if (strcmp(v, "never") != 0 && strcmp(v, "missing") != 0)
        return nc_error_set(err, EINVAL, "'%s' must be \"never\" or \"missing\"", v);
    return 0;
}

static int check_assistant_name(const char *v, nc_error **err)
{
    if (!*v || strlen(v) > 64)
        return nc_error_set(err, EINVAL, "an assistant name is 1-64 characters");
    return 0;
}

/* A directory in the container that nanocell mounts (agent.home, agent.state_dir): absolute and
 * normal (no empty, "." or ".." component, no trailing '/'), not "/", not in the kernel's
 * /proc, /sys or /dev, and free of what the engines' mount syntax cannot carry (':' ',' '"',
 * control characters). */
static int check_container_dir(const char *v, nc_error **err)
{
    if (v[0] != '/' || !v[1])
        return nc_error_set(err, EINVAL, "'%s' must be an absolute path other than '/'", v);
    if (strlen(v) > MOUNT_CONTAINER_PATH_MAX)
        return nc_error_set(err, EINVAL, "'%s' is longer than %d bytes", v,
                            MOUNT_CONTAINER_PATH_MAX);
    for (const char *p = v; *p; p++)
        if (*p == ':' || *p == ',' || *p == '"' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return nc_error_set(err, EINVAL, "'%s' holds a character a mount cannot carry", v);
    for (const char *c = v + 1;;) {
        size_t n = strcspn(c, "/");
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return nc_error_set(err, EINVAL, "'%s' must be a normal path (no '//', '.' or '..')",
                                v);
        if (!c[n])
            break;
        c += n + 1;
    }
    const char *const kernel[] = {"/proc", "/sys", "/dev"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(kernel); i++)
        if (mount_path_under(v, kernel[i]))
            return nc_error_set(err, EINVAL, "'%s' lies in %s", v, kernel[i]);
    return 0;
}

/* Whether a and b are the same directory or one lies below the other. */
static bool paths_overlap(const char *a, const char *b)
{
    return mount_path_under(a, b) || mount_path_under(b, a);
}

/* agent.home and agent.state_dir against each other and nanocell's other mounts: HOME is a
 * tmpfs and the state dir a bind, so neither may cover or sit inside /workspace/group,
 * /workspace/ipc, /workspace/global, /workspace/extra or a tmpfs nanocell declares, and the
 * state dir may lie inside HOME (the usual ~/.claude) but not be HOME or contain it. */
static int check_agent_dirs(const nc_config *c, const char *file, nc_error **err)
{
    const char *const taken[] = {WORKSPACE_GROUP_TARGET, WORKSPACE_IPC_TARGET,
                                 WORKSPACE_GLOBAL_TARGET, MOUNT_TARGET_PREFIX};
    const struct {
        const char *key, *path;
    } dirs[] = {{"agent.home", c->agent_home}, {"agent.state_dir", c->agent_state_dir}};
    for (size_t d = 0; d < NC_ARRAY_SIZE(dirs); d++) {
        for (size_t i = 0; i < NC_ARRAY_SIZE(taken); i++)
            if (paths_overlap(dirs[d].path, taken[i]))
                return nc_error_set(err, EINVAL,
                                    "%s: key '%s': '%s' overlaps nanocell's mount '%s'", file,
                                    dirs[d].key, dirs[d].path, taken[i]);
        for (const char *const *t = sandbox_tmpfs_targets(ENGINE_PODMAN); *t; t++)
            if (paths_overlap(dirs[d].path, *t))
                return nc_error_set(err, EINVAL, "%s: key '%s': '%s' overlaps the tmpfs '%s'", file,
                                    dirs[d].key, dirs[d].path, *t);
    }
    if (mount_path_under(c->agent_home, c->agent_state_dir))
        return nc_error_set(err, EINVAL,
                            "%s: key 'agent.state_dir': '%s' is or contains agent.home '%s': the "
                            "state dir is mounted inside HOME (e.g. '%s/.claude'), never over it",
                            file, c->agent_state_dir, c->agent_home, c->agent_home);
    return 0;
}

#define OFF(field) BASE_CONFIG, offsetof(nc_config, field)
#define SOFF(field) BASE_SANDBOX, offsetof(sandbox_settings, field)
#define POFF(field) BASE_PROXY, offsetof(proxy_settings, field)
#define MS(s) ((int64_t)(s)*1000)
#define MIB ((int64_t)1024 * 1024)

static const struct key keys[] = {
    {"install.id", K_STRING, OFF(install_id), "\"\"", 0, 0, check_install_id, NULL},
    {"install.data_dir", K_STRING, OFF(data_dir), "\"\"", 0, 0, check_absolute_or_empty, NULL},
    {"engine.host", K_STRING, OFF(engine_host), "\"\"", 0, 0, check_engine_host, NULL},
    {"engine.connect_timeout", K_DURATION, OFF(engine_connect_timeout_ms), "\"5s\"", 100, MS(300),
     NULL, NULL},
    {"engine.request_timeout", K_DURATION, OFF(engine_request_timeout_ms), "\"30s\"", 100, MS(3600),
     NULL, NULL},
    {"engine.max_response_size", K_SIZE, OFF(engine_max_response), "\"8m\"", 64 * 1024, 1024 * MIB,
     NULL, NULL},
    {"engine.tls_ca", K_STRING, OFF(engine_tls_ca), "\"\"", 0, 0, check_absolute_or_empty, NULL},
    {"engine.tls_cert", K_STRING, OFF(engine_tls_cert), "\"\"", 0, 0, check_absolute_or_empty,
     NULL},
    {"engine.tls_key", K_STRING, OFF(engine_tls_key), "\"\"", 0, 0, check_absolute_or_empty, NULL},
    {"engine.tls_server_name", K_STRING, OFF(engine_tls_server_name), "\"\"", 0, 0,
     check_server_name, NULL},
    {"engine.allow_insecure_tcp", K_BOOL, OFF(engine_allow_insecure_tcp), "false", 0, 0, NULL,
     NULL},
    {"agent.image", K_STRING, OFF(agent_image), "\"nanocell-agent:latest\"", 0, 0, check_image,
     NULL},
    {"agent.pull", K_STRING, OFF(agent_pull), "\"never\"", 0, 0, check_pull, NULL},
    {"agent.timeout", K_DURATION, OFF(agent_timeout_ms), "\"30m\"", 1000, MS(7 * 24 * 3600), NULL,
     NULL},
    {"agent.idle_timeout", K_DURATION, OFF(agent_idle_timeout_ms), "\"30m\"", 100,
     MS(7 * 24 * 3600), NULL, NULL},
    {"agent.quiet_close", K_DURATION, OFF(agent_quiet_close_ms), "\"10s\"", 0, MS(3600), NULL,
     NULL},
    {"agent.max_output_size", K_SIZE, OFF(agent_max_output), "\"10m\"", 64 * 1024, 1024 * MIB, NULL,
     NULL},
    {"agent.max_result_size", K_SIZE, OFF(agent_max_result), "\"1m\"", 1024, 64 * MIB, NULL, NULL},
    {"agent.assistant_name", K_STRING, OFF(agent_assistant_name), "\"Andy\"", 0, 0,
     check_assistant_name, NULL},
    {"agent.home", K_STRING, OFF(agent_home), "\"/home/agent\"", 0, 0, check_container_dir, NULL},
    {"agent.state_dir", K_STRING, OFF(agent_state_dir), "\"/home/agent/.claude\"", 0, 0,
     check_container_dir, NULL},
    {"orch.max_concurrent", K_INT, OFF(orch_max_concurrent), "5", 1, 256, NULL, NULL},
    {"orch.max_messages_per_prompt", K_INT, OFF(orch_max_messages_per_prompt), "10", 1, 1000, NULL,
     NULL},
    {"orch.shutdown_grace", K_DURATION, OFF(orch_shutdown_grace_ms), "\"30s\"", 0, MS(3600), NULL,
     NULL},
    {"orch.retry_base", K_DURATION, OFF(orch_retry_base_ms), "\"5s\"", 10, MS(3600), NULL, NULL},
    {"orch.api_max_clients", K_INT, OFF(orch_api_max_clients), "512", 1, 4096, NULL, NULL},
    {"orch.timezone", K_STRING, OFF(orch_timezone), "\"\"", 0, 0, check_timezone, NULL},
    {"ipc.max_file_size", K_SIZE, OFF(ipc_max_file_size), "\"64k\"", 256, 16 * MIB, NULL, NULL},
    {"ipc.max_files_per_minute", K_INT, OFF(ipc_max_files_per_minute), "120", 1, 100000, NULL,
     NULL},
    {"api.tcp_listen", K_STRING, OFF(api_tcp_listen), "\"\"", 0, 0, check_tcp_listen, NULL},
    {"telegram.token", K_STRING, OFF(telegram_token), "\"\"", 0, 0, NULL, NULL},
    {"telegram.token_file", K_STRING, OFF(telegram_token_file), "\"\"", 0, 0,
     check_absolute_or_empty, NULL},
    {"telegram.api_base", K_STRING, OFF(telegram_api_base), "\"https://api.telegram.org\"", 0, 0,
     check_api_base, NULL},
    {"pool.enabled", K_BOOL, OFF(pool_enabled), "true", 0, 0, NULL, NULL},
    {"pool.per_group", K_INT, OFF(pool_per_group), "1", 0, 16, NULL, NULL},
    {"pool.max", K_INT, OFF(pool_max), "10", 0, 1024, NULL, NULL},
    {"pool.max_memory", K_SIZE, OFF(pool_max_memory), "\"5g\"", 0, 1024 * 1024 * MIB, NULL, NULL},
    {"pool.idle_expiry", K_DURATION, OFF(pool_idle_expiry_ms), "\"10m\"", 1000, MS(7 * 24 * 3600),
     NULL, NULL},
    {"channels.max_attempts", K_INT, OFF(channels_max_attempts), "50", 0, 1000000, NULL, NULL},
    {"sandbox.read_only_rootfs", K_BOOL, SOFF(read_only_rootfs), "true", 0, 0, NULL, NULL},
    {"sandbox.no_new_privileges", K_BOOL, SOFF(no_new_privileges), "true", 0, 0, NULL, NULL},
    {"sandbox.cap_add", K_STRINGS, SOFF(cap_add), "[]", 0, 0, sandbox_check_cap, NULL},
    {"sandbox.network", K_STRING, SOFF(network), "\"none\"", 0, 0, sandbox_check_network, NULL},
    {"sandbox.memory", K_SIZE, SOFF(memory), "\"512m\"", 0, 1024 * 1024 * MIB, NULL, check_memory},
    {"sandbox.pids_limit", K_INT, SOFF(pids_limit), "256", 0, 1000000, NULL, NULL},
    {"sandbox.cpus", K_CPUS, SOFF(nano_cpus), "\"1\"", 0, 0, NULL, NULL},
    {"sandbox.nofile", K_INT, SOFF(nofile), "1024", 16, 1048576, NULL, NULL},
    {"sandbox.nproc", K_INT, SOFF(nproc), "512", 16, 1048576, NULL, NULL},
    {"sandbox.user", K_STRING, SOFF(user), "\"1000:1000\"", 0, 0, sandbox_check_user, NULL},
    {"sandbox.tmp_size", K_SIZE, SOFF(tmp_size), "\"64m\"", MIB, 16 * 1024 * MIB, NULL, NULL},
    {"sandbox.seccomp_profile", K_STRING, SOFF(seccomp_profile), "\"\"", 0, 0,
     check_seccomp_profile, NULL},
    {"sandbox.init", K_BOOL, SOFF(init), "true", 0, 0, NULL, NULL},
    {"sandbox.mounts", K_STRINGS, SOFF(mounts), "[]", 0, 0, NULL, NULL},
    {"sandbox.on_rejected_mount", K_STRING, SOFF(on_rejected_mount), "\"refuse\"", 0, 0,
     sandbox_check_on_rejected, NULL},
    {"sandbox.allow_unenforced", K_STRINGS, SOFF(allow_unenforced), "[]", 0, 0,
     sandbox_check_unenforced, NULL},
    {"sandbox.runtime", K_STRING, SOFF(runtime), "\"auto\"", 0, 0, check_runtime, NULL},
    {"sandbox.mount_allowlist", K_STRING, OFF(mount_allowlist), "\"\"", 0, 0,
     check_absolute_or_empty, NULL},
    {"agent.model", K_STRING, OFF(agent_model), "\"claude-sonnet-4-5\"", 0, 0, check_model, NULL},
    {"proxy.upstream", K_STRING, POFF(upstream), "\"https://api.anthropic.com\"", 0, 0,
     proxy_check_upstream, NULL},
    {"proxy.api_key_file", K_STRING, POFF(api_key_file), "\"\"", 0, 0, check_absolute_or_empty,
     NULL},
    {"proxy.api_key_env", K_STRING, POFF(api_key_env), "\"\"", 0, 0, proxy_check_env_name, NULL},
    {"proxy.ca_file", K_STRING, POFF(ca_file), "\"\"", 0, 0, check_absolute_or_empty, NULL},
    {"proxy.policy", K_STRING, POFF(policy), "\"\"", 0, 0, check_absolute_or_empty, NULL},
    {"proxy.allow", K_STRINGS, POFF(allow), "[]", 0, 0, proxy_check_host_port, NULL},
    {"proxy.deny", K_STRINGS, POFF(deny), "[]", 0, 0, proxy_check_host_port, NULL},
    {"proxy.allow_private", K_STRINGS, POFF(allow_private), "[]", 0, 0, proxy_check_host_port,
     NULL},
    {"proxy.max_request_bytes", K_SIZE, POFF(max_request_bytes), "\"8m\"", 1024, 1024 * MIB, NULL,
     NULL},
    {"proxy.max_requests_per_turn", K_INT, POFF(max_requests_per_turn), "500", 1, 1000000, NULL,
     NULL},
    {"proxy.max_upstream_bytes_per_turn", K_SIZE, POFF(max_upstream_bytes_per_turn), "\"1g\"", 1024,
     1024 * 1024 * MIB, NULL, NULL},
    {"proxy.max_connections", K_INT, POFF(max_connections), "16", 1, 4096, NULL, NULL},
    {"proxy.request_timeout", K_DURATION, POFF(request_timeout_ms), "\"10m\"", 1000, MS(24 * 3600),
     NULL, NULL},
    {"proxy.header_timeout", K_DURATION, POFF(header_timeout_ms), "\"10s\"", 100, MS(300), NULL,
     NULL},
    {"proxy.audit_max_size", K_SIZE, OFF(proxy_audit_max), "\"64m\"", 64 * 1024, 64 * 1024 * MIB,
     NULL, NULL},
};

/* Everything a value is checked against, as one error path: "file:line:col: key 'k': why". */
static int key_error(const char *file, const toml_node *n, const char *key, nc_error **err,
                     int code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int key_error(const char *file, const toml_node *n, const char *key, nc_error **err,
                     int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *why = xvasprintf(fmt, ap);
    va_end(ap);
    return nc_error_set(err, code, "%s:%u:%u: key '%s': %s", file, n->line, n->col, key, why);
}

static int set_value(const struct key *k, const toml_node *v, void *base, const char *file,
                     nc_error **err)
{
    void *field = (char *)base + k->offset;
    _cleanup_error_ nc_error *verr = NULL;
    uint64_t u = 0;
    switch (k->type) {
    case K_STRING:
        if (v->type != TOML_STRING)
            return key_error(file, v, k->name, err, EINVAL, "expected a string, got %s",
                             toml_type_name(v->type));
        if (k->check && k->check(v->str, &verr) < 0)
            return key_error(file, v, k->name, err, verr->code, "%s", verr->msg);
        free(*(char **)field);
        *(char **)field = xstrdup(v->str);
        return 0;
    case K_BOOL:
        if (v->type != TOML_BOOL)
            return key_error(file, v, k->name, err, EINVAL, "expected true or false, got %s",
                             toml_type_name(v->type));
        *(bool *)field = v->boolean;
        return 0;
    case K_INT:
        if (v->type != TOML_INTEGER)
            return key_error(file, v, k->name, err, EINVAL, "expected an integer, got %s",
                             toml_type_name(v->type));
        if (k->min != k->max && (v->integer < k->min || v->integer > k->max))
            return key_error(file, v, k->name, err, ERANGE, "%lld is outside %lld..%lld",
                             (long long)v->integer, (long long)k->min, (long long)k->max);
        *(int64_t *)field = v->integer;
        return 0;
    case K_SIZE:
        if (v->type == TOML_INTEGER && v->integer >= 0)
            u = (uint64_t)v->integer;
        else if (v->type != TOML_STRING)
            return key_error(file, v, k->name, err, EINVAL, "expected a size such as \"64m\"");
        else if (parse_size(v->str, &u, &verr) < 0)
            return key_error(file, v, k->name, err, EINVAL, "%s", verr->msg);
        break;
    case K_DURATION:
        /* A bare number is seconds, as on the command line: 60 and "60" both mean a minute. */
        if (v->type == TOML_INTEGER && v->integer < 0)
            return key_error(file, v, k->name, err, EINVAL, "a duration must not be negative");
        else if (v->type == TOML_INTEGER && (uint64_t)v->integer > DURATION_MAX_MS / 1000)
            return key_error(file, v, k->name, err, ERANGE,
                             "%lld seconds is more than " DURATION_MAX_TEXT, (long long)v->integer);
        else if (v->type == TOML_INTEGER)
            u = (uint64_t)v->integer * 1000;
        else if (v->type != TOML_STRING)
            return key_error(file, v, k->name, err, EINVAL,
                             "expected a duration such as \"30s\", \"5m\" or 60 (seconds)");
        else if (parse_duration_ms(v->str, &u, &verr) < 0)
            return key_error(file, v, k->name, err, verr->code, "%s", verr->msg);
        break;
    case K_STRINGS: {
        if (v->type != TOML_ARRAY || v->is_table_array)
            return key_error(file, v, k->name, err, EINVAL, "expected an array of strings");
        char **list = NULL;
        for (size_t i = 0; i < v->len; i++) {
            if (k->check && k->check(v->items[i]->str, &verr) < 0) {
                strv_free(list);
                return key_error(file, v->items[i], k->name, err, verr->code, "%s", verr->msg);
            }
            strv_push(&list, v->items[i]->str);
        }
        strv_free(*(char ***)field);
        *(char ***)field = list;
        return 0;
    }
    case K_CPUS: {
        int64_t nano = 0;
        if (v->type != TOML_STRING)
            return key_error(file, v, k->name, err, EINVAL, "expected a string such as \"1\"");
        if (sandbox_check_cpus(v->str, &nano, &verr) < 0)
            return key_error(file, v, k->name, err, verr->code, "%s", verr->msg);
        *(int64_t *)field = nano;
        return 0;
    }
    default:
        return nc_error_set(err, EINVAL, "key '%s' has no type", k->name);
    }
    if (k->min != k->max && (u < (uint64_t)k->min || u > (uint64_t)k->max)) {
        _cleanup_free_ char *lo = k->type == K_SIZE ? format_size((uint64_t)k->min)
                                                    : format_duration_ms((uint64_t)k->min);
        _cleanup_free_ char *hi = k->type == K_SIZE ? format_size((uint64_t)k->max)
                                                    : format_duration_ms((uint64_t)k->max);
        return key_error(file, v, k->name, err, ERANGE, "must be between %s and %s", lo, hi);
    }
    if (k->check_num && k->check_num(u, &verr) < 0)
        return key_error(file, v, k->name, err, verr->code, "%s", verr->msg);
    *(uint64_t *)field = u;
    return 0;
}

/* Where a key's value lives, for the global configuration or a group's sandbox settings. */
static void *key_base(const struct key *k, nc_config *c, sandbox_settings *group)
{
    if (k->base == BASE_SANDBOX)
        return group ? group : &c->sandbox;
    if (k->base == BASE_PROXY)
        return &c->proxy;
    return c;
}

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < NC_ARRAY_SIZE(keys); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* Whether some key lives below table name ("sandbox" for "sandbox.memory"): an empty table
 * that no key belongs to is as much a typo as an unknown key. */
static bool is_key_table(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < NC_ARRAY_SIZE(keys); i++)
        if (strncmp(keys[i].name, name, n) == 0 && keys[i].name[n] == '.')
            return true;
    return false;
}

bool config_valid_group_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > CONFIG_GROUP_NAME_MAX || !isalnum((unsigned char)name[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_')
            return false;
    return strcasecmp(name, "global") != 0;
}

/* Applies a group's `sandbox` table (from [group.sandbox] or dotted keys) on top of the copy
 * of the global settings it starts from. */
static int apply_group_sandbox(nc_config *c, nc_group_config *g, const toml_node *t,
                               const char *file, nc_error **err)
{
    for (size_t i = 0; i < t->len; i++) {
        _cleanup_free_ char *name = xasprintf("sandbox.%s", t->keys[i]);
        const struct key *k = find_key(name);
        if (!k)
            return key_error(file, t->items[i], name, err, EINVAL, "unknown key in [[group]]");
        if (k->base != BASE_SANDBOX)
            return key_error(file, t->items[i], name, err, EINVAL,
                             "can only be set globally, not per group");
        int r = set_value(k, t->items[i], key_base(k, c, &g->sandbox), file, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Applies a group's `proxy` table on top of the copy of the global proxy settings. */
static int apply_group_proxy(nc_group_config *g, const toml_node *t, const char *file,
                             nc_error **err)
{
    for (size_t i = 0; i < t->len; i++) {
        _cleanup_free_ char *name = xasprintf("proxy.%s", t->keys[i]);
        const struct key *k = find_key(name);
        if (!k || k->base != BASE_PROXY)
            return key_error(file, t->items[i], name, err, EINVAL, "unknown key in [[group]]");
        int r = set_value(k, t->items[i], &g->proxy, file, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int parse_group(nc_config *c, const toml_node *t, const char *file, nc_error **err)
{
    nc_group_config g = {0};
    sandbox_settings_copy(&g.sandbox, &c->sandbox);
    proxy_settings_copy(&g.proxy, &c->proxy);
    int r = 0;
    for (size_t i = 0; i < t->len && r == 0; i++) {
        const char *k = t->keys[i];
        const toml_node *v = t->items[i];
        if (strcmp(k, "name") == 0) {
            if (v->type != TOML_STRING || !config_valid_group_name(v->str))
                r = key_error(file, v, "group.name", err, EINVAL,
                              "a group name is 1-64 letters, digits, - or _, starting with a "
                              "letter or digit, and not 'global'");
            else {
                free(g.name);
                g.name = xstrdup(v->str);
            }
        } else if (strcmp(k, "main") == 0) {
            if (v->type != TOML_BOOL)
                r = key_error(file, v, "group.main", err, EINVAL, "expected true or false");
            else
                g.main = v->boolean;
        } else if (strcmp(k, "sandbox") == 0 && v->type == TOML_TABLE) {
            r = apply_group_sandbox(c, &g, v, file, err);
        } else if (strcmp(k, "proxy") == 0 && v->type == TOML_TABLE) {
            r = apply_group_proxy(&g, v, file, err);
        } else if (strcmp(k, "engine_labels") == 0) {
            r = config_parse_labels(v, "group.engine_labels", file, &g.engine_labels, err);
        } else {
            r = key_error(file, v, k, err, EINVAL, "unknown key in [[group]]");
        }
    }
    if (r == 0 && !g.name)
        r = nc_error_set(err, EINVAL, "%s:%u:%u: [[group]] needs a name", file, t->line, t->col);
    if (r == 0 && config_group(c, g.name))
        r = nc_error_set(err, EEXIST, "%s:%u:%u: group '%s' is defined twice", file, t->line,
                         t->col, g.name);
    if (r < 0) {
        free(g.name);
        strv_free(g.engine_labels);
        sandbox_settings_release(&g.sandbox);
        proxy_settings_release(&g.proxy);
        return r;
    }
    c->groups = xreallocarray(c->groups, c->ngroups + 1, sizeof(*c->groups));
    c->groups[c->ngroups++] = g;
    return 0;
}

/* A [[hook]] table: name, group, secret or secret_file, url. */
static int parse_hook(nc_config *c, const toml_node *t, const char *file, nc_error **err)
{
    nc_hook_config h = {0};
    int r = 0;
    for (size_t i = 0; i < t->len && r == 0; i++) {
        const char *k = t->keys[i];
        const toml_node *v = t->items[i];
        char **field = strcmp(k, "name") == 0          ? &h.name
                       : strcmp(k, "group") == 0       ? &h.group
                       : strcmp(k, "secret") == 0      ? &h.secret
                       : strcmp(k, "secret_file") == 0 ? &h.secret_file
                       : strcmp(k, "url") == 0         ? &h.url
                                                       : NULL;
        _cleanup_free_ char *key = xasprintf("hook.%s", k);
        if (!field)
            r = key_error(file, v, key, err, EINVAL, "unknown key in [[hook]]");
        else if (v->type != TOML_STRING)
            r = key_error(file, v, key, err, EINVAL, "expected a string");
        else if ((field == &h.name || field == &h.group) && !config_valid_group_name(v->str))
            r = key_error(file, v, key, err, EINVAL,
                          "1-64 letters, digits, - or _, starting with a letter or digit");
        else if (field == &h.url && strncmp(v->str, "https://", 8) != 0 &&
                 strncmp(v->str, "http://", 7) != 0)
            r = key_error(file, v, key, err, EINVAL, "must start with https:// (or http://)");
        /* Replies go there with their text: over plain http, anyone on the path reads them
         * (and could hold and replay a signed delivery within its window). */
        else if (field == &h.url && channel_url_cleartext_remote(v->str))
            r = key_error(file, v, key, err, EINVAL,
                          "plain http to another host would send every reply in the clear; use "
                          "https (http only to 127.0.0.0/8, [::1] or localhost)");
        else if (field == &h.secret_file && v->str[0] != '/')
            r = key_error(file, v, key, err, EINVAL, "must be an absolute path");
        else if (field == &h.secret && strlen(v->str) < 16)
            r = key_error(file, v, key, err, EINVAL, "a secret is at least 16 characters");
        else {
            free(*field);
            *field = xstrdup(v->str);
        }
    }
    if (r == 0 && (!h.name || !h.group))
        r = nc_error_set(err, EINVAL, "%s:%u:%u: [[hook]] needs a name and a group", file, t->line,
                         t->col);
    if (r == 0 && !h.secret == !h.secret_file)
        r = nc_error_set(err, EINVAL, "%s:%u:%u: [[hook]] '%s' needs secret or secret_file (one)",
                         file, t->line, t->col, h.name);
    for (size_t i = 0; r == 0 && i < c->nhooks; i++)
        if (strcmp(c->hooks[i].name, h.name) == 0)
            r = nc_error_set(err, EEXIST, "%s:%u:%u: hook '%s' is defined twice", file, t->line,
                             t->col, h.name);
    if (r < 0) {
        free(h.name);
        free(h.group);
        free(h.secret);
        free(h.secret_file);
        free(h.url);
        return r;
    }
    c->hooks = xreallocarray(c->hooks, c->nhooks + 1, sizeof(*c->hooks));
    c->hooks[c->nhooks++] = h;
    return 0;
}

/* Applies every value in table t, whose dotted prefix is prefix ("" at the root). */
static int apply_table(nc_config *c, const toml_node *t, const char *prefix, const char *file,
                       nc_error **err)
{
    for (size_t i = 0; i < t->len; i++) {
        const toml_node *v = t->items[i];
        _cleanup_free_ char *name =
            *prefix ? xasprintf("%s.%s", prefix, t->keys[i]) : xstrdup(t->keys[i]);
        if (!*prefix && strcmp(name, "group") == 0) {
            /* Groups start from the global settings, which may come later in the file: they
             * are applied in a second pass (config_parse). */
            if (v->type != TOML_ARRAY || !v->is_table_array)
                return key_error(file, v, "group", err, EINVAL,
                                 "groups are written as [[group]] tables");
            continue;
        }
        if (!*prefix && strcmp(name, "hook") == 0) {
            if (v->type != TOML_ARRAY || !v->is_table_array)
                return key_error(file, v, "hook", err, EINVAL,
                                 "hooks are written as [[hook]] tables");
            continue; /* config_parse reads them */
        }
        if (!*prefix && strcmp(name, "engines") == 0) {
            int r = config_parse_engines(c, v, file, err);
            if (r < 0)
                return r;
            continue;
        }
        const struct key *k = find_key(name);
        if (!k && v->type == TOML_TABLE && is_key_table(name)) {
            int r = apply_table(c, v, name, file, err);
            if (r < 0)
                return r;
            continue;
        }
        if (!k)
            return key_error(file, v, name, err, EINVAL,
                             v->type == TOML_TABLE ? "unknown table" : "unknown key");
        int r = set_value(k, v, key_base(k, c, NULL), file, err);
        if (r < 0)
            return r;
    }
    return 0;
}

nc_config *config_defaults(void)
{
    nc_config *c = xnew0(nc_config);
    for (size_t i = 0; i < NC_ARRAY_SIZE(keys); i++) {
        _cleanup_free_ char *text = xasprintf("v = %s\n", keys[i].def);
        _cleanup_(toml_freep) toml_node *root = NULL;
        nc_error *err = NULL;
        if (toml_parse(text, strlen(text), "default", &root, &err) < 0 ||
            set_value(&keys[i], toml_get(root, "v"), key_base(&keys[i], c, NULL), "default", &err) <
                0) {
            /* A broken built-in default is a bug that tests catch; never run with it. */
            fprintf(stderr, "nanocell: default for '%s': %s\n", keys[i].name, nc_error_msg(err));
            abort();
        }
    }
    return c;
}

int config_parse(const char *text, size_t len, const char *filename, nc_config **ret,
                 nc_error **err)
{
    _cleanup_(toml_freep) toml_node *root = NULL;
    int r = toml_parse(text, len, filename, &root, err);
    if (r < 0)
        return r;
    _cleanup_config_ nc_config *c = config_defaults();
    r = apply_table(c, root, "", filename, err);
    if (r < 0)
        return r;
    const toml_node *groups = toml_get(root, "group");
    for (size_t g = 0; groups && g < groups->len; g++) {
        r = parse_group(c, groups->items[g], filename, err);
        if (r < 0)
            return r;
    }
    const toml_node *hooks = toml_get(root, "hook");
    for (size_t h = 0; hooks && h < hooks->len; h++) {
        r = parse_hook(c, hooks->items[h], filename, err);
        if (r < 0)
            return r;
    }
    r = check_agent_dirs(c, filename, err);
    if (r < 0)
        return r;
    c->path = xstrdup(filename);
    *ret = TAKE_PTR(c);
    return 0;
}

static int load_file(const char *path, nc_config **ret, nc_error **err)
{
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    int r = read_file(path, TOML_MAX_FILE_SIZE, &text, err);
    if (r < 0)
        return nc_error_wrap(err, "read config");
    return config_parse(text.buf ? text.buf : "", text.len, path, ret, err);
}

int config_load(const char *explicit_path, nc_config **ret, nc_error **err)
{
    if (explicit_path)
        return load_file(explicit_path, ret, err);
    const char *env = secure_getenv("NANOCELL_CONFIG");
    if (env && *env)
        return load_file(env, ret, err);
    _cleanup_free_ char *user = NULL;
    const char *xdg = secure_getenv("XDG_CONFIG_HOME");
    const char *home = secure_getenv("HOME");
    if (xdg && *xdg)
        user = xasprintf("%s/nanocell/config.toml", xdg);
    else if (home && *home)
        user = xasprintf("%s/.config/nanocell/config.toml", home);
    const char *candidates[] = {user, "/etc/nanocell/config.toml"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(candidates); i++) {
        if (!candidates[i])
            continue;
        if (access(candidates[i], F_OK) == 0)
            return load_file(candidates[i], ret, err);
    }
    *ret = config_defaults();
    return 0;
}

void config_free(nc_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NC_ARRAY_SIZE(keys); i++)
        if (keys[i].base == BASE_CONFIG && keys[i].type == K_STRING)
            free(*(char **)((char *)c + keys[i].offset));
    sandbox_settings_release(&c->sandbox);
    proxy_settings_release(&c->proxy);
    for (size_t i = 0; i < c->ngroups; i++) {
        free(c->groups[i].name);
        strv_free(c->groups[i].engine_labels);
        sandbox_settings_release(&c->groups[i].sandbox);
        proxy_settings_release(&c->groups[i].proxy);
    }
    free(c->groups);
    for (size_t i = 0; i < c->nhooks; i++) {
        free(c->hooks[i].name);
        free(c->hooks[i].group);
        if (c->hooks[i].secret)
            explicit_bzero(c->hooks[i].secret, strlen(c->hooks[i].secret));
        free(c->hooks[i].secret);
        free(c->hooks[i].secret_file);
        free(c->hooks[i].url);
    }
    free(c->hooks);
    config_engines_free(c);
    free(c->path);
    free(c);
}

endpoint_tls_config config_engine_tls(const nc_config *c)
{
    return (endpoint_tls_config){.ca = c->engine_tls_ca,
                                 .cert = c->engine_tls_cert,
                                 .key = c->engine_tls_key,
                                 .server_name = c->engine_tls_server_name,
                                 .allow_insecure = c->engine_allow_insecure_tcp};
}

const nc_group_config *config_group(const nc_config *c, const char *name)
{
    for (size_t i = 0; i < c->ngroups; i++)
        if (strcmp(c->groups[i].name, name) == 0)
            return &c->groups[i];
    return NULL;
}

const proxy_settings *config_proxy(const nc_config *c, const char *group)
{
    const nc_group_config *g = group ? config_group(c, group) : NULL;
    return g ? &g->proxy : &c->proxy;
}

const sandbox_settings *config_sandbox(const nc_config *c, const char *group)
{
    const nc_group_config *g = group ? config_group(c, group) : NULL;
    return g ? &g->sandbox : &c->sandbox;
}

static char *default_data_dir(void)
{
    if (geteuid() == 0)
        return xstrdup("/var/lib/nanocell");
    const char *xdg = secure_getenv("XDG_DATA_HOME");
    if (xdg && *xdg)
        return xasprintf("%s/nanocell", xdg);
    const char *home = secure_getenv("HOME");
    return xasprintf("%s/.local/share/nanocell", home && *home ? home : "/tmp");
}

/* Reads data_dir/install-id, or creates it with 12 random hex characters. */
static int resolve_install_id(nc_config *c, nc_error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/install-id", c->data_dir);
    _cleanup_strbuf_ strbuf id = STRBUF_INIT;
    int r = read_file(path, 64, &id, NULL);
    if (r == 0) {
        while (id.len && isspace((unsigned char)id.buf[id.len - 1]))
            strbuf_truncate(&id, id.len - 1);
        if (check_install_id(strbuf_str(&id), NULL) < 0 || !id.len)
            return nc_error_set(err, EINVAL, "'%s' does not hold a valid install id", path);
        free(c->install_id);
        c->install_id = strbuf_detach(&id, NULL);
        return 0;
    }
    uint8_t rnd[6];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return nc_error_set(err, errno, "getrandom: %s", strerror(errno));
    _cleanup_free_ char *fresh =
        xasprintf("%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    _cleanup_free_ char *line = xasprintf("%s\n", fresh);
    r = write_file_atomic(path, line, strlen(line), 0600, err);
    if (r < 0)
        return nc_error_wrap(err, "store install id");
    free(c->install_id);
    c->install_id = TAKE_PTR(fresh);
    return 0;
}

int config_resolve(nc_config *c, nc_error **err)
{
    if (!c->data_dir || !*c->data_dir) {
        free(c->data_dir);
        c->data_dir = default_data_dir();
    }
    /* 0711: a rootless Podman service, another user, must reach data_dir/seccomp. */
    int r = mkdir_p(c->data_dir, 0711, err);
    if (r < 0)
        return nc_error_wrap(err, "data dir '%s'", c->data_dir);
    if (!c->install_id || !*c->install_id)
        return resolve_install_id(c, err);
    return 0;
}

static const char *diff_keys(const void *a, const void *b, enum key_base base)
{
    for (size_t i = 0; i < NC_ARRAY_SIZE(keys); i++) {
        if (keys[i].base != base)
            continue;
        const void *fa = (const char *)a + keys[i].offset;
        const void *fb = (const char *)b + keys[i].offset;
        bool same;
        switch (keys[i].type) {
        case K_STRING:
            same = strcmp(*(char *const *)fa, *(char *const *)fb) == 0;
            break;
        case K_STRINGS:
            same = strv_equal(*(char **const *)fa, *(char **const *)fb);
            break;
        case K_BOOL:
            same = *(const bool *)fa == *(const bool *)fb;
            break;
        default:
            same = *(const uint64_t *)fa == *(const uint64_t *)fb;
            break;
        }
        if (!same)
            return keys[i].name;
    }
    return NULL;
}

char *config_diff(const nc_config *a, const nc_config *b)
{
    const char *k = diff_keys(a, b, BASE_CONFIG);
    if (!k)
        k = diff_keys(&a->sandbox, &b->sandbox, BASE_SANDBOX);
    if (!k)
        k = diff_keys(&a->proxy, &b->proxy, BASE_PROXY);
    if (k)
        return xasprintf("key '%s' differs", k);
    if (a->ngroups != b->ngroups)
        return xasprintf("%zu groups against %zu", a->ngroups, b->ngroups);
    for (size_t i = 0; i < a->ngroups; i++) {
        if (strcmp(a->groups[i].name, b->groups[i].name) != 0 ||
            a->groups[i].main != b->groups[i].main)
            return xasprintf("group %zu differs", i);
        k = diff_keys(&a->groups[i].sandbox, &b->groups[i].sandbox, BASE_SANDBOX);
        if (!k)
            k = diff_keys(&a->groups[i].proxy, &b->groups[i].proxy, BASE_PROXY);
        if (k)
            return xasprintf("group '%s': key '%s' differs", a->groups[i].name, k);
    }
    return NULL;
}

const char *const *config_key_names(void)
{
    static const char *names[NC_ARRAY_SIZE(keys) + 1];
    for (size_t i = 0; i < NC_ARRAY_SIZE(keys); i++)
        names[i] = keys[i].name;
    return names;
}
