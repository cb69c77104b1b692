/* The attach/logs stream demultiplexer. Byte 0 picks raw mode (bit 0) and how the rest is cut
 * into feeds (the other bits); the rest is the stream. */
#include <stdint.h>
#include <stddef.h>

#include "engine/demux.h"

static int count_cb(int stream, const char *data, size_t len, void *ud, nc_error **err)
{
    (void)stream;
    (void)data;
    (void)err;
    *(size_t *)ud += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    demux d;
    demux_init(&d, data[0] & 1);
    size_t step = (size_t)(data[0] >> 1) + 1, total = 0;
    const char *p = (const char *)data + 1;
    size_t left = size - 1;
    int r = 0;
    while (left && r == 0) {
        size_t n = left < step ? left : step;
        nc_error *err = NULL;
        r = demux_feed(&d, p, n, count_cb, &total, &err);
        nc_error_free(err);
        p += n;
        left -= n;
    }
    nc_error *err = NULL;
    demux_finish(&d, &err);
    nc_error_free(err);
    demux_release(&d);
    return 0;
}
