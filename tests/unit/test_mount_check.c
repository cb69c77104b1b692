/* src/sandbox/mount_check.c: the whole policy on real temp directories. Symlinks out of a root,
 * `..`, ~ roots, prefix-but-not-under, every blocked pattern, read-only enforcement, never paths
 * (sockets and their parents), sockets, devices and fifos as sources, and the submount rule with
 * a real tmpfs (root only). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sandbox/mounts.h"
#include "util/strv.h"
#include "util/xalloc.h"

static char *base; /* a fresh temp dir; $HOME is base/home */

static char *at(const char *rel)
{
    return xasprintf("%s/%s", base, rel);
}

static void mkdir_at(const char *rel)
{
    _cleanup_free_ char *p = at(rel);
    if (mkdir(p, 0700) < 0)
        fail_msg("mkdir '%s': %m", p);
}

static void symlink_at(const char *target, const char *rel)
{
    _cleanup_free_ char *p = at(rel);
    if (symlink(target, p) < 0)
        fail_msg("symlink '%s': %m", p);
}

static void socket_at(const char *rel)
{
    _cleanup_free_ char *p = at(rel);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(p) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, p, strlen(p) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        fail_msg("bind '%s': %m", p);
    close(fd);
}

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/nc-mounts-XXXXXX";
    if (!mkdtemp(tmpl))
        return -1;
    base = xstrdup(tmpl);
    mkdir_at("home");
    mkdir_at("home/projects");
    mkdir_at("home/projects/app");
    mkdir_at("home/projects2");
    mkdir_at("home/outside");
    mkdir_at("home/docs");
    mkdir_at("home/.ssh");
    symlink_at("../outside", "home/projects/escape");
    symlink_at("../.ssh", "home/projects/keys");
    _cleanup_free_ char *home = at("home");
    setenv("HOME", home, 1);
    unsetenv("XDG_RUNTIME_DIR");
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    /* FTW_MOUNT: never descend into a file system mounted below (a failed test's tmpfs). */
    int r = nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    free(base);
    return r;
}

static mount_allowlist *allow(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static mount_allowlist *allow(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *text = xvasprintf(fmt, ap);
    va_end(ap);
    mount_allowlist *a = NULL;
    nc_error *err = NULL;
    if (mount_allowlist_parse(text, strlen(text), "/etc/nanocell/mount-allowlist.toml", &a, &err) <
        0)
        fail_msg("allowlist: %s", nc_error_msg(err));
    return a;
}

/* The standard allowlist: ~/projects read-write, ~/docs read-only. */
static mount_allowlist *std_allow(void)
{
    return allow("blocked_patterns = ['password']\n"
                 "[[root]]\npath = '~/projects'\nread_write = true\n"
                 "[[root]]\npath = '~/docs'\n");
}

static mount_spec check_ok(const mount_allowlist *a, const char *spec, bool is_main, int api,
                           char *const *never)
{
    mount_request req = {0};
    mount_spec m = {0};
    nc_error *err = NULL;
    if (mount_request_parse(spec, &req, &err) < 0 ||
        mount_validate(a, &req, is_main, api, never, &m, &err) < 0)
        fail_msg("'%s': %s", spec, nc_error_msg(err));
    assert_null(err);
    mount_request_release(&req);
    return m;
}

/* want: the message after "mount 'SPEC': ", with every %s replaced by base. */
static void check_fails(const mount_allowlist *a, const char *spec, bool is_main, int api,
                        char *const *never, int code, const char *want)
{
    mount_request req = {0};
    mount_spec m = {0};
    nc_error *err = NULL;
    if (mount_request_parse(spec, &req, &err) < 0)
        fail_msg("'%s': %s", spec, nc_error_msg(err));
    int r = mount_validate(a, &req, is_main, api, never, &m, &err);
    mount_request_release(&req);
    assert_null(m.source);
    if (r != -code)
        fail_msg("'%s': got %d (%s), want %d", spec, r, nc_error_msg(err), -code);
    _cleanup_free_ char *w = xstrdup(want);
    for (char *p; (p = strstr(w, "%s"));) {
        char *n = xasprintf("%.*s%s%s", (int)(p - w), w, base, p + 2);
        free(w);
        w = n;
    }
    _cleanup_free_ char *full = xasprintf("mount '%s': %s", spec, w);
    if (strcmp(nc_error_msg(err), full) != 0)
        fail_msg("mount error:\n got  '%s'\n want '%s'", nc_error_msg(err), full);
    nc_error_free(err);
}

static void test_accepts(void **state)
{
    (void)state;
    _cleanup_mount_allowlist_ mount_allowlist *a = std_allow();
    _cleanup_free_ char *spec = at("home/projects/app:work/app:rw");
    _cleanup_free_ char *app = at("home/projects/app");
    mount_spec m = check_ok(a, spec, true, 41, NULL);
    assert_string_equal(m.source, app);
    assert_string_equal(m.target, "/workspace/extra/work/app");
    assert_false(m.read_only);
    assert_null(m.note);
    mount_spec_release(&m);
    assert_null(m.source);

    /* The root itself, a ~ request, and `..` that stays inside. */
    _cleanup_free_ char *proj = at("home/projects");
    m = check_ok(a, "~/projects", false, 41, NULL);
    assert_string_equal(m.source, proj);
    assert_string_equal(m.target, "/workspace/extra/projects");
    assert_true(m.read_only);
    assert_null(m.note);
    mount_spec_release(&m);
    _cleanup_free_ char *dots = at("home/projects/app/../app");
    m = check_ok(a, dots, false, 41, NULL);
    assert_string_equal(m.source, app);
    assert_string_equal(m.target, "/workspace/extra/app");
    mount_spec_release(&m);
}

static void test_escapes(void **state)
{
    (void)state;
    _cleanup_mount_allowlist_ mount_allowlist *a = std_allow();
    const char *not_under = "'%s/home/outside' is not under any allowed root (allowlist "
                            "'/etc/nanocell/mount-allowlist.toml')";
    /* A symlink inside the root that points out of it. */
    _cleanup_free_ char *link = at("home/projects/escape");
    check_fails(a, link, true, 41, NULL, EPERM, not_under);
    /* A symlink inside the root to a blocked directory. */
    _cleanup_free_ char *keys = at("home/projects/keys:k");
    check_fails(a, keys, true, 41, NULL, EPERM, "'%s/home/.ssh' matches blocked pattern '.ssh'");
    /* `..` out of the root. */
    _cleanup_free_ char *dots = at("home/projects/../outside");
    check_fails(a, dots, true, 41, NULL, EPERM, not_under);
    check_fails(a, "~/projects/../outside", true, 41, NULL, EPERM, not_under);
    /* A sibling whose name starts with the root's. */
    check_fails(a, "~/projects2", true, 41, NULL, EPERM,
                "'%s/home/projects2' is not under any allowed root (allowlist "
                "'/etc/nanocell/mount-allowlist.toml')");
    /* The root's parent. */
    check_fails(a, "~:h", true, 41, NULL, EPERM,
                "'%s/home' is not under any allowed root (allowlist "
                "'/etc/nanocell/mount-allowlist.toml')");
    /* Missing sources. */
    check_fails(a, "~/projects/nope", true, 41, NULL, ENOENT,
                "'%s/home/projects/nope' does not exist");
    check_fails(a, "~/projects/escape/nope", true, 41, NULL, ENOENT,
                "'%s/home/projects/escape/nope' does not exist");
    /* No allowlist at all. */
    check_fails(NULL, "~/projects", true, 41, NULL, EPERM,
                "no mount allowlist, so no extra mounts are allowed");
    /* A root that does not exist matches nothing, even a path that appears later. */
    _cleanup_mount_allowlist_ mount_allowlist *gone = allow("[[root]]\npath = '~/later'\n");
    mkdir_at("home/later");
    check_fails(gone, "~/later", true, 41, NULL, EPERM,
                "'%s/home/later' is not under any allowed root (allowlist "
                "'/etc/nanocell/mount-allowlist.toml')");
}

static void test_blocked_patterns(void **state)
{
    (void)state;
    _cleanup_mount_allowlist_ mount_allowlist *a = std_allow();
    for (const char *const *p = mount_default_blocked(); *p; p++) {
        /* A directory named after the pattern, one that contains it, and a file. */
        _cleanup_free_ char *exact = xasprintf("home/projects/%s", *p);
        _cleanup_free_ char *within = xasprintf("home/projects/my-%s-dir", *p);
        _cleanup_free_ char *deep = xasprintf("home/projects/my-%s-dir/sub", *p);
        _cleanup_free_ char *file = xasprintf("home/projects/app/%s.pub", *p);
        mkdir_at(exact);
        mkdir_at(within);
        mkdir_at(deep);
        _cleanup_free_ char *fpath = at(file);
        FILE *f = fopen(fpath, "we");
        assert_non_null(f);
        fclose(f);
        const char *rels[] = {exact, within, deep, file};
        for (size_t i = 0; i < NC_ARRAY_SIZE(rels); i++) {
            _cleanup_free_ char *spec = xasprintf("%s/%s:x", base, rels[i]);
            _cleanup_free_ char *want =
                xasprintf("'%%s/%s' matches blocked pattern '%s'", rels[i], *p);
            check_fails(a, spec, true, 41, NULL, EPERM, want);
        }
    }
    /* The file's own pattern, and its absence elsewhere. */
    mkdir_at("home/projects/db-password");
    check_fails(a, "~/projects/db-password", true, 41, NULL, EPERM,
                "'%s/home/projects/db-password' matches blocked pattern 'password'");
    _cleanup_mount_allowlist_ mount_allowlist *plain = allow("[[root]]\npath = '~/projects'\n");
    mount_spec m = check_ok(plain, "~/projects/db-password", true, 41, NULL);
    mount_spec_release(&m);
    /* Matching is on the real path, so a harmless-looking link to a blocked file is refused. */
    _cleanup_free_ char *target = at("home/projects/id_rsa");
    symlink_at(target, "home/projects/app/innocent");
    check_fails(a, "~/projects/app/innocent", true, 41, NULL, EPERM,
                "'%s/home/projects/id_rsa' matches blocked pattern 'id_rsa'");
}

static void test_read_only(void **state)
{
    (void)state;
    _cleanup_mount_allowlist_ mount_allowlist *a = std_allow();
    /* main + rw root + :rw */
    mount_spec m = check_ok(a, "~/projects/app:rw", true, 41, NULL);
    assert_false(m.read_only);
    assert_null(m.note);
    mount_spec_release(&m);
    /* a non-main group is forced read-only, with a note */
    m = check_ok(a, "~/projects/app:rw", false, 41, NULL);
    assert_true(m.read_only);
    assert_string_equal(m.note, "forced read-only: the group is not the main group");
    mount_spec_release(&m);
    /* a read-only root */
    _cleanup_free_ char *docs = at("home/docs");
    _cleanup_free_ char *want =
        xasprintf("forced read-only: root '%s' does not allow read-write", docs);
    m = check_ok(a, "~/docs:rw", true, 41, NULL);
    assert_true(m.read_only);
    assert_string_equal(m.note, want);
    mount_spec_release(&m);
    /* no rw asked: read-only, no note */
    m = check_ok(a, "~/projects/app", true, 41, NULL);
    assert_true(m.read_only);
    assert_null(m.note);
    mount_spec_release(&m);
    /* The most specific root decides, whatever the order. */
    _cleanup_mount_allowlist_ mount_allowlist *nested =
        allow("[[root]]\npath = '~/projects/app'\n[[root]]\npath = '~'\nread_write = true\n");
    m = check_ok(nested, "~/projects/app:rw", true, 41, NULL);
    assert_true(m.read_only);
    assert_non_null(m.note);
    mount_spec_release(&m);
    m = check_ok(nested, "~/projects:rw", true, 41, NULL);
    assert_false(m.read_only);
    mount_spec_release(&m);
    m = check_ok(a, "~/projects/app", true, 44, NULL);
    assert_true(m.read_only);
    mount_spec_release(&m);
}

static void test_never_paths(void **state)
{
    (void)state;
    mkdir_at("run");
    mkdir_at("run/sub");
    mkdir_at("data");
    socket_at("run/engine.sock");
    symlink_at("run", "link-run");
    _cleanup_free_ char *sock = at("link-run/engine.sock");
    _cleanup_free_ char *data = at("data/");
    char *never[] = {sock, data, "", "relative", NULL};
    _cleanup_mount_allowlist_ mount_allowlist *a = allow("[[root]]\npath = '%s'\n", base);
    check_fails(a, sock, true, 41, never, EPERM,
                "'%s/run/engine.sock' would expose the engine socket '%s/link-run/engine.sock'");
    _cleanup_free_ char *run = at("run");
    check_fails(a, run, true, 41, never, EPERM,
                "'%s/run' would expose the engine socket '%s/link-run/engine.sock'");
    check_fails(a, base, true, 41, never, EPERM,
                "'%s' would expose the engine socket '%s/link-run/engine.sock'");
    _cleanup_free_ char *inside = at("data:d");
    check_fails(a, inside, true, 41, never, EPERM,
                "'%s/data' would expose '%s/data/', which is "
                "never mounted");
    /* A sibling of the socket is fine. */
    _cleanup_free_ char *sub = at("run/sub");
    mount_spec m = check_ok(a, sub, true, 41, never);
    mount_spec_release(&m);

    /* mount_never_hit: equal, inside, parent; resolved through symlinks; missing entries. */
    _cleanup_free_ char *real_sock = at("run/engine.sock");
    assert_ptr_equal(mount_never_hit(real_sock, never), sock);
    assert_ptr_equal(mount_never_hit(run, never), sock);
    assert_null(mount_never_hit(sub, never));
    _cleanup_free_ char *missing = at("link-run/missing.sock");
    char *never2[] = {missing, NULL};
    assert_ptr_equal(mount_never_hit(run, never2), missing);
    assert_null(mount_never_hit(sub, never2));
    assert_null(mount_never_hit("/", NULL));

    /* The built-in list, and its parents like /run and /var/run. */
    _cleanup_strv_ char **def = mount_default_never();
    assert_int_equal(strv_len(def), 4);
    assert_true(strv_contains(def, "/var/run/docker.sock"));
    assert_true(strv_contains(def, "/run/containerd/containerd.sock"));
    assert_non_null(mount_never_hit("/run", def));
    assert_non_null(mount_never_hit("/var/run", def));
    assert_non_null(mount_never_hit("/", def));
    assert_non_null(mount_never_hit("/run/podman", def));
    assert_null(mount_never_hit("/usr", def));
    assert_null(mount_never_hit("/runx", def));
    _cleanup_mount_allowlist_ mount_allowlist *all = allow("[[root]]\npath = '/'\n");
    check_fails(all, "/var/run:vr", true, 41, NULL, EPERM,
                "'/run' would expose the engine socket '/var/run/docker.sock'");
    check_fails(all, "/:r", true, 41, NULL, EPERM,
                "'/' would expose the engine socket '/var/run/docker.sock'");
    /* $XDG_RUNTIME_DIR's sockets join the list. */
    setenv("XDG_RUNTIME_DIR", run, 1);
    _cleanup_strv_ char **xdg = mount_default_never();
    unsetenv("XDG_RUNTIME_DIR");
    assert_int_equal(strv_len(xdg), 6);
    _cleanup_free_ char *psock = at("run/podman/podman.sock");
    _cleanup_free_ char *dsock = at("run/docker.sock");
    assert_string_equal(xdg[4], psock);
    assert_string_equal(xdg[5], dsock);
    assert_ptr_equal(mount_never_hit(run, xdg), xdg[4]);
}

static void test_special_files(void **state)
{
    (void)state;
    _cleanup_mount_allowlist_ mount_allowlist *a = allow("[[root]]\npath = '%s'\n"
                                                         "[[root]]\npath = '/dev'\n",
                                                         base);
    check_fails(a, "/dev/null", true, 41, NULL, EPERM,
                "'/dev/null' is a device: only directories and regular files are mounted");
    socket_at("other.sock");
    _cleanup_free_ char *sock = at("other.sock:s");
    check_fails(a, sock, true, 41, NULL, EPERM,
                "'%s/other.sock' is a socket: only directories and regular files are mounted");
    _cleanup_free_ char *fifo = at("fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    check_fails(a, fifo, true, 41, NULL, EPERM,
                "'%s/fifo' is a fifo: only directories and regular files are mounted");
    /* Names the engines' mount syntax cannot carry. */
    mkdir_at("a,ro=false");
    _cleanup_free_ char *comma = at("a,ro=false:a");
    check_fails(a, comma, true, 41, NULL, EINVAL,
                "'%s/a,ro=false' contains ',', which the engines' mount syntax cannot carry");
    mkdir_at("nl\nx");
    _cleanup_free_ char *nl = at("nl\nx:a");
    check_fails(a, nl, true, 41, NULL, EINVAL, "'%s/nl\nx' contains a control character");
    /* A hand-built request without spec is named by its parts; bad container paths are
     * checked again. */
    mount_request req = {.host_path = "/dev", .container_path = "../x", .want_rw = true};
    mount_spec m = {0};
    nc_error *err = NULL;
    assert_int_equal(mount_validate(a, &req, true, 41, NULL, &m, &err), -EINVAL);
    assert_string_equal(nc_error_msg(err),
                        "mount '/dev:../x:rw': container path '../x' has a '..' component");
    nc_error_free(err);
}

static void test_find_submount(void **state)
{
    (void)state;
    const char *mi = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                     "30 22 0:5 / /srv/a rw - tmpfs t rw\n"
                     "31 22 0:5 / /srv/ab rw - tmpfs t rw\n"
                     "32 30 0:6 / /srv/a/with\\040space rw - tmpfs t rw\n";
    char *below = NULL;
    assert_int_equal(mount_find_submount(mi, strlen(mi), "/srv/a", &below), 1);
    assert_string_equal(below, "/srv/a/with space");
    free(below);
    below = NULL;
    assert_int_equal(mount_find_submount(mi, strlen(mi), "/srv/ab", &below), 0);
    assert_int_equal(mount_find_submount(mi, strlen(mi), "/srv/a/with space", &below), 0);
    assert_int_equal(mount_find_submount(mi, strlen(mi), "/srv", &below), 1);
    assert_string_equal(below, "/srv/a");
    free(below);
    below = NULL;
    assert_int_equal(mount_find_submount("", 0, "/", &below), 0);
    assert_int_equal(mount_find_submount("1 2 3 4\n", 8, "/", &below), -EINVAL);
    assert_int_equal(mount_find_submount("1 2 3 4 /a\\04 x\n", 16, "/", &below), -EINVAL);
    assert_int_equal(mount_find_submount("1 2 3 4 /a\\000 x\n", 17, "/", &below), -EINVAL);
    assert_int_equal(mount_find_submount("1 2 3 4 rel x\n", 14, "/", &below), -EINVAL);
    assert_null(below);

    assert_true(mount_path_under("/a/b", "/a"));
    assert_true(mount_path_under("/a", "/a/"));
    assert_true(mount_path_under("/a", "/"));
    assert_false(mount_path_under("/ab", "/a"));
    assert_false(mount_path_under("/a", "/a/b"));
}

/* A tmpfs below a read-only source: refused below API 1.44, accepted from 1.44 (the
 * non-recursive bind leaves it out), and not checked for read-write mounts. */
static void test_submounts(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("# skipping the submount test: it mounts a tmpfs and needs root\n");
        skip();
    }
    mkdir_at("home/projects/mnt");
    mkdir_at("home/projects/mnt/sub");
    _cleanup_free_ char *sub = at("home/projects/mnt/sub");
    if (mount("tmpfs", sub, "tmpfs", 0, "size=1m") < 0) {
        print_message("# skipping the submount test: mount tmpfs: %s\n", strerror(errno));
        skip();
    }
    _cleanup_mount_allowlist_ mount_allowlist *a = std_allow();
    mount_request req = {0};
    mount_spec ro41 = {0}, ro44 = {0}, rw41 = {0};
    nc_error *err41 = NULL, *err = NULL;
    int r41 = mount_request_parse("~/projects/mnt", &req, &err) == 0
                  ? mount_validate(a, &req, true, 41, NULL, &ro41, &err41)
                  : -1;
    int r44 = mount_validate(a, &req, true, 44, NULL, &ro44, &err);
    req.want_rw = true;
    int rrw = mount_validate(a, &req, true, 41, NULL, &rw41, &err);
    int r43 = mount_validate(a, &req, false, 43, NULL, &ro41, &err);
    mount_request_release(&req);
    if (umount(sub) < 0)
        fail_msg("umount '%s': %m", sub);

    assert_int_equal(r41, -EPERM);
    _cleanup_free_ char *want = xasprintf(
        "mount '~/projects/mnt': '%s/home/projects/mnt' has mounts below it ('%s'): API 1.41 "
        "cannot make a read-only bind recursive, so nanocell will not rely on the non-recursive "
        "bind alone",
        base, sub);
    assert_string_equal(nc_error_msg(err41), want);
    nc_error_free(err41);
    assert_int_equal(r44, 0);
    assert_true(ro44.read_only);
    assert_int_equal(rrw, 0);
    assert_false(rw41.read_only);
    /* A non-main group's rw request becomes read-only, so the rule applies to it too. */
    assert_int_equal(r43, -EPERM);
    assert_non_null(strstr(nc_error_msg(err), "API 1.43 cannot make a read-only bind recursive"));
    nc_error_free(err);
    mount_spec_release(&ro44);
    mount_spec_release(&rw41);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),          cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_blocked_patterns), cmocka_unit_test(test_read_only),
        cmocka_unit_test(test_never_paths),      cmocka_unit_test(test_special_files),
        cmocka_unit_test(test_find_submount),    cmocka_unit_test(test_submounts),
    };
    return cmocka_run_group_tests_name("mount_check", tests, setup, teardown);
}
