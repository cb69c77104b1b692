#include "proxy/policy.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/fileutil.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/toml.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Bounds on a policy, so a hostile file costs bounded memory and matching time. */
#define POLICY_MAX_ENTRIES 4096

static void rules_release(egress_rules *r)
{
    for (size_t i = 0; i < r->n; i++)
        proxy_hostport_release(&r->v[i]);
    free(r->v);
    strv_free(r->text);
    *r = (egress_rules){0};
}

static int rules_add(egress_rules *r, const char *entry, nc_error **err)
{
    proxy_hostport hp = {0};
    if (r->n >= POLICY_MAX_ENTRIES)
        return nc_error_set(err, E2BIG, "more than %d entries", POLICY_MAX_ENTRIES);
    int rc = proxy_hostport_parse(entry, true, &hp, err);
    if (rc < 0)
        return rc;
    r->v = xreallocarray(r->v, r->n + 1, sizeof(*r->v));
    r->v[r->n++] = hp;
    strv_push(&r->text, entry);
    return 0;
}

void egress_policy_free(egress_policy *p)
{
    if (!p)
        return;
    free(p->source);
    for (size_t i = 0; i < p->nupstreams; i++)
        proxy_url_release(&p->upstreams[i]);
    free(p->upstreams);
    strv_free(p->methods);
    strv_free(p->paths);
    rules_release(&p->allow);
    rules_release(&p->deny);
    rules_release(&p->allow_private);
    free(p);
}

static int at(const char *src, const toml_node *n, nc_error **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int at(const char *src, const toml_node *n, nc_error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *why = xvasprintf(fmt, ap);
    va_end(ap);
    return nc_error_set(err, EINVAL, "%s:%u:%u: %s", src, n->line, n->col, why);
}

static int check_method(const char *m)
{
    if (!*m || strlen(m) > 16)
        return -EINVAL;
    for (const char *p = m; *p; p++)
        if (!isupper((unsigned char)*p))
            return -EINVAL;
    return 0;
}

static int check_path_prefix(const char *p)
{
    if (p[0] != '/')
        return -EINVAL;
    for (const char *c = p; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("/-._~", *c))
            return -EINVAL;
    return 0;
}

/* Applies one string array key of table t. */
static int apply_list(egress_policy *p, const char *table, const toml_node *key_node,
                      const char *key, const char *src, nc_error **err)
{
    static const char *const model_keys[] = {"upstreams", "methods", "paths", NULL};
    static const char *const egress_keys[] = {"allow", "deny", "allow_private", NULL};
    const char *const *known = strcmp(table, "model") == 0 ? model_keys : egress_keys;
    if (!strv_contains((char *const *)known, key))
        return at(src, key_node, err, "unknown key '%s.%s'", table, key);
    if (key_node->type != TOML_ARRAY || key_node->is_table_array)
        return at(src, key_node, err, "'%s' must be an array of strings", key);
    for (size_t i = 0; i < key_node->len; i++) {
        const toml_node *it = key_node->items[i];
        if (it->type != TOML_STRING)
            return at(src, it, err, "'%s' must be an array of strings", key);
        _cleanup_error_ nc_error *e = NULL;
        int r = 0;
        if (strcmp(table, "model") == 0 && strcmp(key, "upstreams") == 0) {
            proxy_url u = {0};
            r = proxy_url_parse(it->str, &u, &e);
            if (r == 0) {
                p->upstreams = xreallocarray(p->upstreams, p->nupstreams + 1, sizeof(proxy_url));
                p->upstreams[p->nupstreams++] = u;
            }
        } else if (strcmp(table, "model") == 0 && strcmp(key, "methods") == 0) {
            if (check_method(it->str) < 0)
                return at(src, it, err, "'%s' is not an upper-case HTTP method", it->str);
            strv_push(&p->methods, it->str);
        } else if (strcmp(table, "model") == 0 && strcmp(key, "paths") == 0) {
            if (check_path_prefix(it->str) < 0)
                return at(src, it, err,
                          "'%s' is not a path prefix ('/' then letters, digits, '-._~/')", it->str);
            strv_push(&p->paths, it->str);
        } else if (strcmp(table, "egress") == 0 && strcmp(key, "allow") == 0) {
            r = rules_add(&p->allow, it->str, &e);
        } else if (strcmp(table, "egress") == 0 && strcmp(key, "deny") == 0) {
            r = rules_add(&p->deny, it->str, &e);
        } else if (strcmp(table, "egress") == 0 && strcmp(key, "allow_private") == 0) {
            r = rules_add(&p->allow_private, it->str, &e);
        } else {
            _cleanup_free_ char *full = xasprintf("%s.%s", table, key);
            return at(src, key_node, err, "unknown key '%s'", full);
        }
        if (r < 0)
            return at(src, it, err, "%s", nc_error_msg(e));
    }
    return 0;
}

int egress_policy_parse(const char *text, size_t len, const char *source, egress_policy **ret,
                        nc_error **err)
{
    _cleanup_toml_ toml_node *root = NULL;
    int r = toml_parse(text, len, source, &root, err);
    if (r < 0)
        return r;
    _cleanup_(egress_policy_freep) egress_policy *p = xnew0(egress_policy);
    p->source = xstrdup(source);
    for (size_t i = 0; i < root->len; i++) {
        const char *table = root->keys[i];
        const toml_node *t = root->items[i];
        if ((strcmp(table, "model") != 0 && strcmp(table, "egress") != 0) || t->type != TOML_TABLE)
            return at(source, t, err, "unknown key or table '%s' (expected [model], [egress])",
                      table);
        for (size_t k = 0; k < t->len; k++)
            if ((r = apply_list(p, table, t->items[k], t->keys[k], source, err)) < 0)
                return r;
    }
    if (!p->nupstreams)
        return nc_error_set(err, EINVAL, "%s: [model] upstreams is empty or missing", source);
    if (!p->methods || !p->paths)
        return nc_error_set(err, EINVAL, "%s: [model] needs methods and paths", source);
    *ret = TAKE_PTR(p);
    return 0;
}

int egress_policy_load(const char *path, egress_policy **ret, nc_error **err)
{
    if (!path || !*path)
        return egress_policy_parse(
            nc_builtin_egress_policy,
            (size_t)(nc_builtin_egress_policy_end - nc_builtin_egress_policy),
            NC_BUILTIN_EGRESS_NAME, ret, err);
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    int r = read_file(path, TOML_MAX_FILE_SIZE, &text, err);
    if (r < 0)
        return nc_error_wrap(err, "egress policy");
    return egress_policy_parse(text.buf ? text.buf : "", text.len, path, ret, err);
}

static bool same_url(const proxy_url *a, const proxy_url *b)
{
    return strcasecmp(a->host, b->host) == 0 && a->port == b->port &&
           strcmp(a->base_path, b->base_path) == 0;
}

int egress_policy_for(const proxy_settings *s, egress_policy **ret, nc_error **err)
{
    _cleanup_(egress_policy_freep) egress_policy *p = NULL;
    int r = egress_policy_load(s->policy, &p, err);
    if (r < 0)
        return r;
    struct {
        char **list;
        egress_rules *rules;
        const char *key;
    } extra[] = {{s->allow, &p->allow, "proxy.allow"},
                 {s->deny, &p->deny, "proxy.deny"},
                 {s->allow_private, &p->allow_private, "proxy.allow_private"}};
    for (size_t e = 0; e < NC_ARRAY_SIZE(extra); e++)
        for (size_t i = 0; extra[e].list && extra[e].list[i]; i++)
            if ((r = rules_add(extra[e].rules, extra[e].list[i], err)) < 0)
                return nc_error_wrap(err, "%s", extra[e].key);
    proxy_url up = {0};
    if ((r = proxy_url_parse(s->upstream, &up, err)) < 0)
        return r;
    bool listed = false;
    for (size_t i = 0; i < p->nupstreams && !listed; i++)
        listed = same_url(&up, &p->upstreams[i]);
    proxy_url_release(&up);
    if (!listed)
        return nc_error_set(err, EPERM,
                            "proxy.upstream '%s' is not one of the model upstreams of %s",
                            s->upstream, p->source);
    *ret = TAKE_PTR(p);
    return 0;
}

char *egress_policy_describe(const egress_policy *p)
{
    return xasprintf("egress %s: %zu model upstream(s), %zu method(s), %zu path prefix(es), "
                     "%zu allow, %zu deny, %zu allow_private",
                     p->source, p->nupstreams, strv_len(p->methods), strv_len(p->paths), p->allow.n,
                     p->deny.n, p->allow_private.n);
}

static const char *match(const egress_rules *r, const char *name, uint16_t port)
{
    for (size_t i = 0; i < r->n; i++)
        if (proxy_hostport_match(&r->v[i], name, port))
            return r->text[i];
    return NULL;
}

bool egress_allows(const egress_policy *p, const char *name, uint16_t port, char **rule,
                   bool *private_ok)
{
    const char *hit = match(&p->deny, name, port);
    if (hit) {
        *rule = xasprintf("deny %s", hit);
        return false;
    }
    hit = match(&p->allow, name, port);
    if (!hit) {
        *rule = xstrdup("no allow entry");
        return false;
    }
    *rule = xasprintf("allow %s", hit);
    *private_ok = match(&p->allow_private, name, port) != NULL;
    return true;
}

bool egress_model_allows(const egress_policy *p, const char *method, const char *target,
                         const char **why)
{
    if (!strv_contains(p->methods, method)) {
        *why = "method not allowed for the model API";
        return false;
    }
    size_t plen = strcspn(target, "?#");
    if (target[0] != '/' || target[plen] == '#') {
        *why = "bad request target";
        return false;
    }
    for (size_t i = 0; i < plen; i++)
        if (!isalnum((unsigned char)target[i]) && !strchr("/-._~", target[i])) {
            *why = "path holds characters outside the unreserved set";
            return false;
        }
    for (const char *seg = target + 1; seg <= target + plen;) {
        size_t n = strcspn(seg, "/?#");
        if (n > (size_t)(target + plen - seg))
            n = (size_t)(target + plen - seg);
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) {
            *why = "path holds a '.' or '..' segment";
            return false;
        }
        seg += n + 1;
    }
    for (size_t i = 0; p->paths && p->paths[i]; i++) {
        size_t n = strlen(p->paths[i]);
        if (n <= plen && strncmp(target, p->paths[i], n) == 0 &&
            (n == plen || target[n] == '/' || p->paths[i][n - 1] == '/'))
            return true;
    }
    *why = "path not allowed for the model API";
    return false;
}
