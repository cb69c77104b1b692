/* The reference agent's assembly of a streamed Messages API reply (images/agent/sse.h): the
 * model's bytes, through the proxy, are outside input. The agent is not part of the host's
 * library, so its one-file parser is compiled in here. */
#include <stddef.h>
#include <stdint.h>

#include "../../images/agent/sse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nc_json *reply = NULL;
    nc_error *err = NULL;
    if (sse_assemble((const char *)data, size, &reply, &err) == 0) {
        const nc_json *content = json_get(reply, "content");
        for (size_t i = 0; i < json_array_len(content); i++)
            (void)json_string(json_get(json_array_at(content, i), "type"));
        json_free(reply);
    }
    nc_error_free(err);
    return 0;
}
