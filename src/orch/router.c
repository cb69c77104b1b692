#include "orch/router.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/xalloc.h"
#include "util/banned.h"

bool router_trigger_matches(const char *trigger, const char *text)
{
    if (!trigger || !*trigger || !text)
        return false;
    while (isspace((unsigned char)*text))
        text++;
    size_t n = strlen(trigger);
    if (strncasecmp(text, trigger, n) != 0)
        return false;
    unsigned char next = (unsigned char)text[n];
    /* A word boundary after the trigger, as NanoClaw's /^@Andy\b/i. When the trigger itself
     * ends in a non-word character, \b needs a word character next; keep it simple and exact:
     * the match must not continue a word. */
    unsigned char last = (unsigned char)trigger[n - 1];
    bool last_word = isalnum(last) || last == '_';
    bool next_word = isalnum(next) || next == '_';
    return last_word ? !next_word : true;
}

char *router_group_trigger(const char *group_trigger, const char *assistant_name)
{
    if (group_trigger && *group_trigger)
        return xstrdup(group_trigger);
    return xasprintf("@%s", assistant_name);
}

bool router_select(const router_msg *msgs, size_t n, bool needs_trigger, const char *trigger,
                   size_t max, size_t *skip, size_t *start, size_t *count)
{
    *skip = *start = *count = 0;
    if (!n || !max)
        return false;
    if (!needs_trigger) {
        *count = n < max ? n : max;
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (!router_trigger_matches(trigger, msgs[i].text))
            continue;
        size_t first = i + 1 > max ? i + 1 - max : 0;
        *skip = first;
        *start = first;
        *count = i + 1 - first;
        return true;
    }
    return false;
}

static void add_escaped(strbuf *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            strbuf_addstr(out, "&amp;");
            break;
        case '<':
            strbuf_addstr(out, "&lt;");
            break;
        case '>':
            strbuf_addstr(out, "&gt;");
            break;
        case '"':
            strbuf_addstr(out, "&quot;");
            break;
        case '\'':
            strbuf_addstr(out, "&apos;");
            break;
        default:
            strbuf_addch(out, *s);
        }
    }
}

void router_format(const router_msg *msgs, size_t n, strbuf *out)
{
    strbuf_addstr(out, "<messages>\n");
    for (size_t i = 0; i < n; i++) {
        time_t secs = (time_t)(msgs[i].time_ms / 1000);
        struct tm tm;
        char stamp[32]; /* "2026-12-03T08:05:45Z" */
        gmtime_r(&secs, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        strbuf_addstr(out, "<message sender=\"");
        add_escaped(out, msgs[i].sender ? msgs[i].sender : "");
        strbuf_addf(out, "\" time=\"%s\">", stamp);
        add_escaped(out, msgs[i].text ? msgs[i].text : "");
        strbuf_addstr(out, "</message>\n");
    }
    strbuf_addstr(out, "</messages>");
}

uint64_t router_backoff_ms(uint64_t base_ms, unsigned n)
{
    if (n < 1 || n > ROUTER_MAX_RETRIES)
        return 0;
    return base_ms << (n - 1);
}

/* Case-insensitive substring search. */
static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

bool router_stale_session(const char *error)
{
    if (!error)
        return false;
    if (find_ci(error, "no conversation found"))
        return true;
    const char *p = find_ci(error, "enoent");
    if (p && find_ci(p, ".jsonl"))
        return true;
    p = find_ci(error, "session");
    return p && find_ci(p, "not found");
}
