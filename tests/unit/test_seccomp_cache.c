/* The seccomp profile cache: the same bytes give the same loaded policy, a file that changes
 * gives a new one, a bad profile is refused each time and never kept, and "unconfined" is no
 * policy at all. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/seccomp_cache.h"
#include "util/fileutil.h"
#include "util/xalloc.h"

static const char *profile_a =
    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\",\"write\"],"
    "\"action\":\"SCMP_ACT_ALLOW\"}]}";
static const char *profile_b =
    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
    "\"action\":\"SCMP_ACT_ALLOW\"}]}";

static void test_cache(void **state)
{
    (void)state;
    char dir[] = "/tmp/nanocell-sccache.XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *path = xasprintf("%s/p.json", dir);
    sandbox_settings s = {.seccomp_profile = path};
    const seccomp_policy *p1 = NULL, *p2 = NULL, *p3 = NULL;
    seccomp_policy *owned = NULL;
    nc_error *err = NULL;

    assert_int_equal(write_file_atomic(path, profile_a, strlen(profile_a), 0644, NULL), 0);
    assert_int_equal(seccomp_cache_load(&s, &p1, &owned, &err), 0);
    assert_non_null(p1);
    assert_null(owned);
    assert_int_equal(seccomp_cache_load(&s, &p2, &owned, &err), 0);
    assert_ptr_equal(p1, p2); /* the same bytes: loaded once */

    /* The file changes: the next load sees the new profile, never the cached one. */
    assert_int_equal(write_file_atomic(path, profile_b, strlen(profile_b), 0644, NULL), 0);
    assert_int_equal(seccomp_cache_load(&s, &p3, &owned, &err), 0);
    assert_ptr_not_equal(p3, p1);
    assert_string_not_equal(p3->digest, p1->digest);
    assert_int_equal(p3->nnames, 1);

    /* A bad profile is refused, every time. */
    const char *bad = "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":["
                      "\"no_such_syscall_x\"],\"action\":\"SCMP_ACT_ALLOW\"}]}";
    assert_int_equal(write_file_atomic(path, bad, strlen(bad), 0644, NULL), 0);
    for (int i = 0; i < 2; i++) {
        const seccomp_policy *p = NULL;
        assert_true(seccomp_cache_load(&s, &p, &owned, &err) < 0);
        assert_non_null(strstr(nc_error_msg(err), "no_such_syscall_x"));
        nc_error_free(err);
        err = NULL;
        assert_null(p);
    }
    /* The first bytes again: the cached policy. */
    assert_int_equal(write_file_atomic(path, profile_a, strlen(profile_a), 0644, NULL), 0);
    assert_int_equal(seccomp_cache_load(&s, &p2, &owned, &err), 0);
    assert_ptr_equal(p1, p2);

    /* The built-in profile, and unconfined. */
    s.seccomp_profile = "";
    assert_int_equal(seccomp_cache_load(&s, &p1, &owned, &err), 0);
    assert_int_equal(seccomp_cache_load(&s, &p2, &owned, &err), 0);
    assert_non_null(p1);
    assert_ptr_equal(p1, p2);
    s.seccomp_profile = "unconfined";
    assert_int_equal(seccomp_cache_load(&s, &p1, &owned, &err), 0);
    assert_null(p1);
    assert_null(owned);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cache)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
