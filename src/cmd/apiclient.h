/* The client side of the daemon's local API (src/orch/api.c), shared by the client commands
 * (send, chat, groups, messages, status, retry). Each helper that fails prints why and returns
 * the exit status to use:
 *   EXIT_ENGINE (3)      no daemon answers at the socket, or it went away mid-stream
 *   EXIT_USAGE (2)       the daemon refused the request as bad (a 4xx: bad name, unknown group)
 *   EXIT_AGENT_ERROR (1) the message failed, or the daemon failed (a 5xx)
 * Text that came from the daemon and is printed for a person goes through print_text(). */
#ifndef NC_CMD_APICLIENT_H
#define NC_CMD_APICLIENT_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "engine/http.h"
#include "orch/apievents.h"
#include "util/json.h"

/* The options every client command takes. Put APICLIENT_OPTIONS in the option table and
 * APICLIENT_SHORT in the short option string, and pass each option getopt returns to
 * apiclient_option() before the command's own. */
#define APICLIENT_OPTIONS                                                                          \
    {"api", required_argument, NULL, 'A'},                                                         \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }
#define APICLIENT_SHORT "A:h"

typedef struct apiclient {
    const char *api_flag; /* --api, or NULL */
    char *socket;         /* resolved by apiclient_open */
    http_client *http;
} apiclient;

/* As cmd_option() (src/cmd/common.h): CMD_OPT_OTHER, CMD_OPT_HANDLED, or an exit status. */
int apiclient_option(int o, apiclient *ac, const char *usage);

/* Resolves the socket (--api, else daemon_default_api_socket(), which reads $NANOCELL_API). */
int apiclient_open(apiclient *ac);
void apiclient_close(apiclient *ac);

/* "/v1/groups/<folder><suffix>" with the folder percent-encoded; NULL (printed, exit status in
 * *rc) for a name with a '/', which would address another endpoint. */
char *apiclient_group_path(const char *folder, const char *suffix, int *rc);
/* Percent-encodes s for a URL path segment or query value. Allocated. */
char *apiclient_escape(const char *s);

/* Sends a request (body: JSON text or NULL) and reads the whole reply. A 2xx reply gives 0 and
 * *root (its JSON). Any other reply is printed ("nanocell: what: <the daemon's error>") and
 * gives its exit status, as does no answer. */
int apiclient_call(apiclient *ac, const char *method, const char *target, const char *body,
                   const char *what, nc_json **root);

/* The group send and chat use without --group: the main group if there is one, else the only
 * group; anything else is a usage error that says so. */
int apiclient_default_group(apiclient *ac, const char *flag, char **folder);

/* Posts text to the group and reads its event stream, calling on_event (may be NULL) for each
 * event with the line it came in. Returns the exit status: from the last state event (done 0;
 * failed or skipped 1, with the error printed), 0 after the accepted event when !wait,
 * EXIT_ENGINE when the stream ended without a last state (the daemon stopped or went away), or
 * the failure's. */
typedef void (*apiclient_event_cb)(const api_event *ev, const char *line, size_t len, void *ud);
int apiclient_send(apiclient *ac, const char *folder, const char *text, bool wait,
                   apiclient_event_cb on_event, void *ud);

/* Writes text received from the daemon for a person: control characters (but newline and tab),
 * and C1 controls, are shown escaped (\x1b), so a reply cannot move the cursor, retitle the
 * terminal or hide text. */
void print_text(FILE *f, const char *s);
/* The JSON value v as one line (for --json), re-encoded by the JSON module. */
void print_json_line(FILE *f, const nc_json *v);

#endif
