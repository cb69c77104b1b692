/* Scripted mode (see script.h). */
#include "script.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ipc.h"
#include "ipccmd.h"
#include "probe.h"
#include "protocol.h"
#include "proxyreq.h"
#include "text.h"
#include "util/timeutil.h"
#include "util/units.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* How often a sleep looks for `_close`, as the idle loop does. */
#define SLEEP_TICK_MS 250
#define CHUNK ((size_t)64 * 1024)

static int fail(const struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const struct agent *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    return proto_error(a->session_id, msg);
}

/* A size argument: bytes, or with a binary unit ("64k", "2m", "1g"), at most SCRIPT_MAX_BYTES. */
static bool parse_bytes(const char *arg, uint64_t *out)
{
    uint64_t v;
    if (parse_size(arg, &v, NULL) < 0 || v > SCRIPT_MAX_BYTES)
        return false;
    *out = v;
    return true;
}

/* Writes n bytes of a repeated pattern line to fd; the last line may be cut. Returns 0 or a
 * negative errno. */
static int write_pattern(int fd, const char *line, uint64_t n)
{
    _cleanup_free_ char *buf = xmalloc(CHUNK);
    size_t ll = strlen(line);
    for (size_t i = 0; i < CHUNK; i++)
        buf[i] = line[i % ll];
    /* Each chunk starts where the last one stopped in the pattern, so lines stay whole. */
    size_t period = CHUNK - CHUNK % ll;
    while (n) {
        size_t k = n < period ? (size_t)n : period;
        int r = proto_write_all(fd, buf, k);
        if (r < 0)
            return r;
        n -= k;
    }
    return 0;
}

static int cmd_emit(const struct agent *a, const char *arg)
{
    uint64_t n;
    if (!text_parse_u64(arg, SCRIPT_MAX_EMIT, &n))
        return fail(a, "emit: '%s' is not a number from 0 to %d", arg, SCRIPT_MAX_EMIT);
    for (uint64_t i = 1; i <= n; i++) {
        char line[64];
        snprintf(line, sizeof(line), "result %" PRIu64 " of %" PRIu64, i, n);
        int r = proto_result(a->session_id, line);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Sleeps, looking for `_close` every SLEEP_TICK_MS as NanoClaw's agent does during a query.
 * Returns SCRIPT_EXIT when the host asked to close. */
static int cmd_sleep(const struct agent *a, const char *arg)
{
    uint64_t ms;
    if (!text_parse_seconds_ms(arg, SCRIPT_MAX_SLEEP_MS, &ms))
        return fail(a, "sleep: '%s' is not a number of seconds up to %" PRIu64, arg,
                    SCRIPT_MAX_SLEEP_MS / 1000);
    uint64_t deadline = mono_ms() + ms;
    for (;;) {
        uint64_t left = ms_until(deadline);
        if (!left)
            return 0;
        ipc_wait(a, left < SLEEP_TICK_MS ? left : SLEEP_TICK_MS);
        if (ipc_take_close(a))
            return SCRIPT_EXIT;
    }
}

static int cmd_stderr(const struct agent *a, const char *arg)
{
    uint64_t n;
    if (!parse_bytes(arg, &n))
        return fail(a, "stderr: '%s' is not a size up to 1g", arg);
    /* A closed stderr is not worth a result: the host may not read it. */
    (void)write_pattern(STDERR_FILENO, "noise on stderr from the scripted agent\n", n);
    return 0;
}

static int cmd_big(const struct agent *a, const char *arg)
{
    uint64_t n;
    if (!parse_bytes(arg, &n))
        return fail(a, "big: '%s' is not a size up to 1g", arg);
    return proto_big_result(a->session_id, n);
}

static int cmd_spew(const struct agent *a, const char *arg)
{
    uint64_t n;
    if (!parse_bytes(arg, &n))
        return fail(a, "spew: '%s' is not a size up to 1g", arg);
    return write_pattern(STDOUT_FILENO, "plain text outside the markers\n", n);
}

static int cmd_ipc_send(const struct agent *a, const char *arg)
{
    if (!*arg)
        return fail(a, "ipc-send: no text to send");
    _cleanup_error_ nc_error *err = NULL;
    if (ipc_send_message(a, NULL, arg, NULL, &err) < 0)
        return fail(a, "ipc-send: %s", nc_error_msg(err));
    return proto_result(a->session_id, "sent");
}

static int cmd_hog(const struct agent *a, const char *arg)
{
    uint64_t mib;
    if (!text_parse_u64(arg, SCRIPT_MAX_HOG_MIB, &mib) || mib == 0)
        return fail(a, "hog: '%s' is not a number of MiB from 1 to %" PRIu64, arg,
                    SCRIPT_MAX_HOG_MIB);
    size_t len = (size_t)mib << 20;
    /* mmap, not the aborting allocators: failing to get the memory is an answer, not a crash. */
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return fail(a, "hog: cannot allocate %" PRIu64 " MiB: %s", mib, strerror(errno));
    long page = sysconf(_SC_PAGESIZE);
    size_t step = page > 0 ? (size_t)page : 4096;
    for (size_t i = 0; i < len; i += step)
        p[i] = (char)i;
    munmap(p, len);
    char msg[64];
    snprintf(msg, sizeof(msg), "allocated %" PRIu64 " MiB", mib);
    return proto_result(a->session_id, msg);
}

/* write PATH [TEXT]: creates or truncates the file PATH holding TEXT and a newline, never
 * through a symlink at PATH; a leading "~/" stands for $HOME. The result names PATH as written,
 * so a test sees whether a place is writable without the agent printing an environment value. */
static int cmd_write(const struct agent *a, const char *arg)
{
    size_t plen = strcspn(arg, " \t");
    if (!plen)
        return fail(a, "write: no path");
    _cleanup_free_ char *shown = xstrndup(arg, plen);
    const char *text = arg + plen;
    while (*text == ' ' || *text == '\t')
        text++;
    _cleanup_free_ char *path = NULL;
    if (shown[0] == '~' && (shown[1] == '/' || !shown[1])) {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return fail(a, "write: '%s': HOME is not set", shown);
        path = xasprintf("%s%s", home, shown + 1);
    } else {
        path = xstrdup(shown);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(a, "write: cannot create '%s': %s", shown, strerror(errno));
    _cleanup_free_ char *data = xasprintf("%s\n", text);
    int r = proto_write_all(fd, data, strlen(data));
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r < 0)
        return fail(a, "write: '%s': %s", shown, strerror(-r));
    _cleanup_free_ char *msg = xasprintf("wrote %s", shown);
    return proto_result(a->session_id, msg);
}

static int cmd_probe(const struct agent *a)
{
    _cleanup_strbuf_ strbuf report = STRBUF_INIT;
    probe_report(&report);
    return proto_result(a->session_id, strbuf_str(&report));
}

/* Runs one command, given trimmed and NUL-terminated. */
static int run_command(const struct agent *a, const char *cmd, int *exit_code)
{
    size_t wlen = strcspn(cmd, " \t");
    const char *arg = cmd + wlen;
    while (*arg == ' ' || *arg == '\t')
        arg++;
#define IS(w) (wlen == strlen(w) && memcmp(cmd, w, wlen) == 0)
    if (IS("echo"))
        return proto_result(a->session_id, arg);
    if (IS("emit"))
        return cmd_emit(a, arg);
    if (IS("sleep") || (IS("hold") && !*arg)) {
        /* hold: wait for the host's _close mid-query, without reporting the query complete,
         * the way an agent still working looks (it exercises the host's idle timeout). */
        int r = cmd_sleep(a, IS("hold") ? "86400" : arg);
        if (r == SCRIPT_EXIT)
            *exit_code = 0;
        return r;
    }
    if (IS("stderr"))
        return cmd_stderr(a, arg);
    if (IS("big"))
        return cmd_big(a, arg);
    if (IS("spew"))
        return cmd_spew(a, arg);
    if (IS("ipc-send"))
        return cmd_ipc_send(a, arg);
    if (IS("exit")) {
        uint64_t c;
        if (!text_parse_u64(arg, 255, &c))
            return fail(a, "exit: '%s' is not a status from 0 to 255", arg);
        *exit_code = (int)c;
        return SCRIPT_EXIT;
    }
    if (IS("fail"))
        return proto_error(a->session_id, *arg ? arg : "failed");
    if (IS("hog"))
        return cmd_hog(a, arg);
    if (IS("write"))
        return cmd_write(a, arg);
    if (IS("probe") && !*arg)
        return cmd_probe(a);
    if (IS("clock") && !*arg) {
        /* When its input was read, on the host's monotonic clock (containers share it): make
         * bench measures a warm turn's dispatch with it. */
        _cleanup_free_ char *msg = xasprintf("clock %llu", (unsigned long long)a->input_us);
        return proto_result(a->session_id, msg);
    }
    if (IS("proxy-request")) {
        _cleanup_strbuf_ strbuf st = STRBUF_INIT;
        _cleanup_error_ nc_error *perr = NULL;
        if (proxyreq_run(arg, &st, &perr) < 0)
            return fail(a, "proxy-request: %s", nc_error_msg(perr));
        _cleanup_free_ char *text = xasprintf("proxy-request: %s", strbuf_str(&st));
        return proto_result(a->session_id, text);
    }
#undef IS
    bool handled;
    int r = ipccmd_run(a, cmd, wlen, arg, &handled);
    if (handled)
        return r;
    _cleanup_free_ char *said = xasprintf("you said: %s", cmd);
    return proto_result(a->session_id, said);
}

static int run_commands(const struct agent *a, const char *prompt, int *exit_code);

/* Appends the text s[0..n) with the five XML entities the host's prompt format uses decoded;
 * any other '&' stays as it is. */
static void add_unescaped(strbuf *out, const char *s, size_t n)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (size_t i = 0; i < n;) {
        bool decoded = false;
        for (size_t k = 0; s[i] == '&' && !decoded && k < sizeof(ents) / sizeof(ents[0]); k++) {
            size_t el = strlen(ents[k].ent);
            if (n - i >= el && memcmp(s + i, ents[k].ent, el) == 0) {
                strbuf_addch(out, ents[k].c);
                i += el;
                decoded = true;
            }
        }
        if (!decoded)
            strbuf_addch(out, s[i++]);
    }
}

/* A daemon's prompt (<messages><message ...>TEXT</message>...</messages>): each message's text,
 * without a leading "@<assistant name>" trigger, is run as a script of its own, in order. */
static int run_messages(const struct agent *a, const char *prompt, int *exit_code)
{
    _cleanup_free_ char *trigger = xasprintf("@%s", a->assistant_name);
    size_t tlen = strlen(trigger);
    const char *p = prompt;
    while ((p = strstr(p, "<message "))) {
        const char *body = strchr(p, '>');
        const char *end = body ? strstr(body, "</message>") : NULL;
        if (!end)
            break;
        body++;
        _cleanup_strbuf_ strbuf text = STRBUF_INIT;
        add_unescaped(&text, body, (size_t)(end - body));
        const char *t = strbuf_str(&text);
        while (*t == ' ' || *t == '\t')
            t++;
        if (strncasecmp(t, trigger, tlen) == 0)
            t += tlen;
        int r = run_commands(a, t, exit_code);
        if (r != 0)
            return r;
        p = end + strlen("</message>");
    }
    return SCRIPT_DONE;
}

int script_run(const struct agent *a, const char *prompt, int *exit_code)
{
    size_t len = strlen(prompt);
    const char *trimmed = text_trim(prompt, &len);
    if (len >= 10 && strncmp(trimmed, "<messages>", 10) == 0)
        return run_messages(a, trimmed, exit_code);
    return run_commands(a, prompt, exit_code);
}

static int run_commands(const struct agent *a, const char *prompt, int *exit_code)
{
    const char *p = prompt;
    while (*p) {
        /* One command ends at a newline or at " ; ". */
        size_t len = strcspn(p, "\n");
        const char *semi = memmem(p, len, " ; ", 3);
        size_t skip;
        if (semi) {
            len = (size_t)(semi - p);
            skip = len + 3;
        } else {
            skip = len + (p[len] == '\n');
        }
        const char *cmd = text_trim(p, &len);
        p += skip;
        if (!len)
            continue;
        _cleanup_free_ char *one = xstrndup(cmd, len);
        int r = run_command(a, one, exit_code);
        if (r != 0)
            return r;
    }
    return SCRIPT_DONE;
}
