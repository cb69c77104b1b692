/* nanocell: the command table. Each subcommand lives in src/cmd/<name>.c.
 *
 * The options every command takes (cmd/common.h: -c/--config, -H/--host) may also come before
 * the command, as with docker: `nanocell --host unix:///run/podman/podman.sock doctor`. main
 * hands them on to the command ahead of its own arguments, so the command's parser sees them
 * the same either way (and one given after the command wins). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define NANOCELL_VERSION "0.1.0"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    bool client; /* a client of the daemon: --api, not --config or --host */
};

static const struct command commands[] = {
    {"run", cmd_run, "run one agent turn in a verified, hardened container", false},
    {"doctor", cmd_doctor, "check the configuration and the engine, and report problems", false},
    {"ps", cmd_ps, "list the containers this install owns", false},
    {"gc", cmd_gc, "remove this install's orphaned containers", false},
    {"serve", cmd_serve, "run the daemon: store, queue and the local API", false},
    {"policy", cmd_policy,
     "validate seccomp profiles, mount allowlists and egress policies ('policy check')", false},
    {"send", cmd_send, "send a message to a group's agent through the daemon, print its replies",
     true},
    {"chat", cmd_chat, "talk to a group's agent through the daemon, line by line", true},
    {"groups", cmd_groups, "add, list, show and remove the daemon's groups", true},
    {"messages", cmd_messages, "list the messages the daemon stored, oldest first", true},
    {"status", cmd_status, "show what the daemon is doing", true},
    {"retry", cmd_retry, "try a group's failed messages again", true},
    {"tasks", cmd_tasks, "add, list, show, pause, resume and remove scheduled tasks", true},
    {"audit", cmd_audit, "show the credential proxy's audit log", false},
    {NULL, NULL, NULL, false},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: nanocell [OPTIONS] <command> [options]\n\ncommands:\n");
    for (const struct command *c = commands; c->name; c++)
        fprintf(out, "  %-8s %s\n", c->name, c->summary);
    fprintf(out, "\noptions (before or after the command; the daemon's clients, send to retry,\n"
                 "take --api SOCKET instead of --config and --host):\n"
                 "  -c, --config FILE  the configuration file (default: $NANOCELL_CONFIG,\n"
                 "                     ~/.config/nanocell/config.toml, /etc/nanocell/config.toml)\n"
                 "  -H, --host URI     the engine, unix:///path or tcp:// (beats DOCKER_HOST)\n"
                 "  -h, --help         this text\n"
                 "  -V, --version      the version\n"
                 "\n'nanocell <command> --help' describes a command.\n");
}

/* Whether arg is a global option that takes a value: "--config", "-c", "--host", "-H". The
 * joined forms ("--config=F", "-cF") carry their value and are handed on as one word. */
static bool takes_value(const char *arg)
{
    return strcmp(arg, "--config") == 0 || strcmp(arg, "-c") == 0 || strcmp(arg, "--host") == 0 ||
           strcmp(arg, "-H") == 0;
}

static bool is_global_joined(const char *arg)
{
    return strncmp(arg, "--config=", 9) == 0 || strncmp(arg, "--host=", 7) == 0 ||
           (strncmp(arg, "-c", 2) == 0 && arg[2]) || (strncmp(arg, "-H", 2) == 0 && arg[2]);
}

int main(int argc, char **argv)
{
    int i = 1;
    /* The global options, up to the command. */
    while (i < argc && argv[i][0] == '-') {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("nanocell %s\n", NANOCELL_VERSION);
            return EXIT_OK;
        }
        if (takes_value(a)) {
            if (i + 1 >= argc) {
                fprintf(stderr, "nanocell: option '%s' needs a value\n", a);
                usage(stderr);
                return EXIT_USAGE;
            }
            i += 2;
        } else if (is_global_joined(a)) {
            i++;
        } else {
            fprintf(stderr, "nanocell: unknown option '%s' before the command\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[i];
    if (strcmp(name, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(name, "version") == 0) {
        printf("nanocell %s\n", NANOCELL_VERSION);
        return EXIT_OK;
    }
    for (const struct command *c = commands; c->name; c++) {
        if (strcmp(name, c->name) != 0)
            continue;
        /* The command's argv: its name, the global options, then its own arguments. */
        int nglobal = i - 1;
        if (nglobal && c->client) {
            fprintf(stderr,
                    "nanocell: '%s' before '%s': the daemon's clients take --api SOCKET (or "
                    "$NANOCELL_API), not --config or --host\n",
                    argv[1], name);
            return EXIT_USAGE;
        }
        int cargc = argc - 1;
        char **cargv = xreallocarray(NULL, (size_t)cargc + 1, sizeof(*cargv));
        cargv[0] = argv[i];
        memcpy(cargv + 1, argv + 1, (size_t)nglobal * sizeof(*cargv));
        memcpy(cargv + 1 + nglobal, argv + i + 1, (size_t)(argc - i - 1) * sizeof(*cargv));
        cargv[cargc] = NULL;
        int rc = c->run(cargc, cargv);
        free(cargv);
        return rc;
    }
    fprintf(stderr, "nanocell: unknown command '%s'\n", name);
    usage(stderr);
    return EXIT_USAGE;
}
