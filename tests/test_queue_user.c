/* test_queue_user.c — conc_queue as a user's program calls it, one
 * promise of conc_queue_put(3) and conc_queue_create(3) at a time: empty
 * and too small buffers, a queue exactly full, timeouts of every sign,
 * the two-step get's edges, close and drain, exec, and the same calls
 * from a conc thread and from coroutine tasks (only the task waits; a
 * cancel gives -ECANCELED once). Every wait is bounded. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <conc.h>
#include "helpers.h"
#include "loop_helpers.h"
#include "test_queue.h"


static void put_s(conc_queue *q, const char *s)
{
	cr_assert_eq(conc_queue_put(q, s, strlen(s), BOUND), 0, "put %s", s);
}

static void get_s(conc_queue *q, const char *want)
{
	char b[64];
	ssize_t n = conc_queue_get(q, b, sizeof(b), BOUND);

	cr_assert_eq(n, (ssize_t)strlen(want), "get %s: %zd", want, n);
	cr_assert_eq(memcmp(b, want, (size_t)n), 0);
}

/* ---- messages and buffers ---- */

Test(queue_user, empty_messages_and_empty_buffers, .timeout = 30)
{
	conc_queue *q = new_queue(4, 8);
	char b[8];

	cr_assert_eq(conc_queue_put(q, NULL, 0, 0), 0);
	cr_assert_eq(conc_queue_put(q, "x", 0, 0), 0);
	cr_assert_eq(conc_queue_put(q, "y", 1, 0), 0);
	cr_assert_eq(conc_queue_size(q), 3);
	cr_assert_eq(conc_queue_get(q, NULL, 0, 0), 0);
	cr_assert_eq(conc_queue_get(q, b, sizeof(b), 0), 0);
	/* A one-byte message does not fit no buffer: it stays. */
	cr_assert_eq(conc_queue_get(q, NULL, 0, 0), -EMSGSIZE);
	cr_assert_eq(conc_queue_get_begin(q, NULL, 0, 0), -EMSGSIZE);
	cr_assert_eq(conc_queue_size(q), 1);
	cr_assert_eq(conc_queue_get(q, b, 1, 0), 1);
	cr_assert_eq(b[0], 'y');
	cr_assert_eq(conc_queue_get(q, NULL, 0, 0), -ETIMEDOUT);
	conc_queue_destroy(q);
}

Test(queue_user, max_msg_fits_and_one_more_byte_does_not, .timeout = 30)
{
	conc_queue *q = new_queue(2, 100);
	char m[101], b[101];

	memset(m, 'm', sizeof(m));
	cr_assert_eq(conc_queue_put(q, m, 101, 0), -EMSGSIZE);
	cr_assert_eq(conc_queue_put(q, m, SIZE_MAX, 0), -EMSGSIZE);
	cr_assert_eq(conc_queue_size(q), 0);
	cr_assert_eq(conc_queue_put(q, m, 100, 0), 0);
	cr_assert_eq(conc_queue_get(q, b, 99, 0), -EMSGSIZE);
	cr_assert_eq(conc_queue_get(q, b, 100, 0), 100);
	cr_assert_eq(memcmp(b, m, 100), 0);
	conc_queue_destroy(q);
}

/* conc_queue_create(3): capacity and max_msg up to 2^24 each, and the
 * slots (capacity rounded up to a power of two, times max_msg + 8 rounded
 * up to 64) up to 2^40 bytes, the largest segment. Pages come as used, so
 * the largest queue costs its header's page. */
Test(queue_user, geometry_limits, .timeout = 30)
{
	conc_queue_attr a = { .capacity = 1u << 24, .max_msg = (1u << 16) - 72 };
	conc_queue *q;

	/* 2^24 slots of 2^16 - 64 bytes (8 of them the slot's own): the
	 * largest slots that fit, with the queue's header, in 2^40. */
	cr_assert_eq(conc_queue_create(&q, &a), 0);
	cr_assert_eq(conc_queue_put(q, "x", 1, 0), 0);
	cr_assert_eq(conc_queue_size(q), 1);
	conc_queue_destroy(q);
	a.max_msg += 1;			/* slots of 2^16 bytes: 2^40 and more */
	cr_assert_eq(conc_queue_create(&q, &a), -EINVAL);
	a.max_msg = 1u << 24;
	cr_assert_eq(conc_queue_create(&q, &a), -EINVAL);
	a.capacity = 1;
	cr_assert_eq(conc_queue_create(&q, &a), 0);
	conc_queue_destroy(q);
	a.capacity = (1u << 24) + 1;
	a.max_msg = 1;
	cr_assert_eq(conc_queue_create(&q, &a), -EINVAL);
	a = (conc_queue_attr){ .capacity = 1, .max_msg = (1u << 24) + 1 };
	cr_assert_eq(conc_queue_create(&q, &a), -EINVAL);
}

/* ---- full, empty, timeouts ---- */

Test(queue_user, exactly_full_then_every_kind_of_timeout, .timeout = 30)
{
	conc_queue *q = new_queue(3, 8);

	put_s(q, "a");
	put_s(q, "b");
	cr_assert_eq(conc_queue_put(q, "c", 1, 0), 0);	/* the last place */
	cr_assert_eq(conc_queue_size(q), 3);
	cr_assert_eq(conc_queue_put(q, "d", 1, 0), -ETIMEDOUT);
	cr_assert_eq(conc_queue_put(q, "d", 1, 1), -ETIMEDOUT);
	cr_assert_eq(conc_queue_put(q, "d", 1, 2 * MS), -ETIMEDOUT);
	cr_assert_eq(conc_queue_size(q), 3);
	get_s(q, "a");
	cr_assert_eq(conc_queue_put(q, "d", 1, 0), 0);
	get_s(q, "b");
	get_s(q, "c");
	get_s(q, "d");
	cr_assert_eq(conc_queue_get(q, NULL, 0, 0), -ETIMEDOUT);
	cr_assert_eq(conc_queue_get(q, NULL, 0, 1), -ETIMEDOUT);
	cr_assert_eq(conc_queue_get(q, NULL, 0, 2 * MS), -ETIMEDOUT);
	conc_queue_destroy(q);
}

struct later {
	conc_queue *q;
	int what;	/* 0: put "late", 1: get one */
};

static int later_fn(void *arg)
{
	struct later *l = arg;
	char b[8];

	sleep_ns(20 * MS);
	return l->what ? (conc_queue_get(l->q, b, sizeof(b), BOUND) >= 0 ? 0 : 1)
		       : conc_queue_put(l->q, "late", 4, BOUND);
}

/* Any negative timeout waits without limit (INT64_MIN too), and the
 * largest positive one is a long wait, not an overflow into the past. */
Test(queue_user, negative_and_huge_timeouts_wait, .timeout = 60)
{
	int64_t tmo[] = { -1, -5, INT64_MIN, INT64_MAX, INT64_MAX - 1 };
	conc_queue *q = new_queue(1, 8);
	char b[8];

	for (size_t i = 0; i < sizeof(tmo) / sizeof(tmo[0]); i++) {
		struct later l = { q, 0 };
		conc_thread *t;
		int code = -1;

		cr_assert_eq(conc_thread_start(&t, later_fn, &l, NULL), 0);
		cr_assert_eq(conc_queue_get(q, b, sizeof(b), tmo[i]), 4, "%zu", i);
		cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
		cr_assert_eq(code, 0);

		put_s(q, "full");
		l.what = 1;
		cr_assert_eq(conc_thread_start(&t, later_fn, &l, NULL), 0);
		cr_assert_eq(conc_queue_put(q, "x", 1, tmo[i]), 0, "%zu", i);
		cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
		cr_assert_eq(code, 0);
		get_s(q, "x");
	}
	conc_queue_destroy(q);
}

/* ---- close and drain ---- */

Test(queue_user, closed_queue_drains_then_epipe_for_ever, .timeout = 30)
{
	conc_queue *q = new_queue(4, 8);
	char b[8];

	put_s(q, "one");
	put_s(q, "two!");
	cr_assert_eq(conc_queue_close(q), 0);
	cr_assert_eq(conc_queue_close(q), 0);
	cr_assert_eq(conc_queue_put(q, "x", 1, 0), -EPIPE);
	cr_assert_eq(conc_queue_put(q, "x", 1, BOUND), -EPIPE);
	cr_assert_eq(conc_queue_put(q, NULL, 0, CONC_FOREVER), -EPIPE);
	cr_assert_eq(conc_queue_size(q), 2);
	get_s(q, "one");
	/* A buffer too small is still -EMSGSIZE, and loses nothing. */
	cr_assert_eq(conc_queue_get(q, b, 2, CONC_FOREVER), -EMSGSIZE);
	cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), 0), 4);
	cr_assert_eq(conc_queue_get_abort(q), 0);
	get_s(q, "two!");
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(conc_queue_get(q, b, sizeof(b), 0), -EPIPE);
		cr_assert_eq(conc_queue_get(q, b, sizeof(b), CONC_FOREVER), -EPIPE);
		cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), BOUND), -EPIPE);
		cr_assert_eq(conc_queue_get_commit(q), -EINVAL);
	}
	conc_queue_destroy(q);
}

/* A close while a two-step get is pending: the commit still removes the
 * message, and then the queue is closed and drained. */
Test(queue_user, close_during_a_two_step_get, .timeout = 30)
{
	conc_queue *q = new_queue(4, 8);
	char b[8];

	put_s(q, "a");
	put_s(q, "b");
	cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), 0), 1);
	cr_assert_eq(conc_queue_close(q), 0);
	cr_assert_eq(conc_queue_get_commit(q), 0);
	cr_assert_eq(conc_queue_size(q), 1);
	get_s(q, "b");
	cr_assert_eq(conc_queue_get(q, b, sizeof(b), 0), -EPIPE);
	conc_queue_destroy(q);
}

/* conc_queue_create(3): destroying a handle on which another thread has
 * a two-step get pending is -EBUSY, and changes nothing: the consumers'
 * lock that thread holds is on its robust list, which would point into the
 * unmapped segment (its next robust lock or unlock, or its exit, would
 * write there: SIGSEGV). Once it commits, or ends, the destroy goes
 * through. */
struct pending_getter {
	conc_queue *q;
	conc_event began, go;
	int commit;		/* commit, else end with the get pending */
	ssize_t n;
	int end;
};

static int pending_getter_fn(void *arg)
{
	struct pending_getter *p = arg;
	conc_mutex m;
	char b[8];

	p->n = conc_queue_get_begin(p->q, b, sizeof(b), BOUND);
	conc_event_set(&p->began);
	if (conc_event_wait(&p->go, BOUND))
		return 1;
	p->end = p->commit ? conc_queue_get_commit(p->q) : 0;
	/* A robust lock and unlock of its own: its robust list is walked. */
	conc_mutex_init(&m, CONC_ROBUST);
	if (conc_mutex_lock(&m) || conc_mutex_unlock(&m))
		return 2;
	return 0;
}

static void destroy_with_a_pending_getter(int commit)
{
	struct pending_getter p = { .q = new_queue(4, 8), .commit = commit,
				    .n = -1, .end = -1 };
	conc_thread *t;
	int code = -1;

	put_s(p.q, "a");
	put_s(p.q, "b");
	cr_assert_eq(conc_thread_start(&t, pending_getter_fn, &p, NULL), 0);
	cr_assert_eq(conc_event_wait(&p.began, BOUND), 0);
	cr_assert_eq(p.n, 1);
	cr_assert_eq(conc_queue_destroy(p.q), -EBUSY);
	cr_assert_eq(conc_queue_size(p.q), 2, "the refused destroy changed nothing");
	cr_assert_eq(conc_event_set(&p.go), 0);
	cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
	cr_assert_eq(code, 0);
	cr_assert_eq(p.end, 0);
	/* Committed, or left in the queue by the thread's end. */
	get_s(p.q, commit ? "b" : "a");
	cr_assert_eq(conc_queue_destroy(p.q), 0);
}

Test(queue_user, destroy_while_another_thread_holds_a_two_step_get_is_ebusy,
     .timeout = 60)
{
	destroy_with_a_pending_getter(1);
	destroy_with_a_pending_getter(0);
}

/* A fork child's copy of a handle on which the parent's thread has a
 * two-step get pending is the child's to destroy: that lock is on no list
 * of the child's. */
Test(queue_user, a_fork_child_destroys_its_copy_of_a_pending_getters_handle,
     .timeout = 60)
{
	conc_queue *q = new_queue(4, 8);
	char b[8];
	pid_t pid;

	put_s(q, "a");
	cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), 0), 1);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(conc_queue_destroy(q) == 0 ? 0 : 1);
	cr_assert(exited_with(wait_child(pid, 10000), 0));
	cr_assert_eq(conc_queue_get_commit(q), 0);
	cr_assert_eq(conc_queue_size(q), 0);
	cr_assert_eq(conc_queue_destroy(q), 0);
}

/* ---- the two-step get's edges ---- */

Test(queue_user, a_failed_begin_leaves_nothing_pending, .timeout = 30)
{
	conc_queue *q = new_queue(4, 8);
	char b[8];

	cr_assert_eq(conc_queue_get_commit(q), -EINVAL);
	cr_assert_eq(conc_queue_get_abort(q), -EINVAL);
	cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), 0), -ETIMEDOUT);
	cr_assert_eq(conc_queue_get_commit(q), -EINVAL);
	cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), 2 * MS), -ETIMEDOUT);
	cr_assert_eq(conc_queue_get_abort(q), -EINVAL);
	put_s(q, "long");
	cr_assert_eq(conc_queue_get_begin(q, b, 3, 0), -EMSGSIZE);
	cr_assert_eq(conc_queue_get_commit(q), -EINVAL);
	cr_assert_eq(conc_queue_size(q), 1);
	/* Nothing pending: an ordinary get works at once. */
	get_s(q, "long");
	conc_queue_destroy(q);
}

Test(queue_user, a_pending_begin_and_this_callers_other_gets, .timeout = 30)
{
	conc_queue *q = new_queue(4, 8);
	char b[8];

	put_s(q, "a");
	put_s(q, "b");
	cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), 0), 1);
	cr_assert_eq(conc_queue_size(q), 2);	/* still counts */
	cr_assert_eq(conc_queue_get(q, b, sizeof(b), 0), -EINVAL);
	cr_assert_eq(conc_queue_get(q, b, sizeof(b), BOUND), -EINVAL);
	cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), BOUND), -EINVAL);
	/* Puts are not consumers: they go on. */
	put_s(q, "c");
	cr_assert_eq(conc_queue_get_commit(q), 0);
	cr_assert_eq(conc_queue_get_commit(q), -EINVAL);
	cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), 0), 1);
	cr_assert_eq(b[0], 'b');
	cr_assert_eq(conc_queue_get_abort(q), 0);
	cr_assert_eq(conc_queue_get_abort(q), -EINVAL);
	get_s(q, "b");
	get_s(q, "c");
	conc_queue_destroy(q);
}

/* ---- threads and processes ---- */

struct prod {
	conc_queue *q;
	unsigned id, n;
};

static int producer(void *arg)
{
	struct prod *p = arg;
	uint32_t m[2] = { p->id, 0 };

	for (m[1] = 0; m[1] < p->n; m[1]++)
		if (conc_queue_put(p->q, m, sizeof(m), BOUND))
			return 1;
	return 0;
}

/* Many producers (conc threads), one consumer: every message once, and
 * each producer's in the order it put them. */
Test(queue_user, each_producers_messages_come_in_its_order, .timeout = 60)
{
	enum { P = 4, N = 5000 };
	conc_queue *q = new_queue(5, 8);
	struct prod p[P];
	conc_thread *t[P];
	uint32_t next[P] = { 0 }, m[2];

	for (unsigned i = 0; i < P; i++) {
		p[i] = (struct prod){ q, i, N };
		cr_assert_eq(conc_thread_start(&t[i], producer, &p[i], NULL), 0);
	}
	for (unsigned k = 0; k < P * N; k++) {
		cr_assert_eq(conc_queue_get(q, m, sizeof(m), BOUND), 8);
		cr_assert_lt(m[0], P);
		cr_assert_eq(m[1], next[m[0]], "producer %u: %u after %u", m[0],
			     m[1], next[m[0]]);
		next[m[0]]++;
	}
	for (unsigned i = 0; i < P; i++) {
		int code = -1;

		cr_assert_eq(conc_thread_join(t[i], &code, BOUND), 0);
		cr_assert_eq(code, 0);
	}
	cr_assert_eq(conc_queue_get(q, m, sizeof(m), 0), -ETIMEDOUT);
	conc_queue_destroy(q);
}

/* "An anonymous queue reaches children forked after its creation, not
 * programs started with execve(2)": its descriptor is close-on-exec. */
Test(queue_user, an_anonymous_queue_is_not_inherited_by_exec, .timeout = 30)
{
	char open_before[1024] = { 0 };
	int before = count_fds(), fd, fl, found = 0;
	conc_queue *q;

	for (fd = 0; fd < 1024; fd++)
		open_before[fd] = fcntl(fd, F_GETFD) >= 0;
	q = new_queue(4, 8);
	cr_assert_eq(count_fds(), before + 1);
	for (fd = 0; fd < 1024; fd++) {
		if (open_before[fd] || (fl = fcntl(fd, F_GETFD)) < 0)
			continue;
		found++;
		cr_assert(fl & FD_CLOEXEC, "fd %d: flags %#x", fd, fl);
	}
	cr_assert_eq(found, 1);
	conc_queue_destroy(q);
	cr_assert_eq(count_fds(), before);
}

/* ---- coroutine tasks ---- */

struct tq {
	conc_queue *q;
	int got, ticks;
	conc_task *t;
};

static int task_get(void *arg)
{
	struct tq *k = arg;
	char b[8];

	k->got = (int)conc_queue_get(k->q, b, sizeof(b), CONC_FOREVER);
	return 0;
}

static int task_ticker(void *arg)
{
	struct tq *k = arg;

	for (int i = 0; i < 5; i++) {
		conc_sleep(MS);
		k->ticks++;
	}
	return conc_queue_put(k->q, "hi", 2, BOUND);
}

/* A task blocked in a get suspends only itself: another task of the same
 * thread runs meanwhile and is the one that puts. */
static int only_the_task_waits(void *arg)
{
	return go_two(task_get, task_ticker, arg);
}

Test(queue_user, in_a_task_only_the_task_waits, .timeout = 60)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct tq k = { .q = new_queue(2, 8), .got = -1 };

		cr_assert_eq(run(only_the_task_waits, &k), 0, "fallback %d", fb);
		cr_assert_eq(k.got, 2);
		cr_assert_eq(k.ticks, 5);
		conc_queue_destroy(k.q);
	}
}

/* A thread holds the consumers' side (a two-step get) while a task's get
 * waits for it: the task waits on a lock held elsewhere, and still only
 * the task waits; it gets the message after the one the thread took. */
static int hold_then_commit(void *arg)
{
	struct tq *k = arg;
	char b[8];

	if (conc_queue_get_begin(k->q, b, sizeof(b), BOUND) != 1)
		return 1;
	__atomic_store_n(&k->got, 0, __ATOMIC_RELEASE);
	/* Held until the loop's other task has run: if the waiting task
	 * blocked its thread, that never happens (bounded). */
	for (int i = 0; i < 100000 && __atomic_load_n(&k->ticks, __ATOMIC_ACQUIRE) < 5; i++)
		sleep_ns(MS / 10);
	__atomic_store_n(&k->got, __atomic_load_n(&k->ticks, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
	return conc_queue_get_commit(k->q);
}

static int task_get_second(void *arg)
{
	struct tq *k = arg;
	char b[8];

	return conc_queue_get(k->q, b, sizeof(b), BOUND) == 1 && b[0] == '2' ? 0 : 1;
}

static int task_ticks(void *arg)
{
	struct tq *k = arg;

	for (int i = 0; i < 5; i++) {
		conc_sleep(MS);
		__atomic_add_fetch(&k->ticks, 1, __ATOMIC_RELEASE);
	}
	return 0;
}

static int wait_for_a_thread(void *arg)
{
	struct tq *k = arg;
	conc_thread *th;
	conc_task *a, *b;
	int ca = -1, cb = -1, ct = -1;

	if (conc_thread_start(&th, hold_then_commit, k, NULL))
		return 1;
	for (int i = 0; i < 100000 && __atomic_load_n(&k->got, __ATOMIC_ACQUIRE); i++)
		conc_sleep(MS / 10);
	if (conc_go(&a, task_get_second, k, NULL) || conc_go(&b, task_ticks, k, NULL))
		return 2;
	if (conc_task_join(a, &ca, BOUND) || conc_task_join(b, &cb, BOUND) ||
	    conc_thread_join(th, &ct, BOUND))
		return 3;
	return ca ? 4 : cb ? 5 : ct ? 6 : 0;
}

Test(queue_user, a_task_waits_for_a_side_a_thread_holds, .timeout = 60)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct tq k = { .q = new_queue(2, 8), .got = -1 };

		put_s(k.q, "1");
		put_s(k.q, "2");
		cr_assert_eq(run(wait_for_a_thread, &k), 0, "fallback %d", fb);
		cr_assert_eq(k.got, 5, "ticks while the task waited: %d", k.got);
		cr_assert_eq(conc_queue_size(k.q), 0);
		conc_queue_destroy(k.q);
	}
}

static int cancelled_calls(void *arg)
{
	struct tq *k = arg;
	char b[8];
	int r;

	/* A get on an empty queue and a put on a full one, each cancelled
	 * while it waits: -ECANCELED once, nothing put or taken; the next
	 * call of the task works as usual. */
	r = (int)conc_queue_get(k->q, b, sizeof(b), CONC_FOREVER);
	if (r != -ECANCELED)
		return 10;
	if (conc_queue_get(k->q, b, sizeof(b), MS) != -ETIMEDOUT)
		return 11;
	if (conc_queue_put(k->q, "a", 1, 0) || conc_queue_put(k->q, "b", 1, 0))
		return 12;
	k->got = 1;	/* tell main to cancel again */
	r = conc_queue_put(k->q, "c", 1, BOUND);
	if (r != -ECANCELED)
		return 13;
	if (conc_queue_size(k->q) != 2)
		return 14;
	if (conc_queue_put(k->q, "c", 1, MS) != -ETIMEDOUT)
		return 15;
	if (conc_queue_get_begin(k->q, b, sizeof(b), 0) != 1 ||
	    conc_queue_get_commit(k->q))
		return 16;
	k->got = 2;
	r = (int)conc_queue_get_begin(k->q, b, sizeof(b), 0);
	return r == 1 && b[0] == 'b' && !conc_queue_get_commit(k->q) ? 0 : 17;
}

static int cancel_main(void *arg)
{
	struct tq *k = arg;
	int code = -1;

	if (conc_go(&k->t, cancelled_calls, k, NULL))
		return 1;
	conc_sleep(5 * MS);
	if (conc_task_cancel(k->t))
		return 2;
	for (int i = 0; i < 20000 && k->got != 1; i++)
		conc_sleep(MS);
	conc_sleep(5 * MS);
	if (conc_task_cancel(k->t))
		return 3;
	if (conc_task_join(k->t, &code, BOUND))
		return 4;
	return code;
}

Test(queue_user, a_cancelled_task_gets_ecanceled_once, .timeout = 60)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct tq k = { .q = new_queue(2, 8), .got = -1 };

		cr_assert_eq(run(cancel_main, &k), 0, "fallback %d", fb);
		cr_assert_eq(k.got, 2);
		cr_assert_eq(conc_queue_size(k.q), 0);
		conc_queue_destroy(k.q);
	}
}

/* ---- a two-step get left by a thread that ended ---- */

struct left {
	conc_queue *q;
	pid_t tid;
	int commit, got;
	char b[8];
};

static int begin_and_leave(void *arg)
{
	struct left *l = arg;

	l->tid = conc_gettid();
	return conc_queue_get_begin(l->q, l->b, sizeof(l->b), BOUND) == 1 ? 0 : 1;
}

static int later_job(void *arg)
{
	struct left *l = arg;

	l->tid = conc_gettid();
	l->commit = conc_queue_get_commit(l->q);
	l->got = (int)conc_queue_get(l->q, l->b, sizeof(l->b), BOUND);
	return 0;
}

/* A thread that ends between get_begin and its commit is a getter gone,
 * as a killed one is: the message stays in the queue, for anyone. The
 * next job of a reused conc thread (the same kernel thread, the same tid)
 * is another caller, with nothing pending: its commit is -EINVAL, its get
 * takes the message. */
Test(queue_user, a_begin_left_by_an_ended_thread_binds_no_later_job, .timeout = 60)
{
	conc_queue *q = new_queue(4, 8);
	struct left l = { .q = q };
	conc_thread *t;
	pid_t first;
	int code = -1;

	put_s(q, "a");
	put_s(q, "b");
	cr_assert_eq(conc_thread_start(&t, begin_and_leave, &l, NULL), 0);
	cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
	cr_assert_eq(code, 0);
	cr_assert_eq(l.b[0], 'a');
	first = l.tid;
	l.b[0] = 0;
	cr_assert_eq(conc_thread_start(&t, later_job, &l, NULL), 0);
	cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
	cr_log_info("first job on tid %d, second on %d", (int)first, (int)l.tid);
	cr_assert_eq(l.commit, -EINVAL);
	cr_assert_eq(l.got, 1);
	cr_assert_eq(l.b[0], 'a');
	get_s(q, "b");
	cr_assert_eq(conc_queue_size(q), 0);
	conc_queue_destroy(q);
}

/* A consumer that holds many robust mutexes already (more than conc's
 * private record of them keeps) still commits its two-step get. */
Test(queue_user, a_two_step_get_under_many_held_robust_mutexes, .timeout = 30)
{
	enum { N = 80 };
	conc_mutex *m = calloc(N, sizeof(*m));
	conc_queue *q = new_queue(4, 8);
	char b[8];

	cr_assert_not_null(m);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(conc_mutex_init(&m[i], CONC_ROBUST), 0);
		cr_assert_eq(conc_mutex_lock(&m[i]), 0);
	}
	put_s(q, "a");
	put_s(q, "b");
	cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), 0), 1);
	cr_assert_eq(conc_queue_get(q, b, sizeof(b), 0), -EINVAL);
	cr_assert_eq(conc_queue_get_commit(q), 0);
	cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), 0), 1);
	cr_assert_eq(conc_queue_get_abort(q), 0);
	get_s(q, "b");
	for (int i = N - 1; i >= 0; i--)
		cr_assert_eq(conc_mutex_unlock(&m[i]), 0);
	conc_queue_destroy(q);
	free(m);
}

/* ---- a close racing with puts and gets ---- */

struct racer {
	conc_queue *q;
	long n;		/* puts that returned 0, or messages taken */
	int err;	/* the error that ended the loop */
};

static int race_put(void *arg)
{
	struct racer *r = arg;
	int e;

	while (!(e = conc_queue_put(r->q, "m", 1, BOUND)))
		r->n++;
	r->err = e;
	return 0;
}

static int race_get(void *arg)
{
	struct racer *r = arg;
	char b[8];
	ssize_t e;

	while ((e = conc_queue_get(r->q, b, sizeof(b), BOUND)) == 1)
		r->n++;
	r->err = (int)e;
	return 0;
}

/* "A put that runs at the same time either completes before the close or
 * fails with -EPIPE", and gets drain what is left: every put that returned
 * 0 is taken by some get before the consumers see -EPIPE, whatever the
 * moment of the close (producers asleep on a full queue, consumers on an
 * empty one, or both busy). */
Test(queue_user, a_close_during_puts_and_gets_loses_no_message, .timeout = 120)
{
	enum { P = 3, C = 2, ROUNDS = 20 };

	for (int round = 0; round < ROUNDS; round++) {
		conc_queue *q = new_queue(round % 2 ? 4 : 5, 8);
		struct racer p[P], c[C];
		conc_thread *tp[P], *tc[C];
		long put = 0, got = 0;
		int code;

		for (int i = 0; i < P; i++) {
			p[i] = (struct racer){ q, 0, 0 };
			cr_assert_eq(conc_thread_start(&tp[i], race_put, &p[i], NULL), 0);
		}
		for (int i = 0; i < C; i++) {
			c[i] = (struct racer){ q, 0, 0 };
			cr_assert_eq(conc_thread_start(&tc[i], race_get, &c[i], NULL), 0);
		}
		sleep_ns((round % 5) * MS);
		cr_assert_eq(conc_queue_close(q), 0);
		for (int i = 0; i < P; i++) {
			cr_assert_eq(conc_thread_join(tp[i], &code, BOUND), 0);
			cr_assert_eq(p[i].err, -EPIPE);
			put += p[i].n;
		}
		for (int i = 0; i < C; i++) {
			cr_assert_eq(conc_thread_join(tc[i], &code, BOUND), 0);
			cr_assert_eq(c[i].err, -EPIPE);
			got += c[i].n;
		}
		cr_assert_eq(got, put, "round %d: %ld put, %ld taken", round, put, got);
		cr_assert_eq(conc_queue_size(q), 0);
		conc_queue_destroy(q);
	}
}

/* ---- a put under way when the queue is closed ---- */

/* A producer child stopped in the middle of its put's copy (the source's
 * second page is unreadable until the parent says go: its SIGSEGV handler
 * waits, then lets the copy go on). It looked at `closed` before the close,
 * so its put goes in after it and returns 0. */
struct midput {
	uint32_t inside, go;
	unsigned char *page;
	long psz;
};

static struct midput *midput;

static void midput_segv(int sig)
{
	(void)sig;
	set_flag(&midput->inside, 1);
	if (!wait_flag(&midput->go, 60000))
		_exit(98);
	mprotect(midput->page, (size_t)midput->psz, PROT_READ | PROT_WRITE);
}

static int midput_child(void *arg)
{
	conc_queue *q = arg;
	long psz = sysconf(_SC_PAGESIZE);
	unsigned char *b = mmap(NULL, 2 * (size_t)psz, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct sigaction sa = { .sa_handler = midput_segv };

	if (b == MAP_FAILED)
		return 97;
	memset(b, 'm', 2 * (size_t)psz);
	midput->page = b + psz;
	midput->psz = psz;
	if (sigaction(SIGSEGV, &sa, NULL) ||
	    mprotect(b + psz, (size_t)psz, PROT_NONE))
		return 96;
	return errcode(conc_queue_put(q, b + psz - 100, 200, BOUND));
}

struct forever_get {
	conc_queue *q;
	ssize_t n;
};

static int forever_get(void *arg)
{
	struct forever_get *f = arg;
	unsigned char b[256];

	f->n = conc_queue_get(f->q, b, sizeof(b), CONC_FOREVER);
	if (f->n == 200 && (b[0] != 'm' || b[199] != 'm'))
		f->n = -1000;
	return 0;
}

/* "gets go on taking the messages already in the queue, and once it is
 * empty they fail with -EPIPE", and "a process that is stopped keeps what
 * it holds until it continues": a get never says -EPIPE while a put that
 * began before the close is still on its way, since that put then returns
 * 0 and its message would come after the -EPIPE (lost for a consumer that
 * stops there). A get whose timeout passes meanwhile says -ETIMEDOUT; one
 * without a timeout waits for the message. */
Test(queue_user, a_get_waits_for_a_put_under_way_at_the_close, .timeout = 120)
{
	conc_queue *q = new_queue(2, 256);
	struct forever_get f = { q, 1 };
	conc_thread *t;
	unsigned char b[256];
	pid_t pid;
	int code;

	midput = shared_alloc(4096);
	cr_assert_not_null(midput);
	pid = fork_child(midput_child, q);
	cr_assert_gt(pid, 0);
	cr_assert(wait_flag(&midput->inside, 30000), "the put never began");
	cr_assert_eq(conc_queue_close(q), 0);
	cr_assert_eq(conc_queue_get(q, b, sizeof(b), 0), -ETIMEDOUT);
	cr_assert_eq(conc_queue_get(q, b, sizeof(b), 20 * MS), -ETIMEDOUT);
	cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), 20 * MS), -ETIMEDOUT);
	cr_assert_eq(conc_queue_get_commit(q), -EINVAL);
	/* Still waiting after the second a put's copy may take (before, it
	 * said -EPIPE then); whether it has begun to wait by then or not,
	 * it must end with the message. */
	cr_assert_eq(conc_thread_start(&t, forever_get, &f, NULL), 0);
	sleep_ns(1200 * MS);
	set_flag(&midput->go, 1);
	cr_assert(exited_with(wait_child(pid, 30000), 0), "the put did not return 0");
	cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
	cr_assert_eq(f.n, 200, "the get without a timeout: %zd", f.n);
	cr_assert_eq(conc_queue_get(q, b, sizeof(b), 0), -EPIPE);
	cr_assert_eq(conc_queue_get(q, b, sizeof(b), CONC_FOREVER), -EPIPE);
	shared_free(midput, 4096);
	conc_queue_destroy(q);
}
