/* The Telegram Bot API's replies, parsed: getUpdates, getMe and the error shape
 * ({"ok":false,"error_code":429,"description":"...","parameters":{"retry_after":5}}). Input is
 * whatever the network gave: any byte string is parsed or refused, never trusted. */
#ifndef NC_CHANNELS_TG_PARSE_H
#define NC_CHANNELS_TG_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Limits on what one reply may make us keep. */
#define TG_MAX_UPDATES 100
#define TG_MAX_TEXT ((size_t)64 * 1024)
#define TG_MAX_NAME 256

typedef enum tg_kind {
    TG_NONE,  /* an update without a message (edits, callbacks, ...): only its id counts */
    TG_TEXT,  /* a message with text */
    TG_OTHER, /* a message without text (photo, sticker, voice, ...) */
} tg_kind;

typedef struct tg_update {
    int64_t update_id;
    tg_kind kind;
    int64_t chat_id;
    char *chat_type;  /* "private", "group", "supergroup", "channel"; "" when absent */
    char *chat_title; /* the title, or the private chat's first and last name; "" */
    int64_t from_id;  /* 0 when absent */
    char *from_name;  /* first and last name, or @username; "" */
    bool from_bot;
    int64_t message_id;
    int64_t date; /* Unix seconds */
    char *text;   /* TG_TEXT only; else NULL */
} tg_update;

/* A reply that is not {"ok":true,...}: its error_code, description and retry_after (0: none). */
typedef struct tg_error {
    int64_t code;
    char *description;
    int64_t retry_after;
} tg_error;

/* Parses a getUpdates reply body. {"ok":false,...} is -EREMOTEIO with *fail filled (when fail
 * is not NULL; release it with tg_error_release). An update that is malformed where it matters
 * (no integer update_id) fails the whole reply (-EPROTO); a message that is malformed in its
 * details (a chat without an id) is kept as TG_NONE, so that its update_id still moves the
 * offset past it. */
int tg_parse_updates(const char *body, size_t len, tg_update **ret, size_t *n, tg_error *fail,
                     nc_error **err);
void tg_updates_free(tg_update *v, size_t n);
/* getMe: the bot's username (allocated). */
int tg_parse_me(const char *body, size_t len, char **username, tg_error *fail, nc_error **err);
/* Any method's reply: 0 for ok:true, -EREMOTEIO with *fail for ok:false, -EPROTO otherwise. */
int tg_parse_ok(const char *body, size_t len, tg_error *fail, nc_error **err);
void tg_error_release(tg_error *e);

/* Whether text mentions @username (case-insensitive, not inside a longer name). */
bool tg_mentions(const char *text, const char *username);

#endif
