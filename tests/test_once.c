/* tests/test_once.c — conc_once: the function runs exactly once, and every
 * caller returns only after it has. Children leave with _exit(). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <conc.h>
#include "helpers.h"

#define MS(ms)	((int64_t)(ms) * 1000000)
#define REAP_MS	15000

enum { OK = 0, E_RET = 10, E_NOTDONE, E_COUNT };

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

/* fn takes no argument: the state it works on is global (and, for the
 * process tests, points into shared memory). */
struct state {
	conc_once_t once;
	uint32_t runs;		/* times fn ran */
	uint32_t done;		/* fn's last store */
	uint64_t data[16];	/* fn's effects, written plainly */
	uint32_t go;
};

static struct state *S;

static void fn_slow(void)
{
	int i;

	__atomic_fetch_add(&S->runs, 1, __ATOMIC_SEQ_CST);
	/* Take a while, so that the other callers must wait. */
	sleep_ns(MS(20));
	for (i = 0; i < 16; i++)
		S->data[i] = 0x1234567890ull + (uint64_t)i;
	__atomic_store_n(&S->done, 1, __ATOMIC_RELAXED);
}

static int effects_seen(void)
{
	int i;

	if (!__atomic_load_n(&S->done, __ATOMIC_RELAXED))
		return 0;
	for (i = 0; i < 16; i++)
		if (S->data[i] != 0x1234567890ull + (uint64_t)i)
			return 0;
	return 1;
}

static int caller(void)
{
	while (!__atomic_load_n(&S->go, __ATOMIC_ACQUIRE))
		sched_yield();
	if (conc_once(&S->once, fn_slow) != 0)
		return E_RET;
	return effects_seen() ? OK : E_NOTDONE;
}

static void *caller_thread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)caller();
}

static int caller_child(void *arg)
{
	(void)arg;
	return caller();
}

static struct state *state_new(void)
{
	struct state *s = shared_alloc(sizeof(*s));

	cr_assert_not_null(s);
	S = s;
	return s;
}

/* ---- contract ---- */

static uint32_t plain_runs;
static void fn_count(void) { plain_runs++; }

Test(once, null_is_einval, .timeout = 20)
{
	conc_once_t o = CONC_ONCE_INIT;

	cr_assert_eq(conc_once(NULL, fn_count), -EINVAL);
	cr_assert_eq(conc_once(NULL, NULL), -EINVAL);
	cr_assert_eq(conc_once(&o, NULL), -EINVAL);
	cr_assert_eq(plain_runs, 0);
	/* The refused calls left the flag unused. */
	cr_assert_eq(conc_once(&o, fn_count), 0);
	cr_assert_eq(plain_runs, 1);
	cr_assert_eq(conc_once(&o, NULL), -EINVAL);
}

Test(once, sequential_calls_run_once, .timeout = 20)
{
	static conc_once_t st = CONC_ONCE_INIT;
	conc_once_t z, other = CONC_ONCE_INIT;
	int i;

	memset(&z, 0, sizeof(z));
	plain_runs = 0;
	for (i = 0; i < 5; i++)
		cr_assert_eq(conc_once(&z, fn_count), 0);
	cr_assert_eq(plain_runs, 1);
	for (i = 0; i < 5; i++)
		cr_assert_eq(conc_once(&st, fn_count), 0);
	cr_assert_eq(plain_runs, 2);
	/* Flags are independent. */
	cr_assert_eq(conc_once(&other, fn_count), 0);
	cr_assert_eq(plain_runs, 3);
	cr_assert_eq(conc_once(&z, fn_count), 0);
	cr_assert_eq(plain_runs, 3);
}

/* ---- races ---- */

static void race_threads(int n)
{
	struct state *s = state_new();
	pthread_t t[32];
	int i;

	cr_assert_leq(n, 32);
	for (i = 0; i < n; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, caller_thread, NULL), 0);
	set_flag(&s->go, 1);
	for (i = 0; i < n; i++) {
		void *ret;

		cr_assert_eq(join_thread(t[i], REAP_MS, &ret), 0, "caller %d stuck", i);
		cr_assert_eq((intptr_t)ret, OK, "caller %d: %d", i, (int)(intptr_t)ret);
	}
	cr_assert_eq(s->runs, 1, "fn ran %u times", s->runs);
	/* Later calls do not run it again. */
	cr_assert_eq(conc_once(&s->once, fn_slow), 0);
	cr_assert_eq(s->runs, 1);
	shared_free(s, sizeof(*s));
}

Test(once, many_threads_race_fn_runs_once, .timeout = 20)
{
	race_threads(16);
}

Test(once, repeated_small_races, .timeout = 20)
{
	int i;

	for (i = 0; i < 20; i++)
		race_threads(3);
}

/* Racing callers block while fn runs; they do not come back early. */
struct observer {
	uint32_t started;
	pid_t tid;
	int ret;
	int seen;
};

static void *observer_thread(void *arg)
{
	struct observer *o = arg;
	int r;

	o->tid = gettid();
	set_flag(&o->started, 1);
	r = conc_once(&S->once, fn_slow);
	o->seen = effects_seen();
	__atomic_store_n(&o->ret, r, __ATOMIC_RELEASE);
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
}

static uint32_t fn_gate_in, fn_gate_open;

/* fn_slow, once the test lets it go on. */
static void fn_gated(void)
{
	set_flag(&fn_gate_in, 1);
	wait_flag(&fn_gate_open, 10000);
	fn_slow();
}

static void *gated_runner(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)conc_once(&S->once, fn_gated);
}

Test(once, callers_sleep_until_fn_returns, .timeout = 20)
{
	enum { N = 4 };
	struct state *s = state_new();
	struct observer o[N];
	struct sigaction sa;
	pthread_t runner, t[N];
	int64_t end;
	void *ret;
	int i;

	cr_assert_eq(pthread_create(&runner, NULL, gated_runner, NULL), 0);
	cr_assert(wait_flag(&fn_gate_in, 5000));
	for (i = 0; i < N; i++) {
		o[i] = (struct observer){ .ret = 1 };
		cr_assert_eq(pthread_create(&t[i], NULL, observer_thread, &o[i]), 0);
	}
	for (i = 0; i < N; i++) {
		cr_assert(wait_flag(&o[i].started, 5000));
		cr_assert(wait_thread_sleeping(getpid(), o[i].tid, 5000),
			  "caller %d never went to sleep", i);
	}
	/* Signals do not end their waits either. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	for (end = now_ns() + MS(30); now_ns() < end; sleep_ns(MS(1) / 2))
		for (i = 0; i < N; i++)
			pthread_kill(t[i], SIGUSR1);
	for (i = 0; i < N; i++)
		cr_assert_eq(__atomic_load_n(&o[i].ret, __ATOMIC_ACQUIRE), 1,
			     "caller %d returned while fn ran", i);
	set_flag(&fn_gate_open, 1);
	cr_assert_eq(join_thread(runner, REAP_MS, &ret), 0);
	cr_assert_eq((intptr_t)ret, 0);
	for (i = 0; i < N; i++) {
		cr_assert_eq(join_thread(t[i], REAP_MS, NULL), 0);
		cr_assert_eq(o[i].ret, 0);
		cr_assert(o[i].seen, "caller %d did not see fn's effects", i);
	}
	cr_assert_eq(s->runs, 1);
	shared_free(s, sizeof(*s));
}

/* Between processes: a zeroed flag in shared memory, fn reachable by all. */
Test(once, processes_race_fn_runs_once, .timeout = 20)
{
	enum { N = 6 };
	struct state *s = state_new();
	pid_t pid[N];
	int i;

	for (i = 0; i < N; i++)
		cr_assert_geq(pid[i] = spawn(caller_child, NULL), 0);
	set_flag(&s->go, 1);
	for (i = 0; i < N; i++) {
		int st = wait_child(pid[i], REAP_MS);

		cr_assert(exited_with(st, OK), "caller %d: status %#x", i, st);
	}
	cr_assert_eq(s->runs, 1, "fn ran %u times", s->runs);
	cr_assert(effects_seen());
	cr_assert_eq(conc_once(&s->once, fn_slow), 0);
	cr_assert_eq(s->runs, 1);
	shared_free(s, sizeof(*s));
}

/* conc_once_timed gives up while another thread runs fn, which goes on;
 * once it has returned every call returns 0 without running it again. */
static conc_once_t timed_once;
static uint32_t timed_go, timed_runs;

static void fn_until_go(void)
{
	int i;

	__atomic_fetch_add(&timed_runs, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < 10000 && !__atomic_load_n(&timed_go, __ATOMIC_ACQUIRE); i++)
		sleep_ns(MS(1));
}

static void *timed_runner(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)conc_once(&timed_once, fn_until_go);
}

Test(once, timed_gives_up_while_fn_runs)
{
	pthread_t th;
	void *ret;
	int i;

	cr_assert_eq(conc_once_timed(NULL, fn_until_go, 0), -EINVAL);
	cr_assert_eq(pthread_create(&th, NULL, timed_runner, NULL), 0);
	for (i = 0; i < 10000 && !__atomic_load_n(&timed_runs, __ATOMIC_SEQ_CST); i++)
		sleep_ns(MS(1));
	cr_assert_eq(timed_runs, 1);
	cr_assert_eq(conc_once_timed(&timed_once, fn_until_go, 0), -ETIMEDOUT);
	cr_assert_eq(conc_once_timed(&timed_once, fn_until_go, MS(5)), -ETIMEDOUT);
	__atomic_store_n(&timed_go, 1, __ATOMIC_RELEASE);
	cr_assert_eq(conc_once_timed(&timed_once, fn_until_go, CONC_FOREVER), 0);
	cr_assert_eq(pthread_join(th, &ret), 0);
	cr_assert_eq((intptr_t)ret, 0);
	cr_assert_eq(conc_once_timed(&timed_once, fn_until_go, 0), 0);
	cr_assert_eq(timed_runs, 1);
}

/* A flag in shared memory that a peer overwrote with a value no call
 * writes: the wait used to return at once for ever (a busy loop past its
 * deadline, and a loop's task never gave the loop back). */
static conc_once_t junk_once;
static int junk_runs;

static void fn_junk(void)
{
	junk_runs++;
}

static int junk_task(void *arg)
{
	(void)arg;
	return conc_once(&junk_once, fn_junk) == -EINVAL ? 0 : 1;
}

Test(once, a_flag_holding_junk_is_einval, .timeout = 20)
{
	static const uint32_t junk[] = { 4, 0x07070707, UINT32_MAX };
	int code = -1;

	for (unsigned i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		junk_once.state = junk[i];
		cr_assert_eq(conc_once_timed(&junk_once, fn_junk, 0), -EINVAL);
		cr_assert_eq(conc_once_timed(&junk_once, fn_junk, MS(1)), -EINVAL);
		cr_assert_eq(conc_once_timed(&junk_once, fn_junk, CONC_FOREVER),
			     -EINVAL);
		cr_assert_eq(conc_once(&junk_once, fn_junk), -EINVAL);
		/* In a task too, where there is a loop to run it (not
		 * without io_uring: qemu-user, io_uring_disabled). */
		if (!(conc_features() & CONC_FEAT_IO_URING))
			continue;
		cr_assert_eq(conc_run(junk_task, NULL, &code), 0);
		cr_assert_eq(code, 0);
	}
	cr_assert_eq(junk_runs, 0);
}
