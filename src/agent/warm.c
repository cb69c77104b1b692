#include "agent/warm.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* A mount table larger than this is not one nanocell made: no identity. */
#define MOUNTINFO_MAX (1024u * 1024)

static const char *const warm_ns_names[] = {"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"};

void warm_identity_release(warm_identity *id)
{
    for (size_t i = 0; i < NC_ARRAY_SIZE(id->ns); i++)
        free(id->ns[i]);
    free(id->mountinfo);
    *id = (warm_identity){0};
}

/* Field 22 (starttime) and field 3 (state) of /proc/<pid>/stat. The command (field 2) may hold
 * spaces and parentheses: the fields after it are counted from its last ')'. */
static int read_stat(const char *proc_root, int64_t pid, uint64_t *start, char *state,
                     nc_error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/%lld/stat", proc_root, (long long)pid);
    _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
    int r = read_file(path, 4096, &sb, err);
    if (r < 0)
        return r;
    const char *p = strrchr(strbuf_str(&sb), ')');
    if (!p || p[1] != ' ' || !p[2])
        return nc_error_set(err, EINVAL, "'%s' does not parse", path);
    *state = p[2];
    p += 2; /* field 3 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return nc_error_set(err, EINVAL, "'%s' does not parse", path);
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || end == p)
        return nc_error_set(err, EINVAL, "'%s' does not parse", path);
    *start = v;
    return 0;
}

static int read_ns(const char *proc_root, int64_t pid, const char *name, char **ret, nc_error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/%lld/ns/%s", proc_root, (long long)pid, name);
    char buf[PATH_MAX]; /* a link's target: at most PATH_MAX */
    ssize_t n = readlink(path, buf, sizeof(buf) - 1);
    if (n < 0)
        return nc_error_set(err, errno, "readlink '%s': %s", path, strerror(errno));
    buf[n] = '\0';
    *ret = xstrdup(buf);
    return 0;
}

int warm_identity_take(int64_t pid, const char *proc_root, warm_identity *ret, nc_error **err)
{
    warm_identity id = {0};
    char state;
    int r = read_stat(proc_root, pid, &id.start_time, &state, err);
    for (size_t i = 0; r >= 0 && i < NC_ARRAY_SIZE(warm_ns_names); i++)
        r = read_ns(proc_root, pid, warm_ns_names[i], &id.ns[i], err);
    if (r >= 0) {
        _cleanup_free_ char *path = xasprintf("%s/%lld/mountinfo", proc_root, (long long)pid);
        strbuf sb = STRBUF_INIT;
        r = read_file(path, MOUNTINFO_MAX, &sb, err);
        id.mountinfo = strbuf_detach(&sb, NULL);
    }
    if (r < 0) {
        warm_identity_release(&id);
        return r;
    }
    *ret = id;
    return 0;
}

int warm_identity_check(const warm_identity *want, int64_t pid, const char *proc_root,
                        nc_error **err)
{
    _cleanup_(warm_identity_release) warm_identity now = {0};
    uint64_t start;
    char state;
    _cleanup_error_ nc_error *rerr = NULL;
    if (read_stat(proc_root, pid, &start, &state, &rerr) < 0)
        return nc_error_set(err, ESTALE, "its process %lld is gone (%s)", (long long)pid,
                            nc_error_msg(rerr));
    if (start != want->start_time)
        return nc_error_set(err, ESTALE, "pid %lld is another process now", (long long)pid);
    if (state == 'Z' || state == 'X')
        return nc_error_set(err, ESTALE, "its process %lld has exited", (long long)pid);
    int r = warm_identity_take(pid, proc_root, &now, &rerr);
    if (r < 0)
        return nc_error_set(err, ESTALE, "its process %lld cannot be read: %s", (long long)pid,
                            nc_error_msg(rerr));
    if (now.start_time != want->start_time)
        return nc_error_set(err, ESTALE, "pid %lld is another process now", (long long)pid);
    for (size_t i = 0; i < NC_ARRAY_SIZE(warm_ns_names); i++)
        if (strcmp(now.ns[i], want->ns[i]) != 0)
            return nc_error_set(err, ESTALE, "its %s namespace changed (%s, was %s)",
                                warm_ns_names[i], now.ns[i], want->ns[i]);
    if (strcmp(now.mountinfo, want->mountinfo) != 0)
        return nc_error_set(err, ESTALE, "its mount table changed since it was verified");
    return 0;
}

int warm_attach_quiet(const sandbox_container *c, nc_error **err)
{
    if (!c->attach)
        return nc_error_set(err, ESTALE, "its attach stream is closed");
    if (engine_attach_buffered(c->attach))
        return nc_error_set(err, ESTALE, "it wrote output before its input");
    struct pollfd p = {.fd = engine_attach_fd(c->attach), .events = POLLIN};
    int n = poll(&p, 1, 0);
    if (n < 0)
        return nc_error_set(err, errno, "poll: %s", strerror(errno));
    if (n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
        return nc_error_set(err, ESTALE,
                            "its attach stream is not quiet (output before its input, or closed)");
    return 0;
}

int warm_find_folders(const char *data_dir, const char *group, workspace *w, nc_error **err)
{
    workspace ws = {0};
    ws.root = xasprintf("%s/groups/%s", data_dir, group);
    ws.workspace = xasprintf("%s/workspace", ws.root);
    ws.ipc = xasprintf("%s/ipc", ws.root);
    ws.state = xasprintf("%s/state", ws.root);
    ws.logs = xasprintf("%s/logs", ws.root);
    ws.global = xasprintf("%s/groups/global", data_dir);
    const char *const all[] = {ws.root, ws.workspace, ws.ipc, ws.state, ws.logs, ws.global};
    for (size_t i = 0; i < NC_ARRAY_SIZE(all); i++) {
        struct stat st;
        int r = 0;
        if (lstat(all[i], &st) < 0)
            r = nc_error_set(err, errno, "'%s': %s", all[i], strerror(errno));
        else if (!S_ISDIR(st.st_mode))
            r = nc_error_set(err, ENOTDIR, "'%s' is not a directory", all[i]);
        if (r < 0) {
            workspace_release(&ws);
            return r;
        }
    }
    *w = ws;
    return 0;
}

void turn_warm_free(struct turn_warm *w)
{
    if (!w)
        return;
    sandbox_container_free(w->c);
    free(w->group);
    free(w->run_id);
    free(w->image);
    free(w->spec_json);
    warm_identity_release(&w->id);
    free(w);
}
