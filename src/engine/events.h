/* The engine's event stream, GET /events, filtered to containers with given labels.
 *
 * The reply is a stream of JSON objects, one per line, delivered by curl in arbitrary slices.
 * event_splitter reassembles lines (a line longer than ENGINE_MAX_EVENT is an error) and
 * engine_parse_event() turns one line into an engine_event. */
#ifndef NC_ENGINE_EVENTS_H
#define NC_ENGINE_EVENTS_H

#include <stdint.h>

#include "engine/engine.h"
#include "util/json.h"
#include "util/strbuf.h"

#define ENGINE_MAX_EVENT (1024 * 1024)

typedef struct engine_event {
    const char *type;   /* "container", "image", ... */
    const char *action; /* "create", "start", "die", "oom", "destroy", ... */
    const char *id;     /* Actor.ID */
    int64_t time;       /* seconds since the epoch */
    int64_t time_nano;
    const nc_json *attributes; /* Actor.Attributes: labels, name, image, exitCode */
} engine_event;

/* Returns 0 to go on, > 0 to stop the stream, < 0 (with err set) to fail it. */
typedef int (*engine_event_cb)(const engine_event *ev, void *userdata, nc_error **err);

/* Parses one line. Fields the engine leaves out are NULL/0; Action may also be called Status
 * (Docker before API 1.22, Podman). */
int engine_parse_event(const char *line, size_t len, engine_event_cb cb, void *userdata,
                       nc_error **err);

typedef struct event_splitter {
    strbuf line;
    engine_event_cb cb;
    void *userdata;
    int stop;      /* > 0 once the callback asked to stop */
    nc_error *err; /* the first failure */
} event_splitter;

/* Feeds stream bytes; calls the callback for each complete line. Returns 0, > 0 when the
 * callback asked to stop, or a negative errno (the error is kept in s->err). */
int event_splitter_feed(event_splitter *s, const char *data, size_t len);
void event_splitter_release(event_splitter *s);

/* Streams events for containers carrying all the "key=value" labels, from since to until
 * (unix seconds; since 0 = from now, until 0 = open-ended), for at most timeout_ms. Returns 0
 * when the engine ended the stream (until passed) or the callback stopped it; -ETIMEDOUT when
 * the time ran out first. */
int engine_events(engine *e, char *const *labels, int64_t since, int64_t until, long timeout_ms,
                  engine_event_cb cb, void *userdata, nc_error **err);

#endif
