/* Docker contexts, read the way Docker's CLI reads them (../shared/reference/docker-api.md §7),
 * so that nanocell finds Docker Desktop, Docker Sandboxes and remote engines where `docker`
 * finds them.
 *
 * The context in use is DOCKER_CONTEXT, else "currentContext" in $DOCKER_CONFIG/config.json
 * ($HOME/.docker/config.json when DOCKER_CONFIG is unset). "default" (or none) means no context:
 * the usual discovery applies. A named context lives in
 * $DOCKER_CONFIG/contexts/meta/<sha256 hex of the name>/meta.json:
 *   {"Name": "...", "Endpoints": {"docker": {"Host": "unix:///...", "SkipTLSVerify": false}}}
 * and its TLS material, when it has any, in contexts/tls/<same hash>/docker/{ca,cert,key}.pem.
 * Only these fields are read; everything else in the files is ignored. */
#ifndef NC_ENGINE_CONTEXT_H
#define NC_ENGINE_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* meta.json and config.json larger than this are refused. */
#define DOCKER_CONTEXT_MAX_FILE (1024 * 1024)

typedef struct docker_context {
    char *name;
    char *host; /* Endpoints.docker.Host */
    bool skip_tls_verify;
    char *tls_dir; /* contexts/tls/<hash>/docker when it exists, else NULL */
} docker_context;

/* Docker's configuration directory: $DOCKER_CONFIG, else $HOME/.docker. NULL when neither
 * variable is set. Allocated. */
char *docker_config_dir(void);

/* The context the user chose: DOCKER_CONTEXT (then *ret_source is "DOCKER_CONTEXT"), else
 * currentContext in config_dir/config.json (*ret_source "currentContext in <path>", allocated
 * either way). Returns 1 with *ret_name set, 0 when there is none or it is "default", negative
 * when config.json exists but cannot be read or is not a JSON object with a string
 * currentContext. config_dir may be NULL (no file is read). */
int docker_context_current(const char *config_dir, char **ret_name, char **ret_source,
                           nc_error **err);

/* Parses a meta.json text for the context called name (the file's Name must match). A missing
 * Endpoints.docker.Host is an error: the context does not name a Docker endpoint. */
int docker_context_parse_meta(const char *text, size_t len, const char *name, docker_context *ret,
                              nc_error **err);

/* Reads context name from config_dir: meta.json (ENOENT when the context does not exist) and
 * whether its TLS directory exists. */
int docker_context_load(const char *config_dir, const char *name, docker_context *ret,
                        nc_error **err);
void docker_context_release(docker_context *c);

#endif
