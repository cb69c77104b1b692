/* The store's groups, chats, sessions, runs, counts and crash recovery. Messages, batches and
 * the outbox are in store_messages.c; the connection and schema in store_db.c. Each public
 * function is one transaction: store_tx_begin, a static function that does the work and may
 * return early, store_tx_end. Results reach the caller only after the commit. */
#include "orch/store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include "config.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* ---- groups ---- */

#define GROUP_COLS "id, folder, name, \"trigger\", requires_trigger, is_main, image, added_ms"

static void read_group(sqlite3_stmt *st, store_group *g)
{
    *g = (store_group){
        .id = sqlite3_column_int64(st, 0),
        .folder = store_col_text0(st, 1),
        .name = store_col_text0(st, 2),
        .trigger = store_col_text0(st, 3),
        .requires_trigger = sqlite3_column_int(st, 4) != 0,
        .is_main = sqlite3_column_int(st, 5) != 0,
        .image = store_col_text0(st, 6),
        .added_ms = sqlite3_column_int64(st, 7),
    };
}

/* The group whose folder equals folder ignoring case (the unique key), or *found false. */
static int group_nocase(store *s, const char *folder, store_group *g, bool *found, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT " GROUP_COLS " FROM groups WHERE folder = ?1", &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, folder))
        return store_fail(s, err, "look up group '%s'", folder);
    if ((r = store_step(s, st, err, "look up group '%s'", folder)) < 0)
        return r;
    *found = r == 1;
    if (*found)
        read_group(st, g);
    return 0;
}

/* The group named exactly folder. */
static int group_exact(store *s, const char *folder, store_group *g, nc_error **err)
{
    if (!folder || !*folder)
        return nc_error_set(err, EINVAL, "group folder is missing");
    bool found = false;
    int r = group_nocase(s, folder, g, &found, err);
    if (r < 0)
        return r;
    if (!found)
        return nc_error_set(err, ENOENT, "no group '%s'", folder);
    if (strcmp(g->folder, folder) != 0) {
        r = nc_error_set(err, ENOENT, "no group '%s' (there is '%s'; folder names are exact)",
                         folder, g->folder);
        store_group_release(g);
        return r;
    }
    return 0;
}

int store_group_id(store *s, const char *folder, int64_t *id, nc_error **err)
{
    store_group g = {0};
    int r = group_exact(s, folder, &g, err);
    if (r < 0)
        return r;
    *id = g.id;
    store_group_release(&g);
    return 0;
}

/* The main group other than the one with id self: *folder allocated, or NULL when none. */
static int other_main(store *s, int64_t self, char **folder, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT folder FROM groups WHERE is_main = 1 AND id != ?1", &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, self))
        return store_fail(s, err, "look up the main group");
    if ((r = store_step(s, st, err, "look up the main group")) < 0)
        return r;
    *folder = r ? store_col_text0(st, 0) : NULL;
    return 0;
}

static int check_main(store *s, const store_group *g, int64_t self, nc_error **err)
{
    if (!g->is_main)
        return 0;
    _cleanup_free_ char *cur = NULL;
    int r = other_main(s, self, &cur, err);
    if (r < 0)
        return r;
    if (cur)
        return nc_error_set(err, EEXIST, "group '%s' cannot be main: '%s' is the main group",
                            g->folder, cur);
    return 0;
}

static int group_add(store *s, const store_group *g, nc_error **err)
{
    if (!g->folder || !*g->folder)
        return nc_error_set(err, EINVAL, "group folder is missing");
    if (strcasecmp(g->folder, "global") == 0)
        return nc_error_set(err, EINVAL, "group folder '%s' is reserved", g->folder);
    if (!config_valid_group_name(g->folder))
        return nc_error_set(err, EINVAL,
                            "invalid group folder '%s': a group name is 1-64 letters, digits, - "
                            "or _, starting with a letter or digit",
                            g->folder);
    store_group old = {0};
    bool found = false;
    int r = group_nocase(s, g->folder, &old, &found, err);
    if (r < 0)
        return r;
    if (found) {
        if (strcmp(old.folder, g->folder) == 0)
            r = nc_error_set(err, EEXIST, "group '%s' already exists", g->folder);
        else
            r = nc_error_set(err, EEXIST,
                             "group '%s' conflicts with the group '%s' (folders are unique "
                             "ignoring case)",
                             g->folder, old.folder);
        store_group_release(&old);
        return r;
    }
    if ((r = check_main(s, g, 0, err)) < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "INSERT INTO groups (folder, name, \"trigger\", requires_trigger, is_main,"
                      " image, added_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, g->folder) || store_bind_text(st, 2, g->name ? g->name : "") ||
        store_bind_text(st, 3, g->trigger ? g->trigger : "") ||
        store_bind_int(st, 4, g->requires_trigger) || store_bind_int(st, 5, g->is_main) ||
        store_bind_text(st, 6, g->image ? g->image : "") ||
        store_bind_int(st, 7, g->added_ms ? g->added_ms : (int64_t)wall_ms()))
        return store_fail(s, err, "add group '%s'", g->folder);
    r = store_step(s, st, err, "add group '%s'", g->folder);
    return r < 0 ? r : 0;
}

int store_group_add(store *s, const store_group *g, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, group_add(s, g, err), err);
}

int store_group_get(store *s, const char *folder, store_group *ret, nc_error **err)
{
    store_group g = {0};
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    r = store_tx_end(s, group_exact(s, folder, &g, err), err);
    if (r < 0) {
        store_group_release(&g);
        return r;
    }
    *ret = g;
    return 0;
}

static int group_list(store *s, store_group **ret, size_t *n, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT " GROUP_COLS " FROM groups ORDER BY folder, id", &st, err);
    if (r < 0)
        return r;
    while ((r = store_step(s, st, err, "list groups")) == 1) {
        *ret = xreallocarray(*ret, *n + 1, sizeof(**ret));
        read_group(st, &(*ret)[(*n)++]);
    }
    return r;
}

int store_group_list(store *s, store_group **ret, size_t *n, nc_error **err)
{
    store_group *v = NULL;
    size_t len = 0;
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    r = store_tx_end(s, group_list(s, &v, &len, err), err);
    if (r < 0) {
        store_groups_free(v, len);
        return r;
    }
    *ret = v;
    *n = len;
    return 0;
}

static int group_update(store *s, const store_group *g, nc_error **err)
{
    int64_t id;
    int r = store_group_id(s, g->folder, &id, err);
    if (r < 0)
        return r;
    if ((r = check_main(s, g, id, err)) < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "UPDATE groups SET name = ?1, \"trigger\" = ?2, requires_trigger = ?3,"
                      " is_main = ?4, image = ?5 WHERE id = ?6",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, g->name ? g->name : "") ||
        store_bind_text(st, 2, g->trigger ? g->trigger : "") ||
        store_bind_int(st, 3, g->requires_trigger) || store_bind_int(st, 4, g->is_main) ||
        store_bind_text(st, 5, g->image ? g->image : "") || store_bind_int(st, 6, id))
        return store_fail(s, err, "update group '%s'", g->folder);
    r = store_step(s, st, err, "update group '%s'", g->folder);
    return r < 0 ? r : 0;
}

int store_group_update(store *s, const store_group *g, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, group_update(s, g, err), err);
}

static int group_remove(store *s, const char *folder, nc_error **err)
{
    int64_t id;
    int r = store_group_id(s, folder, &id, err);
    if (r < 0)
        return r;
    /* Foreign keys cascade to chats, messages (and their outbox rows), sessions and runs. */
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    if ((r = store_prepare(s, "DELETE FROM groups WHERE id = ?1", &st, err)) < 0)
        return r;
    if (store_bind_int(st, 1, id))
        return store_fail(s, err, "remove group '%s'", folder);
    r = store_step(s, st, err, "remove group '%s'", folder);
    return r < 0 ? r : 0;
}

int store_group_remove(store *s, const char *folder, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, group_remove(s, folder, err), err);
}

void store_group_release(store_group *g)
{
    if (!g)
        return;
    free(g->folder);
    free(g->name);
    free(g->trigger);
    free(g->image);
    *g = (store_group){0};
}

void store_groups_free(store_group *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_group_release(&v[i]);
    free(v);
}

/* ---- chats ---- */

static int chat_map(store *s, const char *jid, const char *folder, nc_error **err)
{
    if (!jid || !*jid)
        return nc_error_set(err, EINVAL, "chat jid is missing");
    int64_t id;
    int r = store_group_id(s, folder, &id, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "INSERT INTO chats (jid, group_id, added_ms) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT (jid) DO UPDATE SET group_id = excluded.group_id",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, jid) || store_bind_int(st, 2, id) ||
        store_bind_int(st, 3, (int64_t)wall_ms()))
        return store_fail(s, err, "map chat '%s' to group '%s'", jid, folder);
    r = store_step(s, st, err, "map chat '%s' to group '%s'", jid, folder);
    return r < 0 ? r : 0;
}

int store_chat_map(store *s, const char *jid, const char *folder, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, chat_map(s, jid, folder, err), err);
}

static int chat_group(store *s, const char *jid, char **folder, nc_error **err)
{
    if (!jid)
        return nc_error_set(err, EINVAL, "chat jid is missing");
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "SELECT g.folder FROM chats c JOIN groups g ON g.id = c.group_id"
                          " WHERE c.jid = ?1",
                          &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, jid))
        return store_fail(s, err, "look up chat '%s'", jid);
    if ((r = store_step(s, st, err, "look up chat '%s'", jid)) < 0)
        return r;
    if (r == 0)
        return nc_error_set(err, ENOENT, "no chat '%s'", jid);
    *folder = store_col_text0(st, 0);
    return 0;
}

int store_chat_group(store *s, const char *jid, char **folder, nc_error **err)
{
    _cleanup_free_ char *f = NULL;
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    if ((r = store_tx_end(s, chat_group(s, jid, &f, err), err)) < 0)
        return r;
    *folder = TAKE_PTR(f);
    return 0;
}

/* ---- sessions ---- */

static int session_get(store *s, const char *folder, char **session, nc_error **err)
{
    int64_t id;
    int r = store_group_id(s, folder, &id, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    if ((r = store_prepare(s, "SELECT session_id FROM sessions WHERE group_id = ?1", &st, err)) < 0)
        return r;
    if (store_bind_int(st, 1, id))
        return store_fail(s, err, "read the session of group '%s'", folder);
    if ((r = store_step(s, st, err, "read the session of group '%s'", folder)) < 0)
        return r;
    *session = r ? store_col_text(st, 0) : NULL;
    return 0;
}

int store_session_get(store *s, const char *folder, char **session, nc_error **err)
{
    _cleanup_free_ char *v = NULL;
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    if ((r = store_tx_end(s, session_get(s, folder, &v, err), err)) < 0)
        return r;
    *session = TAKE_PTR(v);
    return 0;
}

static int session_set(store *s, const char *folder, const char *session, nc_error **err)
{
    int64_t id;
    int r = store_group_id(s, folder, &id, err);
    if (r < 0)
        return r;
    bool clear = !session || !*session;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      clear ? "DELETE FROM sessions WHERE group_id = ?1"
                            : "INSERT INTO sessions (group_id, session_id, updated_ms)"
                              " VALUES (?1, ?2, ?3) ON CONFLICT (group_id) DO UPDATE SET"
                              " session_id = excluded.session_id,"
                              " updated_ms = excluded.updated_ms",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, id) ||
        (!clear && (store_bind_text(st, 2, session) || store_bind_int(st, 3, (int64_t)wall_ms()))))
        return store_fail(s, err, "set the session of group '%s'", folder);
    r = store_step(s, st, err, "set the session of group '%s'", folder);
    return r < 0 ? r : 0;
}

int store_session_set(store *s, const char *folder, const char *session, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, session_set(s, folder, session, err), err);
}

/* ---- runs ---- */

static int run_begin(store *s, const char *run_id, const char *folder, int64_t started_ms,
                     nc_error **err)
{
    if (!run_id || !*run_id)
        return nc_error_set(err, EINVAL, "run id is missing");
    int64_t id;
    int r = store_group_id(s, folder, &id, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "INSERT INTO runs (run_id, group_id, state, started_ms)"
                      " VALUES (?1, ?2, 'running', ?3)",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, run_id) || store_bind_int(st, 2, id) ||
        store_bind_int(st, 3, started_ms))
        return store_fail(s, err, "record run '%s'", run_id);
    r = store_step(s, st, err, "record run '%s'", run_id);
    if (r == -EEXIST) {
        nc_error_free(*err);
        *err = NULL;
        return nc_error_set(err, EEXIST, "run '%s' already exists", run_id);
    }
    return r < 0 ? r : 0;
}

int store_run_begin(store *s, const char *run_id, const char *folder, int64_t started_ms,
                    nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, run_begin(s, run_id, folder, started_ms, err), err);
}

static int run_end(store *s, const store_run *run, nc_error **err)
{
    if (!run->run_id || !*run->run_id)
        return nc_error_set(err, EINVAL, "run id is missing");
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "UPDATE runs SET state = 'ended', ended_ms = ?2, outcome = ?3,"
                          " exit_code = ?4, container_id = ?5, log_path = ?6 WHERE run_id = ?1",
                          &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, run->run_id) ||
        store_bind_int(st, 2, run->ended_ms ? run->ended_ms : (int64_t)wall_ms()) ||
        store_bind_text(st, 3, run->outcome) || store_bind_int(st, 4, run->exit_code) ||
        store_bind_text(st, 5, run->container_id) || store_bind_text(st, 6, run->log_path))
        return store_fail(s, err, "end run '%s'", run->run_id);
    if ((r = store_step(s, st, err, "end run '%s'", run->run_id)) < 0)
        return r;
    if (sqlite3_changes(s->db) == 0)
        return nc_error_set(err, ENOENT, "no run '%s'", run->run_id);
    return 0;
}

int store_run_end(store *s, const store_run *run, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, run_end(s, run, err), err);
}

static int run_list(store *s, const char *folder, size_t limit, store_run **ret, size_t *n,
                    nc_error **err)
{
    int64_t id;
    int r = store_group_id(s, folder, &id, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "SELECT r.run_id, g.folder, r.state, r.started_ms, r.ended_ms, r.outcome,"
                      " r.exit_code, r.container_id, r.log_path FROM runs r"
                      " JOIN groups g ON g.id = r.group_id WHERE r.group_id = ?1"
                      " ORDER BY r.started_ms DESC, r.rowid DESC LIMIT ?2",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, id) || store_bind_int(st, 2, store_limit(limit)))
        return store_fail(s, err, "list the runs of group '%s'", folder);
    while ((r = store_step(s, st, err, "list the runs of group '%s'", folder)) == 1) {
        *ret = xreallocarray(*ret, *n + 1, sizeof(**ret));
        (*ret)[(*n)++] = (store_run){
            .run_id = store_col_text0(st, 0),
            .group = store_col_text0(st, 1),
            .state = store_col_text0(st, 2),
            .started_ms = sqlite3_column_int64(st, 3),
            .ended_ms = sqlite3_column_int64(st, 4),
            .outcome = store_col_text(st, 5),
            .exit_code = sqlite3_column_int64(st, 6),
            .container_id = store_col_text(st, 7),
            .log_path = store_col_text(st, 8),
        };
    }
    return r;
}

int store_run_list(store *s, const char *folder, size_t limit, store_run **ret, size_t *n,
                   nc_error **err)
{
    store_run *v = NULL;
    size_t len = 0;
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    r = store_tx_end(s, run_list(s, folder, limit, &v, &len, err), err);
    if (r < 0) {
        store_runs_free(v, len);
        return r;
    }
    *ret = v;
    *n = len;
    return 0;
}

void store_runs_free(store_run *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].run_id);
        free(v[i].group);
        free(v[i].state);
        free(v[i].outcome);
        free(v[i].container_id);
        free(v[i].log_path);
    }
    free(v);
}

/* ---- status ---- */

static int counts(store *s, store_group_counts **ret, size_t *n, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(
        s,
        "SELECT g.folder,"
        " (SELECT count(*) FROM messages WHERE state = 'pending' AND group_id = g.id),"
        " (SELECT count(*) FROM messages WHERE state = 'running' AND group_id = g.id),"
        " (SELECT count(*) FROM messages WHERE state = 'failed' AND group_id = g.id),"
        " (SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message_id"
        "   WHERE o.state = 'pending' AND m.group_id = g.id),"
        " (SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message_id"
        "   WHERE o.state = 'failed' AND m.group_id = g.id)"
        " FROM groups g ORDER BY g.folder, g.id",
        &st, err);
    if (r < 0)
        return r;
    while ((r = store_step(s, st, err, "count messages")) == 1) {
        *ret = xreallocarray(*ret, *n + 1, sizeof(**ret));
        (*ret)[(*n)++] = (store_group_counts){
            .folder = store_col_text0(st, 0),
            .pending = sqlite3_column_int64(st, 1),
            .running = sqlite3_column_int64(st, 2),
            .failed = sqlite3_column_int64(st, 3),
            .undelivered = sqlite3_column_int64(st, 4),
            .undeliverable = sqlite3_column_int64(st, 5),
        };
    }
    return r;
}

int store_counts(store *s, store_group_counts **ret, size_t *n, nc_error **err)
{
    store_group_counts *v = NULL;
    size_t len = 0;
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    r = store_tx_end(s, counts(s, &v, &len, err), err);
    if (r < 0) {
        store_counts_free(v, len);
        return r;
    }
    *ret = v;
    *n = len;
    return 0;
}

void store_counts_free(store_group_counts *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].folder);
    free(v);
}

/* ---- crash recovery ---- */

/* Runs one constant UPDATE and adds the rows it changed to *count. */
static int update_count(store *s, const char *sql, int64_t *count, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, sql, &st, err);
    if (r < 0)
        return r;
    if ((r = store_step(s, st, err, "recover the store")) < 0)
        return r;
    *count += sqlite3_changes64(s->db);
    return 0;
}

static int recover(store *s, store_recovery *rec, nc_error **err)
{
    int r = update_count(s,
                         "UPDATE runs SET state = 'crashed',"
                         " outcome = coalesce(outcome, 'the daemon stopped during the turn')"
                         " WHERE state = 'running'",
                         &rec->runs_crashed, err);
    /* Before the messages go back to pending (which clears their batch): the replies to a
     * batch that was cut are never delivered, the rerun answers the whole batch. */
    if (r >= 0)
        r = update_count(s,
                         "UPDATE outbox SET state = 'superseded' WHERE state = 'pending'"
                         " AND message_id IN (SELECT id FROM messages WHERE direction = 'out'"
                         "  AND reply_to IN (SELECT batch FROM messages WHERE state = 'running'"
                         "   AND batch != 0))",
                         &rec->replies_superseded, err);
    if (r >= 0)
        r = update_count(s,
                         "UPDATE messages SET state = 'pending', batch = 0, run_id = NULL"
                         " WHERE state = 'running'",
                         &rec->messages_requeued, err);
    return r;
}

int store_recover(store *s, store_recovery *ret, nc_error **err)
{
    store_recovery rec = {0};
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    if ((r = store_tx_end(s, recover(s, &rec, err), err)) < 0)
        return r;
    *ret = rec;
    return 0;
}
