/* Demultiplexer for the attach and logs streams of a container created with Tty=false.
 *
 * Each frame is an 8-byte header {type, 0, 0, 0, size as big-endian uint32} and size payload
 * bytes. Type 0 (stdin, written on stdout) and 1 are stdout, 2 is stderr, 3 is an error message
 * from the engine. Frames split anywhere across reads; the demuxer is fed incrementally and
 * hands payload to the callback as slices of the caller's buffer (no copy), possibly in several
 * pieces. Zero-length frames are skipped. In raw mode (Tty=true) every byte is stdout.
 *
 * A header with an unknown type or non-zero padding is a corrupt stream, and so is a type 3
 * frame: its text (up to DEMUX_MAX_ENGINE_ERROR bytes) becomes the error message. */
#ifndef NC_ENGINE_DEMUX_H
#define NC_ENGINE_DEMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

#define DEMUX_STDOUT 1
#define DEMUX_STDERR 2
#define DEMUX_MAX_ENGINE_ERROR 4096

/* Receives len > 0 bytes of one stream. A negative return stops the feed and is passed on
 * (the callback sets err itself). */
typedef int (*demux_cb)(int stream, const char *data, size_t len, void *userdata, nc_error **err);

typedef struct demux {
    bool raw;
    uint8_t hdr[8];
    size_t hdr_len;      /* header bytes collected so far */
    uint32_t remaining;  /* payload bytes still due for the current frame */
    int stream;          /* DEMUX_STDOUT, DEMUX_STDERR, or 3 while reading an engine error */
    strbuf engine_error; /* payload of a type 3 frame */
    uint64_t offset;     /* bytes consumed, for error messages */
    bool failed;
} demux;

void demux_init(demux *d, bool raw);
void demux_release(demux *d);
/* Consumes all of buf. Returns 0, or a negative errno: EPROTO for a corrupt header or an
 * engine error frame, or whatever the callback returned. After a failure the demuxer stays
 * failed (further feeds return EPROTO). */
int demux_feed(demux *d, const char *buf, size_t len, demux_cb cb, void *userdata, nc_error **err);
/* Call at end of stream. Returns 0 when the stream ended on a frame boundary; -EPIPE with a
 * "truncated" error when it ended inside a header or payload. */
int demux_finish(const demux *d, nc_error **err);

#endif
