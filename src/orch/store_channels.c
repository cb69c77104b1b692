/* The store's part for channels (src/channels/): cursors, chat metadata, sender allowlists and
 * the webhook signatures seen. One transaction per public function, as everywhere in the store. */
#include "orch/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

int store_cursor_put(store *s, const char *name, int64_t value, nc_error **err)
{
    if (!name || !*name)
        return nc_error_set(err, EINVAL, "cursor name is missing");
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r =
        store_prepare(s,
                      "INSERT INTO channel_cursors (name, value, updated_ms) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT (name) DO UPDATE SET value = ?2, updated_ms = ?3",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, name) || store_bind_int(st, 2, value) ||
        store_bind_int(st, 3, (int64_t)wall_ms()))
        return store_fail(s, err, "set cursor '%s'", name);
    r = store_step(s, st, err, "set cursor '%s'", name);
    return r < 0 ? r : 0;
}

int store_cursor_set(store *s, const char *name, int64_t value, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, store_cursor_put(s, name, value, err), err);
}

static int cursor_get(store *s, const char *name, int64_t *value, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT value FROM channel_cursors WHERE name = ?1", &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, name))
        return store_fail(s, err, "read cursor '%s'", name);
    if ((r = store_step(s, st, err, "read cursor '%s'", name)) < 0)
        return r;
    *value = r ? sqlite3_column_int64(st, 0) : 0;
    return 0;
}

int store_cursor_get(store *s, const char *name, int64_t *value, nc_error **err)
{
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    return store_tx_end(s, cursor_get(s, name, value, err), err);
}

static int chat_seen(store *s, const char *jid, const char *name, const char *kind, nc_error **err)
{
    if (!jid || !*jid)
        return nc_error_set(err, EINVAL, "chat jid is missing");
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "INSERT INTO chat_meta (jid, name, kind, last_ms) VALUES (?1, ?2, ?3, ?4)"
                          " ON CONFLICT (jid) DO UPDATE SET name = ?2, kind = ?3, last_ms = ?4",
                          &st, err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, jid) || store_bind_text(st, 2, name ? name : "") ||
        store_bind_text(st, 3, kind ? kind : "") || store_bind_int(st, 4, (int64_t)wall_ms()))
        return store_fail(s, err, "record chat '%s'", jid);
    r = store_step(s, st, err, "record chat '%s'", jid);
    return r < 0 ? r : 0;
}

int store_chat_seen(store *s, const char *jid, const char *name, const char *kind, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, chat_seen(s, jid, name, kind, err), err);
}

static int chat_list(store *s, store_chat **ret, size_t *n, nc_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r =
        store_prepare(s,
                      "SELECT j.jid, coalesce(m.name, ''), coalesce(m.kind, ''), g.folder,"
                      " coalesce(m.last_ms, 0) FROM"
                      " (SELECT jid FROM chats UNION SELECT jid FROM chat_meta) j"
                      " LEFT JOIN chat_meta m ON m.jid = j.jid LEFT JOIN chats c ON c.jid = j.jid"
                      " LEFT JOIN groups g ON g.id = c.group_id ORDER BY j.jid",
                      &st, err);
    if (r < 0)
        return r;
    while ((r = store_step(s, st, err, "list chats")) == 1) {
        *ret = xreallocarray(*ret, *n + 1, sizeof(**ret));
        (*ret)[(*n)++] = (store_chat){
            .jid = store_col_text0(st, 0),
            .name = store_col_text0(st, 1),
            .kind = store_col_text0(st, 2),
            .group = store_col_text(st, 3),
            .last_ms = sqlite3_column_int64(st, 4),
        };
    }
    return r;
}

int store_chat_list(store *s, store_chat **ret, size_t *n, nc_error **err)
{
    store_chat *v = NULL;
    size_t len = 0;
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    r = store_tx_end(s, chat_list(s, &v, &len, err), err);
    if (r < 0) {
        store_chats_free(v, len);
        return r;
    }
    *ret = v;
    *n = len;
    return 0;
}

void store_chats_free(store_chat *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].jid);
        free(v[i].name);
        free(v[i].kind);
        free(v[i].group);
    }
    free(v);
}

static int sender_allow(store *s, const char *folder, const char *sender, nc_error **err)
{
    if (!sender || !*sender)
        return nc_error_set(err, EINVAL, "sender is missing");
    int64_t gid;
    int r = store_group_id(s, folder, &gid, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s, "INSERT OR IGNORE INTO sender_allow (group_id, sender) VALUES (?1, ?2)",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, gid) || store_bind_text(st, 2, sender))
        return store_fail(s, err, "allow sender '%s' in group '%s'", sender, folder);
    r = store_step(s, st, err, "allow sender '%s' in group '%s'", sender, folder);
    return r < 0 ? r : 0;
}

int store_sender_allow(store *s, const char *folder, const char *sender, nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, sender_allow(s, folder, sender, err), err);
}

static int sender_allowed(store *s, const char *folder, const char *sender, bool *allowed,
                          nc_error **err)
{
    int64_t gid;
    int r = store_group_id(s, folder, &gid, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s,
                      "SELECT count(*), coalesce(sum(sender = ?2), 0) FROM sender_allow"
                      " WHERE group_id = ?1",
                      &st, err);
    if (r < 0)
        return r;
    if (store_bind_int(st, 1, gid) || store_bind_text(st, 2, sender ? sender : ""))
        return store_fail(s, err, "read the allowlist of group '%s'", folder);
    if ((r = store_step(s, st, err, "read the allowlist of group '%s'", folder)) < 0)
        return r;
    *allowed = sqlite3_column_int64(st, 0) == 0 || sqlite3_column_int64(st, 1) > 0;
    return 0;
}

int store_sender_allowed(store *s, const char *folder, const char *sender, bool *allowed,
                         nc_error **err)
{
    int r = store_tx_begin(s, false, err);
    if (r < 0)
        return r;
    return store_tx_end(s, sender_allowed(s, folder, sender, allowed, err), err);
}

static int hook_seen(store *s, const char *hook, const char *signature, int64_t keep_ms,
                     nc_error **err)
{
    int64_t now = (int64_t)wall_ms();
    _cleanup_stmt_ sqlite3_stmt *del = NULL;
    int r = store_prepare(s, "DELETE FROM hook_seen WHERE seen_ms < ?1", &del, err);
    if (r < 0)
        return r;
    if (store_bind_int(del, 1, now - keep_ms))
        return store_fail(s, err, "prune webhook signatures");
    if ((r = store_step(s, del, err, "prune webhook signatures")) < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(
        s, "INSERT OR IGNORE INTO hook_seen (hook, signature, seen_ms) VALUES (?1, ?2, ?3)", &st,
        err);
    if (r < 0)
        return r;
    if (store_bind_text(st, 1, hook) || store_bind_text(st, 2, signature) ||
        store_bind_int(st, 3, now))
        return store_fail(s, err, "record a signature of hook '%s'", hook);
    if ((r = store_step(s, st, err, "record a signature of hook '%s'", hook)) < 0)
        return r;
    if (sqlite3_changes(s->db) == 0)
        return nc_error_set(err, EALREADY, "hook '%s': this request was already received", hook);
    return 0;
}

int store_hook_seen(store *s, const char *hook, const char *signature, int64_t keep_ms,
                    nc_error **err)
{
    int r = store_tx_begin(s, true, err);
    if (r < 0)
        return r;
    return store_tx_end(s, hook_seen(s, hook, signature, keep_ms, err), err);
}
