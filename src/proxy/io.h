/* Deadline-bound I/O on the proxy's non-blocking sockets: a slow peer costs its own connection
 * thread time, never another's. */
#ifndef NC_PROXY_IO_H
#define NC_PROXY_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads at most len bytes before deadline (mono_ms). Returns the count (0 at EOF), -ETIMEDOUT
 * or -errno. */
ssize_t proxy_io_read(int fd, void *buf, size_t len, uint64_t deadline);
/* Writes all of buf before deadline. Returns 0, -ETIMEDOUT or -errno (-EPIPE: peer gone). */
int proxy_io_write(int fd, const void *buf, size_t len, uint64_t deadline);
/* A non-blocking TCP connect to addr before deadline. Returns the fd or -errno. */
int proxy_io_connect(const void *addr, unsigned addrlen, uint64_t deadline);

#endif
