/* nanocell gc: removes this install's orphaned containers, those whose owning nanocell process
 * is gone (crashed, killed, or from before a reboot). --all removes every container of this
 * install, live owner or not. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "orch/owner.h"
#include "util/log.h"
#include "util/termsafe.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char usage_text[] =
    "usage: nanocell gc [--config FILE] [--host URI] [--all]\n"
    "\n"
    "Removes the containers of this install whose owning nanocell process is gone.\n"
    "--all also removes those whose owner still runs (stopping their turns).\n"
    "Exits 0 when every removal worked, 1 when one failed, 3 without an engine.\n";

struct gc_stats {
    int failed;
};

static void report(const engine_container_summary *c, reap_action what, const nc_error *err,
                   void *userdata)
{
    struct gc_stats *s = userdata;
    /* From the engine, printed for a person: made safe for the terminal. */
    _cleanup_free_ char *id = termsafe_str(c->id, strnlen(c->id, 12), 0); /* cut, then safe */
    _cleanup_free_ char *group = termsafe_cstr(engine_summary_label(c, NC_LABEL_GROUP) ?: "-", 0);
    _cleanup_free_ char *state = termsafe_cstr(c->state ? c->state : "?", 0);
    switch (what) {
    case REAP_REMOVED:
        printf("removed %s (group %s, %s)\n", id, group, state);
        break;
    case REAP_KEPT_LIVE_OWNER:
        printf("kept    %s (group %s): its owner is still running\n", id, group);
        break;
    case REAP_FAILED:
        s->failed++;
        log_error("remove container %s: %s", id, nc_error_msg(err));
        break;
    default:
        break;
    }
}

int cmd_gc(int argc, char **argv)
{
    cmd_common common = {0};
    bool all = false;
    int rc = cmd_parse_switch(argc, argv, usage_text, "all", &common, &all);
    if (rc != CMD_OPT_HANDLED)
        return rc;
    _cleanup_config_ nc_config *cfg = NULL;
    _cleanup_engine_ engine *e = NULL;
    rc = cmd_connect(&common, &cfg, &e);
    if (rc)
        return rc;
    struct gc_stats stats = {0};
    _cleanup_error_ nc_error *err = NULL;
    int removed = reap_orphans(e, cfg->install_id, all, report, &stats, &err);
    if (removed < 0) {
        log_error("%s", nc_error_msg(err));
        return EXIT_ENGINE;
    }
    printf("removed %d container%s\n", removed, removed == 1 ? "" : "s");
    return stats.failed ? EXIT_AGENT_ERROR : EXIT_OK;
}
