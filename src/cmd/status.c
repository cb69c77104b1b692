/* nanocell status: what the daemon is doing (engine, queue per group, running turns, failed
 * batches, message counts), from its API. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cmd/apiclient.h"
#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char usage_text[] =
    "usage: nanocell status [--api SOCKET] [--json]\n"
    "\n"
    "Shows the running daemon's state: the engine, each group's queue (running, idle,\n"
    "waiting, retries), running turns, the warm pool (size, memory, hits, misses,\n"
    "discards), failed batches, the channels (connected, unauthorized, last error, last\n"
    "success) and message counts per group.\n"
    "--json prints the daemon's status object on one line.\n"
    "  --api SOCKET the daemon's socket (default: $NANOCELL_API, /run/nanocell/api.sock\n"
    "               as root, else $XDG_RUNTIME_DIR/nanocell/api.sock)\n";

/* A scalar as text (allocated), or NULL for an object or array. */
static char *scalar_text(const nc_json *v)
{
    int64_t i;
    bool b;
    if (json_is_string(v))
        return xstrdup(json_string(v));
    if (json_int(v, &i))
        return xasprintf("%" PRId64, i);
    if (json_bool(v, &b))
        return xstrdup(b ? "yes" : "no");
    if (json_is_null(v))
        return xstrdup("-");
    if (json_is_number(v)) {
        _cleanup_jgen_ nc_jgen *g = jgen_new();
        jgen_value(g, v, false);
        strbuf sb = STRBUF_INIT;
        if (jgen_finish(g, &sb, NULL) == 0)
            return strbuf_detach(&sb, NULL);
        strbuf_release(&sb);
        return xstrdup("?");
    }
    return NULL;
}

/* The status object as indented "key: value" lines; an array of objects gives one line per
 * element ("key=value ..."). The daemon decides the members, so this prints whatever is there. */
static void print_tree(const nc_json *v, int indent)
{
    for (size_t i = 0; i < json_object_len(v); i++) {
        const char *key = json_object_key(v, i);
        const nc_json *val = json_object_value(v, i);
        _cleanup_free_ char *s = scalar_text(val);
        _cleanup_free_ char *head = xasprintf("%*s%s:%s", indent, "", key, s ? " " : "");
        print_text(stdout, head);
        if (s) {
            print_text(stdout, s);
            fputc('\n', stdout);
            continue;
        }
        fputc('\n', stdout);
        if (json_is_object(val)) {
            print_tree(val, indent + 2);
            continue;
        }
        if (json_array_len(val) == 0)
            printf("%*s(none)\n", indent + 2, "");
        for (size_t k = 0; k < json_array_len(val); k++) {
            const nc_json *e = json_array_at(val, k);
            _cleanup_free_ char *es = scalar_text(e);
            printf("%*s", indent + 2, "");
            if (es) {
                print_text(stdout, es);
            } else if (json_is_object(e)) {
                for (size_t m = 0; m < json_object_len(e); m++) {
                    _cleanup_free_ char *ms = scalar_text(json_object_value(e, m));
                    _cleanup_free_ char *kv =
                        xasprintf("%s%s=%s", m ? " " : "", json_object_key(e, m), ms ? ms : "...");
                    print_text(stdout, kv);
                }
            } else {
                fputs("...", stdout);
            }
            fputc('\n', stdout);
        }
    }
}

int cmd_status(int argc, char **argv)
{
    apiclient ac = {0};
    bool json = false;
    static const struct option opts[] = {
        APICLIENT_OPTIONS, {"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, APICLIENT_SHORT "j", opts, NULL)) != -1) {
        int rc = apiclient_option(o, &ac, usage_text);
        if (rc >= 0)
            return rc;
        if (rc == CMD_OPT_HANDLED)
            continue;
        if (o == 'j')
            json = true;
        else
            return cmd_usage_error(usage_text);
    }
    if (optind != argc)
        return cmd_usage_error(usage_text);
    int rc = apiclient_open(&ac);
    if (rc)
        return rc;
    _cleanup_json_ nc_json *root = NULL;
    rc = apiclient_call(&ac, "GET", "/v1/status", NULL, "status", &root);
    if (rc == 0) {
        if (json)
            print_json_line(stdout, root);
        else
            print_tree(root, 0);
    }
    apiclient_close(&ac);
    return rc;
}
