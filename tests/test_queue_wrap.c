/* test_queue_wrap.c — a queue that has carried 2^32 messages. Its indices
 * are 32-bit and wrap; a queue of any capacity (the man page allows any
 * from 1 to 2^24, and the bun shop's is 5) must go on in order across the
 * wrap. Sending 4 billion messages takes minutes, so the test moves the
 * counters of a fresh, empty queue to just before the wrap (as a queue that
 * has been used that long has them), then uses it through the API. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <conc.h>
#include "ipc/queue_impl.h"
#include "helpers.h"
#include "test_queue.h"

#define BOUND	(5000 * MS)	/* a wait that must end: the test has no other */

/* An empty queue whose next message is number `at`: head and tail there,
 * and every slot holding a seq that no message near `at` has (as after a
 * long use, each slot keeps the seq of a message long gone). */
static void fast_forward(conc_queue *qh, uint32_t at)
{
	struct shared *q = qh->q;
	uint32_t n = qh->slot_size ? (uint32_t)((conc_shm_size(qh->seg) -
						 sizeof(*q)) / qh->slot_size) : 0;

	cr_assert_eq(conc_queue_size(qh), 0);
	q->head = q->tail = q->head_seen = at;
	for (uint32_t i = 0; i < n; i++)
		((struct slot *)(q->slots + (size_t)i * qh->slot_size))->seq = at;
}

static void put_n(conc_queue *q, unsigned from, unsigned n)
{
	char m[16];

	for (unsigned i = from; i < from + n; i++) {
		int len = snprintf(m, sizeof(m), "m%u", i);
		cr_assert_eq(conc_queue_put(q, m, (size_t)len, BOUND), 0, "put %u", i);
	}
}

static void get_n(conc_queue *q, unsigned from, unsigned n)
{
	char m[16], want[16];

	for (unsigned i = from; i < from + n; i++) {
		int len = snprintf(want, sizeof(want), "m%u", i);
		ssize_t r = conc_queue_get(q, m, sizeof(m), BOUND);

		cr_assert_eq(r, len, "get %u: %zd", i, r);
		cr_assert_eq(memcmp(m, want, (size_t)len), 0, "get %u: %.*s", i,
			     (int)r, m);
	}
}

/* One message at a time, then the queue kept full, across the wrap. */
static void across_the_wrap(uint32_t cap)
{
	conc_queue *q = new_queue(cap, 16);
	unsigned k = 0;

	fast_forward(q, 0u - 2 * cap - 1);
	for (unsigned i = 0; i < 4 * cap + 3; i++, k++) {
		put_n(q, k, 1);
		get_n(q, k, 1);
	}
	conc_queue_destroy(q);

	q = new_queue(cap, 16);
	fast_forward(q, 0u - cap - 1);
	k = 0;
	put_n(q, k, cap);
	cr_assert_eq(conc_queue_put(q, "x", 1, 0), -ETIMEDOUT, "cap %u", cap);
	for (unsigned i = 0; i < 3 * cap + 2; i++, k++) {
		get_n(q, k, 1);
		cr_assert_eq(conc_queue_size(q), cap - 1);
		put_n(q, k + cap, 1);
		cr_assert_eq(conc_queue_put(q, "x", 1, 0), -ETIMEDOUT, "cap %u", cap);
	}
	get_n(q, k, cap);
	cr_assert_eq(conc_queue_get(q, NULL, 0, 0), -ETIMEDOUT);
	conc_queue_destroy(q);
}

Test(queue_wrap, power_of_two_capacities, .timeout = 60)
{
	across_the_wrap(1);
	across_the_wrap(4);
	across_the_wrap(64);
}

Test(queue_wrap, other_capacities, .timeout = 60)
{
	across_the_wrap(3);
	across_the_wrap(5);
	across_the_wrap(7);
	across_the_wrap(100);
}

/* The two-step get across the wrap, with an abort on the message that
 * sits in the last slot before it. */
Test(queue_wrap, two_step_get_across_the_wrap, .timeout = 60)
{
	conc_queue *q = new_queue(5, 16);
	char m[16];

	fast_forward(q, 0u - 3);
	put_n(q, 0, 5);
	for (unsigned i = 0; i < 5; i++) {
		int len = snprintf(m, sizeof(m), "m%u", i);

		cr_assert_eq(conc_queue_get_begin(q, m, sizeof(m), BOUND), len);
		cr_assert_eq(conc_queue_get_abort(q), 0);
		cr_assert_eq(conc_queue_get_begin(q, m, sizeof(m), BOUND), len);
		cr_assert_eq(conc_queue_get_commit(q), 0);
		put_n(q, 5 + i, 1);
	}
	get_n(q, 5, 5);
	conc_queue_destroy(q);
}

/* In a child that the kernel kills (SIGSYS) at its first futex(2): the
 * open and the create of the queue named arg are refused without a
 * wait for the set-up word. */
static int refused_without_a_wait(void *arg)
{
	conc_queue_attr a = { .capacity = 5, .max_msg = 16, .name = arg };
	conc_queue *q;

	if (seccomp_kill_at(SYS_futex))
		return 100;
	if (conc_queue_open(&q, arg) != -EPROTO)
		return 1;
	return conc_queue_create(&q, &a) == -EPROTO ? 0 : 2;
}

/* A named queue set up by a conc of the former layout (slot i % capacity,
 * init 2 once ready) cannot be shared with this one: it is refused at
 * once, not used with the two sides disagreeing on where message i is. */
Test(queue_wrap, a_queue_of_the_former_layout_is_refused, .timeout = 60)
{
	char name[96];
	conc_queue_attr a = { .capacity = 5, .max_msg = 16, .name = name };
	conc_queue *q, *q2;
	conc_shm *s;
	int st;

	snprintf(name, sizeof(name), "conc-test-qwrap-%d", (int)getpid());
	cr_assert_eq(conc_queue_create(&q, &a), 0);
	cr_assert_eq(conc_shm_open(&s, name, CONC_SHM_QUEUE), 0);
	((struct shared *)conc_shm_data(s))->init = 2;
	cr_assert_eq(conc_queue_open(&q2, name), -EPROTO);
	cr_assert_eq(conc_queue_create(&q2, &a), -EPROTO);
	/* Refused, not waited for as a creator still at work (a second):
	 * such a wait sleeps on the set-up word, a futex(2) call. */
	if (seccomp_available()) {
		st = run_in_child(refused_without_a_wait, name, 30000);
		cr_assert_eq(st, 0, "child: %d (-1: killed at a futex wait, for "
			     "the set-up word; else the step that failed)", st);
	}
	conc_shm_close(s);
	conc_queue_destroy(q);
	cr_assert_eq(conc_shm_unlink(name), 0);
}
