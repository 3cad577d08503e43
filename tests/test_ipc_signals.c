/* test_ipc_signals.c — conc_queue, conc_chan, shared map and list and
 * robust semaphore calls that wait while a signal handler runs again and
 * again in the waiting thread. The man
 * pages: "Waits are not ended by signal handlers: these functions never
 * return -EINTR", and a timeout is turned once into a deadline, so the
 * storm neither ends a wait early nor keeps it past its deadline for ever.
 * The handler is installed without SA_RESTART, the harsher case. Every
 * wait is bounded. No peer acts after a sleep: one that ends a wait acts
 * once the waiter is seen asleep in it (/proc's syscall file) and has
 * taken a handler there, so each run exercises the wait it names. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <conc.h>
#include "helpers.h"
#include "loop_helpers.h"
#include "arena_holder.h"


/* Handlers run so far (peers read it: atomic, lock-free, so safe in a
 * handler). */
static int handled;

static void on_usr1(int sig)
{
	(void)sig;
	__atomic_fetch_add(&handled, 1, __ATOMIC_RELAXED);
}

static int handled_now(void)
{
	return __atomic_load_n(&handled, __ATOMIC_RELAXED);
}

struct storm {
	pid_t tid;		/* the thread to interrupt */
	int stop;
	conc_thread *t;
};

static int storm_fn(void *arg)
{
	struct storm *s = arg;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		syscall(SYS_tgkill, getpid(), s->tid, SIGUSR1);
		sleep_ns(MS / 10);
	}
	return 0;
}

static void storm_start(struct storm *s)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;	/* no SA_RESTART */
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	__atomic_store_n(&handled, 0, __ATOMIC_RELAXED);
	s->tid = conc_gettid();
	s->stop = 0;
	cr_assert_eq(conc_thread_start(&s->t, storm_fn, s, NULL), 0);
	for (int i = 0; i < 100000 && handled_now() < 3; i++)	/* the storm is on */
		sleep_ns(MS / 10);
	cr_assert_geq(handled_now(), 3, "no SIGUSR1 came");
}

/* Stops the storm once it has gone on past its start (callers check that
 * more than the 3 signals storm_start waited for came): bounded, so that a
 * storm thread the scheduler left waiting through the test's waits does
 * not fail it. */
static void storm_stop(struct storm *s)
{
	int code = -1;

	for (int i = 0; i < 100000 && handled_now() <= 3; i++)
		sleep_ns(MS / 10);
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	cr_assert_eq(conc_thread_join(s->t, &code, BOUND), 0);
	signal(SIGUSR1, SIG_IGN);
}

/* Where each wait sleeps (futex(2) for a queue, a lock or a permit;
 * a receive's read or poll; a send's poll for room), -1 ended. */
static const long in_futex_call[] = { SYS_futex, -1 };
static const long in_recv_call[] = { SYS_read, SYS_readv, SYS_ppoll, -1 };
static const long in_send_call[] = { SYS_ppoll, -1 };

/* Wait until thread tid, past go, sleeps in one of in[], then takes a
 * handler of the storm and sleeps there again: its wait has outlasted a
 * signal (a wait that a handler ended would have come back by then). */
static bool outlasted_a_signal(pid_t tid, const uint32_t *go, const long *in)
{
	int h;

	if (!wait_blocked_in(tid, go, in, 30000))
		return false;
	h = handled_now();
	for (int i = 0; i < 300000 && handled_now() == h; i++)
		sleep_ns(MS / 10);
	return handled_now() != h && wait_blocked_in(tid, NULL, in, 30000);
}

/* A peer thread that ends a wait of the test's thread (tid): it acts only
 * once that thread, past go, has been seen asleep in its call (one of
 * in[]) before and after a handler, so the wait and its going on after a
 * signal are exercised in every run, whatever the load. */
struct later {
	pid_t tid;
	uint32_t go;		/* the test's thread is about to wait */
	const long *in;
	conc_queue *q;		/* get a message */
	conc_chan *c;		/* or receive n bytes (0: send "late") */
	size_t n;
	uint32_t *flag;		/* or set this word */
};

static struct later later_of(const long *in)
{
	return (struct later){ .tid = conc_gettid(), .in = in };
}

static int later_fn(void *arg)
{
	struct later *l = arg;
	char b[8];

	if (!outlasted_a_signal(l->tid, &l->go, l->in))
		return 9;
	if (l->flag) {
		set_flag(l->flag, 1);
		return 0;
	}
	if (l->q)
		return conc_queue_get(l->q, b, sizeof(b), BOUND) >= 0 ? 0 : 1;
	if (!l->n)
		return conc_chan_send(l->c, "late", 4, BOUND);
	{
		char *m = malloc(l->n);
		int r = m && conc_chan_recv(l->c, m, l->n, BOUND) == (ssize_t)l->n;

		free(m);
		return r ? 0 : 2;
	}
}

/* Start the peer; the caller's next call is its wait. */
static conc_thread *later_start(struct later *l)
{
	conc_thread *t;

	cr_assert_eq(conc_thread_start(&t, later_fn, l, NULL), 0);
	set_flag(&l->go, 1);
	return t;
}

static void later_join(conc_thread *t)
{
	int code = -1;

	cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
	cr_assert_eq(code, 0, "peer: %d (9: the wait was never seen asleep)", code);
}

Test(ipc_signals, queue_waits_outlast_a_signal_storm, .timeout = 60)
{
	conc_queue_attr a = { .capacity = 1, .max_msg = 8 };
	struct storm s;
	conc_queue *q;
	conc_thread *t;
	struct later l;
	char b[8];
	int64_t t0;

	cr_assert_eq(conc_queue_create(&q, &a), 0);
	storm_start(&s);
	t0 = now_ns();
	cr_assert_eq(conc_queue_get(q, b, sizeof(b), 50 * MS), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 50 * MS);
	cr_assert_eq(conc_queue_put(q, "x", 1, 0), 0);
	t0 = now_ns();
	cr_assert_eq(conc_queue_put(q, "y", 1, 50 * MS), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 50 * MS);
	/* Without a timeout: woken by the other side only. */
	l = later_of(in_futex_call);
	l.q = q;
	t = later_start(&l);
	cr_assert_eq(conc_queue_put(q, "z", 1, CONC_FOREVER), 0);
	later_join(t);
	cr_assert_eq(conc_queue_get(q, b, sizeof(b), CONC_FOREVER), 1);
	cr_assert_eq(b[0], 'z');
	cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), 20 * MS), -ETIMEDOUT);
	storm_stop(&s);
	cr_assert_gt(handled_now(), 3);
	conc_queue_destroy(q);
}

Test(ipc_signals, chan_waits_outlast_a_signal_storm, .timeout = 60)
{
	size_t big = 3u << 20;
	char *m = calloc(1, big), b[8];
	conc_chan *x, *y;
	struct storm s;
	conc_thread *t;
	struct later l;
	int64_t t0;

	cr_assert_not_null(m);
	cr_assert_eq(conc_chan_pair(&x, &y, 0), 0);
	storm_start(&s);
	t0 = now_ns();
	cr_assert_eq(conc_chan_recv(y, b, sizeof(b), 50 * MS), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 50 * MS);
	/* A receive without a timeout (it waits inside read(2)), then one
	 * with (in ppoll(2)). */
	l = later_of(in_recv_call);
	l.c = x;
	t = later_start(&l);
	cr_assert_eq(conc_chan_recv(y, b, sizeof(b), CONC_FOREVER), 4);
	later_join(t);
	l.go = 0;
	t = later_start(&l);
	cr_assert_eq(conc_chan_recv(y, b, sizeof(b), BOUND), 4);
	later_join(t);
	/* A send that waits for room: the pipe holds a third of it. */
	l = later_of(in_send_call);
	l.c = y;
	l.n = big;
	t = later_start(&l);
	cr_assert_eq(conc_chan_send(x, m, big, CONC_FOREVER), 0);
	later_join(t);
	l.go = 0;
	t = later_start(&l);
	cr_assert_eq(conc_chan_send(x, m, big, BOUND), 0);
	later_join(t);
	storm_stop(&s);
	cr_assert_gt(handled_now(), 3);
	conc_chan_close(x);
	conc_chan_close(y);
	free(m);
}

/* The same in a task: the loop's own wait is interrupted, the task's
 * call goes on. */
struct tq {
	conc_queue *q;
	conc_chan *x, *y;
	pid_t tid;		/* the loop's thread */
	uint32_t waiting;	/* the task's timed waits are over */
	uint32_t receiving;	/* its get is over: next, its receive */
};

/* A loop's thread sleeps in its ring only when none of its tasks can
 * run: the task is then suspended in the call that follows its word. */
static const long in_ring[] = { SYS_io_uring_enter, -1 };

static int task_side(void *arg)
{
	struct tq *k = arg;
	int64_t t0 = now_ns();
	char b[8];

	if (conc_queue_get(k->q, b, sizeof(b), 30 * MS) != -ETIMEDOUT ||
	    now_ns() - t0 < 30 * MS)
		return 1;
	t0 = now_ns();
	if (conc_chan_recv(k->y, b, sizeof(b), 30 * MS) != -ETIMEDOUT ||
	    now_ns() - t0 < 30 * MS)
		return 2;
	set_flag(&k->waiting, 1);
	if (conc_queue_get(k->q, b, sizeof(b), CONC_FOREVER) != 1)
		return 3;
	set_flag(&k->receiving, 1);
	if (conc_chan_recv(k->y, b, sizeof(b), CONC_FOREVER) != 2)
		return 4;
	return 0;
}

/* Feeds each of the task's waits without a timeout only once the task is
 * suspended in it and its loop has taken a handler there (fed earlier, the
 * timed ones would not time out and the others would not wait). */
static int feeder(void *arg)
{
	struct tq *k = arg;

	if (!outlasted_a_signal(k->tid, &k->waiting, in_ring))
		return 5;
	if (conc_queue_put(k->q, "q", 1, BOUND))
		return 1;
	if (!outlasted_a_signal(k->tid, &k->receiving, in_ring))
		return 6;
	return conc_chan_send(k->x, "ch", 2, BOUND) ? 2 : 0;
}

static int task_main(void *arg)
{
	struct tq *k = arg;
	conc_thread *f;
	conc_task *t;
	int code = -1, fc = -1;

	if (conc_thread_start(&f, feeder, k, NULL) || conc_go(&t, task_side, k, NULL))
		return 10;
	if (conc_task_join(t, &code, BOUND))
		return 11;
	if (code) {	/* a task that failed early: let the feeder end */
		set_flag(&k->waiting, 1);
		set_flag(&k->receiving, 1);
		conc_thread_join(f, &fc, 40 * SEC);
		return code;
	}
	if (conc_thread_join(f, &fc, BOUND))
		return 12;
	if (fc)
		return 20 + fc;	/* 25, 26: the task never seen waiting */
	return code;
}

Test(ipc_signals, task_waits_outlast_a_signal_storm, .timeout = 60)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct tq k = { .tid = conc_gettid() };
		struct storm s;
		int code;

		cr_assert_eq(conc_queue_create(&k.q, NULL), 0);
		cr_assert_eq(conc_chan_pair(&k.x, &k.y, 0), 0);
		storm_start(&s);
		code = run(task_main, &k);
		storm_stop(&s);
		cr_assert_eq(code, 0, "fallback %d: step %d", fb, code);
		conc_queue_destroy(k.q);
		conc_chan_close(k.x);
		conc_chan_close(k.y);
	}
}

/* A map's, a list's lock held by another process; then let go once the
 * test's thread sleeps in a wait without a timeout. */
static void arena_waits(bool list)
{
	struct holder h;
	struct later r = later_of(in_futex_call);
	struct storm s;
	conc_thread *t;
	conc_map *m = NULL;
	conc_list *l = NULL;
	conc_shm *seg;
	int64_t t0;
	char b[8];

	if (list) {
		cr_assert_eq(conc_list_create(&l, NULL), 0);
		cr_assert_eq(conc_shm_open_fd(&seg, conc_list_fd(l), CONC_SHM_LIST), 0);
		cr_assert_eq(conc_list_set_timeout(l, 50 * MS), 0);
	} else {
		cr_assert_eq(conc_map_create(&m, NULL), 0);
		cr_assert_eq(conc_shm_open_fd(&seg, conc_map_fd(m), CONC_SHM_MAP), 0);
		cr_assert_eq(conc_map_set_timeout(m, 50 * MS), 0);
	}
	h = hold_arena(conc_shm_data(seg));
	storm_start(&s);
	t0 = now_ns();
	if (list)
		cr_assert_eq(conc_list_append(l, "x", 1), -ETIMEDOUT);
	else
		cr_assert_eq(conc_map_put(m, "k", 1, "x", 1), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 50 * MS);
	/* Without a timeout: the holder's unlock only ends it. */
	if (list)
		cr_assert_eq(conc_list_set_timeout(l, CONC_FOREVER), 0);
	else
		cr_assert_eq(conc_map_set_timeout(m, CONC_FOREVER), 0);
	r.flag = &h.f[1];
	t = later_start(&r);
	if (list)
		cr_assert_eq(conc_list_append(l, "y", 1), 0);
	else
		cr_assert_eq(conc_map_put(m, "k", 1, "y", 1), 0);
	later_join(t);
	storm_stop(&s);
	cr_assert_gt(handled_now(), 3);
	release_arena(h, false);
	if (list) {
		cr_assert_eq(conc_list_get(l, 0, b, sizeof(b)), 1);
		cr_assert_eq(conc_list_len(l), 1);
		conc_list_destroy(l);
	} else {
		cr_assert_eq(conc_map_get(m, "k", 1, b, sizeof(b)), 1);
		conc_map_destroy(m);
	}
	cr_assert_eq(b[0], 'y');
	conc_shm_close(seg);
}

/* conc_map_create(3), conc_list_create(3): "Waits for the lock are not
 * ended by signal handlers: these functions never return -EINTR". */
Test(ipc_signals, map_lock_waits_outlast_a_signal_storm, .timeout = 60)
{
	arena_waits(false);
}

Test(ipc_signals, list_lock_waits_outlast_a_signal_storm, .timeout = 60)
{
	arena_waits(true);
}

/* conc_rsem_create(3): the same for a permit another process holds. */
Test(ipc_signals, rsem_waits_outlast_a_signal_storm, .timeout = 60)
{
	uint32_t *f = shared_alloc(2 * sizeof(uint32_t));
	struct later l = later_of(in_futex_call);
	struct storm s;
	conc_rsem *rs;
	conc_thread *t;
	pid_t pid;
	int64_t t0;

	cr_assert_not_null(f);
	cr_assert_eq(conc_rsem_create(&rs, NULL), 0);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (conc_rsem_wait(rs))
			_exit(1);
		set_flag(&f[0], 1);
		if (!wait_flag(&f[1], 30000))
			_exit(2);
		_exit(conc_rsem_post(rs) ? 3 : 0);
	}
	cr_assert(wait_flag(&f[0], 10000), "the child took the permit");
	storm_start(&s);
	t0 = now_ns();
	cr_assert_eq(conc_rsem_timedwait(rs, 50 * MS), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 50 * MS);
	cr_assert_eq(conc_rsem_trywait(rs), -EAGAIN);
	/* Without a timeout: the holder's post only ends it. */
	l.flag = &f[1];
	t = later_start(&l);
	cr_assert_eq(conc_rsem_wait(rs), 0);
	later_join(t);
	storm_stop(&s);
	cr_assert_gt(handled_now(), 3);
	cr_assert(exited_with(wait_child(pid, 10000), 0));
	cr_assert_eq(conc_rsem_post(rs), 0);
	cr_assert_eq(conc_rsem_destroy(rs), 0);
	shared_free(f, 2 * sizeof(uint32_t));
}

/* conc_chan_pair(3), ERRORS: -EDEADLK "A signal handler called a function
 * on an end while the thread it interrupted was inside a call of the same
 * kind on that end" (rather than waiting for itself for ever); a call of
 * the other kind works. */
static conc_chan *in_handler;
static volatile sig_atomic_t handler_recv = 1, handler_send = 1;

static void on_usr2(int sig)
{
	char b[8];

	(void)sig;
	handler_recv = (int)conc_chan_recv(in_handler, b, sizeof(b), BOUND);
	handler_send = conc_chan_send(in_handler, "h", 1, BOUND);
}

struct poke {
	pid_t tid;
	conc_chan *peer;
	uint32_t go;	/* the thread is about to receive */
};

/* Signals the thread only once it is seen waiting inside its receive: a
 * signal that came before (a thread the scheduler held up) would find no
 * receive to re-enter. The peer's "go" ends the receive either way. */
static int poke_fn(void *arg)
{
	struct poke *p = arg;
	int i, seen = wait_blocked_in(p->tid, &p->go, in_recv_call, 30000);

	if (seen) {
		syscall(SYS_tgkill, getpid(), p->tid, SIGUSR2);
		for (i = 0; i < 200000 && handler_send == 1; i++)
			sleep_ns(MS / 10);
	}
	if (conc_chan_send(p->peer, "go", 2, BOUND))
		return 2;
	return seen ? 0 : 1;
}

Test(ipc_signals, a_handler_on_the_end_its_thread_receives_on_is_edeadlk,
     .timeout = 60)
{
	struct sigaction sa;
	struct poke p;
	conc_chan *x, *y;
	conc_thread *t;
	char b[8];
	int code = -1;

	cr_assert_eq(conc_chan_pair(&x, &y, 0), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	cr_assert_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	in_handler = y;
	p = (struct poke){ conc_gettid(), x, 0 };
	cr_assert_eq(conc_thread_start(&t, poke_fn, &p, NULL), 0);
	__atomic_store_n(&p.go, 1, __ATOMIC_RELEASE);
	cr_assert_eq(conc_chan_recv(y, b, sizeof(b), CONC_FOREVER), 2);
	cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
	cr_assert_eq(code, 0, "poker: %d (1: the receive was never seen waiting)",
		     code);
	cr_assert_eq(handler_recv, -EDEADLK);
	cr_assert_eq(handler_send, 0);
	cr_assert_eq(conc_chan_recv(x, b, sizeof(b), BOUND), 1);
	signal(SIGUSR2, SIG_DFL);
	conc_chan_close(x);
	conc_chan_close(y);
}

/* conc_queue_put(3), ERRORS: -EDEADLK for a signal handler that calls a
 * put on a queue while the thread it interrupted sleeps in a put of that
 * queue (the producers' lock names the thread: the handler is not made to
 * wait for itself); a get, the other side, works from the handler, and the
 * interrupted put goes on into the room it made. The handler runs only
 * once the thread is seen asleep in futex(2), at the one sleep of a put
 * into a full queue: never in the middle of the put's own steps. */
static conc_queue *handler_q;
static volatile sig_atomic_t hq_put = 1, hq_get = 1;

static void on_usr2_queue(int sig)
{
	char b[8];

	(void)sig;
	hq_put = conc_queue_put(handler_q, "h", 1, BOUND);
	hq_get = (int)conc_queue_get(handler_q, b, sizeof(b), BOUND);
}

struct asleep {
	pid_t tid;
	uint32_t go;	/* the thread is about to put: its next futex(2) is
			 * the put's sleep (its thread start's is over) */
};

static int poke_asleep_fn(void *arg)
{
	struct asleep *a = arg;

	if (!wait_blocked_in(a->tid, &a->go, in_futex_call, 30000))
		return 1;
	syscall(SYS_tgkill, getpid(), a->tid, SIGUSR2);
	return 0;
}

Test(ipc_signals, a_handler_putting_while_its_thread_sleeps_in_a_put_is_edeadlk,
     .timeout = 60)
{
	conc_queue_attr a = { .capacity = 1, .max_msg = 8 };
	struct sigaction sa;
	struct asleep as = { conc_gettid(), 0 };
	conc_thread *t;
	char b[8];
	int code = -1;

	cr_assert_eq(conc_queue_create(&handler_q, &a), 0);
	cr_assert_eq(conc_queue_put(handler_q, "a", 1, 0), 0);	/* full */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2_queue;
	cr_assert_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	cr_assert_eq(conc_thread_start(&t, poke_asleep_fn, &as, NULL), 0);
	__atomic_store_n(&as.go, 1, __ATOMIC_RELEASE);
	cr_assert_eq(conc_queue_put(handler_q, "b", 1, CONC_FOREVER), 0);
	cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
	cr_assert_eq(code, 0, "the put was never seen asleep");
	signal(SIGUSR2, SIG_DFL);
	cr_assert_eq(hq_put, -EDEADLK);
	cr_assert_eq(hq_get, 1);
	cr_assert_eq(conc_queue_size(handler_q), 1);
	cr_assert_eq(conc_queue_get(handler_q, b, sizeof(b), 0), 1);
	cr_assert_eq(b[0], 'b');
	conc_queue_destroy(handler_q);
}

/* conc_map_create(3), ERRORS: -EDEADLK for a signal handler that calls
 * into the map while the thread it interrupted holds the map's lock (here
 * in conc_map_iterate's callback, which raises the signal itself). */
static conc_map *handler_m;
static volatile sig_atomic_t hm_len = 1;

static void on_usr2_map(int sig)
{
	(void)sig;
	hm_len = (int)conc_map_len(handler_m);
}

static int raise_in_walk(const void *k, size_t kl, const void *v, size_t vl,
			 void *arg)
{
	(void)k, (void)kl, (void)v, (void)vl, (void)arg;
	raise(SIGUSR2);
	return 0;
}

Test(ipc_signals, a_handler_calling_a_map_its_thread_holds_is_edeadlk,
     .timeout = 60)
{
	struct sigaction sa;

	cr_assert_eq(conc_map_create(&handler_m, NULL), 0);
	cr_assert_eq(conc_map_put(handler_m, "k", 1, "v", 1), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2_map;
	cr_assert_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	cr_assert_eq(conc_map_iterate(handler_m, raise_in_walk, NULL), 0);
	signal(SIGUSR2, SIG_DFL);
	cr_assert_eq(hm_len, -EDEADLK);
	cr_assert_eq(conc_map_len(handler_m), 1);
	conc_map_destroy(handler_m);
}
