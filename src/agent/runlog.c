#include "agent/runlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/xalloc.h"
#include "util/banned.h"

static char *iso_time(uint64_t ms, bool for_name)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[64]; /* "2026-11-23T10:00:00.123Z" */
    strftime(buf, sizeof(buf), for_name ? "%Y%m%dT%H%M%S" : "%Y-%m-%dT%H:%M:%S", &tm);
    return xasprintf("%s.%03uZ", buf, (unsigned)(ms % 1000));
}

static const char *yes_no(bool b)
{
    return b ? "yes" : "no";
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

int runlog_write(const char *logs_dir, const turn_record *r, char **ret_path, nc_error **err)
{
    _cleanup_free_ char *when = iso_time(r->started_ms, false);
    _cleanup_free_ char *stamp = iso_time(r->started_ms, true);
    strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, "nanocell run log\n");
    strbuf_addf(&sb, "time: %s\n", when);
    strbuf_addf(&sb, "duration_ms: %llu\n", (unsigned long long)r->duration_ms);
    strbuf_addf(&sb, "group: %s\n", or_dash(r->group));
    strbuf_addf(&sb, "run: %s\n", or_dash(r->run_id));
    strbuf_addf(&sb, "container: %s\n", or_dash(r->container_id));
    strbuf_addf(&sb, "image: %s\n", or_dash(r->image));
    strbuf_addf(&sb, "image_id: %s\n", or_dash(r->image_id));
    strbuf_addf(&sb, "engine: %s\n", or_dash(r->engine));
    strbuf_addf(&sb, "runtime: %s\n", or_dash(r->runtime));
    strbuf_addf(&sb, "seccomp: %s (%s)\n", r->seccomp_digest ? r->seccomp_digest : "unconfined",
                or_dash(r->seccomp_source));
    strbuf_addf(&sb, "prompt_bytes: %zu\n", r->prompt_bytes);
    strbuf_addf(&sb, "launched: %s\n", yes_no(r->launched));
    strbuf_addf(&sb, "exit_code: %lld\n", (long long)r->exit_code);
    strbuf_addf(&sb, "oom_killed: %s\n", yes_no(r->oom_killed));
    strbuf_addf(&sb, "timed_out: %s\n", yes_no(r->timed_out));
    strbuf_addf(&sb, "interrupted: %s\n", yes_no(r->interrupted));
    strbuf_addf(&sb, "results: %llu (errors %llu, skipped blocks %llu)\n",
                (unsigned long long)r->results, (unsigned long long)r->error_results,
                (unsigned long long)r->skipped_blocks);
    strbuf_addf(&sb, "stdout_bytes: %llu%s\n", (unsigned long long)r->stdout_bytes,
                r->stdout_truncated ? " (truncated)" : "");
    strbuf_addf(&sb, "stderr_bytes: %llu%s\n", (unsigned long long)r->stderr_bytes,
                r->stderr_truncated ? " (truncated)" : "");
    strbuf_addf(&sb, "outcome: %s\n", or_dash(r->outcome));
    strbuf_addf(&sb, "phases_ms: %s\n", or_dash(r->phases));
    strbuf_addf(&sb, "verification:\n");
    for (const char *p = r->verification ? r->verification : ""; *p;) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        strbuf_addf(&sb, "  %.*s\n", n, p);
        p += n + (nl ? 1 : 0);
    }
    _cleanup_free_ char *name = xasprintf("run-%s.log", stamp);
    _cleanup_free_ char *path = xasprintf("%s/%s", logs_dir, name);
    int r0 = 0;
    int dir = open(logs_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int fd = dir < 0
                 ? -1
                 : openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        r0 = nc_error_set(err, errno, "create run log '%s': %s", path, strerror(errno));
    } else {
        for (size_t off = 0; off < sb.len && r0 == 0;) {
            ssize_t n = write(fd, sb.buf + off, sb.len - off);
            if (n < 0 && errno != EINTR)
                r0 = nc_error_set(err, errno, "write run log '%s': %s", path, strerror(errno));
            else if (n > 0)
                off += (size_t)n;
        }
        if (close(fd) < 0 && r0 == 0)
            r0 = nc_error_set(err, errno, "write run log '%s': %s", path, strerror(errno));
    }
    if (dir >= 0)
        close(dir);
    strbuf_release(&sb);
    if (r0 == 0 && ret_path)
        *ret_path = TAKE_PTR(path);
    return r0;
}
