/* nanocell ps: the containers this install owns (by its install label), whatever their state,
 * with their group, run, image, age and whether their owner process still lives. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    "usage: nanocell ps [-c|--config FILE] [-H|--host URI] [-j|--json] [-q|--quiet]\n"
    "\n"
    "Lists the containers that carry this install's label, running or not.\n"
    "\n"
    "  -j, --json     one JSON object per line; \"owner\" is an object (boot_id, pid,\n"
    "                 start_time, alive), or null for a container without an owner label\n"
    "  -q, --quiet    only the container ids (12 characters), one per line\n";

/* The owner label "<boot id>/<pid>/<start time>", split. */
struct owner {
    char *boot_id;
    int64_t pid;
    int64_t start_time;
    bool parsed;
    bool alive;
};

static bool parse_i64(const char *s, size_t n, int64_t *out)
{
    if (!n || n > 20)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - (s[i] - '0')) / 10)
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static struct owner owner_parse(const char *label)
{
    struct owner o = {0};
    if (!label)
        return o;
    o.alive = owner_alive(label);
    const char *a = strchr(label, '/');
    const char *b = a ? strchr(a + 1, '/') : NULL;
    if (b && parse_i64(a + 1, (size_t)(b - a - 1), &o.pid) &&
        parse_i64(b + 1, strlen(b + 1), &o.start_time)) {
        o.boot_id = xstrndup(label, (size_t)(a - label));
        o.parsed = true;
    }
    return o;
}

/* "live pid N", "gone" or "-" for a container without an owner label. */
static char *owner_text(const char *label, const struct owner *o)
{
    if (!label)
        return xstrdup("-");
    return o->alive ? xasprintf("live pid %" PRId64, o->pid) : xstrdup("gone");
}

/* "5 seconds ago", "3 minutes ago", as docker ps shows it. */
static char *created_text(int64_t created)
{
    if (created <= 0)
        return xstrdup("-");
    int64_t ago = (int64_t)time(NULL) - created;
    if (ago < 0)
        ago = 0;
    static const struct {
        int64_t secs;
        const char *unit;
    } units[] = {{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}};
    for (size_t i = 0; i < NC_ARRAY_SIZE(units); i++) {
        int64_t n = ago / units[i].secs;
        if (n >= 1 || units[i].secs == 1)
            return xasprintf("%" PRId64 " %s%s ago", n, units[i].unit, n == 1 ? "" : "s");
    }
    return xstrdup("-");
}

static void print_json(const engine_container_summary *c, const char *label, const struct owner *o)
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
    jgen_key(g, "owner");
    if (!label) {
        jgen_null(g);
    } else {
        jgen_obj_open(g);
        jgen_key(g, "boot_id");
        if (o->parsed)
            jgen_str(g, o->boot_id);
        else
            jgen_null(g);
        jgen_key(g, "pid");
        if (o->parsed)
            jgen_int(g, o->pid);
        else
            jgen_null(g);
        jgen_key(g, "start_time");
        if (o->parsed)
            jgen_int(g, o->start_time);
        else
            jgen_null(g);
        jgen_kv_bool(g, "alive", o->alive);
        jgen_obj_close(g);
    }
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    if (jgen_finish(g, &out, NULL) == 0)
        printf("%s\n", out.buf);
}

int cmd_ps(int argc, char **argv)
{
    cmd_common common = {0};
    bool json = false, quiet = false;
    const cmd_switch sw[] = {{"json", 'j', &json}, {"quiet", 'q', &quiet}};
    int rc = cmd_parse_switches(argc, argv, usage_text, sw, NC_ARRAY_SIZE(sw), &common);
    if (rc != CMD_OPT_HANDLED)
        return rc;
    if (json && quiet) {
        log_error("--json and --quiet exclude each other");
        return EXIT_USAGE;
    }
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
    if (!json && !quiet)
        printf("%-12s  %-16s  %-28s  %-24s  %-8s  %-15s  %-14s  %s\n", "CONTAINER", "GROUP", "RUN",
               "IMAGE", "STATE", "CREATED", "OWNER", "STATUS");
    for (size_t i = 0; i < n; i++) {
        const engine_container_summary *c = &list[i];
        if (quiet) {
            _cleanup_free_ char *id = termsafe_str(c->id, strnlen(c->id, 12), 0);
            printf("%s\n", id);
            continue;
        }
        const char *olabel = engine_summary_label(c, NC_LABEL_OWNER);
        struct owner o = owner_parse(olabel);
        if (json) {
            print_json(c, olabel, &o);
        } else {
            /* Every column comes from the engine: made safe for the terminal, on one line. */
            _cleanup_free_ char *owner_raw = owner_text(olabel, &o);
            _cleanup_free_ char *owner = termsafe_cstr(owner_raw, 0);
            _cleanup_free_ char *created = created_text(c->created);
            _cleanup_free_ char *id = termsafe_str(c->id, strnlen(c->id, 12), 0);
            _cleanup_free_ char *group =
                termsafe_cstr(engine_summary_label(c, NC_LABEL_GROUP) ?: "-", 0);
            _cleanup_free_ char *run =
                termsafe_cstr(engine_summary_label(c, NC_LABEL_RUN) ?: "-", 0);
            _cleanup_free_ char *image = termsafe_cstr(c->image ?: "-", 0);
            _cleanup_free_ char *state = termsafe_cstr(c->state ?: "-", 0);
            _cleanup_free_ char *status = termsafe_cstr(c->status ?: "", 0);
            printf("%-12s  %-16s  %-28s  %-24s  %-8s  %-15s  %-14s  %s\n", id, group, run, image,
                   state, created, owner, status);
        }
        free(o.boot_id);
    }
    engine_container_summaries_free(list, n);
    return EXIT_OK;
}
