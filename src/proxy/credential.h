/* The model API credential: read once from proxy.api_key_file or proxy.api_key_env, held only
 * in the proxy's memory (excluded from core dumps, wiped when freed), and added to upstream
 * requests as x-api-key. No error message, log line or description ever quotes it; messages
 * name the file or the variable instead. */
#ifndef NC_PROXY_CREDENTIAL_H
#define NC_PROXY_CREDENTIAL_H

#include "proxy/settings.h"
#include "util/cleanup.h"
#include "util/error.h"

#define PROXY_KEY_MAX 4096

typedef struct proxy_credential proxy_credential;

/* Reads the key. A file must be a regular file (no symlink), owned by our effective user, with
 * no permission bits for group or others (0600 or 0400). The key is one line of visible ASCII
 * (a trailing newline is dropped); anything else is refused, so it cannot inject a header. */
int proxy_credential_load(const proxy_settings *s, proxy_credential **ret, nc_error **err);
const char *proxy_credential_key(const proxy_credential *c);
/* Where it came from ("file '/x'", "environment variable 'X'"), for doctor. */
const char *proxy_credential_source(const proxy_credential *c);
void proxy_credential_free(proxy_credential *c);
NC_DEFINE_CLEANUP(proxy_credential *, proxy_credential_free)

#endif
