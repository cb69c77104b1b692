#include "sandbox/launch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/container.h"
#include "sandbox/verify.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

void sandbox_container_free(sandbox_container *c)
{
    if (!c)
        return;
    engine_attach_free(c->attach);
    engine_wait_free(c->wait);
    strbuf_release(&c->report);
    free(c->id);
    free(c->name);
    free(c);
}

int sandbox_container_remove(engine *e, sandbox_container *c, nc_error **err)
{
    int r = 0;
    if (c && c->id) {
        /* Close our ends first: a pending wait or attach must not hold the removal up. */
        engine_attach_free(TAKE_PTR(c->attach));
        engine_wait_free(TAKE_PTR(c->wait));
        _cleanup_error_ nc_error *rerr = NULL;
        r = engine_container_remove(e, c->id, true, &rerr);
        if (r == -ENOENT)
            r = 0;
        else if (r < 0)
            r = nc_error_set_http(err, rerr->code, rerr->http_status, "remove container %.12s: %s",
                                  c->id, rerr->msg);
    }
    sandbox_container_free(c);
    return r;
}

/* Fails the launch: removes what was created, keeps the first error. */
static int abort_launch(engine *e, sandbox_container *c, int r)
{
    sandbox_container_remove(e, c, NULL);
    return r;
}

int sandbox_launch(engine *e, const sandbox_spec *spec, const char *name,
                   const sandbox_launch_opts *opts, sandbox_container **ret, nc_error **err)
{
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    int r = sandbox_spec_json(spec, &body, err);
    if (r < 0)
        return r;
    sandbox_container *c = xnew0(sandbox_container);
    c->name = xstrdup(name);
    _cleanup_strv_ char **warnings = NULL;
    r = engine_container_create(e, name, strbuf_str(&body), &c->id, &warnings, err);
    if (r < 0) {
        sandbox_container_free(c);
        return nc_error_wrap(err, "create container '%s'", name);
    }
    if (warnings) {
        _cleanup_free_ char *all = NULL;
        strbuf sb = STRBUF_INIT;
        for (size_t i = 0; warnings[i]; i++)
            strbuf_addf(&sb, "%s%s", i ? "; " : "", warnings[i]);
        all = strbuf_detach(&sb, NULL);
        return abort_launch(e, c,
                            nc_error_set(err, EPERM,
                                         "the engine created container '%s' with warnings, so "
                                         "it is not the one asked for: %s",
                                         name, all));
    }
    _cleanup_json_ nc_json *inspect = NULL;
    r = engine_container_inspect(e, c->id, &inspect, err);
    if (r < 0)
        return abort_launch(e, c, nc_error_wrap(err, "inspect container '%s'", name));
    r = sandbox_verify_inspect(spec, inspect, &c->report, err);
    if (r < 0)
        return abort_launch(e, c, nc_error_wrap(err, "container '%s'", name));
    r = engine_attach_open(e, c->id, &c->attach, err);
    if (r < 0)
        return abort_launch(e, c, nc_error_wrap(err, "attach to container '%s'", name));
    r = engine_wait_begin(e, c->id, "next-exit", &c->wait, err);
    if (r < 0)
        return abort_launch(e, c, nc_error_wrap(err, "wait for container '%s'", name));
    r = engine_container_start(e, c->id, err);
    if (r < 0)
        return abort_launch(e, c, nc_error_wrap(err, "start container '%s'", name));
    engine_state st = {0};
    r = engine_container_state(e, c->id, &st, err);
    if (r < 0)
        return abort_launch(e, c, nc_error_wrap(err, "inspect container '%s'", name));
    c->pid = st.pid;
    engine_state_release(&st);
    r = sandbox_verify_runtime(spec, c->pid, opts && opts->proc_root ? opts->proc_root : "/proc",
                               opts && opts->cgroup_root ? opts->cgroup_root : "/sys/fs/cgroup",
                               &c->report, err);
    if (r < 0)
        return abort_launch(e, c, nc_error_wrap(err, "container '%s'", name));
    *ret = c;
    return 0;
}
