/* src/sandbox/mounts.c: the allowlist file (the example, errors with file:line:col, ~ roots,
 * missing roots and files) and mount requests (every bad container path). The checks on one
 * request are in test_mount_check.c. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/mounts.h"
#include "util/fileutil.h"
#include "util/strv.h"
#include "util/xalloc.h"

static char *base; /* a fresh temp dir; $HOME is base/home */

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/nc-mounts-XXXXXX";
    if (!mkdtemp(tmpl))
        return -1;
    base = xstrdup(tmpl);
    _cleanup_free_ char *home = xasprintf("%s/home", base);
    _cleanup_free_ char *proj = xasprintf("%s/home/projects", base);
    if (mkdir(home, 0700) < 0 || mkdir(proj, 0700) < 0)
        return -1;
    setenv("HOME", home, 1);
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

static mount_allowlist *parse_ok(const char *text)
{
    mount_allowlist *a = NULL;
    nc_error *err = NULL;
    if (mount_allowlist_parse(text, strlen(text), "a.toml", &a, &err) < 0)
        fail_msg("parse: %s", nc_error_msg(err));
    assert_null(err);
    return a;
}

/* Parses from an exact-size copy, so ASan sees any read past the end. */
static void parse_fails(const char *text, const char *want)
{
    size_t len = strlen(text);
    char *copy = xmalloc(len + 1);
    memcpy(copy, text, len);
    mount_allowlist *a = (mount_allowlist *)(uintptr_t)0x1;
    nc_error *err = NULL;
    int r = mount_allowlist_parse(copy, len, "a.toml", &a, &err);
    free(copy);
    assert_int_equal(r, -EINVAL);
    assert_ptr_equal(a, (mount_allowlist *)(uintptr_t)0x1);
    if (strcmp(nc_error_msg(err), want) != 0)
        fail_msg("allowlist error:\n got  '%s'\n want '%s'", nc_error_msg(err), want);
    nc_error_free(err);
}

static void test_example_parses(void **state)
{
    (void)state;
    const char *root = getenv("NANOCELL_ROOT");
    _cleanup_free_ char *path =
        xasprintf("%s/policies/mount-allowlist.example.toml", root ? root : ".");
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    nc_error *err = NULL;
    if (read_file(path, 1 << 20, &text, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    _cleanup_mount_allowlist_ mount_allowlist *a = NULL;
    if (mount_allowlist_parse(text.buf, text.len, path, &a, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    assert_string_equal(a->source, path);
    assert_int_equal(a->nroots, 2);
    _cleanup_free_ char *projects = xasprintf("%s/home/projects", base);
    assert_string_equal(a->roots[0].path, projects);
    assert_string_equal(a->roots[0].real, projects);
    assert_true(a->roots[0].read_write);
    assert_string_equal(a->roots[0].description, "Development projects");
    assert_false(a->roots[1].read_write);
    assert_null(a->roots[1].real); /* ~/Documents/work does not exist here */
    assert_int_equal(a->roots[1].real_errno, ENOENT);
    /* The built-in patterns first, in order, then the file's. */
    const char *const *def = mount_default_blocked();
    size_t n = 0;
    for (; def[n]; n++)
        assert_string_equal(a->blocked[n], def[n]);
    assert_int_equal(n, 17);
    assert_string_equal(a->blocked[n], "password");
    assert_string_equal(a->blocked[n + 1], "token");
    assert_null(a->blocked[n + 2]);
}

static void test_default_blocked_order(void **state)
{
    (void)state;
    const char *want[] = {".ssh",    ".gnupg",  ".gpg",        ".aws",        ".azure",  ".gcloud",
                          ".kube",   ".docker", "credentials", ".env",        ".netrc",  ".npmrc",
                          ".pypirc", "id_rsa",  "id_ed25519",  "private_key", ".secret", NULL};
    const char *const *def = mount_default_blocked();
    for (size_t i = 0; i < NC_ARRAY_SIZE(want); i++)
        assert_string_equal(def[i] ? def[i] : "(end)", want[i] ? want[i] : "(end)");
}

static void test_parse_roots(void **state)
{
    (void)state;
    _cleanup_free_ char *text = xasprintf("blocked_patterns = ['.ssh', 'password', 'password']\n"
                                          "[[root]]\n"
                                          "path = '~'\n"
                                          "[[root]]\n"
                                          "path = '%s/home/projects/'\n"
                                          "read_write = false\n"
                                          "[[root]]\n"
                                          "path = '~/missing'\n"
                                          "read_write = true\n"
                                          "description = 'gone'\n",
                                          base);
    _cleanup_mount_allowlist_ mount_allowlist *a = parse_ok(text);
    assert_string_equal(a->source, "a.toml");
    assert_int_equal(a->nroots, 3);
    _cleanup_free_ char *home = xasprintf("%s/home", base);
    _cleanup_free_ char *proj = xasprintf("%s/home/projects", base);
    _cleanup_free_ char *proj_slash = xasprintf("%s/home/projects/", base);
    _cleanup_free_ char *missing = xasprintf("%s/home/missing", base);
    assert_string_equal(a->roots[0].path, home);
    assert_string_equal(a->roots[0].real, home);
    assert_int_equal(a->roots[0].line, 2);
    assert_null(a->roots[0].description);
    assert_string_equal(a->roots[1].path, proj_slash);
    assert_string_equal(a->roots[1].real, proj);
    assert_string_equal(a->roots[2].path, missing);
    assert_null(a->roots[2].real);
    assert_true(a->roots[2].read_write);
    assert_string_equal(a->roots[2].description, "gone");
    /* Duplicates, with the built-in list and within the file, are dropped. */
    assert_int_equal(strv_len(a->blocked), 18);
    assert_string_equal(a->blocked[17], "password");

    _cleanup_free_ char *d = mount_allowlist_describe(a);
    _cleanup_free_ char *want_missing =
        xasprintf("root '%s': matches nothing (No such file or directory) (gone)", missing);
    if (!strstr(d, "mount allowlist 'a.toml'") || !strstr(d, want_missing) ||
        !strstr(d, ": read-only\n") || !strstr(d, " .secret password\n"))
        fail_msg("describe:\n%s", d);
}

static void test_describe(void **state)
{
    (void)state;
    _cleanup_free_ char *none = mount_allowlist_describe(NULL);
    assert_string_equal(none, "no mount allowlist: extra mounts are not allowed\n");
    _cleanup_mount_allowlist_ mount_allowlist *empty = parse_ok("");
    assert_int_equal(empty->nroots, 0);
    _cleanup_free_ char *d = mount_allowlist_describe(empty);
    assert_non_null(strstr(d, "no roots: extra mounts are not allowed"));

    _cleanup_mount_allowlist_ mount_allowlist *gone =
        parse_ok("[[root]]\npath = '/nonexistent-nc'\n");
    _cleanup_free_ char *d2 = mount_allowlist_describe(gone);
    assert_non_null(strstr(d2, "no root exists: extra mounts are not allowed"));

    /* A root whose own path holds a blocked pattern can never match anything. */
    _cleanup_free_ char *keys = xasprintf("%s/home/.ssh", base);
    assert_int_equal(mkdir(keys, 0700), 0);
    _cleanup_free_ char *text =
        xasprintf("[[root]]\npath = '~/.ssh'\nread_write = true\ndescription = 'oops'\n");
    _cleanup_mount_allowlist_ mount_allowlist *a = parse_ok(text);
    _cleanup_free_ char *d3 = mount_allowlist_describe(a);
    _cleanup_free_ char *want = xasprintf("  line 1: root '%s': read-write for the main group, "
                                          "read-only for others; every path in it "
                                          "matches blocked pattern '.ssh' (oops)\n",
                                          keys);
    if (!strstr(d3, want))
        fail_msg("describe:\n%s\nwant:\n%s", d3, want);
    assert_int_equal(rmdir(keys), 0);
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_fails("foo = 1\n", "a.toml:1:7: key 'foo': unknown key");
    parse_fails("[extra]\nx = 1\n", "a.toml:1:1: key 'extra': unknown key");
    parse_fails("blocked_patterns = 'x'\n",
                "a.toml:1:20: key 'blocked_patterns': expected an array of strings, got string");
    parse_fails("blocked_patterns = ['a',\n  '']\n",
                "a.toml:2:3: key 'blocked_patterns': a pattern cannot be empty");
    parse_fails("root = 'x'\n", "a.toml:1:8: key 'root': roots are written as [[root]] tables");
    parse_fails("[root]\npath = '/'\n",
                "a.toml:1:1: key 'root': roots are written as [[root]] tables");
    parse_fails("[[root]]\npath = 1\n",
                "a.toml:2:8: key 'root.path': expected a string, got integer");
    parse_fails("[[root]]\npath = '/'\nread_write = 'yes'\n",
                "a.toml:3:14: key 'root.read_write': expected true or false, got string");
    parse_fails("[[root]]\npath = '/'\ndescription = false\n",
                "a.toml:3:15: key 'root.description': expected a string, got boolean");
    parse_fails("[[root]]\npath = '/'\nmode = 'rw'\n",
                "a.toml:3:8: key 'mode': unknown key in [[root]]");
    parse_fails("[[root]]\npath = '/'\n\n  [[root]]\ndescription = 'x'\n",
                "a.toml:4:3: [[root]] needs a path");
    parse_fails("[[root]]\npath = 'relative/dir'\n",
                "a.toml:2:8: key 'root.path': 'relative/dir' is not an absolute path");
    parse_fails("[[root]]\npath = '~user/x'\n",
                "a.toml:2:8: key 'root.path': '~user/x' is not an absolute path");
    /* TOML errors come through with their position. */
    parse_fails("blocked_patterns = [1]\n", "a.toml:1:21: arrays may only hold strings");
}

static void test_home_needed(void **state)
{
    (void)state;
    _cleanup_free_ char *saved = xstrdup(getenv("HOME"));
    unsetenv("HOME");
    parse_fails("[[root]]\npath = '~/x'\n",
                "a.toml:2:8: key 'root.path': '~/x' needs $HOME, which is unset or not absolute");
    setenv("HOME", "relative", 1);
    parse_fails("[[root]]\npath = '~'\n",
                "a.toml:2:8: key 'root.path': '~' needs $HOME, which is unset or not absolute");
    setenv("HOME", saved, 1);
}

static void test_load(void **state)
{
    (void)state;
    _cleanup_free_ char *missing = xasprintf("%s/no-such-allowlist.toml", base);
    mount_allowlist *a = NULL;
    nc_error *err = NULL;
    assert_int_equal(mount_allowlist_load(missing, &a, &err), -ENOENT);
    assert_null(a);
    _cleanup_free_ char *want =
        xasprintf("mount allowlist '%s' does not exist, so no extra mounts are allowed", missing);
    assert_string_equal(nc_error_msg(err), want);
    nc_error_free(err);
    err = NULL;

    _cleanup_free_ char *path = xasprintf("%s/allow.toml", base);
    const char *text = "[[root]]\npath = '~/projects'\nread_write = true\nbogus = 1\n";
    assert_int_equal(write_file_atomic(path, text, strlen(text), 0600, NULL), 0);
    assert_int_equal(mount_allowlist_load(path, &a, &err), -EINVAL);
    _cleanup_free_ char *want2 = xasprintf("%s:4:9: key 'bogus': unknown key in [[root]]", path);
    assert_string_equal(nc_error_msg(err), want2);
    nc_error_free(err);
    err = NULL;

    text = "[[root]]\npath = '~/projects'\nread_write = true\n";
    assert_int_equal(write_file_atomic(path, text, strlen(text), 0600, NULL), 0);
    assert_int_equal(mount_allowlist_load(path, &a, &err), 0);
    assert_string_equal(a->source, path);
    assert_int_equal(a->nroots, 1);
    mount_allowlist_free(a);

    /* One that others could write is refused, like sshd's StrictModes. */
    assert_int_equal(chmod(path, 0664), 0);
    err = NULL;
    assert_int_equal(mount_allowlist_load(path, &a, &err), -EPERM);
    _cleanup_free_ char *want3 = xasprintf("mount allowlist '%s' is writable by group or others "
                                           "(mode 0664): run chmod go-w on it",
                                           path);
    assert_string_equal(nc_error_msg(err), want3);
    nc_error_free(err);
    err = NULL;
    assert_int_equal(chmod(path, 0644), 0);
    if (geteuid() == 0) {
        assert_int_equal(chown(path, 4242, 4242), 0);
        assert_int_equal(mount_allowlist_load(path, &a, &err), -EPERM);
        assert_non_null(strstr(nc_error_msg(err), "is owned by uid 4242"));
        nc_error_free(err);
        err = NULL;
        assert_int_equal(chown(path, 0, 0), 0);
    }
    assert_int_equal(mount_allowlist_load(path, &a, &err), 0);
    mount_allowlist_free(a);

    /* A directory is not an allowlist. */
    assert_int_equal(mount_allowlist_load(base, &a, &err), -EISDIR);
    nc_error_free(err);
}

static void test_default_path(void **state)
{
    (void)state;
    _cleanup_free_ char *p = NULL;
    assert_int_equal(mount_allowlist_default_path(&p), 0);
    if (geteuid() == 0)
        assert_string_equal(p, "/etc/nanocell/mount-allowlist.toml");
    else
        assert_non_null(strstr(p, "/nanocell/mount-allowlist.toml"));
}

static void request_ok(const char *spec, const char *host, const char *container, bool rw)
{
    mount_request r = {0};
    nc_error *err = NULL;
    if (mount_request_parse(spec, &r, &err) < 0)
        fail_msg("'%s': %s", spec, nc_error_msg(err));
    assert_string_equal(r.spec, spec);
    assert_string_equal(r.host_path, host);
    assert_string_equal(r.container_path, container);
    assert_int_equal(r.want_rw, rw);
    mount_request_release(&r);
    assert_null(r.host_path);
}

static void request_fails(const char *spec, const char *want)
{
    mount_request r = {0};
    nc_error *err = NULL;
    assert_int_not_equal(mount_request_parse(spec, &r, &err), 0);
    assert_null(r.host_path);
    if (strcmp(nc_error_msg(err), want) != 0)
        fail_msg("request error:\n got  '%s'\n want '%s'", nc_error_msg(err), want);
    nc_error_free(err);
}

static void test_request_parse(void **state)
{
    (void)state;
    request_ok("/srv/data", "/srv/data", "data", false);
    request_ok("/srv/data/", "/srv/data/", "data", false);
    request_ok("/srv/data:ro", "/srv/data", "data", false);
    request_ok("/srv/data:rw", "/srv/data", "data", true);
    request_ok("/srv/data:d", "/srv/data", "d", false);
    request_ok("/srv/data:a/b.c:rw", "/srv/data", "a/b.c", true);
    request_ok("/srv/data:ro:ro", "/srv/data", "ro", false);
    request_ok("~/projects", "~/projects", "projects", false);
    request_ok("~:home", "~", "home", false);
    request_ok("/a/../b", "/a/../b", "b", false);
    request_ok("/srv/..data", "/srv/..data", "..data", false);
}

static void test_request_errors(void **state)
{
    (void)state;
    request_fails("", "mount '': host path is empty");
    request_fails(":x", "mount ':x': host path is empty");
    request_fails("srv/data", "mount 'srv/data': host path 'srv/data' must be absolute or start "
                              "with ~/");
    request_fails("~user/x", "mount '~user/x': host path '~user/x' must be absolute or start "
                             "with ~/");
    request_fails("/a:b:c:d", "mount '/a:b:c:d': too many ':' (HOST[:CONTAINER][:ro|:rw])");
    request_fails("/a:b:xx", "mount '/a:b:xx': unknown mode 'xx' (ro or rw)");
    request_fails("/a:b:RW", "mount '/a:b:RW': unknown mode 'RW' (ro or rw)");
    request_fails("/", "mount '/': no container path can be derived from '/': write "
                       "HOST:CONTAINER");
    request_fails("~", "mount '~': no container path can be derived from '~': write "
                       "HOST:CONTAINER");
    request_fails("/a/..", "mount '/a/..': no container path can be derived from '/a/..': write "
                           "HOST:CONTAINER");
    /* Every bad container path. */
    request_fails("/a::ro", "mount '/a::ro': container path is empty");
    request_fails("/a:", "mount '/a:': container path is empty");
    request_fails("/a:/etc", "mount '/a:/etc': container path '/etc' must be relative");
    request_fails("/a:..", "mount '/a:..': container path '..' has a '..' component");
    request_fails("/a:x/../../y", "mount '/a:x/../../y': container path 'x/../../y' has a '..' "
                                  "component");
    request_fails("/a:x/..", "mount '/a:x/..': container path 'x/..' has a '..' component");
    request_fails("/a:.", "mount '/a:.': container path '.' has a '.' component");
    request_fails("/a:x//y", "mount '/a:x//y': container path 'x//y' has an empty component");
    request_fails("/a:x/", "mount '/a:x/': container path 'x/' has an empty component");
    request_fails("/a:x,ro=false", "mount '/a:x,ro=false': container path 'x,ro=false' contains "
                                   "','");
    request_fails("/a:x\"y", "mount '/a:x\"y': container path 'x\"y' contains '\"'");
    request_fails("/a:x\ny", "mount '/a:x\ny': container path 'x\ny' contains a control "
                             "character");
    request_fails("/a,b", "mount '/a,b': container path 'a,b' contains ','");
    char long_name[300];
    memset(long_name, 'n', sizeof(long_name));
    long_name[256] = '\0';
    _cleanup_free_ char *spec = xasprintf("/a:%s", long_name);
    _cleanup_free_ char *want =
        xasprintf("mount '%s': container path '%s' is longer than 255 bytes", spec, long_name);
    request_fails(spec, want);
    long_name[255] = '\0';
    _cleanup_free_ char *spec255 = xasprintf("/a:%s", long_name);
    request_ok(spec255, "/a", long_name, false);
}

static void test_container_path_check(void **state)
{
    (void)state;
    assert_int_equal(mount_container_path_check("a/b/c", NULL), 0);
    assert_int_equal(mount_container_path_check("a..b/.c", NULL), 0);
    assert_int_equal(mount_container_path_check("", NULL), -EINVAL);
    assert_int_equal(mount_container_path_check("a:b", NULL), -EINVAL);
    assert_int_equal(mount_container_path_check("a\x7f", NULL), -EINVAL);
    assert_int_equal(mount_container_path_check("a\tb", NULL), -EINVAL);
    assert_int_equal(mount_container_path_check("./a", NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_parses),
        cmocka_unit_test(test_default_blocked_order),
        cmocka_unit_test(test_parse_roots),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_home_needed),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test(test_request_parse),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_container_path_check),
    };
    return cmocka_run_group_tests_name("mounts", tests, setup, teardown);
}
