/* The group queue: which group's turn starts next (NanoClaw's GroupQueue rules, without its
 * timers).
 *
 * - At most one turn per group, and at most `cap` turns at once.
 * - A group with work that cannot start (the cap is reached) waits in one FIFO, once.
 * - A group's tasks go before its messages.
 * - A failed turn puts the group in backoff (router_backoff_ms); it is not started again before
 *   its retry time, and it keeps its place in no queue meanwhile.
 *
 * A plain data structure: no locking, no I/O, no clock (the caller passes `now`, monotonic ms).
 * The daemon owns it under its lock (docs/architecture.md). */
#ifndef NC_ORCH_QUEUE_H
#define NC_ORCH_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum queue_kind { QUEUE_NONE, QUEUE_TASK, QUEUE_MESSAGES } queue_kind;

typedef struct queue_group {
    char *folder;
    bool running;      /* a turn runs for the group */
    bool idle;         /* its agent's query is complete: it waits for follow-ups */
    bool waiting;      /* in the FIFO */
    bool messages;     /* it has pending messages to run */
    unsigned tasks;    /* due tasks to run */
    unsigned failures; /* failed turns in a row */
    uint64_t retry_at; /* monotonic ms before which it is not started; 0: none */
} queue_group;

typedef struct queue queue;

queue *queue_new(unsigned cap);
void queue_free(queue *q);
void queue_set_cap(queue *q, unsigned cap);
/* The first retry delay (orch.retry_base); 0: ROUTER_RETRY_BASE_MS. */
void queue_set_retry_base(queue *q, uint64_t ms);
unsigned queue_cap(const queue *q);
unsigned queue_running(const queue *q);

/* The group's entry, created on first use. Valid until queue_forget or queue_free. */
queue_group *queue_group_get(queue *q, const char *folder);
/* The entry, or NULL. */
queue_group *queue_group_find(queue *q, const char *folder);
/* Drops a group that is not running (a removed group). */
void queue_forget(queue *q, const char *folder);

/* The group has messages (or one more due task) to run. It joins the FIFO unless it runs or
 * already waits; a group in backoff waits there until its retry time. */
void queue_add_messages(queue *q, const char *folder);
void queue_add_task(queue *q, const char *folder);

/* The next turn to start, in FIFO order among the waiting groups whose retry time has come:
 * the group is marked running and removed from the FIFO, and the kind says what to run
 * (tasks first). Returns NULL (kind QUEUE_NONE) at the cap or with nothing to start. */
queue_group *queue_next(queue *q, uint64_t now, queue_kind *kind);

/* How a turn ended, for the queue. */
typedef enum queue_outcome {
    QUEUE_OK,        /* resets the failures */
    QUEUE_FAILED,    /* counts; past ROUTER_MAX_RETRIES the batch fails */
    QUEUE_TRANSIENT, /* the engine or host failed, not the batch: backs off like a failure, at
                      * most the last delay, and never fails the batch */
} queue_outcome;

/* A group's turn ended. A failure sets the retry time from router_backoff_ms. Returns true when
 * the failures passed ROUTER_MAX_RETRIES (the batch is to be marked failed; the count starts
 * again). With more work (messages or tasks) the group waits again (after its retry time, if
 * any). */
bool queue_finished(queue *q, const char *folder, queue_outcome how, uint64_t now);

/* The earliest retry time among waiting groups that are in backoff, or 0. */
uint64_t queue_next_retry(const queue *q);
/* How many groups wait in the FIFO; the ith waiting group (0 = next). */
size_t queue_waiting(const queue *q);
const queue_group *queue_waiting_at(const queue *q, size_t i);
/* Every group, for status. */
size_t queue_ngroups(const queue *q);
const queue_group *queue_group_at(const queue *q, size_t i);

#endif
