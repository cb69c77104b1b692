/* Engine replies: byte 0 picks the parser (create, container list, inspect state, wait, image,
 * event stream, error message); the rest is the reply body. */
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>

#include "engine/container.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "engine/wait.h"
#include "util/strv.h"

static int ev_cb(const engine_event *ev, void *ud, nc_error **err)
{
    (void)ud;
    (void)err;
    return ev->action && ev->action[0] == 'x' ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    nc_error *err = NULL;
    switch (data[0] % 7) {
    case 0: {
        char *id = NULL;
        char **w = NULL;
        if (engine_parse_create_reply(body, len, &id, &w, &err) == 0) {
            free(id);
            strv_free(w);
        }
        break;
    }
    case 1: {
        engine_container_summary *s = NULL;
        size_t n = 0;
        if (engine_parse_container_list(body, len, &s, &n, &err) == 0)
            engine_container_summaries_free(s, n);
        break;
    }
    case 2: {
        nc_json *root = NULL;
        if (json_parse(body, len, &root, &err) == 0) {
            engine_state st = {0};
            if (engine_parse_state(root, &st, &err) == 0)
                engine_state_release(&st);
            json_free(root);
        }
        break;
    }
    case 3: {
        int64_t code;
        engine_parse_wait_reply(body, len, &code, &err);
        break;
    }
    case 4: {
        engine_image img = {0};
        if (engine_parse_image(body, len, &img, &err) == 0)
            engine_image_release(&img);
        break;
    }
    case 5: {
        event_splitter s = {.cb = ev_cb};
        event_splitter_feed(&s, body, len);
        event_splitter_release(&s);
        break;
    }
    default:
        engine_reply_error(500, body, len, &err);
        break;
    }
    nc_error_free(err);
    return 0;
}
