/* conc/thread.h — threads on raw clone(2), without pthreads
 * (threading.Thread). */
#ifndef CONC_THREAD_H
#define CONC_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <conc/base.h>

/* A thread started by conc_thread_start(); an opaque handle, valid until
 * it is joined or detached. */
typedef struct conc_thread conc_thread;

/* Attributes; NULL or all zeroes means the defaults. */
typedef struct conc_thread_attr {
	size_t stack_size;	/* 0: 8 MiB; rounded up to pages, at least 64 KiB;
				 * a guard page below it always */
	const char *name;	/* shown in /proc/PID/task/TID/comm and ps -L
				 * (15 bytes are kept) */
	bool daemon;		/* false: exit() from main waits for it first */
} conc_thread_attr;

/*
 * Run fn(arg) in a new thread of the calling process. The thread may call
 * any ordinary C library function, as under pthread_create(): it has its
 * own TLS block and TCB. Threads that finish are parked and reused, so a
 * start is usually a wake-up, not a clone(2).
 * Returns 0 and stores the handle in *t, or -EINVAL (NULL t or fn, a name
 * longer than 15 bytes is cut, not refused), -EAGAIN/-ENOMEM (no memory or
 * task for a thread), -ENOTSUP when the C library in use is not one conc
 * can give raw threads safely (see conc_thread_start(3)): use processes.
 */
int conc_thread_start(conc_thread **t, int (*fn)(void *), void *arg,
		      const conc_thread_attr *attr);

/*
 * Wait at most timeout_ns for t to finish, store what fn returned (or the
 * code given to conc_thread_exit()) in *exit_code if not NULL, and free the
 * handle. Returns 0, -ETIMEDOUT (t stays joinable), -EDEADLK when t is the
 * caller, -EINVAL for NULL or a detached thread.
 */
int conc_thread_join(conc_thread *t, int *exit_code, int64_t timeout_ns);

/* Let t go: its handle is freed when it finishes; it can no longer be
 * joined. A non-daemon thread is still waited for at exit. 0 or -EINVAL. */
int conc_thread_detach(conc_thread *t);

/* The handle of the calling conc thread, or NULL in a thread conc did not
 * start (such as main). */
conc_thread *conc_thread_self(void);

/*
 * End the calling conc thread now with code, as if fn had returned it:
 * thread-local destructors run, robust mutexes it holds are marked
 * owner-dead. No C++ unwinding happens. Called from a thread conc did not
 * start, it is exit(code); so is the end (return or conc_thread_exit) of
 * a conc thread in the child of a fork() it made, where it is the only
 * thread.
 */
_Noreturn void conc_thread_exit(int code);

#endif
