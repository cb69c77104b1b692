/* The store's connection: opening the file safely, the schema and its migrations,
 * transactions, and the mapping of SQLite's failures to errno values. */
#include "orch/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* How long a statement waits for a lock another process holds before it fails with -EBUSY. */
#define STORE_BUSY_TIMEOUT_MS 5000

/* ---- errors ---- */

static int errno_of(sqlite3 *db)
{
    int ext = sqlite3_extended_errcode(db);
    switch (ext & 0xff) {
    case SQLITE_FULL:
        return ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return EBUSY;
    case SQLITE_CONSTRAINT:
        return ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY ? EEXIST
                                                                                      : EINVAL;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
        return EINVAL;
    case SQLITE_NOMEM:
        return ENOMEM;
    case SQLITE_IOERR:
        /* A write the kernel refused for space is SQLITE_FULL already; an fsync or a truncate
         * that hit a full disk arrives as an I/O error with the system errno kept. */
        return sqlite3_system_errno(db) == ENOSPC ? ENOSPC : EIO;
    default:
        return EIO;
    }
}

int store_fail(store *s, nc_error **err, const char *fmt, ...)
{
    int code = errno_of(s->db);
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *ctx = xvasprintf(fmt, ap);
    va_end(ap);
    if (code == EBUSY)
        return nc_error_set(err, code, "%s: database is locked by another process", ctx);
    return nc_error_set(err, code, "%s: %s", ctx, sqlite3_errmsg(s->db));
}

int store_prepare(store *s, const char *sql, sqlite3_stmt **ret, nc_error **err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, ret, NULL) != SQLITE_OK)
        return store_fail(s, err, "prepare statement");
    return 0;
}

int store_exec(store *s, const char *sql, nc_error **err)
{
    const char *tail = sql;
    while (*tail) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        const char *next = NULL;
        if (sqlite3_prepare_v2(s->db, tail, -1, &st, &next) != SQLITE_OK)
            return store_fail(s, err, "database '%s'", s->path);
        tail = next;
        if (!st) /* whitespace or a comment */
            continue;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
        if (rc != SQLITE_DONE)
            return store_fail(s, err, "database '%s'", s->path);
    }
    return 0;
}

int store_step(store *s, sqlite3_stmt *st, nc_error **err, const char *fmt, ...)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *ctx = xvasprintf(fmt, ap);
    va_end(ap);
    return store_fail(s, err, "%s", ctx);
}

int store_tx_begin(store *s, bool write, nc_error **err)
{
    pthread_mutex_lock(&s->lock);
    int r = store_exec(s, write ? "BEGIN IMMEDIATE" : "BEGIN", err);
    if (r < 0)
        pthread_mutex_unlock(&s->lock);
    return r;
}

int store_tx_end(store *s, int r, nc_error **err)
{
    if (r >= 0) {
        int c = store_exec(s, "COMMIT", err);
        if (c < 0)
            r = c;
    }
    /* A failed COMMIT (a lock, a full disk) may leave the transaction open, or SQLite may have
     * rolled it back already: roll back whatever is left, so nothing is half stored. */
    if (r < 0 && !sqlite3_get_autocommit(s->db))
        (void)store_exec(s, "ROLLBACK", NULL);
    pthread_mutex_unlock(&s->lock);
    return r;
}

char *store_col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    return xstrndup((const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

char *store_col_text0(sqlite3_stmt *st, int i)
{
    char *t = store_col_text(st, i);
    return t ? t : xstrdup("");
}

/* ---- the file ---- */

/* The directory holds the database and SQLite's -wal and -shm next to it: whoever can write it
 * can replace them. */
static int check_dir(const char *path, nc_error **err)
{
    _cleanup_free_ char *copy = xstrdup(path);
    const char *dir = dirname(copy);
    struct stat st;
    if (stat(dir, &st) < 0)
        return nc_error_set(err, errno, "database directory '%s': %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return nc_error_set(err, ENOTDIR, "database directory '%s' is not a directory", dir);
    if (st.st_uid != geteuid() && st.st_uid != 0)
        return nc_error_set(err, EACCES,
                            "database directory '%s' is owned by uid %u, not by this user (uid "
                            "%u): run chown %u '%s'",
                            dir, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(),
                            dir);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return nc_error_set(err, EACCES,
                            "database directory '%s' is writable by group or others (mode "
                            "%04o): run chmod go-w '%s'",
                            dir, (unsigned)(st.st_mode & 07777), dir);
    return 0;
}

/* The database and its companions: owned by this user, not writable by group or others. */
static int check_stat(const char *what, const char *path, const struct stat *st, nc_error **err)
{
    if (!S_ISREG(st->st_mode))
        return nc_error_set(err, EINVAL, "%s '%s' is not a regular file", what, path);
    if (st->st_uid != geteuid())
        return nc_error_set(err, EACCES,
                            "%s '%s' is owned by uid %u, not by this user (uid %u): run chown "
                            "%u '%s'",
                            what, path, (unsigned)st->st_uid, (unsigned)geteuid(),
                            (unsigned)geteuid(), path);
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return nc_error_set(err, EACCES,
                            "%s '%s' is writable by group or others (mode %04o): run chmod 600 "
                            "'%s'",
                            what, path, (unsigned)(st->st_mode & 07777), path);
    return 0;
}

/* SQLite's -wal, -shm and -journal, when present, are checked as the database is: SQLite
 * creates them with the database's mode, so they are 0600 when it is. *had_wal tells whether
 * a -wal was there before this open. */
static int check_companions(const char *path, bool *had_wal, nc_error **err)
{
    static const char *const suffixes[] = {"-wal", "-shm", "-journal"};
    *had_wal = false;
    for (size_t i = 0; i < NC_ARRAY_SIZE(suffixes); i++) {
        _cleanup_free_ char *p = xasprintf("%s%s", path, suffixes[i]);
        struct stat st;
        if (lstat(p, &st) < 0) {
            if (errno == ENOENT)
                continue;
            return nc_error_set(err, errno, "database file '%s': %s", p, strerror(errno));
        }
        int r = check_stat("database file", p, &st, err);
        if (r < 0)
            return r;
        if (i == 0)
            *had_wal = true;
    }
    return 0;
}

/* The stores open in this process. A second store on a file must be refused before it opens a
 * descriptor of it: closing that descriptor again would drop the first store's SQLite locks
 * (POSIX locks belong to the process, and any close of the file releases them all). */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static store *open_stores;

static bool is_open(dev_t dev, ino_t ino)
{
    for (store *o = open_stores; o; o = o->next)
        if (o->dev == dev && o->ino == ino)
            return true;
    return false;
}

static void unlist(store *s)
{
    pthread_mutex_lock(&open_lock);
    for (store **p = &open_stores; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    pthread_mutex_unlock(&open_lock);
}

/* Opens the database file (creating it 0600 when missing), checks it, and takes the store's
 * flock. SQLite then opens the same path; the directory check above makes sure nobody else
 * can put another file there in between. Called with open_lock held. */
static int open_file(const char *path, int *ret_fd, struct stat *ret_st, nc_error **err)
{
    struct stat pre;
    if (lstat(path, &pre) == 0 && is_open(pre.st_dev, pre.st_ino))
        return nc_error_set(err, EBUSY, "database '%s' is open already in this process", path);
    _cleanup_close_ int fd = -1;
    for (int tries = 0; fd < 0; tries++) {
        fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 || errno != ENOENT)
            break;
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            /* The umask may have taken bits away, never added any: set the mode exactly. */
            if (fchmod(fd, 0600) < 0)
                return nc_error_set(err, errno, "database '%s': %s", path, strerror(errno));
            break;
        }
        if (errno != EEXIST || tries > 0)
            break;
    }
    if (fd < 0) {
        if (errno == ELOOP)
            return nc_error_set(err, ELOOP, "database '%s' is a symbolic link: refused", path);
        return nc_error_set(err, errno, "open database '%s': %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nc_error_set(err, errno, "database '%s': %s", path, strerror(errno));
    int r = check_stat("database", path, &st, err);
    if (r < 0)
        return r;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            return nc_error_set(err, EBUSY,
                                "database '%s' is in use by another process (is another "
                                "nanocell serve running?)",
                                path);
        return nc_error_set(err, errno, "lock database '%s': %s", path, strerror(errno));
    }
    *ret_fd = TAKE_FD(fd);
    *ret_st = st;
    return 0;
}

/* ---- schema ---- */

/* Migration n takes a database at version n - 1 to version n. Append only: a released
 * migration never changes, a database records each one it ran in schema_version. */
static const char *const migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE schema_version ("
    "  version INTEGER PRIMARY KEY,"
    "  applied_ms INTEGER NOT NULL);"
    "CREATE TABLE groups ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  folder TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  \"trigger\" TEXT NOT NULL DEFAULT '',"
    "  requires_trigger INTEGER NOT NULL DEFAULT 1 CHECK (requires_trigger IN (0, 1)),"
    "  is_main INTEGER NOT NULL DEFAULT 0 CHECK (is_main IN (0, 1)),"
    "  image TEXT NOT NULL DEFAULT '',"
    "  sandbox_json TEXT NOT NULL DEFAULT '',"
    "  added_ms INTEGER NOT NULL);"
    /* At most one main group. */
    "CREATE UNIQUE INDEX groups_one_main ON groups (is_main) WHERE is_main = 1;"
    "CREATE TABLE chats ("
    "  jid TEXT PRIMARY KEY NOT NULL,"
    "  group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,"
    "  added_ms INTEGER NOT NULL);"
    "CREATE INDEX chats_group ON chats (group_id);"
    /* AUTOINCREMENT: a message id is never reused, even after the newest rows are deleted, so
     * "after id X" stays "newer than X". An outbound message's state lives in its outbox row
     * (state is NULL here), an inbound one's here. */
    "CREATE TABLE messages ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,"
    "  chat_jid TEXT NOT NULL,"
    "  direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),"
    "  sender TEXT NOT NULL DEFAULT '',"
    "  text TEXT NOT NULL,"
    "  time_ms INTEGER NOT NULL,"
    "  state TEXT CHECK ((direction = 'in' AND state IN ('pending', 'running', 'done', "
    "    'failed', 'skipped')) OR (direction = 'out' AND state IS NULL)),"
    "  batch INTEGER NOT NULL DEFAULT 0,"
    "  reply_to INTEGER NOT NULL DEFAULT 0,"
    "  run_id TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT);"
    "CREATE INDEX messages_group ON messages (group_id, id);"
    "CREATE INDEX messages_state ON messages (state, group_id, id);"
    "CREATE INDEX messages_batch ON messages (batch);"
    "CREATE INDEX messages_reply_to ON messages (reply_to);"
    "CREATE TABLE sessions ("
    "  group_id INTEGER PRIMARY KEY REFERENCES groups (id) ON DELETE CASCADE,"
    "  session_id TEXT NOT NULL,"
    "  updated_ms INTEGER NOT NULL);"
    "CREATE TABLE runs ("
    "  run_id TEXT PRIMARY KEY NOT NULL,"
    "  group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,"
    "  state TEXT NOT NULL CHECK (state IN ('running', 'ended', 'crashed')),"
    "  started_ms INTEGER NOT NULL,"
    "  ended_ms INTEGER NOT NULL DEFAULT 0,"
    "  outcome TEXT,"
    "  exit_code INTEGER NOT NULL DEFAULT 0,"
    "  container_id TEXT,"
    "  log_path TEXT);"
    "CREATE INDEX runs_group ON runs (group_id, started_ms);"
    "CREATE INDEX runs_state ON runs (state);"
    "CREATE TABLE outbox ("
    "  message_id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,"
    "  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'superseded')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  delivered_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX outbox_state ON outbox (state, message_id);",
    /* 2: channels (src/channels/): read positions committed with the messages they delivered,
     * what is known of chats (registered or not), per-group sender allowlists, and the webhook
     * signatures seen recently (replays are refused). */
    "CREATE TABLE channel_cursors ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  value INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL);"
    "CREATE TABLE chat_meta ("
    "  jid TEXT PRIMARY KEY NOT NULL,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  kind TEXT NOT NULL DEFAULT '',"
    "  last_ms INTEGER NOT NULL);"
    "CREATE TABLE sender_allow ("
    "  group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,"
    "  sender TEXT NOT NULL,"
    "  PRIMARY KEY (group_id, sender));"
    "CREATE TABLE hook_seen ("
    "  hook TEXT NOT NULL,"
    "  signature TEXT NOT NULL,"
    "  seen_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (hook, signature));"
    "CREATE INDEX hook_seen_time ON hook_seen (seen_ms);",
    /* 3: scheduled tasks (NanoClaw's scheduled_tasks) and their runs (its task_run_logs).
     * next_run_ms 0: none (a once task that ran, or a paused one keeps its value). */
    "CREATE TABLE tasks ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,"
    "  chat_jid TEXT NOT NULL,"
    "  prompt TEXT NOT NULL,"
    "  script TEXT,"
    "  schedule_type TEXT NOT NULL CHECK (schedule_type IN ('cron', 'interval', 'once')),"
    "  schedule_value TEXT NOT NULL,"
    "  context_mode TEXT NOT NULL DEFAULT 'isolated' CHECK (context_mode IN ('group',"
    "    'isolated')),"
    "  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused',"
    "    'completed')),"
    "  next_run_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_run_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_result TEXT,"
    "  created_by TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX tasks_due ON tasks (status, next_run_ms);"
    "CREATE INDEX tasks_group ON tasks (group_id);"
    "CREATE TABLE task_runs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,"
    "  run_id TEXT,"
    "  due_ms INTEGER NOT NULL,"
    "  run_ms INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('success', 'error')),"
    "  result TEXT,"
    "  error TEXT);"
    "CREATE INDEX task_runs_task ON task_runs (task_id, run_ms);",
};

_Static_assert(NC_ARRAY_SIZE(migrations) == STORE_SCHEMA_VERSION,
               "one migration per schema version");

/* Reads the schema version without writing anything: 0 for an empty database. A database with
 * objects but no schema_version table is not nanocell's. */
static int read_version(store *s, int *version, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "SELECT count(*), coalesce(sum(name = 'schema_version'), 0)"
                          " FROM sqlite_master WHERE type = 'table'",
                          &st, err);
    if (r < 0)
        return r;
    if ((r = store_step(s, st, err, "read database '%s'", s->path)) < 0)
        return r;
    int64_t tables = sqlite3_column_int64(st, 0), ours = sqlite3_column_int64(st, 1);
    if (!ours) {
        if (tables > 0)
            return nc_error_set(err, EINVAL,
                                "database '%s' is not a nanocell database (it has tables but "
                                "no schema_version); it was left untouched",
                                s->path);
        *version = 0;
        return 0;
    }
    _cleanup_stmt_ sqlite3_stmt *v = NULL;
    if ((r = store_prepare(s, "SELECT coalesce(max(version), 0) FROM schema_version", &v, err)) < 0)
        return r;
    if ((r = store_step(s, v, err, "read the schema version of '%s'", s->path)) < 0)
        return r;
    int64_t n = sqlite3_column_int64(v, 0);
    *version = n > INT32_MAX ? INT32_MAX : n < 0 ? 0 : (int)n;
    return 0;
}

static int migrate(store *s, nc_error **err)
{
    int version = 0;
    int r = read_version(s, &version, err);
    for (int v = version + 1; r >= 0 && v <= STORE_SCHEMA_VERSION; v++) {
        r = store_exec(s, migrations[v - 1], err);
        if (r < 0) {
            nc_error_wrap(err, "migrate database '%s' to schema version %d", s->path, v);
            break;
        }
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        r = store_prepare(s, "INSERT INTO schema_version (version, applied_ms) VALUES (?1, ?2)",
                          &st, err);
        if (r < 0)
            break;
        if (store_bind_int(st, 1, v) || store_bind_int(st, 2, (int64_t)wall_ms()))
            r = store_fail(s, err, "record schema version %d", v);
        else
            r = store_step(s, st, err, "record schema version %d", v);
    }
    if (r >= 0)
        s->version = STORE_SCHEMA_VERSION;
    return r;
}

/* A PRAGMA whose single result must be want (case-insensitive). */
static int pragma_expect(store *s, const char *sql, const char *want, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, sql, &st, err);
    if (r < 0)
        return r;
    if ((r = store_step(s, st, err, "database '%s': %s", s->path, sql)) < 0)
        return r;
    const char *got = r ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (!got || strcasecmp(got, want) != 0)
        return nc_error_set(err, EIO, "database '%s': %s gave '%s', not '%s'", s->path, sql,
                            got ? got : "", want);
    return 0;
}

static int db_connect(store *s, bool had_wal, nc_error **err)
{
    int rc =
        sqlite3_open_v2(s->path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
    if (rc != SQLITE_OK) {
        if (!s->db)
            return nc_error_set(err, ENOMEM, "open database '%s': out of memory", s->path);
        return store_fail(s, err, "open database '%s'", s->path);
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
    /* Defensive: no writable_schema and other ways to corrupt the file through SQL. Untrusted
     * schema: functions with side effects never run from a view or trigger stored in it. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    /* Until the version is known to be ours, nothing may be written. A -wal that was there
     * before (a newer nanocell that stopped without a checkpoint) must not be checkpointed into
     * the database when a refused open closes the connection. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, had_wal ? 1 : 0, NULL);
    int r = store_exec(s, "PRAGMA query_only = 1; PRAGMA foreign_keys = ON", err);
    if (r < 0)
        return r;

    int version = 0;
    if ((r = store_tx_begin(s, false, err)) < 0)
        return r;
    r = read_version(s, &version, err);
    /* Taken before the rollback in store_tx_end resets it. */
    int code = r < 0 ? sqlite3_extended_errcode(s->db) & 0xff : SQLITE_OK;
    r = store_tx_end(s, r, err);
    if (r < 0) {
        if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
            nc_error_free(*err);
            *err = NULL;
            return nc_error_set(err, EIO,
                                "database '%s' is corrupt or not a SQLite database (%s); it was "
                                "left untouched",
                                s->path, sqlite3_errstr(code));
        }
        return r;
    }
    if (version > STORE_SCHEMA_VERSION)
        return nc_error_set(err, EPROTONOSUPPORT,
                            "database '%s' has schema version %d, newer than this nanocell's "
                            "%d: it was written by a newer nanocell; upgrade nanocell (the "
                            "database was left untouched)",
                            s->path, version, STORE_SCHEMA_VERSION);

    sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
    if ((r = store_exec(s, "PRAGMA query_only = 0", err)) < 0)
        return r;
    if ((r = pragma_expect(s, "PRAGMA journal_mode = WAL", "wal", err)) < 0)
        return r;
    /* FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on a power cut (never on
     * a crash of the process). A stored message has been acknowledged to its sender and a
     * delivered mark must not come back as pending, so every commit syncs the WAL. */
    if ((r = store_exec(s, "PRAGMA synchronous = FULL", err)) < 0)
        return r;
    /* Cascades are how a group's rows go with it: refuse a SQLite built without them. */
    if ((r = pragma_expect(s, "PRAGMA foreign_keys", "1", err)) < 0)
        return r;
    if ((r = store_tx_begin(s, true, err)) < 0)
        return r;
    return store_tx_end(s, migrate(s, err), err);
}

int store_open_path(const char *path, store **ret, nc_error **err)
{
    _cleanup_close_ int fd = -1;
    bool had_wal = false;
    int r = check_dir(path, err);
    if (r >= 0)
        r = check_companions(path, &had_wal, err);
    if (r < 0)
        return r;
    struct stat st = {0};
    pthread_mutex_lock(&open_lock);
    r = open_file(path, &fd, &st, err);
    if (r < 0) {
        pthread_mutex_unlock(&open_lock);
        return r;
    }
    _cleanup_store_ store *s = xnew0(store);
    pthread_mutex_init(&s->lock, NULL);
    s->path = xstrdup(path);
    s->fd = TAKE_FD(fd);
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->next = open_stores;
    open_stores = s;
    s->listed = true;
    pthread_mutex_unlock(&open_lock);
    if ((r = db_connect(s, had_wal, err)) < 0)
        return r;
    *ret = TAKE_PTR(s);
    return 0;
}

int store_open(const char *data_dir, store **ret, nc_error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", data_dir, STORE_FILE);
    return store_open_path(path, ret, err);
}

void store_close(store *s)
{
    if (!s)
        return;
    /* Every statement is finalized when its function returns, so the connection closes now. */
    if (s->db)
        sqlite3_close_v2(s->db);
    if (s->fd >= 0)
        close(s->fd);
    if (s->listed)
        unlist(s);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}

int store_schema_version(store *s)
{
    return s->version;
}

int store_test_limit_pages(store *s, int64_t pages, nc_error **err)
{
    /* A PRAGMA takes no bound parameters; the value is a number formatted here, not text from
     * outside. */
    _cleanup_free_ char *sql = xasprintf("PRAGMA max_page_count = %lld", (long long)pages);
    pthread_mutex_lock(&s->lock);
    int r = store_exec(s, sql, err);
    pthread_mutex_unlock(&s->lock);
    return r;
}
