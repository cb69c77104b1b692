/* Webhooks: other systems talk to a group over signed HTTP ([[hook]] in the configuration).
 *
 * Inbound: POST /hooks/<name> on the local API with a JSON body {"text": "...", "sender"?: "..."}
 * and two headers:
 *   X-Nanocell-Timestamp: Unix seconds, within WEBHOOK_MAX_SKEW_S of now;
 *   X-Nanocell-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the secret>.
 * The timestamp is signed with the body, so a captured request cannot be sent again with a new
 * time; within the window, a signature already seen is refused (a replay). The message is stored
 * for the hook's group with chat "hook:<name>".
 * Outbound: the group's replies to that chat are POSTed to the hook's url with the same two
 * headers (X-Nanocell-Delivery: the reply's id, for the receiver to drop repeats) and the body
 * {"hook", "id", "reply_to", "text", "time"}; 2xx delivers, anything else is retried from the
 * outbox with backoff (Retry-After honoured). */
#ifndef NC_CHANNELS_WEBHOOK_H
#define NC_CHANNELS_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define WEBHOOK_MAX_BODY ((size_t)64 * 1024)
#define WEBHOOK_MAX_SKEW_S 300
#define WEBHOOK_SIG_HEADER "X-Nanocell-Signature"
#define WEBHOOK_TS_HEADER "X-Nanocell-Timestamp"

struct nc_daemon;

/* Checks a request's signature and timestamp (both may be NULL: missing) against secret, at
 * time now (Unix seconds). 0 when good; -EACCES (missing or wrong signature), -ETIME (missing,
 * malformed or stale timestamp). Constant time in the signature. */
int webhook_verify(const char *secret, const char *signature, const char *timestamp, int64_t now,
                   const char *body, size_t len, nc_error **err);
/* The signature header value for body at timestamp: "sha256=<hex>". Allocated. */
char *webhook_sign(const char *secret, int64_t timestamp, const char *body, size_t len);
/* Parses an inbound body: text (required, non-empty) and sender (optional; "" when absent).
 * -EINVAL with the field named. Allocated. */
int webhook_parse_body(const char *body, size_t len, char **text, char **sender, nc_error **err);

/* Handles POST /hooks/<name> for the daemon d (the webhook channel's state, or NULL when no hook
 * is configured): verifies, refuses replays, stores. *id is the stored message. -ENOENT (no
 * such hook, or its group does not exist), -EACCES, -ETIME, -EALREADY (a replay), -EFBIG
 * (over WEBHOOK_MAX_BODY), -EINVAL (the body), or the store's error. */
int webhook_receive(void *state, struct nc_daemon *d, const char *name, const char *signature,
                    const char *timestamp, const char *body, size_t len, int64_t *id,
                    nc_error **err);

#endif
