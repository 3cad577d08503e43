/* conc/loop.h — coroutines on a per-thread io_uring loop (asyncio).
 *
 * A loop runs stackful coroutines ("tasks") on one thread. Inside a task
 * every blocking call of conc (locks, semaphores, events, queues, channels,
 * joins) and the I/O calls below suspend only that task; the same calls in
 * a plain thread block the thread. Objects shared with other threads or
 * processes work the same from both sides.
 */
#ifndef CONC_LOOP_H
#define CONC_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <conc/base.h>

/* A task started by conc_go() (asyncio.Task); valid until it is joined or
 * gathered, or until its loop's conc_run() returns (a join from another
 * thread must begin before that; one that did completes, see
 * conc_task_join(3)). */
typedef struct conc_task conc_task;

/* A thread's running loop, for conc_loop_call() from other threads. */
typedef struct conc_loop conc_loop;

/* Attributes; NULL or all zeroes means the defaults. */
typedef struct conc_task_attr {
	size_t stack_size;	/* 0: 64 KiB, enough for printf and friends */
	const char *name;	/* in stack overflow reports (15 bytes kept) */
	bool shared_stack;	/* run on the loop's shared stack: a suspended
				 * task keeps only the part it used (copied
				 * out and back); pointers into its stack
				 * must not be handed to other tasks; no
				 * memory for the copy aborts (conc_go(3)) */
} conc_task_attr;

/* conc_gather() flag: cancel the others once one returns < 0 (TaskGroup). */
#define CONC_GATHER_CANCEL 0x1u

/*
 * asyncio.run: make a loop on the calling thread, run main(arg) as its
 * first task until it returns, then cancel and join the tasks still alive,
 * free the loop and store main's return value in *exit_code (if not NULL).
 * Returns 0, -EINVAL (NULL main), -EBUSY (this thread already runs a
 * loop), -ENOMEM, or -ENOSYS when the kernel offers no io_uring (built
 * without it, or disabled by the kernel.io_uring_disabled sysctl).
 */
int conc_run(int (*main)(void *), void *arg, int *exit_code);

/*
 * asyncio.create_task: start fn(arg) as a task on the caller's loop; it
 * first runs when the caller next suspends or yields. Stores the handle in
 * *t. Returns 0, -EINVAL (not inside a loop, NULL t or fn, a stack_size
 * above 1 GiB, or above 256 KiB with shared_stack), -ENOMEM.
 */
int conc_go(conc_task **t, int (*fn)(void *), void *arg,
	    const conc_task_attr *attr);

/*
 * Wait at most timeout_ns for t to end; store what fn returned in
 * *exit_code (if not NULL) and free the handle. Any thread of the process
 * may call it: in a task only that task waits, in a plain thread the
 * thread blocks. Returns 0, -ETIMEDOUT (t keeps running and stays
 * joinable), -ECANCELED (the calling task was cancelled; t stays
 * joinable), -EDEADLK (t is the caller), -EINVAL (NULL, already being
 * joined, or not a conc_go() handle: conc_run's main task or a
 * conc_loop_call() task, which their loop frees).
 */
int conc_task_join(conc_task *t, int *exit_code, int64_t timeout_ns);

/*
 * asyncio.gather: wait for all n tasks, store their exit codes in
 * exit_codes[i] (if not NULL) and free every handle. With
 * CONC_GATHER_CANCEL, the first task to return < 0 cancels the others
 * (then still waited for). Returns 0, the first negative exit code in the
 * order of ts, -ETIMEDOUT or -ECANCELED (no handle freed: all stay
 * joinable), -EDEADLK (the caller is in ts), -EINVAL (NULL ts with n > 0,
 * a NULL entry, an entry twice or one conc_task_join() refuses with
 * -EINVAL, unknown flags); nothing waited for on -EDEADLK and -EINVAL.
 */
int conc_gather(conc_task **ts, size_t n, int *exit_codes, unsigned flags,
		int64_t timeout_ns);

/* asyncio.sleep: suspend the calling task (or block the thread) for ns.
 * 0, -ECANCELED, -EINVAL (ns < 0). */
int conc_sleep(int64_t ns);

/* Let the other runnable tasks run; returns 0 (also outside a loop). */
int conc_yield(void);

/*
 * Request cancellation: the task's current or next suspending call (any
 * of them: sleep, I/O, join, conc_sem_wait, conc_queue_get, ...) returns
 * -ECANCELED, once; later calls work normally. Its exit code is what its
 * function returns; it must still be joined. Any thread may call it.
 * Returns 0 (also for a task that has ended), -EINVAL for NULL.
 */
int conc_task_cancel(conc_task *t);

/* The running task, or NULL outside a task. */
conc_task *conc_task_self(void);

/*
 * I/O that suspends only the calling task inside a loop (through
 * io_uring) and is the ordinary blocking call outside. Short transfers are
 * returned as such; errors are -errno; -ETIMEDOUT once timeout_ns passed
 * (inside and outside a loop); -ECANCELED in a cancelled task. A signal
 * handler does not end them (no -EINTR); SIGPIPE is raised as by write(2)
 * and send(2), inside a task too.
 */
ssize_t conc_read(int fd, void *buf, size_t len, int64_t timeout_ns);
ssize_t conc_write(int fd, const void *buf, size_t len, int64_t timeout_ns);
ssize_t conc_recv(int fd, void *buf, size_t len, int flags,
		  int64_t timeout_ns);
ssize_t conc_send(int fd, const void *buf, size_t len, int flags,
		  int64_t timeout_ns);
/* The new socket (flags: SOCK_NONBLOCK, SOCK_CLOEXEC) or -errno. */
int conc_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
		int64_t timeout_ns);
int conc_connect(int fd, const struct sockaddr *addr, socklen_t addrlen,
		 int64_t timeout_ns);
/* The revents (> 0) once fd is ready for events, or -errno; never 0. */
int conc_poll(int fd, short events, int64_t timeout_ns);

/*
 * asyncio.to_thread: run fn(arg) on a conc thread (threads are reused) and
 * store its return value in *ret (if not NULL). Only the calling task
 * waits. On -ETIMEDOUT or -ECANCELED (a cancel made before the call
 * included) fn keeps running to its end on its thread (*ret is then not
 * written). A timeout_ns of 0 only looks (0 or -ETIMEDOUT, never
 * -ECANCELED: a pending cancel stays). Also callable outside a loop (the
 * thread then blocks). Returns 0, -EINVAL, -ENOMEM, -EAGAIN.
 */
int conc_to_thread(int (*fn)(void *), void *arg, int *ret,
		   int64_t timeout_ns);

/*
 * Report a task's stack overflow as such: a SIGSEGV in the guard below a
 * task's stack prints "conc: task <name> overflowed its stack (guard at
 * <addr>)" and aborts; any other SIGSEGV goes to the handler installed
 * before (install yours first). Also on with CONC_LOOP_GUARD=1 in the
 * environment. Idempotent, any thread. 0 or -errno (from sigaction).
 */
int conc_loop_guard_install(void);

/* The calling thread's loop, or NULL when it runs none. */
conc_loop *conc_loop_self(void);

/*
 * Run fn(arg) as a new task of loop l (so it may suspend, and
 * conc_task_self() is not NULL in it); safe from any thread and from l
 * itself. Returns 0 (fn will run: the call made its task, stack and all),
 * -EINVAL, -ENOMEM, or -EPIPE once that loop's main task has returned
 * (then fn never runs): callers cannot keep conc_run from returning;
 * -EPIPE also in a process forked from the loop's. A call that was on its
 * way then still runs, cancelled. Only memory bounds the calls on their
 * way (each holds its task until fn returns): pace a flood yourself.
 */
int conc_loop_call(conc_loop *l, void (*fn)(void *), void *arg);

#endif
