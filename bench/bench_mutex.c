/* bench_mutex — conc_mutex against glibc's pthread_mutex:
 * 1. uncontended lock+unlock pairs in one thread, and the floor under any
 *    lock+unlock: one compare-exchange and one exchange on a word;
 * 2. two processes hammering one lock in a MAP_SHARED mapping. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <conc.h>
#include "bench.h"

#define PAIRS     2000000	/* uncontended pairs per run */
#define HAMMER_MS 150		/* length of one contended run */

/* ---- 1. uncontended ------------------------------------------------- */

static double unc_conc(void *arg)
{
	conc_mutex *m = arg;
	uint64_t t0 = bench_now_ns();

	for (int i = 0; i < PAIRS; i++)
		if (conc_mutex_lock(m) || conc_mutex_unlock(m))
			bench_die("conc_mutex");
	return (double)(bench_now_ns() - t0) / PAIRS;
}

static double unc_pthread(void *arg)
{
	pthread_mutex_t *m = arg;
	uint64_t t0 = bench_now_ns();

	for (int i = 0; i < PAIRS; i++)
		if (pthread_mutex_lock(m) || pthread_mutex_unlock(m))
			bench_die("pthread_mutex");
	return (double)(bench_now_ns() - t0) / PAIRS;
}

/* The least a lock+unlock can do: take the word with a compare-exchange
 * (it must fail when the word is taken) and give it back with an exchange
 * (it must see whether someone waits). Inline, with no call around it. */
static double unc_floor(void *arg)
{
	uint32_t *w = arg, me = (uint32_t)getpid();
	uint64_t t0 = bench_now_ns();

	for (int i = 0; i < PAIRS; i++) {
		uint32_t free_word = 0;

		if (!__atomic_compare_exchange_n(w, &free_word, me, 0,
						 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED) ||
		    __atomic_exchange_n(w, 0, __ATOMIC_RELEASE) != me)
			bench_die("floor");
	}
	return (double)(bench_now_ns() - t0) / PAIRS;
}

static void pm_init(pthread_mutex_t *m, int pshared, int robust)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, pshared ? PTHREAD_PROCESS_SHARED
						 : PTHREAD_PROCESS_PRIVATE);
	if (robust)
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (pthread_mutex_init(m, &a))
		bench_die("pthread_mutex_init");
	pthread_mutexattr_destroy(&a);
}

static void *nothing(void *arg)
{
	return arg;
}

static void uncontended(void)
{
	static conc_mutex cm, cm_priv, cm_rob;
	static pthread_mutex_t pm_shared, pm_priv, pm_rob;
	static uint32_t word __attribute__((aligned(64)));
	const struct bench_var single_v[] = {
		{ "pthread(private)", unc_pthread, &pm_priv },
	}, v[] = {
		{ "conc", unc_conc, &cm },
		{ "floor", unc_floor, &word },
		{ "pthread(pshared)", unc_pthread, &pm_shared },
		{ "conc", unc_conc, &cm_priv },
		{ "pthread(private,MT)", unc_pthread, &pm_priv },
		{ "conc", unc_conc, &cm_rob },
		{ "pthread(robust,psh)", unc_pthread, &pm_rob },
	};
	struct bench_set single, s;
	pthread_t t;

	conc_mutex_init(&cm, 0);
	conc_mutex_init(&cm_priv, CONC_PRIVATE);
	conc_mutex_init(&cm_rob, CONC_ROBUST);
	pm_init(&pm_shared, 1, 0);
	pm_init(&pm_priv, 0, 0);
	pm_init(&pm_rob, 1, 1);

	/* glibc skips atomics on a private mutex while the process has never
	 * had a second thread: shown for context, not used as the anchor. */
	bench_set_run(&single, single_v, 1);
	if (pthread_create(&t, NULL, nothing, NULL) || pthread_join(t, NULL))
		bench_die("pthread_create");

	bench_set_run(&s, v, 7);
	bench_cmp(&s, "mutex uncontended lock+unlock", "ns", 0, 1, 1);
	bench_cmp(&s, "mutex uncontended lock+unlock", "ns", 0, 2, 1);
	bench_cmp(&s, "mutex uncontended lock+unlock, private", "ns", 3, 4, 1);
	bench_cmp(&s, "mutex robust uncontended lock+unlock", "ns", 5, 6, 1);
	bench_fig(&single, "  pthread(private), no thread ever made", "ns", 0,
		  "glibc may skip atomics: not an anchor; MT = after one");
	printf("  (floor: one __atomic compare-exchange and one __atomic exchange\n"
	       "   on a word, inline: the least any lock+unlock does; target <= 1.2x.)\n");
}

/* ---- 2. two processes, one lock -------------------------------------- */

struct hammer {
	conc_mutex cm __attribute__((aligned(64)));
	pthread_mutex_t pm __attribute__((aligned(64)));
	uint64_t counter __attribute__((aligned(64)));
	int use_conc;
	uint32_t ready, go, stop;
	uint64_t done[2];
};

static struct hammer *H;
static double share[2][BENCH_REPS];	/* slower process's share, per run */
static int nshare[2];

static void hammer_child(void *arg)
{
	int me = (int)(intptr_t)arg, use_conc = H->use_conc;
	uint64_t n = 0;

	__atomic_fetch_add(&H->ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&H->go, __ATOMIC_ACQUIRE))
		;
	while (!__atomic_load_n(&H->stop, __ATOMIC_RELAXED)) {
		if (use_conc ? conc_mutex_lock(&H->cm) : pthread_mutex_lock(&H->pm))
			_exit(1);
		H->counter++;
		if (use_conc ? conc_mutex_unlock(&H->cm) : pthread_mutex_unlock(&H->pm))
			_exit(1);
		n++;
	}
	H->done[me] = n;
}

/* One run: total lock/unlock pairs per second (in millions), both
 * processes together; the final counter must equal the sum of pairs. */
static double hammer_run(void *arg)
{
	struct timespec d = { 0, HAMMER_MS * 1000000L };
	pid_t pid[2];
	uint64_t t0, t1;

	H->use_conc = (int)(intptr_t)arg;
	H->counter = 0;
	H->ready = H->go = H->stop = 0;
	H->done[0] = H->done[1] = 0;
	for (intptr_t i = 0; i < 2; i++)
		pid[i] = bench_fork(hammer_child, (void *)i);
	while (__atomic_load_n(&H->ready, __ATOMIC_SEQ_CST) < 2)
		sched_yield();
	t0 = bench_now_ns();
	__atomic_store_n(&H->go, 1, __ATOMIC_RELEASE);
	nanosleep(&d, NULL);
	__atomic_store_n(&H->stop, 1, __ATOMIC_RELAXED);
	t1 = bench_now_ns();
	bench_reap(pid[0]);
	bench_reap(pid[1]);
	if (H->counter != H->done[0] + H->done[1]) {
		fprintf(stderr, "bench: counter %llu != %llu pairs\n",
			(unsigned long long)H->counter,
			(unsigned long long)(H->done[0] + H->done[1]));
		exit(1);
	}
	if (nshare[H->use_conc] < BENCH_REPS && H->counter > 0)
		share[H->use_conc][nshare[H->use_conc]++] = 100.0 * (double)(H->done[0] < H->done[1] ?
				H->done[0] : H->done[1]) / (double)H->counter;
	return (double)H->counter / ((double)(t1 - t0) / 1e9) / 1e6;
}

static void contended(void)
{
	const struct bench_var v[] = {
		{ "conc", hammer_run, (void *)1 },
		{ "pthread(pshared)", hammer_run, (void *)0 },
	};
	struct bench_set s;

	H = bench_shared(sizeof(*H));
	conc_mutex_init(&H->cm, 0);
	pm_init(&H->pm, 1, 0);
	bench_set_run(&s, v, 2);
	bench_cmp(&s, "mutex 2 procs contended, pairs/s", "M/s", 0, 1, 0);
	if (nshare[0] != BENCH_REPS || nshare[1] != BENCH_REPS)
		bench_die("a contended run counted nothing");
	bench_what("  share of the slower process");
	bench_put("conc", share[1], BENCH_REPS, "%");
	bench_put("pthread", share[0], BENCH_REPS, "%");
	printf("  (50 %% is fair)\n");
}

int main(void)
{
	bench_banner("bench_mutex: conc_mutex vs pthread_mutex");
	bench_guard(30);
	uncontended();
	contended();
	return 0;
}
