/* The Telegram Bot API reply parser (src/channels/tg_parse.c): any bytes as a getUpdates, getMe
 * and method reply, must parse or be refused, never crash or leak; a parsed update keeps the
 * invariants the channel relies on (a text only for TG_TEXT, within TG_MAX_TEXT; strings set).
 * The texts also go through the reply splitter, whose parts must rebuild the text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channels/split.h"
#include "channels/tg_parse.h"
#include "util/strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    tg_update *v = NULL;
    size_t n = 0;
    tg_error fail = {0};
    if (tg_parse_updates(body, size, &v, &n, &fail, NULL) == 0) {
        if (n > TG_MAX_UPDATES)
            abort();
        for (size_t i = 0; i < n; i++) {
            if (!v[i].chat_type || !v[i].chat_title || !v[i].from_name)
                abort();
            if ((v[i].kind == TG_TEXT) != (v[i].text != NULL))
                abort();
            if (v[i].text) {
                if (strlen(v[i].text) > TG_MAX_TEXT)
                    abort();
                (void)tg_mentions(v[i].text, "nanocell_bot");
                char **parts = split_text(v[i].text, 64);
                for (size_t p = 0; parts[p]; p++)
                    if (!strstr(v[i].text, parts[p]))
                        abort();
                strv_free(parts);
            }
        }
        tg_updates_free(v, n);
    }
    tg_error_release(&fail);
    char *user = NULL;
    if (tg_parse_me(body, size, &user, &fail, NULL) == 0 && (!user || !*user))
        abort();
    free(user);
    tg_error_release(&fail);
    (void)tg_parse_ok(body, size, &fail, NULL);
    tg_error_release(&fail);
    return 0;
}
