#include "proxy/settings.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/addr.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

void proxy_settings_copy(proxy_settings *dst, const proxy_settings *src)
{
    *dst = *src;
    dst->upstream = xstrdup_or_null(src->upstream);
    dst->api_key_file = xstrdup_or_null(src->api_key_file);
    dst->api_key_env = xstrdup_or_null(src->api_key_env);
    dst->ca_file = xstrdup_or_null(src->ca_file);
    dst->policy = xstrdup_or_null(src->policy);
    dst->allow = strv_dup(src->allow);
    dst->deny = strv_dup(src->deny);
    dst->allow_private = strv_dup(src->allow_private);
}

void proxy_settings_release(proxy_settings *s)
{
    free(s->upstream);
    free(s->api_key_file);
    free(s->api_key_env);
    free(s->ca_file);
    free(s->policy);
    strv_free(s->allow);
    strv_free(s->deny);
    strv_free(s->allow_private);
    *s = (proxy_settings){0};
}

bool proxy_settings_enabled(const proxy_settings *s)
{
    return (s->api_key_file && *s->api_key_file) || (s->api_key_env && *s->api_key_env);
}

static bool same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

bool proxy_settings_equal(const proxy_settings *a, const proxy_settings *b)
{
    return same(a->upstream, b->upstream) && same(a->api_key_file, b->api_key_file) &&
           same(a->api_key_env, b->api_key_env) && same(a->ca_file, b->ca_file) &&
           same(a->policy, b->policy) && strv_equal(a->allow, b->allow) &&
           strv_equal(a->deny, b->deny) && strv_equal(a->allow_private, b->allow_private) &&
           a->max_request_bytes == b->max_request_bytes &&
           a->max_requests_per_turn == b->max_requests_per_turn &&
           a->max_upstream_bytes_per_turn == b->max_upstream_bytes_per_turn &&
           a->max_connections == b->max_connections &&
           a->request_timeout_ms == b->request_timeout_ms &&
           a->header_timeout_ms == b->header_timeout_ms;
}

int proxy_check_upstream(const char *v, nc_error **err)
{
    proxy_url u = {0};
    int r = proxy_url_parse(v, &u, err);
    proxy_url_release(&u);
    return r;
}

int proxy_check_host_port(const char *v, nc_error **err)
{
    proxy_hostport hp = {0};
    int r = proxy_hostport_parse(v, true, &hp, err);
    proxy_hostport_release(&hp);
    return r;
}

int proxy_check_env_name(const char *v, nc_error **err)
{
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return nc_error_set(err, EINVAL, "'%s' is not an environment variable name", v);
    if (*v && isdigit((unsigned char)*v))
        return nc_error_set(err, EINVAL, "'%s' is not an environment variable name", v);
    return 0;
}
