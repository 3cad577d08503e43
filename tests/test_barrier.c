/* tests/test_barrier.c — conc_barrier between threads and between processes.
 * A broken barrier hangs its parties: threads are bounded by the test's
 * .timeout, processes by wait_child(); children leave with _exit(). */
#include <criterion/criterion.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <conc.h>
#include "helpers.h"

#define REAP_MS	15000

enum { OK = 0, E_RET = 10, E_EARLY, E_LATE };

/* fork_child(), but the child dies with the test process (PR_SET_PDEATHSIG):
 * a failed test leaves no waiter behind. */
static pid_t spawn(int (*fn)(void *), void *arg)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(127);
		_exit(fn(arg) & 0xff);
	}
	return pid;
}

#define MS(ms)	((int64_t)(ms) * 1000000)

/* ---- contract: arguments ---- */

Test(barrier, init_rejects_bad_arguments_and_leaves_state, .timeout = 20)
{
	conc_barrier b;

	cr_assert_eq(conc_barrier_init(NULL, 1, 0), -EINVAL);
	cr_assert_eq(conc_barrier_init(&b, 1, 0), 0);
	cr_assert_eq(conc_barrier_init(&b, 0, 0), -EINVAL);
	cr_assert_eq(conc_barrier_init(&b, (unsigned)INT32_MAX + 1, 0), -EINVAL);
	cr_assert_eq(conc_barrier_init(&b, UINT_MAX, 0), -EINVAL);
	cr_assert_eq(conc_barrier_init(&b, 2, CONC_RECURSIVE), -EINVAL);
	cr_assert_eq(conc_barrier_init(&b, 2, CONC_ROBUST), -EINVAL);
	cr_assert_eq(conc_barrier_init(&b, 2, CONC_PRIVATE | 0x20), -EINVAL);
	cr_assert_eq(conc_barrier_init(&b, 2, ~0u), -EINVAL);
	/* Still the one-party barrier: a lone wait passes (else: .timeout). */
	cr_assert_eq(conc_barrier_wait(&b), CONC_BARRIER_SERIAL);

	cr_assert_eq(conc_barrier_init(&b, INT32_MAX, 0), 0);
	cr_assert_eq(conc_barrier_init(&b, 3, CONC_PRIVATE), 0);
}

Test(barrier, null_and_zeroed_are_einval, .timeout = 20)
{
	conc_barrier z;

	memset(&z, 0, sizeof(z));
	cr_assert_eq(conc_barrier_wait(NULL), -EINVAL);
	cr_assert_eq(conc_barrier_wait(&z), -EINVAL);
	cr_assert_eq(conc_barrier_wait(&z), -EINVAL);
	/* The refused waits left it zeroed: it still initialises and works. */
	cr_assert_eq(conc_barrier_init(&z, 1, 0), 0);
	cr_assert_eq(conc_barrier_wait(&z), CONC_BARRIER_SERIAL);
}

Test(barrier, one_party_is_always_serial, .timeout = 20)
{
	conc_barrier b;
	int i;

	cr_assert_eq(conc_barrier_init(&b, 1, CONC_PRIVATE), 0);
	for (i = 0; i < 1000; i++)
		cr_assert_eq(conc_barrier_wait(&b), CONC_BARRIER_SERIAL);
}

/* ---- rounds ---- */

enum { MAXN = 8, MAXROUNDS = 3000 };

struct rounds {
	conc_barrier b;
	int n, rounds;
	uint32_t arrived[MAXROUNDS];	/* parties that reached round r */
	uint32_t passed[MAXROUNDS];	/* parties that left round r */
	uint32_t serial[MAXROUNDS];	/* CONC_BARRIER_SERIAL returned in r */
	uint32_t bad;
};

/*
 * Every party: count itself in, wait, then check that all n arrived (nobody
 * passes early) and that nobody is already in the round after next (nobody
 * passes a barrier twice in one round).
 */
static int party(struct rounds *s)
{
	int r;

	for (r = 0; r < s->rounds; r++) {
		int ret;

		__atomic_fetch_add(&s->arrived[r], 1, __ATOMIC_SEQ_CST);
		if ((r & 15) == 0)
			sched_yield();
		ret = conc_barrier_wait(&s->b);
		if (ret == CONC_BARRIER_SERIAL)
			__atomic_fetch_add(&s->serial[r], 1, __ATOMIC_SEQ_CST);
		else if (ret != 0)
			return E_RET;
		if (__atomic_load_n(&s->arrived[r], __ATOMIC_SEQ_CST) != (uint32_t)s->n)
			return E_EARLY;
		if (r + 1 < s->rounds &&
		    __atomic_load_n(&s->passed[r + 1], __ATOMIC_SEQ_CST) != 0)
			return E_LATE;
		__atomic_fetch_add(&s->passed[r], 1, __ATOMIC_SEQ_CST);
	}
	return OK;
}

static int party_child(void *arg)
{
	return party(arg);
}

static void *party_thread(void *arg)
{
	return (void *)(intptr_t)party(arg);
}

static void check_rounds(struct rounds *s)
{
	int r;

	for (r = 0; r < s->rounds; r++) {
		cr_assert_eq(s->arrived[r], (uint32_t)s->n, "round %d", r);
		cr_assert_eq(s->passed[r], (uint32_t)s->n, "round %d", r);
		cr_assert_eq(s->serial[r], 1, "round %d: %u serial parties",
			     r, s->serial[r]);
	}
}

static struct rounds *rounds_new(int n, int rounds, unsigned flags)
{
	struct rounds *s = shared_alloc(sizeof(*s));

	cr_assert_not_null(s);
	cr_assert_leq(rounds, MAXROUNDS);
	s->n = n;
	s->rounds = rounds;
	cr_assert_eq(conc_barrier_init(&s->b, (unsigned)n, flags), 0);
	return s;
}

static void rounds_threads(int n, int rounds, unsigned flags)
{
	struct rounds *s = rounds_new(n, rounds, flags);
	pthread_t t[MAXN];
	int i;

	for (i = 0; i < n; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, party_thread, s), 0);
	for (i = 0; i < n; i++) {
		void *ret;

		cr_assert_eq(join_thread(t[i], REAP_MS, &ret), 0, "party %d stuck", i);
		cr_assert_eq((intptr_t)ret, OK, "party %d: %d", i, (int)(intptr_t)ret);
	}
	check_rounds(s);
	shared_free(s, sizeof(*s));
}

static void rounds_processes(int n, int rounds)
{
	struct rounds *s = rounds_new(n, rounds, 0);
	pid_t pid[MAXN];
	int i;

	for (i = 0; i < n; i++)
		cr_assert_geq(pid[i] = spawn(party_child, s), 0);
	for (i = 0; i < n; i++) {
		int st = wait_child(pid[i], REAP_MS);

		cr_assert(exited_with(st, OK), "party %d: status %#x", i, st);
	}
	check_rounds(s);
	shared_free(s, sizeof(*s));
}

Test(barrier, one_serial_per_round_threads_private, .timeout = 20)
{
	rounds_threads(4, MAXROUNDS, CONC_PRIVATE);
}

Test(barrier, one_serial_per_round_threads_shared, .timeout = 20)
{
	rounds_threads(3, MAXROUNDS, 0);
}

Test(barrier, one_serial_per_round_many_threads, .timeout = 20)
{
	rounds_threads(MAXN, 500, CONC_PRIVATE);
}

Test(barrier, two_parties_threads, .timeout = 20)
{
	rounds_threads(2, MAXROUNDS, CONC_PRIVATE);
}

Test(barrier, one_serial_per_round_processes, .timeout = 20)
{
	rounds_processes(4, 2000);
}

Test(barrier, one_serial_per_round_many_processes, .timeout = 20)
{
	rounds_processes(MAXN, 300);
}

/* ---- more callers than parties ---- */

/*
 * As with Python's Barrier, callers beyond the nth of a round belong to the
 * next one: the round still ends after exactly n arrivals, and an extra
 * caller waits for n - 1 more. The callers share XCALLS arrivals, a
 * multiple of n, so every round gets its n parties. Each counts its
 * arrival before the wait and its return after: rounds end in order, each
 * once its n parties have arrived, so however the callers interleave, the
 * returns counted so far are at most n times floor(arrivals / n). A lost
 * arrival (an extra caller counted over by the round's reset) leaves the
 * last caller without parties.
 */
enum { XCALLS = 36000 };	/* arrivals in all: a multiple of every n used */

struct extra {
	conc_barrier b;
	uint32_t n;
	uint32_t arrivals, returns, serial;
};

static int extra_caller(struct extra *x)
{
	uint32_t ret, arr;
	int r;

	while (__atomic_fetch_add(&x->arrivals, 1, __ATOMIC_SEQ_CST) < XCALLS) {
		/* Bounds a stranded caller; never reached otherwise. */
		r = conc_barrier_wait_timed(&x->b, MS(REAP_MS - 5000));
		if (r == CONC_BARRIER_SERIAL)
			__atomic_fetch_add(&x->serial, 1, __ATOMIC_SEQ_CST);
		else if (r != 0)
			return E_RET;
		ret = __atomic_add_fetch(&x->returns, 1, __ATOMIC_SEQ_CST);
		arr = __atomic_load_n(&x->arrivals, __ATOMIC_SEQ_CST);
		if (arr > XCALLS)	/* those beyond did not arrive */
			arr = XCALLS;
		if (ret > arr / x->n * x->n)
			return E_EARLY;
	}
	return OK;
}

static int extra_child(void *arg)
{
	return extra_caller(arg);
}

static void *extra_thread(void *arg)
{
	return (void *)(intptr_t)extra_caller(arg);
}

static void extra_check(struct extra *x)
{
	cr_assert_eq(x->returns, XCALLS);
	cr_assert_eq(x->serial, XCALLS / x->n,
		     "%u serial returns", x->serial);
	shared_free(x, sizeof(*x));
}

static struct extra *extra_new(unsigned n, unsigned flags)
{
	struct extra *x = shared_alloc(sizeof(*x));

	cr_assert_not_null(x);
	x->n = n;
	cr_assert_eq(conc_barrier_init(&x->b, n, flags), 0);
	return x;
}

static void extra_run(struct extra *x, int callers)
{
	pthread_t t[MAXN];
	void *ret;

	for (int i = 0; i < callers; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, extra_thread, x), 0);
	for (int i = 0; i < callers; i++) {
		cr_assert_eq(join_thread(t[i], REAP_MS, &ret), 0, "caller %d stuck", i);
		cr_assert_eq((intptr_t)ret, OK, "caller %d: %d", i, (int)(intptr_t)ret);
	}
	extra_check(x);
}

static void extra_threads(unsigned n, int callers, unsigned flags)
{
	extra_run(extra_new(n, flags), callers);
}

Test(barrier, extra_callers_wait_for_the_next_round_threads, .timeout = 40)
{
	extra_threads(2, 3, 0);
	extra_threads(2, 4, CONC_PRIVATE);
	extra_threads(3, 5, 0);
}

/* Arrivals are counted modulo a multiple of n below 2^32, rounds modulo
 * that over n: start two rounds before both wrap (what a barrier reaches
 * after about 2^32 arrivals) and go on through them. */
Test(barrier, extra_callers_across_the_wrap_of_the_counts, .timeout = 40)
{
	for (unsigned n = 2; n <= 5; n++) {
		struct extra *x = extra_new(n, 0);
		uint64_t w = ((uint64_t)1 << 32) / n * n;

		x->b.arrived = (uint32_t)(w - 2 * n);
		x->b.seq = (uint32_t)(w / n - 2);
		extra_run(x, (int)n + 1);
	}
}

Test(barrier, extra_callers_wait_for_the_next_round_processes, .timeout = 40)
{
	struct extra *x = extra_new(2, 0);
	pid_t pid[3];

	for (int i = 0; i < 3; i++)
		cr_assert_geq(pid[i] = spawn(extra_child, x), 0);
	for (int i = 0; i < 3; i++) {
		int st = wait_child(pid[i], REAP_MS);

		cr_assert(exited_with(st, OK), "caller %d: status %#x", i, st);
	}
	extra_check(x);
}

/* ---- nobody passes before the last one arrives ---- */

struct gate {
	conc_barrier b;
	uint32_t started[MAXN];
	uint32_t passed;
	int ret[MAXN];
};

struct garg {
	struct gate *g;
	int idx;
};

static int gate_party(void *arg)
{
	struct garg *a = arg;
	int r;

	set_flag(&a->g->started[a->idx], 1);
	r = conc_barrier_wait(&a->g->b);
	__atomic_fetch_add(&a->g->passed, 1, __ATOMIC_SEQ_CST);
	return r == 0 ? OK : r == CONC_BARRIER_SERIAL ? 1 : E_RET;
}

/* n-1 processes sleep in the barrier and stay there until the last comes. */
Test(barrier, sleepers_wait_for_the_last_process, .timeout = 20)
{
	enum { N = 5 };
	struct gate *g = shared_alloc(sizeof(*g));
	struct garg a[N - 1];
	pid_t pid[N - 1];
	int i, r, serial = 0;

	cr_assert_not_null(g);
	cr_assert_eq(conc_barrier_init(&g->b, N, 0), 0);
	for (i = 0; i < N - 1; i++) {
		a[i] = (struct garg){ g, i };
		cr_assert_geq(pid[i] = spawn(gate_party, &a[i]), 0);
	}
	for (i = 0; i < N - 1; i++) {
		cr_assert(wait_flag(&g->started[i], 5000));
		cr_assert(wait_thread_sleeping(pid[i], pid[i], 5000));
	}
	sleep_ns(MS(20));
	cr_assert_eq(g->passed, 0, "a party passed before all arrived");
	r = conc_barrier_wait(&g->b);
	cr_assert(r == 0 || r == CONC_BARRIER_SERIAL, "last arrival: %d", r);
	serial += r == CONC_BARRIER_SERIAL;
	for (i = 0; i < N - 1; i++) {
		int st = wait_child(pid[i], REAP_MS);

		cr_assert(exited_with(st, OK) || exited_with(st, 1),
			  "party %d: status %#x", i, st);
		serial += exited_with(st, 1);
	}
	cr_assert_eq(serial, 1, "%d serial parties", serial);
	cr_assert_eq(g->passed, N - 1);
	shared_free(g, sizeof(*g));
}

/* ---- signals do not end waits ---- */

static void on_signal(int sig)
{
	(void)sig;
}

struct sigparty {
	conc_barrier *b;
	uint32_t started;
	int r;
};

static void *sig_party(void *arg)
{
	struct sigparty *p = arg;

	set_flag(&p->started, 1);
	__atomic_store_n(&p->r, conc_barrier_wait(p->b), __ATOMIC_RELEASE);
	return NULL;
}

Test(barrier, signals_do_not_end_waits, .timeout = 20)
{
	enum { N = 3 };
	struct sigparty p[N - 1];
	struct sigaction sa;
	conc_barrier b;
	pthread_t t[N - 1];
	int64_t end;
	int i, r, serial;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	cr_assert_eq(conc_barrier_init(&b, N, CONC_PRIVATE), 0);
	for (i = 0; i < N - 1; i++) {
		p[i] = (struct sigparty){ .b = &b, .r = -1000 };
		cr_assert_eq(pthread_create(&t[i], NULL, sig_party, &p[i]), 0);
		cr_assert(wait_flag(&p[i].started, 5000));
	}
	for (end = now_ns() + MS(50); now_ns() < end; sleep_ns(MS(1) / 2))
		for (i = 0; i < N - 1; i++)
			pthread_kill(t[i], SIGUSR1);
	for (i = 0; i < N - 1; i++)
		cr_assert_eq(__atomic_load_n(&p[i].r, __ATOMIC_ACQUIRE), -1000,
			     "party %d left before the last arrived", i);
	r = conc_barrier_wait(&b);
	serial = r == CONC_BARRIER_SERIAL;
	for (i = 0; i < N - 1; i++) {
		cr_assert_eq(join_thread(t[i], REAP_MS, NULL), 0);
		cr_assert(p[i].r == 0 || p[i].r == CONC_BARRIER_SERIAL, "party %d: %d",
			  i, p[i].r);
		serial += p[i].r == CONC_BARRIER_SERIAL;
	}
	cr_assert_eq(serial, 1);
}

/* ---- timeouts break the barrier (Python's BrokenBarrierError) ---------- */

Test(barrier_timed, a_lone_party_times_out_and_breaks_it, .timeout = 20)
{
	conc_barrier b;

	cr_assert_eq(conc_barrier_init(&b, 2, 0), 0);
	cr_assert_eq(conc_barrier_wait_timed(&b, 20000000), -ETIMEDOUT);
	cr_assert_eq(conc_barrier_wait_timed(&b, 0), -EPIPE);
	cr_assert_eq(conc_barrier_wait(&b), -EPIPE);
	cr_assert_eq(conc_barrier_init(&b, 1, 0), 0);
	cr_assert_eq(conc_barrier_wait_timed(&b, 0), CONC_BARRIER_SERIAL,
		     "init repairs it");
}

static void *wait_forever(void *b)
{
	return (void *)(intptr_t)conc_barrier_wait(b);
}

Test(barrier_timed, the_others_of_the_round_get_epipe, .timeout = 20)
{
	static conc_barrier b;
	pthread_t t[2];
	void *r;

	cr_assert_eq(conc_barrier_init(&b, 4, CONC_PRIVATE), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, wait_forever, &b), 0);
	while (__atomic_load_n(&b.arrived, __ATOMIC_ACQUIRE) < 2)
		sched_yield();
	cr_assert_eq(conc_barrier_wait_timed(&b, 50000000), -ETIMEDOUT);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(join_thread(t[i], 5000, &r), 0, "waiter stranded");
		cr_assert_eq((intptr_t)r, -EPIPE);
	}
}

Test(barrier_timed, a_round_that_completes_in_time_is_not_broken, .timeout = 20)
{
	static conc_barrier b;
	pthread_t t;
	void *r;

	cr_assert_eq(conc_barrier_init(&b, 2, 0), 0);
	for (int round = 0; round < 100; round++) {
		cr_assert_eq(pthread_create(&t, NULL, wait_forever, &b), 0);
		int me = conc_barrier_wait_timed(&b, 10000000000LL);
		cr_assert_eq(join_thread(t, 5000, &r), 0);
		cr_assert(me >= 0 && (intptr_t)r >= 0, "round %d: %d %d",
			  round, me, (int)(intptr_t)r);
		cr_assert_eq(me + (intptr_t)r, CONC_BARRIER_SERIAL);
	}
}
