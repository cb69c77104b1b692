#include "channels/split.h"

#include <stdbool.h>
#include <string.h>

#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* The length in bytes of the UTF-8 sequence at p (1 for an invalid byte) and its UTF-16 units. */
static size_t char_len(const unsigned char *p, size_t avail, size_t *units)
{
    size_t n = 1;
    if (p[0] >= 0xF0 && p[0] <= 0xF4)
        n = 4;
    else if (p[0] >= 0xE0)
        n = 3;
    else if (p[0] >= 0xC2 && p[0] < 0xE0)
        n = 2;
    if (n > avail)
        n = 1;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) {
            n = 1;
            break;
        }
    *units = n == 4 ? 2 : 1;
    return n;
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
