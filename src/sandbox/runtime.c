#include "sandbox/runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/container.h"
#include "util/fileutil.h"
#include "util/strv.h"
#include "util/termsafe.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define CACHE_HEADER "nanocell-runtime-cache 1\n"
#define CACHE_MAX (64u * 1024)
#define CACHE_FIELDS 5 /* endpoint, engine version, crun's path, "ok"/"failed", note */
/* How long a verdict in memory is used without asking the engine again for crun's path: GET
 * /info costs 12-18 ms here, which a turn of the daemon must not pay each time. The engine's
 * version (known from the connection) still has to match. */
#define MEMO_TRUST_MS 60000
/* How long the trial container may take to exit once its stdin is closed. */
#define TRIAL_EXIT_MS 10000
#define TRIAL_EXIT_FALLBACK_MS 1000

typedef struct verdict {
    char *endpoint, *version, *path;
    bool ok;
    char *note;
    uint64_t checked_ms; /* memory only: when /info last confirmed the path (mono_ms) */
} verdict;

static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static verdict *memo; /* under memo_lock */
static size_t nmemo;

static void verdict_release(verdict *v)
{
    free(v->endpoint);
    free(v->version);
    free(v->path);
    free(v->note);
    *v = (verdict){0};
}

void sandbox_runtime_forget(void)
{
    pthread_mutex_lock(&memo_lock);
    for (size_t i = 0; i < nmemo; i++)
        verdict_release(&memo[i]);
    free(memo);
    memo = NULL;
    nmemo = 0;
    pthread_mutex_unlock(&memo_lock);
}

void sandbox_runtime_choice_release(sandbox_runtime_choice *c)
{
    free(c->name);
    free(c->why);
    *c = (sandbox_runtime_choice){0};
}

static bool same_key(const verdict *v, const char *endpoint, const char *version, const char *path)
{
    return strcmp(v->endpoint, endpoint) == 0 && strcmp(v->version, version) == 0 &&
           strcmp(v->path, path) == 0;
}

static bool memo_get(const char *endpoint, const char *version, const char *path, verdict *out)
{
    bool found = false;
    pthread_mutex_lock(&memo_lock);
    for (size_t i = 0; i < nmemo && !found; i++)
        if (same_key(&memo[i], endpoint, version, path)) {
            *out = (verdict){xstrdup(endpoint), xstrdup(version),      xstrdup(path),
                             memo[i].ok,        xstrdup(memo[i].note), memo[i].checked_ms};
            found = true;
        }
    pthread_mutex_unlock(&memo_lock);
    return found;
}

/* A verdict for this engine and version that /info confirmed within MEMO_TRUST_MS. */
static bool memo_get_fresh(const char *endpoint, const char *version, verdict *out)
{
    bool found = false;
    uint64_t now = mono_ms();
    pthread_mutex_lock(&memo_lock);
    for (size_t i = 0; i < nmemo && !found; i++)
        if (strcmp(memo[i].endpoint, endpoint) == 0 && strcmp(memo[i].version, version) == 0 &&
            now - memo[i].checked_ms < MEMO_TRUST_MS) {
            *out = (verdict){xstrdup(endpoint), xstrdup(version),      xstrdup(memo[i].path),
                             memo[i].ok,        xstrdup(memo[i].note), memo[i].checked_ms};
            found = true;
        }
    pthread_mutex_unlock(&memo_lock);
    return found;
}

static void memo_put(const verdict *v)
{
    pthread_mutex_lock(&memo_lock);
    size_t i = 0;
    while (i < nmemo && strcmp(memo[i].endpoint, v->endpoint) != 0)
        i++;
    if (i == nmemo)
        memo = xreallocarray(memo, ++nmemo, sizeof(*memo));
    else
        verdict_release(&memo[i]);
    memo[i] = (verdict){xstrdup(v->endpoint), xstrdup(v->version),
                        xstrdup(v->path),     v->ok,
                        xstrdup(v->note),     mono_ms()};
    pthread_mutex_unlock(&memo_lock);
}

/* A field may hold anything but the separators. */
static bool field_ok(const char *s)
{
    return s && *s && !strpbrk(s, "\t\n");
}

/* Splits line into exactly CACHE_FIELDS tab-separated fields, in place. */
static bool split_line(char *line, char **f)
{
    size_t n = 0;
    for (char *p = line;; n++) {
        if (n == CACHE_FIELDS)
            return false;
        f[n] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n + 1 == CACHE_FIELDS;
}

/* Reads the cache file. Any line that does not parse makes the whole file worthless: false,
 * and nothing in it is trusted. A missing file is an empty cache. */
static bool cache_read(const char *path, verdict **ret, size_t *ret_n)
{
    *ret = NULL;
    *ret_n = 0;
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    _cleanup_error_ nc_error *rerr = NULL;
    if (read_file(path, CACHE_MAX, &text, &rerr) < 0)
        return rerr->code == ENOENT;
    const char *s = strbuf_str(&text);
    if (strncmp(s, CACHE_HEADER, strlen(CACHE_HEADER)) != 0 || memchr(s, '\0', text.len))
        return false;
    verdict *v = NULL;
    size_t n = 0;
    char *p = text.buf + strlen(CACHE_HEADER);
    while (*p) {
        char *nl = strchr(p, '\n');
        if (!nl)
            goto bad;
        *nl = '\0';
        char *f[CACHE_FIELDS];
        if (!split_line(p, f) || !*f[0] || !*f[1] || !*f[2] ||
            (strcmp(f[3], "ok") != 0 && strcmp(f[3], "failed") != 0))
            goto bad;
        v = xreallocarray(v, n + 1, sizeof(*v));
        v[n++] = (verdict){xstrdup(f[0]),           xstrdup(f[1]), xstrdup(f[2]),
                           strcmp(f[3], "ok") == 0, xstrdup(f[4]), 0};
        p = nl + 1;
    }
    *ret = v;
    *ret_n = n;
    return true;
bad:
    for (size_t i = 0; i < n; i++)
        verdict_release(&v[i]);
    free(v);
    return false;
}

static void cache_free(verdict *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        verdict_release(&v[i]);
    free(v);
}

/* Replaces the engine's line (or adds it), keeping the other engines' lines of a file that
 * parses. */
static int cache_write(const char *path, const verdict *nv, nc_error **err)
{
    verdict *old = NULL;
    size_t n = 0;
    if (!cache_read(path, &old, &n))
        n = 0;
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    strbuf_addstr(&out, CACHE_HEADER);
    for (size_t i = 0; i < n; i++)
        if (strcmp(old[i].endpoint, nv->endpoint) != 0)
            strbuf_addf(&out, "%s\t%s\t%s\t%s\t%s\n", old[i].endpoint, old[i].version, old[i].path,
                        old[i].ok ? "ok" : "failed", old[i].note);
    strbuf_addf(&out, "%s\t%s\t%s\t%s\t%s\n", nv->endpoint, nv->version, nv->path,
                nv->ok ? "ok" : "failed", nv->note);
    cache_free(old, n);
    return write_file_atomic(path, out.buf, out.len, 0600, err);
}

/* An error message as a one-line note: no tabs (the cache's separator), newlines or other
 * controls (util/termsafe.h). */
static char *one_line(const char *msg)
{
    return termsafe_cstr(msg ? msg : "", 0);
}

/* Runs the trial container on crun. Returns 0 with *ok and *note set (a verdict), or an error
 * when no verdict could be reached. */
static int trial(engine *e, const sandbox_request *base, const sandbox_launch_opts *opts, bool *ok,
                 char **note, nc_error **err)
{
    char *cmd[] = {"/bin/cat", NULL};
    _cleanup_free_ char *run_id = xasprintf("%s-rt", base->run_id ? base->run_id : "trial");
    sandbox_request req = *base;
    req.cmd = cmd;
    req.own = NULL;
    req.nown = 0;
    req.home_tmpfs = NULL;
    req.run_id = run_id;
    req.runtime = SANDBOX_RUNTIME_CANDIDATE;
    _cleanup_prepared_ sandbox_prepared *p = NULL;
    int r = sandbox_prepare(&req, &p, err);
    if (r < 0)
        return nc_error_wrap(err, "runtime trial");
    _cleanup_free_ char *name = xasprintf("nanocell-%s-%s", req.group, run_id);
    sandbox_container *c = NULL;
    _cleanup_error_ nc_error *lerr = NULL;
    r = sandbox_launch(e, &p->spec, name, opts, &c, &lerr);
    if (r < 0) {
        /* A missing image is not crun's fault: no verdict. */
        if (r == -ENOENT && strstr(lerr->msg, "create container"))
            return nc_error_set(err, -r, "runtime trial: %s", lerr->msg);
        *ok = false;
        *note = one_line(lerr->msg);
        return 0;
    }
    int64_t code = -1;
    r = engine_attach_close_stdin(c->attach, &lerr);
    if (r == 0)
        r = engine_wait_end(e, c->wait, TRIAL_EXIT_MS, TRIAL_EXIT_FALLBACK_MS, &code, &lerr);
    _cleanup_error_ nc_error *rmerr = NULL;
    int rr = sandbox_container_remove(e, c, &rmerr);
    if (r < 0) {
        *ok = false;
        *note = one_line(lerr->msg);
    } else if (code != 0) {
        *ok = false;
        *note = xasprintf("the trial container exited with status %lld", (long long)code);
    } else {
        *ok = true;
        *note = xstrdup("");
    }
    if (rr < 0)
        return nc_error_set(err, rmerr->code, "runtime trial: %s", rmerr->msg);
    return 0;
}

static void set_auto(sandbox_runtime_choice *ret, const verdict *v, bool cached)
{
    ret->from_auto = true;
    ret->cached = cached;
    ret->name = xstrdup(v->ok ? SANDBOX_RUNTIME_CANDIDATE : "");
    ret->why = v->ok ? xasprintf("auto: crun listed, trial container ran cleanly%s",
                                 cached ? "; cached" : "")
                     : xasprintf("auto: crun listed but its trial failed: %s%s", v->note,
                                 cached ? "; cached" : "");
}

int sandbox_runtime_choose(engine *e, const sandbox_request *req, const sandbox_launch_opts *opts,
                           sandbox_runtime_choice *ret, nc_error **err)
{
    *ret = (sandbox_runtime_choice){0};
    const sandbox_settings *s = config_sandbox(req->cfg, req->group);
    if (strcmp(s->runtime, SANDBOX_RUNTIME_AUTO) != 0) {
        ret->name = xstrdup(s->runtime);
        ret->why = xstrdup(*s->runtime ? "pinned (sandbox.runtime)"
                                       : "the engine's default (sandbox.runtime = \"\")");
        return 0;
    }
    ret->from_auto = true;
    if (e->kind == ENGINE_PODMAN) {
        ret->name = xstrdup("");
        ret->why = xstrdup("auto: Podman keeps its own default runtime");
        return 0;
    }
    verdict v = {0};
    if (memo_get_fresh(e->ep.uri, e->version, &v)) {
        set_auto(ret, &v, true);
        verdict_release(&v);
        return 0;
    }
    _cleanup_json_ nc_json *info = NULL;
    int r = engine_call(e, "GET", "/info", NULL, &info, err);
    if (r < 0)
        return nc_error_wrap(err, "read engine info");
    const char *path = json_string(
        json_get(json_get(json_get(info, "Runtimes"), SANDBOX_RUNTIME_CANDIDATE), "path"));
    if (!json_get(json_get(info, "Runtimes"), SANDBOX_RUNTIME_CANDIDATE)) {
        ret->name = xstrdup("");
        ret->why = xstrdup("auto: crun is not listed by the engine");
        return 0;
    }
    if (!path || !*path)
        path = SANDBOX_RUNTIME_CANDIDATE; /* listed without a path: the engine's PATH finds it */
    bool keyable = field_ok(e->ep.uri) && field_ok(e->version) && field_ok(path);
    if (keyable && memo_get(e->ep.uri, e->version, path, &v)) {
        memo_put(&v); /* confirmed now */
        set_auto(ret, &v, true);
        verdict_release(&v);
        return 0;
    }
    _cleanup_free_ char *cache = xasprintf("%s/%s", req->cfg->data_dir, SANDBOX_RUNTIME_CACHE);
    verdict *all = NULL;
    size_t n = 0;
    if (keyable && cache_read(cache, &all, &n)) {
        for (size_t i = 0; i < n; i++)
            if (same_key(&all[i], e->ep.uri, e->version, path)) {
                memo_put(&all[i]);
                set_auto(ret, &all[i], true);
                cache_free(all, n);
                return 0;
            }
    }
    cache_free(all, n);
    bool ok = false;
    _cleanup_free_ char *note = NULL;
    r = trial(e, req, opts, &ok, &note, err);
    if (r < 0)
        return r;
    v = (verdict){xstrdup(e->ep.uri), xstrdup(e->version), xstrdup(path), ok, TAKE_PTR(note), 0};
    set_auto(ret, &v, false);
    if (keyable) {
        memo_put(&v);
        /* A cache that cannot be written costs a trial next time, nothing else. */
        (void)cache_write(cache, &v, NULL);
    }
    verdict_release(&v);
    return 0;
}
