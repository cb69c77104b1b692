/* The mount policy's checks on one request (see mounts.h): realpath, blocked patterns, never
 * paths, file type, allowed roots, read-only enforcement and submounts. */
#include "sandbox/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileutil.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

bool mount_path_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n == 1 && dir[0] == '/')
        return path[0] == '/';
    return n > 0 && strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

char **mount_default_never(void)
{
    static const char *const fixed[] = {
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/run/podman/podman.sock",
        "/run/containerd/containerd.sock",
    };
    char **v = NULL;
    for (size_t i = 0; i < NC_ARRAY_SIZE(fixed); i++)
        strv_push(&v, fixed[i]);
    const char *xdg = secure_getenv("XDG_RUNTIME_DIR");
    if (xdg && xdg[0] == '/') {
        strv_push_take(&v, xasprintf("%s/podman/podman.sock", xdg));
        strv_push_take(&v, xasprintf("%s/docker.sock", xdg));
    }
    return v;
}

/* The entry with symlinks resolved: realpath of the entry, else of its directory plus its last
 * component (a socket that is not there yet), else NULL. */
static char *resolve_entry(const char *entry)
{
    char *real = realpath(entry, NULL);
    if (real)
        return real;
    const char *slash = strrchr(entry, '/');
    if (!slash || !slash[1])
        return NULL;
    _cleanup_free_ char *dir = slash == entry ? xstrdup("/") : xstrndup(entry, slash - entry);
    _cleanup_free_ char *rdir = realpath(dir, NULL);
    if (!rdir)
        return NULL;
    return xasprintf("%s%s", strcmp(rdir, "/") == 0 ? "" : rdir, slash);
}

static bool overlaps(const char *a, const char *b)
{
    return mount_path_under(a, b) || mount_path_under(b, a);
}

const char *mount_never_hit(const char *path, char *const *never)
{
    for (size_t i = 0; never && never[i]; i++) {
        if (never[i][0] != '/')
            continue;
        if (overlaps(path, never[i]))
            return never[i];
        _cleanup_free_ char *real = resolve_entry(never[i]);
        if (real && overlaps(path, real))
            return never[i];
    }
    return NULL;
}

/* Decodes one mountinfo field in place: the kernel writes space, tab, newline and backslash as
 * \ooo. Returns false on a malformed escape. */
static bool unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r != '\\') {
            *w++ = *r;
            continue;
        }
        int v = 0;
        for (int k = 1; k <= 3; k++) {
            if (r[k] < '0' || r[k] > '7')
                return false;
            v = v * 8 + (r[k] - '0');
        }
        if (v == 0 || v > 0xff)
            return false;
        *w++ = (char)v;
        r += 3;
    }
    *w = '\0';
    return true;
}

int mount_find_submount(const char *mountinfo, size_t len, const char *path, char **ret_below)
{
    const char *end = mountinfo + len;
    for (const char *line = mountinfo; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *eol = nl ? nl : end;
        if (eol > line) {
            /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ...": the fifth field. */
            const char *f = line;
            for (int field = 0; field < 4; field++) {
                const char *sp = memchr(f, ' ', (size_t)(eol - f));
                if (!sp)
                    return -EINVAL;
                f = sp + 1;
            }
            const char *sp = memchr(f, ' ', (size_t)(eol - f));
            const char *fend = sp ? sp : eol;
            if (memchr(f, '\0', (size_t)(fend - f)))
                return -EINVAL;
            _cleanup_free_ char *mp = xstrndup(f, (size_t)(fend - f));
            if (!unescape(mp) || mp[0] != '/')
                return -EINVAL;
            if (strcmp(mp, path) != 0 && mount_path_under(mp, path)) {
                *ret_below = TAKE_PTR(mp);
                return 1;
            }
        }
        line = eol + 1;
    }
    return 0;
}

/* ':' breaks Binds; ',' '"' and control characters would inject options into the strings that
 * Podman's compat layer builds from Mounts. */
static int check_carriable(const char *real, nc_error **err)
{
    for (const char *p = real; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == ':' || c == ',' || c == '"')
            return nc_error_set(err, EINVAL,
                                "'%s' contains '%c', which the engines' mount syntax cannot carry",
                                real, c);
        if (c < 0x20 || c == 0x7f)
            return nc_error_set(err, EINVAL, "'%s' contains a control character", real);
    }
    return 0;
}

/* Pins what real names now: opened without following a final symlink, its path read back from
 * /proc/self/fd must still be real (no component was swapped since realpath), and its identity
 * goes to *st for the runtime check. Only directories and regular files are mounted. */
static int pin_source(const char *real, struct stat *st, nc_error **err)
{
    _cleanup_close_ int fd = open(real, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return nc_error_set(err, errno, "open '%s': %s", real, strerror(errno));
    if (fstat(fd, st) < 0)
        return nc_error_set(err, errno, "stat '%s': %s", real, strerror(errno));
    char self[64], now[PATH_MAX];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(self, now, sizeof(now) - 1);
    if (n < 0)
        return nc_error_set(err, errno, "cannot confirm what '%s' is: readlink %s: %s", real, self,
                            strerror(errno));
    now[n] = '\0';
    if (strcmp(now, real) != 0)
        return nc_error_set(err, EPERM, "'%s' changed while it was checked (it is now '%s')", real,
                            now);
    if (S_ISDIR(st->st_mode) || S_ISREG(st->st_mode))
        return 0;
    const char *what = S_ISSOCK(st->st_mode)                          ? "a socket"
                       : S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? "a device"
                       : S_ISFIFO(st->st_mode)                        ? "a fifo"
                       : S_ISLNK(st->st_mode)                         ? "a symlink"
                                                                      : "not a file or directory";
    return nc_error_set(err, EPERM, "'%s' is %s: only directories and regular files are mounted",
                        real, what);
}

/* The most specific root that holds real (the longest real path; the first on a tie), so a
 * read-only subtree of a read-write root stays read-only whatever the file order. */
static const mount_root *find_root(const mount_allowlist *a, const char *real)
{
    const mount_root *best = NULL;
    for (size_t i = 0; i < a->nroots; i++) {
        const mount_root *r = &a->roots[i];
        if (r->real && mount_path_under(real, r->real) &&
            (!best || strlen(r->real) > strlen(best->real)))
            best = r;
    }
    return best;
}

static int check_submounts(const char *real, int api_minor, nc_error **err)
{
    _cleanup_strbuf_ strbuf mi = STRBUF_INIT;
    _cleanup_error_ nc_error *rerr = NULL;
    int r = read_file("/proc/self/mountinfo", MOUNT_MOUNTINFO_MAX, &mi, &rerr);
    if (r < 0)
        return nc_error_set(err, -r, "cannot check for mounts below '%s': %s", real, rerr->msg);
    _cleanup_free_ char *below = NULL;
    r = mount_find_submount(strbuf_str(&mi), mi.len, real, &below);
    if (r < 0)
        return nc_error_set(err, EIO,
                            "cannot check for mounts below '%s': bad /proc/self/mountinfo", real);
    if (r > 0)
        return nc_error_set(err, EPERM,
                            "'%s' has mounts below it ('%s'): API 1.%d cannot make a read-only "
                            "bind recursive, so nanocell will not rely on the non-recursive bind "
                            "alone",
                            real, below, api_minor);
    return 0;
}

static int validate(const mount_allowlist *a, const mount_request *req, bool is_main, int api_minor,
                    char *const *never, mount_spec *ret, nc_error **err)
{
    if (!a)
        return nc_error_set(err, EPERM, "no mount allowlist, so no extra mounts are allowed");
    if (!req->host_path || !req->container_path)
        return nc_error_set(err, EINVAL, "request has no %s path",
                            req->host_path ? "container" : "host");
    int r = mount_container_path_check(req->container_path, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *abs = NULL;
    r = mount_expand_home(req->host_path, &abs, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *real = realpath(abs, NULL);
    if (!real && errno == ENOENT)
        return nc_error_set(err, ENOENT, "'%s' does not exist", abs);
    if (!real)
        return nc_error_set(err, errno, "resolve '%s': %s", abs, strerror(errno));
    r = check_carriable(real, err);
    if (r < 0)
        return r;
    /* NanoClaw's rule is "a component equal to or containing the pattern, or the whole path
     * containing it"; the last clause holds whenever the others do, so one substring test. */
    for (char *const *p = a->blocked; p && *p; p++)
        if (strstr(real, *p))
            return nc_error_set(err, EPERM, "'%s' matches blocked pattern '%s'", real, *p);
    _cleanup_strv_ char **builtin = mount_default_never();
    const char *hit = mount_never_hit(real, builtin);
    if (!hit)
        hit = mount_never_hit(real, never);
    if (hit) {
        struct stat st;
        if (strv_contains(builtin, hit) || (stat(hit, &st) == 0 && S_ISSOCK(st.st_mode)))
            return nc_error_set(err, EPERM, "'%s' would expose the engine socket '%s'", real, hit);
        return nc_error_set(err, EPERM, "'%s' would expose '%s', which is never mounted", real,
                            hit);
    }
    struct stat st;
    r = pin_source(real, &st, err);
    if (r < 0)
        return r;
    const mount_root *root = find_root(a, real);
    if (!root)
        return nc_error_set(err, EPERM, "'%s' is not under any allowed root (allowlist '%s')", real,
                            a->source ? a->source : "(unnamed)");
    bool ro = !(req->want_rw && root->read_write && is_main);
    _cleanup_free_ char *note = NULL;
    if (req->want_rw && ro)
        note = !is_main
                   ? xstrdup("forced read-only: the group is not the main group")
                   : xasprintf("forced read-only: root '%s' does not allow read-write", root->path);
    if (ro && api_minor < MOUNT_API_RECURSIVE_RO) {
        r = check_submounts(real, api_minor, err);
        if (r < 0)
            return r;
    }
    *ret = (mount_spec){
        .source = TAKE_PTR(real),
        .target = xasprintf(MOUNT_TARGET_PREFIX "%s", req->container_path),
        .read_only = ro,
        .dev = st.st_dev,
        .ino = st.st_ino,
        .note = TAKE_PTR(note),
    };
    return 0;
}

int mount_validate(const mount_allowlist *a, const mount_request *req, bool is_main, int api_minor,
                   char *const *never, mount_spec *ret, nc_error **err)
{
    mount_spec m = {0};
    int r = validate(a, req, is_main, api_minor, never, &m, err);
    if (r < 0) {
        if (req->spec)
            return nc_error_wrap(err, "mount '%s'", req->spec);
        return nc_error_wrap(err, "mount '%s:%s%s'", req->host_path ? req->host_path : "",
                             req->container_path ? req->container_path : "",
                             req->want_rw ? ":rw" : "");
    }
    *ret = m;
    return 0;
}

void mount_spec_release(mount_spec *m)
{
    if (!m)
        return;
    free(m->source);
    free(m->target);
    free(m->note);
    *m = (mount_spec){0};
}
