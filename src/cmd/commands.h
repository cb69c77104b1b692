/* The subcommands, one file each in src/cmd/. See cmd.h for the calling contract. */
#ifndef NC_CMD_COMMANDS_H
#define NC_CMD_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_groups(int argc, char **argv);
int cmd_messages(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_retry(int argc, char **argv);
int cmd_tasks(int argc, char **argv);
int cmd_audit(int argc, char **argv);

#endif
