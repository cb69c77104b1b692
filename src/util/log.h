/* Logging, for the edges only: main, the command files and the daemon loop. Core modules never
 * print; they return errors. Lines go to stderr as "nanocell: [level: ]message". The level
 * comes from NANOCELL_LOG (error, warn, info, debug; default info). */
#ifndef NC_UTIL_LOG_H
#define NC_UTIL_LOG_H

typedef enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level;

log_level log_get_level(void);
void log_msg(log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
