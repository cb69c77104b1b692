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

/* "<digits>[.<digits>]" at the start of s: the integer part in *ret_int and the fraction,
 * trailing zeros dropped, as *ret_frac / 10^*ret_frac_digits; *ret_end points past it. */
static int parse_decimal(const char *s, uint64_t *ret_int, uint64_t *ret_frac,
                         unsigned *ret_frac_digits, const char **ret_end, nc_error **err)
{
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        /* Past the cap in any unit: stop before v can overflow. */
        if (v > DURATION_MAX_MS)
            return nc_error_set(err, ERANGE, "invalid duration '%s': more than " DURATION_MAX_TEXT,
                                s);
    }
    *ret_int = v;
    *ret_frac = 0;
    *ret_frac_digits = 0;
    *ret_end = p;
    if (*p != '.')
        return 0;
    const char *f = ++p;
    while (*p >= '0' && *p <= '9')
        p++;
    if (p == f)
        return nc_error_set(err, EINVAL, "invalid duration '%s': expected digits after '.'", s);
    const char *last = p;
    while (last > f && last[-1] == '0')
        last--;
    /* Every unit is at most 2^7 * 3^2 * 5^5 ms, so a fraction with more than 7 significant
     * digits is never a whole number of milliseconds: refusing past 9 loses nothing and keeps
     * the fraction's numerator below 10^9. */
    if (last - f > 9)
        return nc_error_set(err, EINVAL, "invalid duration '%s': finer than a millisecond", s);
    for (const char *q = f; q < last; q++) {
        *ret_frac = *ret_frac * 10 + (uint64_t)(*q - '0');
        (*ret_frac_digits)++;
    }
    *ret_end = p;
    return 0;
}

int parse_duration_ms(const char *s, uint64_t *ret_ms, nc_error **err)
{
    if (!s || !*s)
        return nc_error_set(err, EINVAL, "invalid duration '': empty");
    if (*s == '-')
        return nc_error_set(err, EINVAL, "invalid duration '%s': must not be negative", s);
    if (*s < '0' || *s > '9')
        return nc_error_set(err, EINVAL, "invalid duration '%s': expected a number", s);
    uint64_t whole = 0, frac = 0;
    unsigned frac_digits = 0;
    const char *p = s;
    int r = parse_decimal(s, &whole, &frac, &frac_digits, &p, err);
    if (r < 0)
        return r;
    uint64_t factor = 0;
    if (!*p) {
        factor = 1000; /* a bare number is seconds */
    } else {
        for (size_t i = 0; i < NC_ARRAY_SIZE(duration_units); i++)
            if (strcmp(p, duration_units[i].name) == 0)
                factor = duration_units[i].factor;
        if (!factor)
            return nc_error_set(err, EINVAL, "invalid duration '%s': unknown unit '%s'", s, p);
    }
    uint64_t den = 1;
    for (unsigned i = 0; i < frac_digits; i++)
        den *= 10;
    /* frac < 10^9 and factor <= 3600000: the product fits. */
    if (frac * factor % den != 0)
        return nc_error_set(err, EINVAL, "invalid duration '%s': finer than a millisecond", s);
    if (whole > DURATION_MAX_MS / factor)
        return nc_error_set(err, ERANGE, "invalid duration '%s': more than " DURATION_MAX_TEXT, s);
    uint64_t ms = whole * factor + frac * factor / den;
    if (ms > DURATION_MAX_MS)
        return nc_error_set(err, ERANGE, "invalid duration '%s': more than " DURATION_MAX_TEXT, s);
    *ret_ms = ms;
    return 0;
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
