/* Lexing for the TOML subset parser (see toml_lex.h). */
#include "util/toml_lex.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Unquoted words and numbers are quoted in messages up to this many bytes. */
#define SHOWN_MAX 40

void toml_lex_init(toml_lexer *lx, const char *text, size_t len, const char *filename,
                   nc_error **err)
{
    *lx = (toml_lexer){
        .s = (const unsigned char *)text,
        .len = len,
        .filename = filename,
        .err = err,
        .loc_line = 1,
        .loc_col = 1,
    };
}

void toml_lex_locate(toml_lexer *lx, size_t pos, unsigned *line, unsigned *col)
{
    if (pos < lx->loc_pos) {
        for (size_t i = pos; i < lx->loc_pos; i++)
            if (lx->s[i] == '\n')
                lx->loc_line--;
        size_t line_start = pos;
        while (line_start > 0 && lx->s[line_start - 1] != '\n')
            line_start--;
        lx->loc_pos = line_start;
        lx->loc_col = 1;
    }
    for (; lx->loc_pos < pos; lx->loc_pos++) {
        unsigned char c = lx->s[lx->loc_pos];
        if (c == '\n') {
            lx->loc_line++;
            lx->loc_col = 1;
        } else if ((c & 0xC0) != 0x80) {
            lx->loc_col++;
        }
    }
    *line = lx->loc_line;
    *col = lx->loc_col;
}

int toml_lex_error(toml_lexer *lx, size_t pos, const char *fmt, ...)
{
    unsigned line, col;
    toml_lex_locate(lx, pos, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    return nc_error_set(lx->err, EINVAL, "%s:%u:%u: %s", lx->filename, line, col, msg);
}

/* Decodes the (already validated) UTF-8 sequence at pos. */
static uint32_t decode_at(const toml_lexer *lx, size_t pos)
{
    const unsigned char *s = lx->s + pos;
    if (s[0] < 0x80)
        return s[0];
    if (s[0] < 0xE0)
        return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    if (s[0] < 0xF0)
        return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
           (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
}

const char *toml_lex_describe(const toml_lexer *lx, size_t pos,
                              char buf[static TOML_LEX_DESCRIBE_SIZE])
{
    if (pos >= lx->len)
        return "end of file";
    unsigned char c = lx->s[pos];
    if (c == '\n' || c == '\r')
        return "end of line";
    if (c == '\'')
        return "\"'\"";
    if (c > 0x20 && c < 0x7F)
        snprintf(buf, TOML_LEX_DESCRIBE_SIZE, "'%c'", c);
    else
        snprintf(buf, TOML_LEX_DESCRIBE_SIZE, "U+%04X", (unsigned)decode_at(lx, pos));
    return buf;
}

static bool is_control(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7F;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* strspn() for text that is not NUL-terminated. */
static size_t span(const char *s, size_t len, const char *accept)
{
    size_t i = 0;
    while (i < len && s[i] != '\0' && strchr(accept, s[i]))
        i++;
    return i;
}

int toml_lex_check_encoding(toml_lexer *lx)
{
    const unsigned char *s = lx->s;
    for (size_t i = 0; i < lx->len;) {
        unsigned char c = s[i];
        if (c == '\0')
            return toml_lex_error(lx, i, "null bytes are not allowed");
        if (c == '\r' && (i + 1 >= lx->len || s[i + 1] != '\n'))
            return toml_lex_error(lx, i, "carriage return must be followed by a newline");
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            n = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return toml_lex_error(lx, i, "invalid utf-8");
        }
        if (n > lx->len - i)
            return toml_lex_error(lx, i, "invalid utf-8");
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return toml_lex_error(lx, i, "invalid utf-8");
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return toml_lex_error(lx, i, "invalid utf-8");
        i += n;
    }
    return 0;
}

static void skip_newline(toml_lexer *lx)
{
    if (toml_lex_at(lx, '\r'))
        lx->pos++;
    if (toml_lex_at(lx, '\n'))
        lx->pos++;
}

/* At '#': consumes the comment up to (not including) the line end. */
static int skip_comment(toml_lexer *lx)
{
    for (lx->pos++; !toml_lex_at_eol(lx); lx->pos++)
        if (is_control(lx->s[lx->pos]))
            return toml_lex_error(
                lx, lx->pos, "control character U+%04X is not allowed in comments", lx->s[lx->pos]);
    return 0;
}

int toml_lex_end_line(toml_lexer *lx, const char *after)
{
    toml_lex_skip_ws(lx);
    if (toml_lex_at(lx, '#')) {
        int r = skip_comment(lx);
        if (r < 0)
            return r;
    }
    if (toml_lex_at_eol(lx)) {
        skip_newline(lx);
        return 0;
    }
    char buf[TOML_LEX_DESCRIBE_SIZE];
    return toml_lex_error(lx, lx->pos, "unexpected %s after %s",
                          toml_lex_describe(lx, lx->pos, buf), after);
}

int toml_lex_skip_blank(toml_lexer *lx)
{
    for (;;) {
        toml_lex_skip_ws(lx);
        if (toml_lex_at(lx, '#')) {
            int r = skip_comment(lx);
            if (r < 0)
                return r;
        }
        if (lx->pos >= lx->len || !toml_lex_at_eol(lx))
            return 0;
        skip_newline(lx);
    }
}

/* Appends one \u or \U escape (lx->pos at the 'u' or 'U') as UTF-8. */
static int unicode_escape(toml_lexer *lx, size_t backslash, strbuf *sb)
{
    size_t ndigits = lx->s[lx->pos] == 'u' ? 4 : 8;
    const char *esc = (const char *)lx->s + backslash;
    uint32_t cp = 0;
    for (size_t i = 1; i <= ndigits; i++) {
        int v = lx->pos + i < lx->len ? hex_value(lx->s[lx->pos + i]) : -1;
        if (v < 0)
            return toml_lex_error(lx, backslash, "invalid escape '%.2s': expected %zu hex digits",
                                  esc, ndigits);
        cp = cp << 4 | (uint32_t)v;
    }
    int esclen = (int)ndigits + 2;
    if (cp == 0)
        return toml_lex_error(lx, backslash, "invalid escape '%.*s': strings may not contain NUL",
                              esclen, esc);
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return toml_lex_error(lx, backslash, "invalid escape '%.*s': not a unicode scalar value",
                              esclen, esc);
    lx->pos += ndigits + 1;
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6), n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12), n = 3;
    } else {
        out[0] = (char)(0xF0 | cp >> 18), n = 4;
    }
    for (size_t i = n - 1; i > 0; i--, cp >>= 6)
        out[i] = (char)(0x80 | (cp & 0x3F));
    strbuf_add(sb, out, n);
    return 0;
}

int toml_lex_string(toml_lexer *lx, char **ret)
{
    size_t start = lx->pos;
    unsigned char quote = lx->s[start];
    if (lx->pos + 2 < lx->len && lx->s[lx->pos + 1] == quote && lx->s[lx->pos + 2] == quote)
        return toml_lex_error(lx, start, "multi-line strings are not supported");
    _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
    strbuf_grow(&sb, 0); /* so an empty string detaches as "" too */
    for (lx->pos++;;) {
        if (toml_lex_at_eol(lx))
            return toml_lex_error(lx, start, "unterminated string");
        unsigned char c = lx->s[lx->pos];
        if (c == quote) {
            lx->pos++;
            break;
        }
        if (is_control(c))
            return toml_lex_error(lx, lx->pos, "control character U+%04X is not allowed in strings",
                                  c);
        if (c != '\\' || quote == '\'') {
            strbuf_addch(&sb, (char)c);
            lx->pos++;
            continue;
        }
        size_t backslash = lx->pos++;
        if (toml_lex_at_eol(lx))
            return toml_lex_error(lx, start, "unterminated string");
        static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
        c = lx->s[lx->pos];
        const char *e = strchr(from, c); /* c is not NUL: the encoding check refused NUL */
        if (e) {
            strbuf_addch(&sb, to[e - from]);
            lx->pos++;
        } else if (c == 'u' || c == 'U') {
            int r = unicode_escape(lx, backslash, &sb);
            if (r < 0)
                return r;
        } else if (c > 0x20 && c < 0x7F) {
            return toml_lex_error(lx, backslash, "invalid escape '\\%c'", c);
        } else {
            char buf[TOML_LEX_DESCRIBE_SIZE];
            return toml_lex_error(lx, backslash, "invalid escape: backslash followed by %s",
                                  toml_lex_describe(lx, lx->pos, buf));
        }
    }
    *ret = strbuf_detach(&sb, NULL);
    return 0;
}

int toml_lex_key_part(toml_lexer *lx, char **ret)
{
    if (toml_lex_at(lx, '"') || toml_lex_at(lx, '\''))
        return toml_lex_string(lx, ret);
    size_t start = lx->pos;
    while (lx->pos < lx->len && toml_lex_is_bare(lx->s[lx->pos]))
        lx->pos++;
    char buf[TOML_LEX_DESCRIBE_SIZE];
    /* A bare key stops at what may follow a key; anything else is a character it cannot hold. */
    if (!toml_lex_at_eol(lx) && !strchr(" \t=.]#[", lx->s[lx->pos]))
        return toml_lex_error(lx, lx->pos, "invalid character %s in bare key",
                              toml_lex_describe(lx, lx->pos, buf));
    if (lx->pos == start)
        return toml_lex_error(lx, lx->pos, "expected a key, found %s",
                              toml_lex_describe(lx, lx->pos, buf));
    *ret = xstrndup((const char *)lx->s + start, lx->pos - start);
    return 0;
}

/* A decimal integer in t[0..len), which starts at byte `start`. */
static int lex_integer(toml_lexer *lx, size_t start, const char *t, size_t len, int64_t *ret)
{
    int shown = len > SHOWN_MAX ? SHOWN_MAX : (int)len;
    const char *more = len > SHOWN_MAX ? "..." : "";
    size_t i = 0;
    bool neg = false;
    if (t[0] == '+' || t[0] == '-')
        neg = t[i++] == '-';
    if (i == len || !is_digit(t[i]))
        return toml_lex_error(lx, start, "invalid integer '%.*s%s'", shown, t, more);
    if (t[i] == '0' && i + 1 < len && (is_digit(t[i + 1]) || t[i + 1] == '_'))
        return toml_lex_error(lx, start, "leading zeros are not allowed in integers");
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (; i < len; i++) {
        if (t[i] == '_') {
            if (i + 1 >= len || !is_digit(t[i + 1]) || !is_digit(t[i - 1]))
                return toml_lex_error(lx, start, "underscores in integers must be between digits");
            continue;
        }
        if (!is_digit(t[i]))
            return toml_lex_error(lx, start, "invalid integer '%.*s%s'", shown, t, more);
        unsigned d = (unsigned)(t[i] - '0');
        if (v > (limit - d) / 10)
            return toml_lex_error(lx, start, "integer '%.*s%s' is out of range", shown, t, more);
        v = v * 10 + d;
    }
    *ret = neg && v ? -(int64_t)(v - 1) - 1 : (int64_t)v;
    return 0;
}

int toml_lex_scalar(toml_lexer *lx, toml_type *ret_type, int64_t *ret_value)
{
    size_t start = lx->pos;
    while (lx->pos < lx->len && (toml_lex_is_bare(lx->s[lx->pos]) || strchr("+.:", lx->s[lx->pos])))
        lx->pos++;
    const char *t = (const char *)lx->s + start;
    size_t len = lx->pos - start;
    if (len == 0) {
        char buf[TOML_LEX_DESCRIBE_SIZE];
        return toml_lex_error(lx, start, "expected a value, found %s",
                              toml_lex_describe(lx, start, buf));
    }
    bool sign = t[0] == '+' || t[0] == '-';
    const char *u = t + sign;
    size_t ulen = len - sign;
    if (ulen == 3 && (memcmp(u, "inf", 3) == 0 || memcmp(u, "nan", 3) == 0))
        return toml_lex_error(lx, start, "floats are not supported");
    if (!sign &&
        ((len == 4 && memcmp(t, "true", 4) == 0) || (len == 5 && memcmp(t, "false", 5) == 0))) {
        *ret_type = TOML_BOOL;
        *ret_value = t[0] == 't';
        return 0;
    }
    if (ulen == 0 || !is_digit(u[0])) {
        if (sign)
            return lex_integer(lx, start, t, len, ret_value); /* names the bad integer */
        int shown = len > SHOWN_MAX ? SHOWN_MAX : (int)len;
        return toml_lex_error(lx, start, "invalid value '%.*s%s': strings must be quoted", shown, t,
                              len > SHOWN_MAX ? "..." : "");
    }
    size_t ndigits = span(u, ulen, "0123456789");
    if ((ndigits == 4 && ulen > 4 && u[4] == '-') || (ndigits == 2 && ulen > 2 && u[2] == ':'))
        return toml_lex_error(lx, start, "dates and times are not supported");
    if (ulen >= 2 && u[0] == '0' && strchr("xXoObB", u[1]))
        return toml_lex_error(lx, start, "only decimal integers are supported");
    size_t mantissa = span(u, ulen, "0123456789_");
    if (mantissa < ulen && strchr(".eE", u[mantissa]))
        return toml_lex_error(lx, start, "floats are not supported");
    *ret_type = TOML_INTEGER;
    return lex_integer(lx, start, t, len, ret_value);
}
