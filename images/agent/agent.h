/* The state one agent process carries from query to query, shared by its modules.
 *
 * Ownership: main.c owns every field and frees them at exit. The other modules borrow it. */
#ifndef NC_AGENT_AGENT_H
#define NC_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>

struct model;

struct agent {
    char *workspace;      /* $NANOCELL_WORKSPACE, default /workspace */
    char *session_id;     /* the input's sessionId, else a fresh random id; never NULL */
    char *group_folder;   /* from the input; "" when absent */
    char *chat_jid;       /* from the input; "" when absent */
    char *assistant_name; /* from the input; "Andy" when absent */
    bool is_main;
    bool is_scheduled;
    struct model *model; /* NULL: scripted mode */
    uint64_t input_us;   /* CLOCK_MONOTONIC (µs) once stdin was read: the `clock` command */
};

#endif
