/* Text helpers (see text.h). */
#include "text.h"

#include <string.h>

#include "util/banned.h"

bool text_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s)
        return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

bool text_parse_seconds_ms(const char *s, uint64_t max_ms, uint64_t *out_ms)
{
    if (!s || !*s)
        return false;
    size_t ilen = strcspn(s, ".");
    if (ilen == 0 || ilen > 12)
        return false;
    uint64_t ms = 0;
    for (size_t i = 0; i < ilen; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        ms = ms * 10 + (uint64_t)(s[i] - '0');
    }
    ms *= 1000;
    if (s[ilen] == '.') {
        const char *f = s + ilen + 1;
        if (!*f)
            return false;
        uint64_t scale = 100;
        for (; *f; f++) {
            if (*f < '0' || *f > '9')
                return false;
            ms += (uint64_t)(*f - '0') * scale;
            scale /= 10;
        }
    }
    if (ms > max_ms)
        return false;
    *out_ms = ms;
    return true;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF), or 0 when there is none. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    if (c >= 0x01 && c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

void text_add_utf8(strbuf *out, const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i = 0, run = 0; /* bytes [i-run, i) are good and not yet copied */
    strbuf_grow(out, len);
    while (i < len) {
        size_t n = utf8_seq(p + i, len - i);
        if (n) {
            i += n;
            run += n;
            continue;
        }
        strbuf_add(out, p + i - run, run);
        strbuf_addstr(out, "\xEF\xBF\xBD");
        run = 0;
        i++;
    }
    strbuf_add(out, p + i - run, run);
}

const char *text_trim(const char *s, size_t *len)
{
    size_t n = *len;
    while (n && (*s == ' ' || *s == '\t' || *s == '\r')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    *len = n;
    return s;
}
