/* test_context.c — owners are execution contexts, not kernel threads: two
 * contexts of one thread (a coroutine switch, stood in for by the test-only
 * __conc_ctx_switch) contend like two threads would. */
#include <criterion/criterion.h>
#include <errno.h>
#include <conc.h>
#include "ctx_loop.h"
#include "helpers.h"

#define SHORT 20000000LL	/* 20 ms: long enough to show a wait */

static void as(uint32_t ctx)
{
	__conc_ctx_switch(ctx);
}

Test(context, plain_mutex_second_context_waits)
{
	conc_mutex m = CONC_MUTEX_INIT;

	as(1);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	as(2);
	cr_assert_eq(conc_mutex_timedlock(&m, SHORT), -ETIMEDOUT);
	cr_assert_eq(conc_mutex_trylock(&m), -EBUSY);
	cr_assert_eq(conc_mutex_unlock(&m), -EPERM);
	as(1);
	cr_assert_eq(conc_mutex_timedlock(&m, 0), -EDEADLK);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	as(2);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	as(0);
}

static conc_mutex held;
static int unlocked;

static void unlock_held(void)
{
	unlocked = conc_mutex_unlock(&held);
}

static void unlock_held_twice(void)
{
	unlock_held();
	if (!unlocked)
		unlock_held();
}

/* With a loop to run the holder meanwhile (ctx_loop.h), the second
 * context's untimed lock waits, and has the mutex once the first let go. */
Test(context, plain_mutex_second_context_gets_it_after_the_first, .timeout = 30)
{
	cr_assert_eq(conc_mutex_init(&held, 0), 0);
	as(1);
	cr_assert_eq(conc_mutex_lock(&held), 0);
	start_loop(2, 1, unlock_held);
	cr_assert_eq(conc_mutex_lock(&held), 0);
	stop_loop();
	cr_assert_eq(loop.ran, 1, "context 2 waited");
	cr_assert_eq(unlocked, 0);
	as(1);
	cr_assert_eq(conc_mutex_unlock(&held), -EPERM, "context 2's now");
	as(2);
	cr_assert_eq(conc_mutex_unlock(&held), 0);
	as(0);
}

Test(context, recursive_counts_are_per_context)
{
	conc_mutex m;

	cr_assert_eq(conc_mutex_init(&m, CONC_RECURSIVE), 0);
	as(1);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	as(2);
	cr_assert_eq(conc_mutex_timedlock(&m, SHORT), -ETIMEDOUT);
	cr_assert_eq(conc_mutex_unlock(&m), -EPERM);
	as(1);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	as(2);
	cr_assert_eq(conc_mutex_trylock(&m), -EBUSY, "still held once by ctx 1");
	as(1);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), -EPERM);
	as(2);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), -EPERM);
	as(0);
}

/* Context 1 holds it twice and gives it up in the wait of context 2,
 * whose count starts at one of its own. */
Test(context, recursive_second_context_gets_it_with_a_count_of_its_own, .timeout = 30)
{
	cr_assert_eq(conc_mutex_init(&held, CONC_RECURSIVE), 0);
	as(1);
	cr_assert_eq(conc_mutex_lock(&held), 0);
	cr_assert_eq(conc_mutex_lock(&held), 0);
	start_loop(2, 1, unlock_held_twice);
	cr_assert_eq(conc_mutex_lock(&held), 0);
	stop_loop();
	cr_assert_eq(loop.ran, 1, "context 2 waited");
	cr_assert_eq(unlocked, 0);
	as(2);
	cr_assert_eq(conc_mutex_unlock(&held), 0);
	cr_assert_eq(conc_mutex_unlock(&held), -EPERM, "locked once by context 2");
	as(0);
}

Test(context, robust_second_context_waits_and_consistent_is_per_context)
{
	conc_mutex m;

	cr_assert_eq(conc_mutex_init(&m, CONC_ROBUST), 0);
	as(1);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	as(2);
	cr_assert_eq(conc_mutex_timedlock(&m, SHORT), -ETIMEDOUT);
	cr_assert_eq(conc_mutex_consistent(&m), -EPERM);
	cr_assert_eq(conc_mutex_unlock(&m), -EPERM);
	as(1);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	as(0);
}

struct held {
	conc_mutex m[3];
	conc_event ready;
};

/* Three contexts of one thread each hold a robust mutex (one gives it
 * back); the process is killed: the next locker elsewhere learns of every
 * mutex still held, whichever context locked it. */
Test(context, killing_the_process_reports_every_context_s_mutexes, .timeout = 20)
{
	struct held *h = shared_alloc(sizeof(*h));
	pid_t pid;

	cr_assert_not_null(h);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(conc_mutex_init(&h->m[i], CONC_ROBUST), 0);
	cr_assert_eq(conc_event_init(&h->ready, 0), 0);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (uint32_t c = 0; c < 3; c++) {
			as(c + 1);
			if (conc_mutex_lock(&h->m[c]))
				_exit(10 + c);
		}
		as(2);
		if (conc_mutex_timedlock(&h->m[0], SHORT) != -ETIMEDOUT)
			_exit(20);
		if (conc_mutex_unlock(&h->m[1]))
			_exit(21);
		conc_event_set(&h->ready);
		for (;;)
			pause();
	}
	cr_assert_eq(conc_event_wait(&h->ready, 10000000000LL), 0);
	kill(pid, SIGKILL);
	cr_assert(killed_by(wait_child(pid, 5000), SIGKILL));
	cr_assert_eq(conc_mutex_lock(&h->m[0]), -EOWNERDEAD);
	cr_assert_eq(conc_mutex_lock(&h->m[1]), 0);
	cr_assert_eq(conc_mutex_lock(&h->m[2]), -EOWNERDEAD);
	shared_free(h, sizeof(*h));
}

Test(context, rwlock_writer_is_a_context)
{
	conc_rwlock rw = CONC_RWLOCK_INIT;

	as(1);
	cr_assert_eq(conc_rwlock_wrlock(&rw), 0);
	as(2);
	cr_assert_eq(conc_rwlock_timedwrlock(&rw, SHORT), -ETIMEDOUT);
	cr_assert_eq(conc_rwlock_timedrdlock(&rw, SHORT), -ETIMEDOUT);
	cr_assert_eq(conc_rwlock_unlock(&rw), -EPERM);
	as(1);
	cr_assert_eq(conc_rwlock_trywrlock(&rw), -EDEADLK);
	cr_assert_eq(conc_rwlock_unlock(&rw), 0);
	as(0);
}

Test(context, rwlock_read_unlock_by_a_context_holding_none_is_refused)
{
	conc_rwlock rw = CONC_RWLOCK_INIT;

	as(1);
	cr_assert_eq(conc_rwlock_rdlock(&rw), 0);
	as(2);
	cr_assert_eq(conc_rwlock_unlock(&rw), -EPERM);
	cr_assert_eq(conc_rwlock_trywrlock(&rw), -EBUSY, "the reader is inside");
	as(1);
	cr_assert_eq(conc_rwlock_unlock(&rw), 0);
	cr_assert_eq(conc_rwlock_unlock(&rw), -EPERM);
	as(0);
}

Test(context, cond_wait_needs_the_calling_context_to_own_the_mutex)
{
	conc_mutex m = CONC_MUTEX_INIT;
	conc_cond c = CONC_COND_INIT;

	as(1);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	as(2);
	cr_assert_eq(conc_cond_wait(&c, &m, SHORT), -EPERM);
	as(1);
	cr_assert_eq(conc_cond_wait(&c, &m, SHORT), -ETIMEDOUT);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	as(0);
}
