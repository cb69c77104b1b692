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
    {"policy", cmd_policy, "validate seccomp profiles and mount allowlists ('policy check')"},
    {"send", cmd_send, "send a message to a group's agent through the daemon, print its replies"},
    {"chat", cmd_chat, "talk to a group's agent through the daemon, line by line"},
    {"groups", cmd_groups, "add, list, show and remove the daemon's groups"},
    {"messages", cmd_messages, "list the messages the daemon stored, oldest first"},
    {"status", cmd_status, "show what the daemon is doing"},
    {"retry", cmd_retry, "try a group's failed messages again"},
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
