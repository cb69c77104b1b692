/* nanocell gc: removes this install's orphaned containers, those whose owning nanocell process
 * is gone (crashed, killed, or from before a reboot). --all removes every container of this
 * install, live owner or not. --dry-run lists what would be removed and removes nothing. */
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
    "usage: nanocell gc [-c|--config FILE] [-H|--host URI] [-a|--all] [-n|--dry-run]\n"
    "\n"
    "Removes the containers of this install whose owning nanocell process is gone.\n"
    "\n"
    "  -a, --all      also remove those whose owner still runs (stopping their turns)\n"
    "  -n, --dry-run  list what would be removed, and remove nothing\n"
    "\n"
    "Exits 0 when every removal worked, 1 when one failed, 3 without an engine.\n";

struct gc_stats {
    int failed;
};

/* A container's short id, group and state as gc prints them. They come from the engine and are
 * printed for a person: made safe for the terminal. */
struct shown {
    char *id, *group, *state;
};

static struct shown shown_of(const engine_container_summary *c)
{
    return (struct shown){
        .id = termsafe_str(c->id, strnlen(c->id, 12), 0), /* cut, then safe */
        .group = termsafe_cstr(engine_summary_label(c, NC_LABEL_GROUP) ?: "-", 0),
        .state = termsafe_cstr(c->state ? c->state : "?", 0),
    };
}

static void shown_release(struct shown *s)
{
    free(s->id);
    free(s->group);
    free(s->state);
}

static void report(const engine_container_summary *c, reap_action what, const nc_error *err,
                   void *userdata)
{
    struct gc_stats *s = userdata;
    struct shown sh = shown_of(c);
    const char *id = sh.id, *group = sh.group, *state = sh.state;
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
    shown_release(&sh);
}

/* What reap_orphans would do, without doing it: the same rule (an owner that is not alive, or
 * every container with all). */
static int dry_run(engine *e, const char *install_id, bool all)
{
    _cleanup_free_ char *label = xasprintf(NC_LABEL_INSTALL "=%s", install_id);
    char *labels[] = {label, NULL};
    engine_container_summary *list = NULL;
    size_t n = 0;
    _cleanup_error_ nc_error *err = NULL;
    if (engine_container_list(e, labels, &list, &n, &err) < 0) {
        log_error("list containers of install '%s': %s", install_id, nc_error_msg(err));
        return EXIT_ENGINE;
    }
    int would = 0;
    for (size_t i = 0; i < n; i++) {
        const engine_container_summary *c = &list[i];
        struct shown sh = shown_of(c);
        if (!all && owner_alive(engine_summary_label(c, NC_LABEL_OWNER))) {
            printf("would keep   %s (group %s): its owner is still running\n", sh.id, sh.group);
        } else {
            printf("would remove %s (group %s, %s)\n", sh.id, sh.group, sh.state);
            would++;
        }
        shown_release(&sh);
    }
    engine_container_summaries_free(list, n);
    printf("dry run: would remove %d container%s\n", would, would == 1 ? "" : "s");
    return EXIT_OK;
}

int cmd_gc(int argc, char **argv)
{
    cmd_common common = {0};
    bool all = false, dry = false;
    const cmd_switch sw[] = {{"all", 'a', &all}, {"dry-run", 'n', &dry}};
    int rc = cmd_parse_switches(argc, argv, usage_text, sw, NC_ARRAY_SIZE(sw), &common);
    if (rc != CMD_OPT_HANDLED)
        return rc;
    _cleanup_config_ nc_config *cfg = NULL;
    _cleanup_engine_ engine *e = NULL;
    rc = cmd_connect(&common, &cfg, &e);
    if (rc)
        return rc;
    if (dry)
        return dry_run(e, cfg->install_id, all);
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
