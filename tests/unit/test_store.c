/* Unit tests for the store: the schema and its migrations, the refusals at open (a newer
 * schema, a corrupt, foreign or locked file, loose permissions) with the file left untouched,
 * every query's semantics, crash recovery after a process killed mid-turn, a full disk, and
 * threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "orch/store.h"
#include "util/sha256.h"
#include "util/xalloc.h"

/* ---- helpers ---- */

static void check_err(int r, nc_error *e, int code, const char *substr, const char *what)
{
    if (r != -code)
        fail_msg("%s: got %d (%s), want %d", what, r, e ? e->msg : "no error", -code);
    assert_non_null(e);
    assert_int_equal(e->code, code);
    if (substr && !strstr(e->msg, substr))
        fail_msg("%s: message '%s' lacks '%s'", what, e->msg, substr);
    nc_error_free(e);
}

/* call uses &e as its error argument. */
#define ERR(code, substr, call)                                                                    \
    do {                                                                                           \
        nc_error *e = NULL;                                                                        \
        int r_ = (call);                                                                           \
        check_err(r_, e, code, substr, #call);                                                     \
    } while (0)

#define OK(call)                                                                                   \
    do {                                                                                           \
        nc_error *e = NULL;                                                                        \
        int r_ = (call);                                                                           \
        if (r_ < 0)                                                                                \
            fail_msg("%s: %d %s", #call, r_, nc_error_msg(e));                                     \
        assert_null(e);                                                                            \
    } while (0)

typedef struct fx {
    char dir[64];
    char *path;
    store *s;
} fx;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    fx *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/nc-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->path = xasprintf("%s/%s", f->dir, STORE_FILE);
    *state = f;
    return 0;
}

static int setup_open(void **state)
{
    setup(state);
    fx *f = *state;
    OK(store_open(f->dir, &f->s, &e));
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    store_close(f->s);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f->path);
    free(f);
    return 0;
}

/* The hex SHA-256 of a file's bytes. */
static void file_hash(const char *path, char out[SHA256_HEX_SIZE])
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    sha256_ctx c;
    sha256_init(&c);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        sha256_update(&c, buf, n);
    fclose(fp);
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_final(&c, d);
    sha256_to_hex(d, out);
}

static bool exists(const char *path, const char *suffix)
{
    char *p = xasprintf("%s%s", path, suffix);
    bool r = access(p, F_OK) == 0;
    free(p);
    return r;
}

static mode_t file_mode(const char *path, const char *suffix)
{
    char *p = xasprintf("%s%s", path, suffix);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    free(p);
    return st.st_mode & 07777;
}

/* A query through a second, raw connection; returns the first column of the first row as an
 * integer (-1 for none). */
static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void write_bytes(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void add_group(store *s, const char *folder, bool is_main)
{
    store_group g = {.folder = (char *)folder, .is_main = is_main, .requires_trigger = true};
    OK(store_group_add(s, &g, &e));
}

static int64_t add_msg(store *s, const char *folder, const char *text)
{
    int64_t id = 0;
    char *jid = xasprintf("local:%s", folder);
    OK(store_message_add(s, folder, jid, "user", text, 1000, &id, &e));
    free(jid);
    assert_true(id > 0);
    return id;
}

static int64_t add_reply(store *s, const char *folder, const char *jid, int64_t batch,
                         const char *run, const char *text)
{
    int64_t id = 0;
    OK(store_reply_add(s, folder, jid, batch, run, text, 2000, &id, &e));
    assert_true(id > 0);
    return id;
}

/* The state of message id. Allocated. */
static char *state_of(store *s, int64_t id)
{
    store_message m = {0};
    OK(store_message_get(s, id, &m, &e));
    char *st = xstrdup(m.state);
    store_message_release(&m);
    return st;
}

#define assert_state(s, id, want)                                                                  \
    do {                                                                                           \
        char *st_ = state_of(s, id);                                                               \
        if (strcmp(st_, want) != 0)                                                                \
            fail_msg("message %lld is %s, want %s", (long long)(id), st_, want);                   \
        free(st_);                                                                                 \
    } while (0)

static size_t count_messages(store *s, const char *folder)
{
    store_message *v = NULL;
    size_t n = 0;
    OK(store_message_list(s, folder, 0, 0, &v, &n, &e));
    store_messages_free(v, n);
    return n;
}

/* ---- open, schema, refusals ---- */

static void test_migrate_new(void **state)
{
    fx *f = *state;
    OK(store_open(f->dir, &f->s, &e));
    assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
    assert_int_equal(file_mode(f->path, ""), 0600);
    add_group(f->s, "main", true);
    add_msg(f->s, "main", "hi");
    /* While the store is open, SQLite's companions exist with the database's mode. */
    assert_true(exists(f->path, "-wal"));
    assert_int_equal(file_mode(f->path, "-wal"), 0600);
    assert_int_equal(file_mode(f->path, "-shm"), 0600);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM schema_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(f->path, "SELECT max(version) FROM schema_version"),
                     STORE_SCHEMA_VERSION);
    assert_true(raw_int(f->path, "SELECT min(applied_ms) FROM schema_version") > 1600000000000LL);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM pragma_journal_mode WHERE "
                                      "journal_mode = 'wal'"),
                     1);
    /* The tables the migration made. */
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                      "AND name IN ('groups', 'chats', 'messages', 'sessions', "
                                      "'runs', 'outbox', 'schema_version')"),
                     7);
}

static void test_migrate_empty_file(void **state)
{
    fx *f = *state;
    write_bytes(f->path, "", 0, 0600);
    OK(store_open_path(f->path, &f->s, &e));
    assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
    add_group(f->s, "g", false);
}

static void test_reopen_is_noop(void **state)
{
    fx *f = *state;
    OK(store_open(f->dir, &f->s, &e));
    add_group(f->s, "g", false);
    store_close(f->s);
    f->s = NULL;
    char before[SHA256_HEX_SIZE], after[SHA256_HEX_SIZE];
    file_hash(f->path, before);
    OK(store_open(f->dir, &f->s, &e));
    assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
    store_close(f->s);
    f->s = NULL;
    file_hash(f->path, after);
    assert_string_equal(before, after);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM schema_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM groups"), 1);
}

/* The schema version after this build's, as text, for the messages below. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define THIS_VERSION STR(STORE_SCHEMA_VERSION)
#define NEWER_VERSION "4"
_Static_assert(STORE_SCHEMA_VERSION + 1 == 4, "NEWER_VERSION is STORE_SCHEMA_VERSION + 1");

static void test_newer_schema_refused(void **state)
{
    fx *f = *state;
    OK(store_open(f->dir, &f->s, &e));
    store_close(f->s);
    f->s = NULL;
    char *newer = xasprintf("INSERT INTO schema_version VALUES (%d, 1)", STORE_SCHEMA_VERSION + 1);
    raw_exec(f->path, newer);
    free(newer);
    assert_false(exists(f->path, "-wal"));
    char before[SHA256_HEX_SIZE], after[SHA256_HEX_SIZE];
    file_hash(f->path, before);
    ERR(EPROTONOSUPPORT,
        "has schema version " NEWER_VERSION ", newer than this nanocell's " THIS_VERSION,
        store_open(f->dir, &f->s, &e));
    assert_null(f->s);
    file_hash(f->path, after);
    assert_string_equal(before, after);
    assert_false(exists(f->path, "-wal"));
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM schema_version"),
                     STORE_SCHEMA_VERSION + 1);
}

/* A newer nanocell was killed with its last commit still in the -wal: the refused open must not
 * fold the -wal into the database when it closes. */
static void test_newer_schema_in_wal_refused(void **state)
{
    fx *f = *state;
    OK(store_open(f->dir, &f->s, &e));
    store_close(f->s);
    f->s = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *db = NULL;
        if (sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
            sqlite3_exec(db,
                         "PRAGMA wal_autocheckpoint = 0; INSERT INTO schema_version VALUES "
                         "(" NEWER_VERSION ", 1)",
                         NULL, NULL, NULL) != SQLITE_OK)
            _exit(2);
        raise(SIGKILL);
        _exit(3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char *wal = xasprintf("%s-wal", f->path);
    char before[SHA256_HEX_SIZE], after[SHA256_HEX_SIZE];
    char wal_before[SHA256_HEX_SIZE], wal_after[SHA256_HEX_SIZE];
    file_hash(f->path, before);
    file_hash(wal, wal_before);
    ERR(EPROTONOSUPPORT,
        "has schema version " NEWER_VERSION ", newer than this nanocell's " THIS_VERSION,
        store_open(f->dir, &f->s, &e));
    file_hash(f->path, after);
    file_hash(wal, wal_after);
    assert_string_equal(before, after);
    assert_string_equal(wal_before, wal_after);
    free(wal);
}

static void test_corrupt_refused(void **state)
{
    fx *f = *state;
    char junk[8192];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)((i * 7919u + 13u) >> 3);
    write_bytes(f->path, junk, sizeof(junk), 0600);
    char before[SHA256_HEX_SIZE], after[SHA256_HEX_SIZE];
    file_hash(f->path, before);
    ERR(EIO, "is corrupt or not a SQLite database", store_open(f->dir, &f->s, &e));
    file_hash(f->path, after);
    assert_string_equal(before, after);
    assert_false(exists(f->path, "-wal"));
    assert_false(exists(f->path, "-journal"));
}

static void test_foreign_database_refused(void **state)
{
    fx *f = *state;
    write_bytes(f->path, "", 0, 0600);
    raw_exec(f->path, "CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('mine')");
    char before[SHA256_HEX_SIZE], after[SHA256_HEX_SIZE];
    file_hash(f->path, before);
    ERR(EINVAL, "is not a nanocell database", store_open(f->dir, &f->s, &e));
    file_hash(f->path, after);
    assert_string_equal(before, after);
}

static void test_in_use_refused(void **state)
{
    fx *f = *state;
    /* Another process holds the store open. */
    int up[2], down[2];
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store *s = NULL;
        nc_error *e = NULL;
        char c = store_open(f->dir, &s, &e) < 0 ? 'n' : 'y';
        if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) < 0)
            _exit(2);
        store_close(s);
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(up[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    ERR(EBUSY, "is in use by another process", store_open(f->dir, &f->s, &e));
    assert_null(f->s);
    assert_int_equal(write(down[1], "x", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 2; i++) {
        close(up[i]);
        close(down[i]);
    }

    /* This process holds it open: refused before any descriptor is opened, so the first
     * store keeps its locks and works on. */
    OK(store_open(f->dir, &f->s, &e));
    store *second = NULL;
    ERR(EBUSY, "is open already in this process", store_open_path(f->path, &second, &e));
    assert_null(second);
    add_group(f->s, "g", false);
    add_msg(f->s, "g", "still works");
    store_close(f->s);
    f->s = NULL;
    OK(store_open(f->dir, &second, &e));
    assert_int_equal(count_messages(second, "g"), 1);
    store_close(second);
}

/* Another process's SQLite lock (here a second connection holding an exclusive lock): the open
 * waits for the busy timeout, then fails; the file is untouched. */
static void test_locked_refused(void **state)
{
    fx *f = *state;
    write_bytes(f->path, "", 0, 0600);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    ERR(EBUSY, "database is locked by another process", store_open(f->dir, &f->s, &e));
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_size, 0);
}

static void test_permissions(void **state)
{
    fx *f = *state;
    OK(store_open(f->dir, &f->s, &e));
    store_close(f->s);
    f->s = NULL;

    assert_int_equal(chmod(f->path, 0666), 0);
    ERR(EACCES, "run chmod 600", store_open(f->dir, &f->s, &e));
    assert_int_equal(chmod(f->path, 0620), 0);
    ERR(EACCES, "writable by group or others", store_open(f->dir, &f->s, &e));
    assert_int_equal(chmod(f->path, 0600), 0);

    assert_int_equal(chmod(f->dir, 0777), 0);
    ERR(EACCES, "run chmod go-w", store_open(f->dir, &f->s, &e));
    assert_int_equal(chmod(f->dir, 0700), 0);

    /* A companion file with loose permissions. */
    char *wal = xasprintf("%s-wal", f->path);
    write_bytes(wal, "", 0, 0646);
    ERR(EACCES, "-wal' is writable by group or others", store_open(f->dir, &f->s, &e));
    assert_int_equal(unlink(wal), 0);
    free(wal);

    if (geteuid() == 0) {
        assert_int_equal(chown(f->path, 65534, 65534), 0);
        ERR(EACCES, "is owned by uid 65534", store_open(f->dir, &f->s, &e));
        assert_int_equal(chown(f->path, 0, 0), 0);
    }

    /* A symbolic link in place of the database. */
    char *real = xasprintf("%s/real.db", f->dir);
    assert_int_equal(rename(f->path, real), 0);
    assert_int_equal(symlink(real, f->path), 0);
    ERR(ELOOP, "is a symbolic link", store_open(f->dir, &f->s, &e));
    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(rename(real, f->path), 0);
    free(real);

    OK(store_open(f->dir, &f->s, &e));
}

static void test_created_0600_despite_umask(void **state)
{
    fx *f = *state;
    mode_t old = umask(0);
    nc_error *e = NULL;
    int r = store_open(f->dir, &f->s, &e);
    umask(old);
    if (r < 0)
        fail_msg("%s", nc_error_msg(e));
    assert_int_equal(file_mode(f->path, ""), 0600);
}

/* ---- groups ---- */

static void test_groups(void **state)
{
    fx *f = *state;
    store *s = f->s;
    store_group g = {.folder = "family",
                     .name = "Family",
                     .trigger = "@Andy",
                     .requires_trigger = true,
                     .image = "img:1",
                     .added_ms = 42};
    OK(store_group_add(s, &g, &e));
    add_group(s, "main", true);
    add_group(s, "Work", false);

    store_group got = {0};
    OK(store_group_get(s, "family", &got, &e));
    assert_string_equal(got.folder, "family");
    assert_string_equal(got.name, "Family");
    assert_string_equal(got.trigger, "@Andy");
    assert_true(got.requires_trigger);
    assert_false(got.is_main);
    assert_string_equal(got.image, "img:1");
    assert_int_equal(got.added_ms, 42);
    assert_true(got.id > 0);
    store_group_release(&got);

    store_group *v = NULL;
    size_t n = 0;
    OK(store_group_list(s, &v, &n, &e));
    assert_int_equal(n, 3);
    assert_string_equal(v[0].folder, "family");
    assert_string_equal(v[1].folder, "main");
    assert_true(v[1].is_main);
    assert_string_equal(v[2].folder, "Work");
    assert_string_equal(v[2].name, "");
    store_groups_free(v, n);

    store_group up = {.folder = "family", .name = "Fam", .trigger = "", .image = ""};
    OK(store_group_update(s, &up, &e));
    OK(store_group_get(s, "family", &got, &e));
    assert_string_equal(got.name, "Fam");
    assert_false(got.requires_trigger);
    assert_int_equal(got.added_ms, 42);
    store_group_release(&got);

    ERR(ENOENT, "no group 'nope'", store_group_get(s, "nope", &got, &e));
    ERR(ENOENT, "there is 'family'", store_group_get(s, "FAMILY", &got, &e));
    ERR(ENOENT, "no group 'nope'", store_group_update(s, &(store_group){.folder = "nope"}, &e));
    ERR(ENOENT, "no group 'nope'", store_group_remove(s, "nope", &e));
}

static void test_group_validation(void **state)
{
    fx *f = *state;
    store *s = f->s;
    static const char *const bad[] = {
        "",    "-x",  "_x",
        "a b", "a/b", "..",
        "a.b", "é",   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < NC_ARRAY_SIZE(bad); i++) {
        store_group g = {.folder = (char *)bad[i]};
        nc_error *e = NULL;
        int r = store_group_add(s, &g, &e);
        check_err(r, e, EINVAL, bad[i][0] ? "invalid group folder" : "missing", bad[i]);
    }
    ERR(EINVAL, "group folder 'GLOBAL' is reserved",
        store_group_add(s, &(store_group){.folder = "GLOBAL"}, &e));
    ERR(EINVAL, "missing", store_group_add(s, &(store_group){.folder = NULL}, &e));
    /* 64 characters is the longest. */
    add_group(s, "a234567890123456789012345678901234567890123456789012345678901234", false);

    add_group(s, "Team", false);
    ERR(EEXIST, "group 'team' conflicts with the group 'Team'",
        store_group_add(s, &(store_group){.folder = "team"}, &e));
    ERR(EEXIST, "group 'Team' already exists",
        store_group_add(s, &(store_group){.folder = "Team"}, &e));

    add_group(s, "main", true);
    ERR(EEXIST, "group 'other' cannot be main: 'main' is the main group",
        store_group_add(s, &(store_group){.folder = "other", .is_main = true}, &e));
    ERR(EEXIST, "'main' is the main group",
        store_group_update(s, &(store_group){.folder = "Team", .is_main = true}, &e));
    /* The main group may be updated as main, and main may move once it is given up. */
    OK(store_group_update(s, &(store_group){.folder = "main", .is_main = true}, &e));
    OK(store_group_update(s, &(store_group){.folder = "main", .is_main = false}, &e));
    OK(store_group_update(s, &(store_group){.folder = "Team", .is_main = true}, &e));
    store_group got = {0};
    OK(store_group_get(s, "Team", &got, &e));
    assert_true(got.is_main);
    store_group_release(&got);
}

static void test_group_remove_cascades(void **state)
{
    fx *f = *state;
    store *s = f->s;
    add_group(s, "a", false);
    add_group(s, "b", false);
    int64_t m = add_msg(s, "a", "hello");
    add_msg(s, "b", "other group");
    OK(store_batch_start(s, &m, 1, m, "run-1", &e));
    add_reply(s, "a", "local:a", m, "run-1", "answer");
    OK(store_session_set(s, "a", "sess-1", &e));
    OK(store_run_begin(s, "run-1", "a", 5, &e));
    OK(store_chat_map(s, "tg:1", "a", &e));

    OK(store_group_remove(s, "a", &e));
    assert_int_equal(count_messages(s, NULL), 1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM outbox"), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM runs"), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sessions"), 0);
    char *folder = NULL;
    ERR(ENOENT, "no chat 'tg:1'", store_chat_group(s, "tg:1", &folder, &e));

    /* A group added again under the name starts empty, and message ids are never reused. */
    add_group(s, "a", false);
    assert_int_equal(count_messages(s, "a"), 0);
    char *sess = (char *)"x";
    OK(store_session_get(s, "a", &sess, &e));
    assert_null(sess);
    assert_true(add_msg(s, "a", "again") > m + 1);
}

/* ---- chats ---- */

static void test_chats(void **state)
{
    fx *f = *state;
    store *s = f->s;
    add_group(s, "a", false);
    add_group(s, "b", false);
    OK(store_chat_map(s, "tg:100", "a", &e));
    char *folder = NULL;
    OK(store_chat_group(s, "tg:100", &folder, &e));
    assert_string_equal(folder, "a");
    free(folder);
    OK(store_chat_map(s, "tg:100", "b", &e));
    OK(store_chat_group(s, "tg:100", &folder, &e));
    assert_string_equal(folder, "b");
    free(folder);
    folder = NULL;
    ERR(ENOENT, "no chat 'tg:200'", store_chat_group(s, "tg:200", &folder, &e));
    assert_null(folder);
    ERR(ENOENT, "no group 'c'", store_chat_map(s, "tg:300", "c", &e));
    ERR(EINVAL, "chat jid is missing", store_chat_map(s, "", "a", &e));
}

/* ---- messages ---- */

static void test_messages(void **state)
{
    fx *f = *state;
    store *s = f->s;
    add_group(s, "a", false);
    add_group(s, "b", false);
    /* Text is data, whatever bytes it holds. */
    static const char *const texts[] = {"plain",
                                        "it's \"quoted\"",
                                        "'); DROP TABLE messages; --",
                                        "line\nbreak\ttab",
                                        "\xff\xfe not utf-8 \x80",
                                        "ünïcödé ✓",
                                        "%s %n %%",
                                        ""};
    int64_t ids[NC_ARRAY_SIZE(texts)];
    for (size_t i = 0; i < NC_ARRAY_SIZE(texts); i++)
        ids[i] = add_msg(s, i % 2 ? "b" : "a", texts[i]);
    for (size_t i = 1; i < NC_ARRAY_SIZE(texts); i++)
        assert_true(ids[i] > ids[i - 1]);

    store_message m = {0};
    for (size_t i = 0; i < NC_ARRAY_SIZE(texts); i++) {
        OK(store_message_get(s, ids[i], &m, &e));
        assert_string_equal(m.text, texts[i]);
        assert_string_equal(m.group, i % 2 ? "b" : "a");
        assert_string_equal(m.state, "pending");
        assert_false(m.outbound);
        assert_string_equal(m.sender, "user");
        assert_int_equal(m.time_ms, 1000);
        assert_int_equal(m.batch, 0);
        assert_null(m.run_id);
        assert_null(m.error);
        store_message_release(&m);
    }
    ERR(ENOENT, "no message 999999", store_message_get(s, 999999, &m, &e));

    store_message *v = NULL;
    size_t n = 0;
    OK(store_message_list(s, NULL, 0, 0, &v, &n, &e));
    assert_int_equal(n, NC_ARRAY_SIZE(texts));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i].id, ids[i]);
    store_messages_free(v, n);
    OK(store_message_list(s, "a", ids[2], 0, &v, &n, &e));
    assert_int_equal(n, 2); /* ids[4], ids[6] */
    assert_int_equal(v[0].id, ids[4]);
    assert_int_equal(v[1].id, ids[6]);
    store_messages_free(v, n);
    OK(store_message_list(s, NULL, 0, 3, &v, &n, &e));
    assert_int_equal(n, 3);
    store_messages_free(v, n);
    v = NULL;
    ERR(ENOENT, "no group 'c'", store_message_list(s, "c", 0, 0, &v, &n, &e));
    assert_null(v);

    OK(store_pending(s, "b", 0, &v, &n, &e));
    assert_int_equal(n, 4);
    assert_int_equal(v[0].id, ids[1]);
    assert_int_equal(v[3].id, ids[7]);
    store_messages_free(v, n);
    OK(store_pending(s, "b", 2, &v, &n, &e));
    assert_int_equal(n, 2);
    store_messages_free(v, n);

    int64_t id = 0;
    ERR(ENOENT, "no group 'c'", store_message_add(s, "c", "local:c", "u", "x", 1, &id, &e));
    ERR(EINVAL, "text is missing", store_message_add(s, "a", "local:a", "u", NULL, 1, &id, &e));
    ERR(EINVAL, "chat jid is missing", store_message_add(s, "a", NULL, "u", "x", 1, &id, &e));
    assert_int_equal(id, 0);
}

static void test_groups_with_pending(void **state)
{
    fx *f = *state;
    store *s = f->s;
    add_group(s, "a", false);
    add_group(s, "b", false);
    add_group(s, "c", false);
    char **folders = NULL;
    size_t n = 99;
    OK(store_groups_with_pending(s, &folders, &n, &e));
    assert_int_equal(n, 0);
    assert_null(folders[0]);
    free(folders);

    int64_t a1 = add_msg(s, "a", "a1");
    add_msg(s, "b", "b1");
    add_msg(s, "a", "a2");
    OK(store_groups_with_pending(s, &folders, &n, &e));
    assert_int_equal(n, 2);
    assert_string_equal(folders[0], "a");
    assert_string_equal(folders[1], "b");
    assert_null(folders[2]);
    for (size_t i = 0; i < n; i++)
        free(folders[i]);
    free(folders);

    /* Once a1 runs, a's oldest pending message (a2) is newer than b1. */
    OK(store_batch_start(s, &a1, 1, a1, "run-a", &e));
    OK(store_groups_with_pending(s, &folders, &n, &e));
    assert_int_equal(n, 2);
    assert_string_equal(folders[0], "b");
    assert_string_equal(folders[1], "a");
    for (size_t i = 0; i < n; i++)
        free(folders[i]);
    free(folders);
}

/* ---- batches ---- */

static void test_batch_start_checks(void **state)
{
    fx *f = *state;
    store *s = f->s;
    add_group(s, "a", false);
    add_group(s, "b", false);
    int64_t a1 = add_msg(s, "a", "1"), a2 = add_msg(s, "a", "2"), b1 = add_msg(s, "b", "3");
    int64_t ids[] = {a1, a2};
    ERR(EINVAL, "is not the id of its last message", store_batch_start(s, ids, 2, a1, "r", &e));
    ERR(EINVAL, "run id is missing", store_batch_start(s, ids, 2, a2, "", &e));
    ERR(EINVAL, "has no messages", store_batch_start(s, ids, 0, a2, "r", &e));
    int64_t mixed[] = {a1, b1};
    ERR(EINVAL, "is of another group", store_batch_start(s, mixed, 2, b1, "r", &e));
    int64_t missing[] = {a1, 999999};
    ERR(ENOENT, "no message 999999", store_batch_start(s, missing, 2, 999999, "r", &e));
    /* All or nothing: a1 was not left running by the failures above. */
    assert_state(s, a1, "pending");

    OK(store_batch_start(s, ids, 2, a2, "run-1", &e));
    assert_state(s, a1, "running");
    store_message m = {0};
    OK(store_message_get(s, a1, &m, &e));
    assert_int_equal(m.batch, a2);
    assert_string_equal(m.run_id, "run-1");
    store_message_release(&m);
    ERR(EINVAL, "is not pending (it is running)", store_batch_start(s, &a1, 1, a1, "r2", &e));

    int64_t r = add_reply(s, "a", "local:a", a2, "run-1", "reply");
    ERR(EINVAL, "is a reply", store_batch_start(s, &r, 1, r, "r3", &e));
    ERR(EINVAL, "is a reply", store_messages_skip(s, &r, 1, &e));

    ERR(EINVAL, "is not pending", store_messages_skip(s, &a1, 1, &e));
    OK(store_messages_skip(s, &b1, 1, &e));
    assert_state(s, b1, "skipped");
}

static void test_batch_done(void **state)
{
    fx *f = *state;
    store *s = f->s;
    add_group(s, "a", false);
    int64_t a1 = add_msg(s, "a", "1"), a2 = add_msg(s, "a", "2");
    int64_t ids[] = {a1, a2};
    ERR(ENOENT, "no batch", store_batch_done(s, a2, &e));
    OK(store_batch_start(s, ids, 2, a2, "run-1", &e));
    int64_t r = add_reply(s, "a", "local:a", a2, "run-1", "answer");
    OK(store_batch_done(s, a2, &e));
    assert_state(s, a1, "done");
    assert_state(s, a2, "done");
    OK(store_batch_done(s, a2, &e)); /* a no-op */
    /* A batch that is done keeps its replies: requeue changes nothing. */
    OK(store_batch_requeue(s, a2, false, "late", &e));
    assert_state(s, a1, "done");
    assert_state(s, r, "pending");
}

static void test_batch_requeue(void **state)
{
    fx *f = *state;
    store *s = f->s;
    add_group(s, "a", false);
    int64_t a1 = add_msg(s, "a", "1"), a2 = add_msg(s, "a", "2");
    int64_t ids[] = {a1, a2};
    OK(store_batch_start(s, ids, 2, a2, "run-1", &e));
    int64_t seen = add_reply(s, "a", "local:a", a2, "run-1", "part one");
    int64_t unseen = add_reply(s, "a", "local:a", a2, "run-1", "part two");
    OK(store_outbox_delivered(s, seen, &e));
    OK(store_batch_requeue(s, a2, false, "exit code 1", &e));

    store_message m = {0};
    OK(store_message_get(s, a1, &m, &e));
    assert_string_equal(m.state, "pending");
    assert_int_equal(m.attempts, 1);
    assert_string_equal(m.error, "exit code 1");
    assert_int_equal(m.batch, 0);
    assert_null(m.run_id);
    store_message_release(&m);
    assert_state(s, seen, "delivered");
    assert_state(s, unseen, "superseded");
    ERR(EALREADY, "superseded", store_outbox_delivered(s, unseen, &e));

    /* Second try, then the batch fails for good. */
    OK(store_batch_start(s, ids, 2, a2, "run-2", &e));
    int64_t third = add_reply(s, "a", "local:a", a2, "run-2", "again");
    OK(store_batch_requeue(s, a2, true, "timed out", &e));
    OK(store_message_get(s, a2, &m, &e));
    assert_string_equal(m.state, "failed");
    assert_int_equal(m.attempts, 2);
    assert_string_equal(m.error, "timed out");
    store_message_release(&m);
    assert_state(s, third, "superseded");
    ERR(ENOENT, "no batch", store_batch_requeue(s, a2, false, NULL, &e));

    store_group_counts *c = NULL;
    size_t n = 0;
    OK(store_counts(s, &c, &n, &e));
    assert_int_equal(n, 1);
    assert_int_equal(c[0].failed, 2);
    assert_int_equal(c[0].pending, 0);
    store_counts_free(c, n);

    nc_error *re = NULL;
    assert_int_equal(store_group_retry(s, "a", &re), 2);
    assert_null(re);
    OK(store_message_get(s, a1, &m, &e));
    assert_string_equal(m.state, "pending");
    assert_int_equal(m.attempts, 0);
    store_message_release(&m);
    assert_int_equal(store_group_retry(s, "a", &re), 0);
    assert_null(re);
    ERR(ENOENT, "no group 'zz'", store_group_retry(s, "zz", &e));
}

/* ---- replies and outbox ---- */

static void test_replies_and_outbox(void **state)
{
    fx *f = *state;
    store *s = f->s;
    add_group(s, "a", false);
    add_group(s, "t", false);
    int64_t a1 = add_msg(s, "a", "q");
    OK(store_batch_start(s, &a1, 1, a1, "run-1", &e));
    int64_t r1 = add_reply(s, "a", "local:a", a1, "run-1", "one");
    int64_t r2 = add_reply(s, "a", "local:a", a1, "run-1", "two");
    int64_t t1 = add_reply(s, "t", "tg:5", 0, "run-9", "telegram");
    int64_t p1 = add_reply(s, "t", "tg%:5", 0, "run-9", "percent");

    store_message *v = NULL;
    size_t n = 0;
    OK(store_replies(s, a1, 0, &v, &n, &e));
    assert_int_equal(n, 2);
    assert_int_equal(v[0].id, r1);
    assert_true(v[0].outbound);
    assert_int_equal(v[0].reply_to, a1);
    assert_string_equal(v[0].run_id, "run-1");
    assert_string_equal(v[0].state, "pending");
    assert_string_equal(v[1].text, "two");
    store_messages_free(v, n);
    OK(store_replies(s, a1, r1, &v, &n, &e));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, r2);
    store_messages_free(v, n);

    OK(store_outbox_pending(s, "tg:", 0, &v, &n, &e));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, t1);
    store_messages_free(v, n);
    /* The prefix is bytes, not a LIKE pattern. */
    OK(store_outbox_pending(s, "tg%", 0, &v, &n, &e));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, p1);
    store_messages_free(v, n);
    OK(store_outbox_pending(s, NULL, 0, &v, &n, &e));
    assert_int_equal(n, 4);
    assert_int_equal(v[0].id, r1);
    store_messages_free(v, n);
    OK(store_outbox_pending(s, "", 2, &v, &n, &e));
    assert_int_equal(n, 2);
    store_messages_free(v, n);

    /* A failed delivery try is recorded and the reply stays pending. */
    OK(store_outbox_failed(s, t1, "telegram said 502", &e));
    OK(store_outbox_failed(s, t1, "telegram said 503", &e));
    assert_int_equal(raw_int(f->path, "SELECT attempts FROM outbox WHERE last_error = "
                                      "'telegram said 503'"),
                     2);
    assert_state(s, t1, "pending");

    /* Delivered at most once. */
    OK(store_outbox_delivered(s, r1, &e));
    assert_state(s, r1, "delivered");
    ERR(EALREADY, "was delivered already", store_outbox_delivered(s, r1, &e));
    ERR(EALREADY, "was delivered already", store_outbox_failed(s, r1, "x", &e));
    ERR(ENOENT, "no reply", store_outbox_delivered(s, a1, &e));
    ERR(ENOENT, "no reply", store_outbox_delivered(s, 999999, &e));
    assert_true(raw_int(f->path, "SELECT delivered_ms FROM outbox WHERE state = 'delivered'") >
                1600000000000LL);

    OK(store_outbox_pending(s, "local:", 0, &v, &n, &e));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, r2);
    store_messages_free(v, n);

    store_group_counts *c = NULL;
    OK(store_counts(s, &c, &n, &e));
    assert_int_equal(n, 2);
    assert_string_equal(c[0].folder, "a");
    assert_int_equal(c[0].running, 1);
    assert_int_equal(c[0].undelivered, 1);
    assert_string_equal(c[1].folder, "t");
    assert_int_equal(c[1].undelivered, 2);
    store_counts_free(c, n);

    int64_t id = 0;
    ERR(ENOENT, "no group 'x'", store_reply_add(s, "x", "local:x", 0, "r", "t", 1, &id, &e));
    assert_int_equal(id, 0);
}

/* ---- sessions, runs ---- */

static void test_sessions(void **state)
{
    fx *f = *state;
    store *s = f->s;
    add_group(s, "a", false);
    char *sess = NULL;
    OK(store_session_get(s, "a", &sess, &e));
    assert_null(sess);
    OK(store_session_set(s, "a", "abc-123", &e));
    OK(store_session_get(s, "a", &sess, &e));
    assert_string_equal(sess, "abc-123");
    free(sess);
    OK(store_session_set(s, "a", "def-456", &e));
    OK(store_session_get(s, "a", &sess, &e));
    assert_string_equal(sess, "def-456");
    free(sess);
    OK(store_session_set(s, "a", NULL, &e));
    OK(store_session_get(s, "a", &sess, &e));
    assert_null(sess);
    ERR(ENOENT, "no group 'b'", store_session_set(s, "b", "x", &e));
    ERR(ENOENT, "no group 'b'", store_session_get(s, "b", &sess, &e));
}

static void test_runs(void **state)
{
    fx *f = *state;
    store *s = f->s;
    add_group(s, "a", false);
    OK(store_run_begin(s, "r1", "a", 100, &e));
    OK(store_run_begin(s, "r2", "a", 200, &e));
    OK(store_run_begin(s, "r3", "a", 300, &e));
    ERR(EEXIST, "run 'r1' already exists", store_run_begin(s, "r1", "a", 400, &e));
    ERR(ENOENT, "no group 'b'", store_run_begin(s, "r9", "b", 1, &e));

    store_run end = {.run_id = "r2",
                     .ended_ms = 250,
                     .outcome = "success",
                     .exit_code = 0,
                     .container_id = "c0ffee",
                     .log_path = "/logs/r2.log"};
    OK(store_run_end(s, &end, &e));
    end.run_id = "nope";
    ERR(ENOENT, "no run 'nope'", store_run_end(s, &end, &e));

    store_run *v = NULL;
    size_t n = 0;
    OK(store_run_list(s, "a", 0, &v, &n, &e));
    assert_int_equal(n, 3);
    assert_string_equal(v[0].run_id, "r3");
    assert_string_equal(v[0].state, "running");
    assert_null(v[0].outcome);
    assert_string_equal(v[1].run_id, "r2");
    assert_string_equal(v[1].state, "ended");
    assert_string_equal(v[1].group, "a");
    assert_int_equal(v[1].started_ms, 200);
    assert_int_equal(v[1].ended_ms, 250);
    assert_string_equal(v[1].outcome, "success");
    assert_string_equal(v[1].container_id, "c0ffee");
    assert_string_equal(v[1].log_path, "/logs/r2.log");
    store_runs_free(v, n);
    OK(store_run_list(s, "a", 1, &v, &n, &e));
    assert_int_equal(n, 1);
    assert_string_equal(v[0].run_id, "r3");
    store_runs_free(v, n);
}

/* ---- crash recovery ---- */

/* The child is killed mid-turn (SIGKILL, no close) with: group a's batch running with one
 * delivered and one undelivered reply (run ra); group b's batch done with an undelivered reply
 * while its agent idles (run rb still running); group c's run ended normally. */
static void crash_child(const char *dir)
{
    store *s = NULL;
    nc_error *e = NULL;
    if (store_open(dir, &s, &e) < 0)
        _exit(2);
    for (int i = 0; i < 3; i++) {
        char name[] = {(char)('a' + i), 0};
        if (store_group_add(s, &(store_group){.folder = name}, &e) < 0)
            _exit(3);
    }
    int64_t a1, a2, b1, ra1, ra2, rb1;
    if (store_message_add(s, "a", "local:a", "u", "a1", 1, &a1, &e) < 0 ||
        store_message_add(s, "a", "local:a", "u", "a2", 2, &a2, &e) < 0 ||
        store_message_add(s, "b", "local:b", "u", "b1", 3, &b1, &e) < 0)
        _exit(4);
    int64_t ids[] = {a1, a2};
    if (store_run_begin(s, "ra", "a", 10, &e) < 0 || store_run_begin(s, "rb", "b", 11, &e) < 0 ||
        store_run_begin(s, "rc", "c", 12, &e) < 0 ||
        store_run_end(s, &(store_run){.run_id = "rc", .outcome = "success"}, &e) < 0 ||
        store_batch_start(s, ids, 2, a2, "ra", &e) < 0 ||
        store_batch_start(s, &b1, 1, b1, "rb", &e) < 0 ||
        store_reply_add(s, "a", "local:a", a2, "ra", "a part 1", 20, &ra1, &e) < 0 ||
        store_reply_add(s, "a", "local:a", a2, "ra", "a part 2", 21, &ra2, &e) < 0 ||
        store_outbox_delivered(s, ra1, &e) < 0 ||
        store_reply_add(s, "b", "local:b", b1, "rb", "b answer", 22, &rb1, &e) < 0 ||
        store_batch_done(s, b1, &e) < 0)
        _exit(5);
    raise(SIGKILL);
    _exit(6);
}

static void test_recovery_after_crash(void **state)
{
    fx *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        crash_child(f->dir);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("child did not reach the crash (status %d)", status);
    /* Killed, so SIGKILL left the WAL without a checkpoint. */
    assert_true(exists(f->path, "-wal"));

    OK(store_open(f->dir, &f->s, &e));
    store *s = f->s;
    store_recovery rec = {0};
    OK(store_recover(s, &rec, &e));
    assert_int_equal(rec.runs_crashed, 2);
    assert_int_equal(rec.replies_superseded, 1);
    assert_int_equal(rec.messages_requeued, 2);

    store_message *v = NULL;
    size_t n = 0;
    OK(store_message_list(s, NULL, 0, 0, &v, &n, &e));
    assert_int_equal(n, 6);
    /* a1, a2: pending again, attempts unchanged, batch and run cleared. */
    for (int i = 0; i < 2; i++) {
        assert_string_equal(v[i].state, "pending");
        assert_int_equal(v[i].attempts, 0);
        assert_int_equal(v[i].batch, 0);
        assert_null(v[i].run_id);
    }
    assert_string_equal(v[2].state, "done");       /* b1 */
    assert_string_equal(v[3].state, "delivered");  /* a part 1: not sent again */
    assert_string_equal(v[4].state, "superseded"); /* a part 2: the rerun answers */
    assert_string_equal(v[5].state, "pending");    /* b answer: its batch is done */
    store_messages_free(v, n);

    store_run *runs = NULL;
    OK(store_run_list(s, "a", 0, &runs, &n, &e));
    assert_string_equal(runs[0].state, "crashed");
    store_runs_free(runs, n);
    OK(store_run_list(s, "c", 0, &runs, &n, &e));
    assert_string_equal(runs[0].state, "ended");
    store_runs_free(runs, n);

    /* A second recovery finds nothing to do. */
    OK(store_recover(s, &rec, &e));
    assert_int_equal(rec.runs_crashed + rec.replies_superseded + rec.messages_requeued, 0);
}

/* ---- full disk ---- */

static void test_full_disk(void **state)
{
    fx *f = *state;
    store *s = f->s;
    add_group(s, "a", false);
    int64_t a1 = add_msg(s, "a", "small");
    OK(store_batch_start(s, &a1, 1, a1, "run-1", &e));
    size_t before = count_messages(s, NULL);
    OK(store_test_limit_pages(s, 1, &e)); /* no page beyond the current ones */

    size_t big_len = 256 * 1024;
    char *big = xmalloc(big_len + 1);
    memset(big, 'x', big_len);
    big[big_len] = 0;
    int64_t id = 0;
    ERR(ENOSPC, "database or disk is full",
        store_message_add(s, "a", "local:a", "u", big, 1, &id, &e));
    ERR(ENOSPC, "database or disk is full",
        store_reply_add(s, "a", "local:a", a1, "run-1", big, 1, &id, &e));
    assert_int_equal(id, 0);
    /* Nothing half stored: no message, no reply without its outbox row or the reverse. */
    assert_int_equal(count_messages(s, NULL), before);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM outbox"), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM messages WHERE direction = 'out'"), 0);

    OK(store_test_limit_pages(s, 1000000, &e));
    id = 0;
    OK(store_reply_add(s, "a", "local:a", a1, "run-1", big, 1, &id, &e));
    assert_true(id > a1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM outbox"), 1);
    free(big);
}

/* ---- threads ---- */

#define THREADS 4
#define PER_THREAD 50

typedef struct worker {
    store *s;
    int n;
    int64_t ids[PER_THREAD];
    int failures;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char text[32];
        snprintf(text, sizeof(text), "t%d-%d", w->n, i);
        nc_error *e = NULL;
        if (store_message_add(w->s, "a", "local:a", "u", text, i, &w->ids[i], &e) < 0) {
            w->failures++;
            nc_error_free(e);
        }
    }
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_threads(void **state)
{
    fx *f = *state;
    add_group(f->s, "a", false);
    worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.s = f->s, .n = i};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    int64_t all[THREADS * PER_THREAD];
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
        memcpy(&all[i * PER_THREAD], w[i].ids, sizeof(w[i].ids));
    }
    qsort(all, NC_ARRAY_SIZE(all), sizeof(all[0]), cmp_id);
    for (size_t i = 1; i < NC_ARRAY_SIZE(all); i++)
        assert_true(all[i] > all[i - 1]);
    assert_int_equal(count_messages(f->s, "a"), THREADS * PER_THREAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_is_noop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_in_wal_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_database_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_use_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_created_0600_despite_umask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_group_validation, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_group_remove_cascades, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_chats, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_messages, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_groups_with_pending, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_batch_start_checks, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_batch_done, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_batch_requeue, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_replies_and_outbox, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_sessions, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_runs, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup_open, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
