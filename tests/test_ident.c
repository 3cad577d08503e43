/*
 * Who holds what, when identities come back: a conc thread runs on a
 * kernel thread that is reused (start, join, start again: the same tid),
 * a loop's tasks are numbered per thread, a fork child inherits its
 * parent's memory. Every owner the library records must still tell the
 * next holder from the last one. Each test ends a holder (a conc thread's
 * job, a loop's task) in the middle of something, then asks, under the
 * same tid, what the next one may do with it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <conc.h>
#include "loop_helpers.h"

/* Run fn on a conc thread and join it; its exit code. The worker parks
 * before the join returns, so the next start is handed the same one. */
static int on_thread(int (*fn)(void *), void *arg)
{
	conc_thread *t;
	int code = INT32_MIN, r = conc_thread_start(&t, fn, arg, NULL);

	if (r == -ENOTSUP)
		cr_skip_test("conc threads not supported here");
	cr_assert_eq(r, 0, "start: %s", strerror(-r));
	cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
	return code;
}

/* What a job saw: its kernel thread id, and a result. */
struct seen {
	pid_t tid;
	int r;
};

static conc_mutex lm, rm;	/* rm: robust */
static conc_rwlock rw;
static conc_cond cv;
static conc_rsem *sem;
static conc_queue *q;

/* One call a job makes, and may end in the middle of (holding it). */
enum op { LOCK_LM, COND_WAIT, WRLOCK, RDLOCK, TAKES, POSTS, GET_BEGIN, COMMIT, ABORT };

static int one_call(enum op op)
{
	char b[8];

	switch (op) {
	case LOCK_LM:	return conc_mutex_lock(&lm);
	case COND_WAIT:	return conc_cond_wait(&cv, &lm, 0);
	case WRLOCK:	return conc_rwlock_wrlock(&rw);
	case RDLOCK:	return conc_rwlock_rdlock(&rw);
	case TAKES:	return conc_rsem_trywait(sem);
	case POSTS:	return conc_rsem_post(sem);
	case GET_BEGIN:	return (int)conc_queue_get_begin(q, b, sizeof(b), BOUND);
	case COMMIT:	return conc_queue_get_commit(q);
	case ABORT:	return conc_queue_get_abort(q);
	}
	return -ENOSYS;
}

struct call {
	enum op op;
	struct seen *s;
};

static int job_call(void *arg)
{
	struct call *c = arg;

	c->s->tid = conc_gettid();
	return c->s->r = one_call(c->op);
}

/* A job that makes one call and ends: what it saw. */
static struct seen job(enum op op)
{
	struct seen s = { 0, INT32_MIN };
	struct call c = { op, &s };

	on_thread(job_call, &c);
	return s;
}

/* ---- a loop's task ends holding a lock; the next job runs a loop too ---- */

static int task_locks(void *arg)
{
	struct seen *s = arg;

	s->tid = conc_gettid();
	s->r = conc_mutex_lock(&lm);
	return 0;		/* ends holding it */
}

static int task_tries(void *arg)
{
	struct seen *s = arg;

	s->tid = conc_gettid();
	/* Not ours: it waits (0 polls: -ETIMEDOUT), it is not a relock. */
	s->r = conc_mutex_timedlock(&lm, 0);
	return 0;
}

static int task_unlocks(void *arg)
{
	struct seen *s = arg;

	s->tid = conc_gettid();
	s->r = conc_mutex_unlock(&lm);
	return 0;
}

static int job_runs(void *arg)
{
	void **a = arg;
	int code = -1, r = conc_run((int (*)(void *))a[0], a[1], &code);

	return r ? r : code;
}

static struct seen loop_job(int (*task)(void *))
{
	struct seen s = { 0, INT32_MIN };
	void *a[2] = { (void *)task, &s };

	cr_assert_eq(on_thread(job_runs, a), 0);
	return s;
}

Test(ident_loop, a_task_of_a_later_job_on_the_worker_is_not_the_holder, .timeout = 60)
{
	unsigned kinds[] = { 0, CONC_PRIVATE, CONC_RECURSIVE, CONC_ROBUST };
	struct seen a, b;

	need_uring();
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		cr_assert_eq(conc_mutex_init(&lm, kinds[k]), 0);
		a = loop_job(task_locks);
		cr_assert_eq(a.r, 0);
		for (int i = 0; i < 3; i++) {
			b = loop_job(task_tries);
			cr_assert_eq(b.tid, a.tid, "not the same worker");
			if (kinds[k] & CONC_ROBUST) {
				/* The job's end released it as a thread's death. */
				cr_assert_eq(b.r, -EOWNERDEAD, "flags %#x: %d", kinds[k], b.r);
				break;
			}
			cr_assert_eq(b.r, -ETIMEDOUT, "flags %#x: %s", kinds[k], strerror(-b.r));
			b = loop_job(task_unlocks);
			cr_assert_eq(b.r, -EPERM, "flags %#x: %s", kinds[k], strerror(-b.r));
		}
	}
}

/* ---- sequential conc threads on one worker: each kind of lock ---- */

static int job_robust_twice(void *arg)
{
	struct seen *s = arg;

	s->tid = conc_gettid();
	s->r = conc_mutex_lock(&rm);
	if (!s->r)
		s->r = conc_mutex_lock(&rm);
	return 0;	/* ends holding it twice */
}

static int job_robust_after(void *arg)
{
	struct seen *s = arg;
	int r;

	s->tid = conc_gettid();
	r = conc_mutex_lock(&rm);
	if (r != -EOWNERDEAD)
		return s->r = r == 0 ? 1000 : r;
	if ((r = conc_mutex_consistent(&rm)))
		return s->r = 2000 - r;
	/* Depth one, not the last job's two: one unlock frees it. */
	if ((r = conc_mutex_unlock(&rm)))
		return s->r = 3000 - r;
	return s->r = conc_mutex_unlock(&rm) == -EPERM ? 0 : 4000;
}

Test(ident_thread, a_robust_recursive_mutex_left_twice_deep_is_the_next_jobs_at_depth_one, .timeout = 30)
{
	struct seen a = { 0, INT32_MIN }, b = { 0, INT32_MIN };

	cr_assert_eq(conc_mutex_init(&rm, CONC_ROBUST | CONC_RECURSIVE), 0);
	cr_assert_eq(on_thread(job_robust_twice, &a), 0);
	cr_assert_eq(a.r, 0);
	on_thread(job_robust_after, &b);
	cr_assert_eq(b.tid, a.tid, "not the same worker");
	cr_assert_eq(b.r, 0, "%d", b.r);
	cr_assert_eq(conc_mutex_trylock(&rm), 0);
	cr_assert_eq(conc_mutex_unlock(&rm), 0);
}

/* The next job on the worker: not the holder of what the last one left. */
static int job_rw_after(void *arg)
{
	struct seen *s = arg;
	int r;

	s->tid = conc_gettid();
	if ((r = conc_rwlock_trywrlock(&rw)) != -EBUSY)
		return s->r = 1000 - r;
	if ((r = conc_rwlock_timedwrlock(&rw, 0)) != -ETIMEDOUT)
		return s->r = 2000 - r;
	if ((r = conc_rwlock_unlock(&rw)) != -EPERM)
		return s->r = 3000 - r;
	return s->r = 0;
}

Test(ident_thread, a_rwlock_left_held_is_not_the_next_jobs, .timeout = 30)
{
	enum op left[] = { WRLOCK, RDLOCK };

	for (int k = 0; k < 2; k++) {
		struct seen a, b = { 0, INT32_MIN };

		cr_assert_eq(conc_rwlock_init(&rw, k ? CONC_PRIVATE : 0), 0);
		a = job(left[k]);
		cr_assert_eq(a.r, 0);
		for (int i = 0; i < 3; i++) {
			on_thread(job_rw_after, &b);
			cr_assert_eq(b.tid, a.tid, "not the same worker");
			cr_assert_eq(b.r, 0, "%s: %d", k ? "read" : "write", b.r);
		}
		cr_assert_eq(conc_rwlock_unlock(&rw), -EPERM);
		cr_assert_eq(conc_rwlock_trywrlock(&rw), -EBUSY);
	}
}

/* A read lock of the next job's own, beside the one the last job left:
 * its unlock is its own, once. */
static int job_rd_own(void *arg)
{
	struct seen *s = arg;
	int r;

	s->tid = conc_gettid();
	if ((r = conc_rwlock_rdlock(&rw)))
		return s->r = 1000 - r;
	if ((r = conc_rwlock_unlock(&rw)))
		return s->r = 2000 - r;
	if ((r = conc_rwlock_unlock(&rw)) != -EPERM)
		return s->r = 3000 - r;
	return s->r = 0;
}

Test(ident_thread, the_next_jobs_read_lock_is_its_own_once, .timeout = 30)
{
	struct seen a = { 0, INT32_MIN }, b = { 0, INT32_MIN };

	cr_assert_eq(conc_rwlock_init(&rw, 0), 0);
	a = job(RDLOCK);
	cr_assert_eq(a.r, 0);
	on_thread(job_rd_own, &b);
	cr_assert_eq(b.tid, a.tid, "not the same worker");
	cr_assert_eq(b.r, 0, "%d", b.r);
	cr_assert_eq(conc_rwlock_trywrlock(&rw), -EBUSY);	/* a's is still in */
}

Test(ident_thread, a_cond_wait_on_a_mutex_the_last_job_left_is_eperm, .timeout = 30)
{
	unsigned kinds[] = { 0, CONC_PRIVATE, CONC_ROBUST };

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct seen a = { 0, INT32_MIN }, b = { 0, INT32_MIN };

		cr_assert_eq(conc_mutex_init(&lm, kinds[k]), 0);
		cr_assert_eq(conc_cond_init(&cv, kinds[k] & CONC_PRIVATE), 0);
		a = job(LOCK_LM);
		cr_assert_eq(a.r, 0);
		if (kinds[k] & CONC_ROBUST) {
			/* Let go at the job's end: the next locker hears of it. */
			b = job(COND_WAIT);
			cr_assert_eq(b.r, -EPERM, "%d", b.r);
			b = job(LOCK_LM);
			cr_assert_eq(b.r, -EOWNERDEAD, "%d", b.r);
			continue;
		}
		b = job(COND_WAIT);
		cr_assert_eq(b.tid, a.tid, "not the same worker");
		cr_assert_eq(b.r, -EPERM, "flags %#x: %d", kinds[k], b.r);
	}
}

/* ---- rsem permits and a two-step get left by a job ---- */

static int job_takes_posts(void *arg)
{
	struct seen *s = arg;
	int r;

	s->tid = conc_gettid();
	/* -EOWNERDEAD: taken, and told of the last job's end. */
	if ((r = conc_rsem_timedwait(sem, BOUND)) && r != -EOWNERDEAD)
		return s->r = 1000 - r;
	if ((r = conc_rsem_post(sem)))
		return s->r = 2000 - r;
	return s->r = conc_rsem_post(sem) == -EPERM ? 0 : 3000;
}

Test(ident_thread, a_permit_the_last_job_left_is_back_and_not_the_next_jobs, .timeout = 30)
{
	struct seen a = { 0, INT32_MIN }, b = { 0, INT32_MIN };
	conc_rsem_attr at = { .permits = 2 };

	cr_assert_eq(conc_rsem_create(&sem, &at), 0);
	a = job(TAKES);
	cr_assert_eq(a.r, 0);
	b = job(POSTS);
	cr_assert_eq(b.tid, a.tid, "not the same worker");
	cr_assert_eq(b.r, -EPERM, "%d", b.r);
	cr_assert_eq(conc_rsem_value(sem), 2);
	for (int i = 0; i < 2; i++) {
		a = job(TAKES);
		cr_assert(a.r == 0 || a.r == -EOWNERDEAD, "%d", a.r);
	}
	on_thread(job_takes_posts, &b);
	cr_assert_eq(b.r, 0, "%d", b.r);
	cr_assert_eq(conc_rsem_post(sem), -EPERM);
	cr_assert_eq(conc_rsem_destroy(sem), 0);
}

static int job_get(void *arg)
{
	struct seen *s = arg;
	char b[8] = "";

	s->tid = conc_gettid();
	s->r = (int)conc_queue_get(q, b, sizeof(b), BOUND);
	return s->r == 2 && !memcmp(b, "a", 2) ? 0 : 1;
}

Test(ident_thread, a_two_step_get_the_last_job_left_is_not_the_next_jobs, .timeout = 30)
{
	struct seen a = { 0, INT32_MIN }, b = { 0, INT32_MIN };
	char buf[8] = "";

	cr_assert_eq(conc_queue_create(&q, NULL), 0);
	cr_assert_eq(conc_queue_put(q, "a", 2, 0), 0);
	a = job(GET_BEGIN);
	cr_assert_eq(a.r, 2);
	b = job(COMMIT);
	cr_assert_eq(b.tid, a.tid, "not the same worker");
	cr_assert_eq(b.r, -EINVAL, "%d", b.r);
	b = job(ABORT);
	cr_assert_eq(b.r, -EINVAL, "%d", b.r);
	cr_assert_eq(conc_queue_size(q), 1);
	/* The message stayed first in line, for the next getter. */
	cr_assert_eq(on_thread(job_get, &b), 0, "%d", b.r);
	cr_assert_eq(conc_queue_size(q), 0);
	/* Again, and the next getter only polls: the lock the job left
	 * parked is not one to wait for, it is free. */
	cr_assert_eq(conc_queue_put(q, "b", 2, 0), 0);
	a = job(GET_BEGIN);
	cr_assert_eq(a.r, 2);
	cr_assert_eq(conc_queue_get(q, buf, sizeof(buf), 0), 2);
	cr_assert_str_eq(buf, "b");
	cr_assert_eq(conc_queue_get_commit(q), -EINVAL);
	cr_assert_eq(conc_queue_destroy(q), 0);
}

/* ---- conc_thread_exit from inside a coroutine, then the worker again ---- */

static conc_mutex pm;

static int task_takes_all_and_exits(void *arg)
{
	struct seen *s = arg;

	s->tid = conc_gettid();
	if ((s->r = conc_mutex_lock(&pm)) || (s->r = conc_mutex_lock(&rm)))
		return 1;
	if ((s->r = conc_rsem_trywait(sem)) && s->r != -EOWNERDEAD)
		return 1;
	s->r = 0;
	conc_thread_exit(7);
}

static int job_after_exit(void *arg)
{
	struct seen *s = arg;
	int r;

	s->tid = conc_gettid();
	if ((r = conc_mutex_trylock(&pm)) != -EBUSY)
		return s->r = 1000 - r;
	if ((r = conc_mutex_unlock(&pm)) != -EPERM)
		return s->r = 2000 - r;
	if ((r = conc_rsem_post(sem)) != -EPERM)
		return s->r = 3000 - r;
	if ((r = conc_rsem_trywait(sem)) && r != -EOWNERDEAD)
		return s->r = 4000 - r;
	if ((r = conc_rsem_post(sem)))
		return s->r = 5000 - r;
	if ((r = conc_mutex_lock(&rm)) != -EOWNERDEAD)
		return s->r = 6000 - r;
	if ((r = conc_mutex_consistent(&rm)) || (r = conc_mutex_unlock(&rm)))
		return s->r = 7000 - r;
	return s->r = 0;
}

static int task_after_exit(void *arg)
{
	struct seen *s = arg;
	int r;

	s->tid = conc_gettid();
	if (!conc_task_self() || !conc_loop_self())
		return s->r = 100;
	if ((r = conc_mutex_timedlock(&pm, 0)) != -ETIMEDOUT)
		return s->r = 1000 - r;
	if ((r = conc_mutex_unlock(&pm)) != -EPERM)
		return s->r = 2000 - r;
	if ((r = conc_rsem_post(sem)) != -EPERM)
		return s->r = 3000 - r;
	return s->r = 0;
}

Test(ident_loop, thread_exit_in_a_task_then_the_next_jobs_on_the_worker, .timeout = 60)
{
	unsigned kinds[] = { 0, CONC_PRIVATE, CONC_RECURSIVE };
	struct seen a, b;
	int code;

	need_uring();
	cr_assert_eq(conc_rsem_create(&sem, NULL), 0);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		void *arg[2] = { (void *)task_takes_all_and_exits, &a };

		cr_assert_eq(conc_mutex_init(&pm, kinds[k]), 0);
		cr_assert_eq(conc_mutex_init(&rm, CONC_ROBUST | (kinds[k] & CONC_RECURSIVE)), 0);
		a = (struct seen){ 0, INT32_MIN };
		code = on_thread(job_runs, arg);
		cr_assert_eq(a.r, 0, "%d", a.r);
		cr_assert_eq(code, 7);
		b = (struct seen){ 0, INT32_MIN };
		cr_assert_eq(on_thread(job_after_exit, &b), 0, "flags %#x: %d", kinds[k], b.r);
		cr_assert_eq(b.tid, a.tid, "not the same worker");
		/* A loop again on that worker: it may run one (not -EBUSY),
		 * and its task is not the one that exited. */
		b = loop_job(task_after_exit);
		cr_assert_eq(b.tid, a.tid, "not the same worker");
		cr_assert_eq(b.r, 0, "flags %#x: %d", kinds[k], b.r);
	}
	cr_assert_eq(conc_rsem_destroy(sem), 0);
}

/* ---- fork: the child of a conc thread that holds things ---- */

/* In shared memory: parent and child see the same locks. */
struct forked {
	conc_mutex plain, robust;
	int child[8];
};

static struct forked *shared_locks(void)
{
	struct forked *f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(f, MAP_FAILED);
	cr_assert_eq(conc_mutex_init(&f->plain, 0), 0);
	cr_assert_eq(conc_mutex_init(&f->robust, CONC_ROBUST), 0);
	return f;
}

static int take_all(struct forked *f)
{
	int r;

	if ((r = conc_mutex_lock(&f->plain)) || (r = conc_mutex_lock(&f->robust)) ||
	    (r = conc_rsem_trywait(sem)))
		return 100 - r;
	return 0;
}

static int give_all(struct forked *f)
{
	int r;

	if ((r = conc_mutex_unlock(&f->robust)))
		return 400 - r;
	if ((r = conc_mutex_unlock(&f->plain)))
		return 500 - r;
	if ((r = conc_rsem_post(sem)))
		return 600 - r;
	return 0;
}

static int child_takes_second(void *arg)
{
	(void)arg;
	return conc_rsem_trywait(sem);	/* ends holding it */
}

/* The child: none of what the forking job holds is its own; a conc
 * thread of its own comes and goes; it drops its copy of the semaphore
 * (which unmaps it here) and ends as the job's end, its return. */
static int in_child(struct forked *f)
{
	conc_thread *t;
	int code = -1;

	f->child[0] = conc_mutex_unlock(&f->plain);
	f->child[1] = conc_mutex_trylock(&f->plain);
	f->child[2] = conc_rsem_post(sem);
	if (conc_thread_start(&t, child_takes_second, NULL, NULL) ||
	    conc_thread_join(t, &code, BOUND))
		f->child[3] = -1000;
	else
		f->child[3] = code;
	f->child[4] = conc_rsem_destroy(sem);
	return 5;
}

static int job_holds_and_forks(void *arg)
{
	struct forked *f = arg;
	pid_t pid;
	int r, st;

	if ((r = take_all(f)))
		return r;
	pid = test_fork();
	if (pid == 0)
		return in_child(f);
	if (pid < 0)
		return 200;
	st = wait_child(pid, 10000);
	if (!exited_with(st, 5))
		return st == -1 ? 300 : WIFSIGNALED(st) ? 1000 + WTERMSIG(st)
						     : 2000 + WEXITSTATUS(st);
	/* All still the job's: the child's end let go of nothing here. */
	return give_all(f);
}

Test(ident_fork, the_child_of_a_conc_thread_holds_none_of_its_locks_and_ends_clean, .timeout = 60)
{
	struct forked *f = shared_locks();
	conc_rsem_attr at = { .permits = 2 };
	int code;

	cr_assert_eq(conc_rsem_create(&sem, &at), 0);
	memset(f->child, 0x7f, sizeof(f->child));
	code = on_thread(job_holds_and_forks, f);
	cr_assert_eq(code, 0, "%d", code);
	cr_assert_eq(f->child[0], -EPERM);
	cr_assert_eq(f->child[1], -EBUSY);
	cr_assert_eq(f->child[2], -EPERM);
	cr_assert(f->child[3] == 0 || f->child[3] == -EOWNERDEAD, "%d", f->child[3]);
	cr_assert_eq(f->child[4], 0);
	/* Nobody died holding the robust one: the parent's job unlocked it. */
	cr_assert_eq(conc_mutex_trylock(&f->robust), 0);
	cr_assert_eq(conc_mutex_unlock(&f->robust), 0);
	cr_assert_eq(conc_rsem_destroy(sem), 0);
	munmap(f, sizeof(*f));
}

/* ---- fork: the child of a task (conc_proc_start from a coroutine) ---- */

static int child_task(void *arg)
{
	struct forked *f = arg;

	f->child[5] = conc_task_self() != NULL && conc_loop_self() != NULL;
	f->child[6] = conc_mutex_unlock(&f->plain);
	return 0;
}

/* The child of a task: a plain thread, holding none of the task's locks,
 * free to run a loop and conc threads of its own. */
static int child_of_task(void *arg)
{
	struct forked *f = arg;
	conc_thread *t;
	int code = -1, r;

	f->child[0] = (conc_task_self() != NULL) | (conc_loop_self() != NULL) << 1;
	f->child[1] = conc_mutex_unlock(&f->plain);
	f->child[2] = conc_mutex_unlock(&f->robust);
	f->child[3] = conc_mutex_trylock(&f->robust);
	f->child[4] = conc_rsem_post(sem);
	r = conc_run(child_task, f, &code);
	if (r || code)
		return 10;
	if (conc_thread_start(&t, child_takes_second, NULL, NULL) ||
	    conc_thread_join(t, &code, BOUND))
		return 11;
	f->child[7] = code;
	return 5;
}

static int task_holds_and_forks(void *arg)
{
	struct forked *f = arg;
	conc_proc *p;
	int r, st = -1;

	if ((r = take_all(f)))
		return r;
	if ((r = conc_proc_start(&p, child_of_task, f, NULL)))
		return 200 - r;
	r = conc_proc_join(p, &st, BOUND);
	conc_proc_release(p);
	if (r || !WIFEXITED(st) || WEXITSTATUS(st) != 5)
		return 300;
	return give_all(f);
}

Test(ident_fork, the_child_of_a_task_holds_none_of_its_locks, .timeout = 60)
{
	struct forked *f = shared_locks();
	conc_rsem_attr at = { .permits = 2 };
	int code;

	need_uring();
	cr_assert_eq(conc_rsem_create(&sem, &at), 0);
	memset(f->child, 0x7f, sizeof(f->child));
	code = run(task_holds_and_forks, f);
	cr_assert_eq(code, 0, "%d", code);
	cr_assert_eq(f->child[0], 0, "%d", f->child[0]);
	cr_assert_eq(f->child[1], -EPERM);
	cr_assert_eq(f->child[2], -EPERM);
	cr_assert_eq(f->child[3], -EBUSY);
	cr_assert_eq(f->child[4], -EPERM);
	cr_assert_eq(f->child[5], 1);
	cr_assert_eq(f->child[6], -EPERM);
	cr_assert(f->child[7] == 0 || f->child[7] == -EOWNERDEAD, "%d", f->child[7]);
	cr_assert_eq(conc_mutex_trylock(&f->robust), 0);
	cr_assert_eq(conc_mutex_unlock(&f->robust), 0);
	cr_assert_eq(conc_rsem_destroy(sem), 0);
	munmap(f, sizeof(*f));
}

/* ---- a loop's handle names that loop, not the next one on its thread ---- */

static conc_loop *old_loop, *new_loop;
static conc_event ready, done;

static int task_keeps_handle(void *arg)
{
	(void)arg;
	old_loop = conc_loop_self();
	if (arg)
		conc_thread_exit(3);	/* the loop is abandoned, not ended */
	return 0;
}

static void call_sets_done(void *arg)
{
	(void)arg;
	conc_event_set(&done);
}

static void call_never(void *arg)
{
	(void)arg;
	conc_event_set(&ready);	/* ready again: the wrong loop ran it */
}

static int task_waits_for_call(void *arg)
{
	(void)arg;
	new_loop = conc_loop_self();
	conc_event_set(&ready);
	return conc_event_wait(&done, BOUND);
}

Test(ident_loop, a_loop_handle_of_the_last_job_is_not_the_next_jobs_loop, .timeout = 60)
{
	for (int exits = 0; exits < 2; exits++) {
		void *a1[2] = { (void *)task_keeps_handle, exits ? (void *)1 : NULL };
		void *a2[2] = { (void *)task_waits_for_call, NULL };
		conc_thread *t;
		int code = -1;

		need_uring();
		cr_assert_eq(conc_event_init(&ready, 0), 0);
		cr_assert_eq(conc_event_init(&done, 0), 0);
		cr_assert_eq(on_thread(job_runs, a1), exits ? 3 : 0);
		cr_assert_not_null(old_loop);
		cr_assert_eq(conc_thread_start(&t, job_runs, a2, NULL), 0);
		cr_assert_eq(conc_event_wait(&ready, BOUND), 0);
		cr_assert_eq(conc_event_clear(&ready), 0);
		cr_assert_neq(new_loop, old_loop);
		cr_assert_eq(conc_loop_call(old_loop, call_never, NULL), -EPIPE);
		cr_assert_eq(conc_loop_call(new_loop, call_sets_done, NULL), 0);
		cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
		cr_assert_eq(code, 0, "%d", code);
		cr_assert_eq(conc_event_wait(&ready, 0), -ETIMEDOUT);
	}
}

/* ---- a job's own code and the tasks of the loop it runs ---- */

static int task_not_the_job(void *arg)
{
	int *r = arg;

	r[0] = conc_mutex_timedlock(&lm, 0);	/* the job's: wait, not relock */
	r[1] = conc_mutex_unlock(&lm);
	r[2] = conc_rwlock_timedwrlock(&rw, 0);
	r[3] = conc_rwlock_unlock(&rw);
	r[4] = conc_rsem_post(sem);
	return 0;
}

/* Takes each kind before its loop, runs it, and has them back after:
 * outside the loop's tasks the job is the context it was before. */
static int job_around_a_loop(void *arg)
{
	int *r = arg, code = -1, e;

	if ((e = conc_mutex_lock(&lm)) || (e = conc_rwlock_wrlock(&rw)) ||
	    (e = conc_rsem_trywait(sem)))
		return 100 - e;
	if ((e = conc_run(task_not_the_job, r, &code)) || code)
		return 200 - e;
	if ((e = conc_rsem_post(sem)))
		return 300 - e;
	if ((e = conc_rwlock_unlock(&rw)))
		return 400 - e;
	if ((e = conc_mutex_unlock(&lm)))
		return 500 - e;
	return 0;
}

Test(ident_loop, the_tasks_of_a_jobs_loop_are_not_the_job, .timeout = 60)
{
	unsigned kinds[] = { 0, CONC_RECURSIVE, CONC_ROBUST };

	need_uring();
	cr_assert_eq(conc_rsem_create(&sem, NULL), 0);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		int r[5] = { 1, 1, 1, 1, 1 }, code;

		cr_assert_eq(conc_mutex_init(&lm, kinds[k]), 0);
		cr_assert_eq(conc_rwlock_init(&rw, 0), 0);
		for (int i = 0; i < 2; i++) {	/* a fresh worker, then a reused one */
			code = on_thread(job_around_a_loop, r);
			cr_assert_eq(code, 0, "flags %#x: %d", kinds[k], code);
			cr_assert_eq(r[0], -ETIMEDOUT, "flags %#x: %d", kinds[k], r[0]);
			cr_assert_eq(r[1], -EPERM);
			cr_assert_eq(r[2], -ETIMEDOUT, "%d", r[2]);
			cr_assert_eq(r[3], -EPERM);
			cr_assert_eq(r[4], -EPERM);
		}
	}
	cr_assert_eq(conc_rsem_destroy(sem), 0);
}

/* ---- fork while other threads hold the library's own locks ----
 * The process's lists (parked workers, rsem handles) have locks that a
 * thread of the parent may hold at the fork; the child, where that thread
 * does not exist, sets them up again. Forks while two threads churn
 * through both; every child must get through them in its bound. */

static uint32_t churn_stop;

static int churn_takes(void *arg)
{
	return conc_rsem_trywait(arg) < 0;	/* and ends holding it */
}

static int churner(void *arg)
{
	conc_rsem *s;
	conc_thread *t;
	int code;

	(void)arg;
	while (!__atomic_load_n(&churn_stop, __ATOMIC_ACQUIRE)) {
		if (conc_rsem_create(&s, NULL))
			return 1;
		if (conc_thread_start(&t, churn_takes, s, NULL) ||
		    conc_thread_join(t, &code, BOUND) || code)
			return 2;
		if (conc_rsem_destroy(s))
			return 3;
	}
	return 0;
}

static int child_uses_the_lists(void)
{
	conc_rsem *s;
	conc_thread *t;
	int code = -1;

	if (conc_rsem_create(&s, NULL))
		return 1;
	if (conc_thread_start(&t, churn_takes, s, NULL) ||
	    conc_thread_join(t, &code, BOUND) || code)
		return 2;
	return conc_rsem_destroy(s) ? 3 : 0;
}

Test(ident_fork, a_child_forked_while_threads_hold_the_librarys_lists_gets_through, .timeout = 120)
{
	conc_rsem_attr big = { .permits = 1, .holders = CONC_RSEM_HOLDERS_MAX };
	conc_rsem *many[16];
	conc_thread *c[2];
	int code, st, i;

	/* Handles with long tables: a thread's end walks them all under
	 * the list's lock, which a fork then often finds taken. */
	for (i = 0; i < 16; i++)
		cr_assert_eq(conc_rsem_create(&many[i], &big), 0);
	__atomic_store_n(&churn_stop, 0, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++)
		cr_assert_eq(conc_thread_start(&c[i], churner, NULL, NULL), 0);
	for (i = 0; i < 100; i++) {
		pid_t pid = test_fork();

		if (pid == 0)
			_exit(child_uses_the_lists());
		cr_assert_gt(pid, 0);
		st = wait_child(pid, 10000);
		cr_assert(exited_with(st, 0), "round %d: status %#x", i, st);
	}
	__atomic_store_n(&churn_stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(conc_thread_join(c[i], &code, BOUND * 3), 0);
		cr_assert_eq(code, 0);
	}
	for (i = 0; i < 16; i++)
		cr_assert_eq(conc_rsem_destroy(many[i]), 0);
}

/* ---- ids near their wrap ----
 * A loop's task ids (per thread) and a conc thread's job contexts (per
 * process) are counters, each wrapping within a range of its own
 * (sys/self.h). The tests start them near a wrap: the thread's task
 * counter is a field of the entry conc.h declares (task_ids), the job
 * counter a hidden global of the static library. A context that holds a
 * plain and a recursive mutex runs a loop whose tasks are numbered across
 * the point: none of them may relock, take or unlock either. */
extern uint32_t __conc_jobs;

#define WRAP_TRIES 6

struct wrap {
	conc_mutex plain, rec;
	uint32_t start;		/* the task counter's start; 0: the job's ctx - 2 */
	uint32_t holder, tries, ids[WRAP_TRIES];
	int r[WRAP_TRIES][3];
};

static int wrap_tries(void *arg)
{
	struct wrap *w = arg;
	uint32_t i = __atomic_fetch_add(&w->tries, 1, __ATOMIC_RELAXED);

	if (i >= WRAP_TRIES)
		return 1;
	w->ids[i] = __conc_self_tls.ctx;
	w->r[i][0] = conc_mutex_trylock(&w->plain);
	w->r[i][1] = conc_mutex_unlock(&w->plain);
	w->r[i][2] = conc_mutex_trylock(&w->rec);
	return 0;
}

static int tasks_across_the_wrap(void *arg)
{
	conc_task *t;
	int code, e;

	if ((e = wrap_tries(arg)))
		return e;
	for (int i = 1; i < WRAP_TRIES; i++) {
		if ((e = conc_go(&t, wrap_tries, arg, NULL)))
			return 10 - e;
		if ((e = conc_task_join(t, &code, BOUND)) || code)
			return 20 - e;
	}
	return 0;
}

static int holds_then_loops(void *arg)
{
	struct wrap *w = arg;
	int code = -1, e;

	w->tries = 0;
	if ((e = conc_mutex_lock(&w->plain)) || (e = conc_mutex_lock(&w->rec)))
		return 100 - e;
	w->holder = __conc_self_tls.ctx;
	__conc_self_tls.task_ids = w->start ? w->start : w->holder - 2;
	if ((e = conc_run(tasks_across_the_wrap, w, &code)) || code)
		return 200 - e + code;
	/* Still the holder's, once deep. */
	if ((e = conc_mutex_unlock(&w->rec)) || (e = conc_mutex_unlock(&w->plain)))
		return 300 - e;
	if ((e = conc_mutex_trylock(&w->rec)) || (e = conc_mutex_unlock(&w->rec)))
		return 400 - e;
	return 0;
}

static void check_wrap(const struct wrap *w, const char *where)
{
	cr_assert_eq(w->tries, WRAP_TRIES, "%s", where);
	for (int i = 0; i < WRAP_TRIES; i++) {
		cr_assert(w->ids[i] && w->ids[i] <= 0x7fffffffu && w->ids[i] != w->holder,
			  "%s: task %d has id %#x (holder %#x)", where, i, w->ids[i], w->holder);
		cr_assert_eq(w->r[i][0], -EBUSY, "%s: task %#x: %d", where, w->ids[i], w->r[i][0]);
		cr_assert_eq(w->r[i][1], -EPERM, "%s: task %#x: %d", where, w->ids[i], w->r[i][1]);
		cr_assert_eq(w->r[i][2], -EBUSY, "%s: task %#x: %d", where, w->ids[i], w->r[i][2]);
	}
}

static void wrap_round(struct wrap *w, uint32_t start, bool on_a_job, const char *where)
{
	int code;

	cr_assert_eq(conc_mutex_init(&w->plain, 0), 0);
	cr_assert_eq(conc_mutex_init(&w->rec, CONC_RECURSIVE), 0);
	w->start = start;
	code = on_a_job ? on_thread(holds_then_loops, w) : holds_then_loops(w);
	cr_assert_eq(code, 0, "%s: %d", where, code);
	if (on_a_job)
		cr_assert(w->holder & 0x80000000u, "%s: job %#x", where, w->holder);
	else
		cr_assert_eq(w->holder, 0, "%s", where);
	check_wrap(w, where);
}

Test(ident_wrap, task_ids_never_reach_the_jobs_nor_0, .timeout = 60)
{
	static struct wrap w;

	need_uring();
	conc_gettid();	/* the entry is this process's from here on */
	wrap_round(&w, 0, true, "job, tasks from its own ctx - 2");
	wrap_round(&w, 0x7ffffffdu, true, "job, tasks across 2^31");
	wrap_round(&w, 0xfffffffdu, true, "job, tasks across 2^32");
	wrap_round(&w, 0x7ffffffdu, false, "thread, tasks across 2^31");
	wrap_round(&w, 0xfffffffdu, false, "thread, tasks across 2^32");
}

Test(ident_wrap, job_contexts_wrap_within_their_range, .timeout = 60)
{
	static struct wrap w;
	uint32_t seen[4];

	need_uring();
	__atomic_store_n(&__conc_jobs, 0xfffffffdu, __ATOMIC_RELAXED);
	for (int i = 0; i < 4; i++) {	/* one worker, reused: the same tid */
		wrap_round(&w, 0, true, "jobs across the wrap");
		seen[i] = w.holder;
		for (int j = 0; j < i; j++)
			cr_assert_neq(seen[i], seen[j], "job %d: %#x again", i, seen[i]);
	}
}
