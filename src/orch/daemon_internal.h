/* What the daemon's files share (daemon.c: the dispatcher, signals, open and shutdown;
 * daemon_turn.c: turn threads; daemon_service.c: what channels and the API call). Nothing
 * outside src/orch/daemon*.c includes this. The locking rules are docs/architecture.md's: every
 * field marked (lock) is read and written under nc_daemon.lock, held only for steps in memory. */
#ifndef NC_ORCH_DAEMON_INTERNAL_H
#define NC_ORCH_DAEMON_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/turn.h"
#include "engine/engine.h"
#include "config.h"
#include "orch/api.h"
#include "orch/daemon.h"
#include "orch/fleet.h"
#include "orch/queue.h"
#include "orch/store.h"

/* A configuration with the turns that still use it. Under daemon.lock. */
struct cfg_ref {
    nc_config *cfg;
    unsigned refs;
};

/* One running turn. The fields marked (lock) are shared with the dispatcher under daemon.lock;
 * the others belong to the turn thread until `done`, then to the dispatcher. */
struct slot {
    nc_daemon *d;
    char *group;
    char *run_id;
    char *prompt;
    char *session;     /* sent with the turn; never changes while it runs */
    char *session_now; /* the agent's latest newSessionId, once it differs (turn thread) */
    char *image;       /* NULL: agent.image */
    char *chat;        /* the first batch's chat, sent with the turn */
    bool is_main;
    struct cfg_ref *cfg;
    int cancel[2];
    pthread_t thread;
    int64_t batch;      /* (lock) the batch being answered; 0: none (idle or between) */
    int64_t last_batch; /* (lock) the batch answered last, for results after it */
    char *chat_jid;     /* (lock) the chat of the batch */
    bool idle;          /* (lock) the query is complete; follow-ups may be sent */
    bool close_sent;    /* (lock) _close written by the dispatcher */
    bool replied;       /* (lock) a reply was stored for the current batch */
    bool errored;       /* (lock) the current batch got an error result */
    bool done;          /* (lock) the thread has ended */
    bool stale_session; /* an error result said the session is gone */
    char *last_error;   /* the last error result's text */
    uint64_t started_mono;
    uint64_t accepted_us; /* when the first batch's newest message was committed (mono_us); 0:
                           * not known (it came before the daemon started, or long ago) */
    turn_result res;
    turn_warm *warm; /* a pooled container taken for this turn, until the thread hands it on */
    bool had_warm;   /* the turn was given one */
    struct task_slot *task; /* a scheduled task's turn (scheduler.c); NULL: messages */
    struct slot *next;
};

/* The warm pool (src/orch/pool.c): one group's pooled containers. (lock) */
struct pool_group {
    char *group;
    bool is_main;
    char *image;        /* NULL: agent.image */
    uint64_t last_turn; /* mono_ms() of its last turn's start or end */
    uint64_t retry_at;  /* after a failed preparation: not before this */
    turn_warm **ready;
    size_t nready;
    unsigned preparing;
    struct pool_group *next;
};

/* (lock) but the thread's own engine connection. */
struct daemon_pool {
    pthread_t thread;
    bool started;
    bool stop;
    pthread_cond_t wake;
    uint64_t epoch; /* moves on a drain: a container prepared under an older epoch is removed */
    struct pool_group *groups;
    size_t size;       /* ready containers */
    uint64_t memory;   /* the sum of their memory limits */
    turn_warm **trash; /* to remove, by the pool's thread */
    size_t ntrash;
    struct sandbox_container **ended; /* turns' containers to remove, by the pool's thread */
    size_t nended;
    uint64_t hits, misses, discards, drained, expired, made, failed;
};

enum outcome_idx { OUT_OK, OUT_AGENT, OUT_CONFIG, OUT_ENGINE, OUT_SANDBOX, OUT_INTERRUPTED, OUT_N };
extern const char *const daemon_outcome_names[OUT_N];
/* Upper bounds of the turn latency and dispatch latency histograms, in seconds. */
#define NBUCKETS 10
extern const double daemon_latency_buckets[NBUCKETS];
#define NDISPATCH 11
extern const double daemon_dispatch_buckets[NDISPATCH];

struct nc_daemon {
    char *config_path;
    char *host;
    char *api_path;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint64_t gen;        /* (lock) the change counter */
    struct cfg_ref *cfg; /* (lock) the configuration in force */
    store *st;
    char *engine_uri;   /* the engine found at start; every turn connects to it */
    queue *q;           /* (lock) */
    struct slot *slots; /* (lock) */
    char **dirty;       /* (lock) groups whose messages the dispatcher must look at */
    bool stopping;      /* (lock) */
    int wake_fd, sig_fd;
    int api_fd;
    api_server *api;
    struct channels *channels; /* src/channels/: set before any API client, stopped last */
    int tcp_fd;                /* api.tcp_listen's socket until api_start_hooks owns it; -1 */
    api_server *api_tcp;       /* the TCP listener (webhooks only), or NULL */
    /* metrics (lock) */
    uint64_t turns[OUT_N];
    uint64_t latency_count[NBUCKETS + 1];
    double latency_sum;
    uint64_t engine_errors;
    uint64_t dispatch_count[NDISPATCH + 1];
    double dispatch_sum;
    bool reaped; /* orphans were reaped at start: turns need not list them again */
    /* The credential proxy (proxy/proxy.h), one for all groups, with a socket per group made at
     * its first turn; NULL when no key is configured when the daemon starts. */
    struct proxy *px;
    /* (lock) the newest messages the API accepted and when (mono_us), a ring: a turn's
     * dispatch latency is measured from its batch's message being committed */
    struct {
        int64_t id;
        uint64_t us;
    } accepted[256];
    size_t naccepted;
    engine *engines[16]; /* (lock) idle connections to engine_uri, for the next turns */
    engine *proto;       /* (lock) an engine checked by a handshake: engine_dup() makes a turn's
                          * connection from it with no round trip; NULL after an engine error */
    size_t nengines;     /* (lock) */
    engine_endpoint engine_ep; /* the engine found at start, TLS included (a context's files
                                * are not found again from its uri); set before any thread */
    fleet *fleet;              /* [[engines]] (serve without --host): turns go through it, and
                                * engine_uri, engines[] and proto stay unused; NULL: one engine */
    struct daemon_pool pool;
    struct ipc_watcher *ipc; /* the IPC watcher's thread (daemon_ipc.c) */
    struct scheduler *sched; /* (lock) scheduled tasks queued or running (scheduler.c) */
};

/* daemon_ipc.c: the IPC watcher's side in the daemon (acting on requests, the snapshots). */
int daemon_ipc_start(nc_daemon *d, nc_error **err);
/* Writes current_tasks.json (and available_groups.json) into the group's ipc/ (NULL: every
 * group's), atomically. Never fails: a write that fails is logged. */
void daemon_ipc_snapshots(nc_daemon *d, const char *group);
/* The same for every group, written by the IPC watcher's thread soon after (the caller does
 * not wait); a group's turn that starts before that writes its own first. Any thread. */
void daemon_ipc_snapshots_later(nc_daemon *d);
/* A new task id, "task-<ms>-<6 random base36>" as NanoClaw makes them. Allocated. */
char *daemon_task_new_id(void);

/* Wakes the dispatcher (its eventfd). Any thread. */
void daemon_wake(nc_daemon *d);
/* A new connection to the daemon's one engine (not the fleet's): a copy of the connection
 * checked by a handshake when there is one (no round trip), else one opened to the engine found
 * at start with its TLS settings (a context's files are not found again from its uri), or by
 * discovery, which then becomes the checked one. NULL with *err. Any thread; takes the lock. */
engine *daemon_engine_open(nc_daemon *d, const nc_config *cfg, nc_error **err);
/* Moves the change counter and wakes its waiters; the caller holds the lock. */
void daemon_changed_locked(nc_daemon *d);
/* The dispatcher looks at the group's messages on its next round; the caller holds the lock. */
void daemon_mark_dirty_locked(nc_daemon *d, const char *group);
/* A reference to the configuration in force, and its release; the caller holds the lock. */
struct cfg_ref *daemon_cfg_take_locked(nc_daemon *d);
void daemon_cfg_drop_locked(struct cfg_ref *r);

/* daemon_turn.c: a turn thread's body (pthread_create with a struct slot), the settling of a
 * turn whose thread ended (the dispatcher, after `done`), and a slot's release. */
void *daemon_turn_main(void *slot);
void daemon_turn_finish(nc_daemon *d, struct slot *s, uint64_t now);
void daemon_slot_free(struct slot *s);

/* pool.c: the warm pool (docs/architecture.md). Start and stop (stop removes every pooled
 * container and joins the thread); take a group's pooled container for a turn that starts now
 * (NULL: none; the group counts as active either way); a turn of the group ended; drain (a
 * reload: every pooled container is removed); give one back unused (it is removed); the turn's
 * verdict on the one it was given; status and metrics. All _locked calls hold daemon.lock. */
void daemon_pool_start(nc_daemon *d);
void daemon_pool_stop(nc_daemon *d);
turn_warm *daemon_pool_take_locked(nc_daemon *d, const nc_config *cfg, const char *group,
                                   bool is_main, const char *image);
void daemon_pool_turn_ended_locked(nc_daemon *d, const char *group);
void daemon_pool_drain_locked(nc_daemon *d, const char *why);
void daemon_pool_trash_locked(nc_daemon *d, turn_warm *w);
/* The group was removed from the store: its pooled containers go. */
void daemon_pool_forget_locked(nc_daemon *d, const char *group);
/* A turn's container, judged: the pool's thread removes it (turn_request.remove_later). Any
 * thread; takes the lock itself. */
void daemon_pool_remove_later(struct sandbox_container *c, void *daemon);
void daemon_pool_verdict_locked(nc_daemon *d, const struct slot *s);
void daemon_pool_status_json_locked(nc_daemon *d, struct nc_jgen *g);
void daemon_pool_metrics_locked(nc_daemon *d, strbuf *out);

#endif
