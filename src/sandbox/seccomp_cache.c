/* Loaded seccomp profiles, kept by the SHA-256 of their bytes, for a process that prepares many
 * containers (the daemon): parsing a profile, resolving every name with libseccomp and compiling
 * it to prove it builds costs milliseconds on each turn's path, and gives the same result for
 * the same bytes on the same machine. A file that changes has other bytes, so a new entry: a
 * turn never uses a profile other than the one its file holds as it starts.
 *
 * Entries are immutable and live until the process exits; at most SECCOMP_CACHE_MAX. Past
 * that a profile is loaded each time, as without a cache. One mutex guards the table. */
#include "sandbox/seccomp_cache.h"

#include <pthread.h>
#include <string.h>

#include "sandbox/builtin_profile.h"
#include "util/fileutil.h"
#include "util/sha256.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SECCOMP_CACHE_MAX 8

static struct entry {
    char bytes_digest[SHA256_HEX_SIZE]; /* of the profile's bytes, as read */
    char *source;                       /* the path or the built-in name: part of the key */
    seccomp_policy *policy;
} cache[SECCOMP_CACHE_MAX];
static size_t ncache;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static const seccomp_policy *find(const char *digest, const char *source)
{
    for (size_t i = 0; i < ncache; i++)
        if (strcmp(cache[i].bytes_digest, digest) == 0 && strcmp(cache[i].source, source) == 0)
            return cache[i].policy;
    return NULL;
}

/* Loads text (from source) through the cache. *ret is the cached policy (borrowed), or, when
 * the cache is full, a new one in *owned that the caller frees. */
static int load(const char *text, size_t len, const char *source, const seccomp_policy **ret,
                seccomp_policy **owned, nc_error **err)
{
    char digest[SHA256_HEX_SIZE];
    sha256_hex(text, len, digest);
    pthread_mutex_lock(&cache_lock);
    const seccomp_policy *hit = find(digest, source);
    pthread_mutex_unlock(&cache_lock);
    if (hit) {
        *ret = hit;
        return 0;
    }
    seccomp_policy *p = NULL;
    int r = seccomp_policy_load_text(text, len, source, &p, err);
    if (r < 0)
        return r;
    pthread_mutex_lock(&cache_lock);
    /* Another thread may have loaded the same bytes meanwhile: keep the first. */
    hit = find(digest, source);
    if (!hit && ncache < SECCOMP_CACHE_MAX) {
        memcpy(cache[ncache].bytes_digest, digest, sizeof(digest));
        cache[ncache].source = xstrdup(source);
        cache[ncache].policy = p;
        hit = p;
        ncache++;
        p = NULL;
    }
    pthread_mutex_unlock(&cache_lock);
    if (hit) {
        seccomp_policy_free(p);
        *ret = hit;
    } else {
        *ret = *owned = p;
    }
    return 0;
}

int seccomp_cache_load(const sandbox_settings *s, const seccomp_policy **ret,
                       seccomp_policy **owned, nc_error **err)
{
    *ret = NULL;
    *owned = NULL;
    if (strcmp(s->seccomp_profile, "unconfined") == 0)
        return 0;
    if (!*s->seccomp_profile)
        return load(nc_builtin_seccomp_profile,
                    (size_t)(nc_builtin_seccomp_profile_end - nc_builtin_seccomp_profile),
                    NC_BUILTIN_SECCOMP_NAME, ret, owned, err);
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    int r = read_file(s->seccomp_profile, SECCOMP_POLICY_MAX_BYTES, &text, err);
    if (r < 0)
        return nc_error_wrap(err, "policy '%s'", s->seccomp_profile);
    return load(text.buf ? text.buf : "", text.len, s->seccomp_profile, ret, owned, err);
}
