/* The proxy's request-head parser (src/proxy/request.c), fed whole and cut at each half, then
 * the header lookups and the strip decision on what it returned. */
#include <stdint.h>
#include <stddef.h>

#include "proxy/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t len = size / 2; len <= size; len += size / 2 + 1) {
        proxy_request req;
        nc_error *err = NULL;
        if (proxy_request_parse((const char *)data, len, &req, &err) == 0) {
            (void)proxy_request_header(&req, "content-type");
            for (size_t i = 0; i < req.nheaders; i++)
                (void)proxy_header_stripped(&req, req.headers[i].name);
            proxy_request_release(&req);
        }
        nc_error_free(err);
    }
    return 0;
}
