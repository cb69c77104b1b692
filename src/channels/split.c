#include "channels/split.h"

#include <stdbool.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong form, no surrogate,
 * nothing past U+10FFFF), or 0 when the bytes there are not one. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c < 0x80)
        return 1;
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
    if (n > avail || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* The length in bytes of the character at p (1 for a byte that starts no well-formed sequence)
 * and its UTF-16 units. */
static size_t char_len(const unsigned char *p, size_t avail, size_t *units)
{
    size_t n = utf8_len(p, avail);
    if (!n)
        n = 1;
    *units = n == 4 ? 2 : 1;
    return n;
}

char *split_utf8_clean(const char *text)
{
    size_t len = strlen(text);
    strbuf out = STRBUF_INIT;
    strbuf_grow(&out, len + 1);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_len((const unsigned char *)text + i, len - i);
        if (n) {
            strbuf_add(&out, text + i, n);
            i += n;
        } else {
            strbuf_addstr(&out, "\xEF\xBF\xBD"); /* U+FFFD */
            i++;
        }
    }
    return out.buf ? strbuf_detach(&out, NULL) : xstrdup("");
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\n' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

char **split_text(const char *text, size_t limit)
{
    char **out = NULL;
    size_t len = strlen(text);
    size_t pos = 0;
    while (pos < len) {
        /* Walk characters while they fit, remembering the last break and space. */
        size_t units = 0, i = pos, nl = 0, sp = 0;
        bool have_nl = false, have_sp = false;
        while (i < len) {
            size_t u;
            size_t n = char_len((const unsigned char *)text + i, len - i, &u);
            if (units + u > limit)
                break;
            if (text[i] == '\n') {
                nl = i;
                have_nl = true;
            } else if (text[i] == ' ') {
                sp = i;
                have_sp = true;
            }
            units += u;
            i += n;
        }
        size_t end, next;
        if (i >= len) {
            end = next = len;
        } else if (have_nl && nl > pos) {
            end = nl;
            next = nl + 1;
        } else if (have_sp && sp > pos) {
            end = sp;
            next = sp + 1;
        } else {
            end = next = i;
        }
        if (!blank(text + pos, end - pos))
            strv_push_take(&out, xstrndup(text + pos, end - pos));
        pos = next;
    }
    if (!out)
        out = xcalloc(1, sizeof(*out));
    return out;
}
