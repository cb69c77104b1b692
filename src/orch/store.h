/* The daemon's durable state: one SQLite database (data_dir/nanocell.db).
 *
 * WAL, a busy timeout, foreign keys on, prepared statements only. The schema is migrated by
 * numbered steps recorded in schema_version; a database whose version is newer than this
 * build's is refused with a clear message and never modified. The database file and its
 * directory must not be writable by group or others (refused), and the file is created 0600.
 *
 * One connection, behind the store's own mutex: every public function is one transaction, so
 * any thread may call any function. Functions return 0 or a negative errno-style value with
 * *err set: -ENOENT for a missing group or message, -EEXIST for a duplicate (a group folder
 * that differs only in case, a second main group), -EINVAL for a bad value (the message names
 * the field), -ENOSPC for a full disk, -EIO for any other SQLite failure (the message quotes
 * sqlite3_errmsg).
 *
 * Opening refuses, leaving the file as it was: a database from a newer nanocell
 * (-EPROTONOSUPPORT), a file that is not a SQLite database or is corrupt (-EIO), an SQLite
 * database that is not nanocell's (-EINVAL), a database locked by another process (-EBUSY),
 * a file or directory that group or others can write or another user owns (-EACCES, the
 * message says what to run), and a symbolic link in place of the file (-ELOOP). The store
 * holds an exclusive flock() on the file while it is open, so a second store on the same file
 * is refused at once with -EBUSY: another process's (another `nanocell serve`), or a second
 * store_open in the same process (the store is shared between threads, never opened twice).
 *
 * Times are milliseconds since the epoch (wall clock). Message ids are the database's
 * increasing row ids, so "after id X" is "newer than X". */
#ifndef NC_ORCH_STORE_H
#define NC_ORCH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"

#define STORE_SCHEMA_VERSION 3
#define STORE_FILE "nanocell.db"

typedef struct store store;

/* Opens (creating and migrating) data_dir/nanocell.db. */
int store_open(const char *data_dir, store **ret, nc_error **err);
/* Opens the database at an explicit path (tests). */
int store_open_path(const char *path, store **ret, nc_error **err);
void store_close(store *s);
NC_DEFINE_CLEANUP(store *, store_close)
#define _cleanup_store_ _cleanup_(store_closep)
/* The schema version of the open database. */
int store_schema_version(store *s);

/* ---- groups ----
 * folder: [A-Za-z0-9][A-Za-z0-9_-]{0,63}, not "global" (any case), unique ignoring case.
 * Every function that takes a folder matches it exactly (case-sensitive): "Main" does not
 * name the group "main" (the -ENOENT message mentions it).
 * At most one group has is_main. trigger: "" means "@<assistant name>" decided by the caller;
 * requires_trigger is ignored for the main group (it answers everything). image: "" = the
 * configured agent.image. */
typedef struct store_group {
    int64_t id;
    char *folder;
    char *name; /* display name; "" = the folder */
    char *trigger;
    bool requires_trigger;
    bool is_main;
    char *image;
    int64_t added_ms;
} store_group;

int store_group_add(store *s, const store_group *g, nc_error **err);
int store_group_get(store *s, const char *folder, store_group *ret, nc_error **err);
/* All groups, ordered by folder. *ret is an array of *n groups; free with store_groups_free. */
int store_group_list(store *s, store_group **ret, size_t *n, nc_error **err);
/* Replaces name, trigger, requires_trigger, is_main and image of the group g->folder. */
int store_group_update(store *s, const store_group *g, nc_error **err);
/* Removes a group with its chats, sessions, messages, runs and outbox rows. */
int store_group_remove(store *s, const char *folder, nc_error **err);
void store_group_release(store_group *g);
void store_groups_free(store_group *v, size_t n);

/* ---- chats: a channel's conversation, mapped to at most one group ----
 * jid: "local:<folder>", "tg:<chat id>", ... A group may have several chats. Mapping a chat
 * that is already mapped moves it to the new group. */
int store_chat_map(store *s, const char *jid, const char *folder, nc_error **err);
/* The group a chat maps to (allocated), or -ENOENT. */
int store_chat_group(store *s, const char *jid, char **folder, nc_error **err);

/* ---- messages ----
 * Inbound states: "pending" (stored, not yet handed to an agent), "running" (handed to run
 * run_id as part of batch), "done" (its batch's results are stored), "failed" (retries spent;
 * kept, and pending again on store_group_retry), "skipped" (context older than the batch window
 * of a trigger, never sent).
 * Outbound (a reply): state is its outbox row's: "pending", "delivered", "superseded" (stored by
 * a run cut by a crash and never to be delivered: see docs/architecture.md). */
typedef struct store_message {
    int64_t id;
    char *group; /* folder */
    char *chat_jid;
    bool outbound;
    char *sender;
    char *text;
    int64_t time_ms;
    char *state;
    int64_t batch;    /* inbound: the batch it was handed in (0: none) */
    int64_t reply_to; /* outbound: the batch it answers */
    char *run_id;     /* the run that handled (in) or produced (out) it; NULL: none */
    int attempts;     /* inbound: failed turns so far */
    char *error;      /* inbound: why the last try failed; NULL: none */
} store_message;

void store_message_release(store_message *m);
void store_messages_free(store_message *v, size_t n);

/* Stores an inbound message for the group (which must exist) as pending. */
int store_message_add(store *s, const char *folder, const char *chat_jid, const char *sender,
                      const char *text, int64_t time_ms, int64_t *id, nc_error **err);
int store_message_get(store *s, int64_t id, store_message *ret, nc_error **err);
/* Messages of one group (folder NULL: all groups) with id > after_id, oldest first, at most
 * limit (0: no limit). */
int store_message_list(store *s, const char *folder, int64_t after_id, size_t limit,
                       store_message **ret, size_t *n, nc_error **err);
/* The group's pending inbound messages, oldest first, at most limit (0: all). */
int store_pending(store *s, const char *folder, size_t limit, store_message **ret, size_t *n,
                  nc_error **err);
/* Folders of the groups that have pending inbound messages, in the order of their oldest
 * pending message. *folders is NULL-terminated as well (strv_free frees it). */
int store_groups_with_pending(store *s, char ***folders, size_t *n, nc_error **err);

/* Hands the pending messages ids[0..n) to run_id as batch (the id of the batch's last
 * message): pending -> running. -EINVAL when one is not pending, when they are not all of one
 * group, or when batch is not the largest of ids; -ENOENT for an unknown id. */
int store_batch_start(store *s, const int64_t *ids, size_t n, int64_t batch, const char *run_id,
                      nc_error **err);
/* Marks pending messages skipped (context outside a trigger's window). -EINVAL when one is not
 * pending, -ENOENT for an unknown id; then none is changed. */
int store_messages_skip(store *s, const int64_t *ids, size_t n, nc_error **err);
/* The batch's messages: running -> done. -ENOENT when no message has this batch; 0 when they
 * are no longer running (a second call is a no-op). */
int store_batch_done(store *s, int64_t batch, nc_error **err);
/* The batch's messages go back: running -> pending with attempts + 1, or, with failed, to
 * "failed" (attempts + 1 as well), with why as their error. Their batch and run are cleared,
 * and the batch's replies not yet delivered become "superseded" (the next try answers the
 * whole batch again). -ENOENT when no message has this batch; 0 and no change when none of
 * them is running (a batch already done keeps its replies). */
int store_batch_requeue(store *s, int64_t batch, bool failed, const char *why, nc_error **err);
/* The group's failed messages become pending again with attempts 0. Returns how many (>= 0). */
int store_group_retry(store *s, const char *folder, nc_error **err);

/* Stores a reply: an outbound message answering batch, and its outbox row (pending), in one
 * transaction. */
int store_reply_add(store *s, const char *folder, const char *chat_jid, int64_t batch,
                    const char *run_id, const char *text, int64_t time_ms, int64_t *id,
                    nc_error **err);
/* Replies to batch with id > after_id, oldest first. */
int store_replies(store *s, int64_t batch, int64_t after_id, store_message **ret, size_t *n,
                  nc_error **err);
/* Outbox: pending -> delivered. -EALREADY when it was not pending (delivered or superseded):
 * a reply is delivered at most once. */
int store_outbox_delivered(store *s, int64_t message_id, nc_error **err);
/* Pending outbox rows whose chat_jid starts with prefix ("tg:"; NULL or "": all), oldest
 * first, at most limit (0: all). */
int store_outbox_pending(store *s, const char *prefix, size_t limit, store_message **ret, size_t *n,
                         nc_error **err);
/* Records a failed delivery try of a pending reply (the outbox row's attempts + 1 and
 * last_error); it stays pending. -ENOENT / -EALREADY as store_outbox_delivered. */
int store_outbox_failed(store *s, int64_t message_id, const char *why, nc_error **err);

/* ---- sessions: the agent's session id per group ---- */
/* *session is NULL when the group has none. */
int store_session_get(store *s, const char *folder, char **session, nc_error **err);
/* session NULL (or "") clears it. */
int store_session_set(store *s, const char *folder, const char *session, nc_error **err);

/* ---- runs: one row per turn (the run log's metadata) ---- */
typedef struct store_run {
    char *run_id;
    char *group;
    char *state; /* "running", "ended", "crashed" */
    int64_t started_ms;
    int64_t ended_ms;
    char *outcome; /* "success", "timed out with no result", ...; NULL while running */
    int64_t exit_code;
    char *container_id;
    char *log_path;
} store_run;

int store_run_begin(store *s, const char *run_id, const char *folder, int64_t started_ms,
                    nc_error **err);
/* Fills the ending fields of run->run_id (state "ended"): ended_ms (0: now), outcome,
 * exit_code, container_id, log_path. -ENOENT for an unknown run. */
int store_run_end(store *s, const store_run *run, nc_error **err);
/* The group's runs, newest first, at most limit (0: all). */
int store_run_list(store *s, const char *folder, size_t limit, store_run **ret, size_t *n,
                   nc_error **err);
void store_runs_free(store_run *v, size_t n);

/* ---- status ---- */
/* One entry per group, ordered by folder. */
typedef struct store_group_counts {
    char *folder;
    int64_t pending, running, failed; /* inbound messages in each state */
    int64_t undelivered;              /* outbox rows pending */
} store_group_counts;
int store_counts(store *s, store_group_counts **ret, size_t *n, nc_error **err);
void store_counts_free(store_group_counts *v, size_t n);

/* ---- crash recovery (docs/architecture.md), one transaction ----
 * runs "running" -> "crashed"; the undelivered replies of the batches that were cut (their
 * inbound messages still "running") -> "superseded"; inbound "running" -> "pending" (attempts
 * unchanged, batch and run cleared). A batch that was done keeps its undelivered replies: they
 * are its answer and are delivered. Counts are returned for the log. */
typedef struct store_recovery {
    int64_t runs_crashed, replies_superseded, messages_requeued;
} store_recovery;
int store_recover(store *s, store_recovery *ret, nc_error **err);

/* ---- channels (store_channels.c) ---- */
/* A channel's read position (Telegram's next update offset); 0 when none was stored. */
int store_cursor_get(store *s, const char *name, int64_t *value, nc_error **err);
int store_cursor_set(store *s, const char *name, int64_t value, nc_error **err);
/* store_message_add and, in the same transaction, the cursor name set to value: a crash
 * leaves both or neither, so a message is neither lost nor stored twice. */
int store_message_add_cursor(store *s, const char *folder, const char *chat_jid, const char *sender,
                             const char *text, int64_t time_ms, const char *cursor, int64_t value,
                             int64_t *id, nc_error **err);
/* What a channel knows of a chat (seen now): a display name and a kind ("private", "group"...).
 * Kept for chats that are not registered, so that they can be listed and registered. */
int store_chat_seen(store *s, const char *jid, const char *name, const char *kind, nc_error **err);
typedef struct store_chat {
    char *jid;
    char *name;
    char *kind;
    char *group;     /* the group it maps to; NULL: not registered */
    int64_t last_ms; /* when a message was last seen; 0: never */
} store_chat;
/* Every chat that is mapped or was seen, ordered by jid. */
int store_chat_list(store *s, store_chat **ret, size_t *n, nc_error **err);
void store_chats_free(store_chat *v, size_t n);
/* The group's sender allowlist: with no entry every sender is allowed; with entries only they
 * are (NanoClaw's drop mode: others' messages are not stored). */
int store_sender_allow(store *s, const char *folder, const char *sender, nc_error **err);
int store_sender_allowed(store *s, const char *folder, const char *sender, bool *allowed,
                         nc_error **err);
/* Records a webhook request's signature; -EALREADY when it was seen (a replay). Entries older
 * than keep_ms are dropped. */
int store_hook_seen(store *s, const char *hook, const char *signature, int64_t keep_ms,
                    nc_error **err);

/* For tests only: limits the database to pages pages (SQLite keeps at least its current size)
 * on this connection, so that a write needing more fails as on a full disk. A large value lifts
 * the limit. */
int store_test_limit_pages(store *s, int64_t pages, nc_error **err);

#endif
