#include "sandbox/prepare.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/libpod.h"
#include "sandbox/builtin_profile.h"
#include "sandbox/mounts.h"
#include "sandbox/seccomp.h"
#include "sandbox/seccomp_cache.h"
#include "util/fileutil.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

int sandbox_load_seccomp(const sandbox_settings *s, seccomp_policy **ret, nc_error **err)
{
    *ret = NULL;
    if (strcmp(s->seccomp_profile, "unconfined") == 0)
        return 0;
    if (*s->seccomp_profile)
        return seccomp_policy_load_file(s->seccomp_profile, ret, err);
    return seccomp_policy_load_text(
        nc_builtin_seccomp_profile,
        (size_t)(nc_builtin_seccomp_profile_end - nc_builtin_seccomp_profile),
        NC_BUILTIN_SECCOMP_NAME, ret, err);
}

void sandbox_prepared_free(sandbox_prepared *p)
{
    if (!p)
        return;
    free(p->seccomp_source);
    free(p->seccomp_json);
    free(p->seccomp_path);
    free(p->mounts);
    strv_free(p->strings);
    strbuf_release(&p->notes);
    free(p);
}

/* Keeps s alive as long as p and returns it. */
static const char *keep(sandbox_prepared *p, char *s)
{
    strv_push_take(&p->strings, s);
    return s;
}

static int prepare_seccomp(sandbox_prepared *p, const sandbox_request *req,
                           const sandbox_settings *s, nc_error **err)
{
    const seccomp_policy *pol = NULL;
    _cleanup_(seccomp_policy_freep) seccomp_policy *owned = NULL;
    int r = seccomp_cache_load(s, &pol, &owned, err);
    if (r < 0)
        return r;
    if (!pol)
        return 0;
    /* The profile was validated as if every capability were dropped; with capabilities added,
     * the engine would evaluate such a rule differently from what was checked. */
    if (s->cap_add && s->cap_add[0] && pol->caps_rule >= 0)
        return nc_error_set(err, EINVAL,
                            "policy '%s': syscalls[%ld] depends on capabilities, and "
                            "sandbox.cap_add grants some: the rule was checked as if none were "
                            "held; drop the caps condition or the cap_add",
                            pol->source, pol->caps_rule);
    p->seccomp_source = xstrdup(pol->source);
    memcpy(p->seccomp_digest, pol->digest, sizeof(p->seccomp_digest));
    p->seccomp_json = xstrdup(pol->canonical);
    if (req->engine->kind == ENGINE_PODMAN) {
        /* Podman reads the profile as a path on the engine host, as the service's user: the
         * directory must be reachable for a rootless service too (data_dir is 0711). The file
         * is 0600 unless that user is another one than root and nanocell's own. */
        _cleanup_free_ char *dir = xasprintf("%s/seccomp", req->cfg->data_dir);
        r = mkdir_p(dir, 0755, err);
        if (r < 0)
            return r;
        uid_t service = 0;
        bool private = engine_service_uid(req->engine, &service, NULL) == 0 &&
                       (service == 0 || service == geteuid());
        r = seccomp_policy_write(pol, dir, private ? 0600 : 0644, &p->seccomp_path, err);
        if (r < 0)
            return r;
    }
    return 0;
}

char **sandbox_never_mounted(const nc_config *cfg, const engine *e, const char *allowlist,
                             bool with_data_dir)
{
    char **never = mount_default_never();
    if (e->ep.socket_path)
        strv_push(&never, e->ep.socket_path);
    if (e->ep.tls.key) /* the client key to a tcp engine is as good as its socket */
        strv_push(&never, e->ep.tls.key);
    if (allowlist)
        strv_push(&never, allowlist);
    if (cfg->path)
        strv_push(&never, cfg->path);
    if (with_data_dir)
        strv_push(&never, cfg->data_dir);
    return never;
}

static void add_mount(sandbox_prepared *p, size_t *n, const char *source, const char *target,
                      bool ro, dev_t dev, ino_t ino)
{
    p->mounts = xreallocarray(p->mounts, *n + 1, sizeof(*p->mounts));
    p->mounts[(*n)++] =
        (sandbox_mount){keep(p, xstrdup(source)), keep(p, xstrdup(target)), ro, dev, ino};
}

static int prepare_extra_mounts(sandbox_prepared *p, const sandbox_request *req,
                                const sandbox_settings *s, bool is_main, size_t *n, nc_error **err)
{
    if (!s->mounts)
        return 0;
    bool skip = strcmp(s->on_rejected_mount, "skip") == 0;
    _cleanup_free_ char *allow_path = NULL;
    if (*req->cfg->mount_allowlist)
        allow_path = xstrdup(req->cfg->mount_allowlist);
    else
        (void)mount_allowlist_default_path(&allow_path);
    _cleanup_(mount_allowlist_freep) mount_allowlist *allow = NULL;
    _cleanup_error_ nc_error *aerr = NULL;
    if (mount_allowlist_load(allow_path, &allow, &aerr) < 0 && !skip)
        return nc_error_set(err, aerr->code, "extra mounts for group '%s': %s", req->group,
                            aerr->msg);
    _cleanup_strv_ char **never = sandbox_never_mounted(req->cfg, req->engine, allow_path, true);
    for (size_t i = 0; s->mounts[i]; i++) {
        mount_request mr = {0};
        mount_spec ms = {0};
        _cleanup_error_ nc_error *merr = NULL;
        int r = mount_request_parse(s->mounts[i], &mr, &merr);
        if (r == 0)
            r = mount_validate(allow, &mr, is_main, req->engine->api_minor, never, &ms, &merr);
        mount_request_release(&mr);
        if (r < 0) {
            if (!skip) {
                r = nc_error_set(err, merr->code, "%s (sandbox.on_rejected_mount = \"refuse\")",
                                 merr->msg);
                mount_spec_release(&ms);
                return r;
            }
            strbuf_addf(&p->notes, "skipped: %s\n", merr->msg);
            continue;
        }
        if (ms.note)
            strbuf_addf(&p->notes, "mount '%s': %s (group '%s')\n", s->mounts[i], ms.note,
                        req->group);
        add_mount(p, n, ms.source, ms.target, ms.read_only, ms.dev, ms.ino);
        mount_spec_release(&ms);
    }
    return 0;
}

int sandbox_prepare(const sandbox_request *req, sandbox_prepared **ret, nc_error **err)
{
    const sandbox_settings *s = config_sandbox(req->cfg, req->group);
    const nc_group_config *g = config_group(req->cfg, req->group);
    _cleanup_prepared_ sandbox_prepared *p = xnew0(sandbox_prepared);
    int r = prepare_seccomp(p, req, s, err);
    if (r < 0)
        return nc_error_wrap(err, "seccomp profile for group '%s'", req->group);
    /* nanocell's own mounts: never an engine socket, the allowlist or the config. */
    size_t n = 0;
    _cleanup_strv_ char **never = sandbox_never_mounted(req->cfg, req->engine, NULL, false);
    for (size_t i = 0; i < req->nown; i++) {
        const char *hit = mount_never_hit(req->own[i].source, never);
        if (hit)
            return nc_error_set(err, EPERM, "mount '%s' would expose '%s'", req->own[i].source,
                                hit);
        /* nanocell made these itself, below directories only it can write. */
        struct stat st;
        if (stat(req->own[i].source, &st) < 0)
            return nc_error_set(err, errno, "stat mount source '%s': %s", req->own[i].source,
                                strerror(errno));
        add_mount(p, &n, req->own[i].source, req->own[i].target, req->own[i].read_only, st.st_dev,
                  st.st_ino);
    }
    r = prepare_extra_mounts(p, req, s, req->is_main ? *req->is_main : g && g->main, &n, err);
    if (r < 0)
        return r;
    p->spec = (sandbox_spec){
        .settings = s,
        .image = req->image,
        .cmd = req->cmd,
        .env = req->env,
        .workdir = req->workdir,
        .install_id = req->cfg->install_id,
        .group = req->group,
        .run_id = req->run_id,
        .owner = req->owner,
        .mounts = p->mounts,
        .nmounts = n,
        .home_tmpfs = req->home_tmpfs,
        .runtime = req->runtime                      ? req->runtime
                   : strcmp(s->runtime, "auto") == 0 ? ""
                                                     : s->runtime,
        .seccomp_json = p->seccomp_json,
        .seccomp_path = p->seccomp_path,
        .seccomp_digest = p->seccomp_digest[0] ? p->seccomp_digest : NULL,
        .kind = req->engine->kind,
        .api_minor = req->engine->api_minor,
    };
    *ret = TAKE_PTR(p);
    return 0;
}
