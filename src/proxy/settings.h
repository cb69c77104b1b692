/* A group's proxy settings: the `proxy.*` configuration keys, set globally and overridable per
 * [[group]] (`[group.proxy]`). See config.example.toml for each key and its default.
 *
 * With neither api_key_file nor api_key_env set, there is no credential: model mode is off and
 * no proxy runs (proxy_settings_enabled). */
#ifndef NC_PROXY_SETTINGS_H
#define NC_PROXY_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

typedef struct proxy_settings {
    char *upstream;       /* the model API's base URL, https only */
    char *api_key_file;   /* "" or an absolute path: 0600 (or 0400), owned by our user */
    char *api_key_env;    /* "" or the name of a variable in our environment */
    char *ca_file;        /* "" or an extra CA bundle (PEM) trusted for upstreams */
    char *policy;         /* "" = the built-in policies/egress.toml, or an egress policy file */
    char **allow;         /* "host:port" / "*.suffix:port", added to the policy's egress.allow */
    char **deny;          /* the same, added to the policy's egress.deny; deny wins */
    char **allow_private; /* allow entries whose names may resolve to private addresses */
    uint64_t max_request_bytes;           /* one request's head and body */
    int64_t max_requests_per_turn;        /* model requests, tunnels and plain HTTP requests */
    uint64_t max_upstream_bytes_per_turn; /* bytes to and from upstreams */
    int64_t max_connections;              /* concurrent connections of one group */
    uint64_t request_timeout_ms;          /* one request or tunnel, end to end */
    uint64_t header_timeout_ms;           /* to receive a request's head (slow clients) */
} proxy_settings;

void proxy_settings_copy(proxy_settings *dst, const proxy_settings *src);
void proxy_settings_release(proxy_settings *s);
/* Whether a credential is configured (api_key_file or api_key_env), i.e. model mode is on. */
bool proxy_settings_enabled(const proxy_settings *s);
/* Whether two groups' settings are the same, key by key. */
bool proxy_settings_equal(const proxy_settings *a, const proxy_settings *b);

/* Validators used by the configuration keys. */
int proxy_check_upstream(const char *v, nc_error **err);
/* "host:port" or "*.suffix:port": a DNS name (never an IP literal) and a port 1-65535. */
int proxy_check_host_port(const char *v, nc_error **err);
int proxy_check_env_name(const char *v, nc_error **err);

#endif
