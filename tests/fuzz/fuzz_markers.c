/* The agent output marker parser. Byte 0 picks a chunk size; the rest is agent stdout. The
 * stream is parsed whole and in chunks, and the two must give the same results and warnings
 * (a differential check: splitting must never change what is delivered). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/protocol.h"

struct log {
    strbuf text;
};

static void on_result(const agent_result *r, void *ud)
{
    struct log *l = ud;
    strbuf_addf(&l->text, "%c|%s|%s|%s\n", r->success ? 'S' : 'E', r->result ? r->result : "-",
                r->session ? r->session : "-", r->error ? r->error : "-");
}

static void on_warn(const char *msg, void *ud)
{
    struct log *l = ud;
    strbuf_addf(&l->text, "W|%s\n", msg);
}

static void parse(const char *data, size_t len, size_t step, struct log *l)
{
    marker_parser p;
    marker_parser_init(&p, 256, on_result, on_warn, l);
    for (size_t i = 0; i < len; i += step)
        marker_feed(&p, data + i, len - i < step ? len - i : step);
    marker_finish(&p);
    marker_parser_release(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 64 + 1;
    struct log whole = {STRBUF_INIT}, parts = {STRBUF_INIT};
    parse((const char *)data + 1, size - 1, size, &whole);
    parse((const char *)data + 1, size - 1, step, &parts);
    if (whole.text.len != parts.text.len ||
        memcmp(strbuf_str(&whole.text), strbuf_str(&parts.text), whole.text.len) != 0)
        abort();
    strbuf_release(&whole.text);
    strbuf_release(&parts.text);
    return 0;
}
