/* The group workspace and the run log on the host: the layout and its owners, atomic IPC
 * writes, and the defences against an agent that swaps a directory it owns for a symlink (a
 * root-run nanocell must never write or chown through it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/runlog.h"
#include "agent/workspace.h"
#include "util/fileutil.h"
#include "util/json.h"
#include "util/xalloc.h"

static char *base;

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/nanocell-ws-XXXXXX";
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

/* lstat of dir followed by rel ("" for dir itself). */
static struct stat stat_of(const char *dir, const char *rel)
{
    _cleanup_free_ char *p = xasprintf("%s%s", dir, rel);
    struct stat st;
    if (lstat(p, &st) < 0)
        fail_msg("lstat '%s': %s", p, strerror(errno));
    return st;
}

/* Names in dir that are not "." or "..": how many, and the first. */
static int entries(const char *dir, char **first)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' || (de->d_name[1] && strcmp(de->d_name, "..") != 0)) {
            if (!n && first)
                *first = xstrdup(de->d_name);
            n++;
        }
    closedir(d);
    return n;
}

static void test_layout(void **state)
{
    (void)state;
    workspace w;
    nc_error *err = NULL;
    if (workspace_prepare(base, "g1", 1000, 1001, &w, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    struct stat root = stat_of(base, "/groups/g1");
    struct stat ws = stat_of(base, "/groups/g1/workspace");
    struct stat input = stat_of(base, "/groups/g1/ipc/input");
    struct stat sdir = stat_of(base, "/groups/g1/state");
    struct stat logs = stat_of(base, "/groups/g1/logs");
    assert_int_equal(root.st_mode & 07777, 0711);
    assert_int_equal(ws.st_mode & 07777, 0700);
    assert_int_equal(sdir.st_mode & 07777, 0700);
    assert_true(S_ISDIR(sdir.st_mode));
    assert_int_equal(logs.st_mode & 07777, 0700);
    _cleanup_free_ char *want_state = xasprintf("%s/groups/g1/state", base);
    assert_string_equal(w.state, want_state);
    if (geteuid() == 0) {
        /* The container user owns what is mounted; nanocell keeps the rest. */
        assert_int_equal(ws.st_uid, 1000);
        assert_int_equal(ws.st_gid, 1001);
        assert_int_equal(input.st_uid, 1000);
        assert_int_equal(sdir.st_uid, 1000);
        assert_int_equal(sdir.st_gid, 1001);
        assert_int_equal(root.st_uid, 0);
        assert_int_equal(logs.st_uid, 0);
    }
    workspace_release(&w);
    /* Idempotent, and a stale _close and unread follow-ups are cleared; other names stay. */
    _cleanup_free_ char *stale = xasprintf("%s/groups/g1/ipc/input/_close", base);
    _cleanup_free_ char *unread = xasprintf("%s/groups/g1/ipc/input/1-ab.json", base);
    _cleanup_free_ char *other = xasprintf("%s/groups/g1/ipc/input/notes.txt", base);
    assert_int_equal(write_file_atomic(stale, "", 0, 0644, NULL), 0);
    assert_int_equal(write_file_atomic(unread, "{}", 2, 0644, NULL), 0);
    assert_int_equal(write_file_atomic(other, "x", 1, 0644, NULL), 0);
    assert_int_equal(workspace_prepare(base, "g1", 1000, 1001, &w, &err), 0);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(unread, F_OK), -1);
    assert_int_equal(access(other, F_OK), 0);
    workspace_release(&w);
}

static void test_send(void **state)
{
    (void)state;
    workspace w;
    assert_int_equal(workspace_prepare(base, "g2", 1000, 1000, &w, NULL), 0);
    nc_error *err = NULL;
    assert_int_equal(workspace_send_input(&w, "follow \"up\"\n", &err), 0);
    _cleanup_free_ char *input = xasprintf("%s/input", w.ipc);
    char *name = NULL;
    assert_int_equal(entries(input, &name), 1); /* no temporary file left behind */
    size_t len = strlen(name);
    assert_true(len > 5 && strcmp(name + len - 5, ".json") == 0);
    _cleanup_free_ char *path = xasprintf("%s/%s", input, name);
    strbuf text = STRBUF_INIT;
    assert_int_equal(read_file(path, 4096, &text, NULL), 0);
    assert_string_equal(text.buf, "{\"type\":\"message\",\"text\":\"follow \\\"up\\\"\\n\"}");
    strbuf_release(&text);
    free(name);
    assert_int_equal(workspace_send_close(&w, &err), 0);
    _cleanup_free_ char *close = xasprintf("%s/_close", input);
    assert_int_equal(access(close, F_OK), 0);
    workspace_release(&w);
}

/* The agent owns ipc/: it can swap input/ for a symlink to anywhere on the host. */
static void test_symlinked_input_is_refused(void **state)
{
    (void)state;
    workspace w;
    assert_int_equal(workspace_prepare(base, "g3", 1000, 1000, &w, NULL), 0);
    _cleanup_free_ char *target = xasprintf("%s/outside", base);
    assert_int_equal(mkdir(target, 0755), 0);
    _cleanup_free_ char *input = xasprintf("%s/input", w.ipc);
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s'", input);
    assert_int_equal(system(rm), 0);
    assert_int_equal(symlink(target, input), 0);
    nc_error *err = NULL;
    assert_int_equal(workspace_send_close(&w, &err), -EPERM);
    assert_non_null(strstr(err->msg, "a symlink"));
    nc_error_free(err);
    err = NULL;
    assert_int_equal(workspace_send_input(&w, "x", &err), -EPERM);
    nc_error_free(err);
    assert_int_equal(entries(target, NULL), 0); /* nothing was written through the link */
    workspace_release(&w);
    /* The next prepare refuses the layout rather than chown through the link. */
    err = NULL;
    assert_int_equal(workspace_prepare(base, "g3", 1000, 1000, &w, &err), -EPERM);
    assert_non_null(strstr(err->msg, "ipc/input' is not a directory but a symlink"));
    nc_error_free(err);
    struct stat st = stat_of(target, "");
    assert_int_equal(st.st_uid, geteuid()); /* not given to the container user */
}

/* workspace/ itself sits in nanocell's own dir, but a planted link there is refused too. */
static void test_symlinked_workspace_is_refused(void **state)
{
    (void)state;
    _cleanup_free_ char *g = xasprintf("%s/groups/g4", base);
    assert_int_equal(mkdir_p(g, 0711, NULL), 0);
    _cleanup_free_ char *link = xasprintf("%s/workspace", g);
    assert_int_equal(symlink("/etc", link), 0);
    workspace w;
    nc_error *err = NULL;
    assert_int_equal(workspace_prepare(base, "g4", 1000, 1000, &w, &err), -EPERM);
    nc_error_free(err);
    struct stat st;
    assert_int_equal(stat("/etc", &st), 0);
    assert_int_equal(st.st_uid, 0);
}

/* The state dir is the agent's too: a link planted in its place is refused, never chowned. */
static void test_symlinked_state_is_refused(void **state)
{
    (void)state;
    workspace w;
    assert_int_equal(workspace_prepare(base, "g6", 1000, 1000, &w, NULL), 0);
    _cleanup_free_ char *target = xasprintf("%s/outside-state", base);
    assert_int_equal(mkdir(target, 0755), 0);
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s'", w.state);
    assert_int_equal(system(rm), 0);
    assert_int_equal(symlink(target, w.state), 0);
    workspace_release(&w);
    nc_error *err = NULL;
    assert_int_equal(workspace_prepare(base, "g6", 1000, 1000, &w, &err), -EPERM);
    assert_non_null(strstr(err->msg, "state' is not a directory but a symlink"));
    nc_error_free(err);
    struct stat st = stat_of(target, "");
    assert_int_equal(st.st_uid, geteuid());
    assert_int_equal(st.st_mode & 07777, 0755);
}

/* Global memory: readable by every group (0755), owned by the main group's container user
 * only once a main group's turn prepared it. */
static void test_global(void **state)
{
    (void)state;
    workspace w = {0};
    nc_error *err = NULL;
    if (workspace_prepare_global(&w, base, 1000, 1001, false, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    _cleanup_free_ char *want = xasprintf("%s/groups/global", base);
    assert_string_equal(w.global, want);
    struct stat st = stat_of(base, "/groups/global");
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(st.st_uid, geteuid()); /* a non-main turn gives it to no one */
    /* Idempotent; the main group's turn takes it. */
    assert_int_equal(workspace_prepare_global(&w, base, 1000, 1001, true, &err), 0);
    assert_string_equal(w.global, want);
    st = stat_of(base, "/groups/global");
    assert_int_equal(st.st_mode & 07777, 0755);
    if (geteuid() == 0) {
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(st.st_gid, 1001);
    }
    workspace_release(&w);
    assert_null(w.global);
}

/* global/ sits in nanocell's groups/ dir, but a link planted there is refused, not chowned. */
static void test_symlinked_global_is_refused(void **state)
{
    (void)state;
    _cleanup_free_ char *data = xasprintf("%s/other-data", base);
    _cleanup_free_ char *groups = xasprintf("%s/groups", data);
    assert_int_equal(mkdir_p(groups, 0711, NULL), 0);
    _cleanup_free_ char *target = xasprintf("%s/outside-global", base);
    assert_int_equal(mkdir(target, 0700), 0);
    _cleanup_free_ char *link = xasprintf("%s/global", groups);
    assert_int_equal(symlink(target, link), 0);
    workspace w = {0};
    nc_error *err = NULL;
    assert_int_equal(workspace_prepare_global(&w, data, 1000, 1000, true, &err), -EPERM);
    assert_non_null(strstr(err->msg, "a symlink"));
    nc_error_free(err);
    assert_null(w.global);
    struct stat st = stat_of(target, "");
    assert_int_equal(st.st_uid, geteuid());
    assert_int_equal(st.st_mode & 07777, 0700);
}

static void test_runlog(void **state)
{
    (void)state;
    workspace w;
    assert_int_equal(workspace_prepare(base, "g5", 1000, 1000, &w, NULL), 0);
    turn_record r = {.started_ms = 1795000000123ull,
                     .duration_ms = 42,
                     .group = "g5",
                     .run_id = "r1",
                     .prompt_bytes = 99,
                     .exit_code = 3,
                     .oom_killed = true,
                     .outcome = "exit status 3",
                     .verification = "ok a\nwaived b: why\n",
                     .phases = "create=1"};
    char *path = NULL;
    nc_error *err = NULL;
    if (runlog_write(w.logs, &r, &path, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    struct stat st = stat_of(path, "");
    assert_int_equal(st.st_mode & 07777, 0600);
    strbuf text = STRBUF_INIT;
    assert_int_equal(read_file(path, 65536, &text, NULL), 0);
    const char *const want[] = {"time: 2026-11-18T",     "group: g5\n",
                                "prompt_bytes: 99\n",    "exit_code: 3\n",
                                "oom_killed: yes\n",     "outcome: exit status 3\n",
                                "phases_ms: create=1\n", "  waived b: why\n"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(want); i++)
        if (!strstr(text.buf, want[i]))
            fail_msg("run log lacks '%s':\n%s", want[i], text.buf);
    strbuf_release(&text);
    /* The same run again gets a file of its own (O_EXCL): a log is never overwritten, and
     * never skipped. */
    char *again = NULL;
    if (runlog_write(w.logs, &r, &again, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    assert_string_not_equal(again, path);
    struct stat st2 = stat_of(again, "");
    assert_true(st2.st_ino != st.st_ino);
    free(again);
    free(path);
    workspace_release(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_send),
        cmocka_unit_test(test_symlinked_input_is_refused),
        cmocka_unit_test(test_symlinked_workspace_is_refused),
        cmocka_unit_test(test_symlinked_state_is_refused),
        cmocka_unit_test(test_global),
        cmocka_unit_test(test_symlinked_global_is_refused),
        cmocka_unit_test(test_runlog),
    };
    return cmocka_run_group_tests_name("workspace", tests, setup, teardown);
}
