#include "sandbox/settings.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>

#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

void sandbox_settings_copy(sandbox_settings *dst, const sandbox_settings *src)
{
    *dst = *src;
    dst->cap_add = strv_dup(src->cap_add);
    dst->network = xstrdup_or_null(src->network);
    dst->user = xstrdup_or_null(src->user);
    dst->seccomp_profile = xstrdup_or_null(src->seccomp_profile);
    dst->mounts = strv_dup(src->mounts);
    dst->on_rejected_mount = xstrdup_or_null(src->on_rejected_mount);
    dst->allow_unenforced = strv_dup(src->allow_unenforced);
    dst->runtime = xstrdup_or_null(src->runtime);
}

void sandbox_settings_release(sandbox_settings *s)
{
    strv_free(s->cap_add);
    free(s->network);
    free(s->user);
    free(s->seccomp_profile);
    strv_free(s->mounts);
    free(s->on_rejected_mount);
    strv_free(s->allow_unenforced);
    free(s->runtime);
    *s = (sandbox_settings){0};
}

bool sandbox_allows_unenforced(const sandbox_settings *s, const char *what)
{
    return strv_contains(s->allow_unenforced, what);
}

int sandbox_check_network(const char *v, nc_error **err)
{
    /* "host" would share the host's network namespace: never. */
    if (strcmp(v, "none") == 0 || strcmp(v, "bridge") == 0)
        return 0;
    return nc_error_set(err, EINVAL, "network '%s' is not allowed: use \"none\" (or \"bridge\")",
                        v);
}

static bool parse_id(const char *s, unsigned long *v, const char **end)
{
    if (!isdigit((unsigned char)*s))
        return false;
    char *e;
    errno = 0;
    *v = strtoul(s, &e, 10);
    if (errno || *v > 0x7fffffff)
        return false;
    *end = e;
    return true;
}

int sandbox_parse_user(const char *v, uid_t *uid, gid_t *gid, nc_error **err)
{
    /* Numeric only: a name would be resolved inside the image, which the agent may control.
     * Both ids: with a uid alone, the runtime takes the gid from the image's /etc/passwd. */
    const char *p;
    unsigned long u, g;
    if (!parse_id(v, &u, &p) || *p != ':' || !parse_id(p + 1, &g, &p) || *p != '\0')
        return nc_error_set(err, EINVAL,
                            "user '%s' must be numeric \"uid:gid\", e.g. \"1000:1000\"", v);
    *uid = (uid_t)u;
    *gid = (gid_t)g;
    return 0;
}

int sandbox_check_user(const char *v, nc_error **err)
{
    uid_t u;
    gid_t g;
    return sandbox_parse_user(v, &u, &g, err);
}

int sandbox_check_cpus(const char *v, int64_t *ret_nano, nc_error **err)
{
    /* A decimal with at most 3 fractional digits, e.g. "1", "0.5", "2.25". */
    int64_t whole = 0, frac = 0;
    int digits = 0, fdigits = 0;
    const char *p = v;
    for (; isdigit((unsigned char)*p) && digits < 4; p++, digits++)
        whole = whole * 10 + (*p - '0');
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p) && fdigits < 3; p++, fdigits++)
            frac = frac * 10 + (*p - '0');
    if (!digits || *p || (p[-1] == '.'))
        return nc_error_set(err, EINVAL, "cpus '%s' must be a number such as \"1\" or \"0.5\"", v);
    while (fdigits++ < 3)
        frac *= 10;
    int64_t nano = whole * 1000000000 + frac * 1000000;
    if (ret_nano)
        *ret_nano = nano;
    if (nano != 0 && nano < 10000000)
        return nc_error_set(err, ERANGE, "cpus '%s' is below 0.01", v);
    return 0;
}

int sandbox_check_cap(const char *v, nc_error **err)
{
    cap_value_t cap;
    _cleanup_free_ char *lower = xstrdup(v);
    for (char *p = lower; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const char *name = strncmp(lower, "cap_", 4) == 0 ? lower : NULL;
    _cleanup_free_ char *prefixed = name ? NULL : xasprintf("cap_%s", lower);
    if (cap_from_name(name ? name : prefixed, &cap) < 0 || strcmp(lower, "all") == 0)
        return nc_error_set(err, EINVAL, "unknown capability '%s'", v);
    return 0;
}

int sandbox_check_unenforced(const char *v, nc_error **err)
{
    static const char *const names[] = {SANDBOX_UNENFORCED_MEMORY,   SANDBOX_UNENFORCED_PIDS,
                                        SANDBOX_UNENFORCED_CPU,      SANDBOX_UNENFORCED_ULIMITS,
                                        SANDBOX_UNENFORCED_CGROUPNS, SANDBOX_UNENFORCED_RUNTIME};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(v, names[i]) == 0)
            return 0;
    return nc_error_set(err, EINVAL,
                        "'%s' is not a check that can be waived: use \"memory\", \"pids\", "
                        "\"cpu\", \"ulimits\", \"cgroupns\" or \"runtime\"",
                        v);
}

int sandbox_check_on_rejected(const char *v, nc_error **err)
{
    if (strcmp(v, "refuse") == 0 || strcmp(v, "skip") == 0)
        return 0;
    return nc_error_set(err, EINVAL, "'%s' must be \"refuse\" or \"skip\"", v);
}

int sandbox_settings_loosened(const sandbox_settings *s, const sandbox_settings *h, strbuf *out)
{
    int n = 0;
#define LOOSE(...)                                                                                 \
    do {                                                                                           \
        strbuf_addf(out, __VA_ARGS__);                                                             \
        strbuf_addch(out, '\n');                                                                   \
        n++;                                                                                       \
    } while (0)
    if (!s->read_only_rootfs && h->read_only_rootfs)
        LOOSE("read_only_rootfs false: the agent can write the image's root filesystem");
    if (!s->no_new_privileges && h->no_new_privileges)
        LOOSE("no_new_privileges false: setuid binaries can raise privileges");
    for (size_t i = 0; s->cap_add && s->cap_add[i]; i++)
        LOOSE("cap_add '%s': a capability is granted", s->cap_add[i]);
    if (strcmp(s->network, h->network) != 0)
        LOOSE("network '%s' (hardened: '%s'): the agent can reach the network", s->network,
              h->network);
    if (s->memory == 0 || (h->memory && s->memory > h->memory))
        LOOSE("memory %s (hardened: %llu bytes)", s->memory ? "raised" : "unlimited",
              (unsigned long long)h->memory);
    if (s->pids_limit == 0 || (h->pids_limit && s->pids_limit > h->pids_limit))
        LOOSE("pids_limit %lld (hardened: %lld)", (long long)s->pids_limit,
              (long long)h->pids_limit);
    if (s->nano_cpus == 0 || (h->nano_cpus && s->nano_cpus > h->nano_cpus))
        LOOSE("cpus %s (hardened: %lld.%03lld)", s->nano_cpus ? "raised" : "unlimited",
              (long long)(h->nano_cpus / 1000000000), (long long)(h->nano_cpus / 1000000 % 1000));
    if (s->nofile > h->nofile || s->nproc > h->nproc)
        LOOSE("ulimits raised (nofile %lld, nproc %lld)", (long long)s->nofile,
              (long long)s->nproc);
    uid_t uid = 0;
    gid_t gid = 0;
    if (sandbox_parse_user(s->user, &uid, &gid, NULL) == 0 && (uid == 0 || gid == 0))
        LOOSE("user '%s': the agent runs as %s inside the container", s->user,
              uid == 0 ? "root" : "group root");
    if (strcmp(s->seccomp_profile, "unconfined") == 0)
        LOOSE("seccomp_profile 'unconfined': no system call filter");
    else if (*s->seccomp_profile)
        LOOSE("seccomp_profile '%s': not the built-in agent profile", s->seccomp_profile);
    if (!s->init && h->init)
        LOOSE("init false: zombies are not reaped");
    if (strcmp(s->on_rejected_mount, h->on_rejected_mount) != 0)
        LOOSE("on_rejected_mount '%s': a turn runs without a mount it asked for",
              s->on_rejected_mount);
    for (size_t i = 0; s->allow_unenforced && s->allow_unenforced[i]; i++)
        LOOSE("allow_unenforced '%s': that check may fail and the turn still runs",
              s->allow_unenforced[i]);
#undef LOOSE
    return n;
}
