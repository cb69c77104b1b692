/* The mount policy's inputs: the allowlist file and mount requests (see mounts.h). The checks
 * that apply them to one request are in mount_check.c. */
#include "sandbox/mounts.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileutil.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/toml.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* NanoClaw's list, in its order (nanoclaw-v1 mount-security.ts). */
static const char *const default_blocked[] = {
    ".ssh",    ".gnupg",  ".gpg",        ".aws",        ".azure",  ".gcloud",
    ".kube",   ".docker", "credentials", ".env",        ".netrc",  ".npmrc",
    ".pypirc", "id_rsa",  "id_ed25519",  "private_key", ".secret", NULL,
};

const char *const *mount_default_blocked(void)
{
    return default_blocked;
}

int mount_allowlist_default_path(char **ret)
{
    if (geteuid() == 0) {
        *ret = xstrdup("/etc/nanocell/mount-allowlist.toml");
        return 0;
    }
    const char *xdg = secure_getenv("XDG_CONFIG_HOME");
    if (xdg && xdg[0] == '/') {
        *ret = xasprintf("%s/nanocell/mount-allowlist.toml", xdg);
        return 0;
    }
    const char *home = secure_getenv("HOME");
    if (home && home[0] == '/') {
        *ret = xasprintf("%s/.config/nanocell/mount-allowlist.toml", home);
        return 0;
    }
    return -ENOENT;
}

int mount_expand_home(const char *path, char **ret, nc_error **err)
{
    _cleanup_free_ char *out = NULL;
    if (path[0] == '~' && (path[1] == '\0' || path[1] == '/')) {
        const char *home = secure_getenv("HOME");
        if (!home || home[0] != '/')
            return nc_error_set(err, EINVAL, "'%s' needs $HOME, which is unset or not absolute",
                                path);
        size_t n = strlen(home);
        while (n > 1 && home[n - 1] == '/')
            n--;
        out = xasprintf("%.*s%s", (int)n, home, path + 1);
    } else {
        out = xstrdup(path);
    }
    if (out[0] != '/')
        return nc_error_set(err, EINVAL, "'%s' is not an absolute path", path);
    if (strlen(out) >= PATH_MAX)
        return nc_error_set(err, ENAMETOOLONG, "'%s' is longer than %d bytes", path, PATH_MAX - 1);
    *ret = TAKE_PTR(out);
    return 0;
}

int mount_container_path_check(const char *path, nc_error **err)
{
    size_t len = strlen(path);
    if (len == 0)
        return nc_error_set(err, EINVAL, "container path is empty");
    if (len > MOUNT_CONTAINER_PATH_MAX)
        return nc_error_set(err, EINVAL, "container path '%s' is longer than %d bytes", path,
                            MOUNT_CONTAINER_PATH_MAX);
    if (path[0] == '/')
        return nc_error_set(err, EINVAL, "container path '%s' must be relative", path);
    for (const char *p = path; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == ':' || c == ',' || c == '"')
            return nc_error_set(err, EINVAL, "container path '%s' contains '%c'", path, c);
        if (c < 0x20 || c == 0x7f)
            return nc_error_set(err, EINVAL, "container path '%s' contains a control character",
                                path);
    }
    for (const char *p = path;;) {
        size_t n = strcspn(p, "/");
        if (n == 0)
            return nc_error_set(err, EINVAL, "container path '%s' has an empty component", path);
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return nc_error_set(err, EINVAL, "container path '%s' has a '%.*s' component", path,
                                (int)n, p);
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

static bool is_mode(const char *s)
{
    return strcmp(s, "ro") == 0 || strcmp(s, "rw") == 0;
}

/* The last component of host (trailing slashes ignored), or NULL when it makes no name. */
static char *default_container_path(const char *host)
{
    size_t end = strlen(host);
    while (end > 1 && host[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && host[start - 1] != '/')
        start--;
    _cleanup_free_ char *base = xstrndup(host + start, end - start);
    if (!*base || strcmp(base, "~") == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return NULL;
    return TAKE_PTR(base);
}

static int request_parse(const char *spec, mount_request *r, nc_error **err)
{
    _cleanup_strv_ char **part = NULL;
    for (const char *p = spec;;) {
        size_t n = strcspn(p, ":");
        if (strv_len(part) == 3)
            return nc_error_set(err, EINVAL, "too many ':' (HOST[:CONTAINER][:ro|:rw])");
        strv_push_take(&part, xstrndup(p, n));
        if (!p[n])
            break;
        p += n + 1;
    }
    size_t nparts = strv_len(part);
    const char *host = part[0], *container = NULL, *mode = NULL;
    if (nparts == 2 && is_mode(part[1]))
        mode = part[1];
    else if (nparts >= 2)
        container = part[1];
    if (nparts == 3)
        mode = part[2];
    if (mode && !is_mode(mode))
        return nc_error_set(err, EINVAL, "unknown mode '%s' (ro or rw)", mode);
    if (!*host)
        return nc_error_set(err, EINVAL, "host path is empty");
    if (host[0] != '/' && !(host[0] == '~' && (host[1] == '\0' || host[1] == '/')))
        return nc_error_set(err, EINVAL, "host path '%s' must be absolute or start with ~/", host);
    if (strlen(host) >= PATH_MAX)
        return nc_error_set(err, ENAMETOOLONG, "host path is longer than %d bytes", PATH_MAX - 1);
    _cleanup_free_ char *cpath = container ? xstrdup(container) : default_container_path(host);
    if (!cpath)
        return nc_error_set(
            err, EINVAL, "no container path can be derived from '%s': write HOST:CONTAINER", host);
    int rc = mount_container_path_check(cpath, err);
    if (rc < 0)
        return rc;
    r->spec = xstrdup(spec);
    r->host_path = xstrdup(host);
    r->container_path = TAKE_PTR(cpath);
    r->want_rw = mode && strcmp(mode, "rw") == 0;
    return 0;
}

int mount_request_parse(const char *spec, mount_request *ret, nc_error **err)
{
    mount_request r = {0};
    int rc = request_parse(spec, &r, err);
    if (rc < 0)
        return nc_error_wrap(err, "mount '%s'", spec);
    *ret = r;
    return 0;
}

void mount_request_release(mount_request *r)
{
    if (!r)
        return;
    free(r->spec);
    free(r->host_path);
    free(r->container_path);
    *r = (mount_request){0};
}

void mount_allowlist_free(mount_allowlist *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nroots; i++) {
        free(a->roots[i].path);
        free(a->roots[i].real);
        free(a->roots[i].description);
    }
    free(a->roots);
    strv_free(a->blocked);
    free(a->source);
    free(a);
}

static int key_error(const char *file, const toml_node *n, const char *key, nc_error **err,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int key_error(const char *file, const toml_node *n, const char *key, nc_error **err,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *why = xvasprintf(fmt, ap);
    va_end(ap);
    return nc_error_set(err, EINVAL, "%s:%u:%u: key '%s': %s", file, n->line, n->col, key, why);
}

static int parse_blocked(mount_allowlist *a, const toml_node *v, const char *file, nc_error **err)
{
    if (v->type != TOML_ARRAY || v->is_table_array)
        return key_error(file, v, "blocked_patterns", err, "expected an array of strings, got %s",
                         toml_type_name(v->type));
    for (size_t i = 0; i < v->len; i++) {
        const toml_node *s = v->items[i];
        if (s->type != TOML_STRING)
            return key_error(file, s, "blocked_patterns", err, "expected a string, got %s",
                             toml_type_name(s->type));
        /* "" is a substring of every path: it would block everything, surely by mistake. */
        if (!*s->str)
            return key_error(file, s, "blocked_patterns", err, "a pattern cannot be empty");
        if (!strv_contains(a->blocked, s->str))
            strv_push(&a->blocked, s->str);
    }
    return 0;
}

static int parse_root(mount_allowlist *a, const toml_node *t, const char *file, nc_error **err)
{
    const toml_node *path = NULL;
    mount_root root = {.line = t->line};
    for (size_t i = 0; i < t->len; i++) {
        const char *k = t->keys[i];
        const toml_node *v = t->items[i];
        if (strcmp(k, "path") == 0) {
            if (v->type != TOML_STRING)
                return key_error(file, v, "root.path", err, "expected a string, got %s",
                                 toml_type_name(v->type));
            path = v;
        } else if (strcmp(k, "read_write") == 0) {
            if (v->type != TOML_BOOL)
                return key_error(file, v, "root.read_write", err, "expected true or false, got %s",
                                 toml_type_name(v->type));
            root.read_write = v->boolean;
        } else if (strcmp(k, "description") == 0) {
            if (v->type != TOML_STRING)
                return key_error(file, v, "root.description", err, "expected a string, got %s",
                                 toml_type_name(v->type));
        } else {
            return key_error(file, v, k, err, "unknown key in [[root]]");
        }
    }
    if (!path)
        return nc_error_set(err, EINVAL, "%s:%u:%u: [[root]] needs a path", file, t->line, t->col);
    _cleanup_error_ nc_error *perr = NULL;
    _cleanup_free_ char *abs = NULL;
    if (mount_expand_home(path->str, &abs, &perr) < 0)
        return key_error(file, path, "root.path", err, "%s", perr->msg);
    char *real = realpath(abs, NULL);
    root.real_errno = real ? 0 : errno;
    root.real = real;
    root.path = TAKE_PTR(abs);
    const toml_node *d = toml_get(t, "description");
    root.description = d ? xstrdup(d->str) : NULL;
    a->roots = xreallocarray(a->roots, a->nroots + 1, sizeof(*a->roots));
    a->roots[a->nroots++] = root;
    return 0;
}

static int apply(mount_allowlist *a, const toml_node *top, const char *file, nc_error **err)
{
    for (size_t i = 0; i < top->len; i++) {
        const char *k = top->keys[i];
        const toml_node *v = top->items[i];
        int r;
        if (strcmp(k, "blocked_patterns") == 0) {
            r = parse_blocked(a, v, file, err);
        } else if (strcmp(k, "root") == 0) {
            if (v->type != TOML_ARRAY || !v->is_table_array)
                return key_error(file, v, "root", err, "roots are written as [[root]] tables");
            r = 0;
            for (size_t j = 0; j < v->len && r == 0; j++)
                r = parse_root(a, v->items[j], file, err);
        } else {
            return key_error(file, v, k, err, "unknown key");
        }
        if (r < 0)
            return r;
    }
    return 0;
}

int mount_allowlist_parse(const char *text, size_t len, const char *filename, mount_allowlist **ret,
                          nc_error **err)
{
    _cleanup_toml_ toml_node *top = NULL;
    int r = toml_parse(text, len, filename, &top, err);
    if (r < 0)
        return r;
    _cleanup_mount_allowlist_ mount_allowlist *a = xnew0(mount_allowlist);
    for (const char *const *p = default_blocked; *p; p++)
        strv_push(&a->blocked, *p);
    r = apply(a, top, filename, err);
    if (r < 0)
        return r;
    a->source = xstrdup(filename);
    *ret = TAKE_PTR(a);
    return 0;
}

int mount_allowlist_load(const char *path, mount_allowlist **ret, nc_error **err)
{
    _cleanup_free_ char *def = NULL;
    if (!path) {
        if (mount_allowlist_default_path(&def) < 0)
            return nc_error_set(err, ENOENT,
                                "no mount allowlist: neither $XDG_CONFIG_HOME nor $HOME is set, "
                                "so no extra mounts are allowed");
        path = def;
    }
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    _cleanup_error_ nc_error *rerr = NULL;
    struct stat st;
    int r = read_file_stat(path, TOML_MAX_FILE_SIZE, &text, &st, &rerr);
    if (r == -ENOENT)
        return nc_error_set(err, ENOENT,
                            "mount allowlist '%s' does not exist, so no extra mounts are allowed",
                            path);
    if (r < 0)
        return nc_error_set(err, -r, "read mount allowlist: %s", rerr->msg);
    /* The allowlist decides what leaves the host: like sshd's StrictModes, refuse one that
     * someone else could have written. */
    if (st.st_mode & 022)
        return nc_error_set(err, EPERM,
                            "mount allowlist '%s' is writable by group or others (mode %04o): "
                            "run chmod go-w on it",
                            path, (unsigned)(st.st_mode & 07777));
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return nc_error_set(err, EPERM,
                            "mount allowlist '%s' is owned by uid %u, neither root nor this user",
                            path, (unsigned)st.st_uid);
    return mount_allowlist_parse(text.buf ? text.buf : "", text.len, path, ret, err);
}

char *mount_allowlist_describe(const mount_allowlist *a)
{
    if (!a)
        return xstrdup("no mount allowlist: extra mounts are not allowed\n");
    _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, "mount allowlist '%s'\n", a->source ? a->source : "(unnamed)");
    if (a->nroots == 0)
        strbuf_addstr(&sb, "  no roots: extra mounts are not allowed\n");
    size_t usable = 0;
    for (size_t i = 0; i < a->nroots; i++) {
        const mount_root *r = &a->roots[i];
        strbuf_addf(&sb, "  line %u: root '%s'", r->line, r->path);
        if (!r->real) {
            strbuf_addf(&sb, ": matches nothing (%s)", strerror(r->real_errno));
        } else {
            usable++;
            if (strcmp(r->real, r->path) != 0)
                strbuf_addf(&sb, " -> '%s'", r->real);
            strbuf_addstr(&sb, r->read_write
                                   ? ": read-write for the main group, read-only for others"
                                   : ": read-only");
            for (char *const *p = a->blocked; *p; p++)
                if (strstr(r->real, *p)) {
                    strbuf_addf(&sb, "; every path in it matches blocked pattern '%s'", *p);
                    break;
                }
        }
        if (r->description)
            strbuf_addf(&sb, " (%s)", r->description);
        strbuf_addch(&sb, '\n');
    }
    if (a->nroots && !usable)
        strbuf_addstr(&sb, "  no root exists: extra mounts are not allowed\n");
    strbuf_addstr(&sb, "  blocked patterns:");
    for (char *const *p = a->blocked; *p; p++)
        strbuf_addf(&sb, " %s", *p);
    strbuf_addch(&sb, '\n');
    return strbuf_detach(&sb, NULL);
}
