/* The daemon (nanocell serve): the dispatcher, turn threads, shutdown and crash recovery. See
 * docs/architecture.md for the threads and who owns what.
 *
 * The functions under "service" are what channels and the local API call; each is thread-safe,
 * never blocks on the engine, and never prints. */
#ifndef NC_ORCH_DAEMON_H
#define NC_ORCH_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "orch/store.h"
#include "util/error.h"
#include "util/strbuf.h"

typedef struct nc_daemon nc_daemon;

typedef struct daemon_opts {
    const char *config_path; /* --config, for reloads; NULL: the default search */
    const char *host;        /* --host; NULL: discovery */
    const char *api_socket;  /* --api; NULL: daemon_default_api_socket() */
} daemon_opts;

/* Loads the configuration, opens the store, recovers from a crash, reaps orphans and binds the
 * API socket. Nothing runs until daemon_run. */
int daemon_open(const daemon_opts *o, nc_daemon **ret, nc_error **err);
/* Runs until SIGTERM/SIGINT (then shuts down as the architecture says) and returns 0, or a
 * negative errno when the dispatcher itself failed. */
int daemon_run(nc_daemon *d, nc_error **err);
void daemon_free(nc_daemon *d);

/* $NANOCELL_API, else /run/nanocell/api.sock as root, else $XDG_RUNTIME_DIR/nanocell/api.sock;
 * NULL (with err) when none applies. Allocated. Defined in src/orch/apisock.c (shared by serve
 * and the client commands). */
char *daemon_default_api_socket(nc_error **err);

/* ---- service ---- */

/* The store; valid while the daemon lives. Reads are always allowed; writes that change what
 * the dispatcher must do go through the functions below. */
store *daemon_store(nc_daemon *d);

/* Stores an inbound message for group's chat_jid (NULL: "local:<group>") and wakes the
 * dispatcher. *id is set once the message is committed. -ENOENT for an unknown group,
 * -ESHUTDOWN while shutting down. */
int daemon_post_message(nc_daemon *d, const char *group, const char *chat_jid, const char *sender,
                        const char *text, int64_t *id, nc_error **err);
/* daemon_post_message, with a channel's read position (store_cursor_get) set to value in the
 * same transaction as the message. */
int daemon_post_message_cursor(nc_daemon *d, const char *group, const char *chat_jid,
                               const char *sender, const char *text, const char *cursor,
                               int64_t value, int64_t *id, nc_error **err);
/* The chats a running turn is answering now (not idle), NULL-terminated; NULL when none.
 * strv_free frees it. */
char **daemon_busy_chats(nc_daemon *d);
/* A webhook request for POST /hooks/<name> (src/channels/webhook.h, webhook_receive): checked
 * against the configured hook and stored. */
int daemon_webhook(nc_daemon *d, const char *name, const char *signature, const char *timestamp,
                   const char *body, size_t len, int64_t *id, nc_error **err);
/* The assistant's name in force (agent.assistant_name), allocated. */
char *daemon_assistant_name(nc_daemon *d);
/* Why a message with this text for the group will not start a turn by itself (a group that
 * needs its trigger, and the text does not start with it: the message is context for the next
 * one that does), or NULL when it will. Allocated. */
char *daemon_waits_for_trigger(nc_daemon *d, const char *group, const char *text);
/* A failed batch of the group is tried again now. Returns how many messages (>= 0). */
int daemon_retry(nc_daemon *d, const char *group, nc_error **err);
/* Groups changed in the store (added, updated, removed): the dispatcher reloads them. */
void daemon_groups_changed(nc_daemon *d);

/* The change counter: it moves after every store write the daemon makes (a message, a reply,
 * a state). daemon_wait_change returns the counter once it differs from seen, or after
 * timeout_ms, or at shutdown (then daemon_stopping is true). */
uint64_t daemon_change_gen(nc_daemon *d);
uint64_t daemon_wait_change(nc_daemon *d, uint64_t seen, int timeout_ms);
bool daemon_stopping(nc_daemon *d);

/* The status as JSON members added to an open object: engine, groups (queue state per group:
 * running, idle, waiting, retry count, next retry), running turns, failed batches. */
struct nc_jgen;
void daemon_status_json(nc_daemon *d, struct nc_jgen *g);
/* Prometheus text: nanocell_turns_total{outcome}, nanocell_turn_seconds histogram,
 * nanocell_queue_depth{group}, nanocell_containers_running, nanocell_engine_errors_total. */
void daemon_metrics(nc_daemon *d, strbuf *out);

/* ---- scheduled tasks (src/orch/daemon_tasks.c); the store has them (orch/store_tasks.h) ---- */
struct store_task;
/* Adds a task of t->group: its schedule is checked and its first run computed in orch.timezone;
 * t->id NULL makes a new id, t->chat_jid NULL is "local:<group>", t->context_mode NULL is
 * "isolated". *id is the task's (allocated). -EINVAL for a bad schedule or field, -ENOENT for
 * an unknown group, -EEXIST for an id in use. */
int daemon_task_add(nc_daemon *d, const struct store_task *t, char **id, nc_error **err);
/* Pauses or resumes (a run missed while paused fires once, at once). -ENOENT: no such task. */
int daemon_task_pause(nc_daemon *d, const char *id, bool paused, nc_error **err);
int daemon_task_remove(nc_daemon *d, const char *id, nc_error **err);
/* The instant ms in orch.timezone with its offset ("2026-03-08T03:00:00-04:00"). Allocated. */
char *daemon_task_time(nc_daemon *d, int64_t ms);
/* orch.timezone's zone, as loaded ("Europe/Paris"). */
const char *daemon_timezone(nc_daemon *d);

#endif
