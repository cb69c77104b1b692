/* What `nanocell doctor` says about the channels' configuration: the Telegram token file (a
 * regular file of this user that only it can read), where the token is sent (https, or plain
 * http only to this host), and each hook's secret (long enough) and url (https, or plain http
 * only to this host). Only reads files; never prints, never puts a secret in a text. */
#ifndef NC_CHANNELS_CHECKS_H
#define NC_CHANNELS_CHECKS_H

#include <stdbool.h>

#include "config.h"

/* The verdicts, as doctor's: all is well, worth a look, the daemon refuses it or it is unsafe. */
typedef enum channel_check_status {
    CHANNEL_CHECK_OK,
    CHANNEL_CHECK_WARN,
    CHANNEL_CHECK_PROBLEM,
} channel_check_status;

typedef void (*channel_check_fn)(void *userdata, channel_check_status status, const char *text);

/* A hook secret shorter than this is weak (a warning); serve refuses one under 16 bytes. */
#define CHANNEL_SECRET_GOOD_LEN 32

/* Calls fn once per verdict, in order. Nothing when no channel is configured. */
void channels_check_config(const nc_config *cfg, channel_check_fn fn, void *userdata);

/* Whether url is plain http:// to a host other than this one (localhost, 127.0.0.0/8, [::1]):
 * what it carries crosses a network in the clear. */
bool channel_url_cleartext_remote(const char *url);

#endif
