/* tests/test_sync_nosys.c — issue 2: "The uncontended path of lock/unlock,
 * post/wait and set/is_set is one atomic operation and no system call ...
 * a waker makes a futex wake only when someone waits." A child process
 * runs each uncontended path under a seccomp filter that kills it at any
 * system call (seccomp_kill_at(-1)); the pages' NOTES say the same of the
 * rwlock, a condition variable nobody waits on, a done once flag, and of
 * refusals. Children leave with _exit(). */
#include <criterion/criterion.h>
#include <conc.h>
#include "helpers.h"

static void run_without_syscalls(int (*fn)(void *), void *arg)
{
	pid_t pid;
	int st;

	if (!seccomp_available())
		cr_skip_test("no seccomp filters here");
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* Warm up first: the thread's identity and robust list are
		 * looked up once, with other system calls; then the filter. */
		conc_mutex warm;

		conc_mutex_init(&warm, CONC_ROBUST);
		conc_mutex_lock(&warm);
		conc_mutex_unlock(&warm);
		if (seccomp_kill_at(-1))
			_exit(100);
		/* exit_group itself: _exit() may make other calls first
		 * (under ASan it does). */
		syscall(SYS_exit_group, fn(arg) & 0xff);
	}
	st = wait_child(pid, 15000);
	cr_expect(!killed_by(st, SIGSYS), "a system call on an uncontended path");
	cr_expect(exited_with(st, 0), "status %#x", st);
}

static const unsigned kinds[] = {
	0, CONC_PRIVATE, CONC_RECURSIVE, CONC_ROBUST, CONC_ROBUST | CONC_RECURSIVE,
};

static int mutex_paths(void *arg)
{
	conc_mutex *shm = arg;
	size_t k;
	int i;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		conc_mutex m;

		if (conc_mutex_init(&m, kinds[k]) || conc_mutex_init(shm, kinds[k]))
			return 1;
		for (i = 0; i < 1000; i++) {
			if (conc_mutex_lock(&m) || conc_mutex_unlock(&m) ||
			    conc_mutex_trylock(&m) || conc_mutex_unlock(&m) ||
			    conc_mutex_timedlock(&m, 1000) || conc_mutex_unlock(&m) ||
			    conc_mutex_lock(shm) || conc_mutex_unlock(shm))
				return 2;
			/* Refusals make no call either. */
			if (conc_mutex_unlock(&m) != -EPERM)
				return 3;
		}
	}
	return 0;
}

Test(sync_nosys, mutex_lock_unlock, .timeout = 30)
{
	conc_mutex *shm = shared_alloc(sizeof(*shm));

	cr_assert(shm);
	run_without_syscalls(mutex_paths, shm);
	shared_free(shm, sizeof(*shm));
}

static void nothing(void) { }

static int other_paths(void *arg)
{
	conc_sem s = CONC_SEM_INIT(0);
	conc_event e = CONC_EVENT_INIT;
	conc_rwlock rw = CONC_RWLOCK_INIT;
	conc_cond c = CONC_COND_INIT;
	conc_once_t o = CONC_ONCE_INIT;
	conc_barrier b;
	int i;

	(void)arg;
	conc_barrier_init(&b, 1, 0);
	for (i = 0; i < 1000; i++) {
		if (conc_sem_post(&s) || conc_sem_wait(&s) || conc_sem_post(&s) ||
		    conc_sem_trywait(&s) || conc_sem_post(&s) ||
		    conc_sem_timedwait(&s, 1000) || conc_sem_trywait(&s) != -EAGAIN)
			return 1;
		if (conc_event_set(&e) || !conc_event_is_set(&e) ||
		    conc_event_wait(&e, -1) || conc_event_clear(&e) ||
		    conc_event_is_set(&e) || conc_event_wait(&e, 0) != -ETIMEDOUT)
			return 2;
		if (conc_rwlock_rdlock(&rw) || conc_rwlock_rdlock(&rw) ||
		    conc_rwlock_unlock(&rw) || conc_rwlock_unlock(&rw) ||
		    conc_rwlock_wrlock(&rw) || conc_rwlock_unlock(&rw))
			return 3;
		if (conc_cond_signal(&c) || conc_cond_broadcast(&c))
			return 4;
		if (conc_once(&o, nothing))
			return 5;
		if (conc_barrier_wait(&b) != CONC_BARRIER_SERIAL)
			return 6;
	}
	return 0;
}

Test(sync_nosys, sem_event_rwlock_cond_once, .timeout = 30)
{
	run_without_syscalls(other_paths, NULL);
}
