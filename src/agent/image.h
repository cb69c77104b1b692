/* The agent image a turn runs: found on the engine, or pulled when agent.pull allows it.
 *
 * nanocell runs the image the user chose and nothing else: with agent.pull = "never" (the
 * default) a missing image is an error that says how to get it. With "missing", a reference
 * that names a registry ("registry.example:5000/x/y:tag", "localhost:5000/x") is pulled when it
 * is not on the engine; a bare name ("nanocell-agent:latest") never is, since Docker would
 * take it from Docker Hub, which is not necessarily what the user built. */
#ifndef NC_AGENT_IMAGE_H
#define NC_AGENT_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/container.h"
#include "engine/image.h"

#define AGENT_PULL_NEVER "never"
#define AGENT_PULL_MISSING "missing"

/* Whether ref names a registry: its first '/'-separated component holds a '.' or a ':', or is
 * "localhost" (Docker's rule). */
bool agent_image_has_registry(const char *ref);
/* Whether a missing ref would be pulled under pull (agent.pull). */
bool agent_image_pullable(const char *ref, const char *pull);

/* Inspects ref on the engine. A missing image is -ENOENT with a message that says how to get
 * it (or that run will pull it), an invalid reference -EINVAL; other failures are the
 * engine's. */
int agent_image_find(engine *e, const char *ref, const char *pull, engine_image *ret,
                     nc_error **err);
/* agent_image_find, and when the image is missing and pullable, pulls it (reporting progress
 * through cb) and inspects it again. */
int agent_image_ensure(engine *e, const char *ref, const char *pull, uint64_t timeout_ms,
                       engine_pull_progress_cb cb, void *userdata, engine_image *ret,
                       nc_error **err);

#endif
