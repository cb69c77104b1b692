/* Subcommands. Each takes the arguments after its name (argv[0] is the subcommand) and returns
 * the process exit status, following the contract in README.md. Only command files, main and
 * the daemon loop print or choose exit codes. */
#ifndef NC_CMD_CMD_H
#define NC_CMD_CMD_H

/* Exit statuses shared by every command. */
enum {
    EXIT_OK = 0,
    EXIT_AGENT_ERROR = 1, /* the agent reported an error, or a problem was found (doctor) */
    EXIT_USAGE = 2,       /* bad arguments or configuration */
    EXIT_ENGINE = 3,      /* engine unreachable, or the sandbox could not be verified */
};

#endif
