/* bench_thread — conc_thread_start+join against pthread_create+join:
 * 1. one start, then its join, in a loop (conc hands the job to the thread
 *    the previous join left parked; glibc reuses a cached stack but clones
 *    a new task every time);
 * 2. batches of 8 starts, then the 8 joins;
 * 3. for context, the first start of a process (no parked thread: a clone). */
#include <errno.h>
#include <pthread.h>
#include <conc.h>
#include "bench.h"

#define SEQ_N	2000		/* start+join pairs per run */
#define BATCH	8
#define BATCH_N	300		/* batches per run */

static int conc_nothing(void *arg)
{
	__atomic_fetch_add((uint64_t *)arg, 1, __ATOMIC_RELAXED);
	return 0;
}

static void *pthread_nothing(void *arg)
{
	__atomic_fetch_add((uint64_t *)arg, 1, __ATOMIC_RELAXED);
	return NULL;
}

static uint64_t ran;

static void check_ran(uint64_t want)
{
	if (__atomic_load_n(&ran, __ATOMIC_RELAXED) != want)
		bench_die("a thread did not run its function");
}

static void conc_one(conc_thread **t)
{
	int r = conc_thread_start(t, conc_nothing, &ran, NULL);

	if (r)
		bench_die(r == -ENOTSUP ? "conc_thread_start: -ENOTSUP (C library not supported)"
					: "conc_thread_start");
}

static void conc_join(conc_thread *t)
{
	int code = -1;

	if (conc_thread_join(t, &code, CONC_FOREVER) || code != 0)
		bench_die("conc_thread_join");
}

static void pthread_one(pthread_t *t)
{
	if (pthread_create(t, NULL, pthread_nothing, &ran))
		bench_die("pthread_create");
}

static void pthread_join1(pthread_t t)
{
	if (pthread_join(t, NULL))
		bench_die("pthread_join");
}

/* ---- 1. sequential ------------------------------------------------------ */

static double seq_conc(void *arg)
{
	conc_thread *t;
	uint64_t t0;

	(void)arg;
	ran = 0;
	t0 = bench_now_ns();
	for (int i = 0; i < SEQ_N; i++) {
		conc_one(&t);
		conc_join(t);
	}
	t0 = bench_now_ns() - t0;
	check_ran(SEQ_N);
	return (double)t0 / SEQ_N / 1e3;
}

static double seq_pthread(void *arg)
{
	pthread_t t;
	uint64_t t0;

	(void)arg;
	ran = 0;
	t0 = bench_now_ns();
	for (int i = 0; i < SEQ_N; i++) {
		pthread_one(&t);
		pthread_join1(t);
	}
	t0 = bench_now_ns() - t0;
	check_ran(SEQ_N);
	return (double)t0 / SEQ_N / 1e3;
}

/* ---- 2. batches of 8 ---------------------------------------------------- */

static double batch_conc(void *arg)
{
	conc_thread *t[BATCH];
	uint64_t t0;

	(void)arg;
	ran = 0;
	t0 = bench_now_ns();
	for (int i = 0; i < BATCH_N; i++) {
		for (int k = 0; k < BATCH; k++)
			conc_one(&t[k]);
		for (int k = 0; k < BATCH; k++)
			conc_join(t[k]);
	}
	t0 = bench_now_ns() - t0;
	check_ran((uint64_t)BATCH_N * BATCH);
	return (double)t0 / BATCH_N / 1e3;
}

static double batch_pthread(void *arg)
{
	pthread_t t[BATCH];
	uint64_t t0;

	(void)arg;
	ran = 0;
	t0 = bench_now_ns();
	for (int i = 0; i < BATCH_N; i++) {
		for (int k = 0; k < BATCH; k++)
			pthread_one(&t[k]);
		for (int k = 0; k < BATCH; k++)
			pthread_join1(t[k]);
	}
	t0 = bench_now_ns() - t0;
	check_ran((uint64_t)BATCH_N * BATCH);
	return (double)t0 / BATCH_N / 1e3;
}

/* ---- 3. first start of a process ---------------------------------------- */

static double *first;		/* shared with the child */

static void first_child(void *arg)
{
	conc_thread *t;
	uint64_t t0;

	(void)arg;
	t0 = bench_now_ns();
	conc_one(&t);
	conc_join(t);
	*first = (double)(bench_now_ns() - t0) / 1e3;
}

static double first_conc(void *arg)
{
	(void)arg;
	bench_reap(bench_fork(first_child, NULL));
	return *first;
}

int main(void)
{
	const struct bench_var v[] = {
		{ "conc", seq_conc, NULL },
		{ "pthread_create+join", seq_pthread, NULL },
		{ "conc", batch_conc, NULL },
		{ "pthread_create+join", batch_pthread, NULL },
	}, f[] = { { "conc", first_conc, NULL } };
	struct bench_set s, fs;

	bench_banner("bench_thread: conc_thread start+join vs pthread_create+join");
	first = bench_shared(sizeof(*first));
	/* Warm both up: conc parks its first threads, glibc caches stacks. */
	bench_guard(30);
	batch_conc(NULL);
	batch_pthread(NULL);
	bench_set_run(&s, v, 4);
	bench_cmp(&s, "thread start+join, sequential", "us", 0, 1, 1);
	bench_cmp(&s, "thread 8 starts then 8 joins, per batch", "us", 2, 3, 1);
	bench_set_run(&fs, f, 1);
	bench_fig(&fs, "  first start+join of a process", "us", 0,
		  "a clone: no parked thread yet");
	printf("  (conc hands a start to a thread that an earlier join left parked;\n"
	       "   glibc reuses a joined thread's stack but clones a new task each time.)\n");
	fflush(stdout);
	return 0;
}
