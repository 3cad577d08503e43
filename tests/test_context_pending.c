/* test_context_pending.c — the robust list's list_op_pending is the
 * thread's, read by the kernel if the thread dies, yet two contexts of the
 * thread (coroutines) both use it. It is never set across a wait, the
 * only place where another context of the thread can run: every wait of
 * the robust objects below comes to the stand-in loop (ctx_loop.h) with
 * it clear, and the other context, run there, locks and publishes in turn
 * without taking anything from the first. */
#include <criterion/criterion.h>
#include <conc.h>
#include "ctx_loop.h"
#include "test_queue.h"

#define BOUND	(10000 * MS)	/* only bounds a hang: the wait ends sooner */

static void no_pending_across(int waits_at_least)
{
	stop_loop();
	cr_assert_eq(loop.ran, 1, "the other context ran in the wait");
	cr_assert_geq(loop.waits, waits_at_least);
	cr_assert_eq(loop.pending, 0,
		     "%d of %d waits entered with list_op_pending set",
		     loop.pending, loop.waits);
}

static struct {
	conc_mutex m, other;
	conc_cond c;
	conc_queue *q;
	conc_rsem *s;
	int flag, r;
} w;

/* The other context's own robust lock, between its other steps. */
static void lock_another(void)
{
	cr_assert_eq(conc_mutex_lock(&w.other), 0);
	cr_assert_eq(conc_mutex_unlock(&w.other), 0);
}

static void setup(void)
{
	cr_assert_eq(conc_mutex_init(&w.m, CONC_ROBUST), 0);
	cr_assert_eq(conc_mutex_init(&w.other, CONC_ROBUST), 0);
	cr_assert_eq(conc_cond_init(&w.c, 0), 0);
	w.flag = w.r = 0;
}

static void unlock_m(void)
{
	lock_another();
	w.r = conc_mutex_unlock(&w.m);
}

Test(context_pending, robust_mutex_wait, .init = setup, .timeout = 30)
{
	__conc_ctx_switch(1);
	cr_assert_eq(conc_mutex_lock(&w.m), 0);
	start_loop(2, 1, unlock_m);
	cr_assert_eq(conc_mutex_timedlock(&w.m, BOUND), 0);
	no_pending_across(1);
	cr_assert_eq(w.r, 0);
	__conc_ctx_switch(2);
	cr_assert_eq(conc_mutex_unlock(&w.m), 0);
	__conc_ctx_switch(0);
}

static void signal_m(void)
{
	cr_assert_eq(conc_mutex_lock(&w.m), 0);
	lock_another();
	w.flag = 1;
	cr_assert_eq(conc_cond_signal(&w.c), 0);
	cr_assert_eq(conc_mutex_unlock(&w.m), 0);
}

Test(context_pending, cond_wait_on_a_robust_mutex, .init = setup, .timeout = 30)
{
	start_loop(1, 2, signal_m);
	cr_assert_eq(conc_mutex_lock(&w.m), 0);
	while (!w.flag)
		cr_assert_eq(conc_cond_wait(&w.c, &w.m, BOUND), 0);
	no_pending_across(1);
	__conc_ctx_switch(1);
	cr_assert_eq(conc_mutex_unlock(&w.m), 0);
	__conc_ctx_switch(0);
}

static void put_one(void)
{
	uint32_t v = 7;

	lock_another();
	w.r = conc_queue_put(w.q, &v, sizeof(v), 0);
}

Test(context_pending, queue_get_from_an_empty_queue, .init = setup, .timeout = 30)
{
	uint32_t v = 0;

	w.q = new_queue(2, 4);
	start_loop(1, 2, put_one);
	cr_assert_eq(conc_queue_get(w.q, &v, sizeof(v), BOUND), 4);
	no_pending_across(1);
	cr_assert_eq(w.r, 0);
	cr_assert_eq(v, 7);
	conc_queue_destroy(w.q);
}

static void get_one(void)
{
	uint32_t v;

	lock_another();
	w.r = (int)conc_queue_get(w.q, &v, sizeof(v), 0);
}

Test(context_pending, queue_put_into_a_full_queue, .init = setup, .timeout = 30)
{
	uint32_t v = 1;

	w.q = new_queue(1, 4);
	cr_assert_eq(conc_queue_put(w.q, &v, sizeof(v), 0), 0);
	start_loop(1, 2, get_one);
	v = 2;
	cr_assert_eq(conc_queue_put(w.q, &v, sizeof(v), BOUND), 0);
	no_pending_across(1);
	cr_assert_eq(w.r, 4);
	cr_assert_eq(conc_queue_get(w.q, &v, sizeof(v), 0), 4);
	cr_assert_eq(v, 2);
	conc_queue_destroy(w.q);
}

static void commit_first(void)
{
	lock_another();
	w.r = conc_queue_get_commit(w.q);
}

Test(context_pending, queue_get_behind_a_two_step_get, .init = setup, .timeout = 30)
{
	uint32_t v = 1;

	w.q = new_queue(2, 4);
	cr_assert_eq(conc_queue_put(w.q, &v, sizeof(v), 0), 0);
	v = 2;
	cr_assert_eq(conc_queue_put(w.q, &v, sizeof(v), 0), 0);
	__conc_ctx_switch(1);
	cr_assert_eq(conc_queue_get_begin(w.q, &v, sizeof(v), 0), 4);
	start_loop(2, 1, commit_first);
	cr_assert_eq(conc_queue_get(w.q, &v, sizeof(v), BOUND), 4);
	no_pending_across(1);
	cr_assert_eq(w.r, 0);
	cr_assert_eq(v, 2);
	conc_queue_destroy(w.q);
}

static void post_one(void)
{
	lock_another();
	w.r = conc_rsem_post(w.s);
}

Test(context_pending, rsem_wait_for_a_permit, .init = setup, .timeout = 30)
{
	conc_rsem_attr a = { .permits = 1 };

	cr_assert_eq(conc_rsem_create(&w.s, &a), 0);
	__conc_ctx_switch(1);
	cr_assert_eq(conc_rsem_wait(w.s), 0);
	start_loop(2, 1, post_one);
	cr_assert_eq(conc_rsem_timedwait(w.s, BOUND), 0);
	no_pending_across(1);
	cr_assert_eq(w.r, 0);
	__conc_ctx_switch(2);
	cr_assert_eq(conc_rsem_post(w.s), 0);
	__conc_ctx_switch(0);
	cr_assert_eq(conc_rsem_destroy(w.s), 0);
}
