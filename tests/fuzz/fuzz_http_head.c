/* The reply-head parser of hijacked connections (attach), fed whole and in two parts. */
#include <stdint.h>
#include <stddef.h>

#include "engine/hijack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t len = size / 2; len <= size; len += size / 2 + 1) {
        http_head h = {0};
        nc_error *err = NULL;
        ssize_t n = http_head_parse((const char *)data, len, &h, &err);
        if (n > 0) {
            (void)http_head_header(&h, "Content-Type");
            http_head_release(&h);
        }
        nc_error_free(err);
    }
    return 0;
}
