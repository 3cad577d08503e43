/* test_loop_end.c — handles and calls at the edges of a loop's life: a
 * plain thread's join while conc_run winds down, and conc_loop_call when
 * memory runs out (the call runs, or it is refused up front: never lost). */
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <conc.h>
#include "loop_helpers.h"

/* ---- A join from a plain thread while conc_run winds down ------------- */

struct late {
	conc_loop *loop;
	conc_task *t;
	uint32_t ended, posted;
	conc_event in_final, joined;
	int jr, code;
};

static int returns_7(void *arg)
{
	set_flag(&((struct late *)arg)->ended, 1);
	return 7;
}

/* A call that reached the door before main returned: it runs once the
 * loop has shut its door, as a cancelled task, and keeps the loop in its
 * last phase until the thread's join is done. */
static void keeps_the_end_open(void *arg)
{
	struct late *s = arg;

	conc_event_set(&s->in_final);
	/* The first wait takes the task's cancel; the second one waits. */
	if (conc_event_wait(&s->joined, BOUND) == -ECANCELED)
		conc_event_wait(&s->joined, BOUND);
}

static int late_joiner(void *arg)
{
	struct late *s = arg;

	if (conc_loop_call(s->loop, keeps_the_end_open, s))
		return -1;
	set_flag(&s->posted, 1);
	if (conc_event_wait(&s->in_final, BOUND))
		return -2;
	/* conc_run has not returned (it waits for the call above): the
	 * handle is still valid, and the door is shut. */
	s->jr = conc_task_join(s->t, &s->code, BOUND);
	conc_event_set(&s->joined);
	return 0;
}

static int leaves_a_task_to_a_thread(void *arg)
{
	struct late *s = arg;
	conc_thread *th;

	s->loop = conc_loop_self();
	if (conc_go(&s->t, returns_7, s, NULL))
		return -1;
	while (!__atomic_load_n(&s->ended, __ATOMIC_ACQUIRE))
		conc_yield();
	conc_yield();
	if (conc_thread_start(&th, late_joiner, s, NULL))
		return -2;
	/* Without suspending, so that the call stays in the door until the
	 * loop shuts it. */
	if (!wait_flag(&s->posted, 10000))
		return -3;
	return 0;
}

Test(loop_end, a_plain_thread_joins_after_the_door_shut)
{
	int i;

	need_uring();
	for (i = 0; i < 5; i++) {
		struct late s;

		memset(&s, 0, sizeof(s));
		s.jr = s.code = -1;
		cr_assert_eq(run(leaves_a_task_to_a_thread, &s), 0);
		cr_assert_eq(s.jr, 0, "join: %d", s.jr);
		cr_assert_eq(s.code, 7);
	}
}

/* Many rounds of joins from plain threads racing the phases of the end
 * (the tasks' ends, the cancels, the door's shut): each handle freed once
 * (ASan), every join 0 with the task's code. conc_run is held open until
 * the joins returned, as a program must (a handle is valid until then). */
struct racer {
	conc_loop *loop;
	conc_task *t[4];
	conc_thread *th[4];
	int jr[4], code[4];
	uint32_t go, posted, njoined;
	int yield_first;
	conc_event all_joined;
};

struct racer_arg {
	struct racer *r;
	int i;
};

static struct racer_arg racer_args[4];

static int ends_soon(void *arg)
{
	int i = (int)(intptr_t)arg;

	if (i & 1)
		conc_sleep((i + 1) * 100000);
	return 40 + i;
}

static void holds_the_end_open(void *arg)
{
	struct racer *r = arg;

	if (conc_event_wait(&r->all_joined, BOUND) == -ECANCELED)
		conc_event_wait(&r->all_joined, BOUND);
}

static int racing_joiner(void *arg)
{
	struct racer_arg *a = arg;
	struct racer *r = a->r;

	if (a->i == 0) {
		if (conc_loop_call(r->loop, holds_the_end_open, r))
			return -1;
		set_flag(&r->posted, 1);
	}
	/* Joins the moment go is set, yielding meanwhile: four joiners that
	 * spun without it took the CPU from the loop's thread that sets go
	 * (on one loaded CPU a round cost several of their time slices). */
	while (!__atomic_load_n(&r->go, __ATOMIC_ACQUIRE))
		sched_yield();
	r->jr[a->i] = conc_task_join(r->t[a->i], &r->code[a->i], BOUND);
	if (__atomic_add_fetch(&r->njoined, 1, __ATOMIC_ACQ_REL) == 4)
		conc_event_set(&r->all_joined);
	return 0;
}

static int race_main(void *arg)
{
	struct racer *r = arg;
	int i;

	r->loop = conc_loop_self();
	for (i = 0; i < 4; i++) {
		racer_args[i].r = r;
		racer_args[i].i = i;
		if (conc_go(&r->t[i], ends_soon, (void *)(intptr_t)i, NULL) ||
		    conc_thread_start(&r->th[i], racing_joiner, &racer_args[i], NULL))
			return -1;
	}
	if (!wait_flag(&r->posted, 10000))
		return -2;
	/* Some tasks end at once, some are cancelled by the end. */
	if (r->yield_first)
		conc_yield();
	set_flag(&r->go, 1);
	return 0;
}

Test(loop_end, joins_from_threads_race_the_end, .timeout = 60)
{
	int i, k;

	need_uring();
	for (k = 0; k < 200; k++) {
		struct racer r;

		memset(&r, 0, sizeof(r));
		r.yield_first = k & 1;
		cr_assert_eq(run(race_main, &r), 0);
		for (i = 0; i < 4; i++) {
			int tr = -1;

			cr_assert_eq(conc_thread_join(r.th[i], &tr, BOUND), 0);
			cr_assert_eq(tr, 0);
			cr_assert_eq(r.jr[i], 0, "round %d join %d: %d", k, i, r.jr[i]);
			cr_assert_eq(r.code[i], 40 + i);
		}
	}
}

/* ---- conc_loop_call when memory runs out ---------------------------- */

/* RLIMIT_AS a little above what the process maps now: small mallocs
 * still work, a new slab of task stacks (8 MiB) cannot be had. ASan's
 * shadow reserves terabytes: no such limit can be set under it. */
static struct rlimit as_before;

static void skip_under_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
	cr_skip_test("RLIMIT_AS cannot confine a process under ASan");
#endif
	/* One malloc arena: a thread's own would reserve 64 MiB of address
	 * space the first time it allocates, under the limit or not. */
	mallopt(M_ARENA_MAX, 1);
}

static int tighten_as(long extra_mib)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0;
	struct rlimit rl;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &pages) != 1)
		pages = 0;
	fclose(f);
	if (!pages || getrlimit(RLIMIT_AS, &as_before))
		return -1;
	rl = as_before;
	rl.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) +
		((rlim_t)extra_mib << 20);
	return setrlimit(RLIMIT_AS, &rl);
}

static void loosen_as(void)
{
	setrlimit(RLIMIT_AS, &as_before);
}

struct oom {
	conc_loop *loop;
	uint32_t ran, go, done;
	int first, ok, enomem, other;
};

static void counts(void *arg)
{
	__atomic_fetch_add(&((struct oom *)arg)->ran, 1, __ATOMIC_RELAXED);
}

static int call_without_memory(void *arg)
{
	struct oom *o = arg;
	int64_t end;

	if (tighten_as(2))
		return -100;
	o->first = conc_loop_call(conc_loop_self(), counts, o);
	loosen_as();
	if (o->first)
		return 0;
	/* Told 0: the call must run. */
	end = now_ns() + BOUND;
	while (!__atomic_load_n(&o->ran, __ATOMIC_RELAXED) && now_ns() < end)
		conc_sleep(MS);
	return 0;
}

Test(loop_end, a_call_is_refused_or_runs_when_memory_runs_out)
{
	struct oom o;

	skip_under_asan();
	need_uring();
	memset(&o, 0, sizeof(o));
	cr_assert_eq(run(call_without_memory, &o), 0);
	cr_assert(o.first == 0 || o.first == -ENOMEM, "call: %d", o.first);
	cr_assert(o.first || o.ran == 1, "the call returned 0 and never ran");
}

static int floods(void *arg)
{
	struct oom *o = arg;
	int i;

	while (!__atomic_load_n(&o->go, __ATOMIC_ACQUIRE))
		sleep_ns(100000);
	for (i = 0; i < 100000 && !o->enomem; i++) {
		int r = conc_loop_call(o->loop, counts, o);

		if (r == 0)
			o->ok++;
		else if (r == -ENOMEM)
			o->enomem++;
		else
			o->other++;
	}
	set_flag(&o->done, 1);
	return 0;
}

/* A thread floods a loop that does not look (its main does not suspend)
 * with calls: each holds its task, stack and all, until it ran, so the
 * flood ends in -ENOMEM (the documented bound), and every call that was
 * accepted runs, under the same limit. */
static int flooded(void *arg)
{
	struct oom *o = arg;
	conc_thread *th;
	int64_t end;
	int r = 0;

	o->loop = conc_loop_self();
	if (conc_thread_start(&th, floods, o, NULL))
		return -1;
	if (tighten_as(64)) {
		r = -2;
		set_flag(&o->go, 1);
		wait_flag(&o->done, 30000);
		return r;
	}
	set_flag(&o->go, 1);
	if (!wait_flag(&o->done, 30000))
		r = -3;
	end = now_ns() + BOUND;
	while (__atomic_load_n(&o->ran, __ATOMIC_RELAXED) < (uint32_t)o->ok &&
	       now_ns() < end)
		conc_yield();
	loosen_as();
	if (conc_thread_join(th, NULL, BOUND))
		r = -4;
	return r;
}

Test(loop_end, a_flood_of_calls_ends_in_enomem_and_loses_none, .timeout = 60)
{
	struct oom o;

	skip_under_asan();
	need_uring();
	memset(&o, 0, sizeof(o));
	cr_assert_eq(run(flooded, &o), 0);
	cr_assert_eq(o.other, 0);
	cr_assert_gt(o.ok, 0);
	cr_assert_eq(o.enomem, 1, "the flood of %d calls never ran out", o.ok);
	cr_assert_eq(o.ran, (uint32_t)o.ok, "%d calls accepted, %u ran", o.ok, o.ran);
}
