#include "orch/cron.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"
#include "util/banned.h"

struct field_def {
    const char *name;
    int min, max;
    const char *const *names; /* names[i] is value min + i, or NULL */
    size_t nnames;
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

enum { F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, NFIELDS };

/* The flag a field sets when it begins with '*' (month has none: it plays no part in the rules). */
static const uint8_t star_flag[NFIELDS] = {CRON_MIN_STAR, CRON_HOUR_STAR, CRON_DOM_STAR, 0,
                                           CRON_DOW_STAR};

static const struct field_def fields[NFIELDS] = {
    {"minute", 0, 59, NULL, 0},          {"hour", 0, 23, NULL, 0},
    {"day-of-month", 1, 31, NULL, 0},    {"month", 1, 12, month_names, 12},
    {"day-of-week", 0, 7, dow_names, 7},
};

static const struct {
    const char *name, *fields;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

struct parse_ctx {
    const char *text;            /* the whole expression, for messages */
    const struct field_def *def; /* the field being parsed */
    const char *field;           /* its text */
    size_t field_len;
    nc_error **err;
};

__attribute__((format(printf, 2, 3))) static int field_error(struct parse_ctx *p, const char *fmt,
                                                             ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *detail = xvasprintf(fmt, ap);
    va_end(ap);
    return nc_error_set(p->err, EINVAL, "invalid cron expression '%s': %s '%.*s': %s", p->text,
                        p->def->name, (int)p->field_len, p->field, detail);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A number or (for month and day-of-week) a name, within the field's range. */
static int parse_value(struct parse_ctx *p, const char **s, const char *end, int *out)
{
    const char *q = *s;
    if (q < end && is_digit(*q)) {
        int v = 0;
        while (q < end && is_digit(*q)) {
            if (v > 1000)
                return field_error(p, "number '%.*s' is out of range %d-%d", (int)(end - *s), *s,
                                   p->def->min, p->def->max);
            v = v * 10 + (*q++ - '0');
        }
        if (v < p->def->min || v > p->def->max)
            return field_error(p, "%d is out of range %d-%d", v, p->def->min, p->def->max);
        *out = v;
        *s = q;
        return 0;
    }
    if (q < end && is_alpha(*q)) {
        while (q < end && is_alpha(*q))
            q++;
        size_t n = (size_t)(q - *s);
        for (size_t i = 0; i < p->def->nnames && n == 3; i++) {
            if (strncasecmp(*s, p->def->names[i], 3) == 0) {
                *out = p->def->min + (int)i;
                *s = q;
                return 0;
            }
        }
        if (!p->def->names)
            return field_error(p, "names are only allowed in month and day-of-week");
        return field_error(p, "unknown name '%.*s'", (int)n, *s);
    }
    if (q < end)
        return field_error(p, "unexpected '%c'", *q);
    return field_error(p, "a value is missing");
}

/* One list item: '*', a, a-b, each optionally /step. */
static int parse_item(struct parse_ctx *p, const char *s, const char *end, uint64_t *bits)
{
    int lo, hi, step = 1, rc;
    bool star = false, range = false;
    if (s == end)
        return field_error(p, "empty list item");
    if (*s == '*') {
        star = true;
        lo = p->def->min;
        hi = p->def->max;
        s++;
    } else {
        if ((rc = parse_value(p, &s, end, &lo)) < 0)
            return rc;
        hi = lo;
        if (s < end && *s == '-') {
            s++;
            range = true;
            if ((rc = parse_value(p, &s, end, &hi)) < 0)
                return rc;
            if (hi < lo)
                return field_error(p, "range %d-%d is backwards", lo, hi);
        }
    }
    if (s < end && *s == '/') {
        s++;
        const char *num = s;
        int v = 0;
        while (s < end && is_digit(*s) && v <= 1000)
            v = v * 10 + (*s++ - '0');
        int span = p->def->max - p->def->min + 1;
        if (s == num || (s < end && is_digit(*s)))
            return field_error(p, "step '%.*s' is not a number", (int)(end - num), num);
        if (v < 1 || v > span)
            return field_error(p, "step %d is out of range 1-%d", v, span);
        step = v;
        if (!star && !range)
            hi = p->def->max; /* "a/n": from a to the end of the field */
    }
    if (s < end)
        return field_error(p, "unexpected '%c'", *s);
    for (int v = lo; v <= hi; v += step)
        *bits |= UINT64_C(1) << v;
    return 0;
}

static int parse_field(struct parse_ctx *p, uint64_t *bits)
{
    const char *s = p->field, *end = p->field + p->field_len;
    *bits = 0;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *item_end = comma ? comma : end;
        int rc = parse_item(p, s, item_end, bits);
        if (rc < 0)
            return rc;
        if (!comma)
            return 0;
        s = comma + 1;
    }
}

/* Whether some month of the expression has one of its days of month (29 February counts). */
static bool dom_possible(const cron_expr *c)
{
    static const int max_days[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int m = 1; m <= 12; m++) {
        if (!(c->months & (1u << m)))
            continue;
        for (int d = 1; d <= max_days[m]; d++)
            if (c->days & (UINT32_C(1) << d))
                return true;
    }
    return false;
}

int cron_parse(const char *text, cron_expr *out, nc_error **err)
{
    size_t len = strlen(text);
    if (len > CRON_MAX_LEN)
        return nc_error_set(err, EINVAL, "invalid cron expression: longer than %d bytes",
                            CRON_MAX_LEN);
    for (size_t i = 0; i < len; i++) {
        /* Refused before anything quotes the text in a message. */
        unsigned char ch = (unsigned char)text[i];
        if ((ch < 0x20 && ch != '\t') || ch >= 0x7f)
            return nc_error_set(err, EINVAL,
                                "invalid cron expression: a control or non-ASCII character");
    }

    const char *s = text + strspn(text, " \t");
    if (*s == '@') {
        size_t n = strcspn(s, " \t");
        if (s[n + strspn(s + n, " \t")] != '\0')
            return nc_error_set(err, EINVAL, "invalid cron expression '%s': text after '%.*s'",
                                text, (int)n, s);
        for (size_t i = 0; i < NC_ARRAY_SIZE(macros); i++)
            if (strlen(macros[i].name) == n && strncasecmp(s, macros[i].name, n) == 0)
                return cron_parse(macros[i].fields, out, err);
        if (n == strlen("@reboot") && strncasecmp(s, "@reboot", n) == 0)
            return nc_error_set(err, EINVAL,
                                "invalid cron expression '%s': @reboot is not supported", text);
        return nc_error_set(err, EINVAL, "invalid cron expression '%s': unknown macro '%.*s'", text,
                            (int)n, s);
    }

    const char *start[NFIELDS + 1];
    size_t flen[NFIELDS + 1];
    int n = 0;
    while (*s) {
        size_t l = strcspn(s, " \t");
        if (n <= NFIELDS) {
            start[n] = s;
            flen[n] = l;
        }
        n++;
        s += l;
        s += strspn(s, " \t");
    }
    if (n != NFIELDS)
        return nc_error_set(err, EINVAL,
                            "invalid cron expression '%s': expected 5 fields (minute hour "
                            "day-of-month month day-of-week), got %d",
                            text, n);

    cron_expr c = {0};
    uint64_t bits[NFIELDS];
    for (int i = 0; i < NFIELDS; i++) {
        struct parse_ctx p = {text, &fields[i], start[i], flen[i], err};
        int rc = parse_field(&p, &bits[i]);
        if (rc < 0)
            return rc;
        if (start[i][0] == '*')
            c.flags |= star_flag[i];
    }
    c.minutes = bits[F_MIN];
    c.hours = (uint32_t)bits[F_HOUR];
    c.days = (uint32_t)bits[F_DOM];
    c.months = (uint16_t)bits[F_MON];
    c.weekdays = (uint8_t)((bits[F_DOW] | (bits[F_DOW] >> 7)) & 0x7f); /* 7 is sunday */

    /* With the AND rule (either day field begins with '*') the day of month must exist in
     * one of the months; with the OR rule the weekdays always give days. */
    if ((c.flags & (CRON_DOM_STAR | CRON_DOW_STAR)) && !dom_possible(&c))
        return nc_error_set(err, EINVAL,
                            "invalid cron expression '%s': day-of-month '%.*s' never occurs in "
                            "month '%.*s'",
                            text, (int)flen[F_DOM], start[F_DOM], (int)flen[F_MON], start[F_MON]);
    *out = c;
    return 0;
}

static bool day_matches(const cron_expr *c, unsigned mday, unsigned wday)
{
    bool dom = c->days & (UINT32_C(1) << mday);
    bool dow = c->weekdays & (1u << wday);
    if (c->flags & (CRON_DOM_STAR | CRON_DOW_STAR))
        return dom && dow;
    return dom || dow;
}

bool cron_matches(const cron_expr *c, const struct tm *t)
{
    if (t->tm_min < 0 || t->tm_min > 59 || t->tm_hour < 0 || t->tm_hour > 23 || t->tm_mday < 1 ||
        t->tm_mday > 31 || t->tm_mon < 0 || t->tm_mon > 11 || t->tm_wday < 0 || t->tm_wday > 6)
        return false;
    return (c->minutes & (UINT64_C(1) << t->tm_min)) && (c->hours & (1u << t->tm_hour)) &&
           (c->months & (1u << (t->tm_mon + 1))) &&
           day_matches(c, (unsigned)t->tm_mday, (unsigned)t->tm_wday);
}

bool cron_is_fixed(const cron_expr *c)
{
    return !(c->flags & (CRON_MIN_STAR | CRON_HOUR_STAR));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* The lowest set bit >= from, or -1. */
static int next_bit(uint64_t bits, int from)
{
    if (from > 63)
        return -1;
    uint64_t rest = bits >> from;
    return rest ? from + __builtin_ctzll(rest) : -1;
}

/* The first wall time (local seconds, read as if UTC) at or after `from`, at a minute
 * boundary, that matches, if it is before `limit`. */
static bool first_match(const cron_expr *c, int64_t from, int64_t limit, int64_t *out)
{
    int64_t t = floor_div(from + 59, 60) * 60;
    while (t < limit) {
        int64_t days = floor_div(t, 86400), secs = t - days * 86400;
        int64_t y;
        unsigned m, d;
        tz_civil_from_days(days, &y, &m, &d);
        if (!(c->months & (1u << m))) {
            t = tz_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * 86400;
            continue;
        }
        unsigned wday = (unsigned)(((days + 4) % 7 + 7) % 7);
        if (!day_matches(c, d, wday)) {
            t = (days + 1) * 86400;
            continue;
        }
        int h = (int)(secs / 3600), mi = (int)(secs / 60 % 60);
        if (!(c->hours & (1u << h))) {
            int nh = next_bit(c->hours, h + 1);
            t = nh < 0 ? (days + 1) * 86400 : days * 86400 + nh * 3600;
            continue;
        }
        if (!(c->minutes & (UINT64_C(1) << mi))) {
            int nm = next_bit(c->minutes, mi + 1);
            t = nm < 0 ? days * 86400 + (h + 1) * 3600 : days * 86400 + h * 3600 + nm * 60;
            continue;
        }
        *out = t;
        return true;
    }
    return false;
}

/* Whether the wall time was already shown by the clock before instant u (a second pass). */
static bool seen_before(const nc_tz *tz, int64_t wall, int64_t u)
{
    int64_t days = floor_div(wall, 86400), secs = wall - days * 86400;
    int64_t y;
    unsigned m, d;
    tz_civil_from_days(days, &y, &m, &d);
    struct tm tm = {.tm_year = (int)(y - 1900),
                    .tm_mon = (int)m - 1,
                    .tm_mday = (int)d,
                    .tm_hour = (int)(secs / 3600),
                    .tm_min = (int)(secs / 60 % 60),
                    .tm_sec = (int)(secs % 60)};
    int flags;
    int64_t first = tz_from_local(tz, &tm, &flags);
    return (flags & TZ_LOCAL_AMBIGUOUS) && first < u;
}

int cron_next(const cron_expr *c, const nc_tz *tz, int64_t after, int64_t *next, nc_error **err)
{
    if (!tz)
        tz = tz_utc();
    if (after < TZ_TIME_MIN || after >= TZ_TIME_MAX)
        return nc_error_set(err, ERANGE, "cron: time %lld is out of range", (long long)after);
    int64_t horizon = after + (int64_t)CRON_HORIZON_YEARS * 366 * 86400;
    if (horizon > TZ_TIME_MAX)
        horizon = TZ_TIME_MAX;
    bool fixed = cron_is_fixed(c);
    /* Walk the zone's spans of constant offset: within one, wall time runs with real time. */
    for (int64_t u = after + 1; u <= horizon;) {
        int64_t s, e, w;
        int32_t off = tz_offset_span(tz, u, &s, &e);
        if (fixed && u == s && s > TZ_TIME_MIN) {
            int32_t before = tz_offset_span(tz, s - 1, NULL, NULL);
            /* Clocks jumped over [s + before, s + off): a fixed time in there runs now. */
            if (before < off && first_match(c, s + before, s + off, &w)) {
                *next = s;
                return 0;
            }
        }
        int64_t end = e < horizon + 1 ? e : horizon + 1;
        for (int64_t from = u + off; first_match(c, from, end + off, &w); from = w + 1) {
            if (fixed && seen_before(tz, w, w - off))
                continue; /* clocks went back: a fixed time runs on its first pass only */
            *next = w - off;
            return 0;
        }
        u = e;
    }
    _cleanup_free_ char *when = tz_format(tz, after);
    return nc_error_set(err, ERANGE, "no fire time within %d years after %s", CRON_HORIZON_YEARS,
                        when);
}
