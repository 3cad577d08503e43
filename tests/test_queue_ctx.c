/* test_queue_ctx.c — conc_queue seen from two execution contexts of one
 * thread (coroutines, once a loop runs them). The test seam
 * __conc_ctx_switch() stands in for a switch, and a waiter hook for the
 * loop (ctx_loop.h): two contexts are two getters, never one. */
#include <criterion/criterion.h>
#include <conc.h>
#include "ctx_loop.h"
#include "helpers.h"
#include "test_queue.h"


static void put_u32(conc_queue *q, uint32_t v)
{
	cr_assert_eq(conc_queue_put(q, &v, sizeof(v), 0), 0, "put %u", v);
}

/* Without a loop, a context that waits blocks its thread: within its
 * timeout, and it is a wait, not -EDEADLK nor the other's state. */
Test(queue_ctx, a_second_context_waits_for_the_first_ones_two_step_get,
     .timeout = 10)
{
	conc_queue *q = new_queue(4, 4);
	uint32_t v = 0;
	int64_t t0;

	put_u32(q, 1);
	put_u32(q, 2);
	__conc_ctx_switch(1);
	cr_assert_eq(conc_queue_get_begin(q, &v, 4, 0), 4);
	cr_assert_eq(v, 1);
	__conc_ctx_switch(2);
	cr_assert_eq(conc_queue_get_commit(q), -EINVAL, "not this context's");
	cr_assert_eq(conc_queue_get_abort(q), -EINVAL, "not this context's");
	cr_assert_eq(conc_queue_get(q, &v, 4, 0), -ETIMEDOUT);
	t0 = now_ns();
	cr_assert_eq(conc_queue_get(q, &v, 4, 30 * MS), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 30 * MS);
	cr_assert_eq(conc_queue_get_begin(q, &v, 4, 20 * MS), -ETIMEDOUT);
	__conc_ctx_switch(1);
	cr_assert_eq(conc_queue_get_commit(q), 0);
	__conc_ctx_switch(0);
	cr_assert_eq(conc_queue_get(q, &v, 4, 0), 4);
	cr_assert_eq(v, 2);
	conc_queue_destroy(q);
}

static struct {
	conc_queue *q;
	int commit;
} first;

static void commit_first(void)
{
	first.commit = conc_queue_get_commit(first.q);
}

Test(queue_ctx, the_waiting_context_gets_the_next_message_after_the_commit,
     .timeout = 10)
{
	uint32_t v = 0;

	first.q = new_queue(4, 4);
	put_u32(first.q, 1);
	put_u32(first.q, 2);
	__conc_ctx_switch(1);
	cr_assert_eq(conc_queue_get_begin(first.q, &v, 4, 0), 4);
	start_loop(2, 1, commit_first);
	cr_assert_eq(conc_queue_get(first.q, &v, 4, 1000 * MS), 4);
	stop_loop();
	cr_assert_eq(loop.ran, 1, "context 2 waited once");
	cr_assert_eq(first.commit, 0);
	cr_assert_eq(v, 2);
	cr_assert_eq(conc_queue_size(first.q), 0);
	conc_queue_destroy(first.q);
}

/* Two producers on one thread: context 1 sleeps in a put on a full
 * queue, keeping the producers' lock; meanwhile context 2's put with
 * timeout 0 finds the queue full (not -EDEADLK), and its get makes room. */
static struct {
	conc_queue *q;
	int put, get;
} second;

static void put_and_get(void)
{
	uint32_t v = 7;

	second.put = conc_queue_put(second.q, &v, 4, 0);
	second.get = (int)conc_queue_get(second.q, &v, 4, 0);
}

Test(queue_ctx, a_context_sleeping_in_a_put_is_not_the_other_ones_put,
     .timeout = 10)
{
	uint32_t v = 2;

	second.q = new_queue(1, 4);
	put_u32(second.q, 1);
	start_loop(1, 2, put_and_get);
	cr_assert_eq(conc_queue_put(second.q, &v, 4, 1000 * MS), 0);
	stop_loop();
	cr_assert_eq(loop.ran, 1);
	cr_assert_eq(second.put, -ETIMEDOUT, "full, not someone else's lock");
	cr_assert_eq(second.get, 4);
	cr_assert_eq(conc_queue_get(second.q, &v, 4, 0), 4);
	cr_assert_eq(v, 2);
	conc_queue_destroy(second.q);
}
