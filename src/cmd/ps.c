/* nanocell ps: the containers this install owns (by its install label), whatever their state,
 * with their group, run and whether their owner process still lives. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "orch/owner.h"
#include "util/json.h"
#include "util/log.h"
#include "util/termsafe.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char usage_text[] =
    "usage: nanocell ps [--config FILE] [--host URI] [--json]\n"
    "\n"
    "Lists the containers that carry this install's label, running or not.\n"
    "--json prints one JSON object per line.\n";

/* "live pid N", "gone" or "-" for a container without an owner label. */
static char *owner_text(const char *owner)
{
    if (!owner)
        return xstrdup("-");
    const char *pid = strchr(owner, '/');
    long p = pid ? strtol(pid + 1, NULL, 10) : 0;
    return owner_alive(owner) ? xasprintf("live pid %ld", p) : xstrdup("gone");
}

static void print_json(const engine_container_summary *c, const char *owner)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "id", c->id);
    jgen_kv_str(g, "name", c->name);
    jgen_kv_str(g, "group", engine_summary_label(c, NC_LABEL_GROUP) ?: "");
    jgen_kv_str(g, "run", engine_summary_label(c, NC_LABEL_RUN) ?: "");
    jgen_kv_str(g, "state", c->state ?: "");
    jgen_kv_str(g, "status", c->status ?: "");
    jgen_kv_str(g, "image", c->image ?: "");
    jgen_kv_int(g, "created", c->created);
    jgen_kv_str(g, "owner", owner);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    if (jgen_finish(g, &out, NULL) == 0)
        printf("%s\n", out.buf);
}

int cmd_ps(int argc, char **argv)
{
    cmd_common common = {0};
    bool json = false;
    int rc = cmd_parse_switch(argc, argv, usage_text, "json", &common, &json);
    if (rc != CMD_OPT_HANDLED)
        return rc;
    _cleanup_config_ nc_config *cfg = NULL;
    _cleanup_engine_ engine *e = NULL;
    rc = cmd_connect(&common, &cfg, &e);
    if (rc)
        return rc;
    _cleanup_free_ char *label = xasprintf(NC_LABEL_INSTALL "=%s", cfg->install_id);
    char *labels[] = {label, NULL};
    engine_container_summary *list = NULL;
    size_t n = 0;
    _cleanup_error_ nc_error *err = NULL;
    if (engine_container_list(e, labels, &list, &n, &err) < 0) {
        log_error("list containers: %s", nc_error_msg(err));
        return EXIT_ENGINE;
    }
    if (!json)
        printf("%-12s  %-16s  %-28s  %-8s  %-14s  %s\n", "CONTAINER", "GROUP", "RUN", "STATE",
               "OWNER", "STATUS");
    for (size_t i = 0; i < n; i++) {
        const engine_container_summary *c = &list[i];
        _cleanup_free_ char *owner = owner_text(engine_summary_label(c, NC_LABEL_OWNER));
        if (json) {
            print_json(c, owner);
            continue;
        }
        /* Every column comes from the engine: made safe for the terminal, on one line. */
        _cleanup_free_ char *id = termsafe_str(c->id, strnlen(c->id, 12), 0); /* cut, then safe */
        _cleanup_free_ char *group =
            termsafe_cstr(engine_summary_label(c, NC_LABEL_GROUP) ?: "-", 0);
        _cleanup_free_ char *run = termsafe_cstr(engine_summary_label(c, NC_LABEL_RUN) ?: "-", 0);
        _cleanup_free_ char *state = termsafe_cstr(c->state ?: "-", 0);
        _cleanup_free_ char *status = termsafe_cstr(c->status ?: "", 0);
        printf("%-12s  %-16s  %-28s  %-8s  %-14s  %s\n", id, group, run, state, owner, status);
    }
    engine_container_summaries_free(list, n);
    return EXIT_OK;
}
