/* test_loop_waits.c — every suspending call inside a task: it times out
 * (-ETIMEDOUT), it is cancelled (-ECANCELED, once: the next call works),
 * and the loop's other tasks run while it waits. One test per call. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <conc.h>
#include "loop_helpers.h"

/* What the call waits on, made once per test. */
struct ctx {
	int pipe_empty[2];	/* nothing to read */
	int pipe_full[2];	/* no room to write */
	int sock[2];		/* a connected pair, nothing sent */
	int sock_full[2];	/* sock_full[0] cannot send */
	int lfd;		/* a listening socket nobody connects to */
	int full;		/* a listening socket whose queue is full */
	struct sockaddr_in full_at;
	int fill[8];		/* what filled it */
	conc_rsem *rs;		/* its one permit held by the main task */
	conc_mutex m;		/* held by the main task */
	conc_event ev;		/* never set */
	conc_sem sem;		/* no permits */
	conc_queue *q;		/* empty */
	conc_cond cond;
	conc_mutex cm;
	conc_barrier bar;	/* two parties, one comes */
	conc_rwlock rw;		/* write-locked by the main task */
	conc_chan *ca, *cb;	/* nothing sent */
	int ticks;
	conc_proc *p;		/* proc_join: the child, */
	int go[2];		/* told to end through go[1] */
	int joining, join_t0;
	int join_ticked;	/* proc_join, once: ticks during the wait */
	conc_queue *qfull;	/* full */
	conc_chan *fa, *fb;	/* fb cannot send: its pipe is full */
	conc_rwlock rrw;	/* read-locked by the main task */
	conc_pool *pool;	/* made by the first call: its slots busy */
	conc_future *busy[4];
	conc_pool *closed;	/* closed, its one task running */
	conc_future *last;
};

typedef int (*waitfn)(struct ctx *c, int64_t timeout_ns);

static int w_read(struct ctx *c, int64_t t)
{
	char b[4];

	return (int)conc_read(c->pipe_empty[0], b, sizeof(b), t);
}

static int w_write(struct ctx *c, int64_t t)
{
	return (int)conc_write(c->pipe_full[1], "x", 1, t);
}

static int w_recv(struct ctx *c, int64_t t)
{
	char b[4];

	return (int)conc_recv(c->sock[0], b, sizeof(b), 0, t);
}

static int w_send(struct ctx *c, int64_t t)
{
	return (int)conc_send(c->sock_full[0], "x", 1, MSG_NOSIGNAL, t);
}

static int w_accept(struct ctx *c, int64_t t)
{
	return conc_accept(c->lfd, NULL, NULL, 0, t);
}

static int w_connect(struct ctx *c, int64_t t)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return -errno;
	/* The queue is full: the kernel drops the SYN, the connect waits. */
	r = conc_connect(fd, (struct sockaddr *)&c->full_at, sizeof(c->full_at), t);
	close(fd);
	return r;
}

static int w_rsem(struct ctx *c, int64_t t)
{
	int r = conc_rsem_timedwait(c->rs, t);

	if (r == 0)
		conc_rsem_post(c->rs);
	return r;
}

static int w_get_begin(struct ctx *c, int64_t t)
{
	char b[16];
	int r = (int)conc_queue_get_begin(c->q, b, sizeof(b), t);

	if (r >= 0)
		conc_queue_get_abort(c->q);
	return r;
}

static int w_poll(struct ctx *c, int64_t t)
{
	return conc_poll(c->pipe_empty[0], POLLIN, t);
}

static int w_sleep(struct ctx *c, int64_t t)
{
	int r;

	(void)c;
	/* A sleep cannot time out: it ends at its time with 0. */
	r = conc_sleep(t < 0 ? BOUND : t);
	return r == 0 ? -ETIMEDOUT : r;
}

static int w_mutex(struct ctx *c, int64_t t)
{
	int r = conc_mutex_timedlock(&c->m, t);

	if (r == 0)
		conc_mutex_unlock(&c->m);
	return r;
}

static int w_event(struct ctx *c, int64_t t)
{
	return conc_event_wait(&c->ev, t);
}

static int w_sem(struct ctx *c, int64_t t)
{
	return conc_sem_timedwait(&c->sem, t);
}

static int w_queue(struct ctx *c, int64_t t)
{
	char b[16];

	return (int)conc_queue_get(c->q, b, sizeof(b), t);
}

static int w_cond(struct ctx *c, int64_t t)
{
	int r = conc_mutex_lock(&c->cm);

	if (r)
		return r;
	r = conc_cond_wait(&c->cond, &c->cm, t);
	conc_mutex_unlock(&c->cm);
	return r;
}

static int w_barrier(struct ctx *c, int64_t t)
{
	/* A timeout or cancel breaks the barrier: later waits get -EPIPE. */
	return conc_barrier_wait_timed(&c->bar, t);
}

/* What the calls of w_to_thread and w_thread_join wait for: it ends at
 * the end of the test's waits (drive), not after a time that a loaded
 * machine might let pass before the cancel. */
static int released;

static void until_released(void)
{
	for (int i = 0; i < 10000 && !__atomic_load_n(&released, __ATOMIC_ACQUIRE); i++)
		sleep_ns(1 * MS);
}

static int w_to_thread_fn(void *arg)
{
	(void)arg;
	until_released();
	return 0;
}

static int w_to_thread(struct ctx *c, int64_t t)
{
	(void)c;
	return conc_to_thread(w_to_thread_fn, NULL, NULL, t);
}

static int w_rwlock(struct ctx *c, int64_t t)
{
	int r = conc_rwlock_timedrdlock(&c->rw, t);

	if (r == 0)
		conc_rwlock_unlock(&c->rw);
	return r;
}

static int w_chan(struct ctx *c, int64_t t)
{
	char b[16];

	return (int)conc_chan_recv(c->cb, b, sizeof(b), t);
}

static int sleepy(void *arg)
{
	(void)arg;
	until_released();
	return 0;
}

static int w_thread_join(struct ctx *c, int64_t t)
{
	conc_thread *th;
	int r;

	(void)c;
	if (conc_thread_start(&th, sleepy, NULL, NULL))
		return -ENOMEM;
	r = conc_thread_join(th, NULL, t);
	if (r)
		conc_thread_detach(th);
	return r;
}

static int never(void *arg)
{
	(void)arg;
	return conc_sleep(BOUND) == -ECANCELED ? 0 : 1;
}

static int w_join(struct ctx *c, int64_t t)
{
	conc_task *o;
	int r;

	(void)c;
	if (conc_go(&o, never, NULL, NULL))
		return -ENOMEM;
	r = conc_task_join(o, NULL, t);
	conc_task_cancel(o);
	conc_task_join(o, NULL, BOUND);
	return r;
}

static int w_gather(struct ctx *c, int64_t t)
{
	conc_task *o[2];
	int r;

	(void)c;
	if (conc_go(&o[0], never, NULL, NULL))
		return -ENOMEM;
	if (conc_go(&o[1], never, NULL, NULL)) {
		conc_task_cancel(o[0]);
		conc_task_join(o[0], NULL, BOUND);
		return -ENOMEM;
	}
	r = conc_gather(o, 2, NULL, 0, t);
	conc_task_cancel(o[0]);
	conc_task_cancel(o[1]);
	conc_gather(o, 2, NULL, 0, BOUND);
	return r;
}

static int w_wrlock(struct ctx *c, int64_t t)
{
	int r = conc_rwlock_timedwrlock(&c->rrw, t);

	if (r == 0)
		conc_rwlock_unlock(&c->rrw);
	return r;
}

static int w_queue_put(struct ctx *c, int64_t t)
{
	return conc_queue_put(c->qfull, "x", 1, t);
}

static int w_chan_send(struct ctx *c, int64_t t)
{
	return conc_chan_send(c->fb, "x", 1, t);
}

/* The pool's tasks run until the end of the test (check): a word the
 * workers share, as they are processes. */
static uint32_t *pool_go;

static ssize_t pool_until_go(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
	for (int i = 0; i < 10000 && !__atomic_load_n(pool_go, __ATOMIC_ACQUIRE); i++)
		sleep_ns(1 * MS);
	return 0;
}

/* One worker whose four task slots are all taken: a submit, apply or map
 * waits for a slot, a poll for something to happen. */
static conc_pool *busy_pool(struct ctx *c)
{
	conc_pool_attr pa = { .workers = 1 };

	if (c->pool)
		return c->pool;
	if (conc_pool_create(&c->pool, &pa))
		return NULL;
	for (int i = 0; i < 4; i++)
		if (conc_pool_submit(c->pool, pool_until_go, NULL, 0, &c->busy[i]))
			return NULL;
	return c->pool;
}

static int w_pool_submit(struct ctx *c, int64_t t)
{
	conc_pool *p = busy_pool(c);
	conc_future *f = NULL;
	int r;

	if (!p)
		return -ENOMEM;
	r = conc_pool_submit_timed(p, pool_until_go, NULL, 0, &f, t);
	if (f)
		conc_future_release(f);
	return r;
}

static int w_pool_apply(struct ctx *c, int64_t t)
{
	conc_pool *p = busy_pool(c);

	return p ? (int)conc_pool_apply_timed(p, pool_until_go, NULL, 0, NULL, 0, t) : -ENOMEM;
}

static int w_pool_map(struct ctx *c, int64_t t)
{
	conc_pool *p = busy_pool(c);

	return p ? conc_pool_map_timed(p, pool_until_go, "x", 1, 1, NULL, 0, 1, t) : -ENOMEM;
}

static int w_pool_poll(struct ctx *c, int64_t t)
{
	conc_pool *p = busy_pool(c);

	return p ? conc_pool_poll(p, t < 0 ? BOUND : t) : -ENOMEM;
}

static int w_imap_next(struct ctx *c, int64_t t)
{
	conc_pool *p = busy_pool(c);
	conc_imap *it;
	int r;

	if (!p || conc_pool_imap_unordered(p, pool_until_go, "x", 1, 1, 1, &it))
		return -ENOMEM;
	r = (int)conc_imap_next(it, NULL, NULL, 0, t < 0 ? BOUND : t);
	conc_imap_release(it);
	return r;
}

static int w_pool_join(struct ctx *c, int64_t t)
{
	conc_pool_attr pa = { .workers = 1 };

	if (!c->closed &&
	    (conc_pool_create(&c->closed, &pa) ||
	     conc_pool_submit(c->closed, pool_until_go, NULL, 0, &c->last) ||
	     conc_pool_close(c->closed)))
		return -ENOMEM;
	return conc_pool_join_timed(c->closed, t);
}

struct job {
	struct ctx *c;
	waitfn fn;
	int64_t timeout;
	int first, second;
	int ticked;	/* the ticker's ticks during the first call */
};

static int waiter(void *arg)
{
	struct job *j = arg;
	int t0 = j->c->ticks;

	j->first = j->fn(j->c, j->timeout);
	j->ticked = j->c->ticks - t0;
	/* Cancelled once: the next call times out normally. */
	j->second = j->fn(j->c, 10 * MS);
	return 0;
}

static int ticker(void *arg)
{
	struct ctx *c = arg;

	while (conc_sleep(1 * MS) == 0)
		c->ticks++;
	return 0;
}

static int drive(void *arg)
{
	struct job *j = arg;
	struct job tj = *j;
	conc_task *w, *tk;
	int code, i, ticked = 0;

	conc_mutex_lock(&j->c->m);
	conc_rwlock_wrlock(&j->c->rw);
	conc_rwlock_rdlock(&j->c->rrw);
	if (conc_rsem_wait(j->c->rs))
		return -5;
	if (conc_go(&tk, ticker, j->c, NULL))
		return -1;
	/* 1. A timeout, and the ticker ran while the call waited: counted
	 * by the waiter itself, summed over tries, as a loaded machine may
	 * run the ticker but a few times in 20 ms (a call that blocks the
	 * thread lets it run never). Not longer than 20 ms: w_to_thread and
	 * w_thread_join end by themselves after 200 ms. */
	tj.timeout = 20 * MS;
	for (i = 0; i < 200 && ticked <= 10; i++) {
		if (i > 0 && tj.fn == w_barrier)	/* the last try broke it */
			conc_barrier_init(&j->c->bar, 2, 0);
		if (conc_go(&w, waiter, &tj, NULL) || conc_task_join(w, &code, BOUND))
			return -2;
		ticked += tj.ticked;
		if (tj.first != -ETIMEDOUT)
			break;
	}
	/* 2. A cancel while it waits. */
	j->timeout = BOUND;
	if (conc_go(&w, waiter, j, NULL))
		return -3;
	conc_sleep(20 * MS);
	conc_task_cancel(w);
	if (conc_task_join(w, &code, BOUND))
		return -4;
	conc_mutex_unlock(&j->c->m);
	conc_rwlock_unlock(&j->c->rw);
	conc_rwlock_unlock(&j->c->rrw);
	conc_rsem_post(j->c->rs);
	conc_task_cancel(tk);
	conc_task_join(tk, NULL, BOUND);
	j->ticked = ticked;	/* not the cancelled call's */
	__atomic_store_n(&released, 1, __ATOMIC_RELEASE);
	return tj.first;
}

static void check(waitfn fn, bool barrier)
{
	struct ctx c;
	struct job j = { .c = &c, .fn = fn };
	int first_timeout, one = 1, i;
	struct sockaddr_in a = { .sin_family = AF_INET };
	conc_queue_attr qa = { .capacity = 1, .max_msg = 16 };
	socklen_t al;

	need_uring();
	memset(&c, 0, sizeof(c));
	cr_assert_eq(pipe2(c.pipe_empty, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(c.pipe_full, O_CLOEXEC | O_NONBLOCK), 0);
	while (write(c.pipe_full[1], "xxxxxxxxxxxxxxxx", 16) > 0)
		;
	fcntl(c.pipe_full[1], F_SETFL, 0);	/* full, and blocking again */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c.sock), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c.sock_full), 0);
	setsockopt(c.sock_full[0], SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
	while (send(c.sock_full[0], "xxxxxxxxxxxxxxxx", 16, MSG_DONTWAIT) > 0)
		;
	c.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(c.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(c.lfd, 4), 0);
	c.full = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c.full_at = a;
	cr_assert_eq(bind(c.full, (struct sockaddr *)&c.full_at, sizeof(c.full_at)), 0);
	al = sizeof(c.full_at);
	cr_assert_eq(getsockname(c.full, (struct sockaddr *)&c.full_at, &al), 0);
	cr_assert_eq(listen(c.full, 0), 0);
	for (i = 0; i < 8; i++) {
		c.fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		connect(c.fill[i], (struct sockaddr *)&c.full_at, sizeof(c.full_at));
	}
	cr_assert_eq(conc_rsem_create(&c.rs, NULL), 0);
	cr_assert_eq(conc_queue_create(&c.q, NULL), 0);
	cr_assert_eq(conc_chan_pair(&c.ca, &c.cb, 0), 0);
	cr_assert_eq(conc_queue_create(&c.qfull, &qa), 0);
	cr_assert_eq(conc_queue_put(c.qfull, "x", 1, 0), 0);
	cr_assert_eq(conc_chan_pair(&c.fa, &c.fb, 0), 0);
	while (conc_chan_send(c.fb, "xxxxxxxxxxxxxxxx", 16, 0) == 0)
		;
	if (!pool_go)
		cr_assert_not_null(pool_go = shared_alloc(sizeof(*pool_go)));
	*pool_go = 0;
	conc_sem_init(&c.sem, 0, 0);
	conc_barrier_init(&c.bar, 2, 0);

	first_timeout = run(drive, &j);
	if (barrier) {
		/* The timeout broke the barrier: later waits see -EPIPE. */
		cr_assert_eq(first_timeout, -ETIMEDOUT);
	} else {
		cr_assert_eq(first_timeout, -ETIMEDOUT, "timeout: %d", first_timeout);
		cr_assert_eq(j.first, -ECANCELED, "cancel: %d", j.first);
		cr_assert_eq(j.second, -ETIMEDOUT, "after the cancel: %d", j.second);
	}
	cr_assert_gt(j.ticked, 10, "the other tasks ran meanwhile: %d", j.ticked);
	__atomic_store_n(pool_go, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 4; i++)
		if (c.busy[i])
			conc_future_release(c.busy[i]);
	if (c.last)
		conc_future_release(c.last);
	if (c.pool)
		cr_expect_eq(conc_pool_destroy(c.pool), 0);
	if (c.closed)
		cr_expect_eq(conc_pool_destroy(c.closed), 0);
	conc_queue_destroy(c.qfull);
	conc_chan_close(c.fa);
	conc_chan_close(c.fb);
	conc_queue_destroy(c.q);
	conc_chan_close(c.ca);
	conc_chan_close(c.cb);
	close(c.pipe_empty[0]);
	close(c.pipe_empty[1]);
	close(c.pipe_full[0]);
	close(c.pipe_full[1]);
	close(c.sock[0]);
	close(c.sock[1]);
	close(c.sock_full[0]);
	close(c.sock_full[1]);
	close(c.lfd);
	close(c.full);
	for (i = 0; i < 8; i++)
		close(c.fill[i]);
	conc_rsem_destroy(c.rs);
}

Test(loop_waits, read) { check(w_read, false); }
Test(loop_waits, write) { check(w_write, false); }
Test(loop_waits, recv) { check(w_recv, false); }
Test(loop_waits, send) { check(w_send, false); }
Test(loop_waits, accept) { check(w_accept, false); }
Test(loop_waits, poll) { check(w_poll, false); }
Test(loop_waits, connect) { check(w_connect, false); }
Test(loop_waits, rsem) { check(w_rsem, false); }
Test(loop_waits, queue_get_begin) { check(w_get_begin, false); }
Test(loop_waits, sleep) { check(w_sleep, false); }
Test(loop_waits, join) { check(w_join, false); }
Test(loop_waits, to_thread) { check(w_to_thread, false); }
Test(loop_waits, mutex) { check(w_mutex, false); }
Test(loop_waits, event) { check(w_event, false); }
Test(loop_waits, sem) { check(w_sem, false); }
Test(loop_waits, queue_get) { check(w_queue, false); }
Test(loop_waits, cond) { check(w_cond, false); }
Test(loop_waits, barrier) { check(w_barrier, true); }
Test(loop_waits, rwlock) { check(w_rwlock, false); }
Test(loop_waits, chan_recv) { check(w_chan, false); }
Test(loop_waits, thread_join) { check(w_thread_join, false); }
Test(loop_waits, gather) { check(w_gather, false); }
Test(loop_waits, wrlock) { check(w_wrlock, false); }
Test(loop_waits, queue_put) { check(w_queue_put, false); }
Test(loop_waits, chan_send) { check(w_chan_send, false); }
Test(loop_waits, pool_submit) { check(w_pool_submit, false); }
Test(loop_waits, pool_apply) { check(w_pool_apply, false); }
Test(loop_waits, pool_map) { check(w_pool_map, false); }
Test(loop_waits, pool_poll) { check(w_pool_poll, false); }
Test(loop_waits, imap_next) { check(w_imap_next, false); }
Test(loop_waits, pool_join) { check(w_pool_join, false); }

static int join_proc(void *arg)
{
	struct ctx *c = arg;
	int st = -1, r;

	c->join_t0 = c->ticks;
	c->joining = 1;
	r = conc_proc_join(c->p, &st, BOUND);
	c->join_ticked = c->ticks - c->join_t0;
	return r ? r : (WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* The child ends when told, once the ticker has run more than 10 times
 * during the join: a join that blocks the thread sees no tick (and the
 * child ends by its own bound), whatever the load. */
static int proc_main(void *arg)
{
	struct ctx *c = arg;
	conc_task *tk, *j;
	int code = -1, i;

	if (conc_go(&tk, ticker, c, NULL) || conc_go(&j, join_proc, c, NULL))
		return -1;
	for (i = 0; i < 10000 && (!c->joining || c->ticks - c->join_t0 <= 10); i++)
		conc_sleep(1 * MS);
	if (write(c->go[1], "x", 1) != 1)
		return -3;
	if (conc_task_join(j, &code, BOUND))
		return -2;
	conc_task_cancel(tk);
	conc_task_join(tk, NULL, BOUND);
	return code;
}

static int child_waits(void *arg)
{
	struct ctx *c = arg;
	struct pollfd p = { .fd = c->go[0], .events = POLLIN };

	poll(&p, 1, 10000);
	return 5;
}

static void proc_join(void)
{
	struct ctx c;

	need_uring();
	memset(&c, 0, sizeof(c));
	cr_assert_eq(pipe2(c.go, O_CLOEXEC), 0);
	cr_assert_eq(conc_proc_start(&c.p, child_waits, &c, NULL), 0);
	cr_assert_eq(run(proc_main, &c), 5);
	cr_assert_gt(c.join_ticked, 10, "the other tasks ran meanwhile: %d",
		     c.join_ticked);
	conc_proc_release(c.p);
	close(c.go[0]);
	close(c.go[1]);
}

Test(loop_waits, proc_join_suspends_only_the_task)
{
	proc_join();
}

/* The same where the kernel lacks IORING_OP_WAITID: the pidfd is polled. */
Test(loop_waits, proc_join_through_a_poll_of_the_pidfd)
{
	setenv("CONC_LOOP_NO_WAITID_OP", "1", 1);
	proc_join();
	unsetenv("CONC_LOOP_NO_WAITID_OP");
}

/* A process started from a task: the child is a plain process (it must
 * not use the parent's ring), its conc calls block it as usual. */
static conc_sem *forked_sem;

static int forked_child(void *arg)
{
	(void)arg;
	if (conc_task_self() || conc_loop_self())
		return 1;
	if (conc_sleep(5 * MS) || conc_sem_timedwait(forked_sem, 20 * MS) != -ETIMEDOUT)
		return 2;
	return conc_sem_post(forked_sem) ? 3 : 0;
}

static int fork_from_task(void *arg)
{
	conc_proc *p;
	int st = -1, r;

	(void)arg;
	if (conc_proc_start(&p, forked_child, NULL, NULL))
		return -1;
	r = conc_sem_timedwait(forked_sem, BOUND);
	if (r)
		return r;
	if (conc_proc_join(p, &st, BOUND) || conc_proc_release(p))
		return -2;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -3;
}

Test(loop_waits, a_process_started_by_a_task_waits_as_a_plain_one)
{
	need_uring();
	forked_sem = shared_alloc(sizeof(*forked_sem));
	cr_assert_not_null(forked_sem);
	cr_assert_eq(run(fork_from_task, NULL), 0);
	shared_free(forked_sem, sizeof(*forked_sem));
}

/* The same process, as it locks before its first wait: the lock is its
 * own to unlock after the wait (it was taken as the parent's task, whose
 * context the child thought it still ran in, and the wait made the child
 * a plain thread: the unlock said -EPERM, the mutex stayed locked). */
static conc_mutex *forked_mutex;

static int locking_child(void *arg)
{
	(void)arg;
	if (conc_mutex_lock(forked_mutex))
		return 1;
	if (conc_sleep(1 * MS))
		return 2;
	return conc_mutex_unlock(forked_mutex) ? 3 : 0;
}

static int lock_after_child(void *arg)
{
	conc_proc *p;
	int st = -1;

	(void)arg;
	if (conc_proc_start(&p, locking_child, NULL, NULL))
		return -1;
	if (conc_proc_join(p, &st, BOUND) || conc_proc_release(p))
		return -2;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return WIFEXITED(st) ? WEXITSTATUS(st) : -3;
	if (conc_mutex_timedlock(forked_mutex, BOUND))
		return -4;
	return conc_mutex_unlock(forked_mutex) ? -5 : 0;
}

Test(loop_waits, a_process_started_by_a_task_unlocks_what_it_locked)
{
	need_uring();
	forked_mutex = shared_alloc(sizeof(*forked_mutex));
	cr_assert_not_null(forked_mutex);
	cr_assert_eq(conc_mutex_init(forked_mutex, 0), 0);
	cr_assert_eq(run(lock_after_child, NULL), 0);
	shared_free(forked_mutex, sizeof(*forked_mutex));
}

/* conc_once while another task runs fn: the waiter suspends alone, times
 * out, and a cancel ends its wait with -ECANCELED once. */
static conc_once_t the_once;
static conc_event once_release;
static int once_runs;

static void once_fn(void)
{
	once_runs++;
	conc_event_wait(&once_release, BOUND);	/* suspends the runner task */
}

static int once_runner(void *arg)
{
	(void)arg;
	return conc_once(&the_once, once_fn);
}

struct once_job {
	struct ctx *c;
	int first, second;
	int started, t0, ticked;	/* the ticker's ticks during the wait */
};

static int once_waiter(void *arg)
{
	struct once_job *j = arg;

	j->t0 = j->c->ticks;
	j->started = 1;
	j->first = conc_once(&the_once, once_fn);
	j->ticked = j->c->ticks - j->t0;
	j->second = conc_once_timed(&the_once, once_fn, 10 * MS);
	return 0;
}

static int once_main(void *arg)
{
	struct ctx *c = arg;
	struct once_job j = { .c = c };
	conc_task *runner, *w, *tk;
	int code = -1, i;

	if (conc_go(&runner, once_runner, NULL, NULL) || conc_yield() ||
	    conc_go(&tk, ticker, c, NULL))
		return -1;
	if (conc_once_timed(&the_once, once_fn, 0) != -ETIMEDOUT ||
	    conc_once_timed(&the_once, once_fn, 20 * MS) != -ETIMEDOUT)
		return -2;
	if (conc_go(&w, once_waiter, &j, NULL))
		return -3;
	/* Cancelled once the ticker has run more than 10 times during its
	 * wait (bounded): a wait that blocked the thread would see none. */
	for (i = 0; i < 10000 && (!j.started || c->ticks - j.t0 <= 10); i++)
		conc_sleep(1 * MS);
	conc_task_cancel(w);
	if (conc_task_join(w, NULL, BOUND) || j.first != -ECANCELED ||
	    j.second != -ETIMEDOUT)
		return -4;
	c->join_ticked = j.ticked;
	conc_event_set(&once_release);
	if (conc_once_timed(&the_once, once_fn, BOUND) != 0 ||
	    conc_task_join(runner, &code, BOUND) || code != 0)
		return -5;
	conc_task_cancel(tk);
	conc_task_join(tk, NULL, BOUND);
	return once_runs;
}

Test(loop_waits, once)
{
	struct ctx c;

	need_uring();
	memset(&c, 0, sizeof(c));
	cr_assert_eq(run(once_main, &c), 1);
	cr_assert_gt(c.join_ticked, 10, "the other tasks ran meanwhile: %d",
		     c.join_ticked);
}

/* conc_cond_wait gives m back whatever happens: a task whose wait timed
 * out and which is cancelled while it waits to take m again still owns m
 * when the call returns (-ECANCELED); it returned without m. */
static conc_mutex relock_m;
static conc_cond relock_c;

static int relock_waiter(void *arg)
{
	int *res = arg;

	if (conc_mutex_lock(&relock_m))
		return -1;
	res[0] = conc_cond_wait(&relock_c, &relock_m, 20 * MS);
	res[1] = conc_mutex_unlock(&relock_m);	/* 0: it owned m */
	return 0;
}

static int relock_main(void *arg)
{
	int *res = arg;
	conc_task *t;

	if (conc_go(&t, relock_waiter, res, NULL) || conc_yield())
		return -1;
	/* The waiter sleeps on the condition, m free: hold m past its
	 * timeout, so that it waits for m, and cancel it there. */
	if (conc_mutex_lock(&relock_m))
		return -2;
	conc_sleep(100 * MS);
	conc_task_cancel(t);
	conc_sleep(10 * MS);
	conc_mutex_unlock(&relock_m);
	return conc_task_join(t, NULL, BOUND);
}

Test(loop_waits, cond_takes_the_mutex_again_through_a_cancel)
{
	int res[2] = { 1, 1 };

	need_uring();
	cr_assert_eq(run(relock_main, res), 0);
	cr_assert(res[0] == -ECANCELED || res[0] == -ETIMEDOUT, "wait: %d", res[0]);
	cr_assert_eq(res[1], 0, "the caller did not own m after conc_cond_wait");
}

/* conc_task_cancel(3): a call with a timeout of 0 only looks and never
 * returns -ECANCELED (its caller may read any failure as "not yet" and
 * would lose the cancel). Some looks still wait a little for a thread:
 * conc_cond_wait must take m again, a queue put or get waits for another
 * producer's (consumer's) copy under the side's lock, an rsem try for
 * another taker's scan of the holder table, a future's or pool's look for
 * another caller's round of supervision. With a cancel pending, those
 * waits must leave it pending too. A thread uses the object without a
 * pause, so that it often holds the lock as the task looks when both run
 * at once (before the fixes, hundreds to thousands of the LOOKS failed on
 * 2 otherwise idle CPUs; none on one CPU, where the result holds all the
 * same). */
#define LOOKS	100000

struct look {
	void *(*hammer)(void *);	/* the thread's use of the object */
	int (*look)(struct look *);	/* cancels the task, looks: 0 found
					 * (and given back), -ETIMEDOUT not
					 * found, -ECANCELED, or another
					 * error (a failure) */
	conc_mutex m;
	conc_cond c;
	conc_queue *q;
	conc_rsem *s;
	conc_pool *pool;
	conc_future *f;
	uint32_t stop, n;
	int looks;			/* LOOKS unless said (a slow look) */
	int cancelled, lost, other;
	char big[65536], buf[65536];
};

static int look_main(void *arg)
{
	struct look *x = arg;
	pthread_t th;
	int i, r;

	if (pthread_create(&th, NULL, x->hammer, x))
		return -1;
	for (i = 0; i < (x->looks ? x->looks : LOOKS); i++, x->n++) {
		r = x->look(x);
		if (r == -ECANCELED) {
			x->cancelled++;
			continue;
		}
		if (r != 0 && r != -ETIMEDOUT)
			x->other++;
		if (conc_sleep(0) != -ECANCELED)
			x->lost++;
	}
	__atomic_store_n(&x->stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	return i;
}

static void look_everywhere(struct look *x, int (*make)(struct look *),
			    void (*unmake)(struct look *))
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		x->stop = x->n = 0;
		x->cancelled = x->lost = x->other = 0;
		cr_assert_eq(make(x), 0);
		cr_assert_eq(run(look_main, x), x->looks ? x->looks : LOOKS);
		cr_expect_eq(x->cancelled, 0, "-ECANCELED from a look, %d times (fallback %d)",
			     x->cancelled, fb);
		cr_expect_eq(x->other, 0, "neither found nor -ETIMEDOUT: %d times", x->other);
		cr_expect_eq(x->lost, 0, "the pending cancel lost: %d times", x->lost);
		unmake(x);
	}
	plain_mode();
}

static void *hammer_m(void *arg)
{
	struct look *x = arg;

	while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE)) {
		if (conc_mutex_lock(&x->m))
			break;
		conc_mutex_unlock(&x->m);
	}
	return NULL;
}

/* Nobody signals: -ETIMEDOUT, with m the caller's again. */
static int look_cond(struct look *x)
{
	int r;

	if (conc_mutex_lock(&x->m))	/* with no cancel pending */
		return -EPROTO;
	conc_task_cancel(conc_task_self());
	r = conc_cond_wait(&x->c, &x->m, 0);
	if (conc_mutex_unlock(&x->m))
		return -EPERM;
	return r == 0 ? -EPROTO : r;
}

static int make_cond(struct look *x)
{
	return conc_mutex_init(&x->m, 0) || conc_cond_init(&x->c, 0);
}

static void unmake_nothing(struct look *x)
{
	(void)x;
}

Test(loop_waits, a_cond_wait_with_timeout_0_leaves_a_pending_cancel, .timeout = 120)
{
	static struct look x = { .hammer = hammer_m, .look = look_cond };

	look_everywhere(&x, make_cond, unmake_nothing);
}

static void *hammer_q(void *arg)
{
	struct look *x = arg;

	while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE)) {
		conc_queue_put(x->q, x->big, sizeof(x->big), 0);
		conc_queue_get(x->q, x->big, sizeof(x->big), 0);
	}
	return NULL;
}

static int look_queue(struct look *x)
{
	ssize_t r;

	conc_task_cancel(conc_task_self());
	if (x->n & 1)
		r = conc_queue_get(x->q, x->buf, sizeof(x->buf), 0);
	else
		r = conc_queue_put(x->q, "x", 1, 0);
	return r > 0 ? 0 : (int)r;
}

static int make_queue(struct look *x)
{
	conc_queue_attr qa = { .capacity = 8, .max_msg = 65536 };

	return conc_queue_create(&x->q, &qa);
}

static void unmake_queue(struct look *x)
{
	cr_expect_eq(conc_queue_destroy(x->q), 0);
}

Test(loop_waits, a_queue_look_leaves_a_pending_cancel, .timeout = 120)
{
	static struct look x = { .hammer = hammer_q, .look = look_queue };

	look_everywhere(&x, make_queue, unmake_queue);
}

static void *hammer_rs(void *arg)
{
	struct look *x = arg;

	while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE))
		if (conc_rsem_timedwait(x->s, 0) == 0)
			conc_rsem_post(x->s);
	return NULL;
}

static int look_rsem(struct look *x)
{
	int r;

	conc_task_cancel(conc_task_self());
	r = x->n & 1 ? conc_rsem_trywait(x->s) : conc_rsem_timedwait(x->s, 0);

	if (r == 0)
		return conc_rsem_post(x->s) ? -EPROTO : 0;
	return r == -EAGAIN ? -ETIMEDOUT : r;
}

static int make_rsem(struct look *x)
{
	conc_rsem_attr ra = { .permits = 4 };

	return conc_rsem_create(&x->s, &ra);
}

static void unmake_rsem(struct look *x)
{
	cr_expect_eq(conc_rsem_destroy(x->s), 0);
}

Test(loop_waits, an_rsem_look_leaves_a_pending_cancel, .timeout = 120)
{
	static struct look x = { .hammer = hammer_rs, .look = look_rsem };

	look_everywhere(&x, make_rsem, unmake_rsem);
}

static ssize_t pool_nop(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
	return 0;
}

static ssize_t pool_nap(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
	sleep_ns(100 * MS);
	return 0;
}

static void *hammer_pool(void *arg)
{
	struct look *x = arg;
	conc_future *f;

	while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE))
		if (conc_pool_submit(x->pool, pool_nop, NULL, 0, &f) == 0) {
			conc_future_wait(f, BOUND);
			conc_future_release(f);
		}
	return NULL;
}

/* The future of a task that naps: pending, then finished (0). */
static int look_pool(struct look *x)
{
	conc_task_cancel(conc_task_self());
	return x->n & 1 ? conc_future_wait(x->f, 0) : conc_pool_poll(x->pool, 0);
}

static int make_pool(struct look *x)
{
	conc_pool_attr pa = { .workers = 2 };

	return conc_pool_create(&x->pool, &pa) ||
	       conc_pool_submit(x->pool, pool_nap, NULL, 0, &x->f);
}

static void unmake_pool(struct look *x)
{
	cr_expect_eq(conc_future_wait(x->f, BOUND), 0);
	cr_expect_eq(conc_future_release(x->f), 0);
	cr_expect_eq(conc_pool_destroy(x->pool), 0);
}

Test(loop_waits, a_pool_look_leaves_a_pending_cancel, .timeout = 120)
{
	/* A pool's look is a round of supervision: system calls, slower. */
	static struct look x = { .hammer = hammer_pool, .look = look_pool,
				 .looks = 10000 };

	look_everywhere(&x, make_pool, unmake_pool);
}

/* A map's look (timeout 0) takes the pool's lock to see that the pool is
 * open, a terminate's to kill the workers: held here by a thread until
 * the task has returned or sleeps on it, so the look finds it taken every
 * time (a map looks at nothing else that another caller holds for long:
 * under load, a thread beside it almost never held it as it looked). */
#include "pool/pool_impl.h"

struct map_look {
	int (*look)(conc_pool *);	/* 0, -ETIMEDOUT, or a failure */
	conc_pool *pool;
	pid_t tid;		/* the loop's thread */
	uint32_t held, looking, done;
	int r, lost;
};

static void *map_lock_holder(void *arg)
{
	struct map_look *x = arg;

	conc_mutex_lock(&x->pool->lock);
	__atomic_store_n(&x->held, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&x->looking, __ATOMIC_ACQUIRE))
		sched_yield();
	/* Until the look returned (-ECANCELED at once, before the fix) or
	 * waits for the lock: the loop's thread sleeps (nothing else puts
	 * it to sleep from here on; bounded all the same). */
	for (int i = 0; i < 10000 && !__atomic_load_n(&x->done, __ATOMIC_ACQUIRE); i++)
		if (wait_thread_sleeping(getpid(), x->tid, 1))
			break;
	conc_mutex_unlock(&x->pool->lock);
	return NULL;
}

static int map_look_main(void *arg)
{
	struct map_look *x = arg;
	pthread_t th;

	x->tid = conc_gettid();
	if (pthread_create(&th, NULL, map_lock_holder, x))
		return -1;
	while (!__atomic_load_n(&x->held, __ATOMIC_ACQUIRE))
		sched_yield();	/* no sleep, which the holder would take
				 * for the look's wait */
	__atomic_store_n(&x->looking, 1, __ATOMIC_RELEASE);
	conc_task_cancel(conc_task_self());
	x->r = x->look(x->pool);
	__atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
	x->lost = conc_sleep(0) != -ECANCELED;
	pthread_join(th, NULL);
	return 0;
}

static void look_while_locked(int (*look)(conc_pool *))
{
	conc_pool_attr pa = { .workers = 1 };
	struct map_look x;
	int fb;

	EACH_FUTEX_MODE(fb) {
		memset(&x, 0, sizeof(x));
		x.look = look;
		cr_assert_eq(conc_pool_create(&x.pool, &pa), 0);
		cr_assert_eq(run(map_look_main, &x), 0);
		cr_expect(x.r == -ETIMEDOUT || x.r == 0, "fallback %d: the look said %d", fb, x.r);
		cr_expect_eq(x.lost, 0, "fallback %d: the pending cancel lost", fb);
		cr_expect_eq(conc_pool_destroy(x.pool), 0);
	}
	plain_mode();
}

/* One item, submitted, not finished at once: -ETIMEDOUT; finished: 0. */
static int map_now(conc_pool *p)
{
	return conc_pool_map_timed(p, pool_nop, "x", 1, 1, NULL, 0, 1, 0);
}

Test(loop_waits, a_pool_map_look_leaves_a_pending_cancel, .timeout = 120)
{
	look_while_locked(map_now);
}

/* The workers killed; reaped at once (0) or not yet (-ETIMEDOUT). */
static int terminate_now(conc_pool *p)
{
	return conc_pool_terminate_timed(p, 0);
}

Test(loop_waits, a_pool_terminate_look_leaves_a_pending_cancel, .timeout = 120)
{
	look_while_locked(terminate_now);
}

/* An internal lock a call must take anyway (a thread start, a pool close,
 * a future release) may take a cancel it cannot return: it gives it back,
 * and the task's next suspending call returns it, once. */
#include "task/lock.h"

static conc_mutex keep_m;

static int keep_locker(void *arg)
{
	int *res = arg;

	__conc_lock_keep(&keep_m);		/* cancelled while it waits */
	conc_mutex_unlock(&keep_m);
	res[0] = conc_sleep(1 * MS);		/* gets the cancel */
	res[1] = conc_sleep(1 * MS);		/* works normally */
	return 0;
}

static int keep_main(void *arg)
{
	conc_task *t;

	if (conc_mutex_lock(&keep_m) || conc_go(&t, keep_locker, arg, NULL))
		return -1;
	conc_sleep(10 * MS);
	conc_task_cancel(t);
	conc_sleep(10 * MS);
	conc_mutex_unlock(&keep_m);
	return conc_task_join(t, NULL, BOUND);
}

Test(loop_waits, a_cancel_taken_by_an_internal_lock_is_given_back)
{
	int res[2] = { 1, 1 };

	need_uring();
	__conc_wait_recancel();			/* outside a loop: nothing */
	cr_assert_eq(run(keep_main, res), 0);
	cr_assert_eq(res[0], -ECANCELED);
	cr_assert_eq(res[1], 0);
}

/* A join or gather with timeout 0 only looks. The look gave the loop back
 * (it parked until its deadline, already passed): another task that ran
 * then and cancelled the looker must not make the look return -ECANCELED,
 * which a caller reading any failure as "not yet" loses; the cancel stays
 * for the next call that waits. */
struct jlook {
	conc_task *looker, *sleeper;
	int kind;	/* 0 join, 1 gather, 2 gather with CONC_GATHER_CANCEL */
};

static int jl_sleeper(void *arg)
{
	(void)arg;
	return conc_sleep(BOUND) == -ECANCELED ? 3 : -1;
}

static int jl_looker(void *arg)
{
	struct jlook *x = arg;
	int r;

	if (x->kind == 0)
		r = conc_task_join(x->sleeper, NULL, 0);
	else
		r = conc_gather(&x->sleeper, 1, NULL,
				x->kind == 2 ? CONC_GATHER_CANCEL : 0, 0);
	if (r != -ETIMEDOUT)
		return r == -ECANCELED ? -100 : -101;
	return conc_sleep(BOUND) == -ECANCELED ? 0 : -102;
}

static int jl_canceller(void *arg)
{
	struct jlook *x = arg;

	return conc_task_cancel(x->looker);
}

static int jl_main(void *arg)
{
	struct jlook *x = arg;
	conc_task *c;
	int cl = -1, cc = -1, cs = -1;

	/* They run in this order: the sleeper sleeps, the looker looks, the
	 * canceller cancels it (while it looks, until the fix). */
	if (conc_go(&x->sleeper, jl_sleeper, NULL, NULL) ||
	    conc_go(&x->looker, jl_looker, x, NULL) ||
	    conc_go(&c, jl_canceller, x, NULL))
		return -1;
	if (conc_task_join(x->looker, &cl, 2 * BOUND) || conc_task_join(c, &cc, BOUND))
		return -2;
	conc_task_cancel(x->sleeper);
	if (conc_task_join(x->sleeper, &cs, BOUND))
		return -3;
	return cl ? cl : cc ? -4 : cs == 3 ? 0 : -5;
}

Test(loop_waits, a_cancel_made_while_a_join_looks_stays_pending, .timeout = 120)
{
	struct jlook x = { 0 };

	need_uring();
	for (x.kind = 0; x.kind < 3; x.kind++)
		cr_expect_eq(run(jl_main, &x), 0, "kind %d (-100: the look said -ECANCELED)",
			     x.kind);
}
