/* Pulling images: POST /images/create?fromImage=NAME&tag=TAG.
 *
 * The reply is a stream of JSON objects, one per line: {"status":..,"id":..,"progress":..}
 * while the pull goes on, and {"error":"..","errorDetail":{..}} when it fails, which the engine
 * sends with status 200 because the stream has already begun. pull_stream reassembles the lines
 * (a line longer than ENGINE_PULL_MAX_LINE, or a stream longer than ENGINE_PULL_MAX_STREAM, is an
 * error) and turns an error object into an error. Anonymous pulls only: no X-Registry-Auth. */
#ifndef NC_ENGINE_IMAGE_H
#define NC_ENGINE_IMAGE_H

#include <stdint.h>

#include "engine/engine.h"
#include "util/strbuf.h"

#define ENGINE_PULL_MAX_LINE (64 * 1024)
#define ENGINE_PULL_MAX_STREAM ((size_t)64 * 1024 * 1024)

/* A progress line worth showing: "Pulling from x/y", "abc123: Pull complete", "Digest: ..".
 * Byte counters ("Downloading", "Extracting" with a progress bar) are left out. */
typedef void (*engine_pull_progress_cb)(const char *msg, void *userdata);

/* Checks ref against the reference grammar of Docker's distribution library (what Docker and
 * Podman accept): [DOMAIN[:PORT]/]PATH[:TAG][@DIGEST], PATH lowercase components joined by
 * '/', at most 255 characters of name. EINVAL with what is wrong, so that a bad reference is
 * refused the same way on every engine (Docker answers 404 for some, Podman 500). */
int engine_image_ref_check(const char *ref, nc_error **err);

/* Splits an image reference into the fromImage and tag query values: "r:5000/x/y:t" gives
 * "r:5000/x/y" and "t", "x@sha256:.." gives "x" and "sha256:..", and no tag gives "latest".
 * EINVAL for an empty reference or an empty name or tag. */
int engine_image_ref_split(const char *ref, char **ret_name, char **ret_tag, nc_error **err);

typedef struct pull_stream {
    strbuf line;
    size_t total;      /* bytes seen, for ENGINE_PULL_MAX_STREAM */
    size_t objects;    /* JSON lines parsed */
    nc_error *err;     /* the first failure: a bad line, a limit, or the engine's error */
    char *last_status; /* the last status line, e.g. "Status: Downloaded newer image for x" */
    engine_pull_progress_cb cb;
    void *userdata;
} pull_stream;

/* Feeds stream bytes. Returns 0, or a negative errno once the stream failed (kept in s->err;
 * an "error" object in the stream gives EIO with the engine's message). */
int pull_stream_feed(pull_stream *s, const char *data, size_t len);
/* At the end of the stream: parses a last line without its newline. A stream with no JSON
 * object at all is EPROTO. */
int pull_stream_finish(pull_stream *s, nc_error **err);
void pull_stream_release(pull_stream *s);

/* Pulls ref, for at most timeout_ms, reporting progress through cb (may be NULL). */
int engine_image_pull(engine *e, const char *ref, long timeout_ms, engine_pull_progress_cb cb,
                      void *userdata, nc_error **err);

#endif
