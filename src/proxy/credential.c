#include "proxy/credential.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/secretfile.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct proxy_credential {
    char *key; /* a page of its own: MADV_DONTDUMP, wiped on free */
    size_t cap;
    char *source;
};

static proxy_credential *cred_new(void)
{
    proxy_credential *c = xnew0(proxy_credential);
    c->cap = (size_t)sysconf(_SC_PAGESIZE);
    if (c->cap < PROXY_KEY_MAX + 1)
        c->cap = PROXY_KEY_MAX + 1;
    void *p = mmap(NULL, c->cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        abort(); /* the one OOM policy */
    (void)madvise(p, c->cap, MADV_DONTDUMP);
    c->key = p;
    return c;
}

void proxy_credential_free(proxy_credential *c)
{
    if (!c)
        return;
    explicit_bzero(c->key, c->cap);
    munmap(c->key, c->cap);
    free(c->source);
    free(c);
}

/* Takes key[0..len) without one trailing newline; checks it is visible ASCII. */
static int set_key(proxy_credential *c, const char *key, size_t len, nc_error **err)
{
    if (len && key[len - 1] == '\n')
        len--;
    if (len && key[len - 1] == '\r')
        len--;
    if (!len)
        return nc_error_set(err, EINVAL, "the API key from %s is empty", c->source);
    if (len > PROXY_KEY_MAX)
        return nc_error_set(err, EINVAL, "the API key from %s is longer than %d bytes", c->source,
                            PROXY_KEY_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] >= 0x7f)
            return nc_error_set(err, EINVAL,
                                "the API key from %s holds a character that is not visible ASCII",
                                c->source);
    memmove(c->key, key, len); /* key may be c->key itself */
    c->key[len] = '\0';
    return 0;
}

/* Reads into the protected page itself, never a heap buffer. */
static int load_file(proxy_credential *c, const char *path, nc_error **err)
{
    size_t len = 0;
    int r = secretfile_read_into(path, c->key, PROXY_KEY_MAX + 1, &len, err);
    if (r < 0)
        return nc_error_wrap(err, "API key file (proxy.api_key_file)");
    /* set_key refuses a second line: a newline inside is not visible ASCII. */
    return set_key(c, c->key, len, err);
}

int proxy_credential_load(const proxy_settings *s, proxy_credential **ret, nc_error **err)
{
    _cleanup_(proxy_credential_freep) proxy_credential *c = cred_new();
    int r;
    if (s->api_key_file && *s->api_key_file) {
        c->source = xasprintf("file '%s'", s->api_key_file);
        r = load_file(c, s->api_key_file, err);
    } else if (s->api_key_env && *s->api_key_env) {
        c->source = xasprintf("environment variable '%s'", s->api_key_env);
        const char *v = secure_getenv(s->api_key_env);
        if (!v)
            return nc_error_set(err, ENOENT,
                                "environment variable '%s' (proxy.api_key_env) is "
                                "not set",
                                s->api_key_env);
        r = set_key(c, v, strlen(v), err);
    } else {
        return nc_error_set(err, ENOENT,
                            "no API key configured (proxy.api_key_file or "
                            "proxy.api_key_env)");
    }
    if (r < 0)
        return r;
    *ret = TAKE_PTR(c);
    return 0;
}

const char *proxy_credential_key(const proxy_credential *c)
{
    return c->key;
}

const char *proxy_credential_source(const proxy_credential *c)
{
    return c->source;
}
