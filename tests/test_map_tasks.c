/*
 * The shared map and list used from coroutines (conc_run): a call that
 * waits for the container's lock suspends only its task, as conc_run(3)
 * promises for every wait of conc, whoever holds the lock: another
 * process, a process that dies holding it, or another task of the same
 * loop suspended inside conc_map_iterate's callback. A timeout or a
 * cancellation ends only that call, which changed nothing.
 *
 * No assertion rests on timing: a task that waits is known to wait
 * because the lock's holder lets go only when the other task says so.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <conc.h>
#include "ipc/arena.h"
#include "check/check.h"
#include "helpers.h"
#include "arena_holder.h"

#define KiB 1024
#define SEC 1000000000LL

static void need_loop(void)
{
	if (!(conc_features() & CONC_FEAT_IO_URING))
		cr_skip_test("io_uring is not available in this kernel");
}

static void name_for(char *buf, size_t n, const char *tag)
{
	snprintf(buf, n, "conc-test-maptask-%d-%s", (int)getpid(), tag);
}

/* One container of either kind, named (the holder maps it by name). */
struct box {
	char name[64];
	conc_map *m;
	conc_list *l;
	conc_shm *s;		/* the holder's way to the lock */
};

static void box_make(struct box *b, bool list, const char *tag)
{
	conc_map_attr a = { .size = 64 * KiB };

	memset(b, 0, sizeof(*b));
	name_for(b->name, sizeof(b->name), tag);
	conc_shm_unlink(b->name);
	a.name = b->name;
	if (list) {
		cr_assert_eq(conc_list_create(&b->l, &a), 0);
		cr_assert_eq(conc_shm_open(&b->s, b->name, CONC_SHM_LIST), 0);
	} else {
		cr_assert_eq(conc_map_create(&b->m, &a), 0);
		cr_assert_eq(conc_shm_open(&b->s, b->name, CONC_SHM_MAP), 0);
	}
}

static void box_free(struct box *b)
{
	struct __conc_arena_stat st;

	if (b->l) {
		cr_assert_eq(__conc_list_check(b->l, &st), 0, "%s", st.why);
		conc_list_destroy(b->l);
	} else {
		cr_assert_eq(__conc_map_check(b->m, &st), 0, "%s", st.why);
		conc_map_destroy(b->m);
	}
	conc_shm_close(b->s);
	conc_shm_unlink(b->name);
}

/* The call a waiting task makes: a change, so that "changed nothing" and
 * "done once" can be checked. */
static int box_add(struct box *b, int i)
{
	char k[16];
	int n = snprintf(k, sizeof(k), "k%d", i);

	return b->l ? conc_list_append(b->l, k, (size_t)n)
		    : conc_map_put(b->m, k, (size_t)n, "v", 1);
}

static ssize_t box_len(struct box *b)
{
	return b->l ? conc_list_len(b->l) : conc_map_len(b->m);
}

static int box_timeout(struct box *b, int64_t ns)
{
	return b->l ? conc_list_set_timeout(b->l, ns)
		    : conc_map_set_timeout(b->m, ns);
}

/* ---- a lock held by another process ------------------------------------ */

struct peer_run {
	struct box *b;
	struct holder h;
	bool die;		/* the holder dies holding the lock */
	int waiter_r;		/* the waiting task's result */
	bool waiter_done;
	int ticks;		/* the other task's turns while it waited */
	bool done_early;	/* the waiter was done before its holder let go */
};

static int waiter(void *arg)
{
	struct peer_run *p = arg;

	p->waiter_r = box_add(p->b, 1);
	p->waiter_done = true;
	return 0;
}

/* Runs while the waiter waits, then lets the holder go (or die). */
static int ticker(void *arg)
{
	struct peer_run *p = arg;

	for (; p->ticks < 20; p->ticks++) {
		if (p->waiter_done)
			p->done_early = true;
		conc_sleep(SEC / 1000);
	}
	set_flag(&p->h.f[2], p->die);
	set_flag(&p->h.f[1], 1);
	return 0;
}

static int peer_main(void *arg)
{
	conc_task *w, *t;
	int cw = -1, ct = -1;

	if (conc_go(&w, waiter, arg, NULL) || conc_go(&t, ticker, arg, NULL))
		return 1;
	if (conc_task_join(t, &ct, 60 * SEC) || conc_task_join(w, &cw, 60 * SEC))
		return 2;
	return cw || ct ? 3 : 0;
}

static void peer_holds(bool list, bool die)
{
	struct box b;
	struct peer_run p = { .b = &b, .die = die, .waiter_r = 1 };
	struct __conc_arena_stat st;
	int code = -1;

	need_loop();
	box_make(&b, list, die ? "peerdie" : "peer");
	cr_assert_eq(box_add(&b, 0), 0);
	p.h = hold_arena(conc_shm_data(b.s));
	cr_assert_eq(conc_run(peer_main, &p, &code), 0);
	cr_assert_eq(code, 0);
	cr_assert_eq(p.ticks, 20, "the other task did not run while one waited");
	cr_assert_not(p.done_early, "the call did not wait for the holder");
	cr_assert(p.waiter_done);
	cr_assert_eq(p.waiter_r, 0);
	release_arena(p.h, die);
	cr_assert_eq(box_len(&b), 2);
	if (list)
		cr_assert_eq(__conc_list_check(b.l, &st), 0, "%s", st.why);
	else
		cr_assert_eq(__conc_map_check(b.m, &st), 0, "%s", st.why);
	cr_assert_eq(st.deaths, die ? 1 : 0);
	box_free(&b);
}

Test(map_tasks, map_lock_held_by_a_process_suspends_only_the_task, .timeout = 120)
{
	peer_holds(false, false);
}

Test(map_tasks, list_lock_held_by_a_process_suspends_only_the_task, .timeout = 120)
{
	peer_holds(true, false);
}

Test(map_tasks, holder_dies_while_a_task_waits, .timeout = 120)
{
	peer_holds(false, true);
	peer_holds(true, true);
}

/* ---- a lock held by another task of the same loop ---------------------- */

struct same_run {
	conc_map *m;
	bool b_started, b_done;
	int b_r;
	int inner_r;		/* a call on the map from the walk's callback */
	bool b_done_in_walk;	/* b finished while the walk held the lock */
	int entries;
};

static int walk_cb(const void *k, size_t kl, const void *v, size_t vl,
		   void *arg)
{
	struct same_run *s = arg;
	int i;

	(void)k, (void)kl, (void)v, (void)vl;
	if (s->entries++)
		return 0;
	/* The callback's own context holds the lock: a call from it fails
	 * at once instead of waiting for itself. */
	s->inner_r = conc_map_put(s->m, "x", 1, "y", 1);
	/* Suspend, lock held, until the other task has started its call,
	 * and a few turns more: it must still be waiting then. */
	for (i = 0; i < 100000 && !s->b_started; i++)
		conc_yield();
	for (i = 0; i < 20; i++)
		conc_sleep(SEC / 1000);
	s->b_done_in_walk = s->b_done;
	return 0;
}

static int walker(void *arg)
{
	struct same_run *s = arg;

	return conc_map_iterate(s->m, walk_cb, s);
}

static int other(void *arg)
{
	struct same_run *s = arg;

	s->b_started = true;
	s->b_r = conc_map_put(s->m, "b", 1, "2", 1);
	s->b_done = true;
	return 0;
}

static int same_main(void *arg)
{
	conc_task *a, *b;
	int ca = -1, cb = -1;

	if (conc_go(&a, walker, arg, NULL))
		return 1;
	conc_yield();	/* the walker takes the lock first */
	if (conc_go(&b, other, arg, NULL))
		return 1;
	if (conc_task_join(a, &ca, 60 * SEC) || conc_task_join(b, &cb, 60 * SEC))
		return 2;
	return ca || cb ? 3 : 0;
}

Test(map_tasks, a_task_suspended_in_iterate_keeps_the_lock_from_the_others,
     .timeout = 120)
{
	struct same_run s = { .b_r = 1, .inner_r = 1 };
	conc_map_attr a = { .size = 64 * KiB };
	char buf[4];
	int code = -1;

	need_loop();
	cr_assert_eq(conc_map_create(&s.m, &a), 0);
	cr_assert_eq(conc_map_put(s.m, "a", 1, "1", 1), 0);
	cr_assert_eq(conc_map_put(s.m, "c", 1, "3", 1), 0);
	cr_assert_eq(conc_run(same_main, &s, &code), 0);
	cr_assert_eq(code, 0);
	cr_assert_eq(s.entries, 2);
	cr_assert_eq(s.inner_r, -EDEADLK);
	cr_assert(s.b_started);
	cr_assert_not(s.b_done_in_walk, "a call went through a lock held by another task");
	cr_assert(s.b_done);
	cr_assert_eq(s.b_r, 0);
	cr_assert_eq(conc_map_len(s.m), 3);
	cr_assert_eq(conc_map_get(s.m, "b", 1, buf, sizeof(buf)), 1);
	cr_assert_eq(buf[0], '2');
	cr_assert_not(conc_map_contains(s.m, "x", 1));
	conc_map_destroy(s.m);
}

/* ---- a timeout or a cancellation ends only the waiting call ------------ */

struct stop_run {
	struct box *b;
	int timed_r, cancelled_r;
	int ticks;
};

/* On a handle of its own: the timeout is the handle's, and the other
 * task's call must not inherit it. */
static int timed(void *arg)
{
	struct stop_run *s = arg;
	struct box own = *s->b;
	int r;

	r = own.l ? conc_list_open(&own.l, own.name)
		  : conc_map_open(&own.m, own.name);
	if (r)
		return r;
	box_timeout(&own, SEC / 50);
	s->timed_r = box_add(&own, 2);
	if (own.l)
		conc_list_destroy(own.l);
	else
		conc_map_destroy(own.m);
	return 0;
}

static int forever(void *arg)
{
	struct stop_run *s = arg;

	s->cancelled_r = box_add(s->b, 3);
	return 0;
}

static int stop_main(void *arg)
{
	struct stop_run *s = arg;
	conc_task *t, *f;
	int c = -1;

	if (conc_go(&t, timed, arg, NULL) || conc_go(&f, forever, arg, NULL))
		return 1;
	/* Both wait for the holder; this task goes on meanwhile. */
	if (conc_task_join(t, &c, 60 * SEC) || c)
		return 2;
	for (; s->ticks < 5; s->ticks++)
		conc_sleep(SEC / 1000);
	conc_task_cancel(f);
	if (conc_task_join(f, NULL, 60 * SEC))
		return 3;
	return 0;
}

static void stopped(bool list)
{
	struct box b;
	struct stop_run s = { .b = &b, .timed_r = 1, .cancelled_r = 1 };
	struct holder h;
	int code = -1;

	need_loop();
	box_make(&b, list, "stop");
	cr_assert_eq(box_add(&b, 0), 0);
	h = hold_arena(conc_shm_data(b.s));
	cr_assert_eq(conc_run(stop_main, &s, &code), 0);
	cr_assert_eq(code, 0);
	cr_assert_eq(s.timed_r, -ETIMEDOUT);
	cr_assert_eq(s.cancelled_r, -ECANCELED);
	cr_assert_eq(s.ticks, 5);
	release_arena(h, false);
	cr_assert_eq(box_len(&b), 1, "a call that gave up changed the container");
	/* The lock is usable as before. */
	cr_assert_eq(box_add(&b, 4), 0);
	cr_assert_eq(box_len(&b), 2);
	box_free(&b);
}

Test(map_tasks, map_timeout_and_cancel_in_a_task_change_nothing, .timeout = 120)
{
	stopped(false);
}

Test(map_tasks, list_timeout_and_cancel_in_a_task_change_nothing, .timeout = 120)
{
	stopped(true);
}
