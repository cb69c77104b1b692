/* Splitting a reply for a channel with a length limit (Telegram: 4096 characters a message). */
#ifndef NC_CHANNELS_SPLIT_H
#define NC_CHANNELS_SPLIT_H

#include <stddef.h>

/* Splits UTF-8 text into parts of at most limit characters, counted as UTF-16 code units (as
 * Telegram counts: a character outside the BMP is two), so that no part is over the limit.
 * A part ends at the last line break that fits (the break is dropped), else at the last space
 * that fits, else at the limit; a multi-byte character is never cut. Invalid UTF-8 bytes count
 * as one each. Returns a NULL-terminated vector (strv_free), empty for "" or whitespace only.
 * limit must be at least 2. */
char **split_text(const char *text, size_t limit);

#endif
