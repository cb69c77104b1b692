/* Logging, for the edges only: main, the command files and the daemon loop. Core modules never
 * print; they return errors. Lines go to stderr as "nanocell: [level: ]message". The level
 * comes from NANOCELL_LOG (error, warn, info, debug; default info).
 *
 * Every message is made safe for a terminal here, after formatting (util/termsafe.h, newlines
 * and tabs kept): messages quote agents and engines (an error result, an engine's reply, a
 * Server header), and this is the one place they all pass. Newlines stay because some
 * messages span lines on purpose and an agent's error text may too; a line that comes from
 * outside therefore starts without the "nanocell: " prefix, but can hold no control character.
 *
 * Text that is passed through as it arrives (an agent's stderr with run --verbose) goes through
 * log_passthrough(), made safe the same way. When it has not ended its line, the next log line
 * (or log_passthrough_end()) starts a new line first, so nanocell's lines never continue the
 * agent's. */
#ifndef NC_UTIL_LOG_H
#define NC_UTIL_LOG_H

#include <stddef.h>

typedef enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level;

log_level log_get_level(void);
void log_msg(log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Writes data[0..len) (any bytes, in pieces as they come) to stderr, made safe; a UTF-8
 * character cut between two pieces is held until the next. */
void log_passthrough(const char *data, size_t len);
/* Ends passed-through text: a held partial character is replaced and an open line is ended
 * with a newline. Called before any other output that should start on a line of its own; a
 * no-op when there is nothing to end. */
void log_passthrough_end(void);

#endif
