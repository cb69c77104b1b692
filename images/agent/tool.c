/* The `bash` tool (see tool.h). */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "text.h"
#include "util/timeutil.h"
#include "util/banned.h"

/* How long to wait for a killed process group's leader to be reaped. */
#define REAP_MS 5000
/* poll() tick while the shell runs, to notice its exit with waitpid(WNOHANG). */
#define TICK_MS 100

struct stream {
    int fd; /* -1 once at EOF */
    strbuf data;
    size_t dropped;
};

/* Child side, between fork and exec: only async-signal-safe calls. */
static _Noreturn void child(const char *command, const char *cwd, int out_w, int err_w)
{
    setpgid(0, 0);
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL); /* fails harmlessly for SIGKILL, SIGSTOP and RT internals */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(out_w, STDOUT_FILENO) < 0 ||
        dup2(err_w, STDERR_FILENO) < 0)
        _exit(126);
    if (cwd)
        (void)!chdir(cwd);
    execl("/bin/sh", "sh", "-c", command, (char *)NULL);
    static const char msg[] = "cannot run /bin/sh\n";
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(127);
}

static void read_stream(struct stream *s)
{
    char buf[16384];
    ssize_t n = read(s->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        close(s->fd);
        s->fd = -1;
        return;
    }
    size_t keep = TOOL_MAX_OUTPUT - s->data.len;
    if ((size_t)n < keep)
        keep = (size_t)n;
    strbuf_add(&s->data, buf, keep);
    s->dropped += (size_t)n - keep;
}

static void add_stream(strbuf *out, const struct stream *s)
{
    text_add_utf8(out, s->data.buf ? s->data.buf : "", s->data.len);
    if (s->data.len && s->data.buf[s->data.len - 1] != '\n')
        strbuf_addch(out, '\n');
    if (s->dropped)
        strbuf_addf(out, "[output cut at %zu bytes; %zu more dropped]\n", TOOL_MAX_OUTPUT,
                    s->dropped);
}

/* Waits for pid with waitpid(WNOHANG) until REAP_MS pass; true when reaped. */
static bool reap(pid_t pid, int *status)
{
    uint64_t deadline = mono_ms() + REAP_MS;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return true;
        if (r < 0 && errno != EINTR)
            return false;
        if (!ms_until(deadline))
            return false;
        sleep_ms(10);
    }
}

int tool_run_shell(const char *command, const char *cwd, strbuf *out, bool *failed, nc_error **err)
{
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) < 0)
        return nc_error_set(err, errno, "pipe: %s", strerror(errno));
    if (pipe2(pe, O_CLOEXEC) < 0) {
        int e = errno;
        close(po[0]);
        close(po[1]);
        return nc_error_set(err, e, "pipe: %s", strerror(e));
    }
    pid_t pid = fork();
    if (pid == 0)
        child(command, cwd, po[1], pe[1]);
    int fork_errno = errno;
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        return nc_error_set(err, fork_errno, "fork: %s", strerror(fork_errno));
    }
    setpgid(pid, pid); /* also in the child: whichever runs first, the group exists */
    fcntl(po[0], F_SETFL, O_NONBLOCK);
    fcntl(pe[0], F_SETFL, O_NONBLOCK);

    struct stream s[2] = {{.fd = po[0], .data = STRBUF_INIT}, {.fd = pe[0], .data = STRBUF_INIT}};
    uint64_t deadline = mono_ms() + TOOL_TIMEOUT_MS, drain_until = 0;
    bool exited = false, timed_out = false;
    int status = 0;
    for (;;) {
        if (!exited) {
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid) {
                exited = true;
                drain_until = mono_ms() + TOOL_DRAIN_MS;
            }
        }
        if (s[0].fd < 0 && s[1].fd < 0 && exited)
            break;
        if (exited && !ms_until(drain_until))
            break;
        if (!exited && !ms_until(deadline)) {
            timed_out = true;
            kill(-pid, SIGKILL);
            exited = reap(pid, &status);
            break;
        }
        struct pollfd p[2];
        nfds_t np = 0;
        int idx[2];
        for (int i = 0; i < 2; i++)
            if (s[i].fd >= 0) {
                p[np] = (struct pollfd){.fd = s[i].fd, .events = POLLIN};
                idx[np++] = i;
            }
        int n = poll(p, np, TICK_MS);
        if (n < 0 && errno != EINTR)
            break;
        for (nfds_t i = 0; n > 0 && i < np; i++)
            if (p[i].revents)
                read_stream(&s[idx[i]]);
    }
    for (int i = 0; i < 2; i++)
        if (s[i].fd >= 0)
            close(s[i].fd);

    add_stream(out, &s[0]);
    if (s[1].data.len || s[1].dropped) {
        strbuf_addstr(out, "stderr:\n");
        add_stream(out, &s[1]);
    }
    strbuf_release(&s[0].data);
    strbuf_release(&s[1].data);
    if (timed_out)
        strbuf_addf(out, "timed out after %llu s\n", (unsigned long long)(TOOL_TIMEOUT_MS / 1000));
    if (!exited) {
        /* Cannot happen short of a D-state child; say so rather than wait forever. */
        strbuf_addstr(out, "exit status unknown (the process did not end)");
        *failed = true;
    } else if (WIFEXITED(status)) {
        strbuf_addf(out, "exit status %d", WEXITSTATUS(status));
        *failed = WEXITSTATUS(status) != 0;
    } else {
        strbuf_addf(out, "killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        *failed = true;
    }
    return 0;
}
