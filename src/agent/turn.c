#include "agent/turn.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/image.h"
#include "agent/runlog.h"
#include "agent/warm.h"
#include "agent/workspace.h"
#include "engine/container.h"
#include "engine/demux.h"
#include "orch/owner.h"
#include "proxy/netns_relay.h"
#include "proxy/proxy.h"
#include "sandbox/launch.h"
#include "sandbox/prepare.h"
#include "sandbox/runtime.h"
#include "sandbox/verify.h"
#include "util/strv.h"
#include "util/termsafe.h"
#include "util/timeutil.h"
#include "util/units.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* NanoClaw's grace between the idle close and the hard kill. */
#define IDLE_GRACE_MS 30000
/* The stop's grace: SIGTERM, then SIGKILL after this many seconds. */
#define STOP_GRACE_S 1
/* How long output may still come after a stop, and the exit status after the stream ends. */
#define DRAIN_AFTER_STOP_MS 5000
#define EXIT_WAIT_MS 10000
#define EXIT_WAIT_FALLBACK_MS 1000
/* The tail of stderr quoted when the agent exits non-zero. */
#define STDERR_TAIL 200

/* What a directory's stat says about its entries: any file created, renamed into or out of,
 * or removed changes it. A directory that is missing or replaced is a change too. */
struct dir_mark {
    int err;
    dev_t dev;
    ino_t ino;
    struct timespec mtime, ctime;
};

struct ipc_mark {
    struct dir_mark messages, tasks;
};

struct turn {
    const turn_request *req;
    engine *e;
    sandbox_container *c;
    workspace ws;
    demux dmx;
    marker_parser mp;
    strbuf payload;
    size_t payload_off;
    bool stdin_closed;
    bool stdin_refused; /* the engine stopped taking stdin before all of it was written */
    uint64_t started;   /* mono_ms() when the turn began */
    uint64_t hard_ms, idle_ms, quiet_ms;
    uint64_t hard_deadline, idle_deadline; /* 0: not running */
    uint64_t quiet_deadline;               /* 0: no result yet, or the quiet close is off */
    struct ipc_mark quiet_mark;            /* ipc/messages and ipc/tasks when the period began */
    bool close_sent, eof, timed_out, interrupted;
    char *close_note; /* why and when _close was written, for the run log */
    uint64_t max_output;
    uint64_t stdout_bytes, stderr_bytes;
    bool stdout_truncated, stderr_truncated;
    strbuf stderr_tail;
    uint64_t error_results;
    char *session;
    char *outcome;      /* metadata only, for the run log: never the agent's own text */
    char *verification; /* the launch's report, kept for the run log */
    char *phases;       /* the container's timeline, kept for the run log */
    char *runtime;
    sandbox_prepared *prep;
    engine_image img;
    netns_relay *relay; /* loopback listeners for agents that speak TCP; NULL: none */
    bool is_main;
    char *owner, *home; /* the spec points at these, and at env */
    char **env;         /* strv: HOME, NANOCELL_WORKSPACE, and the proxy's when there is one */
    sandbox_runtime_choice rt;
    turn_warm *warm; /* req->warm until the launch used or discarded it */
};

/* Frees what t holds (not t->c, which the turn removes itself). */
static void turn_state_release(struct turn *t)
{
    netns_relay_stop(t->relay);
    turn_warm_discard(t->e, t->warm);
    sandbox_prepared_free(t->prep);
    engine_image_release(&t->img);
    workspace_release(&t->ws);
    demux_release(&t->dmx);
    marker_parser_release(&t->mp);
    strbuf_release(&t->payload);
    strbuf_release(&t->stderr_tail);
    sandbox_runtime_choice_release(&t->rt);
    free(t->owner);
    free(t->home);
    strv_free(t->env);
    free(t->session);
    free(t->verification);
    free(t->phases);
    free(t->runtime);
    free(t->outcome);
    free(t->close_note);
    *t = (struct turn){0};
}

/* Formats a message for one of the request's callbacks (on_progress or on_warning), if set. */
static void notify(struct turn *t, void (*cb)(const char *, void *), const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void notify(struct turn *t, void (*cb)(const char *, void *), const char *fmt, ...)
{
    if (!cb)
        return;
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    cb(msg, t->req->cb.userdata);
}

#define progress(t, ...) notify((t), (t)->req->cb.on_progress, __VA_ARGS__)
#define warning(t, ...) notify((t), (t)->req->cb.on_warning, __VA_ARGS__)

static void send_close(struct turn *t, const char *why)
{
    if (t->close_sent)
        return;
    t->close_sent = true;
    t->quiet_deadline = 0;
    t->close_note =
        xasprintf("%s, %llu ms into the turn", why, (unsigned long long)(mono_ms() - t->started));
    progress(t, "telling the agent to finish (_close): %s", why);
    _cleanup_error_ nc_error *err = NULL;
    if (workspace_send_close(&t->ws, &err) < 0)
        warning(t, "could not tell the agent to finish (%s): %s", why, nc_error_msg(err));
}

static void dir_mark_take(const char *ipc, const char *name, struct dir_mark *m)
{
    _cleanup_free_ char *path = ipc ? xasprintf("%s/%s", ipc, name) : NULL;
    struct stat st;
    *m = (struct dir_mark){0};
    /* The agent owns ipc/: never follow a link it put there. */
    if (!path || fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        m->err = path ? errno : ENOENT;
        return;
    }
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    m->mtime = st.st_mtim;
    m->ctime = st.st_ctim;
}

static void ipc_mark_take(const struct turn *t, struct ipc_mark *m)
{
    dir_mark_take(t->ws.ipc, "messages", &m->messages);
    dir_mark_take(t->ws.ipc, "tasks", &m->tasks);
}

static bool dir_mark_same(const struct dir_mark *a, const struct dir_mark *b)
{
    return a->err == b->err && a->dev == b->dev && a->ino == b->ino &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* (Re)starts the quiet period after a result, or after activity within it. */
static void quiet_restart(struct turn *t, uint64_t now, bool mark_ipc)
{
    t->quiet_deadline = deadline_after(now, t->quiet_ms);
    if (mark_ipc)
        ipc_mark_take(t, &t->quiet_mark);
}

/* At the end of a quiet period: the agent changed ipc/messages or ipc/tasks meanwhile (it is
 * still at work: the period starts again), or it is told to finish. */
static void quiet_expired(struct turn *t, uint64_t now)
{
    struct ipc_mark m;
    ipc_mark_take(t, &m);
    if (!dir_mark_same(&m.messages, &t->quiet_mark.messages) ||
        !dir_mark_same(&m.tasks, &t->quiet_mark.tasks)) {
        t->quiet_mark = m;
        quiet_restart(t, now, false);
        return;
    }
    t->quiet_deadline = 0;
    _cleanup_free_ char *d = format_duration_ms(t->quiet_ms);
    _cleanup_free_ char *why =
        xasprintf("no output and no IPC activity for %s after a result (agent.quiet_close)", d);
    send_close(t, why);
}

static void on_result(const agent_result *r, void *userdata)
{
    struct turn *t = userdata;
    uint64_t now = mono_ms();
    /* Only results reset the hard timeout; an agent that only writes stderr does not. */
    t->hard_deadline = deadline_after(now, t->hard_ms);
    if (r->session) {
        free(t->session);
        t->session = xstrdup(r->session);
    }
    if (!r->success)
        t->error_results++;
    if (r->result)
        t->idle_deadline = deadline_after(now, t->idle_ms);
    if (t->quiet_ms && !t->close_sent)
        quiet_restart(t, now, true);
    if (t->req->cb.on_result)
        t->req->cb.on_result(r, t->req->cb.userdata);
    if (!r->result && r->success && t->req->close_when_idle)
        send_close(t, "the query is complete");
}

static void on_parse_warning(const char *msg, void *userdata)
{
    struct turn *t = userdata;
    warning(t, "%s", msg);
}

/* Counts a stream against agent.max_output_size; past it, the bytes are dropped (results on
 * stdout are still parsed). Returns how many of len bytes are within the cap. */
static size_t cap_stream(struct turn *t, uint64_t *bytes, bool *truncated, const char *name,
                         size_t len)
{
    uint64_t before = *bytes;
    *bytes += len;
    if (*bytes <= t->max_output)
        return len;
    /* Past the cap: flagged and warned once, whichever chunk crossed it (a stream may reach
     * the cap exactly on a frame boundary). */
    if (!*truncated) {
        _cleanup_free_ char *cap = format_size_human(t->max_output);
        warning(t, "the agent's %s passed %s: the rest is dropped%s", name, cap,
                strcmp(name, "stdout") == 0 ? " (results are still read)" : "");
    }
    *truncated = true;
    return before < t->max_output ? (size_t)(t->max_output - before) : 0;
}

static int on_stream(int stream, const char *data, size_t len, void *userdata, nc_error **err)
{
    (void)err;
    struct turn *t = userdata;
    /* Any output shows the agent at work: the quiet period, once running, starts again. */
    if (t->quiet_deadline && len)
        quiet_restart(t, mono_ms(), false);
    if (stream == DEMUX_STDOUT) {
        cap_stream(t, &t->stdout_bytes, &t->stdout_truncated, "stdout", len);
        marker_feed(&t->mp, data, len);
        return 0;
    }
    size_t keep = cap_stream(t, &t->stderr_bytes, &t->stderr_truncated, "stderr", len);
    if (keep && t->req->cb.on_stderr)
        t->req->cb.on_stderr(data, keep, t->req->cb.userdata);
    strbuf_add(&t->stderr_tail, data, len);
    if (t->stderr_tail.len > STDERR_TAIL)
        strbuf_consume(&t->stderr_tail, t->stderr_tail.len - STDERR_TAIL);
    return 0;
}

/* Stops the container: SIGTERM with a 1 s grace, then SIGKILL if the stop failed. */
static void stop_container(struct turn *t)
{
    _cleanup_error_ nc_error *err = NULL;
    if (engine_container_stop(t->e, t->c->id, STOP_GRACE_S, &err) < 0) {
        _cleanup_error_ nc_error *kerr = NULL;
        if (engine_container_kill(t->e, t->c->id, "SIGKILL", &kerr) < 0 && kerr->code != ESRCH)
            warning(t, "could not stop container %.12s: %s; %s", t->c->id, nc_error_msg(err),
                    nc_error_msg(kerr));
    }
}

/* Reads what the socket has; sets eof at the end of the stream. */
static int pump_output(struct turn *t, nc_error **err)
{
    char buf[65536];
    for (int rounds = 0; rounds < 16; rounds++) {
        _cleanup_error_ nc_error *rerr = NULL;
        ssize_t n = engine_attach_read(t->c->attach, buf, sizeof(buf), &rerr);
        if (n == -EAGAIN)
            return 0;
        /* An engine that closes the connection with our unread stdin still queued makes the
         * kernel report a reset, after the last output byte, instead of EOF: the stream ended. */
        if (n == -ECONNRESET && t->stdin_refused) {
            t->eof = true;
            return 0;
        }
        if (n < 0)
            return nc_error_set(err, rerr->code, "%s", rerr->msg);
        if (n == 0) {
            t->eof = true;
            return 0;
        }
        int r = demux_feed(&t->dmx, buf, (size_t)n, on_stream, t, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Writes what the socket takes of the payload, and half-closes stdin after the last byte. An
 * engine that no longer takes stdin (EPIPE, ECONNRESET: the agent exited or closed its stdin
 * before reading all of it) ends the input, not the turn: the output is still read to its end,
 * since it says why the agent stopped. Any other failure is fatal. */
static int write_stdin(struct turn *t, nc_error **err)
{
    while (t->payload_off < t->payload.len) {
        _cleanup_error_ nc_error *werr = NULL;
        ssize_t n = engine_attach_write(t->c->attach, t->payload.buf + t->payload_off,
                                        t->payload.len - t->payload_off, &werr);
        if (n == -EAGAIN)
            return 0;
        if (n == -EPIPE || n == -ECONNRESET) {
            t->stdin_closed = t->stdin_refused = true;
            warning(t,
                    "the agent stopped taking its input after %zu of %zu bytes (%s); reading the "
                    "rest of its output",
                    t->payload_off, t->payload.len, nc_error_msg(werr));
            return 0;
        }
        if (n < 0)
            return nc_error_set(err, werr->code, "%s", werr->msg);
        t->payload_off += (size_t)n;
    }
    t->stdin_closed = true;
    return engine_attach_close_stdin(t->c->attach, err);
}

static uint64_t next_wakeup(const struct turn *t, uint64_t now)
{
    uint64_t wake = now + 1000;
    if (t->hard_deadline && t->hard_deadline < wake)
        wake = t->hard_deadline;
    if (t->idle_deadline && !t->close_sent && t->idle_deadline < wake)
        wake = t->idle_deadline;
    if (t->quiet_deadline && !t->close_sent && t->quiet_deadline < wake)
        wake = t->quiet_deadline;
    return wake > now ? wake - now : 0;
}

/* The loop: stdin out, results in, timers, OOM, cancellation. Returns when the stream ends. */
static int event_loop(struct turn *t, nc_error **err)
{
    uint64_t drain_until = 0;
    while (!t->eof) {
        uint64_t now = mono_ms();
        if (drain_until && now >= drain_until)
            break;
        if (!t->timed_out && t->hard_deadline && now >= t->hard_deadline) {
            t->timed_out = true;
            _cleanup_free_ char *d = format_duration_ms(t->hard_ms);
            warning(t, "no result for %s: stopping the container (the turn ends as timed out)", d);
            stop_container(t);
            drain_until = mono_ms() + DRAIN_AFTER_STOP_MS;
            continue;
        }
        if (t->idle_deadline && now >= t->idle_deadline && !t->close_sent) {
            _cleanup_free_ char *d = format_duration_ms(t->idle_ms);
            _cleanup_free_ char *why = xasprintf("no new result for %s (agent.idle_timeout)", d);
            send_close(t, why);
        }
        if (t->quiet_deadline && now >= t->quiet_deadline && !t->close_sent)
            quiet_expired(t, now);
        struct pollfd p[3] = {
            {.fd = engine_attach_fd(t->c->attach),
             .events = (short)(POLLIN | (t->stdin_closed ? 0 : POLLOUT))},
            {.fd = t->c->oom ? oomwatch_fd(t->c->oom) : -1, .events = POLLIN},
            {.fd = t->req->cancel_fd, .events = POLLIN},
        };
        int timeout = engine_attach_buffered(t->c->attach) ? 0 : (int)next_wakeup(t, now);
        if (poll(p, 3, timeout) < 0 && errno != EINTR)
            return nc_error_set(err, errno, "poll: %s", strerror(errno));
        if (p[2].revents & (POLLIN | POLLHUP)) {
            t->interrupted = true;
            return 0;
        }
        if (p[1].revents & POLLIN)
            oomwatch_check(t->c->oom);
        if (!t->stdin_closed && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
            int r = write_stdin(t, err);
            if (r < 0)
                return nc_error_wrap(err, "send the input");
        }
        if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) || engine_attach_buffered(t->c->attach)) {
            int r = pump_output(t, err);
            if (r < 0)
                return nc_error_wrap(err, "read the agent's output");
        }
    }
    marker_finish(&t->mp);
    _cleanup_error_ nc_error *derr = NULL;
    if (demux_finish(&t->dmx, &derr) < 0)
        warning(t, "%s", nc_error_msg(derr));
    return 0;
}

char *turn_make_run_id(void)
{
    uint32_t rnd = 0;
    (void)getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32]; /* "20261123T101500" */
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
    return xasprintf("%s-%08x", stamp, (unsigned)rnd);
}

static void fail(turn_result *res, turn_status status, const nc_error *err, const char *ctx)
{
    res->status = status;
    free(res->message);
    res->message = ctx ? xasprintf("%s: %s", ctx, nc_error_msg(err)) : xstrdup(nc_error_msg(err));
}

static turn_status classify_launch_error(const nc_error *err)
{
    if (err && err->code == EPERM)
        return TURN_SANDBOX;
    if (err && (err->code == ENOENT || err->code == EINVAL))
        return TURN_CONFIG;
    return TURN_ENGINE;
}

char *turn_stderr_line(const char *tail, size_t len)
{
    const unsigned char *s = (const unsigned char *)tail;
    size_t end = len; /* trailing whitespace, blank lines included */
    while (end && isspace(s[end - 1]))
        end--;
    if (!end)
        return NULL;
    size_t start = end;
    while (start && s[start - 1] != '\n')
        start--;
    while (isspace(s[start]))
        start++;
    return termsafe_str(tail + start, end - start, 0);
}

/* The outcome, in NanoClaw's terms: interruption, OOM, timeouts, exit status, error results.
 * res->message is for the user and may quote the agent; t->outcome is for the run log and
 * never does. */
static void judge(struct turn *t, turn_result *res)
{
    const sandbox_settings *s = config_sandbox(t->req->cfg, t->req->group);
    if (t->interrupted) {
        res->status = TURN_INTERRUPTED;
        res->message = xstrdup("interrupted: the container was stopped and removed");
        t->outcome = xstrdup("interrupted");
    } else if (res->oom_killed) {
        res->status = TURN_AGENT_ERROR;
        _cleanup_free_ char *limit = format_size_human(s->memory);
        res->message = xasprintf("the agent ran out of memory (limit %s) and was killed", limit);
        t->outcome = xstrdup("oom-killed");
    } else if (t->timed_out && t->error_results) {
        /* An error result fails the turn, whatever came after it. */
        _cleanup_free_ char *d = format_duration_ms(t->hard_ms);
        res->status = TURN_AGENT_ERROR;
        res->message =
            xasprintf("the agent reported %llu error result%s, then timed out (no result for %s)",
                      (unsigned long long)t->error_results, t->error_results == 1 ? "" : "s", d);
        t->outcome = xstrdup("timed out after error results");
    } else if (t->timed_out) {
        _cleanup_free_ char *d = format_duration_ms(t->hard_ms);
        res->status = res->results ? TURN_OK : TURN_AGENT_ERROR;
        if (!res->results)
            res->message = xasprintf("timed out after %s with no result", d);
        t->outcome = xstrdup(res->results ? "timed out after results (success)"
                                          : "timed out with no result");
    } else if (res->exit_code != 0) {
        res->status = TURN_AGENT_ERROR;
        _cleanup_free_ char *line = turn_stderr_line(t->stderr_tail.buf, t->stderr_tail.len);
        res->message = xasprintf("the agent exited with status %lld%s%s", (long long)res->exit_code,
                                 line ? ": " : "", line ? line : "");
        t->outcome = xasprintf("exit status %lld", (long long)res->exit_code);
    } else if (t->error_results) {
        res->status = TURN_AGENT_ERROR;
        res->message =
            xasprintf("the agent reported %llu error result%s",
                      (unsigned long long)t->error_results, t->error_results == 1 ? "" : "s");
        t->outcome = xstrdup(res->message);
    } else {
        res->status = TURN_OK;
        t->outcome = xstrdup("success");
    }
}

/* After the stream: exit status, OOM kill, removal. */
static void finish_container(struct turn *t, turn_result *res)
{
    _cleanup_error_ nc_error *err = NULL;
    int64_t code = -1;
    if (!t->interrupted &&
        engine_wait_end(t->e, t->c->wait, EXIT_WAIT_MS, EXIT_WAIT_FALLBACK_MS, &code, &err) < 0) {
        warning(t, "the container did not exit after its output ended (%s): stopping it",
                nc_error_msg(err));
        stop_container(t);
    }
    if (t->interrupted)
        stop_container(t);
    engine_state st = {0};
    nc_error_free(TAKE_PTR(err));
    if (engine_container_state(t->e, t->c->id, &st, &err) == 0) {
        if (code < 0)
            code = st.exit_code;
        res->oom_killed = st.oom_killed;
        engine_state_release(&st);
    }
    /* The engine may not have noticed (see sandbox/oomwatch.h). */
    if (t->c->oom && oomwatch_check(t->c->oom))
        res->oom_killed = true;
    res->exit_code = code;
}

turn_timeouts turn_compute_timeouts(const turn_request *req)
{
    const nc_config *cfg = req->cfg;
    turn_timeouts to = {.idle_ms = cfg->agent_idle_timeout_ms};
    /* An explicit timeout is the hard timeout as given; the idle close keeps its configured
     * value (when that is longer, the hard timeout comes first and no close is sent early). */
    if (req->timeout_ms)
        to.hard_ms = req->timeout_ms;
    else
        to.hard_ms = cfg->agent_timeout_ms > deadline_after(to.idle_ms, IDLE_GRACE_MS)
                         ? cfg->agent_timeout_ms
                         : deadline_after(to.idle_ms, IDLE_GRACE_MS);
    /* The quiet close guesses that a silent agent is done; an explicit timeout says how long
     * silence may last instead (turn.h). */
    to.quiet_ms = req->close_when_idle && !req->timeout_ms ? cfg->agent_quiet_close_ms : 0;
    return to;
}

static void reap_note(const engine_container_summary *c, reap_action what, const nc_error *err,
                      void *userdata)
{
    struct turn *t = userdata;
    if (what == REAP_REMOVED)
        progress(t, "removed orphaned container %.12s (group %s) left by a nanocell that is gone",
                 c->id, engine_summary_label(c, NC_LABEL_GROUP) ?: "-");
    else if (what == REAP_FAILED)
        warning(t, "could not remove orphaned container %.12s: %s", c->id, nc_error_msg(err));
}

static void pull_note(const char *msg, void *userdata)
{
    progress((struct turn *)userdata, "%s", msg);
}

/* Checks the request, prepares the group's folders, finds the image and builds the hardened
 * spec into t->prep: what a cold turn's container and a pooled one are both made from. A pooled
 * container (pooled) only finds the folders: preparing them clears ipc/input, which may belong
 * to a turn of the group that runs meanwhile; the turn that takes it prepares them as a cold
 * turn does. Returns false with res filled. */
static bool prepare_container(struct turn *t, turn_result *res, const char *image,
                              const char *run_id, bool pooled)
{
    const turn_request *req = t->req;
    const nc_config *cfg = req->cfg;
    _cleanup_error_ nc_error *err = NULL;
    const sandbox_settings *s = config_sandbox(cfg, req->group);
    const nc_group_config *g = config_group(cfg, req->group);
    t->is_main = req->is_main ? *req->is_main : g && g->main;
    uid_t uid;
    gid_t gid;
    if (!config_valid_group_name(req->group)) {
        nc_error_set(&err, EINVAL, "invalid group name '%s'", req->group);
        fail(res, TURN_CONFIG, err, NULL);
        return false;
    }
    /* Orphans go first, whatever happens to this turn. */
    if (!pooled && !req->reaped &&
        reap_orphans(req->e, cfg->install_id, false, reap_note, t, &err) < 0) {
        warning(t, "could not look for orphaned containers: %s", nc_error_msg(err));
        nc_error_free(TAKE_PTR(err));
    }
    int r = sandbox_parse_user(s->user, &uid, &gid, &err);
    if (r >= 0 && !pooled)
        r = workspace_owner(req->e, &uid, &gid, &err);
    if (r >= 0 && pooled)
        r = warm_find_folders(cfg->data_dir, req->group, &t->ws, &err);
    else if (r >= 0)
        r = workspace_prepare(cfg->data_dir, req->group, uid, gid, &t->ws, &err);
    if (r >= 0 && !pooled)
        r = workspace_prepare_global(&t->ws, cfg->data_dir, uid, gid, t->is_main, &err);
    if (r < 0) {
        fail(res, TURN_SANDBOX, err, "prepare the group's folders");
        return false;
    }
    if (agent_image_ensure(req->e, image, cfg->agent_pull, cfg->agent_timeout_ms, pull_note, t,
                           &t->img, &err) < 0) {
        fail(res, err->code == ENOENT || err->code == EINVAL ? TURN_CONFIG : TURN_ENGINE, err,
             NULL);
        return false;
    }
    t->owner = owner_self();
    /* As NanoClaw: global memory is read-only but for the main group. The agent's state lives
     * in its own folder, never in the workspace, and HOME is a fresh tmpfs: writable on a
     * read-only root, and nothing the agent leaves there outlives the turn but the state dir
     * (agent.state_dir, usually inside HOME). */
    sandbox_mount own[] = {
        {.source = t->ws.workspace, .target = WORKSPACE_GROUP_TARGET},
        {.source = t->ws.ipc, .target = WORKSPACE_IPC_TARGET},
        {.source = t->ws.global, .target = WORKSPACE_GLOBAL_TARGET, .read_only = !t->is_main},
        {.source = t->ws.state, .target = cfg->agent_state_dir},
        {.source = req->proxy_socket, .target = PROXY_CONTAINER_SOCKET},
    };
    t->home = xasprintf("HOME=%s", cfg->agent_home);
    strv_free(t->env);
    t->env = NULL;
    strv_push(&t->env, t->home);
    strv_push(&t->env, "NANOCELL_WORKSPACE=/workspace");
    if (req->proxy_socket) {
        _cleanup_strv_ char **penv = proxy_container_env(cfg->agent_model);
        for (size_t i = 0; penv[i]; i++)
            strv_push(&t->env, penv[i]);
    }
    sandbox_request sreq = {.cfg = cfg,
                            .group = req->group,
                            .engine = req->e,
                            .image = image,
                            .env = t->env,
                            .workdir = WORKSPACE_GROUP_TARGET,
                            .run_id = run_id,
                            .owner = t->owner,
                            .own = own,
                            .nown = NC_ARRAY_SIZE(own) - (req->proxy_socket ? 0 : 1),
                            .is_main = &t->is_main,
                            .home_tmpfs = cfg->agent_home};
    if (sandbox_runtime_choose(req->e, &sreq, NULL, &t->rt, &err) < 0) {
        fail(res, classify_launch_error(err), err, "choose the OCI runtime");
        return false;
    }
    sreq.runtime = t->rt.name;
    if (sandbox_prepare(&sreq, &t->prep, &err) < 0) {
        /* Everything sandbox_prepare refuses comes from the configuration and the policy files
         * it names (profile, mounts, allowlist, data dir): the operator's to fix, like any
         * configuration error. TURN_SANDBOX is for a container that fails verification. */
        fail(res, TURN_CONFIG, err, NULL);
        return false;
    }
    for (const char *p = strbuf_str(&t->prep->notes); *p;) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        warning(t, "%.*s", n, p);
        p += n + (nl ? 1 : 0);
    }
    return true;
}

/* Whether the pooled container w may serve this turn, checked now (agent/warm.h): the same
 * create body as the one a cold container would get now, the same image, the same process in
 * the same namespaces and mount table, the runtime check passing again, a quiet stream. */
static int warm_usable(struct turn *t, const turn_warm *w, nc_error **err)
{
    if (strcmp(w->group, t->req->group) != 0)
        return nc_error_set(err, ESTALE, "it was made for group '%s'", w->group);
    if (!w->c->image_id || !t->img.id || strcmp(w->c->image_id, t->img.id) != 0)
        return nc_error_set(err, ESTALE, "the image '%s' changed since it was made", w->image);
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    int r = sandbox_spec_json(&t->prep->spec, &body, err);
    if (r < 0)
        return r;
    if (strcmp(strbuf_str(&body), w->spec_json) != 0)
        return nc_error_set(err, ESTALE,
                            "the configuration, a policy or the group changed since it was made");
    r = warm_attach_quiet(w->c, err);
    if (r >= 0)
        r = warm_identity_check(&w->id, w->c->pid, "/proc", err);
    if (r < 0)
        return r;
    _cleanup_strbuf_ strbuf report = STRBUF_INIT;
    _cleanup_error_ nc_error *verr = NULL;
    if (sandbox_verify_runtime(&t->prep->spec, w->c->pid, "/proc", "/sys/fs/cgroup", &report,
                               &verr) < 0)
        return nc_error_set(err, ESTALE, "its runtime check fails now: %s", nc_error_msg(verr));
    return 0;
}

/* The turn's container: the pooled one when it is still what a cold one would be, else a new
 * one. Returns false with res filled. */
static bool launch_container(struct turn *t, turn_result *res, const char *name)
{
    const turn_request *req = t->req;
    _cleanup_error_ nc_error *err = NULL;
    turn_warm *w = TAKE_PTR(t->warm);
    if (w) {
        if (warm_usable(t, w, &err) == 0) {
            if (req->cb.on_launch)
                req->cb.on_launch(req->cb.userdata);
            t->c = TAKE_PTR(w->c);
            res->launch = TURN_LAUNCH_WARM;
            strbuf_addf(&t->c->report, "ok pooled: made %llu ms before the turn, checked again\n",
                        (unsigned long long)(mono_ms() - w->made_ms));
            turn_warm_free(w);
            /* The timeline restarts: what the pool spent is not this turn's. */
            strbuf_reset(&t->c->phases);
            t->c->phase_mark = mono_ms();
            sandbox_phase(t->c, "pooled");
            return true;
        }
        res->launch = TURN_LAUNCH_DISCARDED;
        res->discarded = xstrdup(nc_error_msg(err));
        warning(t,
                "the pooled container %.12s is not used (%s): it is removed and the turn runs cold",
                w->c->id, nc_error_msg(err));
        nc_error_free(TAKE_PTR(err));
        turn_warm_discard(req->e, w);
    }
    if (req->cb.on_launch)
        req->cb.on_launch(req->cb.userdata);
    if (sandbox_launch(req->e, &t->prep->spec, name, NULL, &t->c, &err) < 0) {
        fail(res, classify_launch_error(err), err, NULL);
        return false;
    }
    return true;
}

/* Before the payload is written: an agent blocked on stdin finds the ports open. Without them
 * only agents that use the socket itself, or the reference agent's own relay, reach the proxy:
 * not a failure. A nanocell that is not root (rootless engines) never can enter the namespace,
 * so that is said as progress on every turn; anything else is a warning. */
static void start_relay(struct turn *t)
{
    static const uint16_t ports[] = {NETNS_RELAY_MODEL_PORT, NETNS_RELAY_EGRESS_PORT};
    _cleanup_error_ nc_error *err = NULL;
    int r = netns_relay_start(t->c->pid, t->req->proxy_socket, ports, NC_ARRAY_SIZE(ports),
                              &t->relay, &err);
    if (r == -EPERM)
        progress(t, "no loopback listener for agents that speak TCP to the proxy: %s",
                 nc_error_msg(err));
    else if (r < 0)
        warning(t, "no loopback listener for agents that speak TCP to the proxy: %s",
                nc_error_msg(err));
}

/* Everything from checking the request to removing the container; returns early on failure
 * with res filled. What the run log needs is left in t. */
static void run_body(struct turn *t, turn_result *res, const char *image, const char *run_id,
                     const char *name)
{
    const turn_request *req = t->req;
    const nc_config *cfg = req->cfg;
    _cleanup_error_ nc_error *err = NULL;
    if (!prepare_container(t, res, image, run_id, false))
        return;
    _cleanup_free_ char *chat_jid =
        req->chat_jid ? xstrdup(req->chat_jid) : xasprintf("local:%s", req->group);
    agent_input in = {.prompt = req->prompt,
                      .session_id = req->session_id,
                      .group_folder = req->group,
                      .chat_jid = chat_jid,
                      .is_main = t->is_main,
                      .is_scheduled_task = req->scheduled,
                      .script = req->script,
                      .assistant_name = cfg->agent_assistant_name};
    if (protocol_input_json(&in, &t->payload, &err) < 0) {
        fail(res, TURN_CONFIG, err, "the prompt");
        return;
    }
    if (!launch_container(t, res, name))
        return;
    res->container_id = xstrdup(t->c->id);
    t->verification = xstrdup(strbuf_str(&t->c->report));
    /* The pid is the engine's: it names this host's process only for a local engine. */
    if (req->proxy_socket && endpoint_is_local(&req->e->ep))
        start_relay(t);
    else if (req->proxy_socket)
        progress(t, "no loopback listener for agents that speak TCP to the proxy: the engine is "
                    "on another host");
    /* What the engine reports it used, and, under auto, why it was asked for. */
    const char *used = t->c->runtime ? t->c->runtime : "engine default";
    t->runtime = t->rt.from_auto ? xasprintf("%s (%s)", used, t->rt.why) : xstrdup(used);
    size_t checks = 0, waived = 0;
    for (const char *p = t->verification; *p;) {
        checks += strncmp(p, "ok ", 3) == 0;
        waived += strncmp(p, "waived ", 7) == 0;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    _cleanup_free_ char *waived_text = waived ? xasprintf(", %zu waived", waived) : xstrdup("");
    progress(t, "sandbox verified: %zu checks passed%s; container %.12s%s, runtime %s", checks,
             waived_text, t->c->id, res->launch == TURN_LAUNCH_WARM ? " (pooled)" : "", t->runtime);
    t->hard_deadline = deadline_after(mono_ms(), t->hard_ms);
    if (event_loop(t, &err) < 0) {
        warning(t, "%s", nc_error_msg(err));
        nc_error_free(TAKE_PTR(err));
    }
    sandbox_phase(t->c, "turn");
    res->results = t->mp.results;
    res->error_results = t->error_results;
    res->timed_out = t->timed_out;
    finish_container(t, res);
    judge(t, res);
    sandbox_phase(t->c, "exit");
    uint64_t before_remove = mono_ms();
    _cleanup_free_ char *phases = xstrdup(strbuf_str(&t->c->phases));
    if (req->remove_later) {
        req->remove_later(TAKE_PTR(t->c), req->remove_userdata);
        t->phases = xasprintf("%s remove=later", phases);
        return;
    }
    if (sandbox_container_remove(req->e, TAKE_PTR(t->c), &err) < 0)
        warning(t, "%s (the next start removes it)", nc_error_msg(err));
    t->phases =
        xasprintf("%s remove=%llu", phases, (unsigned long long)(mono_ms() - before_remove));
}

int turn_prelaunch(const turn_request *req, turn_warm **ret, nc_error **err)
{
    const nc_config *cfg = req->cfg;
    struct turn t = {.req = req, .e = req->e, .max_output = cfg->agent_max_output};
    const char *image = req->image ? req->image : cfg->agent_image;
    turn_result res = {0};
    int r = 0;
    _cleanup_free_ char *name = xasprintf("nanocell-%s-%s", req->group, req->run_id);
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    if (!req->run_id)
        r = nc_error_set(err, EINVAL, "a pooled container needs a run id");
    else if (!prepare_container(&t, &res, image, req->run_id, true))
        r = nc_error_set(err, res.status == TURN_ENGINE ? EIO : EINVAL, "%s", res.message);
    if (r >= 0)
        r = sandbox_spec_json(&t.prep->spec, &body, err);
    if (r >= 0)
        r = sandbox_launch(req->e, &t.prep->spec, name, NULL, &t.c, err);
    turn_warm *w = NULL;
    if (r >= 0) {
        w = xnew0(turn_warm);
        w->c = TAKE_PTR(t.c);
        w->group = xstrdup(req->group);
        w->run_id = xstrdup(req->run_id);
        w->image = xstrdup(image);
        w->spec_json = strbuf_detach(&body, NULL);
        w->is_main = t.is_main;
        w->memory = config_sandbox(cfg, req->group)->memory;
        r = warm_identity_take(w->c->pid, "/proc", &w->id, err);
        w->made_ms = mono_ms();
        if (r < 0) {
            turn_warm_discard(req->e, TAKE_PTR(w));
            nc_error_wrap(err, "read the pooled container's process");
        }
    }
    turn_state_release(&t);
    turn_result_release(&res);
    if (r < 0)
        return r;
    *ret = w;
    return 0;
}

void turn_warm_discard(engine *e, turn_warm *w)
{
    if (!w)
        return;
    if (w->c)
        sandbox_container_remove(e, TAKE_PTR(w->c), NULL);
    turn_warm_free(w);
}

const char *turn_warm_run_id(const turn_warm *w)
{
    return w->run_id;
}

uint64_t turn_warm_memory(const turn_warm *w)
{
    return w->memory;
}

const char *turn_warm_container_id(const turn_warm *w)
{
    return w->c ? w->c->id : NULL;
}

void turn_run(const turn_request *req, turn_result *res)
{
    *res = (turn_result){.exit_code = -1};
    const nc_config *cfg = req->cfg;
    struct turn t = {
        .req = req, .e = req->e, .max_output = cfg->agent_max_output, .warm = req->warm};
    uint64_t started = wall_ms(), t0 = mono_ms();
    t.started = t0;
    const char *image = req->image ? req->image : cfg->agent_image;
    _cleanup_free_ char *run_id = req->run_id ? xstrdup(req->run_id) : turn_make_run_id();
    _cleanup_free_ char *name = xasprintf("nanocell-%s-%s", req->group, run_id);
    _cleanup_free_ char *engine_desc =
        xasprintf("%s %s (API 1.%d) at %s", engine_kind_name(req->e->kind), req->e->version,
                  req->e->api_minor, req->e->ep.uri);
    turn_timeouts to = turn_compute_timeouts(req);
    t.hard_ms = to.hard_ms;
    t.idle_ms = to.idle_ms;
    t.quiet_ms = to.quiet_ms;
    demux_init(&t.dmx, false);
    marker_parser_init(&t.mp, cfg->agent_max_result, on_result, on_parse_warning, &t);

    run_body(&t, res, image, run_id, name);

    res->session_id = t.session ? xstrdup(t.session) : NULL;
    if (t.ws.logs) {
        turn_record rec = {
            .started_ms = started,
            .duration_ms = mono_ms() - t0,
            .group = req->group,
            .run_id = run_id,
            .container_id = res->container_id,
            .image = image,
            .image_id = t.img.id,
            .engine = engine_desc,
            .runtime = t.runtime,
            .seccomp_digest = t.prep && t.prep->seccomp_digest[0] ? t.prep->seccomp_digest : NULL,
            .seccomp_source = t.prep ? t.prep->seccomp_source : NULL,
            .prompt_bytes = strlen(req->prompt),
            .launched = res->container_id != NULL,
            .exit_code = res->exit_code,
            .oom_killed = res->oom_killed,
            .timed_out = res->timed_out,
            .interrupted = t.interrupted,
            .close = t.close_note,
            .results = t.mp.results,
            .error_results = t.error_results,
            .skipped_blocks = t.mp.skipped,
            .stdout_bytes = t.stdout_bytes,
            .stderr_bytes = t.stderr_bytes,
            .stdout_truncated = t.stdout_truncated,
            .stderr_truncated = t.stderr_truncated,
            .outcome = t.outcome ? t.outcome : res->message,
            .verification = t.verification ? t.verification : res->message,
            .phases = t.phases,
        };
        _cleanup_error_ nc_error *lerr = NULL;
        if (runlog_write(t.ws.logs, &rec, &res->log_path, &lerr) < 0)
            warning(&t, "%s", nc_error_msg(lerr));
    }
    sandbox_container_remove(req->e, TAKE_PTR(t.c), NULL); /* only after a failed body */
    turn_state_release(&t);
}

void turn_result_release(turn_result *res)
{
    free(res->message);
    free(res->session_id);
    free(res->container_id);
    free(res->log_path);
    free(res->discarded);
    *res = (turn_result){0};
}
