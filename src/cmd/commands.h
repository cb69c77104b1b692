/* The subcommands, one file each in src/cmd/. See cmd.h for the calling contract. */
#ifndef NC_CMD_COMMANDS_H
#define NC_CMD_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
