#include "util/tz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fileutil.h"
#include "util/tz_internal.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* RFC 8536 says utoff SHOULD lie in [-89999, 93599] (more than -25 h, less than 26 h). We
 * require it: tz_from_local searches a window of that width. */
#define UTOFF_MIN (-89999)
#define UTOFF_MAX 93599
#define LOCAL_WINDOW (26 * 3600)
/* The longest zone name accepted. */
#define NAME_MAX_LEN 255

struct tz_type {
    int32_t utoff;
    bool isdst;
    const char *abbr; /* into nc_tz.chars */
};

struct nc_tz {
    char *name;
    size_t ntrans;
    int64_t *trans;      /* ascending, within TZ_TIME_MIN..TZ_TIME_MAX */
    uint8_t *trans_type; /* the type from each transition on */
    size_t ntypes;
    struct tz_type *types;
    char *chars;        /* NUL-terminated abbreviations */
    uint8_t first_type; /* the type before the first transition */
    bool has_footer;    /* footer rules apply from the last transition on */
    struct tz_posix footer;
};

/* The type in effect at an instant. */
struct tz_at {
    int32_t off;
    bool isdst;
    const char *abbr;
};

static int64_t clamp_time(int64_t t)
{
    return t < TZ_TIME_MIN ? TZ_TIME_MIN : t > TZ_TIME_MAX ? TZ_TIME_MAX : t;
}

/* Howard Hinnant's days_from_civil and civil_from_days. */
int64_t tz_days_from_civil(int64_t year, unsigned month, unsigned day)
{
    int64_t y = year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void tz_civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = m;
    *year = (int64_t)yoe + era * 400 + (m <= 2);
}

unsigned tz_days_in_month(int64_t year, unsigned month)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12)
        return 0;
    return dim[month - 1] + (month == 2 && tz_is_leap(year));
}

/* ---- lookups ---- */

static struct tz_at lookup(const nc_tz *tz, int64_t utc, int64_t *start, int64_t *end)
{
    utc = clamp_time(utc);
    int64_t s = TZ_TIME_MIN, e = TZ_TIME_MAX + 1;
    struct tz_at at;
    if (tz->has_footer && (tz->ntrans == 0 || utc >= tz->trans[tz->ntrans - 1])) {
        const struct tz_posix *px = &tz->footer;
        bool dst = posix_at(px, utc, &s, &e);
        if (tz->ntrans > 0 && s < tz->trans[tz->ntrans - 1])
            s = tz->trans[tz->ntrans - 1];
        at =
            (struct tz_at){dst ? px->dst_off : px->std_off, dst, dst ? px->dst_name : px->std_name};
    } else {
        const struct tz_type *t;
        if (tz->ntrans == 0 || utc < tz->trans[0]) {
            t = &tz->types[tz->first_type];
            if (tz->ntrans > 0)
                e = tz->trans[0];
        } else {
            size_t lo = 0, hi = tz->ntrans; /* trans[lo] <= utc < trans[hi] */
            while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;
                if (tz->trans[mid] <= utc)
                    lo = mid;
                else
                    hi = mid;
            }
            t = &tz->types[tz->trans_type[lo]];
            s = tz->trans[lo];
            if (hi < tz->ntrans)
                e = tz->trans[hi];
        }
        at = (struct tz_at){t->utoff, t->isdst, t->abbr};
    }
    if (start)
        *start = s < TZ_TIME_MIN ? TZ_TIME_MIN : s;
    if (end)
        *end = e > TZ_TIME_MAX + 1 ? TZ_TIME_MAX + 1 : e;
    return at;
}

int32_t tz_offset_span(const nc_tz *tz, int64_t utc, int64_t *start, int64_t *end)
{
    return lookup(tz, utc, start, end).off;
}

void tz_to_local(const nc_tz *tz, int64_t utc, struct tm *local, int32_t *offset)
{
    utc = clamp_time(utc);
    struct tz_at at = lookup(tz, utc, NULL, NULL);
    int64_t t = utc + at.off;
    int64_t days = tz_floor_div(t, 86400), secs = t - days * 86400;
    int64_t y;
    unsigned m, d;
    tz_civil_from_days(days, &y, &m, &d);
    memset(local, 0, sizeof(*local));
    local->tm_year = (int)(y - 1900);
    local->tm_mon = (int)m - 1;
    local->tm_mday = (int)d;
    local->tm_hour = (int)(secs / 3600);
    local->tm_min = (int)(secs / 60 % 60);
    local->tm_sec = (int)(secs % 60);
    local->tm_wday = (int)(((days + 4) % 7 + 7) % 7);
    local->tm_yday = (int)(days - tz_days_from_civil(y, 1, 1));
    local->tm_isdst = at.isdst;
    local->tm_gmtoff = at.off;
    local->tm_zone = at.abbr;
    if (offset)
        *offset = at.off;
}

int64_t tz_from_local(const nc_tz *tz, const struct tm *local, int *flags)
{
    int64_t mon = local->tm_mon;
    int64_t year = (int64_t)local->tm_year + 1900 + tz_floor_div(mon, 12);
    mon -= tz_floor_div(mon, 12) * 12;
    int64_t days = tz_days_from_civil(year, (unsigned)mon + 1, 1) + (int64_t)local->tm_mday - 1;
    int64_t wall =
        days * 86400 + (int64_t)local->tm_hour * 3600 + (int64_t)local->tm_min * 60 + local->tm_sec;
    wall = clamp_time(wall);

    /* Every instant u with u + offset(u) == wall lies within LOCAL_WINDOW of wall. Walk the
     * spans of the window in order: the first solution is the earliest; none means wall
     * falls into the jump at a span's end. */
    int64_t first = 0, gap = 0;
    int found = 0;
    bool in_gap = false;
    int64_t u = wall - LOCAL_WINDOW;
    for (;;) {
        int64_t s, e;
        int32_t off = tz_offset_span(tz, u, &s, &e);
        int64_t cand = wall - off;
        if (cand >= s && cand < e && cand >= TZ_TIME_MIN && cand <= TZ_TIME_MAX) {
            if (found++ == 0)
                first = cand;
        }
        if (e > wall + LOCAL_WINDOW || e > TZ_TIME_MAX || e <= u)
            break;
        int32_t next_off = tz_offset_span(tz, e, NULL, NULL);
        if (!found && !in_gap && next_off > off && e + off <= wall && wall < e + next_off) {
            in_gap = true;
            gap = wall - off;
        }
        u = e;
    }
    if (flags)
        *flags = found > 1 ? TZ_LOCAL_AMBIGUOUS : found ? 0 : TZ_LOCAL_GAP;
    if (found)
        return first;
    if (in_gap)
        return gap;
    /* Only at the ends of the supported range. */
    return clamp_time(wall - tz_offset_span(tz, wall, NULL, NULL));
}

char *tz_format(const nc_tz *tz, int64_t utc)
{
    struct tm tm;
    int32_t off;
    tz_to_local(tz, utc, &tm, &off);
    char sign = off < 0 ? '-' : '+';
    int32_t a = off < 0 ? -off : off;
    _cleanup_free_ char *secs = a % 60 ? xasprintf(":%02d", (int)(a % 60)) : xstrdup("");
    return xasprintf("%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d%s", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, (int)(a / 3600),
                     (int)(a / 60 % 60), secs);
}

/* ---- construction ---- */

void tz_free(nc_tz *tz)
{
    if (!tz)
        return;
    free(tz->name);
    free(tz->trans);
    free(tz->trans_type);
    free(tz->types);
    free(tz->chars);
    posix_release(&tz->footer);
    free(tz);
}

const nc_tz *tz_utc(void)
{
    static const struct tz_type type = {0, false, "UTC"};
    static const nc_tz utc = {.name = (char *)"UTC", .ntypes = 1, .types = (struct tz_type *)&type};
    return &utc;
}

const char *tz_name(const nc_tz *tz)
{
    return tz->name;
}

static nc_tz *utc_zone(const char *name)
{
    nc_tz *tz = xnew0(nc_tz);
    tz->name = xstrdup(name);
    tz->chars = xstrdup("UTC");
    tz->ntypes = 1;
    tz->types = xnew0(struct tz_type);
    tz->types[0] = (struct tz_type){0, false, tz->chars};
    return tz;
}

int tz_parse_posix(const char *spec, nc_tz **out, nc_error **err)
{
    struct tz_posix px;
    if (!posix_parse(spec, &px)) {
        if (strlen(spec) > POSIX_MAX_LEN)
            return nc_error_set(err, EINVAL, "invalid TZ string: longer than %d bytes",
                                POSIX_MAX_LEN);
        return nc_error_set(err, EINVAL, "invalid TZ string '%s'", spec);
    }
    nc_tz *tz = xnew0(nc_tz);
    tz->name = xstrdup(spec);
    tz->chars = xstrdup(px.std_name);
    tz->ntypes = 1;
    tz->types = xnew0(struct tz_type);
    tz->types[0] = (struct tz_type){px.std_off, false, tz->chars};
    tz->has_footer = true;
    tz->footer = px;
    *out = tz;
    return 0;
}

struct reader {
    const uint8_t *p;
    size_t left;
};

static const uint8_t *take(struct reader *r, uint64_t n)
{
    if (n > r->left)
        return NULL;
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= (size_t)n;
    return p;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chr;
};

static bool read_header(struct reader *r, char *version, struct tzif_counts *c)
{
    const uint8_t *h = take(r, 44);
    if (!h || memcmp(h, "TZif", 4) != 0)
        return false;
    *version = (char)h[4];
    c->isut = be32(h + 20);
    c->isstd = be32(h + 24);
    c->leap = be32(h + 28);
    c->time = be32(h + 32);
    c->type = be32(h + 36);
    c->chr = be32(h + 40);
    return true;
}

static uint64_t block_size(const struct tzif_counts *c, unsigned tsize)
{
    return (uint64_t)c->time * (tsize + 1) + (uint64_t)c->type * 6 + c->chr +
           (uint64_t)c->leap * (tsize + 4) + c->isstd + c->isut;
}

#define TZIF_FAIL(...) return nc_error_set(err, EINVAL, __VA_ARGS__)

/* Reads one data block (times of tsize bytes) into tz. */
static int read_block(struct reader *r, const struct tzif_counts *c, unsigned tsize, nc_tz *tz,
                      nc_error **err)
{
    const char *name = tz->name;
    if (c->type == 0 || c->type > 256)
        TZIF_FAIL("time zone '%s': %u local time types (want 1-256)", name, c->type);
    if (c->chr == 0)
        TZIF_FAIL("time zone '%s': no abbreviations", name);
    if ((c->isut && c->isut != c->type) || (c->isstd && c->isstd != c->type))
        TZIF_FAIL("time zone '%s': indicator counts do not match the type count", name);
    if (c->leap)
        TZIF_FAIL("time zone '%s': leap-second zones are not supported", name);
    if (block_size(c, tsize) > r->left)
        TZIF_FAIL("time zone '%s': truncated TZif data", name);
    const uint8_t *times = take(r, (uint64_t)c->time * tsize);
    const uint8_t *idx = take(r, c->time);
    const uint8_t *types = take(r, (uint64_t)c->type * 6);
    const uint8_t *chars = take(r, c->chr);
    take(r, (uint64_t)c->isstd + c->isut);

    tz->chars = xmalloc((size_t)c->chr + 1);
    memcpy(tz->chars, chars, c->chr);
    tz->chars[c->chr] = '\0';
    tz->ntypes = c->type;
    tz->types = xcalloc(c->type, sizeof(*tz->types));
    for (uint32_t i = 0; i < c->type; i++) {
        const uint8_t *t = types + (size_t)i * 6;
        int32_t off = (int32_t)be32(t);
        if (off < UTOFF_MIN || off > UTOFF_MAX)
            TZIF_FAIL("time zone '%s': utc offset %d out of range", name, (int)off);
        if (t[4] > 1)
            TZIF_FAIL("time zone '%s': bad isdst flag", name);
        if (t[5] >= c->chr || !memchr(chars + t[5], '\0', c->chr - t[5]))
            TZIF_FAIL("time zone '%s': bad abbreviation index", name);
        tz->types[i] = (struct tz_type){off, t[4] == 1, tz->chars + t[5]};
    }
    tz->trans = xcalloc(c->time ? c->time : 1, sizeof(*tz->trans));
    tz->trans_type = xcalloc(c->time ? c->time : 1, 1);
    int64_t prev = INT64_MIN;
    for (uint32_t i = 0; i < c->time; i++) {
        int64_t t = tsize == 8 ? be64(times + (size_t)i * 8) : (int32_t)be32(times + (size_t)i * 4);
        if (i > 0 && t <= prev)
            TZIF_FAIL("time zone '%s': transitions out of order", name);
        prev = t;
        if (idx[i] >= c->type)
            TZIF_FAIL("time zone '%s': bad type index", name);
        /* Outside the supported range a transition only decides the type at its edge. */
        if (t < TZ_TIME_MIN) {
            tz->first_type = idx[i];
            continue;
        }
        if (t > TZ_TIME_MAX)
            break;
        tz->trans[tz->ntrans] = t;
        tz->trans_type[tz->ntrans++] = idx[i];
    }
    return 0;
}

int tz_parse(const char *name, const void *data, size_t len, nc_tz **out, nc_error **err)
{
    _cleanup_tz_ nc_tz *tz = xnew0(nc_tz);
    tz->name = xstrdup(name);
    struct reader r = {data, len};
    struct tzif_counts c;
    char version;
    if (!read_header(&r, &version, &c))
        TZIF_FAIL("time zone '%s': not a TZif file", name);
    if (version != 0 && (version < '2' || version > '4'))
        TZIF_FAIL("time zone '%s': unsupported TZif version", name);
    if (version == 0) {
        int rc = read_block(&r, &c, 4, tz, err);
        if (rc < 0)
            return rc;
        *out = TAKE_PTR(tz);
        return 0;
    }
    /* Version 2 and later: skip the 32-bit block, read the 64-bit one and the footer. */
    if (!take(&r, block_size(&c, 4)))
        TZIF_FAIL("time zone '%s': truncated TZif data", name);
    char version2;
    if (!read_header(&r, &version2, &c) || version2 < '2')
        TZIF_FAIL("time zone '%s': missing the 64-bit TZif header", name);
    int rc = read_block(&r, &c, 8, tz, err);
    if (rc < 0)
        return rc;
    const uint8_t *nl = take(&r, 1);
    const uint8_t *end = r.left ? memchr(r.p, '\n', r.left) : NULL;
    if (!nl || *nl != '\n' || !end)
        TZIF_FAIL("time zone '%s': missing the TZ string footer", name);
    size_t flen = (size_t)(end - r.p);
    if (flen > 0) {
        if (flen > POSIX_MAX_LEN || memchr(r.p, '\0', flen))
            TZIF_FAIL("time zone '%s': invalid TZ string in the footer", name);
        _cleanup_free_ char *footer = xstrndup((const char *)r.p, flen);
        if (!posix_parse(footer, &tz->footer))
            TZIF_FAIL("time zone '%s': invalid TZ string '%s' in the footer", name, footer);
        tz->has_footer = true;
    }
    *out = TAKE_PTR(tz);
    return 0;
}

/* ---- loading ---- */

/* Hands a kept error on to the caller's err (which may be NULL) and returns rc. */
static int pass_error(nc_error **err, nc_error **e, int rc)
{
    if (err && !*err)
        *err = TAKE_PTR(*e);
    return rc;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Whether name is a safe relative zone name. */
static bool valid_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > NAME_MAX_LEN)
        return false;
    const char *comp = name;
    for (const char *p = name;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - comp);
            if (n == 0 || (n == 1 && comp[0] == '.') ||
                (n == 2 && comp[0] == '.' && comp[1] == '.'))
                return false;
            if (*p == '\0')
                return true;
            comp = p + 1;
            continue;
        }
        if (!is_alpha(*p) && !is_digit(*p) && !strchr("._+-", *p))
            return false;
    }
}

/* name may be an absolute path inside the zoneinfo dir; *rel is then the part after it. */
static int check_name(const char *name, const char **rel, nc_error **err)
{
    const char *dir = TZ_ZONEINFO_DIR "/";
    const char *r = name;
    if (name[0] == '/') {
        if (strncmp(name, dir, strlen(dir)) != 0)
            return nc_error_set(err, EINVAL, "invalid time zone '%s': a path outside %s", name,
                                TZ_ZONEINFO_DIR);
        r = name + strlen(dir);
    }
    if (!valid_name(r))
        return nc_error_set(err, EINVAL, "invalid time zone '%s': not a zone name", name);
    *rel = r;
    return 0;
}

static int load_file(const char *display, const char *path, nc_tz **out, nc_error **err)
{
    _cleanup_strbuf_ strbuf buf = STRBUF_INIT;
    _cleanup_error_ nc_error *e = NULL;
    if (read_file(path, TZ_MAX_FILE_SIZE, &buf, &e) < 0) {
        if (e->code == ENOENT || e->code == ENOTDIR || e->code == EISDIR)
            return nc_error_set(err, ENOENT, "unknown time zone '%s': no file '%s'", display, path);
        return nc_error_set(err, e->code, "time zone '%s': %s", display, e->msg);
    }
    return tz_parse(display, buf.buf, buf.len, out, err);
}

static int load_named(const char *name, nc_tz **out, nc_error **err)
{
    const char *rel = NULL;
    int rc = check_name(name, &rel, err);
    if (rc < 0)
        return rc;
    _cleanup_free_ char *path = xasprintf("%s/%s", TZ_ZONEINFO_DIR, rel);
    _cleanup_error_ nc_error *e = NULL;
    rc = load_file(rel, path, out, &e);
    if (rc == -ENOENT && (strcmp(rel, "UTC") == 0 || strcmp(rel, "Etc/UTC") == 0)) {
        *out = utc_zone(rel);
        return 0;
    }
    return rc < 0 ? pass_error(err, &e, rc) : 0;
}

/* /etc/localtime, named after where it links into the zoneinfo dir, else /etc/timezone. */
static int load_localtime(nc_tz **out, nc_error **err)
{
    char link[512];
    ssize_t n = readlink("/etc/localtime", link, sizeof(link) - 1);
    _cleanup_free_ char *name = NULL;
    if (n > 0) {
        link[n] = '\0';
        const char *z = strstr(link, "zoneinfo/");
        if (z && valid_name(z + strlen("zoneinfo/")))
            name = xstrdup(z + strlen("zoneinfo/"));
    }
    if (!name) {
        _cleanup_strbuf_ strbuf tzf = STRBUF_INIT;
        _cleanup_error_ nc_error *e = NULL;
        if (read_file("/etc/timezone", 1024, &tzf, &e) == 0) {
            strbuf_truncate(&tzf, strcspn(strbuf_str(&tzf), "\n"));
            if (valid_name(strbuf_str(&tzf)))
                name = strbuf_detach(&tzf, NULL);
        }
    }
    _cleanup_error_ nc_error *e = NULL;
    int rc = load_file(name ? name : "localtime", "/etc/localtime", out, &e);
    if (rc == -ENOENT) {
        *out = utc_zone("UTC");
        return 0;
    }
    return rc < 0 ? pass_error(err, &e, rc) : 0;
}

static int load_host(nc_tz **out, nc_error **err)
{
    const char *v = getenv("TZ");
    if (!v || !*v)
        return load_localtime(out, err);
    if (*v == ':')
        v++;
    if (!*v) {
        *out = utc_zone("UTC");
        return 0;
    }
    if (strcmp(v, "/etc/localtime") == 0)
        return load_localtime(out, err);
    _cleanup_error_ nc_error *e = NULL;
    int rc = load_named(v, out, &e);
    if (rc == 0)
        return 0;
    if ((rc == -ENOENT || rc == -EINVAL) && tz_parse_posix(v, out, NULL) == 0)
        return 0;
    if (e) {
        _cleanup_free_ char *msg = xasprintf("TZ: %s", e->msg);
        free(e->msg);
        e->msg = TAKE_PTR(msg);
    }
    return pass_error(err, &e, rc);
}

int tz_load(const char *name, nc_tz **out, nc_error **err)
{
    if (!name || !*name)
        return load_host(out, err);
    return load_named(name, out, err);
}
