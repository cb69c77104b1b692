/* Sizes and durations as people write them in configuration ("512m", "30s"), and back.
 *
 * Sizes are binary: k = 1024. Size units are case-insensitive: b, k/kb/kib, m/mb/mib, g/gb/gib,
 * t/tb/tib; a plain number is bytes. Durations need a lowercase unit: ms, s, m, h ("0" alone is
 * also accepted). Both take decimal digits only: no sign, no fraction, no spaces. Every failure
 * is an error that quotes the input. */
#ifndef NC_UTIL_UNITS_H
#define NC_UTIL_UNITS_H

#include <stdint.h>

#include "util/error.h"

/* "512m" -> 536870912. Overflow is ERANGE; everything else wrong is EINVAL, e.g.
 * "invalid size '12x': unknown unit 'x'". */
int parse_size(const char *s, uint64_t *ret_bytes, nc_error **err);
/* "30s" -> 30000. Overflow is ERANGE; a missing or unknown unit is EINVAL. */
int parse_duration_ms(const char *s, uint64_t *ret_ms, nc_error **err);
/* The largest unit that represents the value exactly: "64m", "1g", "100b", "0b"; and "30s",
 * "500ms", "5m", "2h", "0s". The result is allocated and parses back to the same value. */
char *format_size(uint64_t bytes);
char *format_duration_ms(uint64_t ms);
/* A size for people to read in a message, in binary units with a space: "512 MiB", "1 GiB",
 * "100 bytes", "1 byte". A size that is not a whole number of its unit gets one decimal,
 * rounded half up: 1000000 -> "976.6 KiB", 1048577 -> "1.0 MiB" (the decimal says it is not
 * exact). The unit is the largest that keeps the number at 1 or more, up to EiB. Not for
 * configuration: format_size() gives what parse_size() reads back. Allocated. */
char *format_size_human(uint64_t bytes);

#endif
