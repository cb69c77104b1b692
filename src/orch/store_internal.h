/* What the store's files share: the handle, transactions, statements and error mapping. Only
 * src/orch/store*.c include this header, and with it sqlite3.h: SQLite stays behind the store.
 *
 * Every SQL text is a constant; values reach SQLite only through sqlite3_bind_*, text with its
 * explicit length. */
#ifndef NC_ORCH_STORE_INTERNAL_H
#define NC_ORCH_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "orch/store.h"

struct store {
    sqlite3 *db;
    /* Held for one transaction at a time (store_tx_begin .. store_tx_end). The connection is
     * opened SQLITE_OPEN_FULLMUTEX as well, but that only serialises single calls; this lock
     * keeps one thread's BEGIN ... COMMIT from interleaving with another's. */
    pthread_mutex_t lock;
    char *path;
    /* The database file, opened by the store before SQLite opens it, flock()ed for the store's
     * life. Closed only after the connection: closing any descriptor of a file drops every
     * POSIX lock this process holds on it, SQLite's included. */
    int fd;
    int version;
    /* The file's identity, and the link in this process's list of open stores. */
    dev_t dev;
    ino_t ino;
    bool listed;
    store *next;
};

NC_DEFINE_CLEANUP(sqlite3_stmt *, sqlite3_finalize)
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

/* Sets *err to "<context>: <SQLite's message>" for the last failure on s->db and returns the
 * errno store.h promises for it (-ENOSPC, -EBUSY, -EEXIST, -EINVAL, -EIO). */
int store_fail(store *s, nc_error **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepares one constant statement. */
int store_prepare(store *s, const char *sql, sqlite3_stmt **ret, nc_error **err);
/* Runs every statement of a constant script, discarding rows. */
int store_exec(store *s, const char *sql, nc_error **err);
/* Steps st: 1 for a row, 0 when done, else store_fail with the formatted context. */
int store_step(store *s, sqlite3_stmt *st, nc_error **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Locks the store and begins a transaction: BEGIN IMMEDIATE for one that writes (it takes
 * the write lock at once, so it cannot fail half way on a lock), BEGIN for one that only
 * reads. On failure the store is unlocked again. */
int store_tx_begin(store *s, bool write, nc_error **err);
/* Commits when r >= 0, else rolls back; unlocks. Returns r, or the commit's error. */
int store_tx_end(store *s, int r, nc_error **err);

/* The id of the group named exactly folder; -ENOENT "no group 'x'" otherwise. */
int store_group_id(store *s, const char *folder, int64_t *id, nc_error **err);

/* Sets a channel cursor inside the caller's transaction (store_channels.c). */
int store_cursor_put(store *s, const char *name, int64_t value, nc_error **err);

/* Binds text with its explicit length, or SQL NULL for NULL. Returns a SQLite result code. */
static inline int store_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (!v)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text64(st, i, v, strlen(v), SQLITE_STATIC, SQLITE_UTF8);
}

static inline int store_bind_int(sqlite3_stmt *st, int i, int64_t v)
{
    return sqlite3_bind_int64(st, i, v);
}

/* A LIMIT value: 0 (no limit) and values beyond int64 become -1, which SQLite reads as none. */
static inline int64_t store_limit(size_t limit)
{
    return limit == 0 || limit > (size_t)INT64_MAX ? -1 : (int64_t)limit;
}

/* A copy of a text column (its bytes up to the first NUL); NULL for SQL NULL. */
char *store_col_text(sqlite3_stmt *st, int i);
/* The same, but "" for SQL NULL. */
char *store_col_text0(sqlite3_stmt *st, int i);

#endif
