/* Channels: where messages come from and replies go to (Telegram, webhooks, the local API).
 *
 * A channel is one file that fills a channel_ops. The runner (channels.c) gives each configured
 * channel a receiving thread (when it has receive) and a delivering thread (when it has send),
 * so a channel that is slow, down or rate limited never holds another channel, the dispatcher
 * or the API. The daemon knows only channels_start/stop and the status they report; a channel
 * knows only the daemon's service functions (src/orch/daemon.h) and the store.
 *
 * Inbound: receive() stores messages through daemon_post_message (or
 * daemon_post_message_cursor, which commits the channel's read position with the message), and
 * what it learns of chats through channel_chat_seen().
 * Outbound: the runner reads the store's pending outbox rows whose chat starts with the
 * channel's prefix, oldest first, calls send() for each, and marks it delivered on success. A
 * failure is recorded on the row (store_outbox_failed) and retried after a backoff with jitter;
 * a channel that says how long to wait (Retry-After, Telegram's retry_after) is waited out
 * exactly that long instead: by every chat of the channel, or with limit_per_chat by that chat
 * alone. A failure the other side says is for good (send's error code CHANNEL_PERMANENT: a chat
 * that blocked the bot, a hook's 4xx), or the channels.max_attempts-th failure of a reply, ends
 * it: its row becomes "failed" with the reason (store_outbox_give_up), it is logged and
 * counted, and the chat's later replies go on. While a turn answers one of the channel's
 * chats, typing() is called every CHANNEL_TYPING_MS.
 *
 * Every callback runs on the channel's own threads, never prints (errors go to *err, the runner
 * logs them without the channel's secrets: a channel never puts a secret in an error), and may
 * block at most about a long poll; channel_should_stop() tells it to return early. */
#ifndef NC_CHANNELS_CHANNEL_H
#define NC_CHANNELS_CHANNEL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "orch/store.h"
#include "util/error.h"
#include "util/strbuf.h"

struct nc_daemon;
struct nc_jgen;
typedef struct channel channel;

/* The first retry delay after a failure; it doubles up to CHANNEL_BACKOFF_MAX_MS. */
#define CHANNEL_BACKOFF_BASE_MS 1000
#define CHANNEL_BACKOFF_MAX_MS 60000
/* A retry_after longer than this is cut to it: a hostile or broken server cannot park us. */
#define CHANNEL_RETRY_AFTER_MAX_MS (15 * 60 * 1000)
/* How often typing() is repeated while a turn runs (Telegram shows it for 5 s). */
#define CHANNEL_TYPING_MS 4000
/* Outbox rows read per round. */
#define CHANNEL_OUTBOX_BATCH 32
/* The error code of a send that failed for good: retrying cannot help. */
#define CHANNEL_PERMANENT ENOTRECOVERABLE
/* The error code of a call the other side refused for the channel's credentials (Telegram's 401:
 * a wrong or revoked token). No request of the channel can succeed until the configuration
 * changes, so the channel is marked unauthorized (status, metrics, one error in the log) and
 * waits CHANNEL_UNAUTHORIZED_RETRY_MS between tries, receiving and delivering; replies stay
 * pending (no try counts against channels.max_attempts) and go out once a request succeeds. */
#define CHANNEL_UNAUTHORIZED EKEYREJECTED
#define CHANNEL_UNAUTHORIZED_RETRY_MS (10 * 60 * 1000)

typedef struct channel_ops {
    const char *name;   /* "telegram": status, metrics and logs */
    const char *prefix; /* the chat jids it owns: "tg:" */
    /* A rate limit (channel_retry_after) from send holds only that chat's deliveries (each chat
     * is its own destination: a webhook's receiver), not the channel's. */
    bool limit_per_chat;
    /* Reads the channel's configuration. *state NULL and 0: not configured (the channel does not
     * run). A configuration error fails the daemon's start. */
    int (*open)(const nc_config *cfg, struct nc_daemon *d, void **state, nc_error **err);
    /* One round of receiving (a long poll). 0 on success; negative with *err on failure (set
     * channel_retry_after() first when the server said how long to wait). NULL: no inbound
     * through the runner. */
    int (*receive)(void *state, channel *ch, nc_error **err);
    /* Delivers one stored reply. 0 once the other side accepted it. */
    int (*send)(void *state, channel *ch, const store_message *m, nc_error **err);
    /* The typing indicator for chat_jid, while a turn answers it. NULL: none. */
    int (*typing)(void *state, channel *ch, const char *chat_jid, nc_error **err);
    void (*close)(void *state);
} channel_ops;

/* The channels this build knows, NULL-terminated (channels.c). */
extern const channel_ops *const channel_registry[];

/* ---- for channel implementations ---- */
struct nc_daemon *channel_daemon(channel *ch);
/* True once the daemon stops: a blocking call returns early. */
bool channel_should_stop(channel *ch);
/* The server asked to wait ms before the next request (rate limit). */
void channel_retry_after(channel *ch, uint64_t ms);
/* A server's retry delay in seconds (Retry-After, Telegram's retry_after) as milliseconds for
 * channel_retry_after: 0 for none (0 or negative), cut to CHANNEL_RETRY_AFTER_MAX_MS before it
 * is multiplied, so that no value the server sends can wrap. */
uint64_t channel_retry_after_ms_of(int64_t seconds);
/* The channel is reachable (a request succeeded). */
void channel_connected(channel *ch);
void channel_count_received(channel *ch);
/* Chat metadata: what the channel knows of a chat it saw (a display name, a kind such as
 * "private" or "group"), kept whether or not the chat is registered, so that `nanocell groups
 * chats` can list it for registering. A store failure is logged, never fatal. */
void channel_chat_seen(channel *ch, const char *jid, const char *name, const char *kind);

/* The delay before retry number attempt (1, 2, ...): base * 2^(attempt-1), at most max, with
 * "equal jitter": half of it fixed, half drawn from rnd (any 32-bit value). */
uint64_t channel_backoff_ms(unsigned attempt, uint64_t base, uint64_t max, uint32_t rnd);

/* Whether a reply whose send just failed with code, its attempts-th failure, is given up:
 * code CHANNEL_PERMANENT, or max_attempts (0: no limit) reached. */
bool channel_give_up(int code, int64_t attempts, int64_t max_attempts);

/* ---- for the daemon ---- */
typedef struct channels channels;
/* Opens every configured channel and starts its threads. */
int channels_start(struct nc_daemon *d, const nc_config *cfg, channels **ret, nc_error **err);
/* Stops the threads (a long poll in progress is cut) and frees. NULL is a no-op. */
void channels_stop(channels *cs);
/* "channels": [{name, connected, last_error, last_error_at, last_success_at, failures,
 * retry_in_ms, received, sent, undeliverable}] as a member of an open object. */
void channels_status_json(channels *cs, struct nc_jgen *g);
/* The state of the running channel named name (its open's *state), or NULL. */
void *channels_state(channels *cs, const char *name);
/* nanocell_channel_* metrics, Prometheus text. */
void channels_metrics(channels *cs, strbuf *out);

#endif
