#include "engine/libpod.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/container.h"
#include "util/cleanup.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* "4.3.1" into 4 and 3. False for anything else. */
static bool parse_libpod_version(const char *v, int *major, int *minor)
{
    if (!v || !isdigit((unsigned char)v[0]))
        return false;
    char *end;
    errno = 0;
    long ma = strtol(v, &end, 10);
    if (errno || *end != '.' || !isdigit((unsigned char)end[1]))
        return false;
    long mi = strtol(end + 1, &end, 10);
    if (errno || ma > 999 || mi > 999)
        return false;
    *major = (int)ma;
    *minor = (int)mi;
    return true;
}

bool engine_libpod_at_least(const engine *e, int major, int minor)
{
    int ma, mi;
    if (e->kind != ENGINE_PODMAN || !parse_libpod_version(e->libpod_api, &ma, &mi))
        return false;
    return ma > major || (ma == major && mi >= minor);
}

bool engine_libpod_usable(const engine *e)
{
    return engine_libpod_at_least(e, 4, 0);
}

/* "/v4.3.1/libpod" + target. The version goes into the path as the engine sent it, so it is
 * checked to be digits and dots only. */
static char *libpod_path(const engine *e, const char *target)
{
    return xasprintf("/v%s/libpod%s", e->libpod_api, target);
}

static bool version_safe(const char *v)
{
    if (!v || !*v)
        return false;
    for (const char *p = v; *p; p++)
        if (!isdigit((unsigned char)*p) && *p != '.')
            return false;
    return true;
}

/* One libpod call: the reply in *resp on 2xx, else an error with the engine's message. */
static int libpod_call(engine *e, const char *method, const char *target, const char *json_body,
                       http_response *resp, nc_error **err)
{
    if (!engine_libpod_usable(e) || !version_safe(e->libpod_api))
        return nc_error_set(err, ENOTSUP,
                            "the engine offers no libpod API nanocell can use (Podman 4 or "
                            "newer; it reports '%s')",
                            e->libpod_api ? e->libpod_api : "none");
    _cleanup_free_ char *path = libpod_path(e, target);
    int r = http_request(e->http, method, path, "application/json", json_body,
                         json_body ? strlen(json_body) : 0, resp, err);
    if (r < 0)
        return r;
    if (resp->status < 200 || resp->status > 299) {
        r = engine_reply_error(resp->status, resp->body.buf, resp->body.len, err);
        http_response_release(resp);
        return r;
    }
    return (int)resp->status;
}

int engine_libpod_create(engine *e, const char *json_body, char **ret_id, char ***ret_warnings,
                         nc_error **err)
{
    http_response resp = HTTP_RESPONSE_INIT;
    _cleanup_error_ nc_error *cerr = NULL;
    int r = libpod_call(e, "POST", "/containers/create", json_body, &resp, &cerr);
    if (r < 0) {
        /* libpod answers 500 for both; its message says which. */
        int code = cerr->code;
        if (strstr(cerr->msg, "image not known"))
            code = ENOENT;
        else if (strstr(cerr->msg, "already in use"))
            code = EEXIST;
        return nc_error_set_http(err, code, cerr->http_status, "%s", cerr->msg);
    }
    r = engine_parse_create_reply(resp.body.buf, resp.body.len, ret_id, ret_warnings, err);
    http_response_release(&resp);
    return r;
}

int engine_libpod_inspect(engine *e, const char *id, nc_json **ret, nc_error **err)
{
    if (!engine_valid_ref(id))
        return nc_error_set(err, EINVAL, "invalid container id '%s'", id ? id : "(null)");
    _cleanup_free_ char *target = xasprintf("/containers/%s/json", id);
    http_response resp = HTTP_RESPONSE_INIT;
    int r = libpod_call(e, "GET", target, NULL, &resp, err);
    if (r < 0)
        return r;
    _cleanup_json_ nc_json *root = NULL;
    r = json_parse(resp.body.buf, resp.body.len, &root, err);
    http_response_release(&resp);
    if (r < 0)
        return nc_error_wrap(err, "libpod inspect");
    if (!json_is_object(root))
        return nc_error_set(err, EPROTO, "libpod inspect reply is not a JSON object");
    *ret = TAKE_PTR(root);
    return 0;
}

/* The credentials of the process listening on path (for Podman: the service). */
static int peer_cred(const char *path, uid_t *ret_uid, gid_t *ret_gid, nc_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return nc_error_set(err, ENAMETOOLONG, "socket path '%s' is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return nc_error_set(err, errno, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return nc_error_set(err, errno, "connect to '%s': %s", path, strerror(errno));
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return nc_error_set(err, errno, "read the credentials of '%s': %s", path, strerror(errno));
    *ret_uid = cred.uid;
    *ret_gid = cred.gid;
    return 0;
}

int engine_service_cred(const engine *e, uid_t *ret_uid, gid_t *ret_gid, nc_error **err)
{
    if (!e->ep.socket_path)
        return nc_error_set(err, ENOTSUP, "engine '%s' is not on a unix socket", e->ep.uri);
    return peer_cred(e->ep.socket_path, ret_uid, ret_gid, err);
}

int engine_service_uid(const engine *e, uid_t *ret, nc_error **err)
{
    gid_t gid;
    return engine_service_cred(e, ret, &gid, err);
}

int engine_libpod_rootless(engine *e, bool *ret, nc_error **err)
{
    if (e->ep.socket_path) {
        uid_t uid = 0;
        int r = engine_service_uid(e, &uid, err);
        if (r < 0)
            return nc_error_wrap(err, "is the Podman service rootless");
        *ret = uid != 0;
        return 0;
    }
    http_response resp = HTTP_RESPONSE_INIT;
    int r = libpod_call(e, "GET", "/info", NULL, &resp, err);
    if (r < 0)
        return nc_error_wrap(err, "is the Podman service rootless");
    _cleanup_json_ nc_json *info = NULL;
    r = json_parse(resp.body.buf, resp.body.len, &info, err);
    http_response_release(&resp);
    if (r < 0)
        return nc_error_wrap(err, "libpod info");
    bool rootless = false;
    if (!json_bool(json_get(json_get(json_get(info, "host"), "security"), "rootless"), &rootless))
        return nc_error_set(err, EPROTO, "libpod info does not say whether Podman is rootless");
    *ret = rootless;
    return 0;
}
