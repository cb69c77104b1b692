/* File IPC with the host (see ipc.h). */
#include "ipc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/fileutil.h"
#include "util/json.h"
#include "util/strv.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Input files that could not be deleted (a read-only mount, say): skipped from then on, so one
 * message is never taken twice. Lives for the process. */
static char **undeletable;

static char *input_path(const struct agent *a, const char *name)
{
    return xasprintf("%s/ipc/input/%s", a->workspace, name);
}

bool ipc_input_exists(const struct agent *a)
{
    _cleanup_free_ char *dir = xasprintf("%s/ipc/input", a->workspace);
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

bool ipc_take_close(const struct agent *a)
{
    _cleanup_free_ char *path = input_path(a, "_close");
    if (unlink(path) == 0)
        return true;
    return errno != ENOENT && access(path, F_OK) == 0;
}

static bool is_json_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

static int cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Reads a regular file of at most IPC_MAX_INPUT_FILE bytes. O_NONBLOCK and O_NOFOLLOW: a FIFO or
 * a symlink planted under input/ can neither block the agent nor point it elsewhere. */
static int read_input_file(const char *path, strbuf *out, nc_error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return nc_error_set(err, errno, "open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nc_error_set(err, errno, "stat '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return nc_error_set(err, EINVAL, "'%s' is not a regular file", path);
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return nc_error_set(err, errno, "read '%s': %s", path, strerror(errno));
        if (n == 0)
            return 0;
        if (out->len + (size_t)n > IPC_MAX_INPUT_FILE)
            return nc_error_set(err, EFBIG, "'%s' is larger than %zu bytes", path,
                                IPC_MAX_INPUT_FILE);
        strbuf_add(out, buf, (size_t)n);
    }
}

/* Takes one input file: reads it, deletes it, and returns its message text (allocated), or NULL
 * when it holds no message. */
static char *take_input(const struct agent *a, const char *name)
{
    _cleanup_free_ char *path = input_path(a, name);
    _cleanup_strbuf_ strbuf data = STRBUF_INIT;
    _cleanup_error_ nc_error *err = NULL;
    int r = read_input_file(path, &data, &err);
    if (unlink(path) < 0 && errno != ENOENT) {
        fprintf(stderr, "nanocell-agent: cannot delete input '%s' (%s); skipping it from now on\n",
                name, strerror(errno));
        strv_push(&undeletable, name);
    }
    if (r < 0) {
        fprintf(stderr, "nanocell-agent: skipped input '%s': %s\n", name, nc_error_msg(err));
        return NULL;
    }
    _cleanup_json_ nc_json *root = NULL;
    if (json_parse(data.buf ? data.buf : "", data.len, &root, &err) < 0) {
        fprintf(stderr, "nanocell-agent: skipped input '%s': %s\n", name, nc_error_msg(err));
        return NULL;
    }
    const char *type = json_string(json_get(root, "type"));
    const char *text = json_string(json_get(root, "text"));
    if (!type || strcmp(type, "message") != 0 || !text || !*text) {
        fprintf(stderr,
                "nanocell-agent: skipped input '%s': not a {\"type\":\"message\"} with text\n",
                name);
        return NULL;
    }
    return xstrdup(text);
}

size_t ipc_drain_input(const struct agent *a, strbuf *prompt)
{
    _cleanup_free_ char *dir = xasprintf("%s/ipc/input", a->workspace);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    _cleanup_strv_ char **names = NULL;
    struct dirent *e;
    while ((e = readdir(d)))
        if (is_json_name(e->d_name) && !strv_contains(undeletable, e->d_name))
            strv_push(&names, e->d_name);
    closedir(d);
    size_t n = strv_len(names), taken = 0;
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *text = take_input(a, names[i]);
        if (!text)
            continue;
        if (prompt->len)
            strbuf_addch(prompt, '\n');
        strbuf_addstr(prompt, text);
        taken++;
    }
    return taken;
}

char *ipc_iso_now(void)
{
    uint64_t ms = wall_ms();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    return xasprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

char *ipc_unique_name(void)
{
    /* <ms>-<6 base36 chars>, as NanoClaw's writers name files and tasks. */
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    unsigned char rnd[6] = {0};
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
        uint64_t x = mono_ms() ^ ((uint64_t)getpid() << 20);
        for (size_t i = 0; i < sizeof(rnd); i++)
            rnd[i] = (unsigned char)(x >> (i * 7));
    }
    char suffix[sizeof(rnd) + 1];
    for (size_t i = 0; i < sizeof(rnd); i++)
        suffix[i] = digits[rnd[i] % 36];
    suffix[sizeof(rnd)] = '\0';
    return xasprintf("%llu-%s", (unsigned long long)wall_ms(), suffix);
}

int ipc_write_file(const struct agent *a, const char *dir, const char *json, size_t len,
                   nc_error **err)
{
    _cleanup_free_ char *name = ipc_unique_name();
    _cleanup_free_ char *path = xasprintf("%s/ipc/%s/%s.json", a->workspace, dir, name);
    /* write_file_atomic writes "<path>.tmp.<pid>.<rand>" and renames it: the host reads only
     * names ending in ".json", so it never sees a partial file. */
    return write_file_atomic(path, json, len, 0644, err);
}

int ipc_send_message(const struct agent *a, const char *chat_jid, const char *text,
                     const char *sender, nc_error **err)
{
    _cleanup_free_ char *ts = ipc_iso_now();
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "type", "message");
    jgen_kv_str(g, "chatJid", chat_jid ? chat_jid : a->chat_jid);
    jgen_kv_str(g, "text", text);
    if (sender)
        jgen_kv_str(g, "sender", sender);
    jgen_kv_str(g, "groupFolder", a->group_folder);
    jgen_kv_str(g, "timestamp", ts);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf json = STRBUF_INIT;
    int r = jgen_finish(g, &json, err);
    if (r >= 0)
        r = ipc_write_file(a, "messages", json.buf, json.len, err);
    return r < 0 ? nc_error_wrap(err, "send message") : 0;
}

/* One inotify watch on input/ for the process's life: -1 until made, -2 when unavailable. */
static int input_watch = -1;

void ipc_wait(const struct agent *a, uint64_t max_ms)
{
    if (input_watch == -1) {
        input_watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        _cleanup_free_ char *dir = xasprintf("%s/ipc/input", a->workspace);
        if (input_watch >= 0 &&
            inotify_add_watch(input_watch, dir, IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
            close(input_watch);
            input_watch = -2;
        } else if (input_watch < 0) {
            input_watch = -2;
        }
    }
    if (input_watch < 0) {
        sleep_ms(max_ms);
        return;
    }
    struct pollfd p = {.fd = input_watch, .events = POLLIN};
    if (poll(&p, 1, (int)max_ms) > 0) {
        char buf[4096]; /* inotify events are drained, not read: input/ is looked at anyway */
        while (read(input_watch, buf, sizeof(buf)) > 0)
            ;
    }
}
