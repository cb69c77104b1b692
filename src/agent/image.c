#include "agent/image.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

bool agent_image_has_registry(const char *ref)
{
    const char *slash = strchr(ref, '/');
    if (!slash)
        return false;
    size_t n = (size_t)(slash - ref);
    if (n == strlen("localhost") && strncmp(ref, "localhost", n) == 0)
        return true;
    return memchr(ref, '.', n) || memchr(ref, ':', n);
}

bool agent_image_pullable(const char *ref, const char *pull)
{
    return pull && strcmp(pull, AGENT_PULL_MISSING) == 0 && agent_image_has_registry(ref);
}

int agent_image_find(engine *e, const char *ref, const char *pull, engine_image *ret,
                     nc_error **err)
{
    _cleanup_error_ nc_error *ierr = NULL;
    int r = engine_image_ref_check(ref, err);
    if (r < 0)
        return r;
    r = engine_image_inspect(e, ref, ret, &ierr);
    if (r == 0)
        return 0;
    /* The engine's own CLI, named in the hint for the user (nanocell never runs it). */
    _cleanup_free_ char *cli = xstrdup(engine_kind_name(e->kind));
    for (char *p = cli; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (r == -EINVAL)
        return nc_error_set(err, EINVAL, "image '%s': %s", ref, nc_error_msg(ierr));
    if (r != -ENOENT)
        return nc_error_set_http(err, ierr->code, ierr->http_status, "inspect image '%s': %s", ref,
                                 nc_error_msg(ierr));
    if (agent_image_pullable(ref, pull))
        return nc_error_set(err, ENOENT,
                            "image '%s' is not on the engine; run pulls it first "
                            "(agent.pull = \"missing\")",
                            ref);
    if (agent_image_has_registry(ref))
        return nc_error_set(err, ENOENT,
                            "image '%s' is not on the engine: pull it ('%s pull %s'), or set "
                            "agent.pull = \"missing\" to let nanocell pull it",
                            ref, cli, ref);
    return nc_error_set(err, ENOENT,
                        "image '%s' is not on the engine: build it (scripts/build-images.sh "
                        "builds nanocell-agent:latest) or pull it ('%s pull %s'), or set "
                        "agent.image; nanocell itself only pulls references that name a "
                        "registry, with agent.pull = \"missing\"",
                        ref, cli, ref);
}

int agent_image_ensure(engine *e, const char *ref, const char *pull, uint64_t timeout_ms,
                       engine_pull_progress_cb cb, void *userdata, engine_image *ret,
                       nc_error **err)
{
    int r = agent_image_find(e, ref, pull, ret, err);
    if (r != -ENOENT || !agent_image_pullable(ref, pull))
        return r;
    if (err)
        nc_error_free(TAKE_PTR(*err));
    if (cb) {
        _cleanup_free_ char *msg = xasprintf("pulling image '%s' (agent.pull = \"missing\")", ref);
        cb(msg, userdata);
    }
    r = engine_image_pull(e, ref, (long)timeout_ms, cb, userdata, err);
    if (r < 0)
        return r;
    r = agent_image_find(e, ref, AGENT_PULL_NEVER, ret, err);
    return r < 0 ? nc_error_wrap(err, "after the pull") : 0;
}
