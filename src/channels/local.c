/* The local channel: the API's unix socket and the clients on it (send, chat). Its messages
 * come in through the API (POST /v1/groups/G/messages, chat local:G) and its replies go out on
 * the stream of the request that posted them (src/orch/apistream.c), so the runner has nothing
 * to poll or deliver; it is listed so that status shows every channel. */
#include "channels/channel.h"

#include <stdlib.h>

#include "util/banned.h"

static int local_open(const nc_config *cfg, struct nc_daemon *d, void **state, nc_error **err)
{
    (void)cfg;
    (void)d;
    (void)err;
    static int present;
    *state = &present;
    return 0;
}

static void local_close(void *state)
{
    (void)state;
}

const channel_ops channel_local_ops = {
    .name = "local",
    .prefix = "local:",
    .open = local_open,
    .close = local_close,
};
