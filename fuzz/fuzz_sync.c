/*
 * fuzz_sync — libFuzzer target: the futex words of every primitive of
 * sync/ (mutex plain, recursive and robust; rwlock; semaphore; event;
 * condition variable; barrier; once) as a peer that maps them may have
 * written them, then every call on them with timeouts of 0 and of a
 * fraction of a millisecond. No crash, no out-of-bounds access (the words
 * lie in a page between two guard pages), every result one the contract
 * lists, no call past its timeout by more than a loaded machine explains,
 * and nothing of them left on the caller's robust registry.
 *
 * The input is image.h's: patches over the objects as their creator made
 * them. With (flags & TID), one word is the caller's own thread id (a
 * peer can read it from any lock the caller held), with high bits from
 * the input. With (flags & LOOP), the calls run in a task of a coroutine
 * loop, whose waits go through io_uring instead of the thread's futex.
 */
#include <sys/mman.h>
#include "image.h"
#include "sys/self.h"

#define FUZZ_LOOP 0x04

#define T_NS	   50000LL		/* a short wait */

struct objs {
	conc_mutex m[3];	/* plain, recursive, robust */
	conc_rwlock rw;
	conc_sem s;
	conc_event e;
	conc_cond c;
	conc_barrier b;
	conc_once_t o;
};

static struct image im;
static struct objs *ob;
static unsigned ran;

/* A timed call: its result in the contract, and in time. */
#define TIMED(call, t, ...) ({ int64_t t0_ = fuzz_now_ns(); long r_ = (call); \
	fuzz_in_time(#call, t0_, (t)); expect(r_, #call, __VA_ARGS__); r_; })

/* A lock taken (0, or -EOWNERDEAD: ours too) is given back; its unlock
 * cannot fail, nobody wrote the words since. */
static void release(conc_mutex *m, long r)
{
	if (r == -EOWNERDEAD)
		expect(conc_mutex_consistent(m), "conc_mutex_consistent", 0);
	if (r == 0 || r == -EOWNERDEAD)
		expect(conc_mutex_unlock(m), "conc_mutex_unlock", 0);
}

#define LOCK_ERRS 5, ETIMEDOUT, EDEADLK, EAGAIN, ENOTRECOVERABLE, ENOTSUP

static void mutexes(void)
{
	for (int k = 0; k < 3; k++) {
		conc_mutex *m = &ob->m[k];
		long r;

		r = TIMED(conc_mutex_trylock(m), 0, 5, EBUSY, EAGAIN,
			  ENOTRECOVERABLE, ENOTSUP, EOWNERDEAD);
		release(m, r);
		r = TIMED(conc_mutex_timedlock(m, 0), 0, 6, ETIMEDOUT, EDEADLK,
			  EAGAIN, ENOTRECOVERABLE, ENOTSUP, EOWNERDEAD);
		release(m, r);
		r = TIMED(conc_mutex_timedlock(m, T_NS), T_NS, 6, ETIMEDOUT,
			  EDEADLK, EAGAIN, ENOTRECOVERABLE, ENOTSUP, EOWNERDEAD);
		/* Held twice (recursive): given back twice. */
		if (r == 0 || r == -EOWNERDEAD) {
			long r2 = TIMED(conc_mutex_timedlock(m, 0), 0, 5,
					ETIMEDOUT, EDEADLK, EAGAIN,
					ENOTRECOVERABLE, ENOTSUP);

			release(m, r2);
		}
		release(m, r);
		expect(conc_mutex_consistent(m), "conc_mutex_consistent", 2,
		       EINVAL, EPERM);
	}
}

static void rwlock(void)
{
	conc_rwlock *rw = &ob->rw;
	long r;

	r = TIMED(conc_rwlock_tryrdlock(rw), 0, 3, EBUSY, EAGAIN, EDEADLK);
	if (!r)
		expect(conc_rwlock_unlock(rw), "conc_rwlock_unlock", 0);
	r = TIMED(conc_rwlock_timedrdlock(rw, T_NS), T_NS, 3, ETIMEDOUT,
		  EAGAIN, EDEADLK);
	if (!r)
		expect(conc_rwlock_unlock(rw), "conc_rwlock_unlock", 0);
	r = TIMED(conc_rwlock_trywrlock(rw), 0, 3, EBUSY, EAGAIN, EDEADLK);
	if (!r)
		expect(conc_rwlock_unlock(rw), "conc_rwlock_unlock", 0);
	r = TIMED(conc_rwlock_timedwrlock(rw, T_NS), T_NS, 3, ETIMEDOUT,
		  EAGAIN, EDEADLK);
	if (!r)
		expect(conc_rwlock_unlock(rw), "conc_rwlock_unlock", 0);
	/* Held by nobody we know of: never ours to give back. */
	TIMED(conc_rwlock_unlock(rw), 0, 1, EPERM);
}

static void sem(void)
{
	conc_sem *s = &ob->s;
	long r;

	TIMED(conc_sem_value(s), 0, 0);
	r = TIMED(conc_sem_trywait(s), 0, 1, EAGAIN);
	if (!r)
		TIMED(conc_sem_post(s), 0, 1, EOVERFLOW);
	r = TIMED(conc_sem_timedwait(s, 0), 0, 1, ETIMEDOUT);
	r = TIMED(conc_sem_timedwait(s, T_NS), T_NS, 1, ETIMEDOUT);
	TIMED(conc_sem_post(s), 0, 1, EOVERFLOW);
	(void)r;
}

static void event(void)
{
	conc_event *e = &ob->e;

	conc_event_is_set(e);
	TIMED(conc_event_wait(e, 0), 0, 1, ETIMEDOUT);
	TIMED(conc_event_wait(e, T_NS), T_NS, 1, ETIMEDOUT);
	TIMED(conc_event_set(e), 0, 0);
	TIMED(conc_event_wait(e, T_NS), T_NS, 1, ETIMEDOUT);
	TIMED(conc_event_clear(e), 0, 0);
}

static void cond(void)
{
	conc_cond *c = &ob->c;
	long r;

	TIMED(conc_cond_signal(c), 0, 0);
	TIMED(conc_cond_broadcast(c), 0, 0);
	for (int k = 0; k < 3; k++) {
		conc_mutex *m = &ob->m[k];

		r = conc_mutex_timedlock(m, 0);
		if (r)
			release(m, r);	/* only a clean lock waits below */
		if (r)
			continue;
		/* The timeout bounds the wait for a notify, not the lock
		 * again: nobody else holds m here. */
		r = TIMED(conc_cond_wait(c, m, k ? T_NS : 0), T_NS, 4,
			  ETIMEDOUT, EPERM, ENOTRECOVERABLE, EOWNERDEAD);
		/* m is the caller's again, whatever the wait's result, but
		 * for -ENOTRECOVERABLE; -EPERM unlocked nothing. */
		if (r != -ENOTRECOVERABLE)
			release(m, r == -EOWNERDEAD ? r : 0);
	}
}

static void barrier(void)
{
	conc_barrier *b = &ob->b;

	TIMED(conc_barrier_wait_timed(b, 0), 0, 3, ETIMEDOUT, EPIPE, EINVAL);
	TIMED(conc_barrier_wait_timed(b, T_NS), T_NS, 3, ETIMEDOUT, EPIPE,
	      EINVAL);
}

static void once_fn(void)
{
	ran++;
}

static void once(void)
{
	TIMED(conc_once_timed(&ob->o, once_fn, 0), 0, 2, ETIMEDOUT, EINVAL);
	TIMED(conc_once_timed(&ob->o, once_fn, T_NS), T_NS, 2, ETIMEDOUT,
	      EINVAL);
}

static int calls(void *arg)
{
	(void)arg;
	mutexes();
	rwlock();
	sem();
	event();
	cond();
	barrier();
	once();
	return 0;
}

static void make(struct objs *o)
{
	memset(o, 0, sizeof(*o));
	conc_mutex_init(&o->m[0], 0);
	conc_mutex_init(&o->m[1], CONC_RECURSIVE);
	conc_mutex_init(&o->m[2], CONC_ROBUST);
	conc_rwlock_init(&o->rw, 0);
	conc_sem_init(&o->s, 1, 0);
	conc_event_init(&o->e, 0);
	conc_cond_init(&o->c, 0);
	conc_barrier_init(&o->b, 2, 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p;

	(void)argc, (void)argv;
	/* A guard page on either side: a stray access faults. */
	p = mmap(NULL, (size_t)page * 3, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED ||
	    mprotect(p + page, (size_t)page, PROT_READ | PROT_WRITE))
		abort();
	ob = (struct objs *)(p + page);
	im.data = (unsigned char *)ob;
	im.size = sizeof(*ob);
	im.tmpl = malloc(im.size);
	if (!im.tmpl)
		abort();
	make((struct objs *)im.tmpl);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
	unsigned flags = image_load(&im, in, n, NULL, 0);
	int code;

	image_stamp_tid(&im, in, n);
	/* Without io_uring (conc_run fails), the thread's waits only. */
	if (!(flags & FUZZ_LOOP) || conc_run(calls, NULL, &code) < 0)
		calls(NULL);
	if (__conc_self_tls.robust_held) {
		fprintf(stderr, "a robust lock is still registered\n");
		abort();
	}
	return 0;
}
