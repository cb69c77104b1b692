/* The API socket's default path, shared by `serve` and every client command (declared in
 * daemon.h). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "orch/daemon.h"
#include "util/xalloc.h"
#include "util/banned.h"

char *daemon_default_api_socket(nc_error **err)
{
    const char *env = getenv("NANOCELL_API");
    if (env && env[0])
        return xstrdup(env);
    /* root's XDG_RUNTIME_DIR differs between a login shell (/run/user/0) and a systemd
     * service (none): one fixed path lets `nanocell send` in a root shell find the service. */
    if (geteuid() == 0)
        return xstrdup("/run/nanocell/api.sock");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    /* A relative XDG_RUNTIME_DIR is invalid (XDG Base Directory spec) and is ignored. */
    if (xdg && xdg[0] == '/')
        return xasprintf("%s/nanocell/api.sock", xdg);
    nc_error_set(err, ENOENT,
                 "no api socket path: set $NANOCELL_API or $XDG_RUNTIME_DIR, or give --api");
    return NULL;
}
