/* Waiting for a container to exit, registered before it starts.
 *
 * engine_wait_begin() sends POST /containers/{id}/wait?condition=... on its own connection and
 * returns once the reply headers are in: the engine flushes them after it has registered the
 * waiter, so a start issued afterwards cannot race past it.
 *
 * engine_wait_end() then waits for the body {"StatusCode":N,"Error":...}. Two cases never
 * deliver it: Podman up to 5.8 can miss a fast exit on next-exit (podman#28514), and Docker
 * does not wake a next-exit waiter when start fails. So after fallback_ms without a reply the
 * container's state is polled as well, and whichever answers first wins. */
#ifndef NC_ENGINE_WAIT_H
#define NC_ENGINE_WAIT_H

#include <stdint.h>

#include "engine/engine.h"

typedef struct engine_wait engine_wait;

/* condition: "next-exit", "not-running" or "removed". */
int engine_wait_begin(engine *e, const char *id, const char *condition, engine_wait **ret,
                      nc_error **err);
/* Returns 0 with the exit status in *ret_code, -ETIMEDOUT (err set) when the container is
 * still running after timeout_ms, or another negative errno. */
int engine_wait_end(engine *e, engine_wait *w, long timeout_ms, long fallback_ms, int64_t *ret_code,
                    nc_error **err);
void engine_wait_free(engine_wait *w);
NC_DEFINE_CLEANUP(engine_wait *, engine_wait_free)
#define _cleanup_wait_ _cleanup_(engine_wait_freep)

/* Parses the wait reply body. An "Error" with a message is an error. */
int engine_parse_wait_reply(const char *body, size_t len, int64_t *ret_code, nc_error **err);

#endif
