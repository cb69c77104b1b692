/* The config's [[engines]] tables: the engines `nanocell serve` spreads groups over
 * (src/orch/fleet.h). Each is
 *   [[engines]]
 *   host = "unix:///var/run/docker.sock"    # or tcp://host:port
 *   tls_ca = ""  tls_cert = ""  tls_key = ""  tls_server_name = ""   # as engine.tls_*
 *   max_containers = 4                      # 0 = no cap but orch.max_concurrent
 *   labels = ["gpu", "eu"]
 * and a [[group]] may say `engine_labels = ["gpu"]`: only engines with every one of them run
 * its turns. engine.allow_insecure_tcp and the engine.* timeouts apply to every engine. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_internal.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MAX_ENGINES 64

static int err_at(const char *file, const toml_node *n, const char *key, nc_error **err,
                  const char *what)
{
    return nc_error_set(err, EINVAL, "%s:%u:%u: key '%s': %s", file, n->line, n->col, key, what);
}

static int get_path(const toml_node *v, const char *key, const char *file, char **out,
                    nc_error **err)
{
    if (v->type != TOML_STRING)
        return err_at(file, v, key, err, "expected a string");
    if (*v->str && v->str[0] != '/')
        return err_at(file, v, key, err, "must be an absolute path");
    free(*out);
    *out = xstrdup(v->str);
    return 0;
}

int config_parse_labels(const toml_node *v, const char *key, const char *file, char ***out,
                        nc_error **err)
{
    if (v->type != TOML_ARRAY || v->is_table_array)
        return err_at(file, v, key, err, "expected an array of strings");
    char **labels = NULL;
    for (size_t i = 0; i < v->len; i++) {
        const char *s = v->items[i]->str;
        bool ok = s && *s && strlen(s) <= 63;
        for (const char *p = s; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '-' || *p == '_' || *p == '.' || *p == '=';
        if (!ok) {
            strv_free(labels);
            return err_at(file, v->items[i], key, err,
                          "a label is 1-63 letters, digits, '-', '_', '.' or '='");
        }
        strv_push(&labels, s);
    }
    strv_free(*out);
    *out = labels;
    return 0;
}

static void engine_config_release(nc_engine_config *e)
{
    free(e->host);
    free(e->tls_ca);
    free(e->tls_cert);
    free(e->tls_key);
    free(e->tls_server_name);
    strv_free(e->labels);
}

static int parse_one(const toml_node *t, const char *file, nc_engine_config *e, nc_error **err)
{
    for (size_t i = 0; i < t->len; i++) {
        const char *k = t->keys[i];
        const toml_node *v = t->items[i];
        _cleanup_free_ char *key = xasprintf("engines.%s", k);
        int r = 0;
        if (strcmp(k, "host") == 0) {
            if (v->type != TOML_STRING)
                return err_at(file, v, key, err, "expected a string");
            engine_endpoint ep = {0};
            _cleanup_error_ nc_error *perr = NULL;
            r = endpoint_parse(v->str, "config", &ep, &perr);
            endpoint_release(&ep);
            if (r < 0)
                return nc_error_set(err, -r, "%s:%u:%u: key '%s': engine address '%s': %s", file,
                                    v->line, v->col, key, v->str, nc_error_msg(perr));
            free(e->host);
            e->host = xstrdup(v->str);
        } else if (strcmp(k, "tls_ca") == 0) {
            r = get_path(v, key, file, &e->tls_ca, err);
        } else if (strcmp(k, "tls_cert") == 0) {
            r = get_path(v, key, file, &e->tls_cert, err);
        } else if (strcmp(k, "tls_key") == 0) {
            r = get_path(v, key, file, &e->tls_key, err);
        } else if (strcmp(k, "tls_server_name") == 0) {
            if (v->type != TOML_STRING)
                return err_at(file, v, key, err, "expected a string");
            free(e->tls_server_name);
            e->tls_server_name = xstrdup(v->str);
        } else if (strcmp(k, "max_containers") == 0) {
            if (v->type != TOML_INTEGER || v->integer < 0 || v->integer > 4096)
                return err_at(file, v, key, err, "expected an integer from 0 to 4096");
            e->max_containers = (int)v->integer;
        } else if (strcmp(k, "labels") == 0) {
            r = config_parse_labels(v, key, file, &e->labels, err);
        } else {
            return err_at(file, v, k, err, "unknown key in [[engines]]");
        }
        if (r < 0)
            return r;
    }
    if (!e->host)
        return nc_error_set(err, EINVAL, "%s:%u:%u: [[engines]] needs a host", file, t->line,
                            t->col);
    return 0;
}

int config_parse_engines(nc_config *c, const toml_node *arr, const char *file, nc_error **err)
{
    if (arr->type != TOML_ARRAY || !arr->is_table_array)
        return err_at(file, arr, "engines", err, "engines are written as [[engines]] tables");
    if (arr->len > MAX_ENGINES)
        return err_at(file, arr, "engines", err, "at most 64 engines");
    for (size_t i = 0; i < arr->len; i++) {
        nc_engine_config e = {0};
        int r = parse_one(arr->items[i], file, &e, err);
        for (size_t k = 0; r == 0 && k < c->nengines; k++)
            if (strcmp(c->engines[k].host, e.host) == 0)
                r = nc_error_set(err, EEXIST, "%s:%u:%u: engine '%s' is listed twice", file,
                                 arr->items[i]->line, arr->items[i]->col, e.host);
        if (r < 0) {
            engine_config_release(&e);
            return r;
        }
        c->engines = xreallocarray(c->engines, c->nengines + 1, sizeof(*c->engines));
        c->engines[c->nengines++] = e;
    }
    return 0;
}

void config_engines_free(nc_config *c)
{
    for (size_t i = 0; i < c->nengines; i++)
        engine_config_release(&c->engines[i]);
    free(c->engines);
    c->engines = NULL;
    c->nengines = 0;
}
