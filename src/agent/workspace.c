#include "agent/workspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/libpod.h"
#include "util/fileutil.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Opens parent/name as a directory without following a symlink. On failure the error says
 * what is there instead: a symlink (EPERM: replaced from inside the container?) or something
 * that is not a directory. */
static int open_dir_at(int parent, const char *name, const char *shown, nc_error **err)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    int e = errno;
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        return nc_error_set(err, EPERM,
                            "'%s' is not a directory but a symlink (replaced from inside the "
                            "container?): refusing to follow it",
                            shown);
    return nc_error_set(err, e, "open directory '%s': %s", shown, strerror(e));
}

/* Creates (if needed) and opens parent/name as a directory without following a symlink, and
 * sets its owner and mode through the descriptor. Returns the descriptor. */
static int dir_at(int parent, const char *name, const char *shown, uid_t uid, gid_t gid,
                  mode_t mode, bool chown_it, nc_error **err)
{
    if (mkdirat(parent, name, mode) < 0 && errno != EEXIST)
        return nc_error_set(err, errno, "create directory '%s': %s", shown, strerror(errno));
    int fd = open_dir_at(parent, name, shown, err);
    if (fd < 0)
        return fd;
    if ((chown_it && fchown(fd, uid, gid) < 0) || fchmod(fd, mode) < 0) {
        int e = errno;
        close(fd);
        return nc_error_set(err, e, "set owner of '%s': %s", shown, strerror(e));
    }
    return fd;
}

/* What an earlier turn left in ipc/input goes: a close sentinel must not end this turn, and a
 * follow-up it never read is not this turn's input (the daemon puts the messages of a turn
 * that ended back in its queue, so they reach the next prompt once, not twice). Only names are
 * removed, never followed: unlinkat on the directory's own descriptor. */
static void clear_input(int fd)
{
    (void)unlinkat(fd, "_close", 0);
    int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0)
            (void)unlinkat(fd, e->d_name, 0);
    }
    closedir(d);
}

int workspace_owner(engine *e, uid_t *uid, gid_t *gid, nc_error **err)
{
    /* The same test as sandbox_launch's for keep-id: Podman created through libpod, rootless. */
    if (e->kind != ENGINE_PODMAN || !engine_libpod_usable(e) || !e->ep.socket_path)
        return 0;
    bool rootless = false;
    int r = engine_libpod_rootless(e, &rootless, err);
    if (r < 0 || !rootless)
        return r;
    r = engine_service_cred(e, uid, gid, err);
    return r < 0 ? nc_error_wrap(err, "the user rootless Podman runs the container as") : 0;
}

int workspace_prepare(const char *data_dir, const char *group, uid_t uid, gid_t gid, workspace *ret,
                      nc_error **err)
{
    workspace w = {0};
    w.root = xasprintf("%s/groups/%s", data_dir, group);
    w.workspace = xasprintf("%s/workspace", w.root);
    w.ipc = xasprintf("%s/ipc", w.root);
    w.state = xasprintf("%s/state", w.root);
    w.logs = xasprintf("%s/logs", w.root);
    bool root = geteuid() == 0;
    _cleanup_free_ char *groups = xasprintf("%s/groups", data_dir);
    int r = mkdir_p(groups, 0711, err);
    _cleanup_close_ int gfd = -1, rfd = -1, wfd = -1, ifd = -1, sfd = -1, lfd = -1;
    if (r == 0)
        gfd = r = open(groups, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (gfd < 0 && r == -1)
        r = nc_error_set(err, errno, "open '%s': %s", groups, strerror(errno));
    if (r >= 0)
        rfd = r = dir_at(gfd, group, w.root, 0, 0, 0711, false, err);
    if (r >= 0)
        wfd = r = dir_at(rfd, "workspace", w.workspace, uid, gid, 0700, root, err);
    if (r >= 0)
        ifd = r = dir_at(rfd, "ipc", w.ipc, uid, gid, 0700, root, err);
    if (r >= 0)
        sfd = r = dir_at(rfd, "state", w.state, uid, gid, 0700, root, err);
    if (r >= 0)
        lfd = r = dir_at(rfd, "logs", w.logs, 0, 0, 0700, false, err);
    const char *const sub[] = {"messages", "tasks", "input"};
    for (size_t i = 0; r >= 0 && i < NC_ARRAY_SIZE(sub); i++) {
        _cleanup_free_ char *shown = xasprintf("%s/%s", w.ipc, sub[i]);
        int fd = r = dir_at(ifd, sub[i], shown, uid, gid, 0700, root, err);
        if (fd >= 0) {
            if (strcmp(sub[i], "input") == 0)
                clear_input(fd);
            close(fd);
        }
    }
    if (r < 0) {
        workspace_release(&w);
        return r;
    }
    *ret = w;
    return 0;
}

int workspace_prepare_global(workspace *w, const char *data_dir, uid_t uid, gid_t gid, bool writer,
                             nc_error **err)
{
    _cleanup_free_ char *groups = xasprintf("%s/groups", data_dir);
    _cleanup_free_ char *path = xasprintf("%s/global", groups);
    int r = mkdir_p(groups, 0711, err);
    if (r < 0)
        return r;
    _cleanup_close_ int gfd = open(groups, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (gfd < 0)
        return nc_error_set(err, errno, "open '%s': %s", groups, strerror(errno));
    /* 0755: every group's container user reads it, whatever its uid; only the main group's
     * owns it. */
    _cleanup_close_ int fd =
        dir_at(gfd, "global", path, uid, gid, 0755, writer && geteuid() == 0, err);
    if (fd < 0)
        return fd;
    free(w->global);
    w->global = TAKE_PTR(path);
    return 0;
}

void workspace_release(workspace *w)
{
    free(w->root);
    free(w->workspace);
    free(w->ipc);
    free(w->state);
    free(w->logs);
    free(w->global);
    *w = (workspace){0};
}

/* ipc/input of w, opened without following symlinks at any level the agent controls. */
static int open_input(const workspace *w, nc_error **err)
{
    _cleanup_close_ int ipc = open(w->ipc, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ipc < 0)
        return nc_error_set(err, errno, "open '%s': %s", w->ipc, strerror(errno));
    _cleanup_free_ char *shown = xasprintf("%s/input", w->ipc);
    return open_dir_at(ipc, "input", shown, err);
}

/* Creates name in dir atomically: a temporary file, then a rename. */
static int write_at(int dir, const char *name, const char *data, size_t len, nc_error **err)
{
    uint32_t rnd = 0;
    (void)getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
    _cleanup_free_ char *tmp = xasprintf(".%s.%08x.tmp", name, rnd);
    int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return nc_error_set(err, errno, "create '%s': %s", tmp, strerror(errno));
    int e = 0;
    for (size_t off = 0; off < len && !e;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno != EINTR)
            e = errno;
        else if (n > 0)
            off += (size_t)n;
    }
    if (close(fd) < 0 && !e)
        e = errno;
    if (!e && renameat(dir, tmp, dir, name) < 0)
        e = errno;
    if (e) {
        unlinkat(dir, tmp, 0);
        return nc_error_set(err, e, "write '%s': %s", name, strerror(e));
    }
    return 0;
}

int workspace_send_input(const workspace *w, const char *text, nc_error **err)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "type", "message");
    jgen_kv_str(g, "text", text);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf json = STRBUF_INIT;
    int r = jgen_finish(g, &json, err);
    if (r < 0)
        return r;
    _cleanup_close_ int dir = open_input(w, err);
    if (dir < 0)
        return dir;
    uint16_t rnd = 0;
    (void)getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
    _cleanup_free_ char *name =
        xasprintf("%llu-%04x.json", (unsigned long long)wall_ms(), (unsigned)rnd);
    return write_at(dir, name, json.buf, json.len, err);
}

int workspace_send_close(const workspace *w, nc_error **err)
{
    _cleanup_close_ int dir = open_input(w, err);
    if (dir < 0)
        return dir;
    return write_at(dir, "_close", "", 0, err);
}
