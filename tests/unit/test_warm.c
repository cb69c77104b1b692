/* src/agent/warm.c: what a pooled container's process is checked against when a turn takes it
 * (the same pid and start time, alive, the same namespaces, the same mount table), on a
 * prepared /proc tree; and how the pool finds a group's folders without preparing them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/warm.h"
#include "util/fileutil.h"
#include "util/xalloc.h"

static char *base;

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/nanocell-warm-XXXXXX";
    base = xstrdup(mkdtemp(tmpl));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s'", base);
    assert_int_equal(system(rm), 0);
    free(base);
    return 0;
}

static void put(const char *rel, const char *text)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", base, rel);
    assert_int_equal(write_file_atomic(path, text, strlen(text), 0644, NULL), 0);
}

static void link_ns(const char *name, const char *target)
{
    _cleanup_free_ char *path = xasprintf("%s/proc/42/ns/%s", base, name);
    unlink(path);
    assert_int_equal(symlink(target, path), 0);
}

/* A process 42 with start time st and state s (the command has a ") " in it, as an agent may
 * name itself). */
static void make_proc(const char *s, const char *st)
{
    _cleanup_free_ char *ns = xasprintf("%s/proc/42/ns", base);
    assert_int_equal(mkdir_p(ns, 0755, NULL), 0);
    _cleanup_free_ char *stat = xasprintf(
        "42 (evil) (x) %s 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %s 1000 10\n", s, st);
    put("proc/42/stat", stat);
    const char *names[] = {"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(names); i++) {
        _cleanup_free_ char *t = xasprintf("%s:[40265318%zu]", names[i], i);
        link_ns(names[i], t);
    }
    put("proc/42/mountinfo", "100 99 0:50 / / ro,nosuid - overlay overlay ro\n"
                             "101 100 8:1 /g /workspace/group rw - ext4 /dev/sda1 rw\n");
}

static int check(const warm_identity *id, char **msg)
{
    _cleanup_free_ char *proc = xasprintf("%s/proc", base);
    nc_error *err = NULL;
    int r = warm_identity_check(id, 42, proc, &err);
    *msg = err ? xstrdup(err->msg) : NULL;
    nc_error_free(err);
    return r;
}

static void take(warm_identity *id)
{
    _cleanup_free_ char *proc = xasprintf("%s/proc", base);
    nc_error *err = NULL;
    assert_int_equal(warm_identity_take(42, proc, id, &err), 0);
    assert_null(err);
}

static void test_same_process_passes(void **state)
{
    (void)state;
    make_proc("S", "1848779");
    warm_identity id;
    take(&id);
    assert_int_equal(id.start_time, 1848779);
    assert_string_equal(id.ns[2], "mnt:[402653182]");
    char *msg = NULL;
    assert_int_equal(check(&id, &msg), 0);
    assert_null(msg);
    warm_identity_release(&id);
}

static void expect_stale(const warm_identity *id, const char *want)
{
    char *msg = NULL;
    assert_int_equal(check(id, &msg), -ESTALE);
    assert_non_null(msg);
    if (!strstr(msg, want))
        fail_msg("'%s' does not say '%s'", msg, want);
    free(msg);
}

static void test_changes_are_refused(void **state)
{
    (void)state;
    make_proc("S", "1848779");
    warm_identity id;
    take(&id);

    /* Something mounted into it since it was verified. */
    put("proc/42/mountinfo", "100 99 0:50 / / ro,nosuid - overlay overlay ro\n"
                             "101 100 8:1 /g /workspace/group rw - ext4 /dev/sda1 rw\n"
                             "102 100 8:1 /etc /workspace/etc rw - ext4 /dev/sda1 rw\n");
    expect_stale(&id, "mount table changed");
    make_proc("S", "1848779");
    assert_int_equal(check(&id, &(char *){NULL}), 0);

    /* Moved into another network namespace. */
    link_ns("net", "net:[4026531992]");
    expect_stale(&id, "net namespace changed");
    make_proc("S", "1848779");

    /* The pid now belongs to another process. */
    make_proc("S", "1848999");
    expect_stale(&id, "another process");

    /* It exited and is a zombie. */
    make_proc("Z", "1848779");
    expect_stale(&id, "has exited");

    /* It is gone. */
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s/proc/42'", base);
    assert_int_equal(system(rm), 0);
    expect_stale(&id, "is gone");
    warm_identity_release(&id);
}

static void test_find_folders(void **state)
{
    (void)state;
    workspace w;
    nc_error *err = NULL;
    assert_int_equal(warm_find_folders(base, "g", &w, &err), -ENOENT);
    nc_error_free(TAKE_PTR(err));
    const char *dirs[] = {"groups/g/workspace", "groups/g/ipc", "groups/g/state", "groups/g/logs",
                          "groups/global"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(dirs); i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", base, dirs[i]);
        assert_int_equal(mkdir_p(p, 0700, NULL), 0);
    }
    /* ipc/input holds a follow-up of a running turn: finding the folders leaves it there. */
    _cleanup_free_ char *input = xasprintf("%s/groups/g/ipc/input", base);
    assert_int_equal(mkdir_p(input, 0700, NULL), 0);
    put("groups/g/ipc/input/1-a.json", "{}");
    assert_int_equal(warm_find_folders(base, "g", &w, &err), 0);
    _cleanup_free_ char *want = xasprintf("%s/groups/g/ipc", base);
    assert_string_equal(w.ipc, want);
    assert_non_null(w.global);
    workspace_release(&w);
    _cleanup_free_ char *kept = xasprintf("%s/groups/g/ipc/input/1-a.json", base);
    assert_int_equal(access(kept, F_OK), 0);

    /* A folder that is a symlink is not the one a turn made. */
    _cleanup_free_ char *sdir = xasprintf("%s/groups/g/state", base);
    assert_int_equal(rmdir(sdir), 0);
    assert_int_equal(symlink("/etc", sdir), 0);
    assert_int_equal(warm_find_folders(base, "g", &w, &err), -ENOTDIR);
    assert_non_null(strstr(err->msg, "not a directory"));
    nc_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_process_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_folders, setup, teardown),
    };
    return cmocka_run_group_tests_name("warm", tests, NULL, NULL);
}
