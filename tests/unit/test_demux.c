/* The stream demultiplexer: a recorded multi-frame stream split at every point, corrupt and
 * truncated streams, engine error frames, raw (tty) mode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "engine/demux.h"
#include "util/xalloc.h"

struct sink {
    strbuf out;
    strbuf err;
    int calls;
    int fail_after; /* > 0: the callback fails on this call */
};

static int sink_cb(int stream, const char *data, size_t len, void *ud, nc_error **err)
{
    struct sink *s = ud;
    assert_true(len > 0);
    assert_true(stream == DEMUX_STDOUT || stream == DEMUX_STDERR);
    if (++s->calls == s->fail_after)
        return nc_error_set(err, ENOSPC, "sink full");
    strbuf_add(stream == DEMUX_STDERR ? &s->err : &s->out, data, len);
    return 0;
}

static void sink_release(struct sink *s)
{
    strbuf_release(&s->out);
    strbuf_release(&s->err);
}

static void frame(strbuf *sb, uint8_t type, const void *payload, uint32_t len)
{
    uint8_t h[8] = {
        type,        0, 0, 0, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
        (uint8_t)len};
    strbuf_add(sb, h, 8);
    strbuf_add(sb, payload, len);
}

/* A stream like a real attach: several frames of both streams, an empty frame, a stdin-type
 * frame (shown as stdout), and binary payload that looks like headers. */
static void recorded_stream(strbuf *sb, strbuf *want_out, strbuf *want_err)
{
    uint8_t bin[300];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (uint8_t)(i % 7 == 0 ? 1 : i % 5 == 0 ? 2 : i);
    frame(sb, 1, "hello\n", 6);
    strbuf_addstr(want_out, "hello\n");
    frame(sb, 2, "warn: x\n", 8);
    strbuf_addstr(want_err, "warn: x\n");
    frame(sb, 1, "", 0);
    frame(sb, 0, "i", 1);
    strbuf_addstr(want_out, "i");
    frame(sb, 1, bin, sizeof(bin));
    strbuf_add(want_out, bin, sizeof(bin));
    frame(sb, 2, "", 0);
    frame(sb, 2, "e2", 2);
    strbuf_addstr(want_err, "e2");
}

static void check_split(const strbuf *in, size_t i, size_t j, const strbuf *wo, const strbuf *we)
{
    demux d;
    demux_init(&d, false);
    struct sink s = {STRBUF_INIT, STRBUF_INIT, 0, 0};
    assert_int_equal(demux_feed(&d, in->buf, i, sink_cb, &s, NULL), 0);
    assert_int_equal(demux_feed(&d, in->buf + i, j - i, sink_cb, &s, NULL), 0);
    assert_int_equal(demux_feed(&d, in->buf + j, in->len - j, sink_cb, &s, NULL), 0);
    assert_int_equal(demux_finish(&d, NULL), 0);
    assert_int_equal(s.out.len, wo->len);
    assert_memory_equal(s.out.buf, wo->buf, wo->len);
    assert_int_equal(s.err.len, we->len);
    assert_memory_equal(s.err.buf, we->buf, we->len);
    sink_release(&s);
    demux_release(&d);
}

static void test_every_split_point(void **state)
{
    (void)state;
    strbuf in = STRBUF_INIT, wo = STRBUF_INIT, we = STRBUF_INIT;
    recorded_stream(&in, &wo, &we);
    /* Every pair of cut points: covers every single split and every two-split combination. */
    for (size_t i = 0; i <= in.len; i++)
        for (size_t j = i; j <= in.len; j++)
            check_split(&in, i, j, &wo, &we);
    strbuf_release(&in);
    strbuf_release(&wo);
    strbuf_release(&we);
}

static void test_byte_at_a_time(void **state)
{
    (void)state;
    strbuf in = STRBUF_INIT, wo = STRBUF_INIT, we = STRBUF_INIT;
    recorded_stream(&in, &wo, &we);
    demux d;
    demux_init(&d, false);
    struct sink s = {STRBUF_INIT, STRBUF_INIT, 0, 0};
    for (size_t i = 0; i < in.len; i++)
        assert_int_equal(demux_feed(&d, in.buf + i, 1, sink_cb, &s, NULL), 0);
    assert_int_equal(demux_finish(&d, NULL), 0);
    assert_memory_equal(s.out.buf, wo.buf, wo.len);
    assert_memory_equal(s.err.buf, we.buf, we.len);
    sink_release(&s);
    demux_release(&d);
    strbuf_release(&in);
    strbuf_release(&wo);
    strbuf_release(&we);
}

/* Payload is handed out as slices of the input: one callback per frame when it is whole. */
static void test_no_copy_slices(void **state)
{
    (void)state;
    strbuf in = STRBUF_INIT;
    frame(&in, 1, "abcdef", 6);
    demux d;
    demux_init(&d, false);
    struct sink s = {STRBUF_INIT, STRBUF_INIT, 0, 0};
    assert_int_equal(demux_feed(&d, in.buf, in.len, sink_cb, &s, NULL), 0);
    assert_int_equal(s.calls, 1);
    sink_release(&s);
    demux_release(&d);
    strbuf_release(&in);
}

static void test_corrupt_header(void **state)
{
    (void)state;
    const uint8_t bad_type[8] = {4, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t bad_pad[8] = {1, 0, 7, 0, 0, 0, 0, 1};
    const uint8_t *cases[] = {bad_type, bad_pad};
    for (size_t k = 0; k < 2; k++) {
        strbuf in = STRBUF_INIT;
        frame(&in, 1, "ok", 2);
        strbuf_add(&in, cases[k], 8);
        demux d;
        demux_init(&d, false);
        struct sink s = {STRBUF_INIT, STRBUF_INIT, 0, 0};
        nc_error *err = NULL;
        assert_int_equal(demux_feed(&d, in.buf, in.len, sink_cb, &s, &err), -EPROTO);
        assert_non_null(strstr(err->msg, "corrupt stream header at offset 10"));
        assert_string_equal(strbuf_str(&s.out), "ok"); /* what came before is kept */
        nc_error_free(err);
        err = NULL;
        /* The demuxer stays failed. */
        assert_int_equal(demux_feed(&d, "x", 1, sink_cb, &s, &err), -EPROTO);
        nc_error_free(err);
        sink_release(&s);
        demux_release(&d);
        strbuf_release(&in);
    }
}

static void test_engine_error_frame(void **state)
{
    (void)state;
    strbuf in = STRBUF_INIT;
    frame(&in, 1, "partial", 7);
    frame(&in, 3, "boom\x01 here\n", 11);
    for (size_t cut = 0; cut <= in.len; cut++) {
        demux d;
        demux_init(&d, false);
        struct sink s = {STRBUF_INIT, STRBUF_INIT, 0, 0};
        nc_error *err = NULL;
        int r = demux_feed(&d, in.buf, cut, sink_cb, &s, &err);
        if (r == 0)
            r = demux_feed(&d, in.buf + cut, in.len - cut, sink_cb, &s, &err);
        assert_int_equal(r, -EPROTO);
        assert_string_equal(err->msg, "engine reported an error in the stream: boom? here");
        nc_error_free(err);
        sink_release(&s);
        demux_release(&d);
    }
    strbuf_release(&in);
}

static void test_truncated(void **state)
{
    (void)state;
    strbuf in = STRBUF_INIT;
    frame(&in, 1, "0123456789", 10);
    demux d;
    struct sink s = {STRBUF_INIT, STRBUF_INIT, 0, 0};
    nc_error *err = NULL;

    demux_init(&d, false);
    assert_int_equal(demux_feed(&d, in.buf, 5, sink_cb, &s, NULL), 0);
    assert_int_equal(demux_finish(&d, &err), -EPIPE);
    assert_non_null(strstr(err->msg, "inside a frame header (5 of 8 bytes)"));
    nc_error_free(err);
    err = NULL;
    demux_release(&d);

    demux_init(&d, false);
    assert_int_equal(demux_feed(&d, in.buf, 12, sink_cb, &s, NULL), 0);
    assert_int_equal(demux_finish(&d, &err), -EPIPE);
    assert_non_null(strstr(err->msg, "6 payload bytes missing"));
    nc_error_free(err);
    demux_release(&d);
    /* What arrived before the cut was delivered. */
    assert_string_equal(strbuf_str(&s.out), "0123");
    sink_release(&s);
    strbuf_release(&in);
}

/* A header announcing 4 GiB allocates nothing: only a counter is kept. */
static void test_huge_frame_header(void **state)
{
    (void)state;
    const uint8_t h[8] = {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    demux d;
    demux_init(&d, false);
    struct sink s = {STRBUF_INIT, STRBUF_INIT, 0, 0};
    assert_int_equal(demux_feed(&d, (const char *)h, 8, sink_cb, &s, NULL), 0);
    assert_int_equal(demux_feed(&d, "abc", 3, sink_cb, &s, NULL), 0);
    assert_int_equal(d.remaining, 0xffffffffu - 3);
    nc_error *err = NULL;
    assert_int_equal(demux_finish(&d, &err), -EPIPE);
    nc_error_free(err);
    sink_release(&s);
    demux_release(&d);
}

static void test_callback_error(void **state)
{
    (void)state;
    strbuf in = STRBUF_INIT;
    frame(&in, 1, "a", 1);
    frame(&in, 1, "b", 1);
    demux d;
    demux_init(&d, false);
    struct sink s = {STRBUF_INIT, STRBUF_INIT, 0, 2};
    nc_error *err = NULL;
    assert_int_equal(demux_feed(&d, in.buf, in.len, sink_cb, &s, &err), -ENOSPC);
    assert_string_equal(err->msg, "sink full");
    nc_error_free(err);
    sink_release(&s);
    demux_release(&d);
    strbuf_release(&in);
}

static void test_raw_mode(void **state)
{
    (void)state;
    demux d;
    demux_init(&d, true);
    struct sink s = {STRBUF_INIT, STRBUF_INIT, 0, 0};
    /* Bytes that would be a header in multiplexed mode are plain output here. */
    assert_int_equal(demux_feed(&d, "\x01\x00\x00\x00\x00\x00\x00\x02hi", 10, sink_cb, &s, NULL),
                     0);
    assert_int_equal(demux_feed(&d, "", 0, sink_cb, &s, NULL), 0);
    assert_int_equal(demux_finish(&d, NULL), 0);
    assert_int_equal(s.out.len, 10);
    assert_int_equal(s.err.len, 0);
    sink_release(&s);
    demux_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split_point),  cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_no_copy_slices),     cmocka_unit_test(test_corrupt_header),
        cmocka_unit_test(test_engine_error_frame), cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_huge_frame_header),  cmocka_unit_test(test_callback_error),
        cmocka_unit_test(test_raw_mode),
    };
    return cmocka_run_group_tests_name("demux", tests, NULL, NULL);
}
