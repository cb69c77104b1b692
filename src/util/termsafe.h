/* Text from outside (an agent, an engine) made harmless to print on a person's terminal.
 *
 * A terminal obeys the control characters in what it prints: ESC starts sequences that set the
 * clipboard (OSC 52), retitle the window, clear the screen or move the cursor; BEL ends some of
 * them; CR and BS overwrite what is already shown; C1 controls (U+0080..U+009F, CSI is U+009B)
 * and, in terminals that read 8-bit controls, raw bytes 0x80..0x9f act like ESC sequences.
 * termsafe replaces every byte that could be such a control, or part of one, with
 * TERMSAFE_REPLACEMENT:
 *  - C0 controls 0x00..0x1f (NUL, BEL, BS, CR, ESC, ...), except newline and tab when the
 *    flags keep them;
 *  - DEL 0x7f;
 *  - C1 controls in their UTF-8 form (U+0080..U+009F): each of the two bytes;
 *  - every byte that is not part of a valid UTF-8 sequence: stray continuation bytes (a raw
 *    0x9b included), overlong forms, surrogates U+D800..U+DFFF, code points past U+10FFFF,
 *    sequences cut short. Each byte of an invalid sequence is replaced on its own.
 * Everything else is kept byte for byte, valid multibyte UTF-8 included. With ESC replaced, what
 * followed it ("[2J", "]52;c;...") is plain text. One replacement character for every case
 * keeps the output simple to read and simple to test; the result is for display only and cannot
 * be turned back into its input, so machine-readable output (--json, which escapes controls as
 * JSON does) never goes through here.
 *
 * Where it is used: util/log.c passes every log line through it (so every error, warning and
 * progress line that quotes an agent or an engine is safe), and the commands' plain-mode output
 * of outside text (run's results, ps, doctor) and the run log use it directly. */
#ifndef NC_UTIL_TERMSAFE_H
#define NC_UTIL_TERMSAFE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strbuf.h"

#define TERMSAFE_REPLACEMENT '?'

/* Flags: which harmless controls are kept. Without them, the text stays on one line. */
#define TERMSAFE_KEEP_NEWLINE 0x1u
#define TERMSAFE_KEEP_TAB 0x2u
#define TERMSAFE_TEXT (TERMSAFE_KEEP_NEWLINE | TERMSAFE_KEEP_TAB)

/* Appends s[0..len) (any bytes, NUL included) to out, made safe. */
void termsafe_add(strbuf *out, const char *s, size_t len, unsigned flags);
/* s[0..len) made safe, as an allocated string; free() it. */
char *termsafe_str(const char *s, size_t len, unsigned flags);
/* The C string s made safe; NULL when s is NULL. */
char *termsafe_cstr(const char *s, unsigned flags);
/* Whether s[0..len) would come out of termsafe unchanged. */
bool termsafe_is_clean(const char *s, size_t len, unsigned flags);

/* Text that arrives in pieces (an agent's stderr): a UTF-8 sequence cut by the end of a piece
 * is held until the next piece completes it, so it is neither split nor replaced. Initialise
 * with TERMSAFE_STREAM_INIT. */
typedef struct termsafe_stream {
    unsigned char held[3]; /* the start of a UTF-8 sequence, at most 3 of its 4 bytes */
    size_t nheld;
} termsafe_stream;

#define TERMSAFE_STREAM_INIT                                                                       \
    {                                                                                              \
        {0}, 0                                                                                     \
    }

/* Appends the safe form of the piece s[0..len) to out, holding back a cut UTF-8 sequence. */
void termsafe_stream_add(termsafe_stream *st, strbuf *out, const char *s, size_t len,
                         unsigned flags);
/* Ends the text: a held sequence that was never completed is replaced. */
void termsafe_stream_end(termsafe_stream *st, strbuf *out);

#endif
