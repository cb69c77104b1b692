/* Unit tests for the daemon's pure logic: trigger matching, the batch window, the prompt's
 * format, backoff, the stale-session rule, and the group queue (one turn per group, the cap,
 * FIFO, tasks first, backoff and exhaustion). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "orch/queue.h"
#include "orch/router.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static void test_trigger(void **state)
{
    (void)state;
    assert_true(router_trigger_matches("@Andy", "@Andy hello"));
    assert_true(router_trigger_matches("@Andy", "  @andy, hello"));
    assert_true(router_trigger_matches("@Andy", "@ANDY"));
    assert_true(router_trigger_matches("@Andy", "@Andy's turn"));
    assert_false(router_trigger_matches("@Andy", "@Andyx hello"));
    assert_false(router_trigger_matches("@Andy", "@Andy_x hello"));
    assert_false(router_trigger_matches("@Andy", "hello @Andy"));
    assert_false(router_trigger_matches("@Andy", "@And"));
    assert_false(router_trigger_matches("", "anything"));
    assert_false(router_trigger_matches(NULL, "anything"));
    /* Regex characters are literal. */
    assert_true(router_trigger_matches("bot.*", "bot.* go"));
    assert_false(router_trigger_matches("bot.*", "botxx go"));
    char *t = router_group_trigger("", "Andy");
    assert_string_equal(t, "@Andy");
    free(t);
    t = router_group_trigger("!hey", "Andy");
    assert_string_equal(t, "!hey");
    free(t);
}

static router_msg M(int64_t id, const char *text)
{
    return (router_msg){.id = id, .sender = "u", .text = text, .time_ms = 0};
}

static void test_select(void **state)
{
    (void)state;
    size_t skip, start, count;
    router_msg all[12];
    for (int i = 0; i < 12; i++)
        all[i] = M(i + 1, "plain");
    /* No trigger needed: the oldest max. */
    assert_true(router_select(all, 12, false, "@Andy", 10, &skip, &start, &count));
    assert_int_equal(skip, 0);
    assert_int_equal(start, 0);
    assert_int_equal(count, 10);
    /* Trigger needed, none: no batch. */
    assert_false(router_select(all, 12, true, "@Andy", 10, &skip, &start, &count));
    /* The trigger at index 11: the 10 messages up to it, two before skipped. */
    all[11] = M(12, "@Andy go");
    assert_true(router_select(all, 12, true, "@Andy", 10, &skip, &start, &count));
    assert_int_equal(skip, 2);
    assert_int_equal(start, 2);
    assert_int_equal(count, 10);
    /* The first trigger wins: messages after it wait for the next batch. */
    all[3] = M(4, "@andy first");
    assert_true(router_select(all, 12, true, "@Andy", 10, &skip, &start, &count));
    assert_int_equal(skip, 0);
    assert_int_equal(start, 0);
    assert_int_equal(count, 4);
    assert_false(router_select(all, 0, false, "@Andy", 10, &skip, &start, &count));
}

static void test_format(void **state)
{
    (void)state;
    router_msg m[2] = {
        {.id = 1, .sender = "Jo \"x\"", .text = "a < b & c > 'd'", .time_ms = 1764749145000},
        {.id = 2, .sender = "Al", .text = "echo hi", .time_ms = 1764749146999},
    };
    strbuf out = STRBUF_INIT;
    router_format(m, 2, &out);
    assert_string_equal(out.buf,
                        "<messages>\n"
                        "<message sender=\"Jo &quot;x&quot;\" time=\"2025-12-03T08:05:45Z\">a "
                        "&lt; b &amp; c &gt; &apos;d&apos;</message>\n"
                        "<message sender=\"Al\" time=\"2025-12-03T08:05:46Z\">echo hi</message>\n"
                        "</messages>");
    strbuf_release(&out);
}

static void test_backoff_and_stale(void **state)
{
    (void)state;
    assert_int_equal(router_backoff_ms(ROUTER_RETRY_BASE_MS, 1), 5000);
    assert_int_equal(router_backoff_ms(ROUTER_RETRY_BASE_MS, 2), 10000);
    assert_int_equal(router_backoff_ms(ROUTER_RETRY_BASE_MS, 3), 20000);
    assert_int_equal(router_backoff_ms(ROUTER_RETRY_BASE_MS, 4), 40000);
    assert_int_equal(router_backoff_ms(ROUTER_RETRY_BASE_MS, 5), 80000);
    assert_int_equal(router_backoff_ms(ROUTER_RETRY_BASE_MS, 6), 0);
    assert_int_equal(router_backoff_ms(ROUTER_RETRY_BASE_MS, 0), 0);
    assert_int_equal(router_backoff_ms(100, 3), 400); /* orch.retry_base */
    assert_true(router_stale_session("Error: No conversation found with session ID x"));
    assert_true(router_stale_session("ENOENT: no such file, open '/x/abc.jsonl'"));
    assert_true(router_stale_session("session abc not found"));
    assert_false(router_stale_session("not found: session"));
    assert_false(router_stale_session("rate limited"));
    assert_false(router_stale_session(NULL));
}

static void test_queue_cap_fifo(void **state)
{
    (void)state;
    queue *q = queue_new(2);
    queue_kind k;
    queue_add_messages(q, "a");
    queue_add_messages(q, "b");
    queue_add_messages(q, "c");
    queue_add_messages(q, "a"); /* already waiting: once */
    assert_int_equal(queue_waiting(q), 3);
    queue_group *g = queue_next(q, 0, &k);
    assert_string_equal(g->folder, "a");
    assert_int_equal(k, QUEUE_MESSAGES);
    g = queue_next(q, 0, &k);
    assert_string_equal(g->folder, "b");
    /* The cap. */
    assert_null(queue_next(q, 0, &k));
    assert_int_equal(k, QUEUE_NONE);
    assert_int_equal(queue_running(q), 2);
    /* A running group with new messages does not wait twice or start twice. */
    queue_add_messages(q, "a");
    assert_int_equal(queue_waiting(q), 1);
    assert_false(queue_finished(q, "a", QUEUE_OK, 0));
    /* a has more messages: it waits behind c. */
    assert_int_equal(queue_waiting(q), 2);
    g = queue_next(q, 0, &k);
    assert_string_equal(g->folder, "c");
    assert_null(queue_next(q, 0, &k));
    assert_false(queue_finished(q, "b", QUEUE_OK, 0));
    g = queue_next(q, 0, &k);
    assert_string_equal(g->folder, "a");
    assert_null(queue_next(q, 0, &k));
    queue_free(q);
}

static void test_queue_tasks_first(void **state)
{
    (void)state;
    queue *q = queue_new(1);
    queue_kind k;
    queue_add_messages(q, "a");
    queue_add_task(q, "a");
    queue_add_task(q, "a");
    queue_group *g = queue_next(q, 0, &k);
    assert_int_equal(k, QUEUE_TASK);
    queue_finished(q, "a", QUEUE_OK, 0);
    g = queue_next(q, 0, &k);
    assert_int_equal(k, QUEUE_TASK);
    queue_finished(q, "a", QUEUE_OK, 0);
    g = queue_next(q, 0, &k);
    assert_non_null(g);
    assert_int_equal(k, QUEUE_MESSAGES);
    queue_finished(q, "a", QUEUE_OK, 0);
    assert_null(queue_next(q, 0, &k));
    queue_free(q);
}

static void test_queue_backoff(void **state)
{
    (void)state;
    queue *q = queue_new(5);
    queue_kind k;
    uint64_t now = 1000;
    queue_add_messages(q, "a");
    uint64_t want[] = {5000, 10000, 20000, 40000, 80000};
    for (int i = 0; i < 5; i++) {
        assert_non_null(queue_next(q, now, &k));
        assert_false(queue_finished(q, "a", QUEUE_FAILED, now));
        queue_add_messages(q, "a"); /* the batch is pending again */
        assert_int_equal(queue_next_retry(q), now + want[i]);
        /* Not before its time, even with free slots. */
        assert_null(queue_next(q, now + want[i] - 1, &k));
        now += want[i];
    }
    /* The sixth failure in a row: exhausted, and the count starts again. */
    assert_non_null(queue_next(q, now, &k));
    assert_true(queue_finished(q, "a", QUEUE_FAILED, now));
    assert_int_equal(queue_group_find(q, "a")->failures, 0);
    /* Success resets. */
    queue_add_messages(q, "a");
    assert_non_null(queue_next(q, now, &k));
    assert_false(queue_finished(q, "a", QUEUE_FAILED, now));
    queue_add_messages(q, "a");
    assert_non_null(queue_next(q, now + 5000, &k));
    assert_false(queue_finished(q, "a", QUEUE_OK, now + 5000));
    assert_int_equal(queue_group_find(q, "a")->failures, 0);
    assert_int_equal(queue_next_retry(q), 0);
    /* A group in backoff does not hold up the others. */
    queue_add_messages(q, "a");
    assert_non_null(queue_next(q, now, &k));
    queue_finished(q, "a", QUEUE_FAILED, now);
    queue_add_messages(q, "a");
    queue_add_messages(q, "b");
    queue_group *g = queue_next(q, now, &k);
    assert_string_equal(g->folder, "b");
    queue_free(q);
}

static void test_queue_transient(void **state)
{
    (void)state;
    queue *q = queue_new(1);
    queue_kind k;
    uint64_t now = 0;
    /* An engine that stays down: the delay grows to 80 s and stays there; never exhausted. */
    for (int i = 0; i < 8; i++) {
        queue_add_messages(q, "a");
        assert_non_null(queue_next(q, now, &k));
        assert_false(queue_finished(q, "a", QUEUE_TRANSIENT, now));
        uint64_t want = router_backoff_ms(ROUTER_RETRY_BASE_MS, i < 5 ? (unsigned)i + 1 : 5);
        assert_int_equal(queue_group_find(q, "a")->retry_at, now + want);
        now += want;
    }
    queue_free(q);
}

static void test_queue_forget(void **state)
{
    (void)state;
    queue *q = queue_new(1);
    queue_kind k;
    queue_add_messages(q, "a");
    queue_add_messages(q, "b");
    assert_non_null(queue_next(q, 0, &k));
    queue_forget(q, "a"); /* running: kept */
    assert_non_null(queue_group_find(q, "a"));
    queue_forget(q, "b");
    assert_null(queue_group_find(q, "b"));
    assert_int_equal(queue_waiting(q), 0);
    queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trigger),        cmocka_unit_test(test_select),
        cmocka_unit_test(test_format),         cmocka_unit_test(test_backoff_and_stale),
        cmocka_unit_test(test_queue_cap_fifo), cmocka_unit_test(test_queue_tasks_first),
        cmocka_unit_test(test_queue_backoff),  cmocka_unit_test(test_queue_transient),
        cmocka_unit_test(test_queue_forget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
