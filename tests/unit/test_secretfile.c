/* The secret file reader (util/secretfile.c): what it accepts, what it refuses without
 * blocking, and that it leaves nothing of a refused secret behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/secretfile.h"
#include "util/xalloc.h"

static char dir[] = "/tmp/nc-secretfile-XXXXXX";

/* call fails with -code and an error whose message contains substr and never "s3cr3t". */
#define ERR(code, substr, call)                                                                    \
    do {                                                                                           \
        nc_error *e = NULL;                                                                        \
        int r_ = (call);                                                                           \
        if (r_ != -(code))                                                                         \
            fail_msg("%s: %d, want %d (%s)", #call, r_, -(code), e ? nc_error_msg(e) : "-");       \
        if (!strstr(nc_error_msg(e), substr))                                                      \
            fail_msg("%s: '%s' does not contain '%s'", #call, nc_error_msg(e), substr);            \
        if (strstr(nc_error_msg(e), "s3cr3t"))                                                     \
            fail_msg("%s: '%s' quotes the secret", #call, nc_error_msg(e));                        \
        nc_error_free(e);                                                                          \
    } while (0)

static char *put(const char *name, const char *text, mode_t mode)
{
    char *path = xasprintf("%s/%s", dir, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static bool all_zero(const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i])
            return false;
    return true;
}

static void test_reads(void **state)
{
    (void)state;
    const struct {
        const char *text, *want;
    } v[] = {
        {"s3cr3t-token\n", "s3cr3t-token"},
        {"s3cr3t-token\r\n", "s3cr3t-token"},
        {"s3cr3t-token", "s3cr3t-token"},
        {"s3cr3t-token\n\n", "s3cr3t-token\n"}, /* one newline only */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
        char *path = put("ok", v[i].text, i % 2 ? 0400 : 0600);
        char *got = NULL;
        size_t len = 99;
        nc_error *e = NULL;
        assert_int_equal(secretfile_read(path, 64, &got, &len, &e), 0);
        assert_string_equal(got, v[i].want);
        assert_int_equal(len, strlen(v[i].want));
        free(got);
        free(path);
    }
}

/* A FIFO (nothing writing to it) or a device is refused at once: the open does not wait for a
 * writer. The alarm turns a blocked open into a failed test. */
static void test_not_regular(void **state)
{
    (void)state;
    char *fifo = xasprintf("%s/fifo", dir);
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    char buf[64];
    size_t len = 0;
    alarm(20);
    ERR(EINVAL, "is a fifo", secretfile_read_into(fifo, buf, sizeof(buf), &len, &e));
    alarm(0);
    free(fifo);
    ERR(EINVAL, "is a character device",
        secretfile_read_into("/dev/null", buf, sizeof(buf), &len, &e));
    ERR(EINVAL, "is a directory", secretfile_read_into(dir, buf, sizeof(buf), &len, &e));
    char *missing = xasprintf("%s/missing", dir);
    ERR(ENOENT, "missing", secretfile_read_into(missing, buf, sizeof(buf), &len, &e));
    free(missing);
}

static void test_refused(void **state)
{
    (void)state;
    char buf[64];
    size_t len = 0;
    char *good = put("good", "s3cr3t\n", 0600);
    char *link = xasprintf("%s/link", dir);
    unlink(link);
    assert_int_equal(symlink(good, link), 0);
    ERR(ELOOP, "is a symbolic link", secretfile_read_into(link, buf, sizeof(buf), &len, &e));
    free(link);

    char *p = put("group", "s3cr3t\n", 0640);
    ERR(EACCES, "has mode 0640", secretfile_read_into(p, buf, sizeof(buf), &len, &e));
    free(p);
    p = put("other", "s3cr3t\n", 0604);
    ERR(EACCES, "has mode 0604", secretfile_read_into(p, buf, sizeof(buf), &len, &e));
    free(p);
    if (geteuid() == 0) {
        p = put("theirs", "s3cr3t\n", 0600);
        assert_int_equal(chown(p, 65534, 65534), 0);
        ERR(EACCES, "owned by uid 65534", secretfile_read_into(p, buf, sizeof(buf), &len, &e));
        free(p);
    }
    free(good);
}

/* A NUL inside would cut the secret short for strlen (and for a wipe that uses it). */
static void test_nul_refused(void **state)
{
    (void)state;
    char *p = xasprintf("%s/nul", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cr3t\0tail\n", 12), 12);
    close(fd);
    char buf[64];
    memset(buf, 'x', sizeof(buf));
    size_t len = 0;
    ERR(EINVAL, "holds a NUL byte", secretfile_read_into(p, buf, sizeof(buf), &len, &e));
    assert_true(all_zero(buf, sizeof(buf)));
    unlink(p);
    free(p);
}

/* A file larger than the buffer is refused, and what was read of it is wiped. */
static void test_too_large_is_wiped(void **state)
{
    (void)state;
    char *p = put("big", "s3cr3t-s3cr3t-s3cr3t-s3cr3t\n", 0600);
    char buf[16];
    memset(buf, 'x', sizeof(buf));
    size_t len = 0;
    ERR(EFBIG, "larger than 15 bytes", secretfile_read_into(p, buf, sizeof(buf), &len, &e));
    assert_true(all_zero(buf, sizeof(buf)));
    /* exactly the room there is (the file's size counts, a newline too): accepted */
    free(p);
    p = put("fits", "s3cr3t-s3cr3t-1", 0600);
    nc_error *e = NULL;
    assert_int_equal(secretfile_read_into(p, buf, sizeof(buf), &len, &e), 0);
    assert_int_equal(len, 15);
    assert_string_equal(buf, "s3cr3t-s3cr3t-1");
    free(p);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    static const char *const names[] = {"ok",    "fifo",   "good", "link", "group",
                                        "other", "theirs", "big",  "fits"};
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        char *p = xasprintf("%s/%s", dir, names[i]);
        unlink(p);
        free(p);
    }
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads),       cmocka_unit_test(test_not_regular),
        cmocka_unit_test(test_refused),     cmocka_unit_test(test_too_large_is_wiped),
        cmocka_unit_test(test_nul_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
