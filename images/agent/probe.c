/* The `probe` command (see probe.h). */
#include "probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "text.h"
#include "util/fileutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

extern char **environ;

/* Bytes read from a /proc or /sys file. */
#define SMALL_FILE ((size_t)64 * 1024)

/* The value of "Key:\t..." in /proc/self/status, allocated; NULL when absent. */
static char *status_field(const char *status, const char *key)
{
    size_t kl = strlen(key);
    for (const char *l = status; *l;) {
        const char *eol = strchr(l, '\n');
        size_t ll = eol ? (size_t)(eol - l) : strlen(l);
        if (ll > kl && memcmp(l, key, kl) == 0 && l[kl] == ':') {
            const char *v = l + kl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            return xstrndup(v, ll - (size_t)(v - l));
        }
        l += ll + (eol ? 1 : 0);
    }
    return NULL;
}

static void add_identity(strbuf *out)
{
    strbuf_addf(out, "uid=%u gid=%u euid=%u egid=%u groups=", (unsigned)getuid(),
                (unsigned)getgid(), (unsigned)geteuid(), (unsigned)getegid());
    gid_t groups[64];
    int n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
    if (n < 0) {
        strbuf_addf(out, "? (%s)", strerror(errno));
    } else if (n == 0) {
        strbuf_addstr(out, "none");
    } else {
        for (int i = 0; i < n; i++)
            strbuf_addf(out, "%s%u", i ? "," : "", (unsigned)groups[i]);
    }
    strbuf_addch(out, '\n');
}

static void add_status(strbuf *out)
{
    strbuf status = STRBUF_INIT;
    nc_error *err = NULL;
    if (read_file("/proc/self/status", SMALL_FILE, &status, &err) < 0) {
        strbuf_addf(out, "cannot read /proc/self/status: %s\n", nc_error_msg(err));
        nc_error_free(err);
        return;
    }
    char *cap = status_field(status.buf, "CapEff");
    if (!cap)
        strbuf_addstr(out, "CapEff: not shown\n");
    else
        strbuf_addf(out, "CapEff: %s (%s)\n", cap,
                    strspn(cap, "0") == strlen(cap) ? "no capabilities" : "HAS capabilities");
    char *nnp = status_field(status.buf, "NoNewPrivs");
    strbuf_addf(out, "NoNewPrivs: %s\n", nnp ? nnp : "not shown");
    char *sec = status_field(status.buf, "Seccomp");
    const char *mode = !sec                    ? "not shown"
                       : strcmp(sec, "0") == 0 ? "0 (disabled)"
                       : strcmp(sec, "1") == 0 ? "1 (strict)"
                       : strcmp(sec, "2") == 0 ? "2 (filter)"
                                               : sec;
    strbuf_addf(out, "Seccomp: %s\n", mode);
    free(cap);
    free(nnp);
    free(sec);
    strbuf_release(&status);
}

static void add_shadow(strbuf *out)
{
    int fd = open("/etc/shadow", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        strbuf_addf(out, "cannot read /etc/shadow: %s\n", strerror(errno));
        return;
    }
    char c;
    ssize_t n = read(fd, &c, 1);
    int e = errno;
    close(fd);
    if (n < 0)
        strbuf_addf(out, "cannot read /etc/shadow: %s\n", strerror(e));
    else
        strbuf_addstr(out, "CAN read /etc/shadow\n");
}

static void add_root_write(strbuf *out)
{
    char path[64];
    snprintf(path, sizeof(path), "/.nanocell-probe-%d", (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        strbuf_addf(out, "cannot write /: %s\n", strerror(errno));
        return;
    }
    close(fd);
    unlink(path);
    strbuf_addstr(out, "CAN write /\n");
}

static void add_connect(strbuf *out)
{
    const char *what = "cannot connect to 1.1.1.1:443";
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        strbuf_addf(out, "%s: socket: %s\n", what, strerror(errno));
        return;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(443)};
    inet_pton(AF_INET, "1.1.1.1", &sa.sin_addr);
    int e = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int n;
            do
                n = poll(&p, 1, PROBE_CONNECT_MS);
            while (n < 0 && errno == EINTR);
            if (n == 0) {
                e = ETIMEDOUT;
            } else {
                socklen_t l = sizeof(e);
                if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
                    e = errno;
            }
        }
    }
    close(fd);
    if (e == ETIMEDOUT)
        strbuf_addf(out, "%s: no answer within %d s\n", what, PROBE_CONNECT_MS / 1000);
    else if (e)
        strbuf_addf(out, "%s: %s\n", what, strerror(e));
    else
        strbuf_addstr(out, "CAN connect to 1.1.1.1:443\n");
}

static void add_interfaces(strbuf *out)
{
    strbuf dev = STRBUF_INIT, others = STRBUF_INIT;
    nc_error *err = NULL;
    if (read_file("/proc/net/dev", SMALL_FILE, &dev, &err) < 0) {
        strbuf_addf(out, "network interfaces: cannot read /proc/net/dev: %s\n", nc_error_msg(err));
        nc_error_free(err);
        return;
    }
    bool lo = false;
    /* Two header lines, then "  name: counters" per interface. */
    const char *l = dev.buf;
    for (int line = 0; l && *l; line++) {
        const char *eol = strchr(l, '\n');
        const char *colon = strchr(l, ':');
        if (line >= 2 && colon && (!eol || colon < eol)) {
            const char *name = l;
            while (*name == ' ')
                name++;
            size_t nl = (size_t)(colon - name);
            if (nl == 2 && memcmp(name, "lo", 2) == 0) {
                lo = true;
            } else {
                if (others.len)
                    strbuf_addstr(&others, ", ");
                strbuf_add(&others, name, nl);
            }
        }
        l = eol ? eol + 1 : NULL;
    }
    if (others.len)
        strbuf_addf(out, "network interfaces besides lo: %s\n", others.buf);
    else
        strbuf_addf(out, "network interfaces: %s\n", lo ? "lo only" : "none");
    strbuf_release(&dev);
    strbuf_release(&others);
}

/* The first of files that can be read, trimmed; reports which one it was. */
static void add_limit(strbuf *out, const char *what, const char *const files[][2], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        strbuf v = STRBUF_INIT;
        if (read_file(files[i][0], SMALL_FILE, &v, NULL) == 0) {
            size_t len = v.len;
            while (len && (v.buf[len - 1] == '\n' || v.buf[len - 1] == ' '))
                len--;
            strbuf_truncate(&v, len);
            /* v2 says "max"; v1 says a huge page-rounded number (2^63 - 4096 with 4 KiB pages). */
            uint64_t bytes = 0;
            bool none = strcmp(strbuf_str(&v), "max") == 0 ||
                        (text_parse_u64(strbuf_str(&v), UINT64_MAX, &bytes) &&
                         bytes >= ((uint64_t)1 << 62));
            strbuf_addf(out, "%s limit: %s (%s%s %s)\n", what, v.len ? v.buf : "empty",
                        none ? "no limit; " : "", files[i][1], files[i][0]);
            strbuf_release(&v);
            return;
        }
        strbuf_release(&v);
    }
    strbuf_addf(out, "%s limit: unknown (no cgroup file readable)\n", what);
}

static void add_env_names(strbuf *out)
{
    strbuf_addstr(out, "environment names:");
    size_t n = 0;
    for (char **e = environ; e && *e; e++, n++) {
        size_t nl = strcspn(*e, "=");
        strbuf_addch(out, ' ');
        strbuf_add(out, *e, nl);
    }
    if (!n)
        strbuf_addstr(out, " none");
    strbuf_addch(out, '\n');
}

void probe_report(strbuf *out)
{
    static const char *const mem[][2] = {
        {"/sys/fs/cgroup/memory.max", "cgroup v2"},
        {"/sys/fs/cgroup/memory/memory.limit_in_bytes", "cgroup v1"},
    };
    static const char *const pids[][2] = {
        {"/sys/fs/cgroup/pids.max", "cgroup v2"},
        {"/sys/fs/cgroup/pids/pids.max", "cgroup v1"},
    };
    size_t start = out->len;
    add_identity(out);
    add_status(out);
    add_shadow(out);
    add_root_write(out);
    add_connect(out);
    add_interfaces(out);
    add_limit(out, "memory", mem, sizeof(mem) / sizeof(mem[0]));
    add_limit(out, "pids", pids, sizeof(pids) / sizeof(pids[0]));
    add_env_names(out);
    if (out->len > start && out->buf[out->len - 1] == '\n')
        strbuf_truncate(out, out->len - 1);
}
