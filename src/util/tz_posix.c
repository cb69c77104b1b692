/* POSIX TZ strings (POSIX.1-2017 8.3 with the RFC 8536 extensions): parsing, and when the
 * clocks change under their rules in a given year. */
#include "util/tz.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/tz_internal.h"
#include "util/xalloc.h"
#include "util/banned.h"

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A zone abbreviation: three or more letters, or <...> of letters, digits, '+' and '-'. */
static bool posix_name(const char **p, char **out)
{
    const char *s = *p;
    size_t n = 0;
    if (*s == '<') {
        s++;
        while (is_alpha(s[n]) || is_digit(s[n]) || s[n] == '+' || s[n] == '-')
            n++;
        if (s[n] != '>' || n < 3)
            return false;
        *out = xstrndup(s, n);
        *p = s + n + 1;
        return true;
    }
    while (is_alpha(s[n]))
        n++;
    if (n < 3)
        return false;
    *out = xstrndup(s, n);
    *p = s + n;
    return true;
}

/* Up to max_digits decimal digits, at most max. */
static bool posix_num(const char **p, int max_digits, int max, int *out)
{
    const char *s = *p;
    int v = 0, n = 0;
    while (is_digit(*s) && n < max_digits) {
        v = v * 10 + (*s++ - '0');
        n++;
    }
    if (n == 0 || is_digit(*s) || v > max)
        return false;
    *out = v;
    *p = s;
    return true;
}

/* [+-]hh[:mm[:ss]] with hours up to max_hours, in seconds. */
static bool posix_hms(const char **p, int max_hours, int32_t *out)
{
    const char *s = *p;
    int sign = 1, h = 0, m = 0, sec = 0;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (!posix_num(&s, 3, max_hours, &h))
        return false;
    if (*s == ':') {
        s++;
        if (!posix_num(&s, 2, 59, &m))
            return false;
        if (*s == ':') {
            s++;
            if (!posix_num(&s, 2, 59, &sec))
                return false;
        }
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    *p = s;
    return true;
}

static bool posix_rule(const char **p, struct tz_rule *r)
{
    const char *s = *p;
    if (*s == 'J') {
        s++;
        r->kind = 'J';
        if (!posix_num(&s, 3, 365, &r->day) || r->day < 1)
            return false;
    } else if (*s == 'M') {
        s++;
        r->kind = 'M';
        if (!posix_num(&s, 2, 12, &r->month) || r->month < 1 || *s++ != '.' ||
            !posix_num(&s, 1, 5, &r->week) || r->week < 1 || *s++ != '.' ||
            !posix_num(&s, 1, 6, &r->day))
            return false;
    } else {
        r->kind = 'D';
        if (!posix_num(&s, 3, 365, &r->day))
            return false;
    }
    r->time = 2 * 3600;
    if (*s == '/') {
        s++;
        if (!posix_hms(&s, 167, &r->time))
            return false;
    }
    *p = s;
    return true;
}

void posix_release(struct tz_posix *px)
{
    free(px->std_name);
    free(px->dst_name);
    px->std_name = px->dst_name = NULL;
}

bool posix_parse(const char *spec, struct tz_posix *px)
{
    memset(px, 0, sizeof(*px));
    const char *s = spec;
    int32_t v;
    if (strlen(spec) > POSIX_MAX_LEN || !posix_name(&s, &px->std_name) || !posix_hms(&s, 24, &v))
        goto bad;
    px->std_off = -v;
    if (*s == '\0')
        return true;
    if (!posix_name(&s, &px->dst_name))
        goto bad;
    px->has_dst = true;
    px->dst_off = px->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (!posix_hms(&s, 24, &v))
            goto bad;
        px->dst_off = -v;
    }
    if (*s == '\0') {
        px->start = (struct tz_rule){'M', 0, 2, 3, 2 * 3600};
        px->end = (struct tz_rule){'M', 0, 1, 11, 2 * 3600};
        return true;
    }
    if (*s++ != ',' || !posix_rule(&s, &px->start) || *s++ != ',' || !posix_rule(&s, &px->end) ||
        *s != '\0')
        goto bad;
    return true;
bad:
    posix_release(px);
    return false;
}

/* The day (since the epoch) a rule names in year y. */
static int64_t rule_day(const struct tz_rule *r, int64_t y)
{
    int64_t jan1 = tz_days_from_civil(y, 1, 1);
    switch (r->kind) {
    case 'J':
        return jan1 + r->day - 1 + (tz_is_leap(y) && r->day >= 60);
    case 'D':
        return jan1 + r->day;
    default: {
        int64_t first = tz_days_from_civil(y, (unsigned)r->month, 1);
        int64_t wday = ((first + 4) % 7 + 7) % 7; /* 1970-01-01 was a thursday */
        int64_t d = first + (r->day - wday + 7) % 7 + (int64_t)(r->week - 1) * 7;
        int64_t dim = tz_days_in_month(y, (unsigned)r->month);
        while (d >= first + dim)
            d -= 7;
        return d;
    }
    }
}

struct posix_event {
    int64_t t;
    bool to_dst;
};

static int cmp_event(const void *a, const void *b)
{
    const struct posix_event *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    /* At one instant a change to standard time sorts first, so DST that ends as it starts
     * again (the permanent-DST form "J1/0,J365/25") stays on. */
    return (int)x->to_dst - (int)y->to_dst;
}

bool posix_at(const struct tz_posix *px, int64_t utc, int64_t *prev, int64_t *next)
{
    *prev = TZ_TIME_MIN;
    *next = TZ_TIME_MAX + 1;
    if (!px->has_dst)
        return false;
    int64_t y;
    unsigned m, d;
    tz_civil_from_days(tz_floor_div(utc + px->std_off, 86400), &y, &m, &d);
    /* Rule times reach 167 h either side of a date, so two years either side are enough. */
    struct posix_event ev[10];
    size_t n = 0;
    for (int64_t yy = y - 2; yy <= y + 2; yy++) {
        ev[n++] = (struct posix_event){
            rule_day(&px->start, yy) * 86400 + px->start.time - px->std_off, true};
        ev[n++] = (struct posix_event){rule_day(&px->end, yy) * 86400 + px->end.time - px->dst_off,
                                       false};
    }
    qsort(ev, n, sizeof(ev[0]), cmp_event);
    bool dst = !ev[0].to_dst;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].t > utc) {
            *next = ev[i].t;
            break;
        }
        dst = ev[i].to_dst;
        *prev = ev[i].t;
    }
    return dst;
}
