/* src/util/termsafe.c: what may reach a terminal. ESC and CSI sequences, OSC ended by BEL, C1
 * controls in UTF-8 form and as raw bytes, invalid, overlong and cut UTF-8, surrogates, DEL and
 * NUL are replaced; printable ASCII, valid multibyte UTF-8 and, when asked, newline and tab are
 * kept. The stream form holds a character cut between two pieces. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/termsafe.h"
#include "util/xalloc.h"

/* in[0..len) may hold NUL bytes; want is a C string. */
static void expect_safe(const char *in, size_t len, unsigned flags, const char *want)
{
    _cleanup_free_ char *got = termsafe_str(in, len, flags);
    if (strcmp(got, want) != 0)
        fail_msg("input of %zu bytes, flags %u: got '%s', want '%s'", len, flags, got, want);
    /* Clean exactly when nothing changed. */
    bool unchanged = strlen(want) == len && memcmp(in, want, len) == 0;
    if (termsafe_is_clean(in, len, flags) != unchanged)
        fail_msg("input of %zu bytes: termsafe_is_clean says %d", len, !unchanged);
}

#define SAFE(in, flags, want) expect_safe((in), sizeof(in) - 1, (flags), (want))

static void test_escape_sequences(void **state)
{
    (void)state;
    /* OSC 52 (clipboard) ended by BEL, then CSI 2J (clear screen): the example. */
    SAFE("echo \x1b]52;c;aGk=\x07 \x1b[2J", 0, "echo ?]52;c;aGk=? ?[2J");
    /* OSC 0 (window title) ended by ST (ESC \). */
    SAFE("\x1b]0;PWN\x1b\\", 0, "?]0;PWN?\\");
    SAFE("x\x1b[31mred\x1b[0m", TERMSAFE_TEXT, "x?[31mred?[0m");
    /* Cursor movement, backspace and carriage return rewrite what is shown. */
    SAFE("ok\rFAIL\b\b", TERMSAFE_TEXT, "ok?FAIL??");
}

static void test_c0_del_nul(void **state)
{
    (void)state;
    SAFE("a\0b\x7f"
         "c\x01\x1f",
         0, "a?b?c??");
    SAFE("\x1b", 0, "?");
    SAFE("", 0, "");
}

static void test_newline_and_tab(void **state)
{
    (void)state;
    SAFE("one\ntwo\tthree", TERMSAFE_TEXT, "one\ntwo\tthree");
    SAFE("one\ntwo\tthree", TERMSAFE_KEEP_NEWLINE, "one\ntwo?three");
    SAFE("one\ntwo\tthree", TERMSAFE_KEEP_TAB, "one?two\tthree");
    SAFE("one\ntwo\tthree", 0, "one?two?three");
    /* CR is never kept, even in text: it overwrites the line. */
    SAFE("a\r\nb", TERMSAFE_TEXT, "a?\nb");
}

static void test_c1_controls(void **state)
{
    (void)state;
    /* U+009B (CSI) and U+0080, U+009F in UTF-8 form: each byte replaced. */
    SAFE("c1 \xc2\x9b"
         "2J",
         0, "c1 ??2J");
    SAFE("\xc2\x80\xc2\x9f", 0, "????");
    /* U+00A0, the first code point past C1, is printable. */
    SAFE("\xc2\xa0", 0, "\xc2\xa0");
    /* A raw 0x9b (CSI in 8-bit terminals) is not UTF-8 at all. */
    SAFE("raw \x9b"
         "2J",
         0, "raw ?2J");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    SAFE("\xff\xfe", 0, "??");
    /* Overlong forms: '/' as two bytes, NUL as two bytes, U+0080 as three, U+FFFF as four. */
    SAFE("\xc0\xaf", 0, "??");
    SAFE("\xc0\x80", 0, "??");
    SAFE("\xe0\x82\x80", 0, "???");
    SAFE("\xf0\x8f\xbf\xbf", 0, "????");
    /* Surrogates U+D800 and U+DFFF. */
    SAFE("\xed\xa0\x80", 0, "???");
    SAFE("\xed\xbf\xbf", 0, "???");
    /* Past U+10FFFF, and lead bytes that cannot start anything. */
    SAFE("\xf4\x90\x80\x80", 0, "????");
    SAFE("\xf5\x80\x80\x80", 0, "????");
    /* Cut sequences, at the end and in the middle. */
    SAFE("end \xe2\x9c", 0, "end ??");
    SAFE("\xe2\x9c"
         "x",
         0, "??x");
    /* A stray continuation byte. */
    SAFE("a\x80"
         "b",
         0, "a?b");
}

static void test_valid_utf8_kept(void **state)
{
    (void)state;
    /* Two, three and four bytes, and the edges: U+07FF, U+0800, U+FFFD, U+10FFFF. */
    SAFE("Fehler: ung\xc3\xbcltig \xe2\x9c\x97 \xf0\x9f\x98\x80", TERMSAFE_TEXT,
         "Fehler: ung\xc3\xbcltig \xe2\x9c\x97 \xf0\x9f\x98\x80");
    SAFE("\xdf\xbf\xe0\xa0\x80\xef\xbf\xbd\xf4\x8f\xbf\xbf", 0,
         "\xdf\xbf\xe0\xa0\x80\xef\xbf\xbd\xf4\x8f\xbf\xbf");
}

static void test_cstr(void **state)
{
    (void)state;
    assert_null(termsafe_cstr(NULL, 0));
    _cleanup_free_ char *s = termsafe_cstr("Docker/\x1b]0;PWN\x07", 0);
    assert_string_equal(s, "Docker/?]0;PWN?");
    /* termsafe_add appends. */
    _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "a: ");
    termsafe_add(&sb,
                 "\x1b"
                 "b\n",
                 3, 0);
    assert_string_equal(sb.buf, "a: ?b?");
}

/* Feeds in[0..len) in pieces cut at i and j, then ends the stream. */
static char *stream_cut(const char *in, size_t len, size_t i, size_t j)
{
    termsafe_stream st = TERMSAFE_STREAM_INIT;
    strbuf out = STRBUF_INIT;
    termsafe_stream_add(&st, &out, in, i, TERMSAFE_TEXT);
    termsafe_stream_add(&st, &out, in + i, j - i, TERMSAFE_TEXT);
    termsafe_stream_add(&st, &out, in + j, len - j, TERMSAFE_TEXT);
    termsafe_stream_end(&st, &out);
    return strbuf_detach(&out, NULL);
}

/* However the text is cut, the stream gives what the whole text gives. */
static void test_stream_any_cut(void **state)
{
    (void)state;
    static const char in[] = "\xf0\x9f\x98\x80 caf\xc3\xa9\n\x1b[2J \xe2\x9c\x97\xc2\x9b \xe2\x9c"
                             "x \xed\xa0\x80 \xf0\x9f\x98";
    size_t len = sizeof(in) - 1;
    _cleanup_free_ char *whole = termsafe_str(in, len, TERMSAFE_TEXT);
    assert_string_equal(whole, "\xf0\x9f\x98\x80 caf\xc3\xa9\n?[2J \xe2\x9c\x97?? ??x ??? ???");
    for (size_t i = 0; i <= len; i++)
        for (size_t j = i; j <= len; j++) {
            _cleanup_free_ char *got = stream_cut(in, len, i, j);
            if (strcmp(got, whole) != 0)
                fail_msg("cut at %zu,%zu: got '%s', want '%s'", i, j, got, whole);
        }
}

static void test_stream_holds_and_ends(void **state)
{
    (void)state;
    termsafe_stream st = TERMSAFE_STREAM_INIT;
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    /* The first two bytes of a three-byte character are held, not printed. */
    termsafe_stream_add(&st, &out, "ok \xe2\x9c", 5, TERMSAFE_TEXT);
    assert_string_equal(strbuf_str(&out), "ok ");
    termsafe_stream_add(&st, &out, "\x97!", 2, TERMSAFE_TEXT);
    assert_string_equal(strbuf_str(&out), "ok \xe2\x9c\x97!");
    /* A character never completed is replaced at the end. */
    termsafe_stream_add(&st, &out, "\xf0\x9f", 2, TERMSAFE_TEXT);
    assert_string_equal(strbuf_str(&out), "ok \xe2\x9c\x97!");
    termsafe_stream_end(&st, &out);
    assert_string_equal(strbuf_str(&out), "ok \xe2\x9c\x97!??");
    termsafe_stream_end(&st, &out);
    assert_string_equal(strbuf_str(&out), "ok \xe2\x9c\x97!??");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_sequences),
        cmocka_unit_test(test_c0_del_nul),
        cmocka_unit_test(test_newline_and_tab),
        cmocka_unit_test(test_c1_controls),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_valid_utf8_kept),
        cmocka_unit_test(test_cstr),
        cmocka_unit_test(test_stream_any_cut),
        cmocka_unit_test(test_stream_holds_and_ends),
    };
    return cmocka_run_group_tests_name("termsafe", tests, NULL, NULL);
}
