/* The mount policy's parsers of outside input: byte 0 picks the allowlist file (0), a mount
 * request (1) or mountinfo text (2, checked against a fixed path); the rest is the input. */
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/mounts.h"
#include "util/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    nc_error *err = NULL;
    switch (data[0] % 3) {
    case 0: {
        mount_allowlist *a = NULL;
        if (mount_allowlist_parse(body, len, "fuzz.toml", &a, &err) == 0) {
            free(mount_allowlist_describe(a));
            mount_allowlist_free(a);
        }
        break;
    }
    case 1: {
        /* A request is a C string: argv or a TOML string, neither of which holds NUL. */
        char *spec = xstrndup(body, len);
        mount_request r = {0};
        if (mount_request_parse(spec, &r, &err) == 0) {
            if (mount_container_path_check(r.container_path, NULL) != 0)
                abort(); /* parse must only hand out checked container paths */
            mount_request_release(&r);
        }
        free(spec);
        break;
    }
    default: {
        char *below = NULL;
        if (mount_find_submount(body, len, "/srv/a", &below) == 1) {
            if (!mount_path_under(below, "/srv/a") || strcmp(below, "/srv/a") == 0)
                abort();
            free(below);
        }
        break;
    }
    }
    nc_error_free(err);
    return 0;
}
