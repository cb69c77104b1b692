/* The event stream of a posted message, as the clients read it: the line splitter and the event
 * parser. Byte 0 picks a slice size (and a line bound); the rest is the stream. It is read
 * whole and in slices, and both must give the same events (a differential check: how the bytes
 * arrive must never change what is read). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "orch/apievents.h"

struct log {
    strbuf text;
};

static int on_line(const char *line, size_t len, void *ud)
{
    struct log *l = ud;
    api_event ev;
    nc_error *err = NULL;
    if (api_event_parse(line, len, &ev, &err) == 0) {
        strbuf_addf(&l->text, "%d|%lld|%s|%lld|%s|%zu\n", (int)ev.kind, (long long)ev.id,
                    ev.state ? ev.state : "-", (long long)ev.attempts, ev.error ? ev.error : "-",
                    ev.text ? strlen(ev.text) : (size_t)0);
        if (ev.kind == API_EV_STATE)
            (void)api_state_is_terminal(ev.state);
    } else {
        strbuf_addf(&l->text, "E|%s\n", nc_error_msg(err));
    }
    api_event_release(&ev);
    nc_error_free(err);
    return 0;
}

static void read_stream(const char *data, size_t len, size_t step, size_t max, struct log *l)
{
    api_lines lines = {STRBUF_INIT, max};
    nc_error *err = NULL;
    int r = 0;
    for (size_t off = 0; off < len && r == 0; off += step) {
        size_t n = len - off < step ? len - off : step;
        r = api_lines_feed(&lines, data + off, n, on_line, l, &err);
    }
    strbuf_addf(&l->text, "end %d %zu\n", r, r ? 0 : api_lines_pending(&lines));
    nc_error_free(err);
    api_lines_release(&lines);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)(data[0] & 0x3f) + 1;
    size_t max = data[0] & 0x40 ? 64 : 0; /* a small bound, or the real one */
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    struct log whole = {STRBUF_INIT}, sliced = {STRBUF_INIT};
    read_stream(s, n, n ? n : 1, max, &whole);
    read_stream(s, n, step, max, &sliced);
    if (strcmp(strbuf_str(&whole.text), strbuf_str(&sliced.text)) != 0)
        abort();
    strbuf_release(&whole.text);
    strbuf_release(&sliced.text);
    return 0;
}
