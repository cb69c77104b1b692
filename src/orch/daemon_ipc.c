/* The daemon's side of IPC (src/orch/ipc.h): which groups are watched and as which uid, what
 * each authorized request does in the store, and the snapshots the host writes for the agents
 * (current_tasks.json, available_groups.json in NanoClaw's formats). Requests are authorized by
 * ipc_authorize() against the store's view of the group whose directory the file was in. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/workspace.h"
#include "orch/daemon_internal.h"
#include "orch/ipc.h"
#include "orch/ipc_auth.h"
#include "orch/scheduler.h"
#include "orch/store_tasks.h"
#include "sandbox/settings.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Who gets a group's folders when the watcher makes them before the group's first turn: the
 * sandbox user when nanocell runs as root, else nanocell's own. The turn gives them to the uid
 * the engine maps the container's user to (workspace_owner) when that differs. */
static int agent_ids(const nc_config *cfg, const char *group, uid_t *uid, gid_t *gid,
                     nc_error **err)
{
    if (geteuid() != 0) {
        *uid = geteuid();
        *gid = getegid();
        return 0;
    }
    return sandbox_parse_user(config_sandbox(cfg, group)->user, uid, gid, err);
}

static int list_groups(void *ud, char ***folders, nc_error **err)
{
    nc_daemon *d = ud;
    pthread_mutex_lock(&d->lock);
    struct cfg_ref *cr = daemon_cfg_take_locked(d);
    pthread_mutex_unlock(&d->lock);
    store_group *v = NULL;
    size_t n = 0;
    int r = store_group_list(d->st, &v, &n, err);
    if (r >= 0) {
        for (size_t i = 0; i < n; i++) {
            uid_t uid;
            gid_t gid;
            _cleanup_error_ nc_error *e = NULL;
            if (agent_ids(cr->cfg, v[i].folder, &uid, &gid, &e) < 0) {
                log_warn("group %s: ipc not watched: %s", v[i].folder, nc_error_msg(e));
                continue;
            }
            /* A group that never ran has no ipc/ yet: made now, so it is watched at once. */
            _cleanup_free_ char *ipc =
                xasprintf("%s/groups/%s/ipc/tasks", cr->cfg->data_dir, v[i].folder);
            struct stat st;
            if (lstat(ipc, &st) < 0) {
                workspace ws = {0};
                if (workspace_prepare(cr->cfg->data_dir, v[i].folder, uid, gid, &ws, &e) < 0)
                    log_warn("group %s: ipc: %s", v[i].folder, nc_error_msg(e));
                workspace_release(&ws);
            }
            strv_push(folders, v[i].folder);
        }
        store_groups_free(v, n);
    }
    pthread_mutex_lock(&d->lock);
    daemon_cfg_drop_locked(cr);
    pthread_mutex_unlock(&d->lock);
    /* The groups changed: main's available_groups.json (and a new group's files) follow. */
    if (r >= 0)
        daemon_ipc_snapshots(d, NULL);
    return r;
}

/* ---- acting on requests ---- */

static bool is_main(nc_daemon *d, const char *group)
{
    store_group g = {0};
    bool m = store_group_get(d->st, group, &g, NULL) == 0 && g.is_main;
    store_group_release(&g);
    return m;
}

/* The group a chat maps to, or NULL. */
static char *chat_group(nc_daemon *d, const char *jid)
{
    char *folder = NULL;
    if (!jid || store_chat_group(d->st, jid, &folder, NULL) < 0)
        return NULL;
    return folder;
}

/* A message: stored as an outbound message with its outbox row, like a reply. While the
 * group's turn answers a batch in that chat, it counts as part of the answer (the local API's
 * stream shows it and marks it delivered); otherwise it waits in the outbox for the chat's
 * channel. */
static int act_message(nc_daemon *d, const char *source, const ipc_request *q, const char *target,
                       nc_error **err)
{
    const char *group = target ? target : source;
    int64_t reply_to = 0;
    _cleanup_free_ char *run_id = NULL;
    pthread_mutex_lock(&d->lock);
    for (struct slot *s = d->slots; s; s = s->next)
        if (strcmp(s->group, group) == 0 && !s->done) {
            if (!s->task && s->chat_jid && strcmp(s->chat_jid, q->chat_jid) == 0)
                reply_to = s->batch ? s->batch : s->last_batch;
            run_id = xstrdup(s->run_id);
        }
    pthread_mutex_unlock(&d->lock);
    int64_t id;
    int r = store_reply_add(d->st, group, q->chat_jid, reply_to, run_id, q->text,
                            (int64_t)wall_ms(), &id, err);
    if (r < 0)
        return r;
    pthread_mutex_lock(&d->lock);
    daemon_changed_locked(d);
    pthread_mutex_unlock(&d->lock);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double ms = q->arrived_ns
                    ? (double)((int64_t)now.tv_sec * 1000000000 + now.tv_nsec - q->arrived_ns) / 1e6
                    : 0;
    log_info("group %s: ipc message %lld stored for chat %s (%.3f ms after its file arrived)",
             source, (long long)id, q->chat_jid, ms);
    return 0;
}

/* A task id from a file: what the CLI and the API can name back. */
static bool task_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (!n || n > 64)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

char *daemon_task_new_id(void)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    unsigned char rnd[6] = {0};
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
        for (size_t i = 0; i < sizeof(rnd); i++)
            rnd[i] = (unsigned char)(mono_us() >> (i * 5));
    char suffix[sizeof(rnd) + 1];
    for (size_t i = 0; i < sizeof(rnd); i++)
        suffix[i] = digits[rnd[i] % 36];
    suffix[sizeof(rnd)] = '\0';
    return xasprintf("task-%llu-%s", (unsigned long long)wall_ms(), suffix);
}

static int act_schedule(nc_daemon *d, const char *source, const ipc_request *q, const char *target,
                        const char *chat, nc_error **err)
{
    if (q->task_id && !task_id_ok(q->task_id))
        return nc_error_set(err, EINVAL, "task id '%.64s' is not [A-Za-z0-9._-]{1,64}", q->task_id);
    int64_t next;
    int r = scheduler_first_run(d->sched, q->schedule_type, q->schedule_value, (int64_t)wall_ms(),
                                &next, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *id = q->task_id ? xstrdup(q->task_id) : daemon_task_new_id();
    _cleanup_free_ char *by = xasprintf("ipc:%s", source);
    bool group_ctx = q->context_mode && strcmp(q->context_mode, "group") == 0;
    store_task t = {
        .id = id,
        .group = (char *)target,
        .chat_jid = (char *)chat,
        .prompt = q->prompt,
        .script = q->script && *q->script ? q->script : NULL,
        .schedule_type = q->schedule_type,
        .schedule_value = q->schedule_value,
        .context_mode = group_ctx ? "group" : "isolated",
        .next_run_ms = next,
        .created_by = by,
    };
    if ((r = store_task_add(d->st, &t, err)) < 0)
        return r;
    log_info("group %s: ipc scheduled task %s for group %s (%s %s)", source, id, target,
             q->schedule_type, q->schedule_value);
    return 0;
}

static int act_task(nc_daemon *d, const char *source, const ipc_request *q, const store_task *t,
                    nc_error **err)
{
    int r = 0;
    switch (q->type) {
    case IPC_PAUSE_TASK:
        r = store_task_set_status(d->st, t->id, "paused", -1, err);
        break;
    case IPC_RESUME_TASK:
        r = store_task_set_status(d->st, t->id, "active", -1, err);
        break;
    case IPC_CANCEL_TASK:
        r = store_task_remove(d->st, t->id, err);
        break;
    case IPC_UPDATE_TASK: {
        store_task u = *t;
        if (q->prompt)
            u.prompt = q->prompt;
        if (q->script)
            u.script = *q->script ? q->script : NULL;
        if (q->schedule_type) {
            u.schedule_type = q->schedule_type;
            u.schedule_value = q->schedule_value;
            r = scheduler_first_run(d->sched, u.schedule_type, u.schedule_value, (int64_t)wall_ms(),
                                    &u.next_run_ms, err);
        }
        if (r >= 0)
            r = store_task_update(d->st, &u, err);
        break;
    }
    default:
        return nc_error_set(err, EINVAL, "not a task operation");
    }
    if (r >= 0)
        log_info("group %s: ipc %s %s", source, ipc_type_name(q->type), t->id);
    return r;
}

/* register_group: the group is added (or its name and trigger updated), never as main; its
 * chat and local:<folder> are mapped to it. A containerConfig is not applied: a group's mounts
 * come only from the configuration, and pass the mount allowlist at every turn. */
static int act_register(nc_daemon *d, const char *source, const ipc_request *q, nc_error **err)
{
    store_group g = {.folder = q->folder,
                     .name = q->name,
                     .trigger = q->trigger,
                     .requires_trigger = q->requires_trigger};
    store_group old = {0};
    int r;
    if (store_group_get(d->st, q->folder, &old, NULL) == 0) {
        g.is_main = old.is_main;
        g.image = old.image;
        r = store_group_update(d->st, &g, err);
    } else {
        g.image = "";
        r = store_group_add(d->st, &g, err);
    }
    store_group_release(&old);
    _cleanup_free_ char *local = xasprintf("local:%s", q->folder);
    if (r >= 0)
        r = store_chat_map(d->st, q->jid, q->folder, err);
    if (r >= 0 && strcmp(local, q->jid) != 0)
        r = store_chat_map(d->st, local, q->folder, err);
    if (r < 0)
        return r;
    if (q->container_config)
        log_warn("group %s: ipc register_group %s: containerConfig ignored (a group's mounts come "
                 "from the configuration and pass the mount allowlist)",
                 source, q->folder);
    log_info("group %s: ipc registered group %s (chat %s)", source, q->folder, q->jid);
    daemon_groups_changed(d);
    return 0;
}

static int on_request(void *ud, const char *source, const ipc_request *q, const char **denied,
                      nc_error **err)
{
    nc_daemon *d = ud;
    ipc_subject subj = {.source = source, .source_main = is_main(d, source)};
    _cleanup_free_ char *target = NULL;
    _cleanup_free_ char *chat = NULL;
    store_task task = {0};
    bool have_task = false;
    switch (q->type) {
    case IPC_MESSAGE:
        target = chat_group(d, q->chat_jid);
        break;
    case IPC_SCHEDULE_TASK:
        if (q->target_jid) {
            target = chat_group(d, q->target_jid);
            chat = xstrdup(q->target_jid);
        } else {
            /* No target: the group itself, in the chat its agent answers now (or its local
             * chat). */
            target = xstrdup(source);
            pthread_mutex_lock(&d->lock);
            for (struct slot *s = d->slots; s && !chat; s = s->next)
                if (strcmp(s->group, source) == 0 && s->chat_jid)
                    chat = xstrdup(s->chat_jid);
            pthread_mutex_unlock(&d->lock);
            if (!chat)
                chat = xasprintf("local:%s", source);
        }
        break;
    case IPC_PAUSE_TASK:
    case IPC_RESUME_TASK:
    case IPC_CANCEL_TASK:
    case IPC_UPDATE_TASK:
        if (store_task_get(d->st, q->task_id, &task, NULL) == 0) {
            have_task = true;
            target = xstrdup(task.group);
        }
        break;
    case IPC_REFRESH_GROUPS:
    case IPC_REGISTER_GROUP:
    default:
        break;
    }
    subj.target = target;
    int r = 0;
    if ((*denied = ipc_authorize(q, &subj))) {
        pthread_mutex_lock(&d->lock);
        daemon_changed_locked(d);
        pthread_mutex_unlock(&d->lock);
    } else {
        switch (q->type) {
        case IPC_MESSAGE:
            r = act_message(d, source, q, target, err);
            break;
        case IPC_SCHEDULE_TASK:
            r = act_schedule(d, source, q, target, chat, err);
            break;
        case IPC_PAUSE_TASK:
        case IPC_RESUME_TASK:
        case IPC_CANCEL_TASK:
        case IPC_UPDATE_TASK:
            r = have_task ? act_task(d, source, q, &task, err) : -ENOENT;
            break;
        case IPC_REFRESH_GROUPS:
            daemon_ipc_snapshots(d, NULL);
            break;
        case IPC_REGISTER_GROUP:
            r = act_register(d, source, q, err);
            break;
        default:
            r = nc_error_set(err, EINVAL, "unknown type");
        }
        if (r >= 0 && q->type != IPC_MESSAGE && q->type != IPC_REFRESH_GROUPS) {
            scheduler_changed(d);
            daemon_ipc_snapshots(d, NULL);
        }
    }
    store_task_release(&task);
    return r;
}

static void later(void *ud)
{
    daemon_ipc_snapshots(ud, NULL);
}

int daemon_ipc_start(nc_daemon *d, nc_error **err)
{
    pthread_mutex_lock(&d->lock);
    const nc_config *cfg = d->cfg->cfg;
    _cleanup_free_ char *groups = xasprintf("%s/groups", cfg->data_dir);
    ipc_limits lim = {.max_file = cfg->ipc_max_file_size,
                      .max_per_minute = (unsigned)cfg->ipc_max_files_per_minute};
    pthread_mutex_unlock(&d->lock);
    ipc_callbacks cb = {.on_request = on_request, .groups = list_groups, .later = later, .ud = d};
    int r = ipc_watcher_new(groups, &lim, &cb, &d->ipc, err);
    if (r >= 0)
        r = ipc_watcher_start(d->ipc, err);
    return r;
}

/* ---- snapshots ---- */

static char *iso_utc(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    return xasprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Writes name into ipcfd atomically: a fresh temporary (O_EXCL|O_NOFOLLOW) renamed over it; a
 * link the agent planted at name is replaced, never followed. */
static void write_at(const char *group, int ipcfd, const char *name, const strbuf *text)
{
    /* Several threads write snapshots (the watcher, the dispatcher, API handlers): each
     * temporary name is unique in the process. */
    static _Atomic unsigned long long seq;
    _cleanup_free_ char *tmp = xasprintf(".%s.%d.%llu.tmp", name, (int)getpid(), ++seq);
    _cleanup_close_ int fd =
        openat(ipcfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    bool ok = fd >= 0;
    for (size_t off = 0; ok && off < text->len;) {
        ssize_t n = write(fd, text->buf + off, text->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        off += n > 0 ? (size_t)n : 0;
    }
    ok = ok && fchmod(fd, 0644) == 0 && renameat(ipcfd, tmp, ipcfd, name) == 0;
    if (!ok) {
        log_warn("group %s: could not write ipc/%s: %s", group, name, strerror(errno));
        if (fd >= 0)
            unlinkat(ipcfd, tmp, 0);
    }
}

static void tasks_json(nc_daemon *d, const store_task *v, size_t n, const char *group, bool all,
                       strbuf *out)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_arr_open(g);
    for (size_t i = 0; i < n; i++) {
        if (!all && strcmp(v[i].group, group) != 0)
            continue;
        jgen_obj_open(g);
        jgen_kv_str(g, "id", v[i].id);
        jgen_kv_str(g, "groupFolder", v[i].group);
        jgen_kv_str(g, "prompt", v[i].prompt);
        jgen_key(g, "script");
        if (v[i].script)
            jgen_str(g, v[i].script);
        else
            jgen_null(g);
        jgen_kv_str(g, "schedule_type", v[i].schedule_type);
        jgen_kv_str(g, "schedule_value", v[i].schedule_value);
        jgen_kv_str(g, "status", v[i].status);
        jgen_key(g, "next_run");
        if (v[i].next_run_ms) {
            _cleanup_free_ char *iso = iso_utc(v[i].next_run_ms);
            jgen_str(g, iso);
        } else {
            jgen_null(g);
        }
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    (void)d;
    (void)jgen_finish(g, out, NULL);
}

static int newest_first(const void *a, const void *b)
{
    const store_chat *x = a, *y = b;
    return x->last_ms < y->last_ms ? 1 : x->last_ms > y->last_ms ? -1 : strcmp(x->jid, y->jid);
}

/* NanoClaw's available_groups.json: every chat a channel knows (registered or not), newest
 * activity first; only main gets them. */
static void groups_json(store_chat *c, size_t n, bool main, strbuf *out)
{
    if (main && n)
        qsort(c, n, sizeof(*c), newest_first);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_key(g, "groups");
    jgen_arr_open(g);
    for (size_t i = 0; main && i < n; i++) {
        jgen_obj_open(g);
        jgen_kv_str(g, "jid", c[i].jid);
        jgen_kv_str(g, "name", c[i].name && *c[i].name ? c[i].name : c[i].jid);
        jgen_key(g, "lastActivity");
        if (c[i].last_ms) {
            _cleanup_free_ char *iso = iso_utc(c[i].last_ms);
            jgen_str(g, iso);
        } else {
            jgen_null(g);
        }
        jgen_kv_bool(g, "isRegistered", c[i].group != NULL);
        jgen_obj_close(g);
    }
    jgen_arr_close(g);
    _cleanup_free_ char *now = iso_utc((int64_t)wall_ms());
    jgen_kv_str(g, "lastSync", now);
    jgen_obj_close(g);
    (void)jgen_finish(g, out, NULL);
}

/* What each group's files were written from: a group whose tasks and groups did not change
 * since (snap_gen counts the changes: every call for all groups follows one) keeps its files
 * before its next turn, so a message's turn pays nothing for them; main's chats' lastActivity
 * is then as of the last change or refresh_groups. One daemon per process. */
static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t snap_gen = 1;
static char **snap_groups;
static uint64_t *snap_at;

/* Whether only's files are current; otherwise the generation to record once written. */
static bool snap_current(const char *only, uint64_t *gen)
{
    pthread_mutex_lock(&snap_lock);
    if (!only)
        snap_gen++;
    *gen = snap_gen;
    bool current = false;
    for (size_t i = 0; only && snap_groups && snap_groups[i]; i++)
        if (strcmp(snap_groups[i], only) == 0)
            current = snap_at[i] == snap_gen;
    pthread_mutex_unlock(&snap_lock);
    return current;
}

static void snap_written(const char *group, uint64_t gen)
{
    pthread_mutex_lock(&snap_lock);
    size_t i = 0;
    while (snap_groups && snap_groups[i] && strcmp(snap_groups[i], group) != 0)
        i++;
    if (!snap_groups || !snap_groups[i]) {
        strv_push(&snap_groups, group);
        snap_at = xreallocarray(snap_at, i + 1, sizeof(*snap_at));
        snap_at[i] = 0;
    }
    if (snap_at[i] < gen)
        snap_at[i] = gen;
    pthread_mutex_unlock(&snap_lock);
}

void daemon_ipc_snapshots_later(nc_daemon *d)
{
    pthread_mutex_lock(&snap_lock);
    snap_gen++; /* every group's files are stale from now */
    pthread_mutex_unlock(&snap_lock);
    if (d->ipc)
        ipc_watcher_later(d->ipc);
    else
        daemon_ipc_snapshots(d, NULL);
}

void daemon_ipc_snapshots(nc_daemon *d, const char *only)
{
    uint64_t gen;
    if (snap_current(only, &gen))
        return;
    pthread_mutex_lock(&d->lock);
    struct cfg_ref *cr = daemon_cfg_take_locked(d);
    pthread_mutex_unlock(&d->lock);
    store_group *gv = NULL;
    store_task *tv = NULL;
    store_chat *cv = NULL;
    size_t gn = 0, tn = 0, cn = 0;
    _cleanup_error_ nc_error *err = NULL;
    /* One group's (before its turn) reads only what that group sees: its own tasks, and the
     * chats only for main. */
    int r;
    if (only) {
        gv = xnew0(store_group);
        r = store_group_get(d->st, only, gv, &err);
        gn = r < 0 ? 0 : 1;
    } else {
        r = store_group_list(d->st, &gv, &gn, &err);
    }
    bool any_main = false;
    for (size_t i = 0; i < gn; i++)
        any_main = any_main || gv[i].is_main;
    if (r >= 0)
        r = store_task_list(d->st, only && !any_main ? only : NULL, &tv, &tn, &err);
    if (r >= 0 && any_main)
        r = store_chat_list(d->st, &cv, &cn, &err);
    if (r < 0) {
        if (err->code != ENOENT)
            log_warn("ipc snapshots: %s", nc_error_msg(err));
        store_groups_free(gv, gn);
        gv = NULL;
        gn = 0;
    }
    for (size_t i = 0; i < gn; i++) {
        if (only && strcmp(only, gv[i].folder) != 0)
            continue;
        _cleanup_free_ char *root = xasprintf("%s/groups/%s", cr->cfg->data_dir, gv[i].folder);
        _cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int ipcfd =
            rfd < 0 ? -1 : openat(rfd, "ipc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ipcfd < 0)
            continue; /* the group never ran: its first turn's snapshot comes before it */
        strbuf t = STRBUF_INIT;
        tasks_json(d, tv, tn, gv[i].folder, gv[i].is_main, &t);
        write_at(gv[i].folder, ipcfd, "current_tasks.json", &t);
        strbuf_release(&t);
        strbuf a = STRBUF_INIT;
        groups_json(cv, cn, gv[i].is_main, &a);
        write_at(gv[i].folder, ipcfd, "available_groups.json", &a);
        strbuf_release(&a);
        snap_written(gv[i].folder, gen);
    }
    store_groups_free(gv, gn);
    store_tasks_free(tv, tn);
    store_chats_free(cv, cn);
    pthread_mutex_lock(&d->lock);
    daemon_cfg_drop_locked(cr);
    pthread_mutex_unlock(&d->lock);
}
