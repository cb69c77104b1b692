/* NanoClaw v1 agent protocol: stdin input and stdout markers (see protocol.h). */
#include "protocol.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Bytes per write(2) of a streamed big result. */
#define BIG_CHUNK ((size_t)64 * 1024)

int proto_read_all(int fd, strbuf *out, nc_error **err)
{
    char buf[65536];
    bool over = false;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return nc_error_set(err, errno, "read stdin: %s", strerror(errno));
        if (n == 0)
            break;
        if (over || out->len + (size_t)n > PROTO_MAX_INPUT) {
            over = true; /* keep reading to EOF: the host expects stdin drained */
            continue;
        }
        strbuf_add(out, buf, (size_t)n);
    }
    if (over)
        return nc_error_set(err, EFBIG, "input is larger than %zu bytes", PROTO_MAX_INPUT);
    return 0;
}

/* Copies member key of obj into *out when it is a string. Absent or null leaves *out NULL;
 * another type is an error. */
static int get_str(const nc_json *obj, const char *key, char **out, nc_error **err)
{
    const nc_json *v = json_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return nc_error_set(err, EINVAL, "'%s' is not a string", key);
    *out = xstrdup(json_string(v));
    return 0;
}

static int get_bool(const nc_json *obj, const char *key, bool *out, nc_error **err)
{
    const nc_json *v = json_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_bool(v, out))
        return nc_error_set(err, EINVAL, "'%s' is not a boolean", key);
    return 0;
}

int proto_parse_input(const char *text, size_t len, struct agent_input *in, nc_error **err)
{
    _cleanup_json_ nc_json *root = NULL;
    int r = json_parse(text, len, &root, err);
    if (r < 0)
        return r;
    if (!json_is_object(root))
        return nc_error_set(err, EINVAL, "input is not a JSON object");
    if (!json_is_string(json_get(root, "prompt")))
        return nc_error_set(err, EINVAL, "'prompt' is missing or not a string");
    struct agent_input v = {0};
    if ((r = get_str(root, "prompt", &v.prompt, err)) < 0 ||
        (r = get_str(root, "sessionId", &v.session_id, err)) < 0 ||
        (r = get_str(root, "groupFolder", &v.group_folder, err)) < 0 ||
        (r = get_str(root, "chatJid", &v.chat_jid, err)) < 0 ||
        (r = get_str(root, "assistantName", &v.assistant_name, err)) < 0 ||
        (r = get_str(root, "script", &v.script, err)) < 0 ||
        (r = get_bool(root, "isMain", &v.is_main, err)) < 0 ||
        (r = get_bool(root, "isScheduledTask", &v.is_scheduled, err)) < 0) {
        proto_input_clear(&v);
        return r;
    }
    if (v.session_id && !*v.session_id) {
        free(v.session_id);
        v.session_id = NULL;
    }
    if (v.assistant_name && !*v.assistant_name) {
        free(v.assistant_name);
        v.assistant_name = NULL;
    }
    if (!v.group_folder)
        v.group_folder = xstrdup("");
    if (!v.chat_jid)
        v.chat_jid = xstrdup("");
    *in = v;
    return 0;
}

void proto_input_clear(struct agent_input *in)
{
    free(in->script);
    free(in->prompt);
    free(in->session_id);
    free(in->group_folder);
    free(in->chat_jid);
    free(in->assistant_name);
    *in = (struct agent_input){0};
}

char *proto_new_session_id(void)
{
    unsigned char b[16] = {0};
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof(b)) {
        /* getrandom refused (an old kernel or a seccomp profile): still unique per process. */
        uint64_t t = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&got;
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] ^= (unsigned char)(t >> ((i % 8) * 8));
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    return xasprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                     b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                     b[13], b[14], b[15]);
}

int proto_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes one marker around the JSON that g holds. A generator failure cannot come from outside
 * input (every string is valid UTF-8 by then), so it is reported as EINVAL like a lost stdout. */
static int emit(nc_jgen *g)
{
    strbuf out = STRBUF_INIT;
    strbuf_addstr(&out, PROTO_START "\n");
    int r = jgen_finish(g, &out, NULL);
    if (r == 0) {
        strbuf_addstr(&out, "\n" PROTO_END "\n");
        r = proto_write_all(STDOUT_FILENO, out.buf, out.len);
    }
    strbuf_release(&out);
    return r;
}

int proto_result(const char *session, const char *text)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "status", "success");
    jgen_kv_str(g, "result", text);
    jgen_kv_str(g, "newSessionId", session);
    jgen_obj_close(g);
    return emit(g);
}

int proto_error(const char *session, const char *msg)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "status", "error");
    jgen_key(g, "result");
    jgen_null(g);
    if (session)
        jgen_kv_str(g, "newSessionId", session);
    jgen_kv_str(g, "error", msg);
    jgen_obj_close(g);
    return emit(g);
}

int proto_session_update(const char *session)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "status", "success");
    jgen_key(g, "result");
    jgen_null(g);
    jgen_kv_str(g, "newSessionId", session);
    jgen_obj_close(g);
    return emit(g);
}

int proto_big_result(const char *session, uint64_t n)
{
    /* The JSON is written around the text by hand: the text is plain ASCII that needs no
     * escaping, and the session id is quoted by the generator. */
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_str(g, session);
    strbuf quoted = STRBUF_INIT;
    int r = jgen_finish(g, &quoted, NULL);
    if (r < 0)
        return r;
    strbuf head = STRBUF_INIT, tail = STRBUF_INIT;
    strbuf_addstr(&head, PROTO_START "\n{\"status\":\"success\",\"result\":\"");
    strbuf_addstr(&tail, "\",\"newSessionId\":");
    strbuf_add(&tail, quoted.buf, quoted.len);
    strbuf_addstr(&tail, "}\n" PROTO_END "\n");
    strbuf_release(&quoted);

    _cleanup_free_ char *chunk = xmalloc(BIG_CHUNK);
    /* 'x' with a '.' every 64th byte: plain ASCII that needs no escaping, so the result's text
     * is exactly n bytes. */
    for (size_t i = 0; i < BIG_CHUNK; i++)
        chunk[i] = (i % 64 == 63) ? '.' : 'x';
    r = proto_write_all(STDOUT_FILENO, head.buf, head.len);
    while (r == 0 && n) {
        size_t k = n < BIG_CHUNK ? (size_t)n : BIG_CHUNK;
        r = proto_write_all(STDOUT_FILENO, chunk, k);
        n -= k;
    }
    if (r == 0)
        r = proto_write_all(STDOUT_FILENO, tail.buf, tail.len);
    strbuf_release(&head);
    strbuf_release(&tail);
    return r;
}
