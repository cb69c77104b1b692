/* Monotonic time and deadlines, in milliseconds. */
#ifndef NC_UTIL_TIMEUTIL_H
#define NC_UTIL_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC: for deadlines and durations, never for wall time. */
uint64_t mono_ms(void);
/* The monotonic clock in microseconds, for measurements finer than a millisecond. */
uint64_t mono_us(void);
/* Milliseconds since the epoch (CLOCK_REALTIME): for timestamps shown to people and in names. */
uint64_t wall_ms(void);
/* Milliseconds left until deadline (a mono_ms() value), 0 once it has passed. */
uint64_t ms_until(uint64_t deadline);
/* now + ms, saturating at UINT64_MAX: a deadline that cannot wrap into the past. */
uint64_t deadline_after(uint64_t now, uint64_t ms);
/* CLOCK_MONOTONIC ms from now, as the absolute time pthread_cond_timedwait takes for a
 * condition variable made with pthread_condattr_setclock(CLOCK_MONOTONIC). */
struct timespec mono_timespec_after(uint64_t ms);
/* Sleeps for ms milliseconds, resuming after signals. */
void sleep_ms(uint64_t ms);
/* The CPU time the calling thread has used, in microseconds (CLOCK_THREAD_CPUTIME_ID). */
uint64_t thread_cpu_us(void);

#endif
