/* The script gate (see gate.h). */
#include "gate.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char scheduled_prefix[] =
    "[SCHEDULED TASK - The following message was sent automatically and is not coming directly "
    "from the user or group.]\n\n";

/* Runs the script; its stdout (capped) in out. Returns the wait status, or -1. */
static int run(const char *script, strbuf *out, bool *timed_out)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        dup2(p[1], STDOUT_FILENO);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    uint64_t deadline = mono_ms() + GATE_TIMEOUT_MS;
    *timed_out = false;
    for (;;) {
        uint64_t now = mono_ms();
        if (now >= deadline) {
            *timed_out = true;
            kill(-pid, SIGKILL);
            break;
        }
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        int n = poll(&pf, 1, (int)(deadline - now));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            continue;
        char buf[8192];
        ssize_t k = read(p[0], buf, sizeof(buf));
        if (k <= 0)
            break;
        if (out->len < GATE_MAX_OUTPUT)
            strbuf_add(out, buf,
                       (size_t)k < GATE_MAX_OUTPUT - out->len ? (size_t)k
                                                              : GATE_MAX_OUTPUT - out->len);
    }
    close(p[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

void gate_run(const char *script, bool *wake, char **data, char **why)
{
    *wake = false;
    *data = NULL;
    *why = NULL;
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    bool timed_out = false;
    int status = run(script, &out, &timed_out);
    if (status < 0 || timed_out) {
        *why = xstrdup(timed_out ? "the script timed out" : "the script could not run");
        return;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        *why = xasprintf("the script failed (status %d)",
                         WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return;
    }
    /* The last non-empty line. */
    size_t end = out.len;
    while (end && (out.buf[end - 1] == '\n' || out.buf[end - 1] == '\r' || out.buf[end - 1] == ' '))
        end--;
    size_t start = end;
    while (start && out.buf[start - 1] != '\n')
        start--;
    if (start == end) {
        *why = xstrdup("the script printed nothing");
        return;
    }
    _cleanup_json_ nc_json *root = NULL;
    _cleanup_error_ nc_error *err = NULL;
    bool w = false;
    if (json_parse(out.buf + start, end - start, &root, &err) < 0 || !json_is_object(root) ||
        !json_bool(json_get(root, "wakeAgent"), &w)) {
        *why = xstrdup("the script's last line is not {\"wakeAgent\": bool, ...}");
        return;
    }
    if (!w) {
        *why = xstrdup("the script said wakeAgent false");
        return;
    }
    *wake = true;
    const nc_json *d = json_get(root, "data");
    if (d) {
        _cleanup_jgen_ nc_jgen *g = jgen_new();
        jgen_value(g, d, false);
        strbuf s = STRBUF_INIT;
        if (jgen_finish(g, &s, NULL) == 0)
            *data = strbuf_detach(&s, NULL);
        else
            strbuf_release(&s);
    }
}

char *gate_prompt(const char *prompt, const char *data, bool had_script)
{
    if (!had_script)
        return xasprintf("%s%s", scheduled_prefix, prompt);
    return xasprintf("[SCHEDULED TASK]\n\nScript output:\n%s\n\nInstructions:\n%s",
                     data ? data : "null", prompt);
}
