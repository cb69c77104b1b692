/* Which nanocell process owns a container, and whether it still lives.
 *
 * Every container nanocell creates carries labels: the install id (two installs on one host
 * never touch each other's containers), the group, the run id, and the owner: the creating
 * process as "<boot id>/<pid>/<start time>". The start time (from /proc/<pid>/stat) tells a live
 * owner from a new process that reused the pid; the boot id tells a container left from before
 * a reboot. A container whose owner is gone is an orphan, and gets reaped. */
#ifndef NC_ORCH_OWNER_H
#define NC_ORCH_OWNER_H

#include <stdbool.h>

#include "engine/container.h"
#include "engine/engine.h"

#define NC_LABEL_INSTALL "nanocell.install"
#define NC_LABEL_GROUP "nanocell.group"
#define NC_LABEL_RUN "nanocell.run"
#define NC_LABEL_OWNER "nanocell.owner"

/* This process as an owner label value. Allocated. */
char *owner_self(void);
/* True when the owner named by the label value is this boot's live process. A malformed or
 * missing value counts as dead. */
bool owner_alive(const char *value);

typedef enum reap_action { REAP_REMOVED, REAP_KEPT_LIVE_OWNER, REAP_FAILED } reap_action;
/* Called once per container considered; err is set for REAP_FAILED. */
typedef void (*reap_cb)(const engine_container_summary *c, reap_action what, const nc_error *err,
                        void *userdata);

/* Removes (force: a running container is killed first) every container of this install whose
 * owner is not alive; with all, every container of this install. Returns the number removed,
 * or a negative errno when the containers could not be listed. */
int reap_orphans(engine *e, const char *install_id, bool all, reap_cb cb, void *userdata,
                 nc_error **err);

#endif
