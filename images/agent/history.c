/* The conversation file (see history.h). */
#include "history.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fileutil.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SESSION_ID_MAX 128

static bool safe_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > SESSION_ID_MAX)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
    return true;
}

char *history_path(const struct agent *a)
{
    if (!a->session_id || !safe_id(a->session_id))
        return NULL;
    _cleanup_free_ char *group = xasprintf("%s/group", a->workspace);
    struct stat st;
    if (stat(group, &st) < 0 || !S_ISDIR(st.st_mode))
        return NULL;
    return xasprintf("%s/.nanocell/sessions/%s.jsonl", group, a->session_id);
}

int history_load(const char *path, size_t max, void (*push)(nc_json *msg, void *userdata),
                 void *userdata, nc_error **err)
{
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    _cleanup_error_ nc_error *rerr = NULL;
    int r = read_file(path, max, &text, &rerr);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return nc_error_set(err, rerr->code, "%s", nc_error_msg(rerr));
    size_t line = 0;
    for (const char *p = strbuf_str(&text); *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        line++;
        if (len) {
            nc_json *msg = NULL;
            if (json_parse(p, len, &msg, NULL) < 0 || !json_is_object(msg) ||
                !json_string(json_get(msg, "role"))) {
                json_free(msg);
                return nc_error_set(err, EPROTO, "'%s' line %zu is not a message", path, line);
            }
            push(msg, userdata);
        }
        p += len + (nl ? 1 : 0);
    }
    return 0;
}

int history_save(const char *path, nc_json *const *msgs, size_t n, nc_error **err)
{
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        _cleanup_jgen_ nc_jgen *g = jgen_new();
        jgen_value(g, msgs[i], false);
        int r = jgen_finish(g, &out, err);
        if (r < 0)
            return r;
        strbuf_addch(&out, '\n');
    }
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int r = mkdir_p(dir, 0700, err);
    if (r < 0)
        return r;
    return write_file_atomic(path, out.buf ? out.buf : "", out.len, 0600, err);
}
