/* Container and image calls. Each call is split in two: the HTTP exchange, and a parser of the
 * reply body (engine_parse_*) that tests and the fuzz target drive directly.
 *
 * Container references (ids and names) go into URL paths, so they are validated instead of
 * escaped: engine_valid_ref() accepts what the engines accept for names, and ids are hex. */
#ifndef NC_ENGINE_CONTAINER_H
#define NC_ENGINE_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"
#include "util/json.h"

/* [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}: an engine container name or id. */
bool engine_valid_ref(const char *ref);

/* POST /containers/create?name=NAME. Returns the new id, and the engine's warnings (Docker
 * reports a limit it could not apply there, and still answers 201: callers must treat limit
 * warnings as fatal). *ret_warnings is NULL when there are none. */
int engine_container_create(engine *e, const char *name, const char *json_body, char **ret_id,
                            char ***ret_warnings, nc_error **err);
int engine_parse_create_reply(const char *body, size_t len, char **ret_id, char ***ret_warnings,
                              nc_error **err);

/* POST /containers/{id}/start. An already running container (304) is an error: EALREADY. */
int engine_container_start(engine *e, const char *id, nc_error **err);
/* POST /containers/{id}/stop?t=grace_s: SIGTERM (or the image's stop signal), then SIGKILL
 * after grace_s seconds. An already stopped container (304) is success. */
int engine_container_stop(engine *e, const char *id, int grace_s, nc_error **err);
/* POST /containers/{id}/kill?signal=SIG. A container that is not running gives ESRCH, on
 * every engine. */
int engine_container_kill(engine *e, const char *id, const char *signal, nc_error **err);
/* DELETE /containers/{id}?force=1&v=1 (force kills a running container first). A missing
 * container gives ENOENT; callers reaping containers may ignore that. */
int engine_container_remove(engine *e, const char *id, bool force, nc_error **err);
/* GET /containers/{id}/json: the full inspect document. */
int engine_container_inspect(engine *e, const char *id, nc_json **ret, nc_error **err);

typedef struct engine_state {
    char *status; /* created, running, paused, restarting, removing, exited or dead */
    bool running;
    bool oom_killed;
    int64_t pid;
    int64_t exit_code;
    char *error; /* the engine's State.Error, NULL when empty */
} engine_state;

/* Reads State from an inspect document. Status must be present; the rest defaults to 0. */
int engine_parse_state(const nc_json *inspect, engine_state *ret, nc_error **err);
void engine_state_release(engine_state *s);
/* inspect + engine_parse_state. */
int engine_container_state(engine *e, const char *id, engine_state *ret, nc_error **err);

typedef struct engine_container_summary {
    char *id;
    char *name; /* without the leading '/' */
    char *image;
    char *state;  /* e.g. "running", "exited" */
    char *status; /* human text, e.g. "Up 3 seconds" */
    int64_t created;
    char **labels; /* "key=value" */
} engine_container_summary;

/* The filters query value: URL-encoded {"type":[type],"label":["k=v",...]} (type left out
 * when NULL). */
char *engine_filters(const char *type, char *const *labels);
/* engine_filters(NULL, labels): containers carrying all the labels. */
char *engine_label_filter(char *const *labels);
/* GET /containers/json?all=1&filters=... : every container (running or not) that carries all
 * of the given "key=value" labels. */
int engine_container_list(engine *e, char *const *labels, engine_container_summary **ret,
                          size_t *ret_n, nc_error **err);
int engine_parse_container_list(const char *body, size_t len, engine_container_summary **ret,
                                size_t *ret_n, nc_error **err);
void engine_container_summaries_free(engine_container_summary *s, size_t n);
/* Value of label key in a summary, or NULL. */
const char *engine_summary_label(const engine_container_summary *s, const char *key);

/* GET /containers/{id}/logs?stdout=1&stderr=1: demultiplexed (tty=false) into out and errout.
 * Bounded by the engine's response cap. */
int engine_container_logs(engine *e, const char *id, bool tty, strbuf *out, strbuf *errout,
                          nc_error **err);

typedef struct engine_image {
    char *id;
    char *user; /* Config.User, may be empty */
    char **repo_tags;
    int64_t size;
} engine_image;

/* GET /images/{ref}/json. A missing image gives ENOENT. */
int engine_image_inspect(engine *e, const char *ref, engine_image *ret, nc_error **err);
int engine_parse_image(const char *body, size_t len, engine_image *ret, nc_error **err);
void engine_image_release(engine_image *img);

#endif
