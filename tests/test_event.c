/* tests/test_event.c — conc_event: set/clear/is_set/wait between threads
 * and between processes. Every wait is bounded; children leave with _exit(). */
#include <criterion/criterion.h>
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

enum { OK = 0, E_TIMEDOUT = 10, E_OTHER, E_NOTSET, E_SET };

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

Test(event, init_rejects_bad_arguments_and_leaves_state)
{
	conc_event e = CONC_EVENT_INIT;

	cr_assert_eq(conc_event_init(NULL, 0), -EINVAL);
	cr_assert_eq(conc_event_set(&e), 0);
	cr_assert_eq(conc_event_init(&e, CONC_RECURSIVE), -EINVAL);
	cr_assert_eq(conc_event_init(&e, CONC_ROBUST), -EINVAL);
	cr_assert_eq(conc_event_init(&e, CONC_PRIVATE | 0x100), -EINVAL);
	cr_assert_eq(conc_event_init(&e, ~0u), -EINVAL);
	cr_assert(conc_event_is_set(&e), "a refused init cleared the event");

	cr_assert_eq(conc_event_init(&e, CONC_PRIVATE), 0);
	cr_assert_not(conc_event_is_set(&e));
	cr_assert_eq(conc_event_init(&e, 0), 0);
	cr_assert_not(conc_event_is_set(&e));
}

Test(event, null_is_einval)
{
	cr_assert_eq(conc_event_set(NULL), -EINVAL);
	cr_assert_eq(conc_event_clear(NULL), -EINVAL);
	cr_assert_eq(conc_event_wait(NULL, 0), -EINVAL);
	cr_assert_eq(conc_event_wait(NULL, MS(1)), -EINVAL);
	cr_assert_eq(conc_event_wait(NULL, CONC_FOREVER), -EINVAL);
	cr_assert_not(conc_event_is_set(NULL));
}

/* ---- single-threaded behaviour ---- */

static void set_clear_cycle(conc_event *e)
{
	cr_assert_not(conc_event_is_set(e));
	cr_assert_eq(conc_event_wait(e, 0), -ETIMEDOUT);

	cr_assert_eq(conc_event_set(e), 0);
	cr_assert(conc_event_is_set(e));
	cr_assert_eq(conc_event_set(e), 0, "setting a set event");
	cr_assert(conc_event_is_set(e));
	/* Set: every kind of wait returns 0 at once (bounded by .timeout). */
	cr_assert_eq(conc_event_wait(e, CONC_FOREVER), 0);
	cr_assert_eq(conc_event_wait(e, 0), 0);
	cr_assert_eq(conc_event_wait(e, 1), 0);
	cr_assert_eq(conc_event_wait(e, BOUND), 0);
	cr_assert(conc_event_is_set(e), "wait consumed the event");

	cr_assert_eq(conc_event_clear(e), 0);
	cr_assert_not(conc_event_is_set(e));
	cr_assert_eq(conc_event_clear(e), 0, "clearing a clear event");
	cr_assert_not(conc_event_is_set(e));
	cr_assert_eq(conc_event_wait(e, 0), -ETIMEDOUT);
}

Test(event, zeroed_set_clear_is_set_wait, .timeout = 20)
{
	conc_event e;
	int i;

	memset(&e, 0, sizeof(e));
	for (i = 0; i < 3; i++)
		set_clear_cycle(&e);
}

Test(event, static_and_private_set_clear_is_set_wait, .timeout = 20)
{
	conc_event s = CONC_EVENT_INIT, p;

	set_clear_cycle(&s);
	cr_assert_eq(conc_event_init(&p, CONC_PRIVATE), 0);
	set_clear_cycle(&p);
	set_clear_cycle(&p);
}

static void timeout_no_earlier(unsigned flags)
{
	static const int64_t tmo[] = { 1, MS(1), MS(20), MS(60) };
	conc_event e;
	size_t i;

	cr_assert_eq(conc_event_init(&e, flags), 0);
	for (i = 0; i < sizeof(tmo) / sizeof(tmo[0]); i++) {
		int64_t t0 = now_ns();
		int r = conc_event_wait(&e, tmo[i]);
		int64_t dt = now_ns() - t0;

		cr_assert_eq(r, -ETIMEDOUT, "wait(%lld ns) = %d", (long long)tmo[i], r);
		cr_assert_geq(dt, tmo[i], "timed out after %lld ns < %lld ns",
			      (long long)dt, (long long)tmo[i]);
		cr_assert_not(conc_event_is_set(&e));
	}
}

Test(event, timed_wait_times_out_no_earlier) { timeout_no_earlier(0); }
Test(event, timed_wait_times_out_no_earlier_private) { timeout_no_earlier(CONC_PRIVATE); }

/* ---- between threads ---- */

/*
 * For the set-then-clear tests: the waiters run on the main thread's CPU at
 * the lowest priority, so that the ones a set wakes cannot run before the
 * clear that follows it, and find the event cleared. Best effort: without
 * it the tests are only less sharp.
 */
static int pin_cpu = -1;

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

static void pin_main(void)
{
	pin_cpu = sched_getcpu();
	if (pin_cpu >= 0)
		pin_to(pin_cpu);
}

static void become_background(void)
{
	struct sched_param p = { 0 };

	if (pin_cpu < 0)
		return;
	pin_to(pin_cpu);
	(void)sched_setscheduler(0, SCHED_IDLE, &p);
}

struct waiter {
	conc_event *e;
	int64_t timeout;
	pid_t tid;
	uint32_t started;
	int r;
};

static void *waiter_thread(void *arg)
{
	struct waiter *w = arg;

	become_background();
	w->tid = gettid();
	set_flag(&w->started, 1);
	__atomic_store_n(&w->r, conc_event_wait(w->e, w->timeout), __ATOMIC_RELEASE);
	return NULL;
}

/*
 * N threads sleep in conc_event_wait(); then `release` runs. Each waiter's
 * result is checked against `want`. A timed waiter that is done before the
 * test sees it asleep (a 700 ms wait, a test held up longer by the
 * machine) is no failure: its result is checked all the same.
 */
static void threads_around(conc_event *e, int64_t timeout,
			   void (*release)(conc_event *), int want)
{
	enum { N = 6 };
	struct waiter w[N];
	pthread_t t[N];
	int i;

	for (i = 0; i < N; i++) {
		w[i] = (struct waiter){ .e = e, .timeout = timeout, .r = 1 };
		cr_assert_eq(pthread_create(&t[i], NULL, waiter_thread, &w[i]), 0);
	}
	for (i = 0; i < N; i++) {
		cr_assert(wait_flag(&w[i].started, 5000));
		cr_assert(wait_thread_sleeping(getpid(), w[i].tid, 5000) ||
			  __atomic_load_n(&w[i].r, __ATOMIC_ACQUIRE) != 1,
			  "waiter %d never went to sleep", i);
	}
	release(e);
	for (i = 0; i < N; i++) {
		cr_assert_eq(join_thread(t[i], 10000, NULL), 0, "waiter %d stuck", i);
		cr_assert_eq(w[i].r, want, "waiter %d returned %d", i, w[i].r);
	}
}

static void do_set(conc_event *e)
{
	cr_assert_eq(conc_event_set(e), 0);
}

static void do_set_clear(conc_event *e)
{
	cr_assert_eq(conc_event_set(e), 0);
	cr_assert_eq(conc_event_clear(e), 0);
}

static void do_clear(conc_event *e)
{
	cr_assert_eq(conc_event_clear(e), 0);
}

Test(event, set_releases_all_waiting_threads_private, .timeout = 20)
{
	conc_event e;

	cr_assert_eq(conc_event_init(&e, CONC_PRIVATE), 0);
	threads_around(&e, CONC_FOREVER, do_set, 0);
	cr_assert(conc_event_is_set(&e));
}

Test(event, set_releases_timed_waiting_threads_zeroed, .timeout = 20)
{
	conc_event e;

	memset(&e, 0, sizeof(e));
	threads_around(&e, BOUND, do_set, 0);
	cr_assert(conc_event_is_set(&e));
}

Test(event, set_then_clear_still_releases_threads, .timeout = 20)
{
	conc_event e;

	cr_assert_eq(conc_event_init(&e, CONC_PRIVATE), 0);
	pin_main();
	threads_around(&e, BOUND, do_set_clear, 0);
	cr_assert_not(conc_event_is_set(&e));
	/* Later waiters block until the next set. */
	cr_assert_eq(conc_event_wait(&e, MS(10)), -ETIMEDOUT);
}

Test(event, set_then_clear_still_releases_threads_zeroed, .timeout = 20)
{
	conc_event e;

	memset(&e, 0, sizeof(e));
	pin_main();
	threads_around(&e, CONC_FOREVER, do_set_clear, 0);
	cr_assert_not(conc_event_is_set(&e));
}

Test(event, clear_alone_releases_nobody, .timeout = 20)
{
	conc_event e;

	cr_assert_eq(conc_event_init(&e, CONC_PRIVATE), 0);
	threads_around(&e, MS(700), do_clear, -ETIMEDOUT);
	cr_assert_not(conc_event_is_set(&e));
}

/* ---- signals do not end waits ---- */

static void on_signal(int sig)
{
	(void)sig;
}

/* SIGUSR1, without SA_RESTART, to thread t every half millisecond for ms. */
static void pester(pthread_t t, int ms)
{
	struct sigaction sa;
	int64_t end = now_ns() + MS(ms);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	while (now_ns() < end) {
		pthread_kill(t, SIGUSR1);
		sleep_ns(MS(1) / 2);
	}
}

struct timed {
	conc_event *e;
	int64_t timeout, elapsed;
	uint32_t started;
	int r;
};

static void *timed_thread(void *arg)
{
	struct timed *w = arg;
	int64_t t0;
	int r;

	set_flag(&w->started, 1);
	t0 = now_ns();
	r = conc_event_wait(w->e, w->timeout);
	w->elapsed = now_ns() - t0;
	__atomic_store_n(&w->r, r, __ATOMIC_RELEASE);
	return NULL;
}

Test(event, signals_do_not_end_waits, .timeout = 20)
{
	conc_event e = CONC_EVENT_INIT;
	struct timed w = { .e = &e, .timeout = MS(150), .r = 1 };
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, timed_thread, &w), 0);
	cr_assert(wait_flag(&w.started, 5000));
	pester(t, 60);
	cr_assert_eq(join_thread(t, 10000, NULL), 0);
	cr_assert_eq(w.r, -ETIMEDOUT, "wait: %d", w.r);
	cr_assert_geq(w.elapsed, MS(150), "timed out after %lld ns", (long long)w.elapsed);

	w = (struct timed){ .e = &e, .timeout = CONC_FOREVER, .r = 1 };
	cr_assert_eq(pthread_create(&t, NULL, timed_thread, &w), 0);
	cr_assert(wait_flag(&w.started, 5000));
	pester(t, 40);
	cr_assert_eq(__atomic_load_n(&w.r, __ATOMIC_ACQUIRE), 1,
		     "wait returned before the event was set");
	cr_assert_eq(conc_event_set(&e), 0);
	cr_assert_eq(join_thread(t, 10000, NULL), 0);
	cr_assert_eq(w.r, 0);
}

/* ---- between processes ---- */

enum { NPROC = 6 };

struct shared {
	conc_event e;		/* zeroed, never initialised */
	conc_event go, ack;
	uint32_t started[NPROC];
};

struct carg {
	struct shared *sh;
	int idx;
	int64_t timeout;
};

static int waiter_child(void *arg)
{
	struct carg *a = arg;
	int r;

	become_background();
	set_flag(&a->sh->started[a->idx], 1);
	r = conc_event_wait(&a->sh->e, a->timeout);
	return r == 0 ? OK : r == -ETIMEDOUT ? E_TIMEDOUT : E_OTHER;
}

/* Whether child pid has ended (not reaped yet). */
static bool child_ended(pid_t pid)
{
	siginfo_t si = { 0 };

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	       si.si_pid == pid;
}

/* As threads_around(), with processes. */
static void procs_around(int64_t timeout, void (*release)(conc_event *),
			 int want)
{
	struct shared *sh = shared_alloc(sizeof(*sh));
	struct carg a[NPROC];
	pid_t pid[NPROC];
	int i;

	cr_assert_not_null(sh);
	for (i = 0; i < NPROC; i++) {
		a[i] = (struct carg){ sh, i, timeout };
		cr_assert_geq(pid[i] = spawn(waiter_child, &a[i]), 0);
	}
	for (i = 0; i < NPROC; i++) {
		cr_assert(wait_flag(&sh->started[i], 5000));
		cr_assert(wait_thread_sleeping(pid[i], pid[i], 5000) ||
			  child_ended(pid[i]), "child %d never went to sleep", i);
	}
	release(&sh->e);
	for (i = 0; i < NPROC; i++) {
		int st = wait_child(pid[i], REAP_MS);

		cr_assert(exited_with(st, want), "child %d: status %#x, want exit %d",
			  i, st, want);
	}
	shared_free(sh, sizeof(*sh));
}

Test(event, set_releases_all_waiting_processes, .timeout = 20)
{
	procs_around(CONC_FOREVER, do_set, OK);
}

Test(event, set_releases_timed_waiting_processes, .timeout = 20)
{
	procs_around(BOUND, do_set, OK);
}

Test(event, set_then_clear_still_releases_processes, .timeout = 20)
{
	pin_main();
	procs_around(BOUND, do_set_clear, OK);
}

Test(event, clear_alone_releases_no_process, .timeout = 20)
{
	procs_around(MS(700), do_clear, E_TIMEDOUT);
}

/* Round trips: each side sets, the other waits and clears. A lost wake-up
 * or a set that is not seen ends the child with a timeout. */
enum { ROUNDS = 3000 };

static int echo_child(void *arg)
{
	struct shared *sh = arg;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		if (conc_event_wait(&sh->go, BOUND) != 0)
			return E_TIMEDOUT;
		if (!conc_event_is_set(&sh->go))
			return E_NOTSET;
		if (conc_event_clear(&sh->go) != 0 || conc_event_set(&sh->ack) != 0)
			return E_OTHER;
	}
	return OK;
}

Test(event, ping_pong_processes_zeroed, .timeout = 20)
{
	struct shared *sh = shared_alloc(sizeof(*sh));
	pid_t pid;
	int i, st;

	cr_assert_not_null(sh);
	cr_assert_geq(pid = spawn(echo_child, sh), 0);
	for (i = 0; i < ROUNDS; i++) {
		if (conc_event_set(&sh->go) != 0)
			break;
		if (conc_event_wait(&sh->ack, BOUND) != 0)
			break;
		if (conc_event_clear(&sh->ack) != 0)
			break;
	}
	st = wait_child(pid, REAP_MS);
	cr_assert_eq(i, ROUNDS, "stopped at round %d", i);
	cr_assert(exited_with(st, OK), "child status %#x", st);
	cr_assert_not(conc_event_is_set(&sh->go));
	cr_assert_not(conc_event_is_set(&sh->ack));
	shared_free(sh, sizeof(*sh));
}

/* The same between threads, with private events. */
struct pp {
	conc_event go, ack;
};

static void *echo_thread(void *arg)
{
	struct pp *p = arg;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		if (conc_event_wait(&p->go, BOUND) != 0)
			return (void *)(intptr_t)E_TIMEDOUT;
		if (conc_event_clear(&p->go) != 0 || conc_event_set(&p->ack) != 0)
			return (void *)(intptr_t)E_OTHER;
	}
	return (void *)(intptr_t)OK;
}

Test(event, ping_pong_threads_private, .timeout = 20)
{
	struct pp p;
	pthread_t t;
	void *ret;
	int i;

	cr_assert_eq(conc_event_init(&p.go, CONC_PRIVATE), 0);
	cr_assert_eq(conc_event_init(&p.ack, CONC_PRIVATE), 0);
	cr_assert_eq(pthread_create(&t, NULL, echo_thread, &p), 0);
	for (i = 0; i < ROUNDS; i++) {
		if (conc_event_set(&p.go) != 0)
			break;
		if (conc_event_wait(&p.ack, BOUND) != 0)
			break;
		if (conc_event_clear(&p.ack) != 0)
			break;
	}
	cr_assert_eq(join_thread(t, 10000, &ret), 0);
	cr_assert_eq(i, ROUNDS, "stopped at round %d", i);
	cr_assert_eq((intptr_t)ret, OK);
}

/* Waiters see what the setter wrote before set (acquire/release). */
struct pub {
	conc_event e;
	uint64_t data[8];
};

static void *reader_thread(void *arg)
{
	struct pub *p = arg;
	int i;

	if (conc_event_wait(&p->e, BOUND) != 0)
		return (void *)(intptr_t)E_TIMEDOUT;
	for (i = 0; i < 8; i++)
		if (p->data[i] != (uint64_t)i * 0x0101010101010101ull + 1)
			return (void *)(intptr_t)E_NOTSET;
	return (void *)(intptr_t)OK;
}

Test(event, waiters_see_data_written_before_set, .timeout = 20)
{
	enum { N = 4, REPEAT = 200 };
	int rep, i;

	for (rep = 0; rep < REPEAT; rep++) {
		struct pub p;
		pthread_t t[N];

		memset(&p, 0, sizeof(p));
		cr_assert_eq(conc_event_init(&p.e, CONC_PRIVATE), 0);
		for (i = 0; i < N; i++)
			cr_assert_eq(pthread_create(&t[i], NULL, reader_thread, &p), 0);
		for (i = 0; i < 8; i++)
			p.data[i] = (uint64_t)i * 0x0101010101010101ull + 1;
		cr_assert_eq(conc_event_set(&p.e), 0);
		for (i = 0; i < N; i++) {
			void *ret;

			cr_assert_eq(join_thread(t[i], 10000, &ret), 0);
			cr_assert_eq((intptr_t)ret, OK, "round %d thread %d", rep, i);
		}
	}
}
