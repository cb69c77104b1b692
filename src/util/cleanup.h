/* Scope-bound cleanup for owned resources, in the style of systemd's cleanup-fundamental.h.
 *
 * A variable declared with a _cleanup_*_ attribute is released when it leaves scope. Hand
 * ownership on with TAKE_PTR()/TAKE_FD(), which return the value and clear the variable.
 * Every destructor used here accepts NULL (or -1 for descriptors).
 *
 * Library-specific cleanups (CURL *, yajl_val, scmp_filter_ctx, cap_t, ...) are defined next to
 * the one module that includes that library, with NC_DEFINE_CLEANUP below. */
#ifndef NC_UTIL_CLEANUP_H
#define NC_UTIL_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Defines `static inline void func##p(type *p)` that calls func(*p) when *p is not NULL. */
#define NC_DEFINE_CLEANUP(type, func)                                                              \
    static inline void func##p(type *p)                                                            \
    {                                                                                              \
        if (*p)                                                                                    \
            func(*p);                                                                              \
    }

static inline void freep(void *p)
{
    free(*(void **)p);
}

/* Closes without clobbering errno, so a failing path can still report the errno it saw. */
static inline void closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void fclose_quiet(FILE *f)
{
    int saved = errno;
    fclose(f);
    errno = saved;
}
NC_DEFINE_CLEANUP(FILE *, fclose_quiet)

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclose_quietp)

#define TAKE_PTR(ptr)                                                                              \
    ({                                                                                             \
        typeof(ptr) _nc_taken = (ptr);                                                             \
        (ptr) = NULL;                                                                              \
        _nc_taken;                                                                                 \
    })

#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _nc_fd = (fd);                                                                         \
        (fd) = -1;                                                                                 \
        _nc_fd;                                                                                    \
    })

#define NC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
