/*
 * nanocell-probe: the in-container escape probe.
 *
 * It runs inside a container that nanocell created with its hardened defaults, tries each escape
 * below and reports every attempt on stdout, one line each:
 *   PASS <check>: <detail>   the attempt failed, and failed the way the policy makes it fail
 *   FAIL <check>: <detail>   the attempt worked, or failed for a reason that proves nothing
 *   INFO <key>: <value>      facts for the host test, never counted
 * Check names and INFO keys are a contract with the host test: keep them stable.
 * Exit status: 0 when every check passed, 1 when any failed, 2 on a usage error.
 *
 * Syscall checks follow bubblewrap's tests/try-syscall.c: where the arguments allow it they are
 * invalid (NULL pointers, fd -1, unknown flags), so a call that gets through the seccomp filter
 * and the capability checks fails harmlessly in the kernel's argument checks (EFAULT, EBADF,
 * EINVAL), while a denied call returns EPERM (a named denial in the profile, or a missing
 * capability) or ENOSYS (the profile's default action). So EPERM or ENOSYS is a PASS, and any
 * other errno says the entry point was reachable. Calls that would change the probe itself
 * (namespaces, mounts, uid, chroot) run in a child.
 *
 * The probe never writes to a kernel knob: "write" checks open for writing and close again.
 * Every blocking step has its own bound, a GLOBAL_TIMEOUT_S alarm ends the run, and every child
 * has PR_SET_PDEATHSIG(SIGKILL), so none outlives the probe. Output goes out with one write(2)
 * per line: no stdio buffer that a fork could duplicate, nothing left unflushed. Values of
 * environment variables are never printed.
 *
 * Self-contained on purpose (static glibc only, no project headers): it runs in the FROM
 * scratch test image, where scripts/build-images.sh installs it as /usr/bin/nanocell-probe and a
 * setuid-root copy as /usr/bin/nanocell-probe-suid.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/if_ether.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <linux/tiocl.h>
#include <linux/userfaultfd.h>

#define GLOBAL_TIMEOUT_S 60
#define CHILD_TIMEOUT_MS 5000
#define CONNECT_TIMEOUT_MS 1000
#define MEM_CHILD_TIMEOUT_MS 20000
#define MEM_STEP (16ULL << 20)
#define OOM_REPORT_EVERY (64ULL << 20)
#define OOM_GIVE_UP (4ULL << 30)
#define FORK_CAP 4096
#define WALK_MAX_DEPTH 8
#define WALK_MAX_ENTRIES 20000
#define WALK_MAX_MS 3000
#define MAX_SOCKETS 64
#define MAX_MOUNTS 512
/* /dev entries listed; a /dev with more is not a hardened one and fails on the first ones. */
#define MAX_DEV_ENTRIES 256
/* Longest output line; a longer one is cut and ends in "...". */
#define LINE_BYTES 4096
#define DETAIL_BYTES 2048
#define SUID_PATH "/usr/bin/nanocell-probe-suid"
#define CAPS_NONE "0000000000000000"

struct options {
    const char *host_file;
    unsigned long long host_port;
    unsigned long long pids_limit;
    unsigned long long mem_limit;
};

/* One check's detail: "; "-separated parts, cut at DETAIL_BYTES. */
struct detail {
    char buf[DETAIL_BYTES];
    size_t len;
};

static unsigned n_pass, n_fail;

/* ---- output ---------------------------------------------------------------------------- */

static void write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

__attribute__((format(printf, 1, 2))) static void line(const char *fmt, ...)
{
    char buf[LINE_BYTES];
    size_t cap = sizeof(buf) - 1; /* room for the newline */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n;
    if (len >= cap) {
        len = cap - 1;
        memcpy(buf + len - 3, "...", 3);
    }
    buf[len++] = '\n';
    write_all(STDOUT_FILENO, buf, len);
}

__attribute__((format(printf, 2, 3))) static void info(const char *key, const char *fmt, ...)
{
    char buf[DETAIL_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    line("INFO %s: %s", key, buf);
}

__attribute__((format(printf, 2, 3))) static void add(struct detail *d, const char *fmt, ...)
{
    if (d->len + 3 >= sizeof(d->buf))
        return;
    if (d->len > 0) {
        memcpy(d->buf + d->len, "; ", 2);
        d->len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(d->buf + d->len, sizeof(d->buf) - d->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        d->len += (size_t)n < sizeof(d->buf) - d->len ? (size_t)n : sizeof(d->buf) - d->len - 1;
}

static void report(const char *name, bool ok, const struct detail *d)
{
    line("%s %s: %s", ok ? "PASS" : "FAIL", name, d->len > 0 ? d->buf : "-");
    if (ok)
        n_pass++;
    else
        n_fail++;
}

/* "ok" for 0 (the call succeeded), the errno's name, or "no result" for -1 (a child that was
 * killed or ran out of time). */
static const char *ename(int e)
{
    if (e == 0)
        return "ok";
    if (e < 0)
        return "no result (child killed or timed out)";
    const char *name = strerrorname_np(e);
    return name ? name : "unknown errno";
}

/* ---- small helpers --------------------------------------------------------------------- */

/* The errno of a call that returned ret, 0 when it succeeded. Call it right after the call. */
static int err_of(long ret)
{
    return ret < 0 ? errno : 0;
}

/* Like err_of for a call that returns a descriptor, which it closes. */
static int err_close(long ret)
{
    if (ret < 0)
        return errno;
    close((int)ret);
    return 0;
}

/* Denied by policy: a seccomp errno (EPERM named, ENOSYS default) or a missing capability. */
static bool denied(int e)
{
    return e == EPERM || e == ENOSYS;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Reads path into buf (NUL-terminated, at most size - 1 bytes). Returns the length or -errno. */
static ssize_t read_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t got = 0;
    while (got < size - 1) {
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    return (ssize_t)got;
}

/* Reads fd until EOF, size bytes or the deadline (now_ms() clock). Returns the bytes read. */
static size_t read_until(int fd, void *buf, size_t size, long deadline)
{
    size_t got = 0;
    while (got < size) {
        long left = deadline - now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        int r = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t n = read(fd, (char *)buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- children -------------------------------------------------------------------------- */

/* fork() whose child dies with the probe (PR_SET_PDEATHSIG), so none is ever left behind. */
static pid_t spawn(void)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
        _exit(127);
    return pid;
}

/* Waits up to ms for pid to end; after that kills and reaps it. Returns 0 with *status set when
 * it ended on its own, -1 when it had to be killed or could not be waited for. */
static int reap(pid_t pid, long ms, int *status)
{
    long deadline = now_ms() + ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_ms() >= deadline)
            break;
        sleep_ms(5);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return -1;
}

/* Kills pid and waits until it is gone, also when it is a ptrace-stopped tracee. */
static void kill_and_reap(pid_t pid)
{
    int status;
    kill(pid, SIGKILL);
    for (;;) {
        pid_t r = waitpid(pid, &status, __WALL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || WIFEXITED(status) || WIFSIGNALED(status))
            return;
    }
}

typedef int (*attempt_fn)(const void *arg);

/* Runs fn in a child, so that an attempt that works (a namespace, a mount, a new uid, a chroot)
 * never changes the probe. Returns fn's result (0 or an errno value), or -1 when the child
 * could not run or did not exit on its own within CHILD_TIMEOUT_MS. */
static int in_child(attempt_fn fn, const void *arg)
{
    int status;
    pid_t pid = spawn();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(fn(arg) & 0xff);
    if (reap(pid, CHILD_TIMEOUT_MS, &status) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

struct exec_result {
    int exec_errno; /* errno of execve, 0 when the exec happened, -1 no result */
    int status;
    char out[256]; /* start of the child's stdout */
};

/* Execs argv[0] in a child with an empty environment, stdout into r->out. An O_CLOEXEC pipe
 * tells whether execve itself failed: it closes without data when the exec happened. */
static void run_exec(char *const argv[], struct exec_result *r)
{
    int errp[2], outp[2];
    memset(r, 0, sizeof(*r));
    r->exec_errno = -1;
    if (pipe2(errp, O_CLOEXEC) < 0)
        return;
    if (pipe2(outp, O_CLOEXEC) < 0) {
        close(errp[0]);
        close(errp[1]);
        return;
    }
    pid_t pid = spawn();
    if (pid == 0) {
        char *const envp[] = {NULL};
        dup2(outp[1], STDOUT_FILENO);
        execve(argv[0], argv, envp);
        int e = errno;
        write_all(errp[1], &e, sizeof(e));
        _exit(127);
    }
    close(errp[1]);
    close(outp[1]);
    if (pid > 0) {
        long deadline = now_ms() + CHILD_TIMEOUT_MS;
        int e = 0;
        size_t n = read_until(errp[0], &e, sizeof(e), deadline);
        read_until(outp[0], r->out, sizeof(r->out) - 1, deadline);
        if (reap(pid, 1000, &r->status) == 0)
            r->exec_errno = n == sizeof(e) ? e : 0;
    }
    close(errp[0]);
    close(outp[0]);
}

/* ---- attempts run in children (each returns 0 or an errno value) ----------------------- */

static int try_unshare(const void *arg)
{
    return err_of(unshare(*(const int *)arg));
}

static int try_setuid0(const void *arg)
{
    (void)arg;
    return err_of(syscall(SYS_setuid, 0));
}

static int try_chroot(const void *arg)
{
    return err_of(syscall(SYS_chroot, (const char *)arg));
}

static int try_traceme(const void *arg)
{
    (void)arg;
    return err_of(syscall(SYS_ptrace, PTRACE_TRACEME, 0, NULL, NULL));
}

/* capset raising CAP_SYS_ADMIN and CAP_NET_RAW into the permitted and effective sets. */
static int try_capset(const void *arg)
{
    (void)arg;
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    data[0].permitted = (1U << CAP_SYS_ADMIN) | (1U << CAP_NET_RAW);
    data[0].effective = data[0].permitted;
    return err_of(syscall(SYS_capset, &hdr, data));
}

static int try_ambient(const void *arg)
{
    (void)arg;
    return err_of(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0));
}

/* When the kernel allows it (which the mountns check reports on its own), moves the child into
 * a private mount namespace, so that a mount that works in a weak container does not cover
 * the /tmp or /proc of the checks that follow. Returns whether it did. */
static bool private_mounts(void)
{
    if (unshare(CLONE_NEWNS) < 0)
        return false;
    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    return true;
}

struct mount_try {
    const char *source, *target, *fstype;
};

static int try_mount(const void *arg)
{
    const struct mount_try *m = arg;
    private_mounts();
    if (mount(m->source, m->target, m->fstype, 0, NULL) < 0)
        return errno;
    umount2(m->target, MNT_DETACH);
    return 0;
}

static int try_umount_proc(const void *arg)
{
    (void)arg;
    bool isolated = private_mounts();
    if (umount2("/proc", MNT_DETACH) < 0)
        return errno;
    if (!isolated)
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    return 0;
}

/* ---- identity and credentials ---------------------------------------------------------- */

/* identity: the agent must not be root in any of its ids or groups, because root in the
 * container is root on the host for every file a mount or a kernel bug exposes (no userns). */
static void check_identity(void)
{
    struct detail d = {0};
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    bool ok = getresuid(&ru, &eu, &su) == 0 && getresgid(&rg, &eg, &sg) == 0;
    if (!ok) {
        add(&d, "getresuid/getresgid -> %s", ename(errno));
        report("identity", false, &d);
        return;
    }
    ok = ru && eu && su && rg && eg && sg;
    add(&d, "uid %u/%u/%u gid %u/%u/%u", ru, eu, su, rg, eg, sg);
    gid_t groups[256];
    int n = getgroups(256, groups);
    if (n < 0) {
        ok = false;
        add(&d, "getgroups -> %s", ename(errno));
    }
    for (int i = 0; i < n; i++) {
        ok = ok && groups[i] != 0;
        add(&d, "group %u", groups[i]);
    }
    if (n == 0)
        add(&d, "no supplementary groups");
    report("identity", ok, &d);
}

/* Copies the value of "key:\t..." in a /proc/<pid>/status text into val, or "missing". */
static void status_field(const char *status, const char *key, char *val, size_t size)
{
    size_t klen = strlen(key);
    for (const char *p = status; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, klen) != 0 || p[klen] != ':')
            continue;
        p += klen + 1;
        p += strspn(p, " \t");
        size_t n = strcspn(p, "\n");
        n = n < size - 1 ? n : size - 1;
        memcpy(val, p, n);
        val[n] = '\0';
        return;
    }
    snprintf(val, size, "missing");
}

/* proc-status: the kernel's own view of the process, which catches a runtime that silently
 * ignored a setting: all five capability sets empty (CapDrop ALL, no ambient), NoNewPrivs 1
 * (setuid/file caps cannot raise privileges), Seccomp 2 (a filter is loaded). */
static void check_proc_status(void)
{
    static const char *const caps[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
    struct detail d = {0};
    char status[16384], val[64];
    ssize_t n = read_file("/proc/self/status", status, sizeof(status));
    if (n < 0) {
        add(&d, "read /proc/self/status -> %s", ename((int)-n));
        report("proc-status", false, &d);
        return;
    }
    bool ok = true;
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        status_field(status, caps[i], val, sizeof(val));
        info(caps[i], "%s", val);
        if (strcmp(val, CAPS_NONE) != 0) {
            ok = false;
            add(&d, "%s %s (want %s)", caps[i], val, CAPS_NONE);
        }
    }
    static const struct {
        const char *key, *want;
    } exact[] = {{"NoNewPrivs", "1"}, {"Seccomp", "2"}};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        status_field(status, exact[i].key, val, sizeof(val));
        info(exact[i].key, "%s", val);
        if (strcmp(val, exact[i].want) != 0) {
            ok = false;
            add(&d, "%s %s (want %s)", exact[i].key, val, exact[i].want);
        }
    }
    status_field(status, "Seccomp_filters", val, sizeof(val));
    info("Seccomp_filters", "%s", val);
    if (ok)
        add(&d, "Cap* all %s, NoNewPrivs 1, Seccomp 2 (filter), %s filter(s)", CAPS_NONE, val);
    report("proc-status", ok, &d);
}

/* cap-raise: with empty permitted and bounding sets nothing may bring a capability back. The
 * kernel answers EPERM to capset (new permitted not a subset of the old), to an ambient raise
 * (the capability is not permitted and inheritable) and to setuid(0) (no CAP_SETUID). */
static void check_cap_raise(void)
{
    struct detail d = {0};
    int e_capset = in_child(try_capset, NULL);
    int e_ambient = in_child(try_ambient, NULL);
    int e_setuid = in_child(try_setuid0, NULL);
    add(&d, "capset(+CAP_SYS_ADMIN +CAP_NET_RAW) -> %s", ename(e_capset));
    add(&d, "prctl(PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN) -> %s", ename(e_ambient));
    add(&d, "setuid(0) -> %s", ename(e_setuid));
    report("cap-raise", denied(e_capset) && denied(e_ambient) && denied(e_setuid), &d);
}

/* setuid-binary: a setuid-root copy of this binary, run with "euid", must keep our euid.
 * no_new_privs makes execve ignore the setuid bit; a nosuid mount would too. Without the copy
 * (an image that lacks it) the check is skipped; a copy that is not setuid root proves nothing,
 * so it fails the check rather than passing it. */
static void check_setuid_binary(void)
{
    struct detail d = {0};
    struct stat st;
    if (stat(SUID_PATH, &st) < 0) {
        if (errno == ENOENT) {
            info("setuid-binary", "skipped");
            return;
        }
        add(&d, "stat(%s) -> %s", SUID_PATH, ename(errno));
        report("setuid-binary", false, &d);
        return;
    }
    bool suid_root = (st.st_mode & S_ISUID) && st.st_uid == 0;
    add(&d, "%s mode %04o owner %u", SUID_PATH, (unsigned)(st.st_mode & 07777), st.st_uid);
    struct exec_result r;
    char *const argv[] = {SUID_PATH, "euid", NULL};
    run_exec(argv, &r);
    const char *at = strstr(r.out, "INFO euid: ");
    long euid = at ? strtol(at + strlen("INFO euid: "), NULL, 10) : -1;
    bool ran = r.exec_errno == 0 && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
    if (!ran)
        add(&d, "exec -> %s, status 0x%x", ename(r.exec_errno), (unsigned)r.status);
    add(&d, "euid after exec %ld (ours %u)", euid, geteuid());
    report("setuid-binary", suid_root && ran && euid > 0, &d);
}

/* ---- filesystem ------------------------------------------------------------------------ */

/* write-root: the root filesystem is mounted read-only. Creating a file in / needs write
 * access to the mount before any permission check, so it must be EROFS (EACCES would only
 * mean / is not ours: a writable root with a non-root user). Opening /etc/passwd for writing
 * must fail too; the kernel checks the file's mode before the mount there, so a non-root user
 * sees EACCES and root sees EROFS. statvfs tells the mount flag directly. */
static void check_write_root(void)
{
    struct detail d = {0};
    const char *path = "/nanocell-probe-write";
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int e_create = err_of(fd);
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    int e_passwd = err_close(open("/etc/passwd", O_WRONLY | O_CLOEXEC));
    struct statvfs sv;
    bool ro = statvfs("/", &sv) == 0 && (sv.f_flag & ST_RDONLY);
    add(&d, "open(%s, O_CREAT) -> %s", path, ename(e_create));
    add(&d, "open(/etc/passwd, O_WRONLY) -> %s", ename(e_passwd));
    add(&d, "statvfs(/) %s", ro ? "ST_RDONLY" : "writable");
    bool ok = e_create == EROFS && (e_passwd == EROFS || e_passwd == EACCES) && ro;
    report("write-root", ok, &d);
}

struct mount_entry {
    char point[256], opts[256], fstype[64];
};

static struct mount_entry mounts[MAX_MOUNTS];

/* Reads /proc/self/mountinfo into mounts[], in mount order (a later entry covers an earlier one
 * at the same point). Returns the count. */
static size_t read_mounts(void)
{
    static char buf[1 << 17];
    ssize_t len = read_file("/proc/self/mountinfo", buf, sizeof(buf));
    size_t n = 0;
    for (char *l = buf, *end = buf + (len > 0 ? len : 0); l < end && n < MAX_MOUNTS;
         l += strlen(l) + 1) {
        struct mount_entry *m = &mounts[n];
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        /* "id parent maj:min root mountpoint options [tags...] - fstype source superopts" */
        const char *sep = strstr(l, " - ");
        if (sep && sscanf(l, "%*s %*s %*s %*s %255s %255s", m->point, m->opts) == 2 &&
            sscanf(sep + 3, "%63s", m->fstype) == 1)
            n++;
    }
    return n;
}

/* The mount on top at point, or NULL. */
static const struct mount_entry *mount_at(const char *point)
{
    const struct mount_entry *top = NULL;
    for (size_t i = 0, n = read_mounts(); i < n; i++)
        if (strcmp(mounts[i].point, point) == 0)
            top = &mounts[i];
    return top;
}

static bool has_option(const char *opts, const char *opt)
{
    size_t n = strlen(opt);
    for (const char *p = opts; p; p = strchr(p, ','), p = p ? p + 1 : NULL)
        if (strncmp(p, opt, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

/* Copies the file `from` to a new file `to` with mode 0755. Returns 0 or an errno value. */
static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno;
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    if (out < 0) {
        int e = errno;
        close(in);
        return e;
    }
    char buf[65536];
    ssize_t n;
    int e = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            e = errno ? errno : EIO;
            break;
        }
    if (n < 0)
        e = errno;
    if (fchmod(out, 0755) < 0 && e == 0)
        e = errno;
    close(in);
    close(out);
    return e;
}

/* tmp-noexec: /tmp is the agent's scratch space, a tmpfs mounted noexec,nosuid,nodev. A copy of
 * this very binary must be writable there but not executable: execve fails with EACCES on a
 * noexec mount. */
static void check_tmp_noexec(void)
{
    struct detail d = {0};
    const struct mount_entry *m = mount_at("/tmp");
    bool opts_ok = m && strcmp(m->fstype, "tmpfs") == 0 && has_option(m->opts, "noexec") &&
                   has_option(m->opts, "nosuid") && has_option(m->opts, "nodev");
    if (m)
        add(&d, "/tmp is %s (%s)", m->fstype, m->opts);
    else
        add(&d, "/tmp is not a mount point");
    char path[64];
    snprintf(path, sizeof(path), "/tmp/nanocell-probe.%d", (int)getpid());
    int e_copy = copy_file("/proc/self/exe", path);
    add(&d, "copy /proc/self/exe to %s -> %s", path, ename(e_copy));
    int e_exec = -1;
    if (e_copy == 0) {
        struct exec_result r;
        char *const argv[] = {path, "euid", NULL};
        run_exec(argv, &r);
        e_exec = r.exec_errno;
        add(&d, "execve(%s) -> %s", path, ename(e_exec));
    }
    unlink(path);
    report("tmp-noexec", opts_ok && e_copy == 0 && e_exec == EACCES, &d);
}

/* read-host-file: a file the host test made outside every mount must not be reachable: not by
 * its path (ENOENT in our root), nor through the root links of pid 1 or of ourselves, which
 * lead to the container's root (ENOENT) or are closed to us (EACCES). */
static void check_read_host_file(const char *host_file)
{
    if (!host_file) {
        info("read-host-file", "skipped");
        return;
    }
    static const char *const prefixes[] = {"", "/proc/1/root", "/proc/self/root"};
    struct detail d = {0};
    bool ok = true;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        char path[PATH_MAX];
        int e = ENAMETOOLONG;
        if ((size_t)snprintf(path, sizeof(path), "%s%s", prefixes[i], host_file) < sizeof(path))
            e = err_close(open(path, O_RDONLY | O_CLOEXEC));
        add(&d, "open(%s%s) -> %s%s", prefixes[i], host_file, ename(e),
            e == 0 ? " (opened, not read)" : "");
        ok = ok && (e == ENOENT || (i > 0 && e == EACCES));
    }
    report("read-host-file", ok, &d);
}

/* ---- namespaces, mounts, ptrace -------------------------------------------------------- */

/* userns: a new user namespace hands out a full capability set inside it, the first step of
 * most kernel exploits (CVE-2022-0185 and many more). The profile denies unshare and clone with
 * namespace flags with EPERM. The raw clone runs here; a child it makes exits at once. */
static void check_userns(void)
{
    struct detail d = {0};
    int flag = CLONE_NEWUSER;
    int e_unshare = in_child(try_unshare, &flag);
    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
    if (r == 0)
        _exit(0);
    int e_clone = err_of(r);
    if (r > 0)
        reap((pid_t)r, CHILD_TIMEOUT_MS, &(int){0});
    add(&d, "unshare(CLONE_NEWUSER) -> %s", ename(e_unshare));
    add(&d, "clone(CLONE_NEWUSER|SIGCHLD) -> %s", ename(e_clone));
    report("userns", denied(e_unshare) && denied(e_clone), &d);
}

/* mountns, netns: new mount or network namespaces need CAP_SYS_ADMIN, and the profile denies
 * unshare anyway: EPERM. */
static void check_unshare(const char *name, int flag, const char *flag_name)
{
    struct detail d = {0};
    int e = in_child(try_unshare, &flag);
    add(&d, "unshare(%s) -> %s", flag_name, ename(e));
    report(name, denied(e), &d);
}

/* mount: mounting over /tmp or a fresh proc, or unmounting /proc to uncover what the runtime
 * masked, needs CAP_SYS_ADMIN; Docker's profile also denies mount and umount2: EPERM. */
static void check_mount(void)
{
    static const struct mount_try tmpfs = {"none", "/tmp", "tmpfs"};
    static const struct mount_try proc = {"proc", "/tmp", "proc"};
    struct detail d = {0};
    int e_tmpfs = in_child(try_mount, &tmpfs);
    int e_proc = in_child(try_mount, &proc);
    int e_umount = in_child(try_umount_proc, NULL);
    add(&d, "mount(none, /tmp, tmpfs) -> %s", ename(e_tmpfs));
    add(&d, "mount(proc, /tmp, proc) -> %s", ename(e_proc));
    add(&d, "umount2(/proc, MNT_DETACH) -> %s", ename(e_umount));
    report("mount", denied(e_tmpfs) && denied(e_proc) && denied(e_umount), &d);
}

static volatile int ptrace_target = 0x6e63;

/* ptrace: tool subprocesses share the harness's uid, so ptrace or process_vm_readv would read
 * its memory (API keys). The kernel allows both between same-uid processes; only the profile
 * stops them (EPERM). The targets are our own children. */
static void check_ptrace(void)
{
    struct detail d = {0};
    pid_t pid = spawn();
    if (pid == 0)
        for (;;)
            pause();
    if (pid < 0) {
        add(&d, "fork -> %s", ename(errno));
        report("ptrace", false, &d);
        return;
    }
    int e_attach = err_of(syscall(SYS_ptrace, PTRACE_ATTACH, pid, NULL, NULL));
    int value = 0;
    struct iovec local = {&value, sizeof(value)};
    struct iovec remote = {(void *)&ptrace_target, sizeof(value)};
    int e_vm = err_of(syscall(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0));
    kill_and_reap(pid);
    int e_traceme = in_child(try_traceme, NULL);
    add(&d, "ptrace(PTRACE_ATTACH, child) -> %s", ename(e_attach));
    add(&d, "ptrace(PTRACE_TRACEME) -> %s", ename(e_traceme));
    add(&d, "process_vm_readv(child) -> %s", ename(e_vm));
    report("ptrace", denied(e_attach) && denied(e_traceme) && denied(e_vm), &d);
}

/* ---- kernel attack surface: syscalls --------------------------------------------------- */

/* One syscall check: PASS when every attempt was denied (EPERM or ENOSYS). */
static void report_denied(const char *name, const char *const what[], const int errs[], size_t n)
{
    struct detail d = {0};
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        add(&d, "%s -> %s%s", what[i], ename(errs[i]),
            denied(errs[i]) ? "" : " (reached the kernel)");
        ok = ok && denied(errs[i]);
    }
    report(name, ok, &d);
}

/* bpf: eBPF is a large verifier/JIT attack surface. A NULL attr makes an unfiltered call fail
 * with EFAULT; the profile answers EPERM. */
static void check_bpf(void)
{
    const char *what[] = {"bpf(BPF_PROG_LOAD, NULL)"};
    int errs[] = {err_close(syscall(SYS_bpf, BPF_PROG_LOAD, NULL, sizeof(union bpf_attr)))};
    report_denied("bpf", what, errs, 1);
}

/* keyctl: the kernel keyring is not namespaced: keys of other containers and the host sit in
 * the same tables. The query must be denied (an allowed call returns the keyring id); add_key
 * gets a NULL type, which an allowed call rejects with EFAULT. */
static void check_keyctl(void)
{
    const char *what[] = {"keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING)",
                          "add_key(NULL, ...)"};
    int errs[] = {
        err_of(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)),
        err_of(syscall(SYS_add_key, NULL, "nanocell-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING)),
    };
    report_denied("keyctl", what, errs, 2);
}

/* io-uring: io_uring runs operations that per-syscall seccomp rules never see. The profile
 * answers ENOSYS on purpose (libuv then falls back to epoll); EPERM is a denial too. */
static void check_io_uring(void)
{
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    const char *what[] = {"io_uring_setup(4, &params)"};
    int errs[] = {err_close(syscall(SYS_io_uring_setup, 4, &params))};
    report_denied("io-uring", what, errs, 1);
}

/* userfaultfd: stalls kernel copies at will, the usual way to win kernel races. With
 * UFFD_USER_MODE_ONLY even an unprivileged caller gets a descriptor, so only the profile
 * stops it. */
static void check_userfaultfd(void)
{
    const char *what[] = {"userfaultfd(UFFD_USER_MODE_ONLY)"};
    int errs[] = {err_close(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY))};
    report_denied("userfaultfd", what, errs, 1);
}

/* perf-event-open: perf events have a long CVE history. A NULL attr fails with EFAULT when the
 * call gets through. */
static void check_perf_event_open(void)
{
    const char *what[] = {"perf_event_open(NULL, 0, -1, -1, 0)"};
    int errs[] = {err_close(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0))};
    report_denied("perf-event-open", what, errs, 1);
}

/* open-by-handle-at: the "shocker" breakout opens host files by inode handle, past every
 * mount. It takes CAP_DAC_READ_SEARCH and the profile denies it: EPERM. The handle is the real
 * one of "/" when name_to_handle_at works (reported), else shocker's guess (ext4 inode 2). */
static void check_open_by_handle_at(void)
{
    struct {
        struct file_handle fh;
        unsigned char bytes[MAX_HANDLE_SZ];
    } h;
    memset(&h, 0, sizeof(h));
    h.fh.handle_bytes = MAX_HANDLE_SZ;
    int mount_id;
    int e_name = err_of(syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &h.fh, &mount_id, 0));
    if (e_name != 0) {
        h.fh.handle_bytes = 8;
        h.fh.handle_type = 1; /* FILEID_INO32_GEN */
        h.bytes[0] = 2;
    }
    int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e_open = err_close(syscall(SYS_open_by_handle_at, root, &h.fh, O_RDONLY | O_CLOEXEC));
    if (root >= 0)
        close(root);
    info("name-to-handle-at", "name_to_handle_at(/) -> %s", ename(e_name));
    const char *what[] = {e_name == 0 ? "open_by_handle_at(handle of /)"
                                      : "open_by_handle_at(ext4 inode 2)"};
    int errs[] = {e_open};
    report_denied("open-by-handle-at", what, errs, 1);
}

/* init-module: loading a module is kernel code execution. CAP_SYS_MODULE and the profile stop
 * it (EPERM); a kernel without module support answers ENOSYS. Arguments are invalid (empty
 * image, fd -1). */
static void check_init_module(void)
{
    const char *what[] = {"init_module(NULL, 0)", "finit_module(-1)"};
    int errs[] = {err_of(syscall(SYS_init_module, NULL, 0, "")),
                  err_of(syscall(SYS_finit_module, -1, "", 0))};
    report_denied("init-module", what, errs, 2);
}

/* kexec: replacing the running kernel. CAP_SYS_BOOT and the profile stop it (EPERM), a kernel
 * without kexec answers ENOSYS. An unknown flag (0x8000) or fd -1 keeps an allowed call harmless
 * (EINVAL, EBADF). */
static void check_kexec(void)
{
    const char *what[] = {"kexec_load(0, 0, NULL, 0x8000)", "kexec_file_load(-1, -1)"};
    int errs[] = {err_of(syscall(SYS_kexec_load, 0, 0, NULL, 0x8000UL)),
                  err_of(syscall(SYS_kexec_file_load, -1, -1, 0, "", 0))};
    report_denied("kexec", what, errs, 2);
}

/* ---- kernel attack surface: sockets ---------------------------------------------------- */

/* af-packet, af-alg, af-vsock: address families an agent never needs, each with its own kernel
 * bugs (AF_PACKET CVE-2016-8655/2020-14386, AF_ALG, AF_VSOCK CVE-2021-26708) or a way out of the
 * container (vsock to the hypervisor). Any failure passes: the profile's errno, EPERM for
 * CAP_NET_RAW, or EAFNOSUPPORT where the kernel lacks the family all leave it unusable. */
static void check_socket(const char *name, const char *what, int domain, int type, int proto)
{
    struct detail d = {0};
    int e = err_close(socket(domain, type | SOCK_CLOEXEC, proto));
    add(&d, "%s -> %s", what, ename(e));
    report(name, e != 0, &d);
}

/* af-netlink-other: netlink families other than NETLINK_ROUTE (which glibc's getaddrinfo and
 * getifaddrs use, so the profile may allow it) reach the audit subsystem and kernel uevents. */
static void check_netlink(void)
{
    struct detail d = {0};
    int e_audit = err_close(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT));
    int e_uevent = err_close(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT));
    int e_route = err_close(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    info("af-netlink-route", "socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) -> %s", ename(e_route));
    add(&d, "socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT) -> %s", ename(e_audit));
    add(&d, "socket(AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT) -> %s", ename(e_uevent));
    report("af-netlink-other", e_audit != 0 && e_uevent != 0, &d);
}

/* ---- network --------------------------------------------------------------------------- */

/* Non-blocking connect on fd, bounded by CONNECT_TIMEOUT_MS. Returns 0 when it connected, the
 * errno when it failed, ETIMEDOUT when our bound ran out. */
static int connect_bounded(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return errno;
    struct pollfd p = {fd, POLLOUT, 0};
    int r;
    do
        r = poll(&p, 1, CONNECT_TIMEOUT_MS);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return r == 0 ? ETIMEDOUT : errno;
    int err = 0;
    socklen_t elen = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
        return errno;
    return err;
}

static struct sockaddr_in inet_addr_of(const char *ip, unsigned port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &sa.sin_addr);
    return sa;
}

static int tcp_connect(const char *ip, unsigned port)
{
    struct sockaddr_in sa = inet_addr_of(ip, port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int e = connect_bounded(fd, (const struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    return e;
}

static int udp_send(const char *ip, unsigned port)
{
    struct sockaddr_in sa = inet_addr_of(ip, port);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int e = err_of(sendto(fd, "", 1, MSG_NOSIGNAL, (const struct sockaddr *)&sa, sizeof(sa)));
    close(fd);
    return e;
}

/* Adds the interfaces of /proc/net/dev to d; returns true when lo is the only one. */
static bool only_loopback(struct detail *d)
{
    char buf[8192];
    ssize_t n = read_file("/proc/net/dev", buf, sizeof(buf));
    if (n < 0) {
        add(d, "read /proc/net/dev -> %s", ename((int)-n));
        return false;
    }
    bool ok = true;
    char names[512] = "";
    size_t used = 0;
    /* Two header lines, then "  name: counters..." per interface. */
    const char *p = strchr(buf, '\n');
    p = p ? strchr(p + 1, '\n') : NULL;
    for (; p && p[1]; p = strchr(p + 1, '\n')) {
        const char *name = p + 1 + strspn(p + 1, " ");
        size_t len = strcspn(name, ":\n");
        ok = ok && len == 2 && strncmp(name, "lo", 2) == 0;
        int w =
            snprintf(names + used, sizeof(names) - used, "%s%.*s", used ? " " : "", (int)len, name);
        if (w > 0 && (size_t)w < sizeof(names) - used)
            used += (size_t)w;
    }
    add(d, "interfaces: %s", used ? names : "none");
    return ok;
}

/* Adds the route count of /proc/net/route to d; returns true when there is none. */
static bool no_routes(struct detail *d)
{
    char buf[8192];
    ssize_t n = read_file("/proc/net/route", buf, sizeof(buf));
    if (n < 0) {
        add(d, "read /proc/net/route -> %s", ename((int)-n));
        return false;
    }
    unsigned routes = 0;
    for (const char *p = strchr(buf, '\n'); p && p[1]; p = strchr(p + 1, '\n'))
        routes++;
    add(d, "%u route(s)", routes);
    return routes == 0;
}

/* network: network mode none leaves only the container's own loopback, with no route.
 * So TCP to the host test's port on 127.0.0.1 meets our own empty lo (ECONNREFUSED), and the
 * docker0 gateway, the slirp4netns host address and a public resolver are unreachable
 * (ENETUNREACH at once, no packet leaves). A connect that runs out of time means a route
 * existed: FAIL. */
static void check_network(const struct options *o)
{
    static const struct {
        const char *ip;
        bool host_port;
    } far[] = {{"172.17.0.1", true}, {"10.0.2.2", true}, {"8.8.8.8", false}};
    struct detail d = {0};
    bool ok = only_loopback(&d);
    ok = no_routes(&d) && ok;
    unsigned port = o->host_port ? (unsigned)o->host_port : 80;
    if (o->host_port) {
        int e = tcp_connect("127.0.0.1", port);
        add(&d, "tcp 127.0.0.1:%u -> %s", port, ename(e));
        ok = ok && e == ECONNREFUSED;
    }
    for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
        unsigned p = far[i].host_port ? port : 53;
        int e = tcp_connect(far[i].ip, p);
        add(&d, "tcp %s:%u -> %s", far[i].ip, p, ename(e));
        ok = ok && e == ENETUNREACH;
    }
    int e_udp = udp_send("8.8.8.8", 53);
    add(&d, "udp sendto 8.8.8.8:53 -> %s", ename(e_udp));
    report("network", ok && e_udp == ENETUNREACH, &d);
}

/* ---- terminal injection ---------------------------------------------------------------- */

/* tiocsti, tioclinux: TIOCSTI pushes characters into the input of the terminal we share with
 * whoever started us (CVE-2017-5226); TIOCLINUX can paste the console selection. The kernel
 * still allows TIOCSTI here (CONFIG_LEGACY_TIOCSTI=y), so the profile must deny both with EPERM
 * and compare only the low 32 bits of the request: the kernel truncates it to 32 bits, so
 * request | 1 << 32 is the same ioctl (CVE-2019-10063). The raw syscall keeps all 64 bits.
 * ENOTTY (fd 0 is no tty) or EBADF mean the call got past the filter: FAIL. When fd 0 is a tty,
 * echo is off during the attempts and its input is flushed after, so that a character that does
 * get injected lands neither in our output lines nor in anyone's input. */
static void check_ioctl(const char *name, const char *req_name, unsigned long req, void *arg)
{
    struct detail d = {0};
    struct termios saved, quiet;
    bool tty = tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    int e_low = err_of(syscall(SYS_ioctl, STDIN_FILENO, req, arg));
    int e_high = err_of(syscall(SYS_ioctl, STDIN_FILENO, req | (1UL << 32), arg));
    if (tty) {
        tcflush(STDIN_FILENO, TCIFLUSH);
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    }
    add(&d, "fd 0 is %sa tty", tty ? "" : "not ");
    add(&d, "ioctl(0, %s) -> %s", req_name, ename(e_low));
    add(&d, "ioctl(0, %s | 1 << 32) -> %s", req_name, ename(e_high));
    report(name, e_low == EPERM && e_high == EPERM, &d);
}

/* ---- resources ------------------------------------------------------------------------- */

static pid_t forked[FORK_CAP];

static unsigned count_processes(void)
{
    unsigned n = 0;
    DIR *dir = opendir("/proc");
    if (!dir)
        return 0;
    for (struct dirent *de; (de = readdir(dir));)
        n += de->d_name[0] >= '1' && de->d_name[0] <= '9';
    closedir(dir);
    return n;
}

/* fork-limit: a fork bomb must stop at the pids limit: fork fails with EAGAIN while the
 * processes alive (children + us + the container's init) are at most --pids-limit. Bounded by
 * FORK_CAP or 2 x --pids-limit; all children are killed and reaped before the next check. */
static void check_fork_limit(const struct options *o)
{
    struct detail d = {0};
    size_t cap = FORK_CAP;
    if (o->pids_limit && o->pids_limit * 2 < cap)
        cap = (size_t)o->pids_limit * 2;
    size_t n = 0;
    int e = 0;
    while (n < cap) {
        pid_t pid = spawn();
        if (pid == 0)
            for (;;)
                pause();
        if (pid < 0) {
            e = errno;
            break;
        }
        forked[n++] = pid;
    }
    unsigned live = (unsigned)n + 1 + (getpid() != 1);
    unsigned visible = count_processes();
    for (size_t i = 0; i < n; i++)
        kill(forked[i], SIGKILL);
    for (size_t i = 0; i < n; i++)
        while (waitpid(forked[i], NULL, 0) < 0 && errno == EINTR)
            ;
    info("fork-limit", "%zu children forked, %u processes alive, %u visible in /proc", n, live,
         visible);
    add(&d, "fork #%zu -> %s", n + 1, e ? ename(e) : "not tried (cap reached)");
    bool ok = e == EAGAIN;
    if (o->pids_limit) {
        add(&d, "%u alive (children + probe + init) <= %llu", live, o->pids_limit);
        ok = ok && live <= o->pids_limit;
    }
    report("fork-limit", ok, &d);
}

/* Maps and touches `bytes` of memory in MEM_STEP steps; with `report`, prints a line per
 * OOM_REPORT_EVERY. Returns 0 when all of it was touched, else the errno of mmap. */
static int hog(unsigned long long bytes, bool report_progress)
{
    long page = sysconf(_SC_PAGESIZE);
    for (unsigned long long done = 0; done < bytes;) {
        volatile char *p =
            mmap(NULL, MEM_STEP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return errno;
        for (unsigned long long off = 0; off < MEM_STEP; off += (unsigned long long)page)
            p[off] = 1;
        done += MEM_STEP;
        if (report_progress && done % OOM_REPORT_EVERY == 0)
            info("allocated", "%llu MiB", done >> 20);
    }
    return 0;
}

/* The container's own cgroup memory limit (v2 memory.max, else v1 memory.limit_in_bytes),
 * or ULLONG_MAX when unlimited or unreadable; *src names the file. */
static unsigned long long cgroup_memory_limit(const char **src)
{
    static const char *const files[] = {"/sys/fs/cgroup/memory.max",
                                        "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char buf[64];
        if (read_file(files[i], buf, sizeof(buf)) <= 0)
            continue;
        *src = files[i];
        char *end;
        errno = 0;
        unsigned long long v = strtoull(buf, &end, 10);
        return errno || end == buf ? ULLONG_MAX : v;
    }
    *src = "no memory cgroup file";
    return ULLONG_MAX;
}

/* The cgroup's count of OOM kills ("oom_kill N" in v2 memory.events or v1 memory.oom_control),
 * or -1 when neither file tells it. */
static long cgroup_oom_kills(void)
{
    static const char *const files[] = {"/sys/fs/cgroup/memory.events",
                                        "/sys/fs/cgroup/memory/memory.oom_control"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char buf[1024];
        const char *at;
        if (read_file(files[i], buf, sizeof(buf)) > 0 && (at = strstr(buf, "oom_kill ")))
            return strtol(at + strlen("oom_kill "), NULL, 10);
    }
    return -1;
}

/* A child that makes itself the OOM killer's first choice and touches `bytes`. */
static pid_t spawn_hog(unsigned long long bytes)
{
    pid_t pid = spawn();
    if (pid == 0) {
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            write_all(fd, "1000", 4);
            close(fd);
        }
        _exit(hog(bytes, false) == 0 ? 0 : 1);
    }
    return pid;
}

/* memory-limit: the cgroup limit must be set at or below --mem-limit, and it must hold: a child
 * that touches twice that much dies by SIGKILL, and where the cgroup counts OOM kills the count
 * went up (so the SIGKILL was the OOM killer's). The child raises its own oom_score_adj so that
 * the kernel picks it, not the probe. */
static void check_memory_limit(const struct options *o)
{
    if (!o->mem_limit) {
        info("memory-limit", "skipped");
        return;
    }
    struct detail d = {0};
    const char *src;
    unsigned long long limit = cgroup_memory_limit(&src), bytes = 2 * o->mem_limit;
    info("cgroup-memory-limit", "%llu (%s)", limit, src);
    add(&d, "%s = %llu (want <= %llu)", src, limit, o->mem_limit);
    long kills_before = cgroup_oom_kills();
    int status = 0;
    pid_t pid = spawn_hog(bytes);
    bool ended = pid > 0 && reap(pid, MEM_CHILD_TIMEOUT_MS, &status) == 0;
    bool killed = ended && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    long kills_after = cgroup_oom_kills();
    bool counted = kills_before < 0 || kills_after > kills_before;
    if (pid < 0)
        add(&d, "fork -> %s", ename(errno));
    else if (!ended)
        add(&d, "child touching %llu MiB alive after %d ms", bytes >> 20, MEM_CHILD_TIMEOUT_MS);
    else if (killed)
        add(&d, "child touching %llu MiB killed by SIGKILL", bytes >> 20);
    else
        add(&d, "child touching %llu MiB ended with status 0x%x", bytes >> 20, (unsigned)status);
    add(&d, "cgroup oom_kill %ld -> %ld", kills_before, kills_after);
    info("cgroup-oom-kills", "%ld", kills_after);
    report("memory-limit", limit <= o->mem_limit && killed && counted, &d);
}

/* ---- engine sockets -------------------------------------------------------------------- */

struct walk {
    long deadline;
    unsigned entries;
    bool cut;
    size_t n;
    char *socks[MAX_SOCKETS];
};

static void add_socket(struct walk *w, const char *path)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->socks[i], path) == 0)
            return;
    if (w->n < MAX_SOCKETS) {
        char *copy = strdup(path);
        if (copy)
            w->socks[w->n++] = copy;
    }
}

/* Walks path (len bytes in a PATH_MAX buffer; "" is /) for sockets, without following
 * symlinks, skipping /proc and /sys, within WALK_MAX_DEPTH, WALK_MAX_ENTRIES and the deadline. */
static void walk(struct walk *w, char *path, size_t len, int depth)
{
    DIR *dir = opendir(len ? path : "/");
    if (!dir)
        return;
    for (struct dirent *de; (de = readdir(dir));) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (++w->entries > WALK_MAX_ENTRIES || now_ms() > w->deadline) {
            w->cut = true;
            break;
        }
        int n = snprintf(path + len, PATH_MAX - len, "/%s", de->d_name);
        struct stat st;
        if (n > 0 && (size_t)n < PATH_MAX - len && lstat(path, &st) == 0) {
            bool skip = strcmp(path, "/proc") == 0 || strcmp(path, "/sys") == 0;
            if (S_ISSOCK(st.st_mode))
                add_socket(w, path);
            else if (S_ISDIR(st.st_mode) && !skip && depth < WALK_MAX_DEPTH)
                walk(w, path, len + (size_t)n, depth + 1);
        }
        path[len] = '\0';
    }
    closedir(dir);
}

/* Connects to the unix socket at path (through an O_PATH descriptor when the path is longer
 * than sun_path) and sends GET /_ping. Returns whether the answer starts like HTTP; *e gets the
 * connect result. */
static bool answers_http(const char *path, int *e)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int opath = -1;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        opath = open(path, O_PATH | O_CLOEXEC);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", opath);
    } else {
        memcpy(sa.sun_path, path, strlen(path) + 1);
    }
    bool http = false;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    *e = fd < 0 ? errno : connect_bounded(fd, (const struct sockaddr *)&sa, sizeof(sa));
    if (*e == 0) {
        static const char req[] = "GET /_ping HTTP/1.0\r\n\r\n";
        char reply[8] = "";
        if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof(req) - 1))
            read_until(fd, reply, 5, now_ms() + CONNECT_TIMEOUT_MS);
        http = memcmp(reply, "HTTP/", 5) == 0;
    }
    if (fd >= 0)
        close(fd);
    if (opath >= 0)
        close(opath);
    return http;
}

/* engine-socket: a container engine's API socket is root on the host (start a privileged
 * container). None may be reachable: not at the well-known paths, nor anywhere a walk of the
 * file system finds a socket (the amicontained/deepce/BOtB technique). A socket that connects
 * but does not speak HTTP (say, a private tool socket) is listed but passes. */
static void check_engine_socket(void)
{
    static const char *const known[] = {"/var/run/docker.sock", "/run/docker.sock",
                                        "/run/podman/podman.sock",
                                        "/run/containerd/containerd.sock"};
    struct walk w = {.deadline = now_ms() + WALK_MAX_MS};
    char path[PATH_MAX] = "";
    walk(&w, path, 0, 1);
    struct detail found = {0}, d = {0};
    for (size_t i = 0; i < w.n; i++)
        add(&found, "%s", w.socks[i]);
    info("sockets", "%s%s", w.n ? found.buf : "none found",
         w.cut ? " (walk cut at its entry or time bound)" : "");
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        add_socket(&w, known[i]);
    bool ok = true;
    for (size_t i = 0; i < w.n; i++) {
        int e;
        bool http = answers_http(w.socks[i], &e);
        add(&d, "%s: connect -> %s%s", w.socks[i], ename(e), http ? ", answered HTTP" : "");
        ok = ok && !http;
        free(w.socks[i]);
    }
    report("engine-socket", ok, &d);
}

/* ---- /proc, /sys, /dev ----------------------------------------------------------------- */

/* Opens path for writing and closes it at once, never writing. Returns 0 or an errno value. */
static int open_for_write(const char *path)
{
    return err_close(open(path, O_WRONLY | O_CLOEXEC));
}

/* Adds every release_agent of the cgroup v1 hierarchies that opens for writing to d. */
static bool release_agents_closed(struct detail *d)
{
    DIR *dir = opendir("/sys/fs/cgroup");
    if (!dir)
        return true;
    unsigned seen = 0, writable = 0;
    for (struct dirent *de; (de = readdir(dir));) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/release_agent", de->d_name);
        int e = open_for_write(path);
        seen += e != ENOENT && e != ENOTDIR;
        if (e == 0) {
            writable++;
            add(d, "%s opened for writing", path);
        }
    }
    closedir(dir);
    add(d, "release_agent: %u of %u writable", writable, seen);
    return writable == 0;
}

/* Adds the cgroup and cgroup2 mounts that are not read-only to d; returns whether none is. */
static bool cgroup_mounts_read_only(struct detail *d)
{
    unsigned seen = 0, writable = 0;
    for (size_t i = 0, n = read_mounts(); i < n; i++) {
        if (strcmp(mounts[i].fstype, "cgroup") != 0 && strcmp(mounts[i].fstype, "cgroup2") != 0)
            continue;
        seen++;
        if (!has_option(mounts[i].opts, "ro")) {
            writable++;
            add(d, "%s (%s) writable", mounts[i].point, mounts[i].fstype);
        }
    }
    add(d, "cgroup mounts: %u of %u writable", writable, seen);
    return writable == 0;
}

/* proc-sys: the kernel knobs reachable from /proc and /sys must stay closed: no write to the
 * host name, sysrq, caches, core_pattern (runs a program as root on the host), binfmt_misc or
 * uevent_helper (the same), nor to a cgroup release_agent (CVE-2022-0492). Any failure to open
 * for writing passes (EROFS from the read-only binds, EACCES from the modes). /proc/kcore,
 * /proc/keys and /proc/timer_list must give nothing (masked with /dev/null, EACCES or ENOENT),
 * and /sys, /proc/sys and every cgroup hierarchy must be read-only mounts (on cgroup v1 the
 * /sys/fs/cgroup above the hierarchies is a root-owned tmpfs, which is harmless). */
static void check_proc_sys(void)
{
    static const char *const no_write[] = {
        "/proc/sys/kernel/hostname",         "/proc/sysrq-trigger",
        "/proc/sys/vm/drop_caches",          "/proc/sys/kernel/core_pattern",
        "/proc/sys/fs/binfmt_misc/register", "/sys/kernel/uevent_helper"};
    static const char *const no_read[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list"};
    static const char *const ro_mounts[] = {"/sys", "/proc/sys"};
    struct detail d = {0};
    bool ok = true;
    for (size_t i = 0; i < sizeof(no_write) / sizeof(no_write[0]); i++) {
        int e = open_for_write(no_write[i]);
        add(&d, "open(%s, O_WRONLY) -> %s", no_write[i], ename(e));
        ok = ok && e != 0;
    }
    ok = release_agents_closed(&d) && ok;
    for (size_t i = 0; i < sizeof(no_read) / sizeof(no_read[0]); i++) {
        char buf[64];
        ssize_t n = read_file(no_read[i], buf, sizeof(buf));
        add(&d, "read %s -> %s", no_read[i], n < 0 ? ename((int)-n) : n ? "data" : "empty");
        ok = ok && n <= 0;
    }
    for (size_t i = 0; i < sizeof(ro_mounts) / sizeof(ro_mounts[0]); i++) {
        struct statvfs sv;
        bool ro = statvfs(ro_mounts[i], &sv) == 0 && (sv.f_flag & ST_RDONLY);
        add(&d, "%s %s", ro_mounts[i], ro ? "read-only" : "writable");
        ok = ok && ro;
    }
    ok = cgroup_mounts_read_only(&d) && ok;
    report("proc-sys", ok, &d);
}

static bool dev_allowed(const char *name)
{
    static const char *const allowed[] = {"null",    "zero",   "full",   "random", "urandom", "tty",
                                          "console", "ptmx",   "pts",    "shm",    "mqueue",  "fd",
                                          "stdin",   "stdout", "stderr", "core"};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (strcmp(name, allowed[i]) == 0)
            return true;
    return false;
}

/* Whether directory path (one level) holds a block device. */
static bool holds_block_device(const char *path)
{
    DIR *dir = opendir(path);
    bool found = false;
    for (struct dirent *de; dir && (de = readdir(dir));) {
        struct stat st;
        found = found || (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                          S_ISBLK(st.st_mode));
    }
    if (dir)
        closedir(dir);
    return found;
}

/* devices: /dev holds only the runtime's harmless defaults. A block device is the precondition
 * of mounting the host's disk; any other node (kmsg, mem, fuse, kvm...) is extra kernel
 * surface the agent was not meant to have. */
static void check_devices(void)
{
    struct detail d = {0};
    char *names[MAX_DEV_ENTRIES];
    size_t n = 0;
    bool ok = true;
    DIR *dir = opendir("/dev");
    for (struct dirent *de; dir && (de = readdir(dir)) && n < MAX_DEV_ENTRIES;) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *copy = strdup(de->d_name);
        if (copy)
            names[n++] = copy;
    }
    if (dir)
        closedir(dir);
    qsort(names, n, sizeof(names[0]), cmp_str);
    struct detail list = {0};
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof(path), "/dev/%s", names[i]);
        bool exists = lstat(path, &st) == 0;
        bool block =
            exists && (S_ISBLK(st.st_mode) || (S_ISDIR(st.st_mode) && holds_block_device(path)));
        add(&list, "%s", names[i]);
        if (block || !dev_allowed(names[i])) {
            ok = false;
            add(&d, "unexpected %s%s", path, block ? " (block device)" : "");
        }
        free(names[i]);
    }
    info("dev", "%s", n ? list.buf : "empty");
    if (ok)
        add(&d, "%zu entries, all expected, no block device", n);
    report("devices", ok, &d);
}

/* ---- the rest -------------------------------------------------------------------------- */

/* personality: informational. Docker's profile allows only the query and a few personas;
 * PER_BSD is not one of them. A change that works is undone at once. */
static void report_personality(void)
{
    long cur = syscall(SYS_personality, 0xffffffffUL);
    int e_query = err_of(cur);
    long prev = syscall(SYS_personality, (unsigned long)PER_BSD);
    int e_set = err_of(prev);
    if (prev >= 0)
        syscall(SYS_personality, (unsigned long)prev);
    info("personality", "personality(0xffffffff) -> %s (0x%lx); personality(PER_BSD) -> %s",
         ename(e_query), cur, ename(e_set));
}

/* Whether an environment variable looks like it carries a secret: by its name, or a value
 * shaped like an API key ("sk-..."). */
static bool secret_looking(const char *entry)
{
    static const char *const words[] = {"KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL"};
    const char *eq = strchr(entry, '=');
    size_t len = eq ? (size_t)(eq - entry) : strlen(entry);
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)len, entry);
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(name, words[i]))
            return true;
    return eq && strncmp(eq + 1, "sk-", 3) == 0;
}

/* env: API keys reach the agent through the egress proxy, never through its environment,
 * where every tool subprocess and prompt injection could read them. Only names are printed. */
static void check_env(void)
{
    extern char **environ;
    struct detail names = {0}, d = {0};
    bool ok = true;
    for (char **e = environ; e && *e; e++) {
        int len = (int)strcspn(*e, "=");
        add(&names, "%.*s", len, *e);
        if (secret_looking(*e)) {
            ok = false;
            add(&d, "%.*s looks like a secret", len, *e);
        }
    }
    info("env-names", "%s", names.len ? names.buf : "none");
    if (ok)
        add(&d, "no secret-looking variable");
    report("env", ok, &d);
}

/* chroot: a chroot with an open directory outside it is the classic escape; it takes
 * CAP_SYS_CHROOT and Docker's profile gates it on that: EPERM. */
static void check_chroot(void)
{
    struct detail d = {0};
    int e = in_child(try_chroot, "/tmp");
    add(&d, "chroot(/tmp) -> %s", ename(e));
    report("chroot", denied(e), &d);
}

/* ---- modes ----------------------------------------------------------------------------- */

static int run_all(const struct options *o)
{
    check_identity();
    check_proc_status();
    check_write_root();
    check_tmp_noexec();
    check_read_host_file(o->host_file);
    check_cap_raise();
    check_setuid_binary();
    check_userns();
    check_unshare("mountns", CLONE_NEWNS, "CLONE_NEWNS");
    check_unshare("netns", CLONE_NEWNET, "CLONE_NEWNET");
    check_mount();
    check_ptrace();
    check_bpf();
    check_keyctl();
    check_io_uring();
    check_userfaultfd();
    check_perf_event_open();
    check_open_by_handle_at();
    check_init_module();
    check_kexec();
    check_socket("af-packet", "socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)", AF_PACKET, SOCK_RAW,
                 htons(ETH_P_ALL));
    check_socket("af-alg", "socket(AF_ALG, SOCK_SEQPACKET, 0)", AF_ALG, SOCK_SEQPACKET, 0);
    check_socket("af-vsock", "socket(AF_VSOCK, SOCK_STREAM, 0)", AF_VSOCK, SOCK_STREAM, 0);
    check_netlink();
    check_network(o);
    char c = 0;
    check_ioctl("tiocsti", "TIOCSTI", TIOCSTI, &c);
    char subcode = TIOCL_GETSHIFTSTATE;
    check_ioctl("tioclinux", "TIOCLINUX", TIOCLINUX, &subcode);
    check_fork_limit(o);
    check_memory_limit(o);
    check_engine_socket();
    check_proc_sys();
    check_devices();
    report_personality();
    check_env();
    check_chroot();
    info("summary", "%u passed, %u failed", n_pass, n_fail);
    return n_fail ? 1 : 0;
}

/* oom: touch memory until the cgroup's OOM killer ends us; surviving OOM_GIVE_UP is exit 3. */
static int run_oom(void)
{
    int e = hog(OOM_GIVE_UP, true);
    if (e)
        info("oom", "mmap -> %s before %llu MiB", ename(e), OOM_GIVE_UP >> 20);
    else
        info("oom", "survived %llu MiB", OOM_GIVE_UP >> 20);
    return 3;
}

static int run_euid(void)
{
    info("euid", "%u", geteuid());
    info("egid", "%u", getegid());
    return 0;
}

static const char usage_text[] =
    "usage: nanocell-probe all [--host-file PATH] [--host-port N] [--pids-limit N]\n"
    "                          [--mem-limit BYTES]\n"
    "       nanocell-probe oom\n"
    "       nanocell-probe euid\n"
    "       nanocell-probe --help\n"
    "Runs inside a hardened container and tries to escape it. Prints PASS/FAIL/INFO lines;\n"
    "exits 0 when every check passed, 1 when one failed, 2 on a usage error. `oom` touches\n"
    "memory until killed (exit 3 if it survives 4 GiB); `euid` prints the effective ids.\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    write_all(STDERR_FILENO, "nanocell-probe: ", 16);
    write_all(STDERR_FILENO, buf, strlen(buf));
    write_all(STDERR_FILENO, "\n", 1);
    write_all(STDERR_FILENO, usage_text, sizeof(usage_text) - 1);
    return 2;
}

/* A decimal number in 1..max, or -1. */
static int parse_number(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v == 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_all(int argc, char **argv, struct options *o)
{
    for (int i = 2; i < argc; i += 2) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val)
            return usage_error("%s needs a value", opt);
        if (strcmp(opt, "--host-file") == 0 && val[0] == '/')
            o->host_file = val;
        else if (strcmp(opt, "--host-file") == 0)
            return usage_error("--host-file wants an absolute path, not '%s'", val);
        else if (strcmp(opt, "--host-port") == 0 && parse_number(val, 65535, &o->host_port) < 0)
            return usage_error("--host-port wants a port number, not '%s'", val);
        else if (strcmp(opt, "--pids-limit") == 0 &&
                 parse_number(val, FORK_CAP, &o->pids_limit) < 0)
            return usage_error("--pids-limit wants a number of processes, not '%s'", val);
        else if (strcmp(opt, "--mem-limit") == 0 &&
                 parse_number(val, 1ULL << 40, &o->mem_limit) < 0)
            return usage_error("--mem-limit wants a number of bytes, not '%s'", val);
        else if (strcmp(opt, "--host-port") != 0 && strcmp(opt, "--pids-limit") != 0 &&
                 strcmp(opt, "--mem-limit") != 0)
            return usage_error("unknown option '%s'", opt);
    }
    return 0;
}

static void on_alarm(int sig)
{
    static const char msg[] = "FAIL timeout: the probe ran past its global alarm; checks after "
                              "the last line did not run\n";
    (void)sig;
    write_all(STDOUT_FILENO, msg, sizeof(msg) - 1);
    _exit(1);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "--help") == 0 && argc == 2) {
        write_all(STDOUT_FILENO, usage_text, sizeof(usage_text) - 1);
        return 0;
    }
    if (strcmp(mode, "euid") == 0 && argc == 2)
        return run_euid();
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    alarm(GLOBAL_TIMEOUT_S);
    if (strcmp(mode, "oom") == 0 && argc == 2)
        return run_oom();
    if (argc < 2)
        return usage_error("no mode given");
    if (strcmp(mode, "all") != 0)
        return usage_error("unknown mode '%s'", mode);
    struct options o = {0};
    if (parse_all(argc, argv, &o) != 0)
        return 2;
    return run_all(&o);
}
