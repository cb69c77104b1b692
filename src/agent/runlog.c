#include "agent/runlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/termsafe.h"
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

/* Appends "name: value\n". Values come from outside (an engine's version and runtime names, an
 * image name, a failure message that quotes an engine): each is made safe and kept on its one
 * line (util/termsafe.h), so it can neither add lines to the log nor drive the terminal of
 * whoever reads it. NULL and "" are written as "-". */
static void add_field(strbuf *sb, const char *name, const char *value)
{
    strbuf_addf(sb, "%s: ", name);
    if (value && *value)
        termsafe_add(sb, value, strlen(value), 0);
    else
        strbuf_addch(sb, '-');
    strbuf_addch(sb, '\n');
}

int runlog_write(const char *logs_dir, const turn_record *r, char **ret_path, nc_error **err)
{
    _cleanup_free_ char *when = iso_time(r->started_ms, false);
    _cleanup_free_ char *stamp = iso_time(r->started_ms, true);
    strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, "nanocell run log\n");
    strbuf_addf(&sb, "time: %s\n", when);
    strbuf_addf(&sb, "duration_ms: %llu\n", (unsigned long long)r->duration_ms);
    add_field(&sb, "group", r->group);
    add_field(&sb, "run", r->run_id);
    add_field(&sb, "container", r->container_id);
    add_field(&sb, "image", r->image);
    add_field(&sb, "image_id", r->image_id);
    add_field(&sb, "engine", r->engine);
    add_field(&sb, "runtime", r->runtime);
    _cleanup_free_ char *seccomp =
        xasprintf("%s (%s)", r->seccomp_digest ? r->seccomp_digest : "unconfined",
                  r->seccomp_source && *r->seccomp_source ? r->seccomp_source : "-");
    add_field(&sb, "seccomp", seccomp);
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
    add_field(&sb, "outcome", r->outcome);
    add_field(&sb, "phases_ms", r->phases);
    strbuf_addf(&sb, "verification:\n");
    for (const char *p = r->verification ? r->verification : ""; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        strbuf_addstr(&sb, "  ");
        termsafe_add(&sb, p, n, 0);
        strbuf_addch(&sb, '\n');
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
