#include "util/termsafe.h"

#include <stdint.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

/* The length of the UTF-8 sequence at s[0..n) when it is valid and not a C1 control, else 0.
 * s[0] >= 0x80. */
static size_t utf8_printable_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
    if (s[0] < 0xc2 || s[0] > 0xf4 || n < len)
        return 0;
    uint32_t cp = s[0] & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < 0xa0 || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* The length of the character at s[0..n) (n >= 1) when it may be printed as it is, else 0. */
static size_t safe_len(const unsigned char *s, size_t n, unsigned flags)
{
    unsigned char c = s[0];
    if (c >= 0x80)
        return utf8_printable_len(s, n);
    if (c >= 0x20 && c != 0x7f)
        return 1;
    if ((c == '\n' && (flags & TERMSAFE_KEEP_NEWLINE)) ||
        (c == '\t' && (flags & TERMSAFE_KEEP_TAB)))
        return 1;
    return 0;
}

void termsafe_add(strbuf *out, const char *s, size_t len, unsigned flags)
{
    const unsigned char *u = (const unsigned char *)s;
    strbuf_grow(out, len);
    for (size_t i = 0; i < len;) {
        size_t n = safe_len(u + i, len - i, flags);
        if (n) {
            strbuf_add(out, u + i, n);
            i += n;
        } else {
            strbuf_addch(out, TERMSAFE_REPLACEMENT);
            i++;
        }
    }
}

char *termsafe_str(const char *s, size_t len, unsigned flags)
{
    strbuf out = STRBUF_INIT;
    termsafe_add(&out, s, len, flags);
    return strbuf_detach(&out, NULL);
}

char *termsafe_cstr(const char *s, unsigned flags)
{
    return s ? termsafe_str(s, strlen(s), flags) : NULL;
}

bool termsafe_is_clean(const char *s, size_t len, unsigned flags)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = safe_len(u + i, len - i, flags);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

/* How many bytes at the end of s[0..n) are the start of a UTF-8 sequence that more bytes could
 * still complete: a lead byte followed by fewer continuation bytes than it announces. */
static size_t cut_tail(const unsigned char *s, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = s[n - k];
        if ((c & 0xc0) == 0x80)
            continue;
        if (c < 0xc2 || c > 0xf4)
            return 0;
        size_t want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        return want > k ? k : 0;
    }
    return 0;
}

void termsafe_stream_add(termsafe_stream *st, strbuf *out, const char *s, size_t len,
                         unsigned flags)
{
    _cleanup_strbuf_ strbuf in = STRBUF_INIT;
    strbuf_add(&in, st->held, st->nheld);
    strbuf_add(&in, s, len);
    const unsigned char *u = (const unsigned char *)strbuf_str(&in);
    size_t tail = cut_tail(u, in.len);
    termsafe_add(out, (const char *)u, in.len - tail, flags);
    memcpy(st->held, u + in.len - tail, tail);
    st->nheld = tail;
}

void termsafe_stream_end(termsafe_stream *st, strbuf *out)
{
    termsafe_add(out, (const char *)st->held, st->nheld, 0);
    st->nheld = 0;
}
