/* Small text helpers the agent's modules share: strict number parsing for command arguments and
 * environment variables, and UTF-8 repair for bytes that must go into JSON strings (the JSON
 * generator refuses invalid UTF-8, and a tool's output or a cut at a byte cap can be anything). */
#ifndef NC_AGENT_TEXT_H
#define NC_AGENT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

/* Parses s as decimal digits only (no sign, no spaces, no suffix) into *out. Returns false (and
 * leaves *out alone) for anything else, and for a value above max. */
bool text_parse_u64(const char *s, uint64_t max, uint64_t *out);
/* Parses "S" or "S.F" seconds (digits only, at most 3 fraction digits count) into milliseconds;
 * false for anything else or above max_ms. */
bool text_parse_seconds_ms(const char *s, uint64_t max_ms, uint64_t *out_ms);
/* Appends data[0..len) to out as valid UTF-8: each byte that does not start a well-formed
 * sequence, and each NUL, becomes U+FFFD. */
void text_add_utf8(strbuf *out, const char *data, size_t len);
/* Trims ASCII spaces, tabs and CR at both ends of s[0..*len); returns the new start. */
const char *text_trim(const char *s, size_t *len);

#endif
