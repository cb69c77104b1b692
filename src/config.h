/* nanocell's configuration: one TOML file (the subset in util/toml.h), with a built-in default
 * for every key, so no file is needed at all.
 *
 * The keys are a table (config.c, in the style of redis' config.c): each has a type, a
 * default written as TOML text and bounds. Defaults are parsed by the same code as the file,
 * and config.example.toml spells out every key with its default (a test checks both agree).
 * Unknown keys, wrong types and out-of-range values are errors with file:line:column: a typo
 * must never silently leave a sandbox weaker than its author meant.
 *
 * Where the file is: --config, then $NANOCELL_CONFIG (both must exist), then
 * $XDG_CONFIG_HOME/nanocell/config.toml (~/.config/...), then /etc/nanocell/config.toml (used
 * when present). */
#ifndef NC_CONFIG_H
#define NC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/endpoint.h"
#include "proxy/settings.h"
#include "sandbox/settings.h"
#include "util/cleanup.h"
#include "util/error.h"

/* A group's folder name: [A-Za-z0-9][A-Za-z0-9_-]{0,63}, and not "global" (any case). */
#define CONFIG_GROUP_NAME_MAX 64

typedef struct nc_group_config {
    char *name;
    bool main; /* the main group: may have read-write extra mounts; others are forced read-only */
    char **engine_labels;     /* serve with [[engines]]: only engines with all of these run it */
    sandbox_settings sandbox; /* the global [sandbox] with this group's overrides */
    proxy_settings proxy;     /* the global [proxy] with this group's overrides */
} nc_group_config;

/* A webhook ([[hook]]): POST /hooks/<name> talks to group; replies go to url (optional). The
 * secret signs both ways: secret, or the contents of secret_file (0600, read at start). */
typedef struct nc_hook_config {
    char *name;
    char *group;
    char *secret;
    char *secret_file;
    char *url;
} nc_hook_config;
/* One [[engines]] entry. */
typedef struct nc_engine_config {
    char *host;
    char *tls_ca; /* NULL or "": unset, as engine.tls_* */
    char *tls_cert;
    char *tls_key;
    char *tls_server_name;
    int max_containers; /* 0: no cap of its own */
    char **labels;
} nc_engine_config;

typedef struct nc_config {
    char *path; /* the file that was read; NULL when the defaults stand alone */

    /* [install] */
    char *install_id; /* labels this install's containers; "" = generated, kept in data_dir */
    char *data_dir;   /* groups, logs and state; "" = per-user default (see config_resolve) */

    /* [engine] */
    char *engine_host; /* "" = discover */
    uint64_t engine_connect_timeout_ms;
    uint64_t engine_request_timeout_ms;
    uint64_t engine_max_response;
    char *engine_tls_ca; /* tcp engines: "" = unset (endpoint.h) */
    char *engine_tls_cert;
    char *engine_tls_key;
    char *engine_tls_server_name;
    bool engine_allow_insecure_tcp;

    /* [agent] */
    char *agent_image;
    char *agent_pull; /* "never", or "missing": pull a missing image that names a registry */
    uint64_t agent_timeout_ms;      /* hard timeout: reset only by parsed results */
    uint64_t agent_idle_timeout_ms; /* after the last result, _close is written */
    uint64_t agent_quiet_close_ms;  /* one-shot run: _close after this long quiet after a result */
    uint64_t agent_max_output;      /* per stream (stdout, stderr) kept or forwarded */
    uint64_t agent_max_result;      /* one result block */
    char *agent_assistant_name;
    char *agent_home;      /* HOME in the container: a private tmpfs, fresh each turn */
    char *agent_state_dir; /* where the group's persistent state dir is mounted */

    /* [orch]: the daemon (nanocell serve) */
    int64_t orch_max_concurrent;          /* turns at once, all groups */
    int64_t orch_max_messages_per_prompt; /* messages in one batch */
    uint64_t orch_shutdown_grace_ms;      /* running turns may end within this on SIGTERM */
    uint64_t orch_retry_base_ms;          /* the first retry delay; it doubles, five times */
    int64_t orch_api_max_clients;         /* local API connections at once */
    char *orch_timezone;                  /* IANA zone of cron and once tasks; "": the host's */

    /* [ipc]: files agents write into their group's ipc/messages and ipc/tasks */
    uint64_t ipc_max_file_size;       /* a larger file is moved to ipc/errors */
    int64_t ipc_max_files_per_minute; /* per group; files past it wait in ipc/errors */

    /* [api] */
    char *api_tcp_listen; /* "" = none; else a loopback "HOST:PORT" serving only /hooks/ */

    /* [telegram]: the Telegram channel; it runs when a token is set */
    char *telegram_token;      /* "" = none (see token_file) */
    char *telegram_token_file; /* "" = none; must be 0600 (or 0400) and ours */
    char *telegram_api_base;   /* the Bot API's URL, without the trailing / */
    /* [pool]: the daemon's warm pool (src/orch/pool.c) */
    bool pool_enabled;
    int64_t pool_per_group;       /* started containers kept per recently active group */
    int64_t pool_max;             /* pooled containers at once, all groups */
    uint64_t pool_max_memory;     /* the sum of their memory limits (sandbox.memory) */
    uint64_t pool_idle_expiry_ms; /* a group with no turn for this long has no pool */

    /* [channels] */
    int64_t channels_max_attempts; /* a reply's delivery tries before it is given up; 0: no end */

    /* [sandbox]: the settings of every group without its own overrides */
    sandbox_settings sandbox;
    char *mount_allowlist; /* sandbox.mount_allowlist: global only; "" = default path */

    /* [proxy]: the credential and egress proxy (proxy/settings.h); agent.model is the model
     * the reference agent asks for through it */
    proxy_settings proxy;
    char *agent_model;
    uint64_t proxy_audit_max; /* proxy.audit_max_size: audit.log is rotated to .1 past this */

    nc_group_config *groups; /* [[group]] entries, in file order */
    size_t ngroups;
    nc_hook_config *hooks; /* [[hook]] entries, in file order */
    size_t nhooks;

    nc_engine_config *engines; /* [[engines]] (serve only; src/config_engines.c), file order */
    size_t nengines;
} nc_config;

/* Loads the configuration: the file found as described above, or the defaults. explicit_path
 * is --config (NULL when not given). */
int config_load(const char *explicit_path, nc_config **ret, nc_error **err);
/* Parses a configuration from text (filename is for messages only). */
int config_parse(const char *text, size_t len, const char *filename, nc_config **ret,
                 nc_error **err);
/* The built-in defaults. */
nc_config *config_defaults(void);
void config_free(nc_config *c);
NC_DEFINE_CLEANUP(nc_config *, config_free)
#define _cleanup_config_ _cleanup_(config_freep)

/* Fills in what the defaults leave to the environment: data_dir ("" becomes
 * $XDG_DATA_HOME/nanocell, ~/.local/share/nanocell, or /var/lib/nanocell for root), and
 * install_id ("" becomes the id stored in data_dir/install-id, created on first use). Creates
 * data_dir (mode 0711: traversable, not listable) if needed. */
int config_resolve(nc_config *c, nc_error **err);

/* The engine.tls_* keys and engine.allow_insecure_tcp, pointing into c. */
endpoint_tls_config config_engine_tls(const nc_config *c);

/* The [[group]] entry named name, or NULL. */
const nc_group_config *config_group(const nc_config *c, const char *name);
/* The sandbox settings for a group: its [[group]] overrides, or the global ones. */
const sandbox_settings *config_sandbox(const nc_config *c, const char *group);
bool config_valid_group_name(const char *name);
/* The proxy settings for a group: its [[group]] overrides, or the global ones. */
const proxy_settings *config_proxy(const nc_config *c, const char *group);

/* Compares two configurations key by key. Returns NULL when equal, else an allocated text
 * naming the first differing key. */
char *config_diff(const nc_config *a, const nc_config *b);
/* Every key name in the schema, NULL-terminated (for docs and tests). */
const char *const *config_key_names(void);

#endif
