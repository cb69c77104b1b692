#include "util/units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"
#include "util/banned.h"

typedef struct unit {
    const char *name;
    uint64_t factor;
} unit;

static const unit size_units[] = {
    {"", 1},
    {"b", 1},
    {"k", UINT64_C(1) << 10},
    {"kb", UINT64_C(1) << 10},
    {"kib", UINT64_C(1) << 10},
    {"m", UINT64_C(1) << 20},
    {"mb", UINT64_C(1) << 20},
    {"mib", UINT64_C(1) << 20},
    {"g", UINT64_C(1) << 30},
    {"gb", UINT64_C(1) << 30},
    {"gib", UINT64_C(1) << 30},
    {"t", UINT64_C(1) << 40},
    {"tb", UINT64_C(1) << 40},
    {"tib", UINT64_C(1) << 40},
};

static const unit duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
};

/* Parses "<digits><unit>" where unit is one of units[] (case-insensitive when `fold`). `what`
 * names the kind of value in messages. */
static int parse_with_unit(const char *s, const char *what, const unit *units, size_t nunits,
                           bool fold, uint64_t *ret, nc_error **err)
{
    if (!s || !*s)
        return nc_error_set(err, EINVAL, "invalid %s '': empty", what);
    if (*s == '-')
        return nc_error_set(err, EINVAL, "invalid %s '%s': must not be negative", what, s);
    if (*s < '0' || *s > '9')
        return nc_error_set(err, EINVAL, "invalid %s '%s': expected a number", what, s);
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return nc_error_set(err, ERANGE, "invalid %s '%s': out of range", what, s);
        v = v * 10 + d;
    }
    if (*p == '.' || *p == ',')
        return nc_error_set(err, EINVAL, "invalid %s '%s': fractions are not allowed", what, s);
    for (size_t i = 0; i < nunits; i++) {
        if (fold ? strcasecmp(p, units[i].name) != 0 : strcmp(p, units[i].name) != 0)
            continue;
        if (v > UINT64_MAX / units[i].factor)
            return nc_error_set(err, ERANGE, "invalid %s '%s': out of range", what, s);
        *ret = v * units[i].factor;
        return 0;
    }
    if (!*p)
        return nc_error_set(err, EINVAL, "invalid %s '%s': missing unit", what, s);
    return nc_error_set(err, EINVAL, "invalid %s '%s': unknown unit '%s'", what, s, p);
}

int parse_size(const char *s, uint64_t *ret_bytes, nc_error **err)
{
    return parse_with_unit(s, "size", size_units, NC_ARRAY_SIZE(size_units), true, ret_bytes, err);
}

int parse_duration_ms(const char *s, uint64_t *ret_ms, nc_error **err)
{
    if (s && strcmp(s, "0") == 0) {
        *ret_ms = 0;
        return 0;
    }
    return parse_with_unit(s, "duration", duration_units, NC_ARRAY_SIZE(duration_units), false,
                           ret_ms, err);
}

/* Formats v in the largest of units[] (ordered largest first) that divides it. */
static char *format_exact(uint64_t v, const unit *units, size_t nunits)
{
    for (size_t i = 0; i + 1 < nunits; i++)
        if (v != 0 && v % units[i].factor == 0)
            return xasprintf("%" PRIu64 "%s", v / units[i].factor, units[i].name);
    return xasprintf("%" PRIu64 "%s", v, units[nunits - 1].name);
}

char *format_size(uint64_t bytes)
{
    static const unit order[] = {
        {"t", UINT64_C(1) << 40},
        {"g", UINT64_C(1) << 30},
        {"m", UINT64_C(1) << 20},
        {"k", UINT64_C(1) << 10},
        {"b", 1},
    };
    return format_exact(bytes, order, NC_ARRAY_SIZE(order));
}

char *format_duration_ms(uint64_t ms)
{
    if (ms == 0)
        return xstrdup("0s");
    static const unit order[] = {
        {"h", 60 * 60 * 1000},
        {"m", 60 * 1000},
        {"s", 1000},
        {"ms", 1},
    };
    return format_exact(ms, order, NC_ARRAY_SIZE(order));
}

char *format_size_human(uint64_t bytes)
{
    static const char *const names[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024)
        return xasprintf("%" PRIu64 " byte%s", bytes, bytes == 1 ? "" : "s");
    size_t u = 0;
    while (u + 1 < NC_ARRAY_SIZE(names) && bytes >> (10 * (u + 2)) != 0)
        u++;
    for (;; u++) {
        uint64_t factor = UINT64_C(1) << (10 * (u + 1));
        uint64_t whole = bytes / factor, rem = bytes % factor;
        if (rem == 0)
            return xasprintf("%" PRIu64 " %s", whole, names[u]);
        /* rem * 10 < 10 * 2^60: no overflow. */
        uint64_t tenth = (rem * 10 + factor / 2) / factor;
        if (tenth == 10)
            whole++, tenth = 0;
        /* 1023.96 KiB rounds to 1024.0 KiB: that is 1.0 MiB. */
        if (whole == 1024 && u + 1 < NC_ARRAY_SIZE(names))
            continue;
        return xasprintf("%" PRIu64 ".%" PRIu64 " %s", whole, tenth, names[u]);
    }
}
