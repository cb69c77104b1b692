/* Reading and parsing one IPC file (see ipc_file.h). */
#include "orch/ipc_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

bool ipc_file_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && n <= NAME_MAX && name[0] != '.' && !strchr(name, '/') &&
           strcmp(name + n - 5, ".json") == 0;
}

static void (*test_hook)(int, const char *, void *);
static void *test_hook_ud;

void ipc_file_test_hook(void (*fn)(int dirfd, const char *name, void *ud), void *ud)
{
    test_hook = fn;
    test_hook_ud = ud;
}

static const char *kind_of(mode_t m)
{
    if (S_ISLNK(m))
        return "a symbolic link";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m) || S_ISBLK(m))
        return "a device";
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISSOCK(m))
        return "a socket";
    return "not a regular file";
}

/* The checks a file must pass, on the lstat before the open and again on the descriptor. */
static int check(const char *name, const struct stat *st, uid_t owner, size_t max, nc_error **err)
{
    if (!S_ISREG(st->st_mode))
        return nc_error_set(err, EPERM, "'%s' is %s", name, kind_of(st->st_mode));
    if (st->st_nlink != 1)
        return nc_error_set(err, EPERM, "'%s' is a hard link (%ju links)", name,
                            (uintmax_t)st->st_nlink);
    if (st->st_uid != owner)
        return nc_error_set(err, EPERM, "'%s' is owned by uid %u, not the agent's uid %u", name,
                            (unsigned)st->st_uid, (unsigned)owner);
    if (st->st_size < 0 || (uintmax_t)st->st_size > max)
        return nc_error_set(err, EFBIG, "'%s' is larger than %zu bytes", name, max);
    return 0;
}

int ipc_file_read(int dirfd, const char *name, uid_t owner, size_t max, strbuf *out, nc_error **err)
{
    return ipc_file_read_stat(dirfd, name, owner, max, out, NULL, err);
}

int ipc_file_read_stat(int dirfd, const char *name, uid_t owner, size_t max, strbuf *out,
                       struct stat *ret_st, nc_error **err)
{
    if (!ipc_file_name_ok(name))
        return nc_error_set(err, EINVAL, "'%s' is not a name IPC reads", name);
    struct stat pre;
    if (fstatat(dirfd, name, &pre, AT_SYMLINK_NOFOLLOW) < 0)
        return nc_error_set(err, errno, "'%s': %s", name, strerror(errno));
    int r = check(name, &pre, owner, max, err);
    if (r < 0)
        return r;
    if (test_hook)
        test_hook(dirfd, name, test_hook_ud);
    /* O_NONBLOCK: a FIFO swapped in after the lstat opens at once instead of waiting for a
     * writer, and is refused by the check on the descriptor below. */
    _cleanup_close_ int fd =
        openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP)
            return nc_error_set(err, EPERM, "'%s' is a symbolic link", name);
        return nc_error_set(err, errno, "open '%s': %s", name, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nc_error_set(err, errno, "'%s': %s", name, strerror(errno));
    if (st.st_dev != pre.st_dev || st.st_ino != pre.st_ino)
        return nc_error_set(err, EPERM, "'%s' was replaced while it was read", name);
    if ((r = check(name, &st, owner, max, err)) < 0)
        return r;
    /* The size may still grow while it is read: at most max + 1 bytes are read. */
    strbuf_reset(out);
    for (;;) {
        char buf[8192];
        size_t want = max + 1 - out->len < sizeof(buf) ? max + 1 - out->len : sizeof(buf);
        ssize_t n = read(fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return nc_error_set(err, errno, "read '%s': %s", name, strerror(errno));
        if (n == 0)
            break;
        strbuf_add(out, buf, (size_t)n);
        if (out->len > max)
            return nc_error_set(err, EFBIG, "'%s' is larger than %zu bytes", name, max);
    }
    if (ret_st)
        *ret_st = st;
    return 0;
}

static const char *const type_names[] = {
    [IPC_MESSAGE] = "message",
    [IPC_SCHEDULE_TASK] = "schedule_task",
    [IPC_PAUSE_TASK] = "pause_task",
    [IPC_RESUME_TASK] = "resume_task",
    [IPC_CANCEL_TASK] = "cancel_task",
    [IPC_UPDATE_TASK] = "update_task",
    [IPC_REFRESH_GROUPS] = "refresh_groups",
    [IPC_REGISTER_GROUP] = "register_group",
};

const char *ipc_type_name(ipc_type t)
{
    return (size_t)t < NC_ARRAY_SIZE(type_names) ? type_names[t] : "unknown";
}

/* An optional string field: absent or null is NULL; another type is an error. */
static int opt_str(const nc_json *o, const char *key, char **out, nc_error **err)
{
    const nc_json *v = json_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return nc_error_set(err, EINVAL, "field '%s' is not a string", key);
    *out = xstrdup(json_string(v));
    return 0;
}

/* A required string field, not empty. */
static int req_str(const nc_json *o, const char *key, char **out, nc_error **err)
{
    int r = opt_str(o, key, out, err);
    if (r < 0)
        return r;
    if (!*out || !**out)
        return nc_error_set(err, EINVAL, "field '%s' is missing", key);
    return 0;
}

/* schedule_value: a string, or a number (an interval written as a number). */
static int schedule_value(const nc_json *o, char **out, nc_error **err)
{
    const nc_json *v = json_get(o, "schedule_value");
    int64_t n;
    if (v && json_is_integer(v) && json_int(v, &n)) {
        *out = xasprintf("%lld", (long long)n);
        return 0;
    }
    return opt_str(o, "schedule_value", out, err);
}

static int parse_fields(const nc_json *o, ipc_request *q, nc_error **err)
{
    int r = 0;
    switch (q->type) {
    case IPC_MESSAGE:
        if ((r = req_str(o, "chatJid", &q->chat_jid, err)) < 0 ||
            (r = req_str(o, "text", &q->text, err)) < 0)
            return r;
        return opt_str(o, "sender", &q->sender, err);
    case IPC_SCHEDULE_TASK:
        if ((r = opt_str(o, "taskId", &q->task_id, err)) < 0 ||
            (r = req_str(o, "prompt", &q->prompt, err)) < 0 ||
            (r = opt_str(o, "script", &q->script, err)) < 0 ||
            (r = req_str(o, "schedule_type", &q->schedule_type, err)) < 0 ||
            (r = schedule_value(o, &q->schedule_value, err)) < 0 ||
            (r = opt_str(o, "context_mode", &q->context_mode, err)) < 0 ||
            (r = opt_str(o, "targetJid", &q->target_jid, err)) < 0)
            return r;
        if (!q->schedule_value || !*q->schedule_value)
            return nc_error_set(err, EINVAL, "field 'schedule_value' is missing");
        return 0;
    case IPC_PAUSE_TASK:
    case IPC_RESUME_TASK:
    case IPC_CANCEL_TASK:
        return req_str(o, "taskId", &q->task_id, err);
    case IPC_UPDATE_TASK:
        if ((r = req_str(o, "taskId", &q->task_id, err)) < 0 ||
            (r = opt_str(o, "prompt", &q->prompt, err)) < 0 ||
            (r = opt_str(o, "script", &q->script, err)) < 0 ||
            (r = opt_str(o, "schedule_type", &q->schedule_type, err)) < 0 ||
            (r = schedule_value(o, &q->schedule_value, err)) < 0)
            return r;
        if (!q->schedule_type != !q->schedule_value)
            return nc_error_set(err, EINVAL,
                                "fields 'schedule_type' and 'schedule_value' go together");
        return 0;
    case IPC_REFRESH_GROUPS:
        return 0;
    case IPC_REGISTER_GROUP: {
        if ((r = req_str(o, "jid", &q->jid, err)) < 0 ||
            (r = req_str(o, "name", &q->name, err)) < 0 ||
            (r = req_str(o, "folder", &q->folder, err)) < 0 ||
            (r = req_str(o, "trigger", &q->trigger, err)) < 0)
            return r;
        const nc_json *rt = json_get(o, "requiresTrigger");
        if (rt && !json_is_null(rt) && !json_bool(rt, &q->requires_trigger))
            return nc_error_set(err, EINVAL, "field 'requiresTrigger' is not a boolean");
        const nc_json *im = json_get(o, "isMain");
        bool main = false;
        q->sets_is_main = (im && json_bool(im, &main) && main) || json_get(o, "is_main");
        const nc_json *cc = json_get(o, "containerConfig");
        if (cc && !json_is_null(cc)) {
            if (!json_is_object(cc))
                return nc_error_set(err, EINVAL, "field 'containerConfig' is not an object");
            _cleanup_jgen_ nc_jgen *g = jgen_new();
            jgen_value(g, cc, true);
            strbuf sb = STRBUF_INIT;
            if ((r = jgen_finish(g, &sb, err)) < 0) {
                strbuf_release(&sb);
                return r;
            }
            q->container_config = strbuf_detach(&sb, NULL);
        }
        return 0;
    }
    default:
        return nc_error_set(err, EINVAL, "unknown type");
    }
}

int ipc_parse(const char *buf, size_t len, bool in_tasks, ipc_request *ret, nc_error **err)
{
    *ret = (ipc_request){0};
    _cleanup_json_ nc_json *root = NULL;
    int r = json_parse(buf, len, &root, err);
    if (r < 0)
        return nc_error_wrap(err, "bad JSON");
    if (!json_is_object(root))
        return nc_error_set(err, EINVAL, "not a JSON object");
    const nc_json *t = json_get(root, "type");
    const char *type = t && json_is_string(t) ? json_string(t) : NULL;
    if (!type)
        return nc_error_set(err, EINVAL, "field 'type' is missing");
    size_t i = 0;
    while (i < NC_ARRAY_SIZE(type_names) && strcmp(type_names[i], type) != 0)
        i++;
    if (i == NC_ARRAY_SIZE(type_names))
        return nc_error_set(err, EINVAL, "unknown type '%.64s'", type);
    ret->type = (ipc_type)i;
    if ((ret->type == IPC_MESSAGE) == in_tasks)
        return nc_error_set(err, EINVAL, "type '%s' does not belong in ipc/%s", type,
                            in_tasks ? "tasks" : "messages");
    r = parse_fields(root, ret, err);
    if (r < 0) {
        ipc_request_release(ret);
        return nc_error_wrap(err, "%s", type_names[i]);
    }
    return 0;
}

void ipc_request_release(ipc_request *r)
{
    if (!r)
        return;
    free(r->chat_jid);
    free(r->text);
    free(r->sender);
    free(r->task_id);
    free(r->prompt);
    free(r->script);
    free(r->schedule_type);
    free(r->schedule_value);
    free(r->context_mode);
    free(r->target_jid);
    free(r->jid);
    free(r->name);
    free(r->folder);
    free(r->trigger);
    free(r->container_config);
    *r = (ipc_request){0};
}
