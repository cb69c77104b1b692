#include "proxy/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct proxy_audit {
    int fd;
    char *path;
    uint64_t max_bytes;
    pthread_mutex_t lock;
    uint64_t failures;
};

char *proxy_audit_path(const char *data_dir)
{
    return xasprintf("%s/proxy/audit.log", data_dir);
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

int proxy_audit_open(const char *path, uint64_t max_bytes, proxy_audit **ret, nc_error **err)
{
    int fd = open_log(path);
    if (fd < 0)
        return nc_error_set(err, errno, "open audit log '%s': %s", path, strerror(errno));
    proxy_audit *a = xnew0(proxy_audit);
    a->fd = fd;
    a->path = xstrdup(path);
    a->max_bytes = max_bytes;
    pthread_mutex_init(&a->lock, NULL);
    *ret = a;
    return 0;
}

void proxy_audit_format(const proxy_audit_entry *e, strbuf *out)
{
    time_t secs = (time_t)(e->time_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    _cleanup_free_ char *stamp = xasprintf("%s.%03uZ", when, (unsigned)(e->time_ms % 1000));
    const char *path = e->path ? e->path : "";
    size_t plen = strcspn(path, "?#");
    _cleanup_(jgen_freep) nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "time", stamp);
    jgen_kv_int(g, "time_ms", (int64_t)e->time_ms);
    jgen_kv_str(g, "group", e->group ? e->group : "");
    jgen_kv_str(g, "run_id", e->run_id ? e->run_id : "");
    jgen_kv_str(g, "kind", e->kind ? e->kind : "-");
    jgen_kv_str(g, "method", e->method ? e->method : "");
    jgen_kv_str(g, "host", e->host ? e->host : "");
    jgen_kv_int(g, "port", e->port);
    jgen_key(g, "path");
    jgen_strn(g, path, plen);
    jgen_kv_int(g, "status", e->status);
    jgen_kv_int(g, "bytes_up", (int64_t)e->bytes_up);
    jgen_kv_int(g, "bytes_down", (int64_t)e->bytes_down);
    jgen_kv_int(g, "latency_ms", (int64_t)e->latency_ms);
    jgen_kv_str(g, "rule", e->rule ? e->rule : "");
    jgen_obj_close(g);
    if (jgen_finish(g, out, NULL) < 0)
        strbuf_addstr(out, "{}");
    strbuf_addch(out, '\n');
}

void proxy_audit_write(proxy_audit *a, const proxy_audit_entry *e)
{
    if (!a)
        return;
    _cleanup_strbuf_ strbuf line = STRBUF_INIT;
    proxy_audit_format(e, &line);
    pthread_mutex_lock(&a->lock);
    struct stat st;
    if (a->max_bytes && fstat(a->fd, &st) == 0 && (uint64_t)st.st_size + line.len > a->max_bytes) {
        /* Rotate: another nanocell may share the file, so the rename is by path; whoever
         * writes next to the renamed file still writes a whole line. */
        _cleanup_free_ char *old = xasprintf("%s.1", a->path);
        int fd = rename(a->path, old) == 0 || errno == ENOENT ? open_log(a->path) : -1;
        if (fd >= 0) {
            close(a->fd);
            a->fd = fd;
        }
    }
    ssize_t n = write(a->fd, line.buf, line.len);
    if (n != (ssize_t)line.len)
        a->failures++;
    pthread_mutex_unlock(&a->lock);
}

uint64_t proxy_audit_failures(const proxy_audit *a)
{
    return a ? a->failures : 0;
}

void proxy_audit_close(proxy_audit *a)
{
    if (!a)
        return;
    close(a->fd);
    free(a->path);
    pthread_mutex_destroy(&a->lock);
    free(a);
}
