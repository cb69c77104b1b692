/* The stream of a posted message (the format is in apievents.h). A content reader callback,
 * run by MHD in the connection's own thread, waits on the daemon's change counter and reads the
 * message and its batch's replies from the store; a reply is marked delivered once it was
 * written to the client's socket. */
#include "orch/api_internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "orch/apievents.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* How long a stream waits for a change before it looks at the store again. */
#define API_STREAM_WAIT_MS 1000
/* MHD's buffer for a stream's chunks (advisory). */
#define API_STREAM_BLOCK (32 * 1024)

struct stream {
    api_server *s;
    int64_t id; /* the posted message */
    bool have_state;
    char *state;
    int attempts;
    int64_t batch;      /* the message's last batch (0: not handed to a turn yet) */
    int64_t last_reply; /* replies up to this id have been looked at */
    strbuf out;         /* lines for the client; out.buf[off..] not yet handed to MHD */
    size_t off;
    int64_t *sent; /* replies whose lines are in out: delivered once MHD wants more */
    size_t nsent;
    bool ended; /* the last event is in out */
    uint64_t last_event_ms;
};

static void stream_free(void *cls)
{
    struct stream *st = cls;
    api_server *s = st->s;
    free(st->state);
    free(st->sent);
    strbuf_release(&st->out);
    free(st);
    pthread_mutex_lock(&s->lock);
    s->streams--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static bool server_stopping(api_server *s)
{
    pthread_mutex_lock(&s->lock);
    bool stop = s->stopping;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

/* Appends the events that the store holds and the client has not seen: the message's state
 * when it changed (a terminal one after the replies, as it is stored after them), and the
 * batch's replies that are not superseded. */
static int stream_poll(struct stream *st, nc_error **err)
{
    store *db = daemon_store(st->s->d);
    store_message m = {0};
    int r = store_message_get(db, st->id, &m, err);
    if (r == -ENOENT) {
        /* Removed with its group. */
        api_event_state(&st->out, "failed", st->attempts, "the message was removed with its group");
        st->ended = true;
        return 0;
    }
    if (r < 0)
        return r;
    if (m.batch)
        st->batch = m.batch;
    bool changed = !st->have_state || strcmp(st->state, m.state) != 0 || st->attempts != m.attempts;
    bool terminal = api_state_is_terminal(m.state);
    if (changed && !terminal)
        api_event_state(&st->out, m.state, m.attempts, m.error);
    if (st->batch) {
        store_message *v = NULL;
        size_t n = 0;
        r = store_replies(db, st->batch, st->last_reply, &v, &n, err);
        if (r < 0) {
            store_message_release(&m);
            return r;
        }
        for (size_t i = 0; i < n; i++) {
            st->last_reply = v[i].id;
            /* Superseded replies are never to be delivered. A delivered one is shown too: the
             * batch may hold several clients' messages, and each client sees the whole answer
             * to its message; the outbox still counts one delivery (the first). */
            if (strcmp(v[i].state, "superseded") == 0)
                continue;
            api_event_reply(&st->out, v[i].id, v[i].text);
            /* A reply for another channel's chat (a batch that mixed local and Telegram
             * messages) is shown here but delivered by that channel. */
            if (strcmp(v[i].state, "pending") != 0 || strncmp(v[i].chat_jid, "local:", 6) != 0)
                continue;
            st->sent = xreallocarray(st->sent, st->nsent + 1, sizeof(*st->sent));
            st->sent[st->nsent++] = v[i].id;
        }
        store_messages_free(v, n);
    }
    if (changed && terminal) {
        api_event_state(&st->out, m.state, m.attempts, m.error);
        st->ended = true;
    }
    if (changed) {
        free(st->state);
        st->state = xstrdup(m.state);
        st->attempts = m.attempts;
        st->have_state = true;
    }
    store_message_release(&m);
    return 0;
}

/* Waits until there is something to send, and appends it. */
static int stream_fill(struct stream *st, nc_error **err)
{
    nc_daemon *d = st->s->d;
    for (;;) {
        /* Read the counter first: a change made while the store is read moves it again. */
        uint64_t gen = daemon_change_gen(d);
        int r = stream_poll(st, err);
        if (r < 0)
            return r;
        if (st->out.len > 0 || st->ended)
            return 0;
        if (server_stopping(st->s)) {
            api_event_simple(&st->out, API_EV_SHUTDOWN);
            st->ended = true;
            return 0;
        }
        if (mono_ms() - st->last_event_ms >= API_HEARTBEAT_MS) {
            api_event_simple(&st->out, API_EV_HEARTBEAT);
            return 0;
        }
        if (daemon_stopping(d)) {
            /* The change counter may no longer wait; turns still running in the shutdown
             * grace can add replies, so look again a little later until api_stop. */
            pthread_mutex_lock(&st->s->lock);
            struct timespec ts = mono_timespec_after(250);
            if (!st->s->stopping)
                pthread_cond_timedwait(&st->s->cond, &st->s->lock, &ts);
            pthread_mutex_unlock(&st->s->lock);
        } else {
            (void)daemon_wait_change(d, gen, API_STREAM_WAIT_MS);
        }
    }
}

/* MHD calls this for the next slice of the body, in the connection's own thread, and only once
 * the previous slice was written to the client's socket: so the replies of earlier slices are
 * delivered when it is called again. A client that went away makes the write fail, MHD closes
 * the connection and calls stream_free, and replies not yet written stay pending in the
 * outbox. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *st = cls;
    if (st->off == st->out.len) {
        store *db = daemon_store(st->s->d);
        for (size_t i = 0; i < st->nsent; i++) {
            _cleanup_error_ nc_error *err = NULL;
            /* -EALREADY: superseded meanwhile by a requeue; nothing to do. */
            (void)store_outbox_delivered(db, st->sent[i], &err);
        }
        st->nsent = 0;
        strbuf_reset(&st->out);
        st->off = 0;
        if (st->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        _cleanup_error_ nc_error *err = NULL;
        if (stream_fill(st, &err) < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR; /* the client sees a cut stream */
        st->last_event_ms = mono_ms();
    }
    size_t n = st->out.len - st->off;
    if (n > max)
        n = max;
    memcpy(buf, st->out.buf + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

struct MHD_Response *apistream_new(api_server *s, int64_t id, bool wait, const char *waiting)
{
    struct stream *st = xnew0(struct stream);
    st->s = s;
    st->id = id;
    st->last_event_ms = mono_ms();
    api_event_accepted(&st->out, id);
    if (waiting)
        api_event_waiting(&st->out, waiting);
    if (!wait || waiting)
        st->ended = true;
    pthread_mutex_lock(&s->lock);
    s->streams++;
    pthread_mutex_unlock(&s->lock);
    /* From here stream_free owns st, also when the response is never sent. */
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, API_STREAM_BLOCK, stream_read, st, stream_free);
    if (!resp) {
        stream_free(st);
        return NULL;
    }
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return resp;
}
