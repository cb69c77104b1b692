#include "orch/schedule.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

static const char *const kind_names[] = {
    [SCHED_CRON] = "cron",
    [SCHED_INTERVAL] = "interval",
    [SCHED_ONCE] = "once",
};

int sched_kind_parse(const char *name, enum sched_kind *out, nc_error **err)
{
    for (size_t i = 0; i < NC_ARRAY_SIZE(kind_names); i++) {
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (enum sched_kind)i;
            return 0;
        }
    }
    return nc_error_set(err, EINVAL, "unknown schedule type '%s' (want cron, interval or once)",
                        name);
}

const char *sched_kind_name(enum sched_kind kind)
{
    if ((size_t)kind < NC_ARRAY_SIZE(kind_names))
        return kind_names[kind];
    return "unknown";
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Exactly n digits at *s. */
static bool digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((*s)[i]))
            return false;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return true;
}

static int parse_interval(const char *value, int64_t *out, nc_error **err)
{
    int64_t ms = 0;
    if (*value && strspn(value, "0123456789") == strlen(value)) {
        /* Plain digits are milliseconds, as NanoClaw stores them. */
        for (const char *p = value; *p; p++) {
            if (ms > SCHED_INTERVAL_MAX_MS)
                break;
            ms = ms * 10 + (*p - '0');
        }
    } else {
        uint64_t v;
        _cleanup_error_ nc_error *e = NULL;
        if (parse_duration_ms(value, &v, &e) < 0) {
            /* "invalid duration 'x': why" -> "invalid interval 'x': why" */
            const char *why = strstr(e->msg, "': ");
            return nc_error_set(err, EINVAL, "invalid interval '%s': %s", value,
                                why ? why + 3 : e->msg);
        }
        ms = (int64_t)v;
    }
    if (ms <= 0)
        return nc_error_set(err, EINVAL, "invalid interval '%s': must be more than 0", value);
    if (ms > SCHED_INTERVAL_MAX_MS)
        return nc_error_set(err, EINVAL, "invalid interval '%s': more than %s", value,
                            DURATION_MAX_TEXT);
    *out = ms;
    return 0;
}

static int parse_once(const char *value, const nc_tz *tz, int64_t *out, nc_error **err)
{
    const char *s = value;
    int y, mo, d, h, mi, sec = 0, ms = 0;
    bool ok = digits(&s, 4, &y) && *s++ == '-' && digits(&s, 2, &mo) && *s++ == '-' &&
              digits(&s, 2, &d) && (*s == 'T' || *s == ' ') && (s++, digits(&s, 2, &h)) &&
              *s++ == ':' && digits(&s, 2, &mi);
    if (ok && *s == ':') {
        s++;
        ok = digits(&s, 2, &sec);
        if (ok && *s == '.') {
            s++;
            int n = 0;
            while (is_digit(*s)) {
                if (n++ < 3)
                    ms = ms * 10 + (*s - '0');
                s++;
            }
            ok = n > 0;
            for (; ok && n < 3; n++)
                ms *= 10;
        }
    }
    if (!ok)
        return nc_error_set(err, EINVAL,
                            "invalid time '%s': want YYYY-MM-DDTHH:MM:SS, local time in '%s'",
                            value, tz_name(tz));
    if (mo < 1 || mo > 12 || d < 1 || (unsigned)d > tz_days_in_month(y, (unsigned)mo) || h > 23 ||
        mi > 59 || sec > 59)
        return nc_error_set(err, EINVAL, "invalid time '%s': no such date or time", value);

    int64_t utc;
    if (*s == '\0') {
        struct tm tm = {.tm_year = y - 1900,
                        .tm_mon = mo - 1,
                        .tm_mday = d,
                        .tm_hour = h,
                        .tm_min = mi,
                        .tm_sec = sec};
        utc = tz_from_local(tz, &tm, NULL);
    } else {
        /* An explicit zone names the instant itself: "Z", "+01:00", "-0530". */
        int zoff = 0;
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            int sign = *s++ == '-' ? -1 : 1, zh, zm = 0;
            ok = digits(&s, 2, &zh) && zh <= 23;
            if (ok && *s == ':')
                s++;
            if (ok && *s)
                ok = digits(&s, 2, &zm) && zm <= 59;
            zoff = sign * (zh * 3600 + zm * 60);
        } else {
            ok = false;
        }
        if (!ok || *s != '\0')
            return nc_error_set(err, EINVAL,
                                "invalid time '%s': want YYYY-MM-DDTHH:MM:SS, local time in '%s'",
                                value, tz_name(tz));
        utc = tz_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec -
              zoff;
    }
    *out = utc * 1000 + ms;
    return 0;
}

int sched_parse(enum sched_kind kind, const char *value, const nc_tz *tz, sched *out,
                nc_error **err)
{
    if (!tz)
        tz = tz_utc();
    sched s = {.kind = kind};
    int rc;
    switch (kind) {
    case SCHED_CRON:
        rc = cron_parse(value, &s.cron, err);
        break;
    case SCHED_INTERVAL:
        rc = parse_interval(value, &s.interval_ms, err);
        break;
    case SCHED_ONCE:
        rc = parse_once(value, tz, &s.once_ms, err);
        break;
    default:
        return nc_error_set(err, EINVAL, "unknown schedule type %d", (int)kind);
    }
    if (rc < 0)
        return rc;
    *out = s;
    return 0;
}

/* The latest fire time <= now, given first, a fire time <= now. The search window behind now
 * doubles until it holds a fire time, so the walk forward covers few of them. */
static int64_t cron_latest(const sched *s, const nc_tz *tz, int64_t first, int64_t now)
{
    int64_t best = first, t;
    for (int64_t w = 60; now - w > best; w *= 2) {
        if (cron_next(&s->cron, tz, now - w, &t, NULL) == 0 && t <= now) {
            best = t;
            break;
        }
    }
    while (cron_next(&s->cron, tz, best, &t, NULL) == 0 && t <= now)
        best = t;
    return best;
}

int64_t sched_next_ms(const sched *s, const nc_tz *tz, int64_t last_due_ms, int64_t created_ms,
                      int64_t now_ms)
{
    if (!tz)
        tz = tz_utc();
    switch (s->kind) {
    case SCHED_ONCE:
        return last_due_ms ? -1 : s->once_ms;
    case SCHED_INTERVAL: {
        if (s->interval_ms <= 0)
            return -1;
        int64_t anchor = last_due_ms ? last_due_ms : created_ms;
        int64_t next = anchor + s->interval_ms;
        if (next > now_ms)
            return next;
        return anchor + (now_ms - anchor) / s->interval_ms * s->interval_ms;
    }
    case SCHED_CRON: {
        int64_t after = floor_div(last_due_ms ? last_due_ms : created_ms, 1000);
        int64_t now = floor_div(now_ms, 1000), next;
        if (cron_next(&s->cron, tz, after, &next, NULL) < 0)
            return -1;
        if (next > now)
            return next * 1000;
        return cron_latest(s, tz, next, now) * 1000;
    }
    default:
        return -1;
    }
}
