#include "engine/context.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fileutil.h"
#include "util/json.h"
#include "util/sha256.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "util/banned.h"

char *docker_config_dir(void)
{
    const char *v = secure_getenv("DOCKER_CONFIG");
    if (v && *v)
        return xstrdup(v);
    v = secure_getenv("HOME");
    if (v && *v)
        return xasprintf("%s/.docker", v);
    return NULL;
}

int docker_context_current(const char *config_dir, char **ret_name, char **ret_source,
                           nc_error **err)
{
    const char *env = secure_getenv("DOCKER_CONTEXT");
    if (env && *env) {
        if (strcmp(env, "default") == 0)
            return 0;
        *ret_name = xstrdup(env);
        *ret_source = xstrdup("DOCKER_CONTEXT");
        return 1;
    }
    if (!config_dir)
        return 0;
    _cleanup_free_ char *path = xasprintf("%s/config.json", config_dir);
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    _cleanup_error_ nc_error *rerr = NULL;
    int r = read_file(path, DOCKER_CONTEXT_MAX_FILE, &text, &rerr);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return nc_error_set(err, -r, "read Docker config '%s': %s", path, nc_error_msg(rerr));
    _cleanup_json_ nc_json *root = NULL;
    if (json_parse(text.buf, text.len, &root, &rerr) < 0 || !json_is_object(root))
        return nc_error_set(err, EINVAL, "Docker config '%s' is not a JSON object", path);
    const nc_json *cur = json_get(root, "currentContext");
    if (!cur || json_is_null(cur))
        return 0;
    const char *name = json_string(cur);
    if (!name)
        return nc_error_set(err, EINVAL, "Docker config '%s': currentContext is not a string",
                            path);
    if (!*name || strcmp(name, "default") == 0)
        return 0;
    *ret_name = xstrdup(name);
    *ret_source = xasprintf("currentContext in %s", path);
    return 1;
}

int docker_context_parse_meta(const char *text, size_t len, const char *name, docker_context *ret,
                              nc_error **err)
{
    _cleanup_json_ nc_json *root = NULL;
    _cleanup_error_ nc_error *jerr = NULL;
    if (json_parse(text, len, &root, &jerr) < 0 || !json_is_object(root))
        return nc_error_set(err, EINVAL, "context metadata is not a JSON object");
    const char *stored = json_string(json_get(root, "Name"));
    if (!stored || strcmp(stored, name) != 0)
        return nc_error_set(err, EINVAL, "context metadata names another context");
    const nc_json *docker = json_get(json_get(root, "Endpoints"), "docker");
    if (!json_is_object(docker))
        return nc_error_set(err, EINVAL, "context has no Docker endpoint (Endpoints.docker)");
    const char *host = json_string(json_get(docker, "Host"));
    if (!host || !*host)
        return nc_error_set(err, EINVAL, "context's Docker endpoint has no Host");
    bool skip = false;
    const nc_json *sv = json_get(docker, "SkipTLSVerify");
    if (sv && !json_is_null(sv) && !json_bool(sv, &skip))
        return nc_error_set(err, EINVAL, "context's SkipTLSVerify is not a boolean");
    *ret = (docker_context){.name = xstrdup(name), .host = xstrdup(host), .skip_tls_verify = skip};
    return 0;
}

int docker_context_load(const char *config_dir, const char *name, docker_context *ret,
                        nc_error **err)
{
    char hash[SHA256_HEX_SIZE];
    sha256_hex(name, strlen(name), hash);
    _cleanup_free_ char *path = xasprintf("%s/contexts/meta/%s/meta.json", config_dir, hash);
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    _cleanup_error_ nc_error *rerr = NULL;
    int r = read_file(path, DOCKER_CONTEXT_MAX_FILE, &text, &rerr);
    if (r == -ENOENT)
        return nc_error_set(err, ENOENT, "Docker context '%s' does not exist (no %s)", name, path);
    if (r < 0)
        return nc_error_set(err, -r, "Docker context '%s': %s", name, nc_error_msg(rerr));
    r = docker_context_parse_meta(text.buf, text.len, name, ret, err);
    if (r < 0)
        return nc_error_wrap(err, "Docker context '%s' (%s)", name, path);
    char *tls = xasprintf("%s/contexts/tls/%s/docker", config_dir, hash);
    struct stat st;
    if (stat(tls, &st) == 0 && S_ISDIR(st.st_mode))
        ret->tls_dir = tls;
    else
        free(tls);
    return 0;
}

void docker_context_release(docker_context *c)
{
    free(c->name);
    free(c->host);
    free(c->tls_dir);
    *c = (docker_context){0};
}
