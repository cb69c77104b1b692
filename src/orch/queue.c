#include "orch/queue.h"

#include <string.h>

#include "orch/router.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct queue {
    unsigned cap, running;
    uint64_t retry_base_ms;
    queue_group **groups; /* every known group */
    size_t ngroups;
    queue_group **fifo; /* waiting groups, oldest first */
    size_t nfifo;
};

queue *queue_new(unsigned cap)
{
    queue *q = xnew0(queue);
    q->cap = cap ? cap : 1;
    q->retry_base_ms = ROUTER_RETRY_BASE_MS;
    return q;
}

void queue_free(queue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->ngroups; i++) {
        free(q->groups[i]->folder);
        free(q->groups[i]);
    }
    free(q->groups);
    free(q->fifo);
    free(q);
}

void queue_set_cap(queue *q, unsigned cap)
{
    q->cap = cap ? cap : 1;
}

void queue_set_retry_base(queue *q, uint64_t ms)
{
    q->retry_base_ms = ms ? ms : ROUTER_RETRY_BASE_MS;
}

unsigned queue_cap(const queue *q)
{
    return q->cap;
}

unsigned queue_running(const queue *q)
{
    return q->running;
}

queue_group *queue_group_find(queue *q, const char *folder)
{
    for (size_t i = 0; i < q->ngroups; i++)
        if (strcmp(q->groups[i]->folder, folder) == 0)
            return q->groups[i];
    return NULL;
}

queue_group *queue_group_get(queue *q, const char *folder)
{
    queue_group *g = queue_group_find(q, folder);
    if (g)
        return g;
    g = xnew0(queue_group);
    g->folder = xstrdup(folder);
    q->groups = xreallocarray(q->groups, q->ngroups + 1, sizeof(*q->groups));
    q->groups[q->ngroups++] = g;
    return g;
}

static void fifo_remove(queue *q, queue_group *g)
{
    for (size_t i = 0; i < q->nfifo; i++) {
        if (q->fifo[i] != g)
            continue;
        memmove(q->fifo + i, q->fifo + i + 1, (q->nfifo - i - 1) * sizeof(*q->fifo));
        q->nfifo--;
        break;
    }
    g->waiting = false;
}

static void fifo_push(queue *q, queue_group *g)
{
    if (g->waiting || g->running)
        return;
    q->fifo = xreallocarray(q->fifo, q->nfifo + 1, sizeof(*q->fifo));
    q->fifo[q->nfifo++] = g;
    g->waiting = true;
}

void queue_forget(queue *q, const char *folder)
{
    for (size_t i = 0; i < q->ngroups; i++) {
        queue_group *g = q->groups[i];
        if (strcmp(g->folder, folder) != 0 || g->running)
            continue;
        fifo_remove(q, g);
        memmove(q->groups + i, q->groups + i + 1, (q->ngroups - i - 1) * sizeof(*q->groups));
        q->ngroups--;
        free(g->folder);
        free(g);
        return;
    }
}

void queue_add_messages(queue *q, const char *folder)
{
    queue_group *g = queue_group_get(q, folder);
    g->messages = true;
    fifo_push(q, g);
}

void queue_add_task(queue *q, const char *folder)
{
    queue_group *g = queue_group_get(q, folder);
    g->tasks++;
    fifo_push(q, g);
}

queue_group *queue_next(queue *q, uint64_t now, queue_kind *kind)
{
    *kind = QUEUE_NONE;
    if (q->running >= q->cap)
        return NULL;
    for (size_t i = 0; i < q->nfifo; i++) {
        queue_group *g = q->fifo[i];
        if (g->retry_at && now < g->retry_at)
            continue;
        fifo_remove(q, g);
        if (!g->tasks && !g->messages)
            return queue_next(q, now, kind); /* nothing left to do: drop it and look on */
        g->retry_at = 0;
        g->running = true;
        g->idle = false;
        q->running++;
        if (g->tasks) {
            g->tasks--;
            *kind = QUEUE_TASK;
        } else {
            g->messages = false;
            *kind = QUEUE_MESSAGES;
        }
        return g;
    }
    return NULL;
}

bool queue_finished(queue *q, const char *folder, queue_outcome how, uint64_t now)
{
    queue_group *g = queue_group_find(q, folder);
    if (!g || !g->running)
        return false;
    g->running = false;
    g->idle = false;
    q->running--;
    bool exhausted = false;
    if (how == QUEUE_OK) {
        g->failures = 0;
        g->retry_at = 0;
    } else if (how == QUEUE_TRANSIENT) {
        if (g->failures < ROUTER_MAX_RETRIES)
            g->failures++;
        g->retry_at = now + router_backoff_ms(q->retry_base_ms, g->failures);
    } else {
        g->failures++;
        uint64_t delay = router_backoff_ms(q->retry_base_ms, g->failures);
        if (!delay) {
            exhausted = true;
            g->failures = 0;
            g->retry_at = 0;
        } else {
            g->retry_at = now + delay;
        }
    }
    if (g->tasks || g->messages)
        fifo_push(q, g);
    return exhausted;
}

uint64_t queue_next_retry(const queue *q)
{
    uint64_t next = 0;
    for (size_t i = 0; i < q->nfifo; i++)
        if (q->fifo[i]->retry_at && (!next || q->fifo[i]->retry_at < next))
            next = q->fifo[i]->retry_at;
    return next;
}

size_t queue_waiting(const queue *q)
{
    return q->nfifo;
}

const queue_group *queue_waiting_at(const queue *q, size_t i)
{
    return i < q->nfifo ? q->fifo[i] : NULL;
}

size_t queue_ngroups(const queue *q)
{
    return q->ngroups;
}

const queue_group *queue_group_at(const queue *q, size_t i)
{
    return i < q->ngroups ? q->groups[i] : NULL;
}
