/* The IPC watcher (see ipc.h). */
#include "orch/ipc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

enum { DIR_MESSAGES, DIR_TASKS, NDIRS };
static const char *const dir_names[NDIRS] = {"messages", "tasks"};

/* Denials are counted per group and type, in a bounded table (the last slot takes the rest). */
#define MAX_DENIAL_KEYS 256

struct wgroup {
    char *folder;
    int ipc_fd;      /* data_dir/groups/<g>/ipc, or -1 */
    int ipc_wd;      /* its watch (new messages/ or tasks/ directories), or -1 */
    int fd[NDIRS];   /* messages/, tasks/, or -1 */
    int wd[NDIRS];   /* their watches, or -1 */
    uint64_t window; /* the minute (mono ms / 60000) the count is for */
    unsigned count;  /* files handled in that minute */
    bool seen;       /* still listed at the last resync */
};

struct denial {
    char *group;
    ipc_type type;
    uint64_t n;
};

struct ipc_watcher {
    char *groups_dir;
    ipc_callbacks cb;
    _Atomic size_t max_file;
    _Atomic unsigned max_per_minute;
    int in_fd;   /* inotify */
    int kick_fd; /* eventfd: resync or stop */
    atomic_bool want_resync, want_later, stop;
    bool started;
    pthread_t thread;
    struct wgroup *groups; /* the watcher thread's (or the dispatching caller's) */
    size_t ngroups;
    pthread_mutex_t lock; /* counts and denials */
    ipc_counts counts;
    struct denial denials[MAX_DENIAL_KEYS];
    size_t ndenials;
};

int ipc_watcher_new(const char *groups_dir, const ipc_limits *lim, const ipc_callbacks *cb,
                    ipc_watcher **ret, nc_error **err)
{
    ipc_watcher *w = xnew0(ipc_watcher);
    w->groups_dir = xstrdup(groups_dir);
    w->cb = *cb;
    ipc_watcher_set_limits(w, lim);
    pthread_mutex_init(&w->lock, NULL);
    w->kick_fd = -1;
    w->in_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (w->in_fd >= 0)
        w->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->in_fd < 0 || w->kick_fd < 0) {
        int r = nc_error_set(err, errno, "ipc watcher: %s", strerror(errno));
        ipc_watcher_free(w);
        return r;
    }
    atomic_store(&w->want_resync, true);
    *ret = w;
    return 0;
}

void ipc_watcher_set_limits(ipc_watcher *w, const ipc_limits *lim)
{
    atomic_store(&w->max_file, lim->max_file ? lim->max_file : 64 * 1024);
    atomic_store(&w->max_per_minute, lim->max_per_minute ? lim->max_per_minute : 120);
}

static void close_dirs(ipc_watcher *w, struct wgroup *g)
{
    for (int k = 0; k < NDIRS; k++) {
        if (g->wd[k] >= 0)
            inotify_rm_watch(w->in_fd, g->wd[k]);
        if (g->fd[k] >= 0)
            close(g->fd[k]);
        g->wd[k] = g->fd[k] = -1;
    }
    if (g->ipc_wd >= 0)
        inotify_rm_watch(w->in_fd, g->ipc_wd);
    if (g->ipc_fd >= 0)
        close(g->ipc_fd);
    g->ipc_wd = g->ipc_fd = -1;
}

/* Watches the directory behind fd itself (its /proc/self/fd link names that very inode), so a
 * path the agent swaps afterwards changes nothing. */
static int watch_fd(ipc_watcher *w, int fd, uint32_t mask)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    return inotify_add_watch(w->in_fd, path, mask | IN_ONLYDIR);
}

#define FILE_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MOVE_SELF | IN_DELETE_SELF)

static void scan(ipc_watcher *w, struct wgroup *g, int k);

/* Opens (again) the group's ipc/, messages/ and tasks/ and watches them; each directory newly
 * opened is scanned once. */
static void open_dirs(ipc_watcher *w, struct wgroup *g)
{
    if (g->ipc_fd < 0) {
        _cleanup_free_ char *root = xasprintf("%s/%s", w->groups_dir, g->folder);
        _cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (rfd < 0)
            return;
        g->ipc_fd = openat(rfd, "ipc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (g->ipc_fd < 0) {
            log_warn("group %s: ipc: cannot open '%s/ipc': %s", g->folder, root, strerror(errno));
            return;
        }
        g->ipc_wd = watch_fd(w, g->ipc_fd, IN_CREATE | IN_MOVED_TO);
    }
    for (int k = 0; k < NDIRS; k++) {
        if (g->fd[k] >= 0)
            continue;
        g->fd[k] = openat(g->ipc_fd, dir_names[k], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (g->fd[k] < 0) {
            if (errno != ENOENT)
                log_warn("group %s: ipc: cannot open ipc/%s: %s", g->folder, dir_names[k],
                         strerror(errno));
            continue;
        }
        g->wd[k] = watch_fd(w, g->fd[k], FILE_EVENTS);
        if (g->wd[k] < 0)
            log_warn("group %s: ipc: cannot watch ipc/%s: %s", g->folder, dir_names[k],
                     strerror(errno));
        scan(w, g, k);
    }
}

static void count(ipc_watcher *w, uint64_t *field)
{
    pthread_mutex_lock(&w->lock);
    (*field)++;
    pthread_mutex_unlock(&w->lock);
}

static void count_denial(ipc_watcher *w, const char *group, ipc_type type)
{
    pthread_mutex_lock(&w->lock);
    w->counts.denied++;
    size_t i = 0;
    while (i < w->ndenials &&
           !(w->denials[i].type == type && strcmp(w->denials[i].group, group) == 0))
        i++;
    if (i == w->ndenials) {
        if (w->ndenials < MAX_DENIAL_KEYS) {
            w->denials[i] = (struct denial){.group = xstrdup(group), .type = type};
            w->ndenials++;
        } else {
            i = MAX_DENIAL_KEYS - 1;
        }
    }
    w->denials[i].n++;
    pthread_mutex_unlock(&w->lock);
}

/* The file goes to ipc/errors (made by the host, never followed), named as NanoClaw does;
 * deleted when that fails, so a bad file is never read twice. */
static void to_errors(ipc_watcher *w, struct wgroup *g, int k, const char *name, const char *why)
{
    if (why)
        log_warn("group %s: ipc/%s/%s moved to ipc/errors: %s", g->folder, dir_names[k], name, why);
    (void)w;
    if (mkdirat(g->ipc_fd, "errors", 0700) == 0 || errno == EEXIST) {
        _cleanup_close_ int efd =
            openat(g->ipc_fd, "errors", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_free_ char *target = xasprintf("%s-%s", dir_names[k], name);
        if (efd >= 0 && renameat(g->fd[k], name, efd, target) == 0)
            return;
    }
    if (unlinkat(g->fd[k], name, 0) < 0 && errno != ENOENT)
        log_warn("group %s: ipc/%s/%s: cannot remove it: %s", g->folder, dir_names[k], name,
                 strerror(errno));
}

static bool over_limit(ipc_watcher *w, struct wgroup *g)
{
    uint64_t now = mono_ms();
    if (!g->window || now - g->window >= 60000) {
        g->window = now ? now : 1;
        g->count = 0;
    }
    return ++g->count > atomic_load(&w->max_per_minute);
}

/* Handles one name in messages/ (k = DIR_MESSAGES) or tasks/. created: an IN_CREATE event, for
 * which a regular file with one link is still being written (its IN_CLOSE_WRITE follows); a
 * symlink, a FIFO or a link is handled at once, as nothing else would report it. */
static void handle(ipc_watcher *w, struct wgroup *g, int k, const char *name, bool created)
{
    if (!ipc_file_name_ok(name) || g->fd[k] < 0)
        return;
    if (created) {
        struct stat st;
        if (fstatat(g->fd[k], name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            (S_ISREG(st.st_mode) && st.st_nlink == 1))
            return;
    }
    if (over_limit(w, g)) {
        count(w, &w->counts.limited);
        /* Said once a minute: a flood must not flood the log as well. */
        _cleanup_free_ char *why = NULL;
        if (g->count == atomic_load(&w->max_per_minute) + 1)
            why = xasprintf("more than %u files in a minute (ipc.max_files_per_minute): this and "
                            "the group's next files this minute go there too",
                            atomic_load(&w->max_per_minute));
        to_errors(w, g, k, name, why);
        return;
    }
    _cleanup_strbuf_ strbuf buf = STRBUF_INIT;
    _cleanup_error_ nc_error *err = NULL;
    /* The agent's user: the directory's owner (workspace_prepare gives it to the container's
     * user, whichever uid the engine maps it to). */
    struct stat dst;
    if (fstat(g->fd[k], &dst) < 0)
        return;
    struct stat st = {0};
    int r =
        ipc_file_read_stat(g->fd[k], name, dst.st_uid, atomic_load(&w->max_file), &buf, &st, &err);
    if (r == -ENOENT)
        return;
    ipc_request q = {0};
    if (r >= 0)
        r = ipc_parse(buf.buf ? buf.buf : "", buf.len, k == DIR_TASKS, &q, &err);
    q.arrived_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
    const char *denied = NULL;
    if (r >= 0)
        r = w->cb.on_request(w->cb.ud, g->folder, &q, &denied, &err);
    if (r < 0) {
        count(w, &w->counts.errors);
        to_errors(w, g, k, name, nc_error_msg(err));
    } else {
        if (denied) {
            count_denial(w, g->folder, q.type);
            log_warn("group %s: ipc %s denied (%s): %s", g->folder, ipc_type_name(q.type), name,
                     denied);
        } else {
            count(w, &w->counts.done);
        }
        if (unlinkat(g->fd[k], name, 0) < 0 && errno != ENOENT)
            log_warn("group %s: ipc/%s/%s: cannot remove it: %s", g->folder, dir_names[k], name,
                     strerror(errno));
    }
    ipc_request_release(&q);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every name already in the directory, in name order (writers name files by time). */
static void scan(ipc_watcher *w, struct wgroup *g, int k)
{
    int fd = openat(g->fd[k], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (ipc_file_name_ok(de->d_name)) {
            names = xreallocarray(names, n + 1, sizeof(*names));
            names[n++] = xstrdup(de->d_name);
        }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        handle(w, g, k, names[i], false);
        free(names[i]);
    }
    free(names);
}

static void group_free(ipc_watcher *w, struct wgroup *g)
{
    close_dirs(w, g);
    free(g->folder);
}

static void resync(ipc_watcher *w)
{
    char **folders = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (w->cb.groups(w->cb.ud, &folders, &err) < 0) {
        log_warn("ipc: cannot list the groups: %s", nc_error_msg(err));
        return;
    }
    for (size_t i = 0; i < w->ngroups; i++)
        w->groups[i].seen = false;
    for (size_t j = 0; folders && folders[j]; j++) {
        struct wgroup *g = NULL;
        for (size_t i = 0; i < w->ngroups && !g; i++)
            if (strcmp(w->groups[i].folder, folders[j]) == 0)
                g = &w->groups[i];
        if (!g) {
            w->groups = xreallocarray(w->groups, w->ngroups + 1, sizeof(*w->groups));
            g = &w->groups[w->ngroups++];
            *g = (struct wgroup){.folder = xstrdup(folders[j]), .ipc_fd = -1, .ipc_wd = -1};
            for (int k = 0; k < NDIRS; k++)
                g->fd[k] = g->wd[k] = -1;
        }
        g->seen = true;
    }
    for (size_t i = 0; i < w->ngroups;) {
        if (!w->groups[i].seen) {
            group_free(w, &w->groups[i]);
            w->groups[i] = w->groups[--w->ngroups];
            continue;
        }
        open_dirs(w, &w->groups[i]);
        i++;
    }
    strv_free(folders);
}

/* The group and directory of a watch descriptor; k = -1 for a group's ipc/. */
static struct wgroup *by_wd(ipc_watcher *w, int wd, int *k)
{
    for (size_t i = 0; i < w->ngroups; i++) {
        struct wgroup *g = &w->groups[i];
        if (g->ipc_wd == wd) {
            *k = -1;
            return g;
        }
        for (int j = 0; j < NDIRS; j++)
            if (g->wd[j] == wd) {
                *k = j;
                return g;
            }
    }
    return NULL;
}

static void on_event(ipc_watcher *w, const struct inotify_event *ev)
{
    int k;
    struct wgroup *g = by_wd(w, ev->wd, &k);
    if (!g)
        return;
    if (k < 0) {
        /* A messages/ or tasks/ made (again) in ipc/: the old one, if any, was moved away. */
        for (int j = 0; ev->len && j < NDIRS; j++)
            if (strcmp(ev->name, dir_names[j]) == 0) {
                if (g->wd[j] >= 0)
                    inotify_rm_watch(w->in_fd, g->wd[j]);
                if (g->fd[j] >= 0)
                    close(g->fd[j]);
                g->fd[j] = g->wd[j] = -1;
                open_dirs(w, g);
            }
        return;
    }
    if (ev->mask & (IN_MOVE_SELF | IN_DELETE_SELF | IN_IGNORED)) {
        /* The directory watched went away: the one now at the name (if any) is opened. */
        if (g->wd[k] >= 0 && !(ev->mask & IN_IGNORED))
            inotify_rm_watch(w->in_fd, g->wd[k]);
        if (g->fd[k] >= 0)
            close(g->fd[k]);
        g->fd[k] = g->wd[k] = -1;
        open_dirs(w, g);
        return;
    }
    if (ev->len)
        handle(w, g, k, ev->name, (ev->mask & IN_CREATE) != 0);
}

void ipc_watcher_dispatch(ipc_watcher *w)
{
    uint64_t v;
    ssize_t ignored = read(w->kick_fd, &v, sizeof(v));
    (void)ignored;
    if (atomic_exchange(&w->want_resync, false))
        resync(w);
    if (atomic_exchange(&w->want_later, false) && w->cb.later)
        w->cb.later(w->cb.ud);
    _Alignas(struct inotify_event) char buf[64 * 1024];
    for (;;) {
        ssize_t n = read(w->in_fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        bool overflow = false;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & IN_Q_OVERFLOW)
                overflow = true;
            else
                on_event(w, ev);
            p += sizeof(*ev) + ev->len;
        }
        if (overflow) {
            /* Events were lost: every directory is read again. */
            log_warn("ipc: the inotify queue overflowed: scanning every group's ipc again");
            for (size_t i = 0; i < w->ngroups; i++)
                for (int k = 0; k < NDIRS; k++)
                    if (w->groups[i].fd[k] >= 0)
                        scan(w, &w->groups[i], k);
        }
    }
}

int ipc_watcher_fd(const ipc_watcher *w)
{
    return w->in_fd;
}

static void *watcher_main(void *arg)
{
    ipc_watcher *w = arg;
    while (!atomic_load(&w->stop)) {
        ipc_watcher_dispatch(w);
        struct pollfd p[2] = {{.fd = w->in_fd, .events = POLLIN},
                              {.fd = w->kick_fd, .events = POLLIN}};
        if (!atomic_load(&w->stop) && !atomic_load(&w->want_resync) && !atomic_load(&w->want_later))
            (void)poll(p, 2, -1);
    }
    return NULL;
}

int ipc_watcher_start(ipc_watcher *w, nc_error **err)
{
    int r = pthread_create(&w->thread, NULL, watcher_main, w);
    if (r != 0)
        return nc_error_set(err, r, "ipc watcher thread: %s", strerror(r));
    w->started = true;
    return 0;
}

static void kick(ipc_watcher *w)
{
    uint64_t one = 1;
    ssize_t ignored = write(w->kick_fd, &one, sizeof(one));
    (void)ignored;
}

void ipc_watcher_resync(ipc_watcher *w)
{
    if (!w)
        return;
    atomic_store(&w->want_resync, true);
    kick(w);
}

void ipc_watcher_later(ipc_watcher *w)
{
    atomic_store(&w->want_later, true);
    kick(w);
}

void ipc_watcher_free(ipc_watcher *w)
{
    if (!w)
        return;
    if (w->started) {
        atomic_store(&w->stop, true);
        kick(w);
        pthread_join(w->thread, NULL);
    }
    for (size_t i = 0; i < w->ngroups; i++)
        group_free(w, &w->groups[i]);
    free(w->groups);
    for (size_t i = 0; i < w->ndenials; i++)
        free(w->denials[i].group);
    if (w->in_fd >= 0)
        close(w->in_fd);
    if (w->kick_fd >= 0)
        close(w->kick_fd);
    pthread_mutex_destroy(&w->lock);
    free(w->groups_dir);
    free(w);
}

void ipc_watcher_counts(ipc_watcher *w, ipc_counts *ret)
{
    pthread_mutex_lock(&w->lock);
    *ret = w->counts;
    pthread_mutex_unlock(&w->lock);
}

void ipc_watcher_metrics(ipc_watcher *w, strbuf *out)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    strbuf_addstr(out, "# HELP nanocell_ipc_files_total IPC files handled, by outcome.\n"
                       "# TYPE nanocell_ipc_files_total counter\n");
    strbuf_addf(out, "nanocell_ipc_files_total{outcome=\"done\"} %llu\n",
                (unsigned long long)w->counts.done);
    strbuf_addf(out, "nanocell_ipc_files_total{outcome=\"denied\"} %llu\n",
                (unsigned long long)w->counts.denied);
    strbuf_addf(out, "nanocell_ipc_files_total{outcome=\"error\"} %llu\n",
                (unsigned long long)w->counts.errors);
    strbuf_addf(out, "nanocell_ipc_files_total{outcome=\"rate_limited\"} %llu\n",
                (unsigned long long)w->counts.limited);
    strbuf_addstr(out, "# HELP nanocell_ipc_denied_total IPC requests refused by the rules, by "
                       "group and type.\n"
                       "# TYPE nanocell_ipc_denied_total counter\n");
    for (size_t i = 0; i < w->ndenials; i++)
        strbuf_addf(out, "nanocell_ipc_denied_total{group=\"%s\",type=\"%s\"} %llu\n",
                    w->denials[i].group, ipc_type_name(w->denials[i].type),
                    (unsigned long long)w->denials[i].n);
    pthread_mutex_unlock(&w->lock);
}
