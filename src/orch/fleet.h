/* Several engines for `nanocell serve` (the config's [[engines]], src/config_engines.c).
 *
 * Each turn is placed on one engine: among those that are up, under their max_containers cap,
 * and carry every label the group's engine_labels asks for, the one the group used last when it
 * is still eligible (a warm container or cached state stays useful there), else the least
 * loaded (running / cap, then running, then the order in the file). When every eligible engine
 * is full the turn waits for a place (its cancel descriptor ends the wait); when none is up, or
 * none satisfies the group's labels, it fails as an engine error and the daemon retries the
 * batch with backoff (nothing is lost).
 *
 * A turn that ends with an engine error marks its engine down. A prober thread reconnects to
 * down engines with backoff (from 0.5 s, doubling, at most 30 s); an engine that answers again
 * first has this install's containers left on it by this daemon's failed turns removed, with
 * orphans of dead owners, and is then used again. Engines start down and are brought up by the
 * prober, so orphans are reaped per engine before any turn lands there.
 *
 * Connections: each engine keeps one handshaken prototype and a few idle connections, as the
 * daemon does for its single engine. Thread-safe: a lock of its own, held only for steps in
 * memory, never across an engine call. */
#ifndef NC_ORCH_FLEET_H
#define NC_ORCH_FLEET_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "engine/engine.h"
#include "util/error.h"
#include "util/json.h"

typedef struct fleet fleet;

/* The engines of cfg (cfg->nengines > 0), not yet connected; starts the prober thread. The
 * addresses, TLS and timeouts are copied. */
int fleet_new(const nc_config *cfg, fleet **ret, nc_error **err);
void fleet_free(fleet *f);

/* Places a turn of group (engine_labels: the group's, NULL for none): waits while every
 * eligible engine is full, until cancel_fd is readable (-ECANCELED). On success *ret_e is a
 * connection of its own and *ret_idx the engine's index, for fleet_release. */
int fleet_acquire(fleet *f, const char *group, char *const *engine_labels, int cancel_fd,
                  engine **ret_e, size_t *ret_idx, bool *ret_reaped, nc_error **err);
/* The turn on engine idx ended; engine_failed: with an engine error, which marks the engine
 * down (why, for status). The connection e is kept for the next turn, or freed. */
void fleet_release(fleet *f, size_t idx, engine *e, bool engine_failed, const char *why);

/* "engines": [{"host", "up", "running", "max_containers", "labels", "turns", "failures",
 * "last_error"}] into an open JSON object. */
void fleet_status_json(fleet *f, nc_jgen *g);
/* Prometheus lines: nanocell_engine_up, nanocell_engine_running, nanocell_engine_turns_total. */
void fleet_metrics(fleet *f, strbuf *out);

#endif
