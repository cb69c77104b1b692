#include "sandbox/oomwatch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/fileutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct oomwatch {
    int efd;
    int ofd; /* memory.oom_control, held open for the registration */
    char *oom_control;
    uint64_t signals;
    bool gone;
    bool fired;
};

/* The cgroup v1 memory path of pid, from /proc/<pid>/cgroup, or NULL. */
static char *memory_path(const char *proc_root, int64_t pid)
{
    _cleanup_free_ char *path = xasprintf("%s/%lld/cgroup", proc_root, (long long)pid);
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    if (read_file(path, 256 * 1024, &text, NULL) < 0)
        return NULL;
    for (const char *p = strbuf_str(&text); *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *c1 = memchr(p, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - p)) : NULL;
        if (c2 && (size_t)(c2 - c1 - 1) == 6 && strncmp(c1 + 1, "memory", 6) == 0)
            return xstrndup(c2 + 1, len - (size_t)(c2 + 1 - p));
        p += len + (nl ? 1 : 0);
    }
    return NULL;
}

int oomwatch_open(int64_t pid, const char *proc_root, const char *cgroup_root, oomwatch **ret,
                  nc_error **err)
{
    _cleanup_free_ char *rel = memory_path(proc_root, pid);
    if (!rel)
        return nc_error_set(err, EOPNOTSUPP,
                            "no cgroup v1 memory controller for pid %lld: OOM kills are known "
                            "only from the engine",
                            (long long)pid);
    oomwatch *w = xnew0(oomwatch);
    w->efd = w->ofd = -1;
    w->oom_control = xasprintf("%s/memory%s/memory.oom_control", cgroup_root, rel);
    _cleanup_free_ char *ctl = xasprintf("%s/memory%s/cgroup.event_control", cgroup_root, rel);
    int r = 0;
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    w->ofd = open(w->oom_control, O_RDONLY | O_CLOEXEC);
    _cleanup_close_ int cfd = open(ctl, O_WRONLY | O_CLOEXEC);
    if (w->efd < 0 || w->ofd < 0 || cfd < 0) {
        r = nc_error_set(err, errno, "watch '%s' for OOM kills: %s", w->oom_control,
                         strerror(errno));
    } else {
        _cleanup_free_ char *line = xasprintf("%d %d", w->efd, w->ofd);
        if (write(cfd, line, strlen(line)) < 0)
            r = nc_error_set(err, errno, "register an OOM notifier in '%s': %s", ctl,
                             strerror(errno));
    }
    if (r < 0) {
        oomwatch_free(w);
        return r;
    }
    *ret = w;
    return 0;
}

int oomwatch_fd(const oomwatch *w)
{
    return w->efd;
}

/* oom_kill from memory.oom_control; -1 when it cannot be read (the cgroup is gone). */
static long long oom_kills(const char *path)
{
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    if (read_file(path, 4096, &text, NULL) < 0)
        return -1;
    const char *p = strstr(strbuf_str(&text), "oom_kill ");
    return p ? strtoll(p + 9, NULL, 10) : -1;
}

bool oomwatch_check(oomwatch *w)
{
    uint64_t n = 0;
    if (read(w->efd, &n, sizeof(n)) == (ssize_t)sizeof(n))
        w->signals += n;
    if (w->fired || w->gone)
        return w->fired;
    long long kills = oom_kills(w->oom_control);
    if (kills >= 0) {
        w->fired = kills > 0 || w->signals > 0;
    } else {
        w->gone = true;
        w->fired = w->signals >= 2;
    }
    return w->fired;
}

void oomwatch_free(oomwatch *w)
{
    if (!w)
        return;
    if (w->efd >= 0)
        close(w->efd);
    if (w->ofd >= 0)
        close(w->ofd);
    free(w->oom_control);
    free(w);
}
