/* nanocell: the command table. Each subcommand lives in src/cmd/<name>.c. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "util/banned.h"

#define NANOCELL_VERSION "0.1.0"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "run one agent turn in a verified, hardened container"},
    {"doctor", cmd_doctor, "check the configuration and the engine, and report problems"},
    {"ps", cmd_ps, "list the containers this install owns"},
    {"gc", cmd_gc, "remove this install's orphaned containers"},
    {"serve", cmd_serve, "run the daemon: store, queue and the local API"},
    {"policy", cmd_policy, "validate seccomp profiles and mount allowlists ('policy check')"},
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: nanocell <command> [options]\n\ncommands:\n");
    for (const struct command *c = commands; c->name; c++)
        fprintf(out, "  %-8s %s\n", c->name, c->summary);
    fprintf(out, "\n'nanocell <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("nanocell %s\n", NANOCELL_VERSION);
        return EXIT_OK;
    }
    for (const struct command *c = commands; c->name; c++)
        if (strcmp(argv[1], c->name) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "nanocell: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
