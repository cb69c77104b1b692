#include "sandbox/launch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/container.h"
#include "engine/libpod.h"
#include "sandbox/verify.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define REMOVE_ATTEMPTS 4

void sandbox_container_free(sandbox_container *c)
{
    if (!c)
        return;
    engine_attach_free(c->attach);
    engine_wait_free(c->wait);
    oomwatch_free(c->oom);
    strbuf_release(&c->report);
    strbuf_release(&c->phases);
    free(c->id);
    free(c->name);
    free(c->image_id);
    free(c->runtime);
    free(c);
}

/* Removes id and confirms it is gone. Podman can answer a forced removal of a container that
 * is exiting at that moment and still keep it: the state is asked afterwards, and the removal
 * retried a few times. */
static int remove_confirmed(engine *e, const char *id, nc_error **err)
{
    _cleanup_error_ nc_error *rerr = NULL;
    for (int attempt = 0; attempt < REMOVE_ATTEMPTS; attempt++) {
        if (attempt)
            sleep_ms(100u * (unsigned)attempt);
        nc_error_free(TAKE_PTR(rerr));
        int r = engine_container_remove(e, id, true, &rerr);
        if (r < 0 && r != -ENOENT)
            continue;
        engine_state st = {0};
        nc_error_free(TAKE_PTR(rerr));
        r = engine_container_state(e, id, &st, &rerr);
        engine_state_release(&st);
        if (r == -ENOENT)
            return 0;
        if (!rerr)
            nc_error_set(&rerr, EBUSY, "the engine still lists it after removal");
    }
    return nc_error_set_http(err, rerr->code, rerr->http_status, "remove container %.12s: %s", id,
                             rerr->msg);
}

int sandbox_container_remove(engine *e, sandbox_container *c, nc_error **err)
{
    int r = 0;
    if (c && c->id) {
        /* Close our ends first: a pending wait or attach must not hold the removal up. */
        engine_attach_free(TAKE_PTR(c->attach));
        engine_wait_free(TAKE_PTR(c->wait));
        r = remove_confirmed(e, c->id, err);
    }
    sandbox_container_free(c);
    return r;
}

/* Fails the launch: removes what was created. A failed removal is added to the error, since
 * it leaves a container behind (the next start's reaper takes it). */
static int abort_launch(engine *e, sandbox_container *c, int r, nc_error **err)
{
    _cleanup_error_ nc_error *rerr = NULL;
    if (sandbox_container_remove(e, c, &rerr) < 0 && err && *err) {
        char *msg = xasprintf("%s; and %s", (*err)->msg, rerr->msg);
        free((*err)->msg);
        (*err)->msg = msg;
    }
    return r;
}

void sandbox_phase(sandbox_container *c, const char *name)
{
    uint64_t now = mono_ms();
    strbuf_addf(&c->phases, "%s%s=%llu", c->phases.len ? " " : "", name,
                (unsigned long long)(now - c->phase_mark));
    c->phase_mark = now;
}

/* What rootless Podman on cgroup v1 answers a libpod create that carries resource limits. */
#define ROOTLESS_V1_WARNING "Resource limits are not supported and ignored on cgroups V1 rootless"

/* The create call for the engine: Podman's own API where it has one nanocell can use (its
 * compat create drops CgroupnsMode), else the Docker API. The body is built here, from the one
 * spec, in the form that call takes. */
static int create(engine *e, const sandbox_spec *spec, const char *name, sandbox_container *c,
                  char ***ret_warnings, bool *ret_libpod, nc_error **err)
{
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    *ret_libpod = spec->kind == ENGINE_PODMAN && engine_libpod_usable(e);
    if (*ret_libpod) {
        bool rootless = false;
        int r = engine_libpod_rootless(e, &rootless, err);
        if (r < 0)
            return r;
        if (rootless && !engine_libpod_at_least(e, 4, 3))
            return nc_error_set(err, ENOTSUP,
                                "rootless Podman %s cannot run the container user as your own "
                                "(userns keep-id:uid=,gid= needs Podman 4.3 or newer): upgrade "
                                "Podman, or use it rootful",
                                e->libpod_api);
        sandbox_libpod_opts o = {.name = name, .keep_id = rootless};
        r = sandbox_spec_libpod_json(spec, &o, &body, err);
        if (r < 0)
            return r;
        strbuf_addf(&c->report, "note create: Podman's libpod API %s%s\n", e->libpod_api,
                    rootless ? ", rootless: the container user runs as the service's user "
                               "(keep-id)"
                             : "");
        return engine_libpod_create(e, strbuf_str(&body), &c->id, ret_warnings, err);
    }
    int r = sandbox_spec_json(spec, &body, err);
    if (r < 0)
        return r;
    return engine_container_create(e, name, strbuf_str(&body), &c->id, ret_warnings, err);
}

/* Create warnings are refusals: the engine says it built another container than the one
 * asked for. The one exception is rootless Podman on cgroup v1 ignoring the memory, pids and
 * CPU limits when all three are waived (verification then marks each one waived). */
static int check_warnings(const sandbox_spec *spec, const char *name, char **warnings,
                          strbuf *report, nc_error **err)
{
    const sandbox_settings *st = spec->settings;
    bool limits_waived = sandbox_allows_unenforced(st, SANDBOX_UNENFORCED_MEMORY) &&
                         sandbox_allows_unenforced(st, SANDBOX_UNENFORCED_PIDS) &&
                         sandbox_allows_unenforced(st, SANDBOX_UNENFORCED_CPU);
    _cleanup_strbuf_ strbuf fatal = STRBUF_INIT;
    bool rootless_v1 = false;
    for (size_t i = 0; warnings && warnings[i]; i++) {
        if (strstr(warnings[i], ROOTLESS_V1_WARNING)) {
            rootless_v1 = true;
            if (limits_waived) {
                strbuf_addf(report, "waived create.warning: %s\n", warnings[i]);
                continue;
            }
        }
        strbuf_addf(&fatal, "%s%s", fatal.len ? "; " : "", warnings[i]);
    }
    if (!fatal.len)
        return 0;
    if (rootless_v1)
        return nc_error_set(err, EPERM,
                            "the engine created container '%s' without its memory, pids and CPU "
                            "limits (%s): rootless Podman cannot enforce limits on cgroup v1; "
                            "they need cgroup v2 with the memory, pids and cpu controllers "
                            "delegated to the user (systemd's user@.service Delegate=), or a "
                            "rootful engine; or waive them with sandbox.allow_unenforced = "
                            "[\"memory\", \"pids\", \"cpu\"]",
                            name, strbuf_str(&fatal));
    return nc_error_set(err, EPERM,
                        "the engine created container '%s' with warnings, so it is not the one "
                        "asked for: %s",
                        name, strbuf_str(&fatal));
}

int sandbox_launch(engine *e, const sandbox_spec *spec, const char *name,
                   const sandbox_launch_opts *opts, sandbox_container **ret, nc_error **err)
{
    sandbox_container *c = xnew0(sandbox_container);
    c->name = xstrdup(name);
    c->phase_mark = mono_ms();
    _cleanup_strv_ char **warnings = NULL;
    bool libpod = false;
    int r = create(e, spec, name, c, &warnings, &libpod, err);
    sandbox_phase(c, "create");
    if (r < 0) {
        sandbox_container_free(c);
        return nc_error_wrap(err, "create container '%s'", name);
    }
    r = check_warnings(spec, name, warnings, &c->report, err);
    if (r < 0)
        return abort_launch(e, c, r, err);
    _cleanup_json_ nc_json *inspect = NULL;
    r = engine_container_inspect(e, c->id, &inspect, err);
    if (r < 0)
        return abort_launch(e, c, nc_error_wrap(err, "inspect container '%s'", name), err);
    /* Podman's compat inspect says "oci" for any runtime: libpod's names the one it runs. */
    _cleanup_json_ nc_json *lp_inspect = NULL;
    if (libpod && engine_libpod_inspect(e, c->id, &lp_inspect, err) < 0)
        return abort_launch(e, c, nc_error_wrap(err, "inspect container '%s'", name), err);
    const char *image_id = json_string(json_get(inspect, "Image"));
    const char *runtime = lp_inspect
                              ? json_string(json_get(lp_inspect, "OCIRuntime"))
                              : json_string(json_get(json_get(inspect, "HostConfig"), "Runtime"));
    c->image_id = image_id ? xstrdup(image_id) : NULL;
    c->runtime = runtime && *runtime ? xstrdup(runtime) : NULL;
    r = sandbox_verify_inspect_libpod(spec, inspect, lp_inspect, &c->report, err);
    sandbox_phase(c, "inspect");
    if (r < 0)
        return abort_launch(e, c, nc_error_wrap(err, "container '%s'", name), err);
    r = engine_attach_open(e, c->id, &c->attach, err);
    sandbox_phase(c, "attach");
    if (r < 0)
        return abort_launch(e, c, nc_error_wrap(err, "attach to container '%s'", name), err);
    r = engine_wait_begin(e, c->id, "next-exit", &c->wait, err);
    sandbox_phase(c, "wait");
    if (r < 0)
        return abort_launch(e, c, nc_error_wrap(err, "wait for container '%s'", name), err);
    r = engine_container_start(e, c->id, err);
    sandbox_phase(c, "start");
    if (r < 0)
        return abort_launch(e, c, nc_error_wrap(err, "start container '%s'", name), err);
    engine_state st = {0};
    r = engine_container_state(e, c->id, &st, err);
    if (r < 0)
        return abort_launch(e, c, nc_error_wrap(err, "inspect container '%s'", name), err);
    c->pid = st.pid;
    engine_state_release(&st);
    /* An engine on another host: its pid means nothing in this host's /proc (verify.h). */
    int64_t vpid = endpoint_is_local(&e->ep) ? c->pid : -1;
    const char *proc = opts && opts->proc_root ? opts->proc_root : "/proc";
    const char *cgroot = opts && opts->cgroup_root ? opts->cgroup_root : "/sys/fs/cgroup";
    sandbox_phase(c, "pid");
    r = sandbox_verify_runtime(spec, vpid, proc, cgroot, &c->report, err);
    /* The bundle is a directory on the engine's host: this one only over a unix socket. */
    if (r >= 0 && lp_inspect && e->ep.socket_path)
        r = sandbox_verify_bundle(spec, json_string(json_get(lp_inspect, "StaticDir")), &c->report,
                                  err);
    else if (r >= 0 && lp_inspect)
        strbuf_addstr(&c->report, "note bundle.seccomp: not checked: the engine's bundle is on "
                                  "another host\n");
    sandbox_phase(c, "verify");
    if (r < 0) {
        /* A process that is gone cannot be verified: say so rather than blame the engine. */
        engine_state after = {0};
        if (engine_container_state(e, c->id, &after, NULL) == 0 && !after.running)
            nc_error_wrap(err,
                          "container '%s' exited (status %lld) before it could be verified; "
                          "an agent must read its input from stdin before anything else",
                          name, (long long)after.exit_code);
        else
            nc_error_wrap(err, "container '%s'", name);
        engine_state_release(&after);
        return abort_launch(e, c, r, err);
    }
    _cleanup_error_ nc_error *oerr = NULL;
    if (oomwatch_open(c->pid, proc, cgroot, &c->oom, &oerr) < 0)
        strbuf_addf(&c->report, "note oom-watch: %s\n", oerr->msg);
    *ret = c;
    return 0;
}
