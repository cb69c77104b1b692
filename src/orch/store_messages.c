/* The store's messages: inbound messages and their batches, replies and the outbox. Each public
 * function is one transaction (see store.c); a check that fails part way rolls back what the
 * function had changed, so a batch starts, is skipped or is stored whole or not at all. */
#include "orch/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* An outbound message's state is its outbox row's. */
#define MSG_COLS                                                                                   \
    "m.id, g.folder, m.chat_jid, m.direction, m.sender, m.text, m.time_ms,"                        \
    " coalesce(m.state, o.state), m.batch, m.reply_to, m.run_id, m.attempts, m.error"
#define MSG_FROM                                                                                   \
    " FROM messages m JOIN groups g ON g.id = m.group_id"                                          \
    " LEFT JOIN outbox o ON o.message_id = m.id"

static void read_message(sqlite3_stmt *st, store_message *m)
{
    const char *dir = (const char *)sqlite3_column_text(st, 3);
    *m = (store_message){
        .id = sqlite3_column_int64(st, 0),
        .group = store_col_text0(st, 1),
        .chat_jid = store_col_text0(st, 2),
        .outbound = dir && strcmp(dir, "out") == 0,
        .sender = store_col_text0(st, 4),
        .text = store_col_text0(st, 5),
        .time_ms = sqlite3_column_int64(st, 6),
        .state = store_col_text0(st, 7),
        .batch = sqlite3_column_int64(st, 8),
        .reply_to = sqlite3_column_int64(st, 9),
        .run_id = store_col_text(st, 10),
        .attempts = sqlite3_column_int(st, 11),
        .error = store_col_text(st, 12),
    };
}

/* Appends every row of st to *ret. */
static int collect(store *s, sqlite3_stmt *st, store_message **ret, size_t *n, nc_error **err,
                   const char *what)
{
    int r;
    while ((r = store_step(s, st, err, "%s", what)) == 1) {
        *ret = xreallocarray(*ret, *n + 1, sizeof(**ret));
        read_message(st, &(*ret)[(*n)++]);
    }
    return r;
}

/* Ends a transaction whose work built a list: hands the list on after the commit, frees it
 * after a failure. */
static int end_list(store *s, int r, store_message *v, size_t len, store_message **ret, size_t *n,
                    nc_error **err)
{
    r = store_tx_end(s, r, err);
    if (r < 0) {
        store_messages_free(v, len);
        return r;
    }
    *ret = v;
    *n = len;
    return 0;
}

void store_message_release(store_message *m)
{
    if (!m)
        return;
    free(m->group);
    free(m->chat_jid);
    free(m->sender);
    free(m->text);
    free(m->state);
    free(m->run_id);
    free(m->error);
    *m = (store_message){0};
}

void store_messages_free(store_message *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_message_release(&v[i]);
    free(v);
}

/* ---- inbound ---- */

/* Inserts a message row; an outbound one (state NULL) gets its outbox row as well. */
static int insert_message(store *s, const char *folder, const char *chat_jid, bool outbound,
                          const char *sender, const char *text, int64_t time_ms, int64_t reply_to,
                          const char *run_id, int64_t *id, nc_error **err)
{
    const char *what = outbound ? "store reply" : "store message";
    if (!chat_jid || !*chat_jid)
        return nc_error_set(err, EINVAL, "%s: chat jid is missing", what);
    if (!text)
        return nc_error_set(err, EINVAL, "%s: text is missing", what);
    int64_t gid;
    int r = store_group_id(s, folder, &gid, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "INSERT INTO messages (group_id, chat_jid, direction, sender, text, time_ms,"
                      " state, reply_to, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, gid) || store_bind_text(st, 2, chat_jid) ||
        store_bind_text(st, 3, outbound ? "out" : "in") ||
        store_bind_text(st, 4, sender ? sender : "") || store_bind_text(st, 5, text) ||
        store_bind_int(st, 6, time_ms) || store_bind_text(st, 7, outbound ? NULL : "pending") ||
        store_bind_int(st, 8, reply_to) || store_bind_text(st, 9, run_id))
        return store_fail(s, err, "%s for group '%s'", what, folder);
    if ((r = store_step(s, st, err, "%s for group '%s'", what, folder)) < 0)
        return r;
    *id = sqlite3_last_insert_rowid(s->db);
    if (!outbound)
        return 0;
    _cleanup_stmt_ sqlite3_stmt *o = NULL;
    r = store_prepare(
        s, "INSERT INTO outbox (message_id, state, created_ms) VALUES (?1, 'pending', ?2)", &o,
        err);
    if (r < 0)
        return r;
    if (store_bind_int(o, 1, *id) || store_bind_int(o, 2, time_ms))
        return store_fail(s, err, "%s for group '%s'", what, folder);
    r = store_step(s, o, err, "%s for group '%s'", what, folder);
    return r < 0 ? r : 0;
}

int store_message_add(store *s, const char *folder, const char *chat_jid, const char *sender,
                      const char *text, int64_t time_ms, int64_t *id, nc_error **err)
{
    int64_t v = 0;
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    r = insert_message(s, folder, chat_jid, false, sender, text, time_ms, 0, NULL, &v, err);
    if ((r = store_tx_end(s, r, err)) < 0)
        return r;
    if (id)
        *id = v;
    return 0;
}

int store_message_add_cursor(store *s, const char *folder, const char *chat_jid, const char *sender,
                             const char *text, int64_t time_ms, const char *cursor, int64_t value,
                             int64_t *id, nc_error **err)
{
    int64_t v = 0;
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    r = insert_message(s, folder, chat_jid, false, sender, text, time_ms, 0, NULL, &v, err);
    if (r >= 0)
        r = store_cursor_put(s, cursor, value, err);
    if ((r = store_tx_end(s, r, err)) < 0)
        return r;
    if (id)
        *id = v;
    return 0;
}

static int message_get(store *s, int64_t id, store_message *m, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT " MSG_COLS MSG_FROM " WHERE m.id = ?1", &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, id))
        return store_fail(s, err, "read message %" PRId64, id);
    if ((r = store_step(s, st, err, "read message %" PRId64, id)) < 0)
        return r;
    if (r == 0)
        return nc_error_set(err, ENOENT, "no message %" PRId64, id);
    read_message(st, m);
    return 0;
}

int store_message_get(store *s, int64_t id, store_message *ret, nc_error **err)
{
    store_message m = {0};
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    if ((r = store_tx_end(s, message_get(s, id, &m, err), err)) < 0) {
        store_message_release(&m);
        return r;
    }
    *ret = m;
    return 0;
}

static int message_list(store *s, const char *folder, int64_t after_id, size_t limit,
                        store_message **ret, size_t *n, nc_error **err)
{
    int64_t gid = 0;
    int r = folder ? store_group_id(s, folder, &gid, err) : 0;
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      folder ? "SELECT " MSG_COLS MSG_FROM " WHERE m.group_id = ?3 AND m.id > ?1"
                               " ORDER BY m.id LIMIT ?2"
                             : "SELECT " MSG_COLS MSG_FROM " WHERE m.id > ?1"
                               " ORDER BY m.id LIMIT ?2",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, after_id) || store_bind_int(st, 2, store_limit(limit)) ||
        (folder && store_bind_int(st, 3, gid)))
        return store_fail(s, err, "list messages");
    return collect(s, st, ret, n, err, "list messages");
}

int store_message_list(store *s, const char *folder, int64_t after_id, size_t limit,
                       store_message **ret, size_t *n, nc_error **err)
{
    store_message *v = NULL;
    size_t len = 0;
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    r = message_list(s, folder, after_id, limit, &v, &len, err);
    return end_list(s, r, v, len, ret, n, err);
}

static int pending(store *s, const char *folder, size_t limit, store_message **ret, size_t *n,
                   nc_error **err)
{
    int64_t gid;
    int r = store_group_id(s, folder, &gid, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "SELECT " MSG_COLS MSG_FROM " WHERE m.state = 'pending' AND m.group_id = ?1"
                      " ORDER BY m.id LIMIT ?2",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, gid) || store_bind_int(st, 2, store_limit(limit)))
        return store_fail(s, err, "list pending messages of group '%s'", folder);
    return collect(s, st, ret, n, err, "list pending messages");
}

int store_pending(store *s, const char *folder, size_t limit, store_message **ret, size_t *n,
                  nc_error **err)
{
    store_message *v = NULL;
    size_t len = 0;
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    r = pending(s, folder, limit, &v, &len, err);
    return end_list(s, r, v, len, ret, n, err);
}

static int groups_with_pending(store *s, char ***folders, size_t *n, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "SELECT g.folder FROM messages m JOIN groups g ON g.id = m.group_id"
                          " WHERE m.state = 'pending' GROUP BY m.group_id ORDER BY min(m.id)",
                          &st, err);
    if (r < 0)
        return r;
    while ((r = store_step(s, st, err, "list groups with pending messages")) == 1) {
        *folders = xreallocarray(*folders, *n + 2, sizeof(**folders));
        (*folders)[(*n)++] = store_col_text0(st, 0);
        (*folders)[*n] = NULL;
    }
    return r;
}

int store_groups_with_pending(store *s, char ***folders, size_t *n, nc_error **err)
{
    char **v = xcalloc(1, sizeof(*v));
    size_t len = 0;
    int r = store_tx_begin(s, false, err);
    if (r >= 0)
        r = store_tx_end(s, groups_with_pending(s, &v, &len, err), err);
    if (r < 0) {
        for (size_t i = 0; i < len; i++)
            free(v[i]);
        free(v);
        return r;
    }
    *folders = v;
    *n = len;
    return 0;
}

/* ---- batches ---- */

/* Says why message id could not move from pending: it is missing, outbound, in another
 * state, or (when gid is not 0) of another group. Always returns an error. */
static int not_pending(store *s, int64_t id, int64_t gid, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r =
        store_prepare(s, "SELECT direction, state, group_id FROM messages WHERE id = ?1", &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, id))
        return store_fail(s, err, "read message %" PRId64, id);
    if ((r = store_step(s, st, err, "read message %" PRId64, id)) < 0)
        return r;
    if (r == 0)
        return nc_error_set(err, ENOENT, "no message %" PRId64, id);
    const char *dir = (const char *)sqlite3_column_text(st, 0);
    const char *state = (const char *)sqlite3_column_text(st, 1);
    if (!dir || strcmp(dir, "in") != 0)
        return nc_error_set(err, EINVAL, "message %" PRId64 " is a reply, not an inbound message",
                            id);
    if (gid && sqlite3_column_int64(st, 2) != gid)
        return nc_error_set(err, EINVAL, "message %" PRId64 " is of another group", id);
    return nc_error_set(err, EINVAL, "message %" PRId64 " is not pending (it is %s)", id,
                        state ? state : "unknown");
}

static int message_group(store *s, int64_t id, int64_t *gid, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT group_id FROM messages WHERE id = ?1", &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, id))
        return store_fail(s, err, "read message %" PRId64, id);
    if ((r = store_step(s, st, err, "read message %" PRId64, id)) < 0)
        return r;
    if (r == 0)
        return nc_error_set(err, ENOENT, "no message %" PRId64, id);
    *gid = sqlite3_column_int64(st, 0);
    return 0;
}

/* Moves each pending inbound message of ids to state; with gid, all must be of that group. */
static int move_pending(store *s, const int64_t *ids, size_t n, const char *state, int64_t batch,
                        const char *run_id, int64_t gid, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "UPDATE messages SET state = ?2, batch = ?3, run_id = ?4 WHERE id = ?1"
                          " AND direction = 'in' AND state = 'pending'"
                          " AND (?5 = 0 OR group_id = ?5)",
                          &st, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(st);
        if (store_bind_int(st, 1, ids[i]) || store_bind_text(st, 2, state) ||
            store_bind_int(st, 3, batch) || store_bind_text(st, 4, run_id) ||
            store_bind_int(st, 5, gid))
            return store_fail(s, err, "update message %" PRId64, ids[i]);
        if ((r = store_step(s, st, err, "update message %" PRId64, ids[i])) < 0)
            return r;
        if (sqlite3_changes(s->db) == 0)
            return not_pending(s, ids[i], gid, err);
    }
    return 0;
}

static int batch_start(store *s, const int64_t *ids, size_t n, int64_t batch, const char *run_id,
                       nc_error **err)
{
    if (n == 0 || !ids)
        return nc_error_set(err, EINVAL, "batch %" PRId64 " has no messages", batch);
    if (!run_id || !*run_id)
        return nc_error_set(err, EINVAL, "batch %" PRId64 ": run id is missing", batch);
    int64_t last = ids[0];
    for (size_t i = 1; i < n; i++)
        if (ids[i] > last)
            last = ids[i];
    if (batch != last)
        return nc_error_set(err, EINVAL,
                            "batch %" PRId64 " is not the id of its last message (%" PRId64 ")",
                            batch, last);
    int64_t gid = 0;
    int r = message_group(s, ids[0], &gid, err);
    if (r < 0)
        return r;
    return move_pending(s, ids, n, "running", batch, run_id, gid, err);
}

int store_batch_start(store *s, const int64_t *ids, size_t n, int64_t batch, const char *run_id,
                      nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, batch_start(s, ids, n, batch, run_id, err), err);
}

int store_messages_skip(store *s, const int64_t *ids, size_t n, nc_error **err)
{
    if (n > 0 && !ids)
        return nc_error_set(err, EINVAL, "no message ids");
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, move_pending(s, ids, n, "skipped", 0, NULL, 0, err), err);
}

/* -ENOENT unless some inbound message has this batch. */
static int batch_exists(store *s, int64_t batch, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT 1 FROM messages WHERE batch = ?1 AND direction = 'in' LIMIT 1",
                          &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, batch))
        return store_fail(s, err, "look up batch %" PRId64, batch);
    if ((r = store_step(s, st, err, "look up batch %" PRId64, batch)) < 0)
        return r;
    if (r == 0 || batch == 0)
        return nc_error_set(err, ENOENT, "no batch %" PRId64, batch);
    return 0;
}

static int batch_done(store *s, int64_t batch, nc_error **err)
{
    int r = batch_exists(s, batch, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(
        s, "UPDATE messages SET state = 'done' WHERE batch = ?1 AND state = 'running'", &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, batch))
        return store_fail(s, err, "finish batch %" PRId64, batch);
    r = store_step(s, st, err, "finish batch %" PRId64, batch);
    return r < 0 ? r : 0;
}

int store_batch_done(store *s, int64_t batch, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, batch_done(s, batch, err), err);
}

/* The batch's replies still pending in the outbox become superseded. */
static int supersede_replies(store *s, int64_t batch, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "UPDATE outbox SET state = 'superseded' WHERE state = 'pending'"
                          " AND message_id IN (SELECT id FROM messages WHERE direction = 'out'"
                          "  AND reply_to = ?1)",
                          &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, batch))
        return store_fail(s, err, "supersede the replies to batch %" PRId64, batch);
    r = store_step(s, st, err, "supersede the replies to batch %" PRId64, batch);
    return r < 0 ? r : 0;
}

static int batch_requeue(store *s, int64_t batch, bool failed, const char *why, nc_error **err)
{
    int r = batch_exists(s, batch, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "UPDATE messages SET state = ?2, attempts = attempts + 1, error = ?3,"
                      " batch = 0, run_id = NULL WHERE batch = ?1 AND state = 'running'",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, batch) || store_bind_text(st, 2, failed ? "failed" : "pending") ||
        store_bind_text(st, 3, why))
        return store_fail(s, err, "requeue batch %" PRId64, batch);
    if ((r = store_step(s, st, err, "requeue batch %" PRId64, batch)) < 0)
        return r;
    if (sqlite3_changes(s->db) == 0)
        return 0; /* not running (done already): its replies are its answer */
    return supersede_replies(s, batch, err);
}

int store_batch_requeue(store *s, int64_t batch, bool failed, const char *why, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, batch_requeue(s, batch, failed, why, err), err);
}

static int group_retry(store *s, const char *folder, nc_error **err)
{
    int64_t gid;
    int r = store_group_id(s, folder, &gid, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "UPDATE messages SET state = 'pending', attempts = 0"
                      " WHERE state = 'failed' AND group_id = ?1",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, gid))
        return store_fail(s, err, "retry group '%s'", folder);
    if ((r = store_step(s, st, err, "retry group '%s'", folder)) < 0)
        return r;
    return sqlite3_changes(s->db);
}

int store_group_retry(store *s, const char *folder, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, group_retry(s, folder, err), err);
}

/* ---- replies and the outbox ---- */

int store_reply_add(store *s, const char *folder, const char *chat_jid, int64_t batch,
                    const char *run_id, const char *text, int64_t time_ms, int64_t *id,
                    nc_error **err)
{
    int64_t v = 0;
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    r = insert_message(s, folder, chat_jid, true, NULL, text, time_ms, batch, run_id, &v, err);
    if ((r = store_tx_end(s, r, err)) < 0)
        return r;
    if (id)
        *id = v;
    return 0;
}

static int replies(store *s, int64_t batch, int64_t after_id, store_message **ret, size_t *n,
                   nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "SELECT " MSG_COLS MSG_FROM " WHERE m.reply_to = ?1"
                          " AND m.direction = 'out' AND m.id > ?2 ORDER BY m.id",
                          &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, batch) || store_bind_int(st, 2, after_id))
        return store_fail(s, err, "list the replies to batch %" PRId64, batch);
    return collect(s, st, ret, n, err, "list replies");
}

int store_replies(store *s, int64_t batch, int64_t after_id, store_message **ret, size_t *n,
                  nc_error **err)
{
    store_message *v = NULL;
    size_t len = 0;
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    r = replies(s, batch, after_id, &v, &len, err);
    return end_list(s, r, v, len, ret, n, err);
}

/* Says why the outbox row of id is not pending. Always returns an error. */
static int not_in_outbox(store *s, int64_t id, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT state FROM outbox WHERE message_id = ?1", &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, id))
        return store_fail(s, err, "read outbox row %" PRId64, id);
    if ((r = store_step(s, st, err, "read outbox row %" PRId64, id)) < 0)
        return r;
    if (r == 0)
        return nc_error_set(err, ENOENT, "no reply %" PRId64 " in the outbox", id);
    const char *state = (const char *)sqlite3_column_text(st, 0);
    if (state && strcmp(state, "superseded") == 0)
        return nc_error_set(err, EALREADY, "reply %" PRId64 " is superseded: never delivered", id);
    return nc_error_set(err, EALREADY, "reply %" PRId64 " was delivered already", id);
}

/* Runs a constant UPDATE of the pending outbox row ?1, with v as ?2 and text as ?3 when the
 * statement has a third parameter. */
static int outbox_update(store *s, const char *sql, int64_t id, int64_t v, const char *text,
                         nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, sql, &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, id) || store_bind_int(st, 2, v) ||
        (sqlite3_bind_parameter_count(st) >= 3 && store_bind_text(st, 3, text)))
        return store_fail(s, err, "update outbox row %" PRId64, id);
    if ((r = store_step(s, st, err, "update outbox row %" PRId64, id)) < 0)
        return r;
    if (sqlite3_changes(s->db) == 0)
        return not_in_outbox(s, id, err);
    return 0;
}

int store_outbox_delivered(store *s, int64_t message_id, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    r = outbox_update(s,
                      "UPDATE outbox SET state = 'delivered', delivered_ms = ?2"
                      " WHERE message_id = ?1 AND state = 'pending'",
                      message_id, (int64_t)wall_ms(), NULL, err);
    return store_tx_end(s, r, err);
}

int store_outbox_failed(store *s, int64_t message_id, const char *why, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    r = outbox_update(s,
                      "UPDATE outbox SET attempts = attempts + ?2, last_error = ?3"
                      " WHERE message_id = ?1 AND state = 'pending'",
                      message_id, 1, why, err);
    return store_tx_end(s, r, err);
}

static int outbox_pending(store *s, const char *prefix, size_t limit, store_message **ret,
                          size_t *n, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    /* A prefix compared as bytes: no LIKE, whose % and _ in the prefix would be patterns. */
    int r = store_prepare(s,
                          "SELECT " MSG_COLS MSG_FROM " WHERE o.state = 'pending'"
                          " AND substr(CAST(m.chat_jid AS BLOB), 1, length(CAST(?1 AS BLOB)))"
                          "  = CAST(?1 AS BLOB) ORDER BY m.id LIMIT ?2",
                          &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, prefix ? prefix : "") || store_bind_int(st, 2, store_limit(limit)))
        return store_fail(s, err, "list the outbox");
    return collect(s, st, ret, n, err, "list the outbox");
}

int store_outbox_pending(store *s, const char *prefix, size_t limit, store_message **ret, size_t *n,
                         nc_error **err)
{
    store_message *v = NULL;
    size_t len = 0;
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    r = outbox_pending(s, prefix, limit, &v, &len, err);
    return end_list(s, r, v, len, ret, n, err);
}
