/* One agent turn, end to end: prepare the group's folders, launch a verified container
 * (sandbox/launch.h), write the input payload to its stdin and close it, read the results as
 * they stream, enforce the timeouts, then read the exit status and OOM kill, remove the
 * container and write the run log.
 *
 * The hard timeout: with no new result for that long, the container is stopped with a 1 s
 * grace, then killed, and the turn ends as timed out. Only a parsed result resets it (never
 * stderr). It is max(agent.timeout, agent.idle_timeout + 30 s), as in NanoClaw, or exactly
 * turn_request.timeout_ms when that is set (nanocell run --timeout). A timeout after results
 * counts as success, as in NanoClaw, unless one of them was an error result: an error result
 * always fails the turn.
 *
 * Telling the agent to finish (the _close file in its IPC input dir) is the only way the turn
 * ends an agent before the hard timeout, and it happens:
 *   - agent.idle_timeout after the last result with a non-null "result" (NanoClaw's idle
 *     close); an explicit timeout_ms never brings it forward;
 *   - with close_when_idle (a one-shot command), as soon as the agent reports a query complete
 *     (a result with a null "result"), and
 *   - with close_when_idle and no explicit timeout_ms, once the agent has been quiet for
 *     agent.quiet_close (0: never) after a result. An explicit timeout is the user's word on how
 *     long silence may last ("--timeout 60": the whole answer, or a timeout that says so), so
 *     it turns the quiet close off. Quiet means: no byte on stdout or stderr and no file created,
 * renamed or removed in ipc/messages or ipc/tasks (that last is checked when the period ends). Any
 * of these starts the period again, so an agent that is still visibly at work is never told to
 * finish. This is for agents that only report a query complete after _close, such as NanoClaw v1's
 * runner, which would otherwise hold a one-shot turn for the idle timeout. Each close is reported
 * through on_progress and recorded in the run log (why and when).
 *
 * The turn never prints; it reports through callbacks, and its outcome in turn_result. */
#ifndef NC_AGENT_TURN_H
#define NC_AGENT_TURN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/protocol.h"
#include "config.h"
#include "engine/engine.h"

typedef struct turn_callbacks {
    void (*on_result)(const agent_result *r, void *userdata);
    void (*on_progress)(const char *msg, void *userdata);
    void (*on_warning)(const char *msg, void *userdata);
    /* The agent's stderr, up to agent.max_output_size. */
    void (*on_stderr)(const char *data, size_t len, void *userdata);
    /* Once, right before the container is created, or once a pooled one passed its check (the
     * daemon measures its dispatch there). */
    void (*on_launch)(void *userdata);
    void *userdata;
} turn_callbacks;

/* A container launched ahead of its turn (agent/warm.h), for the daemon's warm pool. */
typedef struct turn_warm turn_warm;
struct sandbox_container;

typedef struct turn_request {
    const nc_config *cfg; /* resolved (config_resolve) */
    engine *e;
    const char *group;
    const char *prompt;
    const char *chat_jid;   /* the agent's chatJid; NULL: "local:<group>", the local API's */
    const char *session_id; /* NULL: a new session */
    const char *image;      /* NULL: agent.image */
    uint64_t timeout_ms;    /* 0: the configured timeouts; else this turn's hard timeout */
    bool close_when_idle;
    int cancel_fd;       /* becomes readable when the turn must stop (a signal); -1 for none */
    const char *run_id;  /* NULL: turn_make_run_id() */
    const bool *is_main; /* NULL: the group's [[group]] entry says (the daemon's store says) */
    bool scheduled;      /* a scheduled task's turn: isScheduledTask is sent */
    const char *script;  /* the task's pre-check script (NanoClaw's script gate); NULL: none */
    bool reaped;         /* the caller reaped orphaned containers itself (the daemon, at start):
                          * the turn does not list them again first */
    /* The host path of the group's credential proxy socket (proxy/proxy.h), NULL for none.
     * When set, it is bind-mounted at PROXY_CONTAINER_SOCKET and the container gets the
     * proxy's environment (proxy_container_env: NANOCELL_MODEL_SOCKET, NANOCELL_MODEL =
     * agent.model, HTTPS_PROXY/HTTP_PROXY, ANTHROPIC_BASE_URL and a placeholder
     * ANTHROPIC_API_KEY); never a credential. */
    const char *proxy_socket;
    turn_callbacks cb;
    /* Removing the container once the turn is judged: when set, the turn hands it over
     * (the daemon removes it on another thread, so the group's next turn need not wait) and
     * the run log says "remove=later"; NULL: the turn removes it itself before it returns. */
    void (*remove_later)(struct sandbox_container *c, void *userdata);
    void *remove_userdata;
    /* A pooled container of this group, made by turn_prelaunch() with this run_id: the turn
     * owns it. It is used only when everything it was made from still holds (agent/warm.h);
     * else it is removed and the turn runs cold. NULL: cold. */
    turn_warm *warm;
} turn_request;

typedef enum turn_status {
    TURN_OK,
    TURN_AGENT_ERROR, /* an error result, a non-zero exit, OOM, a timeout with no result */
    TURN_CONFIG,      /* bad group, image or policy */
    TURN_ENGINE,      /* the engine failed */
    TURN_SANDBOX,     /* the sandbox could not be prepared or verified */
    TURN_INTERRUPTED,
} turn_status;

/* How the turn's container came to be. */
typedef enum turn_launch {
    TURN_LAUNCH_COLD,      /* created for the turn */
    TURN_LAUNCH_WARM,      /* a pooled container, verified again and used */
    TURN_LAUNCH_DISCARDED, /* a pooled container failed its check at use: removed, then cold */
} turn_launch;

typedef struct turn_result {
    turn_status status;
    char *message; /* why, when status is not TURN_OK */
    int64_t exit_code;
    bool oom_killed;
    bool timed_out;
    uint64_t results;
    uint64_t error_results;
    char *session_id; /* the last newSessionId */
    char *container_id;
    char *log_path; /* the run log, when it was written */
    turn_launch launch;
    char *discarded; /* why the pooled container was not used (TURN_LAUNCH_DISCARDED) */
} turn_result;

/* The timeouts a request gets (above), in ms; quiet_ms is 0 when the quiet close is off. */
typedef struct turn_timeouts {
    uint64_t hard_ms;
    uint64_t idle_ms;
    uint64_t quiet_ms;
} turn_timeouts;
turn_timeouts turn_compute_timeouts(const turn_request *req);

void turn_run(const turn_request *req, turn_result *res);
/* Launches the container a turn of req->group would get, up to the agent blocked on its stdin,
 * for a later turn_run() (req->warm). req->prompt, session_id, chat_jid, timeouts and callbacks
 * but on_warning are unused; req->run_id names it. The group's folders must exist already (a
 * turn made them): they are not prepared here, since ipc/input may belong to a running turn. */
int turn_prelaunch(const turn_request *req, turn_warm **ret, nc_error **err);
/* Removes a pooled container and frees w. */
void turn_warm_discard(engine *e, turn_warm *w);
const char *turn_warm_run_id(const turn_warm *w);
/* Its memory limit in bytes; its container id. */
uint64_t turn_warm_memory(const turn_warm *w);
const char *turn_warm_container_id(const turn_warm *w);
/* A new run id: the UTC time and 16 random bits ("20261123T101500-3fa2"). Allocated. */
char *turn_make_run_id(void);
/* The line quoted from the tail of an agent's stderr (tail[0..len), any bytes) when it exits
 * non-zero: the last line that is not blank, without surrounding whitespace. Control characters
 * (tab included), DEL, C1 controls and bytes that are not valid UTF-8 each become '?'
 * (util/termsafe.h), so the agent cannot write escape sequences to the user's terminal. NULL
 * when there is no such line; free() it. */
char *turn_stderr_line(const char *tail, size_t len);
void turn_result_release(turn_result *res);

#endif
