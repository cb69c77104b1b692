#include "channels/channel.h"

static int wh_open(const nc_config *cfg, struct nc_daemon *d, void **state, nc_error **err)
{
    (void)cfg, (void)d, (void)err;
    *state = NULL;
    return 0;
}

static void wh_close(void *state)
{
    (void)state;
}

const channel_ops channel_webhook_ops = {
    .name = "webhook",
    .prefix = "hook:",
    .open = wh_open,
    .close = wh_close,
};
