#include "engine/demux.h"

#include <errno.h>
#include <string.h>

#include "util/banned.h"

#define STREAM_ENGINE_ERROR 3

void demux_init(demux *d, bool raw)
{
    memset(d, 0, sizeof(*d));
    d->raw = raw;
}

void demux_release(demux *d)
{
    strbuf_release(&d->engine_error);
}

/* Printable rendering of an engine error payload: control bytes become '?'. */
static void sanitize(strbuf *sb)
{
    while (sb->len && (sb->buf[sb->len - 1] == '\n' || sb->buf[sb->len - 1] == '\r'))
        strbuf_truncate(sb, sb->len - 1);
    for (size_t i = 0; i < sb->len; i++)
        if ((unsigned char)sb->buf[i] < 0x20 || sb->buf[i] == 0x7f)
            sb->buf[i] = '?';
}

static int start_frame(demux *d, nc_error **err)
{
    const uint8_t *h = d->hdr;
    uint64_t at = d->offset - 8;
    if (h[1] || h[2] || h[3] || h[0] > STREAM_ENGINE_ERROR) {
        d->failed = true;
        return nc_error_set(err, EPROTO,
                            "corrupt stream header at offset %llu: bytes %02x %02x %02x %02x",
                            (unsigned long long)at, h[0], h[1], h[2], h[3]);
    }
    d->stream = h[0] == 0 ? DEMUX_STDOUT : h[0];
    d->remaining = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
    d->hdr_len = 0;
    return 0;
}

static int engine_error_done(demux *d, nc_error **err)
{
    d->failed = true;
    sanitize(&d->engine_error);
    return nc_error_set(err, EPROTO, "engine reported an error in the stream: %s",
                        d->engine_error.len ? strbuf_str(&d->engine_error) : "(no message)");
}

int demux_feed(demux *d, const char *buf, size_t len, demux_cb cb, void *userdata, nc_error **err)
{
    if (d->failed)
        return nc_error_set(err, EPROTO, "stream already failed");
    if (d->raw) {
        d->offset += len;
        return len ? cb(DEMUX_STDOUT, buf, len, userdata, err) : 0;
    }
    while (len) {
        if (d->remaining == 0) {
            /* Between frames: collect header bytes. */
            size_t take = 8 - d->hdr_len;
            if (take > len)
                take = len;
            memcpy(d->hdr + d->hdr_len, buf, take);
            d->hdr_len += take;
            d->offset += take;
            buf += take;
            len -= take;
            if (d->hdr_len < 8)
                return 0;
            int r = start_frame(d, err);
            if (r < 0)
                return r;
            if (d->remaining == 0 && d->stream == STREAM_ENGINE_ERROR)
                return engine_error_done(d, err);
            continue;
        }
        size_t take = d->remaining < len ? d->remaining : len;
        d->remaining -= (uint32_t)take;
        d->offset += take;
        if (d->stream == STREAM_ENGINE_ERROR) {
            size_t room = DEMUX_MAX_ENGINE_ERROR - d->engine_error.len;
            strbuf_add(&d->engine_error, buf, take < room ? take : room);
            if (d->remaining == 0)
                return engine_error_done(d, err);
        } else {
            int r = cb(d->stream, buf, take, userdata, err);
            if (r < 0) {
                d->failed = true;
                return r;
            }
        }
        buf += take;
        len -= take;
    }
    return 0;
}

int demux_finish(const demux *d, nc_error **err)
{
    if (d->raw || d->failed)
        return 0;
    if (d->hdr_len)
        return nc_error_set(
            err, EPIPE, "stream truncated inside a frame header (%zu of 8 bytes) at offset %llu",
            d->hdr_len, (unsigned long long)d->offset);
    if (d->remaining)
        return nc_error_set(err, EPIPE, "stream truncated: %u payload bytes missing at offset %llu",
                            d->remaining, (unsigned long long)d->offset);
    return 0;
}
