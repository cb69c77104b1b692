#include "orch/owner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fileutil.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

static char *boot_id(void)
{
    strbuf sb = STRBUF_INIT;
    if (read_file("/proc/sys/kernel/random/boot_id", 128, &sb, NULL) < 0)
        strbuf_addstr(&sb, "unknown");
    while (sb.len && (sb.buf[sb.len - 1] == '\n'))
        strbuf_truncate(&sb, sb.len - 1);
    return strbuf_detach(&sb, NULL);
}

/* Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. 0 when unreadable. */
static unsigned long long start_time(long pid)
{
    _cleanup_free_ char *path = xasprintf("/proc/%ld/stat", pid);
    _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
    if (read_file(path, 4096, &sb, NULL) < 0)
        return 0;
    /* The command name (field 2) may hold spaces and parentheses: skip to the last ')'. */
    const char *p = strrchr(strbuf_str(&sb), ')');
    if (!p)
        return 0;
    unsigned long long t = 0;
    int field = 2;
    for (p++; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (field == 22)
        t = strtoull(p, NULL, 10);
    return t;
}

char *owner_self(void)
{
    _cleanup_free_ char *b = boot_id();
    long pid = (long)getpid();
    return xasprintf("%s/%ld/%llu", b, pid, start_time(pid));
}

bool owner_alive(const char *value)
{
    if (!value)
        return false;
    char *slash1 = strchr(value, '/');
    char *slash2 = slash1 ? strchr(slash1 + 1, '/') : NULL;
    if (!slash2)
        return false;
    _cleanup_free_ char *b = boot_id();
    if ((size_t)(slash1 - value) != strlen(b) || strncmp(value, b, strlen(b)) != 0)
        return false;
    char *end;
    errno = 0;
    long pid = strtol(slash1 + 1, &end, 10);
    if (errno || end != slash2 || pid <= 0)
        return false;
    unsigned long long want = strtoull(slash2 + 1, &end, 10);
    if (*end)
        return false;
    unsigned long long have = start_time(pid);
    return have != 0 && have == want;
}

int reap_orphans(engine *e, const char *install_id, bool all, reap_cb cb, void *userdata,
                 nc_error **err)
{
    _cleanup_free_ char *label = xasprintf(NC_LABEL_INSTALL "=%s", install_id);
    char *labels[] = {label, NULL};
    engine_container_summary *list = NULL;
    size_t n = 0;
    int r = engine_container_list(e, labels, &list, &n, err);
    if (r < 0)
        return nc_error_wrap(err, "list containers of install '%s'", install_id);
    int removed = 0;
    for (size_t i = 0; i < n; i++) {
        const engine_container_summary *c = &list[i];
        if (!all && owner_alive(engine_summary_label(c, NC_LABEL_OWNER))) {
            if (cb)
                cb(c, REAP_KEPT_LIVE_OWNER, NULL, userdata);
            continue;
        }
        _cleanup_error_ nc_error *rerr = NULL;
        int rr = engine_container_remove(e, c->id, true, &rerr);
        if (rr < 0 && rr != -ENOENT) {
            if (cb)
                cb(c, REAP_FAILED, rerr, userdata);
            continue;
        }
        removed++;
        if (cb)
            cb(c, REAP_REMOVED, NULL, userdata);
    }
    engine_container_summaries_free(list, n);
    return removed;
}
