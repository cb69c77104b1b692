/* The daemon's engine fleet (src/orch/fleet.c) against two fake engines: turns wait for the
 * engines' first probe, go to the least loaded engine under its cap, stay with a group's last
 * engine, honour a group's engine_labels, wait while every engine is full (until cancelled),
 * and an engine that fails a turn is marked down and not used while it does not answer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "orch/fleet.h"
#include "support/fake_engine.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* What the prober asks an engine before using it: the orphans of dead owners, then this
 * daemon's own leftovers (reap in fleet.c). */
static const struct fake_exchange reap_script[] = {
    {.method = "GET", .path = "/v1.41/containers/json*", .response = NULL},
    {.method = "GET", .path = "/v1.41/containers/json*", .response = NULL},
};

static struct fake_engine *start(void)
{
    struct fake_exchange s[2];
    memcpy(s, reap_script, sizeof(s));
    s[0].response = s[1].response = fake_json(200, "[]");
    struct fake_engine_opts o = {.api_version = "1.41"};
    return fake_engine_start(s, 2, &o);
}

static void expect_script_done(struct fake_engine *fe)
{
    char *report = NULL;
    if (fake_engine_stop(fe, &report) != 0)
        fail_msg("fake engine: %s", report);
    fake_engine_free(fe);
}

static void test_placement(void **state)
{
    (void)state;
    struct fake_engine *a = start(), *b = start();
    _cleanup_free_ char *text = xasprintf("[install]\nid = \"fleet\"\n[orch]\nmax_concurrent = 8\n"
                                          "[[engines]]\nhost = \"unix://%s\"\nmax_containers = 1\n"
                                          "labels = [\"a\"]\n"
                                          "[[engines]]\nhost = \"unix://%s\"\nmax_containers = 2\n"
                                          "labels = [\"b\", \"x\"]\n",
                                          fake_engine_socket(a), fake_engine_socket(b));
    nc_config *cfg = NULL;
    nc_error *err = NULL;
    assert_int_equal(config_parse(text, strlen(text), "t.toml", &cfg, &err), 0);
    fleet *f = NULL;
    assert_int_equal(fleet_new(cfg, &f, &err), 0);
    int never[2], now[2];
    assert_int_equal(pipe(never), 0);
    assert_int_equal(pipe(now), 0);
    assert_int_equal(write(now[1], "x", 1), 1);
    engine *e1, *e2, *e3, *e4;
    size_t i1, i2, i3, i4;
    bool reaped = false;

    /* The first turn waits for the probes, then takes the least loaded engine: a tie (0 of 1,
     * 0 of 2) goes to the first listed. */
    assert_int_equal(fleet_acquire(f, "g1", NULL, never[0], &e1, &i1, &reaped, &err), 0);
    assert_int_equal(i1, 0);
    assert_true(reaped);
    /* a is full (1 of 1): b, twice, to its cap of 2. */
    assert_int_equal(fleet_acquire(f, "g2", NULL, never[0], &e2, &i2, &reaped, &err), 0);
    assert_int_equal(i2, 1);
    assert_int_equal(fleet_acquire(f, "g3", NULL, never[0], &e3, &i3, &reaped, &err), 0);
    assert_int_equal(i3, 1);
    /* Everything is full: the turn waits, and its cancel ends the wait. */
    assert_int_equal(fleet_acquire(f, "g4", NULL, now[0], &e4, &i4, &reaped, &err), -ECANCELED);
    nc_error_free(err);
    err = NULL;
    /* Labels no engine has: an error, not a wait. */
    char *nowhere[] = {"gpu", NULL};
    assert_int_equal(fleet_acquire(f, "g5", nowhere, never[0], &e4, &i4, &reaped, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "engine_labels"));
    nc_error_free(err);
    err = NULL;

    /* g2's turn ends on b; a frees too. g2 goes back to b (its last engine) although a is now
     * the less loaded one. */
    fleet_release(f, i2, e2, false, NULL);
    fleet_release(f, i1, e1, false, NULL);
    assert_int_equal(fleet_acquire(f, "g2", NULL, never[0], &e2, &i2, &reaped, &err), 0);
    assert_int_equal(i2, 1);
    /* A group that needs label x only ever goes to b: full now, so it waits. */
    char *x[] = {"x", NULL};
    assert_int_equal(fleet_acquire(f, "g6", x, now[0], &e4, &i4, &reaped, &err), -ECANCELED);
    nc_error_free(err);
    err = NULL;

    /* b stops answering and a turn fails there: b is down; a group that needs it gets an
     * engine error (its batch is retried later), and status says so. */
    expect_script_done(b);
    fleet_release(f, i3, e3, true, "engine hung up");
    fleet_release(f, i2, e2, true, "engine hung up");
    assert_int_equal(fleet_acquire(f, "g6", x, never[0], &e4, &i4, &reaped, &err), -EHOSTDOWN);
    assert_non_null(strstr(err->msg, "no engine answers"));
    nc_error_free(err);
    err = NULL;
    /* Others still run on a. */
    assert_int_equal(fleet_acquire(f, "g7", NULL, never[0], &e4, &i4, &reaped, &err), 0);
    assert_int_equal(i4, 0);

    nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    fleet_status_json(f, g);
    jgen_obj_close(g);
    strbuf out = STRBUF_INIT;
    assert_int_equal(jgen_finish(g, &out, NULL), 0);
    jgen_free(g);
    assert_non_null(strstr(out.buf, "\"up\":false,\"running\":0,\"max_containers\":2"));
    assert_non_null(strstr(out.buf, "\"failures\":2,\"last_error\":\"engine hung up\""));
    assert_non_null(strstr(out.buf, "\"up\":true,\"running\":1,\"max_containers\":1"));
    strbuf_release(&out);
    strbuf m = STRBUF_INIT;
    fleet_metrics(f, &m);
    assert_non_null(strstr(m.buf, "nanocell_engine_running{engine=\"unix://"));
    strbuf_release(&m);

    fleet_release(f, i4, e4, false, NULL);
    fleet_free(f);
    expect_script_done(a);
    config_free(cfg);
    close(never[0]);
    close(never[1]);
    close(now[0]);
    close(now[1]);
    fake_free_responses();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placement),
    };
    return cmocka_run_group_tests_name("fleet", tests, NULL, NULL);
}
