/* Webhook request handling (src/channels/webhook.c): the signature and timestamp checks and the
 * body parser over any bytes. Input: a timestamp line, a signature line, then the body. A
 * request that passes must carry the signature webhook_sign gives for its time and body (no
 * other input may pass), and a body that parses has a non-empty text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channels/webhook.h"
#include "util/xalloc.h"

#define SECRET "fuzz-secret-0123456789"
#define NOW 1700000000

/* The next line of data (cut at '\n'), allocated; *pos moves past it. */
static char *line(const uint8_t *data, size_t size, size_t *pos)
{
    size_t start = *pos;
    while (*pos < size && data[*pos] != '\n')
        (*pos)++;
    char *s = xstrndup((const char *)data + start, *pos - start);
    if (*pos < size)
        (*pos)++;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    char *ts = line(data, size, &pos);
    char *sig = line(data, size, &pos);
    const char *body = (const char *)data + pos;
    size_t len = size - pos;
    if (webhook_verify(SECRET, sig, ts, NOW, body, len, NULL) == 0) {
        char *want = webhook_sign(SECRET, strtoll(ts, NULL, 10), body, len);
        if (strcmp(want, sig) != 0)
            abort();
        free(want);
    }
    /* The signature made for this body and time always passes. */
    char *good = webhook_sign(SECRET, NOW, body, len);
    if (webhook_verify(SECRET, good, "1700000000", NOW, body, len, NULL) != 0)
        abort();
    free(good);
    char *text = NULL, *sender = NULL;
    if (webhook_parse_body(body, len, &text, &sender, NULL) == 0 && (!text[0] || !sender))
        abort();
    free(text);
    free(sender);
    free(ts);
    free(sig);
    return 0;
}
