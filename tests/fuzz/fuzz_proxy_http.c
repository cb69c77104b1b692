/* The proxy's request-head parser (src/proxy/request.c), fed whole and cut at each half, then
 * the header lookups, the strip decision and the chunked-body decoder on what it returned. */
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
            if (req.chunked) {
                strbuf body = STRBUF_INIT;
                size_t used = 0;
                nc_error *cerr = NULL;
                (void)proxy_chunked_decode((const char *)data + req.head_len, len - req.head_len,
                                           1 << 20, &body, &used, &cerr);
                nc_error_free(cerr);
                strbuf_release(&body);
            }
            proxy_request_release(&req);
        }
        nc_error_free(err);
    }
    return 0;
}
