/* tests/test_sem.c — conc_sem: counting semaphore between threads and
 * between processes. Every wait is bounded; children leave with _exit(). */
#include <criterion/criterion.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <conc.h>
#include "helpers.h"

#define MS(ms)	((int64_t)(ms) * 1000000)
/* A wait that must end gives up after BOUND: longer than any join or reap
 * bound below, so that a lost wake-up shows as a stuck worker, not a slow one. */
#define BOUND	MS(30000)
#define REAP_MS	15000

/* Child exit codes. */
enum { OK = 0, E_WAIT = 10, E_POST, E_PAIR };

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

/* ---- contract: arguments ---- */

Test(sem, init_rejects_bad_arguments_and_leaves_state)
{
	conc_sem s;

	cr_assert_eq(conc_sem_init(NULL, 0, 0), -EINVAL);
	cr_assert_eq(conc_sem_init(&s, 3, 0), 0);
	cr_assert_eq(conc_sem_value(&s), 3);

	cr_assert_eq(conc_sem_init(&s, (unsigned)CONC_SEM_VALUE_MAX + 1, 0), -EINVAL);
	cr_assert_eq(conc_sem_init(&s, UINT_MAX, 0), -EINVAL);
	cr_assert_eq(conc_sem_init(&s, 1, CONC_RECURSIVE), -EINVAL);
	cr_assert_eq(conc_sem_init(&s, 1, CONC_ROBUST), -EINVAL);
	cr_assert_eq(conc_sem_init(&s, 1, CONC_PRIVATE | 0x80), -EINVAL);
	cr_assert_eq(conc_sem_init(&s, 1, ~0u), -EINVAL);
	/* A refused init changed nothing. */
	cr_assert_eq(conc_sem_value(&s), 3);

	cr_assert_eq(conc_sem_init(&s, CONC_SEM_VALUE_MAX, 0), 0);
	cr_assert_eq(conc_sem_value(&s), CONC_SEM_VALUE_MAX);
	cr_assert_eq(conc_sem_init(&s, 0, CONC_PRIVATE), 0);
	cr_assert_eq(conc_sem_value(&s), 0);
}

Test(sem, null_is_einval)
{
	cr_assert_eq(conc_sem_post(NULL), -EINVAL);
	cr_assert_eq(conc_sem_wait(NULL), -EINVAL);
	cr_assert_eq(conc_sem_trywait(NULL), -EINVAL);
	cr_assert_eq(conc_sem_timedwait(NULL, 0), -EINVAL);
	cr_assert_eq(conc_sem_timedwait(NULL, MS(1)), -EINVAL);
	cr_assert_eq(conc_sem_timedwait(NULL, CONC_FOREVER), -EINVAL);
	cr_assert_eq(conc_sem_value(NULL), -EINVAL);
}

/* ---- single-threaded behaviour ---- */

Test(sem, zeroed_and_static_initialiser)
{
	conc_sem z, st = CONC_SEM_INIT(2);

	memset(&z, 0, sizeof(z));
	cr_assert_eq(conc_sem_value(&z), 0);
	cr_assert_eq(conc_sem_trywait(&z), -EAGAIN);
	cr_assert_eq(conc_sem_post(&z), 0);
	cr_assert_eq(conc_sem_value(&z), 1);
	cr_assert_eq(conc_sem_trywait(&z), 0);
	cr_assert_eq(conc_sem_trywait(&z), -EAGAIN);
	cr_assert_eq(conc_sem_value(&z), 0);

	cr_assert_eq(conc_sem_value(&st), 2);
	cr_assert_eq(conc_sem_wait(&st), 0);
	cr_assert_eq(conc_sem_wait(&st), 0);
	cr_assert_eq(conc_sem_trywait(&st), -EAGAIN);
	cr_assert_eq(conc_sem_value(&st), 0);
}

static void post_wait_counts(unsigned flags)
{
	conc_sem s;
	int i;

	cr_assert_eq(conc_sem_init(&s, 0, flags), 0);
	for (i = 0; i < 5; i++)
		cr_assert_eq(conc_sem_post(&s), 0);
	cr_assert_eq(conc_sem_value(&s), 5);
	cr_assert_eq(conc_sem_wait(&s), 0);
	cr_assert_eq(conc_sem_trywait(&s), 0);
	cr_assert_eq(conc_sem_timedwait(&s, 0), 0);
	cr_assert_eq(conc_sem_timedwait(&s, CONC_FOREVER), 0);
	cr_assert_eq(conc_sem_timedwait(&s, MS(1000)), 0);
	cr_assert_eq(conc_sem_value(&s), 0);
	cr_assert_eq(conc_sem_trywait(&s), -EAGAIN);
	cr_assert_eq(conc_sem_timedwait(&s, 0), -ETIMEDOUT);
	cr_assert_eq(conc_sem_value(&s), 0);
}

Test(sem, post_wait_trywait_value) { post_wait_counts(0); }
Test(sem, post_wait_trywait_value_private) { post_wait_counts(CONC_PRIVATE); }

static void timeout_no_earlier(unsigned flags)
{
	static const int64_t tmo[] = { MS(1), MS(20), MS(60) };
	conc_sem s;
	size_t i;

	cr_assert_eq(conc_sem_init(&s, 0, flags), 0);
	for (i = 0; i < sizeof(tmo) / sizeof(tmo[0]); i++) {
		int64_t t0 = now_ns();
		int r = conc_sem_timedwait(&s, tmo[i]);
		int64_t dt = now_ns() - t0;

		cr_assert_eq(r, -ETIMEDOUT, "timedwait(%lld ns) = %d", (long long)tmo[i], r);
		cr_assert_geq(dt, tmo[i], "timed out after %lld ns < %lld ns",
			      (long long)dt, (long long)tmo[i]);
		cr_assert_eq(conc_sem_value(&s), 0);
	}
}

Test(sem, timedwait_times_out_no_earlier) { timeout_no_earlier(0); }
Test(sem, timedwait_times_out_no_earlier_private) { timeout_no_earlier(CONC_PRIVATE); }

Test(sem, post_overflow)
{
	conc_sem s = CONC_SEM_INIT(CONC_SEM_VALUE_MAX);

	cr_assert_eq(conc_sem_post(&s), -EOVERFLOW);
	cr_assert_eq(conc_sem_value(&s), CONC_SEM_VALUE_MAX);
	cr_assert_eq(conc_sem_trywait(&s), 0);
	cr_assert_eq(conc_sem_value(&s), CONC_SEM_VALUE_MAX - 1);
	cr_assert_eq(conc_sem_post(&s), 0);
	cr_assert_eq(conc_sem_post(&s), -EOVERFLOW);
	cr_assert_eq(conc_sem_value(&s), CONC_SEM_VALUE_MAX);

	cr_assert_eq(conc_sem_init(&s, CONC_SEM_VALUE_MAX - 1, CONC_PRIVATE), 0);
	cr_assert_eq(conc_sem_post(&s), 0);
	cr_assert_eq(conc_sem_post(&s), -EOVERFLOW);
	cr_assert_eq(conc_sem_value(&s), CONC_SEM_VALUE_MAX);
}

/* ---- between threads ---- */

struct waiter {
	conc_sem *s;
	int64_t timeout, elapsed;
	pid_t tid;
	uint32_t started;
	int r;
};

static void *waiter_thread(void *arg)
{
	struct waiter *w = arg;

	w->tid = gettid();
	set_flag(&w->started, 1);
	w->r = w->timeout == CONC_FOREVER ? conc_sem_wait(w->s)
					  : conc_sem_timedwait(w->s, w->timeout);
	return NULL;
}

static void wakes_sleeping_threads(unsigned flags, int64_t timeout)
{
	enum { N = 4 };
	struct waiter w[N];
	pthread_t t[N];
	conc_sem s;
	int i;

	cr_assert_eq(conc_sem_init(&s, 0, flags), 0);
	for (i = 0; i < N; i++) {
		w[i] = (struct waiter){ .s = &s, .timeout = timeout };
		cr_assert_eq(pthread_create(&t[i], NULL, waiter_thread, &w[i]), 0);
	}
	for (i = 0; i < N; i++) {
		cr_assert(wait_flag(&w[i].started, 5000));
		cr_assert(wait_thread_sleeping(getpid(), w[i].tid, 5000),
			  "waiter %d never went to sleep", i);
	}
	for (i = 0; i < N; i++)
		cr_assert_eq(conc_sem_post(&s), 0);
	for (i = 0; i < N; i++) {
		cr_assert_eq(join_thread(t[i], 10000, NULL), 0, "waiter %d stuck", i);
		cr_assert_eq(w[i].r, 0, "waiter %d: %d", i, w[i].r);
	}
	cr_assert_eq(conc_sem_value(&s), 0);
}

Test(sem, post_wakes_sleeping_threads_private, .timeout = 20)
{
	wakes_sleeping_threads(CONC_PRIVATE, CONC_FOREVER);
}

Test(sem, post_wakes_timed_waiters_threads, .timeout = 20)
{
	wakes_sleeping_threads(0, BOUND);
}

/* How often thread tid has slept and been woken (voluntary switches). */
static long woken_count(pid_t tid)
{
	char path[64], line[128];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * A shared semaphore's only sleeper sleeps without the periodic re-check.
 * When a second waiter comes, a post may wake that one first (a real-time
 * waiter jumps the queue); if it dies woken, the first must not sleep on
 * with a permit free. So company wakes the first sleeper to re-check.
 */
Test(sem, lone_sleeper_rechecks_once_it_has_company, .timeout = 30)
{
	struct waiter a, b;
	pthread_t ta, tb;
	conc_sem s;
	long n0, n = -1;
	int64_t end;

	cr_assert_eq(conc_sem_init(&s, 0, 0), 0);
	a = (struct waiter){ .s = &s, .timeout = BOUND };
	b = a;
	cr_assert_eq(pthread_create(&ta, NULL, waiter_thread, &a), 0);
	cr_assert(wait_flag(&a.started, 5000));
	cr_assert(wait_thread_sleeping(getpid(), a.tid, 5000));
	n0 = woken_count(a.tid);
	cr_assert_geq(n0, 0);
	cr_assert_eq(pthread_create(&tb, NULL, waiter_thread, &b), 0);
	cr_assert(wait_flag(&b.started, 5000));
	for (end = now_ns() + MS(5000); now_ns() < end; sleep_ns(MS(10))) {
		n = woken_count(a.tid);
		if (n > n0)
			break;
	}
	cr_assert_gt(n, n0, "the first sleeper was never woken to re-check");
	cr_assert_eq(conc_sem_post(&s), 0);
	cr_assert_eq(conc_sem_post(&s), 0);
	cr_assert_eq(join_thread(ta, 10000, NULL), 0);
	cr_assert_eq(join_thread(tb, 10000, NULL), 0);
	cr_assert_eq(a.r, 0);
	cr_assert_eq(b.r, 0);
}

/* ---- signals ---- */

static conc_sem *handler_sem;

static void on_signal(int sig)
{
	(void)sig;
	if (handler_sem)
		conc_sem_post(handler_sem);
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
}

/* SIGUSR1 to thread t every half millisecond for ms milliseconds. */
static void pester(pthread_t t, int ms)
{
	int64_t end = now_ns() + MS(ms);

	while (now_ns() < end) {
		pthread_kill(t, SIGUSR1);
		sleep_ns(MS(1) / 2);
	}
}

static void *timed_thread(void *arg)
{
	struct waiter *w = arg;
	int64_t t0;
	int r;

	w->tid = gettid();
	set_flag(&w->started, 1);
	t0 = now_ns();
	r = w->timeout == CONC_FOREVER ? conc_sem_wait(w->s)
				       : conc_sem_timedwait(w->s, w->timeout);
	w->elapsed = now_ns() - t0;
	__atomic_store_n(&w->r, r, __ATOMIC_RELEASE);
	return NULL;
}

Test(sem, signals_do_not_end_waits, .timeout = 20)
{
	struct waiter w = { .timeout = MS(150), .r = 1 };
	pthread_t t;
	conc_sem s;

	install();
	cr_assert_eq(conc_sem_init(&s, 0, CONC_PRIVATE), 0);
	w.s = &s;
	cr_assert_eq(pthread_create(&t, NULL, timed_thread, &w), 0);
	cr_assert(wait_flag(&w.started, 5000));
	pester(t, 60);
	cr_assert_eq(join_thread(t, 10000, NULL), 0);
	cr_assert_eq(w.r, -ETIMEDOUT, "timedwait: %d", w.r);
	cr_assert_geq(w.elapsed, MS(150), "timed out after %lld ns", (long long)w.elapsed);

	w = (struct waiter){ .s = &s, .timeout = CONC_FOREVER, .r = 1 };
	cr_assert_eq(pthread_create(&t, NULL, timed_thread, &w), 0);
	cr_assert(wait_flag(&w.started, 5000));
	pester(t, 40);
	cr_assert_eq(__atomic_load_n(&w.r, __ATOMIC_ACQUIRE), 1,
		     "wait returned without a permit");
	cr_assert_eq(conc_sem_post(&s), 0);
	cr_assert_eq(join_thread(t, 10000, NULL), 0);
	cr_assert_eq(w.r, 0);
	cr_assert_eq(conc_sem_value(&s), 0);
}

/* conc_sem_post(3): a signal handler may call it, here in the very thread
 * that sleeps on the semaphore. */
Test(sem, post_from_signal_handler_wakes_the_sleeper, .timeout = 20)
{
	struct waiter w = { .timeout = CONC_FOREVER, .r = 1 };
	pthread_t t;
	conc_sem s = CONC_SEM_INIT(0);

	install();
	w.s = &s;
	cr_assert_eq(pthread_create(&t, NULL, timed_thread, &w), 0);
	cr_assert(wait_flag(&w.started, 5000));
	cr_assert(wait_thread_sleeping(getpid(), w.tid, 5000));
	handler_sem = &s;
	cr_assert_eq(pthread_kill(t, SIGUSR1), 0);
	cr_assert_eq(join_thread(t, 10000, NULL), 0, "not woken by the handler's post");
	cr_assert_eq(w.r, 0);
	cr_assert_eq(conc_sem_value(&s), 0);
}

/* Exactly value permits go to racing trywait callers. */
struct tryer {
	conc_sem *s;
	uint32_t *go;
	int got;
};

static void *trywait_thread(void *arg)
{
	struct tryer *t = arg;

	while (!__atomic_load_n(t->go, __ATOMIC_ACQUIRE))
		sched_yield();
	while (conc_sem_trywait(t->s) == 0)
		t->got++;
	return NULL;
}

Test(sem, racing_trywait_takes_exactly_value, .timeout = 20)
{
	enum { N = 4, V = 2000000 };
	struct tryer tr[N];
	pthread_t t[N];
	uint32_t go = 0;
	conc_sem s;
	int i, total = 0;

	cr_assert_eq(conc_sem_init(&s, V, CONC_PRIVATE), 0);
	for (i = 0; i < N; i++) {
		tr[i] = (struct tryer){ .s = &s, .go = &go };
		cr_assert_eq(pthread_create(&t[i], NULL, trywait_thread, &tr[i]), 0);
	}
	set_flag(&go, 1);
	for (i = 0; i < N; i++) {
		cr_assert_eq(join_thread(t[i], 10000, NULL), 0);
		total += tr[i].got;
	}
	cr_assert_eq(total, V);
	cr_assert_eq(conc_sem_value(&s), 0);
}

/* ---- "a semaphore of 2 never admits a third" ---- */

struct room {
	conc_sem s;
	uint32_t inside;
	uint32_t max;
	uint32_t entries;
	uint32_t errors;
	uint32_t arrived;	/* visitors at the door, so they overlap */
	uint32_t pair;		/* 1: two were inside at once; 2: never */
};

#define PAIR_MS	10000

/* pair goes from 0 to v once. */
static void room_pair(struct room *r, uint32_t v)
{
	uint32_t zero = 0;

	__atomic_compare_exchange_n(&r->pair, &zero, v, 0, __ATOMIC_SEQ_CST,
				    __ATOMIC_SEQ_CST);
}

static void room_note_max(struct room *r, uint32_t in)
{
	uint32_t m = __atomic_load_n(&r->max, __ATOMIC_RELAXED);

	while (in > m && !__atomic_compare_exchange_n(&r->max, &m, in, 0,
						      __ATOMIC_RELAXED,
						      __ATOMIC_RELAXED))
		;
}

static int room_visit(struct room *r, int iters)
{
	int i, k, ret = OK;

	/* Start together, so that they contend from the first visit. */
	__atomic_add_fetch(&r->arrived, 1, __ATOMIC_SEQ_CST);
	for (k = 0; k < 2000000 && __atomic_load_n(&r->arrived, __ATOMIC_SEQ_CST) < 2; k++)
		sched_yield();
	for (i = 0; i < iters; i++) {
		uint32_t in;

		if (conc_sem_timedwait(&r->s, BOUND) != 0)
			return E_WAIT;
		in = __atomic_add_fetch(&r->inside, 1, __ATOMIC_SEQ_CST);
		room_note_max(r, in);
		__atomic_fetch_add(&r->entries, 1, __ATOMIC_RELAXED);
		/* Whether visitors ever overlap on their own is the
		 * scheduler's choice (under load they may run one after
		 * another): each first visit waits inside, holding its permit,
		 * until a second visitor got in beside it, which the second
		 * permit must allow. */
		if (in == 2)
			room_pair(r, 1);
		if (i == 0 && !wait_flag(&r->pair, PAIR_MS)) {
			room_pair(r, 2);	/* the others need not wait */
			ret = E_PAIR;
		}
		/* Stay a little, sometimes giving the CPU away, so that
		 * visitors overlap. */
		for (k = 0; k < 50; k++)
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
		/* Give the CPU away inside, so that on one CPU too another
		 * visitor runs while this one holds a permit. */
		if ((i & 3) == 0 || in == 1)
			sched_yield();
		__atomic_sub_fetch(&r->inside, 1, __ATOMIC_SEQ_CST);
		if (conc_sem_post(&r->s) != 0)
			return E_POST;
	}
	return ret;
}

static int room_child(void *arg)
{
	return room_visit(arg, 3000);
}

static void *room_thread(void *arg)
{
	struct room *r = arg;

	if (room_visit(r, 3000) != OK)
		__atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
	return NULL;
}

Test(sem, two_never_admits_a_third_processes, .timeout = 20)
{
	enum { NPROC = 5 };
	struct room *r = shared_alloc(sizeof(*r));
	pid_t pid[NPROC];
	int i;

	cr_assert_not_null(r);
	cr_assert_eq(conc_sem_init(&r->s, 2, 0), 0);
	for (i = 0; i < NPROC; i++) {
		pid[i] = spawn(room_child, r);
		cr_assert_geq(pid[i], 0);
	}
	for (i = 0; i < NPROC; i++) {
		int st = wait_child(pid[i], REAP_MS);

		cr_assert(exited_with(st, OK), "child %d: status %#x", i, st);
	}
	cr_assert_eq(r->pair, 1, "a second visitor never got in beside the first");
	cr_assert_eq(r->entries, NPROC * 3000);
	cr_assert_eq(r->max, 2, "max inside = %u", r->max);
	cr_assert_eq(r->inside, 0);
	cr_assert_eq(conc_sem_value(&r->s), 2);
	shared_free(r, sizeof(*r));
}

Test(sem, two_never_admits_a_third_threads_private, .timeout = 20)
{
	enum { N = 5 };
	struct room r;
	pthread_t t[N];
	int i;

	memset(&r, 0, sizeof(r));
	cr_assert_eq(conc_sem_init(&r.s, 2, CONC_PRIVATE), 0);
	for (i = 0; i < N; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, room_thread, &r), 0);
	for (i = 0; i < N; i++)
		cr_assert_eq(join_thread(t[i], 15000, NULL), 0);
	cr_assert_eq(r.pair, 1, "a second visitor never got in beside the first");
	cr_assert_eq(r.errors, 0);
	cr_assert_eq(r.entries, N * 3000);
	cr_assert_eq(r.max, 2, "max inside = %u", r.max);
	cr_assert_eq(conc_sem_value(&r.s), 2);
}

/* ---- no lost wake-ups ---- */

/* A zeroed semaphore in fresh shared memory, never initialised. */
struct pc {
	conc_sem items;
	conc_sem a, b;
	uint32_t consumed;
};

enum { PC_TOTAL = 100000, PC_PROD = 2, PC_CONS = 2 };

static int producer_child(void *arg)
{
	struct pc *pc = arg;
	int i;

	for (i = 0; i < PC_TOTAL / PC_PROD; i++) {
		if (conc_sem_post(&pc->items) != 0)
			return E_POST;
		if ((i & 1023) == 0)
			sched_yield();
	}
	return OK;
}

static int consumer_child(void *arg)
{
	struct pc *pc = arg;
	int i;

	for (i = 0; i < PC_TOTAL / PC_CONS; i++) {
		if (conc_sem_timedwait(&pc->items, BOUND) != 0)
			return E_WAIT;
		__atomic_fetch_add(&pc->consumed, 1, __ATOMIC_RELAXED);
	}
	return OK;
}

Test(sem, producer_consumer_100k_processes_zeroed, .timeout = 20)
{
	struct pc *pc = shared_alloc(sizeof(*pc));
	pid_t pid[PC_PROD + PC_CONS];
	int i, n = 0;

	cr_assert_not_null(pc);
	/* Consumers first, so they sleep on an empty semaphore. */
	for (i = 0; i < PC_CONS; i++)
		cr_assert_geq(pid[n++] = spawn(consumer_child, pc), 0);
	for (i = 0; i < PC_PROD; i++)
		cr_assert_geq(pid[n++] = spawn(producer_child, pc), 0);
	for (i = 0; i < n; i++) {
		int st = wait_child(pid[i], REAP_MS);

		cr_assert(exited_with(st, OK), "child %d: status %#x", i, st);
	}
	cr_assert_eq(pc->consumed, PC_TOTAL);
	cr_assert_eq(conc_sem_value(&pc->items), 0);
	cr_assert_eq(conc_sem_trywait(&pc->items), -EAGAIN);
	shared_free(pc, sizeof(*pc));
}

static void *producer_thread(void *arg)
{
	return (void *)(intptr_t)producer_child(arg);
}

static void *consumer_thread(void *arg)
{
	return (void *)(intptr_t)consumer_child(arg);
}

Test(sem, producer_consumer_100k_threads_private, .timeout = 20)
{
	struct pc pc;
	pthread_t t[PC_PROD + PC_CONS];
	int i, n = 0;

	memset(&pc, 0, sizeof(pc));
	cr_assert_eq(conc_sem_init(&pc.items, 0, CONC_PRIVATE), 0);
	for (i = 0; i < PC_CONS; i++)
		cr_assert_eq(pthread_create(&t[n++], NULL, consumer_thread, &pc), 0);
	for (i = 0; i < PC_PROD; i++)
		cr_assert_eq(pthread_create(&t[n++], NULL, producer_thread, &pc), 0);
	for (i = 0; i < n; i++) {
		void *ret;

		cr_assert_eq(join_thread(t[i], 15000, &ret), 0);
		cr_assert_eq((intptr_t)ret, OK, "thread %d: %d", i, (int)(intptr_t)ret);
	}
	cr_assert_eq(pc.consumed, PC_TOTAL);
	cr_assert_eq(conc_sem_value(&pc.items), 0);
}

/* Ping-pong: each side waits on an empty semaphore every round, so
 * nearly every wait sleeps or races with the post that ends it. */
enum { PP_ROUNDS = 20000 };

static int pong_child(void *arg)
{
	struct pc *pc = arg;
	int i;

	for (i = 0; i < PP_ROUNDS; i++) {
		if (conc_sem_timedwait(&pc->a, BOUND) != 0)
			return E_WAIT;
		if (conc_sem_post(&pc->b) != 0)
			return E_POST;
	}
	return OK;
}

Test(sem, ping_pong_processes_zeroed, .timeout = 20)
{
	struct pc *pc = shared_alloc(sizeof(*pc));
	pid_t pid;
	int i, st;

	cr_assert_not_null(pc);
	cr_assert_geq(pid = spawn(pong_child, pc), 0);
	for (i = 0; i < PP_ROUNDS; i++) {
		int r;

		if (conc_sem_post(&pc->a) != 0)
			break;
		r = conc_sem_timedwait(&pc->b, BOUND);
		if (r != 0) {
			cr_log_error("round %d: timedwait = %d", i, r);
			break;
		}
	}
	st = wait_child(pid, REAP_MS);
	cr_assert_eq(i, PP_ROUNDS, "stopped at round %d", i);
	cr_assert(exited_with(st, OK), "child status %#x", st);
	cr_assert_eq(conc_sem_value(&pc->a), 0);
	cr_assert_eq(conc_sem_value(&pc->b), 0);
	shared_free(pc, sizeof(*pc));
}

/* A waiter in another process, asleep on a zeroed semaphore, is woken. */
struct xw {
	conc_sem s;
	uint32_t started[4];
	uint32_t got;
};

struct xarg {
	struct xw *x;
	int idx;
};

static int sleeper_child(void *arg)
{
	struct xarg *a = arg;
	int r;

	set_flag(&a->x->started[a->idx], 1);
	r = conc_sem_timedwait(&a->x->s, BOUND);
	if (r != 0)
		return E_WAIT;
	__atomic_fetch_add(&a->x->got, 1, __ATOMIC_RELAXED);
	return OK;
}

Test(sem, post_wakes_sleeping_processes_zeroed, .timeout = 20)
{
	enum { N = 4 };
	struct xw *x = shared_alloc(sizeof(*x));
	struct xarg a[N];
	pid_t pid[N];
	int i;

	cr_assert_not_null(x);
	for (i = 0; i < N; i++) {
		a[i] = (struct xarg){ x, i };
		cr_assert_geq(pid[i] = spawn(sleeper_child, &a[i]), 0);
	}
	for (i = 0; i < N; i++) {
		cr_assert(wait_flag(&x->started[i], 5000));
		cr_assert(wait_thread_sleeping(pid[i], pid[i], 5000));
	}
	/* One permit wakes exactly one sleeper; the value stays 0. */
	cr_assert_eq(conc_sem_post(&x->s), 0);
	for (i = 0; i < 5000 && __atomic_load_n(&x->got, __ATOMIC_RELAXED) < 1; i++)
		sleep_ns(MS(1));
	cr_assert_eq(x->got, 1);
	cr_assert_eq(conc_sem_value(&x->s), 0);
	for (i = 1; i < N; i++)
		cr_assert_eq(conc_sem_post(&x->s), 0);
	for (i = 0; i < N; i++) {
		int st = wait_child(pid[i], REAP_MS);

		cr_assert(exited_with(st, OK), "child %d: status %#x", i, st);
	}
	cr_assert_eq(x->got, N);
	cr_assert_eq(conc_sem_value(&x->s), 0);
	shared_free(x, sizeof(*x));
}

/* A peer writes a count beyond CONC_SEM_VALUE_MAX: the value read is still
 * a count, never a negative number a caller would take for an error. */
Test(sem, a_count_a_peer_wrote_beyond_the_max_reads_as_the_max)
{
	conc_sem s = CONC_SEM_INIT(0);

	s.value = 0x80000000u;
	cr_assert_eq(conc_sem_value(&s), CONC_SEM_VALUE_MAX);
	s.value = UINT32_MAX;
	cr_assert_eq(conc_sem_value(&s), CONC_SEM_VALUE_MAX);
	cr_assert_eq(conc_sem_post(&s), -EOVERFLOW);
	cr_assert_eq(conc_sem_trywait(&s), 0);
	cr_assert_eq(conc_sem_value(&s), CONC_SEM_VALUE_MAX);
}
