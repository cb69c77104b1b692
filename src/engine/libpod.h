/* Podman's own API (/v<libpod version>/libpod/...), for what its Docker-compatible API drops.
 *
 * Podman 4's compat create ignores CgroupnsMode, so a container created there shares the
 * host's cgroup namespace on cgroup v1. Its libpod create takes a SpecGenerator and applies
 * every setting nanocell asks for (sandbox/spec_libpod.c builds it). Create goes through
 * libpod, and so does one inspect, for the OCI runtime the compat inspect does not report:
 * start, attach, wait, inspect and remove work on the container through the compat API as for
 * any other, and the compat inspect reports the rest of what verification reads. */
#ifndef NC_ENGINE_LIBPOD_H
#define NC_ENGINE_LIBPOD_H

#include <stdbool.h>
#include <sys/types.h>

#include "engine/engine.h"

/* Whether e is Podman with a libpod API version nanocell can create containers through
 * (4.0 or newer). */
bool engine_libpod_usable(const engine *e);
/* Whether e's libpod version is at least major.minor. False when e is not Podman. */
bool engine_libpod_at_least(const engine *e, int major, int minor);

/* POST /v<libpod>/libpod/containers/create with a SpecGenerator body (which names the
 * container). Returns the id and the warnings, as engine_container_create does: rootless
 * Podman on cgroup v1 answers 201 with "Resource limits are not supported and ignored on
 * cgroups V1 rootless systems". A name already in use is EEXIST, a missing image ENOENT. */
int engine_libpod_create(engine *e, const char *json_body, char **ret_id, char ***ret_warnings,
                         nc_error **err);

/* GET /v<libpod>/libpod/containers/{id}/json: libpod's own inspect, which reports what the
 * compat one does not, above all OCIRuntime, the runtime Podman runs the container on (the
 * compat inspect says "oci" whatever it is). A missing container is ENOENT. */
int engine_libpod_inspect(engine *e, const char *id, nc_json **ret, nc_error **err);

/* The uid of the engine's service, read from its unix socket (SO_PEERCRED): for a
 * socket-activated one, that of the systemd instance that listens, the same user. ENOTSUP for
 * an engine not reached over a unix socket. */
int engine_service_uid(const engine *e, uid_t *ret, nc_error **err);
/* The same, with the service's gid: the ids rootless Podman's keep-id maps the container user
 * to on the host. */
int engine_service_cred(const engine *e, uid_t *ret_uid, gid_t *ret_gid, nc_error **err);

/* Whether the Podman service behind e runs rootless. On a unix socket this is the service's
 * own uid (SO_PEERCRED; a rootful service is root, socket activation included), with no round
 * trip; otherwise GET /libpod/info (host.security.rootless). */
int engine_libpod_rootless(engine *e, bool *ret, nc_error **err);

#endif
