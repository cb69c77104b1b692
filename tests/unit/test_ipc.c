/* IPC: files an agent writes into its group's ipc/ (src/orch/ipc_file.c, ipc.c) and the rule
 * table (ipc_auth.c). The agent owns those directories and may put anything there: every
 * malicious file must be refused without the host reading through it, blocking on it, or
 * acting on it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "orch/ipc.h"
#include "orch/ipc_auth.h"
#include "orch/ipc_file.h"
#include "util/fileutil.h"
#include "util/strv.h"
#include "util/xalloc.h"

static char *base;   /* the temporary directory */
static char *groups; /* base/groups */
static char *msgdir; /* groups/g/ipc/messages */
static char *taskdir;
static char *errdir;

static void mkdirs(const char *p)
{
    _cleanup_error_ nc_error *err = NULL;
    if (mkdir_p(p, 0700, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
}

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/nanocell-ipc-XXXXXX";
    base = xstrdup(mkdtemp(tmpl));
    groups = xasprintf("%s/groups", base);
    msgdir = xasprintf("%s/g/ipc/messages", groups);
    taskdir = xasprintf("%s/g/ipc/tasks", groups);
    errdir = xasprintf("%s/g/ipc/errors", groups);
    mkdirs(msgdir);
    mkdirs(taskdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ipc_file_test_hook(NULL, NULL);
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s'", base);
    assert_int_equal(system(rm), 0);
    free(base);
    free(groups);
    free(msgdir);
    free(taskdir);
    free(errdir);
    return 0;
}

static void write_at(const char *dir, const char *name, const char *text)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static bool exists_at(const char *dir, const char *name)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
    struct stat st;
    return lstat(p, &st) == 0;
}

static int open_dir(const char *p)
{
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

/* ipc_file_read of msgdir/name as uid geteuid(), 64 KiB at most: the errno, the message. */
static int read_one(const char *name, char **msg, strbuf *out)
{
    _cleanup_close_ int fd = open_dir(msgdir);
    _cleanup_error_ nc_error *err = NULL;
    _cleanup_strbuf_ strbuf local = STRBUF_INIT;
    int r = ipc_file_read(fd, name, geteuid(), 65536, out ? out : &local, &err);
    *msg = r < 0 ? xstrdup(nc_error_msg(err)) : NULL;
    return r;
}

#define REFUSED(name, code, substr)                                                                \
    do {                                                                                           \
        char *m_ = NULL;                                                                           \
        int r_ = read_one(name, &m_, NULL);                                                        \
        if (r_ != -(code) || !m_ || !strstr(m_, substr))                                           \
            fail_msg("%s: got %d '%s', want %d '%s'", name, r_, m_ ? m_ : "", -(code), substr);    \
        free(m_);                                                                                  \
    } while (0)

/* ---- names ---- */

static void test_names(void **state)
{
    (void)state;
    assert_true(ipc_file_name_ok("1700000000000-abc123.json"));
    assert_false(ipc_file_name_ok(".json"));
    assert_false(ipc_file_name_ok(".hidden.json"));
    assert_false(ipc_file_name_ok("x.json.tmp"));
    assert_false(ipc_file_name_ok("x.json.tmp.12.ab"));
    assert_false(ipc_file_name_ok("_close"));
    assert_false(ipc_file_name_ok("../x.json"));
    assert_false(ipc_file_name_ok("../../etc/x.json"));
    assert_false(ipc_file_name_ok("a/b.json"));
    char longname[300];
    memset(longname, 'a', sizeof(longname));
    memcpy(longname + sizeof(longname) - 6, ".json", 6);
    assert_false(ipc_file_name_ok(longname));
}

/* ---- malicious files ---- */

static void test_regular_file_is_read(void **state)
{
    (void)state;
    write_at(msgdir, "ok.json", "{\"type\":\"message\"}");
    char *m = NULL;
    strbuf b = STRBUF_INIT;
    assert_int_equal(read_one("ok.json", &m, &b), 0);
    assert_string_equal(b.buf, "{\"type\":\"message\"}");
    strbuf_release(&b);
}

static void test_symlink_to_shadow(void **state)
{
    (void)state;
    _cleanup_free_ char *p = xasprintf("%s/shadow.json", msgdir);
    assert_int_equal(symlink("/etc/shadow", p), 0);
    REFUSED("shadow.json", EPERM, "symbolic link");
    /* A symlink to a file the agent owns is refused just the same. */
    write_at(msgdir, "real.txt", "{\"type\":\"message\"}");
    _cleanup_free_ char *q = xasprintf("%s/rel.json", msgdir);
    assert_int_equal(symlink("real.txt", q), 0);
    REFUSED("rel.json", EPERM, "symbolic link");
}

static void test_fifo_never_blocks(void **state)
{
    (void)state;
    _cleanup_free_ char *p = xasprintf("%s/fifo.json", msgdir);
    assert_int_equal(mkfifo(p, 0600), 0);
    /* No writer ever opens it: a blocking open would hang the test here. */
    REFUSED("fifo.json", EPERM, "FIFO");
}

static void test_device(void **state)
{
    (void)state;
    _cleanup_free_ char *p = xasprintf("%s/null.json", msgdir);
    if (mknod(p, S_IFCHR | 0600, makedev(1, 3)) < 0)
        skip(); /* not root, or no CAP_MKNOD */
    REFUSED("null.json", EPERM, "a device");
}

static void test_100mb_file(void **state)
{
    (void)state;
    _cleanup_free_ char *p = xasprintf("%s/big.json", msgdir);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 100 * 1024 * 1024), 0); /* sparse: no disk used */
    close(fd);
    REFUSED("big.json", EFBIG, "larger than 65536 bytes");
}

static void test_hard_link(void **state)
{
    (void)state;
    /* A link to a host file the agent could name (here one next to the directory). */
    _cleanup_free_ char *outside = xasprintf("%s/secret", base);
    write_at(base, "secret", "{\"type\":\"message\",\"chatJid\":\"x\",\"text\":\"secret\"}");
    _cleanup_free_ char *p = xasprintf("%s/link.json", msgdir);
    assert_int_equal(link(outside, p), 0);
    REFUSED("link.json", EPERM, "hard link");
}

static void test_other_owner(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    write_at(msgdir, "root.json", "{}");
    _cleanup_free_ char *p = xasprintf("%s/root.json", msgdir);
    assert_int_equal(chown(p, 4321, 4321), 0);
    REFUSED("root.json", EPERM, "owned by uid 4321");
}

static void test_dotdot_name(void **state)
{
    (void)state;
    /* "../x.json" from messages/ would be ipc/x.json: never opened. */
    write_at(msgdir, "../x.json", "{\"type\":\"message\",\"chatJid\":\"x\",\"text\":\"t\"}");
    REFUSED("../x.json", EINVAL, "not a name IPC reads");
    REFUSED("../../../../../../etc/passwd.json", EINVAL, "not a name IPC reads");
}

/* Between the lstat and the open, the file is swapped: for a FIFO, or for another file. */
static void swap_fifo(int dirfd, const char *name, void *ud)
{
    (void)ud;
    assert_int_equal(unlinkat(dirfd, name, 0), 0);
    assert_int_equal(mkfifoat(dirfd, name, 0600), 0);
}

static void swap_file(int dirfd, const char *name, void *ud)
{
    (void)ud;
    int fd = openat(dirfd, "other.tmp", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{}", 2), 2);
    close(fd);
    assert_int_equal(renameat(dirfd, "other.tmp", dirfd, name), 0);
}

static void swap_symlink(int dirfd, const char *name, void *ud)
{
    (void)ud;
    assert_int_equal(unlinkat(dirfd, name, 0), 0);
    assert_int_equal(symlinkat("/etc/shadow", dirfd, name), 0);
}

static void test_replaced_between_stat_and_open(void **state)
{
    (void)state;
    write_at(msgdir, "race1.json", "{}");
    ipc_file_test_hook(swap_fifo, NULL);
    /* The FIFO may even get the old file's inode number back: refused as a FIFO then. */
    char *m = NULL;
    assert_int_equal(read_one("race1.json", &m, NULL), -EPERM);
    assert_true(strstr(m, "replaced") || strstr(m, "is a FIFO"));
    free(m);
    write_at(msgdir, "race2.json", "{}");
    ipc_file_test_hook(swap_file, NULL);
    REFUSED("race2.json", EPERM, "replaced");
    write_at(msgdir, "race3.json", "{}");
    ipc_file_test_hook(swap_symlink, NULL);
    REFUSED("race3.json", EPERM, "symbolic link");
    ipc_file_test_hook(NULL, NULL);
}

/* ---- parsing ---- */

#define PARSE_OK(text, tasks, q)                                                                   \
    do {                                                                                           \
        _cleanup_error_ nc_error *e_ = NULL;                                                       \
        if (ipc_parse(text, strlen(text), tasks, q, &e_) < 0)                                      \
            fail_msg("%s: %s", text, nc_error_msg(e_));                                            \
    } while (0)

#define PARSE_BAD(text, tasks, substr)                                                             \
    do {                                                                                           \
        _cleanup_error_ nc_error *e_ = NULL;                                                       \
        ipc_request q_;                                                                            \
        if (ipc_parse(text, strlen(text), tasks, &q_, &e_) != -EINVAL ||                           \
            !strstr(nc_error_msg(e_), substr))                                                     \
            fail_msg("%s: want '%s', got '%s'", text, substr, e_ ? nc_error_msg(e_) : "success");  \
    } while (0)

static void test_parse(void **state)
{
    (void)state;
    ipc_request q;
    PARSE_OK("{\"type\":\"message\",\"chatJid\":\"local:g\",\"text\":\"hi\",\"groupFolder\":"
             "\"main\",\"timestamp\":\"2026-01-01T00:00:00.000Z\"}",
             false, &q);
    assert_int_equal(q.type, IPC_MESSAGE);
    assert_string_equal(q.chat_jid, "local:g");
    assert_string_equal(q.text, "hi");
    ipc_request_release(&q);
    PARSE_OK("{\"type\":\"schedule_task\",\"prompt\":\"p\",\"schedule_type\":\"interval\","
             "\"schedule_value\":60000,\"context_mode\":\"group\",\"targetJid\":\"local:g\","
             "\"taskId\":\"t1\"}",
             true, &q);
    assert_int_equal(q.type, IPC_SCHEDULE_TASK);
    assert_string_equal(q.schedule_value, "60000");
    assert_string_equal(q.context_mode, "group");
    assert_string_equal(q.task_id, "t1");
    ipc_request_release(&q);
    const char *const ops[] = {"pause_task", "resume_task", "cancel_task"};
    for (size_t i = 0; i < 3; i++) {
        _cleanup_free_ char *t =
            xasprintf("{\"type\":\"%s\",\"taskId\":\"t1\",\"isMain\":true}", ops[i]);
        PARSE_OK(t, true, &q);
        assert_int_equal(q.type, IPC_PAUSE_TASK + (int)i);
        ipc_request_release(&q);
    }
    PARSE_OK("{\"type\":\"update_task\",\"taskId\":\"t1\",\"prompt\":\"new\"}", true, &q);
    assert_int_equal(q.type, IPC_UPDATE_TASK);
    ipc_request_release(&q);
    PARSE_OK("{\"type\":\"refresh_groups\"}", true, &q);
    assert_int_equal(q.type, IPC_REFRESH_GROUPS);
    ipc_request_release(&q);
    PARSE_OK("{\"type\":\"register_group\",\"jid\":\"local:new\",\"name\":\"New\",\"folder\":"
             "\"new\",\"trigger\":\"@Andy\",\"requiresTrigger\":true,\"containerConfig\":"
             "{\"timeout\":5}}",
             true, &q);
    assert_int_equal(q.type, IPC_REGISTER_GROUP);
    assert_true(q.requires_trigger);
    assert_false(q.sets_is_main);
    assert_string_equal(q.container_config, "{\"timeout\":5}");
    ipc_request_release(&q);
    PARSE_OK("{\"type\":\"register_group\",\"jid\":\"j\",\"name\":\"n\",\"folder\":\"f\","
             "\"trigger\":\"t\",\"isMain\":true}",
             true, &q);
    assert_true(q.sets_is_main);
    ipc_request_release(&q);

    PARSE_BAD("{\"type\":\"message\",", false, "bad JSON");
    PARSE_BAD("[1,2]", false, "not a JSON object");
    PARSE_BAD("{\"text\":\"x\"}", false, "field 'type' is missing");
    PARSE_BAD("{\"type\":\"rm_rf\"}", true, "unknown type 'rm_rf'");
    PARSE_BAD("{\"type\":\"message\",\"chatJid\":\"j\",\"text\":\"t\"}", true,
              "does not belong in ipc/tasks");
    PARSE_BAD("{\"type\":\"schedule_task\"}", false, "does not belong in ipc/messages");
    PARSE_BAD("{\"type\":\"message\",\"chatJid\":\"j\"}", false, "field 'text' is missing");
    PARSE_BAD("{\"type\":\"message\",\"chatJid\":7,\"text\":\"t\"}", false,
              "field 'chatJid' is not a string");
    PARSE_BAD("{\"type\":\"schedule_task\",\"prompt\":\"p\",\"schedule_type\":\"cron\"}", true,
              "field 'schedule_value' is missing");
    PARSE_BAD("{\"type\":\"pause_task\"}", true, "field 'taskId' is missing");
    PARSE_BAD("{\"type\":\"update_task\",\"taskId\":\"t\",\"schedule_type\":\"cron\"}", true,
              "go together");
    PARSE_BAD("{\"type\":\"register_group\",\"jid\":\"j\",\"name\":\"n\",\"folder\":\"f\"}", true,
              "field 'trigger' is missing");
}

/* ---- the rule table, each rule allowed and denied ---- */

static const char *auth(ipc_type type, const char *source, bool main, const char *target)
{
    ipc_request q = {.type = type, .folder = (char *)"newgroup"};
    ipc_subject s = {.source = source, .source_main = main, .target = target};
    return ipc_authorize(&q, &s);
}

static void test_rules(void **state)
{
    (void)state;
    /* message: non-main only to its own chat; main to any, even one no group maps. */
    assert_null(auth(IPC_MESSAGE, "a", false, "a"));
    assert_string_equal(auth(IPC_MESSAGE, "a", false, "b"), "the chat belongs to another group");
    assert_string_equal(auth(IPC_MESSAGE, "a", false, NULL), "the chat is not the group's");
    assert_null(auth(IPC_MESSAGE, "main", true, "b"));
    assert_null(auth(IPC_MESSAGE, "main", true, NULL));
    /* schedule_task: non-main only for itself; main for any registered group. */
    assert_null(auth(IPC_SCHEDULE_TASK, "a", false, "a"));
    assert_string_equal(auth(IPC_SCHEDULE_TASK, "a", false, "b"),
                        "only the main group schedules tasks for another group");
    assert_null(auth(IPC_SCHEDULE_TASK, "main", true, "b"));
    assert_string_equal(auth(IPC_SCHEDULE_TASK, "main", true, NULL),
                        "the target chat is not a registered group's");
    /* task operations: own tasks only, main any; an unknown task is refused. */
    for (ipc_type t = IPC_PAUSE_TASK; t <= IPC_UPDATE_TASK; t++) {
        assert_null(auth(t, "a", false, "a"));
        assert_string_equal(auth(t, "a", false, "b"), "the task belongs to another group");
        assert_null(auth(t, "main", true, "b"));
        assert_string_equal(auth(t, "a", false, NULL), "no such task");
        assert_string_equal(auth(t, "main", true, NULL), "no such task");
    }
    /* refresh_groups and register_group: main only. */
    assert_null(auth(IPC_REFRESH_GROUPS, "main", true, NULL));
    assert_string_equal(auth(IPC_REFRESH_GROUPS, "a", false, NULL),
                        "only the main group refreshes groups");
    assert_null(auth(IPC_REGISTER_GROUP, "main", true, NULL));
    assert_string_equal(auth(IPC_REGISTER_GROUP, "a", false, NULL),
                        "only the main group registers groups");
    /* Nobody sets is_main through IPC, main included; a bad folder is refused. */
    ipc_request q = {.type = IPC_REGISTER_GROUP, .folder = (char *)"x", .sets_is_main = true};
    ipc_subject s = {.source = "main", .source_main = true};
    assert_string_equal(ipc_authorize(&q, &s), "is_main cannot be set through IPC");
    q = (ipc_request){.type = IPC_REGISTER_GROUP, .folder = (char *)"../etc"};
    assert_string_equal(ipc_authorize(&q, &s), "the folder is not a valid group name");
    q.folder = (char *)"global";
    assert_string_equal(ipc_authorize(&q, &s), "the folder is not a valid group name");
}

/* ---- the watcher ---- */

struct seen {
    char **texts; /* what each message said */
    size_t n;
    const char *deny; /* the reason on_request gives, or NULL */
    int later;        /* calls of the later callback */
};

static void on_later(void *ud)
{
    ((struct seen *)ud)->later++;
}

static int on_request(void *ud, const char *group, const ipc_request *q, const char **denied,
                      nc_error **err)
{
    struct seen *s = ud;
    (void)err;
    assert_string_equal(group, "g");
    strv_push(&s->texts, q->type == IPC_MESSAGE ? q->text : ipc_type_name(q->type));
    s->n++;
    *denied = s->deny;
    return 0;
}

static int list_groups(void *ud, char ***folders, nc_error **err)
{
    (void)ud;
    (void)err;
    strv_push(folders, "g");
    return 0;
}

static ipc_watcher *watcher(struct seen *s, unsigned per_minute)
{
    ipc_callbacks cb = {
        .on_request = on_request, .groups = list_groups, .later = on_later, .ud = s};
    ipc_limits lim = {.max_file = 65536, .max_per_minute = per_minute};
    ipc_watcher *w = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (ipc_watcher_new(groups, &lim, &cb, &w, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    return w;
}

static const char *msg_json(const char *text)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "{\"type\":\"message\",\"chatJid\":\"local:g\",\"text\":\"%s\"}",
             text);
    return buf;
}

static size_t count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_watcher_scan_and_events(void **state)
{
    (void)state;
    struct seen s = {0};
    /* Before the watcher: found by the scan, in name order. */
    write_at(msgdir, "2.json", msg_json("second"));
    write_at(msgdir, "1.json", msg_json("first"));
    write_at(msgdir, "x.json.tmp", msg_json("partial"));
    ipc_watcher *w = watcher(&s, 100);
    ipc_watcher_dispatch(w);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.texts[0], "first");
    assert_string_equal(s.texts[1], "second");
    assert_false(exists_at(msgdir, "1.json"));
    assert_true(exists_at(msgdir, "x.json.tmp")); /* a writer's temporary file is left alone */
    /* Written after: an event, at once. A rename in (the atomic writers' way) as well. */
    write_at(msgdir, "3.json", msg_json("third"));
    _cleanup_free_ char *from = xasprintf("%s/x.json.tmp", msgdir);
    _cleanup_free_ char *to = xasprintf("%s/4.json", msgdir);
    assert_int_equal(rename(from, to), 0);
    write_at(taskdir, "5.json", "{\"type\":\"refresh_groups\"}");
    ipc_watcher_dispatch(w);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.texts[2], "third");
    assert_string_equal(s.texts[3], "partial");
    assert_string_equal(s.texts[4], "refresh_groups");
    assert_int_equal(count_dir(msgdir), 0);
    /* Bad files go to errors/, with the directory in their name. */
    write_at(msgdir, "bad.json", "{nope");
    write_at(msgdir, "task.json", "{\"type\":\"pause_task\",\"taskId\":\"x\"}");
    write_at(taskdir, "unknown.json", "{\"type\":\"format_disk\"}");
    _cleanup_free_ char *sl = xasprintf("%s/shadow.json", msgdir);
    assert_int_equal(symlink("/etc/shadow", sl), 0);
    _cleanup_free_ char *ff = xasprintf("%s/fifo.json", msgdir);
    assert_int_equal(mkfifo(ff, 0600), 0);
    ipc_watcher_dispatch(w);
    assert_int_equal(s.n, 5);
    assert_true(exists_at(errdir, "messages-bad.json"));
    assert_true(exists_at(errdir, "messages-task.json"));
    assert_true(exists_at(errdir, "tasks-unknown.json"));
    assert_true(exists_at(errdir, "messages-shadow.json"));
    assert_true(exists_at(errdir, "messages-fifo.json"));
    assert_int_equal(count_dir(msgdir), 0);
    ipc_counts c;
    ipc_watcher_counts(w, &c);
    assert_int_equal(c.done, 5);
    assert_int_equal(c.errors, 5);
    /* A denial deletes the file, and is counted by group and type. */
    s.deny = "the chat belongs to another group";
    write_at(msgdir, "6.json", msg_json("to b"));
    ipc_watcher_dispatch(w);
    ipc_watcher_counts(w, &c);
    assert_int_equal(c.denied, 1);
    assert_false(exists_at(msgdir, "6.json"));
    strbuf m = STRBUF_INIT;
    ipc_watcher_metrics(w, &m);
    assert_non_null(strstr(m.buf, "nanocell_ipc_denied_total{group=\"g\",type=\"message\"} 1"));
    assert_non_null(strstr(m.buf, "nanocell_ipc_files_total{outcome=\"error\"} 5"));
    strbuf_release(&m);
    ipc_watcher_free(w);
    strv_free(s.texts);
}

/* The agent swaps messages/ for a symlink to a directory elsewhere: the watcher never follows
 * it, and nothing there is read or moved. */
static void test_watcher_symlinked_dir(void **state)
{
    (void)state;
    struct seen s = {0};
    ipc_watcher *w = watcher(&s, 100);
    ipc_watcher_dispatch(w);
    _cleanup_free_ char *outside = xasprintf("%s/outside", base);
    mkdirs(outside);
    write_at(outside, "1.json", msg_json("from outside"));
    _cleanup_free_ char *moved = xasprintf("%s/g/ipc/old", groups);
    assert_int_equal(rename(msgdir, moved), 0);
    assert_int_equal(symlink(outside, msgdir), 0);
    ipc_watcher_dispatch(w);
    write_at(msgdir, "2.json", msg_json("through the link"));
    ipc_watcher_dispatch(w);
    assert_int_equal(s.n, 0);
    assert_true(exists_at(outside, "1.json"));
    assert_true(exists_at(outside, "2.json"));
    /* A real directory put back is watched again, and scanned. */
    assert_int_equal(unlink(msgdir), 0);
    assert_int_equal(rename(moved, msgdir), 0);
    write_at(msgdir, "3.json", msg_json("back"));
    ipc_watcher_dispatch(w);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.texts[0], "back");
    ipc_watcher_free(w);
    strv_free(s.texts);
}

/* 10,000 files at once: the rate limit lets 120 through, the rest go to errors/, none stays,
 * and an overflowing inotify queue costs nothing (a rescan). */
static void test_watcher_flood(void **state)
{
    (void)state;
    struct seen s = {0};
    ipc_watcher *w = watcher(&s, 120);
    ipc_watcher_dispatch(w);
    char name[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "%05d.json", i);
        write_at(msgdir, name, msg_json("flood"));
    }
    ipc_watcher_dispatch(w);
    ipc_counts c;
    ipc_watcher_counts(w, &c);
    assert_int_equal(s.n, 120);
    assert_int_equal(c.done, 120);
    assert_int_equal(c.limited, 10000 - 120);
    assert_int_equal(count_dir(msgdir), 0);
    assert_int_equal(count_dir(errdir), 10000 - 120);
    ipc_watcher_free(w);
    strv_free(s.texts);
}

/* The agent's user is the directory's owner (the container's uid, however the engine maps
 * it): its files are read, anyone else's are not. */
static void test_watcher_owner(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    assert_int_equal(chown(msgdir, 4321, 4321), 0);
    struct seen s = {0};
    ipc_watcher *w = watcher(&s, 100);
    ipc_watcher_dispatch(w);
    write_at(msgdir, "agent.tmp", msg_json("from the agent"));
    _cleanup_free_ char *tmp = xasprintf("%s/agent.tmp", msgdir);
    _cleanup_free_ char *dst = xasprintf("%s/agent.json", msgdir);
    assert_int_equal(chown(tmp, 4321, 4321), 0);
    assert_int_equal(rename(tmp, dst), 0);
    write_at(msgdir, "host.json", msg_json("from someone else"));
    ipc_watcher_dispatch(w);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.texts[0], "from the agent");
    assert_true(exists_at(errdir, "messages-host.json"));
    ipc_watcher_free(w);
    strv_free(s.texts);
}

/* On its own thread: a file is handled without the caller doing anything. */
static void test_watcher_thread(void **state)
{
    (void)state;
    struct seen s = {0};
    ipc_watcher *w = watcher(&s, 100);
    _cleanup_error_ nc_error *err = NULL;
    assert_int_equal(ipc_watcher_start(w, &err), 0);
    write_at(msgdir, "t.json", msg_json("threaded"));
    for (int i = 0; i < 500 && exists_at(msgdir, "t.json"); i++)
        usleep(10000);
    /* Work handed to the thread runs there; asked twice before it ran, at least once. */
    ipc_watcher_later(w);
    ipc_watcher_later(w);
    for (int i = 0; i < 500 && !__atomic_load_n(&s.later, __ATOMIC_SEQ_CST); i++)
        usleep(10000);
    ipc_watcher_free(w); /* joins the thread: s is read after */
    assert_false(exists_at(msgdir, "t.json"));
    assert_int_equal(s.n, 1);
    assert_true(s.later >= 1 && s.later <= 2);
    strv_free(s.texts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_regular_file_is_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_to_shadow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_never_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_100mb_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hard_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotdot_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced_between_stat_and_open, setup, teardown),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_rules),
        cmocka_unit_test_setup_teardown(test_watcher_scan_and_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watcher_symlinked_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watcher_flood, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watcher_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watcher_thread, setup, teardown),
    };
    return cmocka_run_group_tests_name("ipc", tests, NULL, NULL);
}
