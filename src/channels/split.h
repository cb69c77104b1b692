/* Splitting a reply for a channel with a length limit (Telegram: 4096 characters a message). */
#ifndef NC_CHANNELS_SPLIT_H
#define NC_CHANNELS_SPLIT_H

#include <stddef.h>

/* Splits UTF-8 text into parts of at most limit characters, counted as UTF-16 code units (as
 * Telegram counts: a character outside the BMP is two), so that no part is over the limit.
 * A part ends at the last line break that fits (the break is dropped), else at the last space
 * that fits, else at the limit; a well-formed multi-byte character is never cut. A byte that
 * starts no well-formed sequence counts as one character (split_utf8_clean first, so that there
 * is none). Returns a NULL-terminated vector (strv_free), empty for "" or whitespace only.
 * limit must be at least 2. */
char **split_text(const char *text, size_t limit);

/* text as well-formed UTF-8 (RFC 3629): each byte that starts no well-formed sequence (a stray
 * continuation byte, a cut or overlong sequence, a surrogate, a code point past U+10FFFF) is
 * replaced by U+FFFD. A Bot API request with invalid UTF-8 in it is refused for good, and agent
 * output is whatever bytes the agent wrote. Returns a new string (free). */
char *split_utf8_clean(const char *text);

#endif
