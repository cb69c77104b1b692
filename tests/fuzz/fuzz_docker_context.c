/* A Docker context's meta.json: whatever the file holds, a context or an error, no crash and no
 * leak. The context's name is "n". */
#include <stddef.h>
#include <stdint.h>

#include "engine/context.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    docker_context c = {0};
    nc_error *err = NULL;
    if (docker_context_parse_meta((const char *)data, size, "n", &c, &err) == 0)
        docker_context_release(&c);
    nc_error_free(err);
    return 0;
}
