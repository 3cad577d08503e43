/* conc/pool.h — fork-based worker pool that never hangs
 * (multiprocessing.Pool, concurrent.futures). */
#ifndef CONC_POOL_H
#define CONC_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <conc/base.h>

/*
 * A pool of worker processes forked from the caller, and the future of one
 * submitted task: opaque handles owned by the caller.
 *
 * Supervision is driven by the caller, without a thread of the pool's own:
 * every call that waits (conc_future_wait, conc_pool_apply, conc_pool_map,
 * conc_imap_next, conc_pool_poll, conc_pool_join, and conc_pool_submit when
 * every task slot is busy; their _timed forms too) collects finished tasks, reaps workers that
 * died, kills workers whose task overran its timeout, forks replacements
 * and runs the callbacks. So callbacks run in the parent, in the thread
 * making such a call, exactly once per task, before that call returns and
 * never while a lock of the pool is held (a callback may submit, wait,
 * release its future). With several threads, that may be another thread
 * than the submitter's: one thread supervises at a time, the others wait
 * for its round to end. A program that waits on nothing calls
 * conc_pool_poll() to have its callbacks run.
 *
 * Workers are forked at conc_pool_create(), before the caller starts
 * threads if possible; a replacement is forked later by the supervising
 * thread. Each is a copy of the parent at the moment of its fork (fork
 * semantics, see conc_proc_start): task functions and initializers are
 * plain function pointers of the program, valid in every worker. When the
 * parent has threads, only the forking thread exists in a worker: a task
 * must not wait for a lock another thread of the parent held at the fork
 * (the C library's own locks are made consistent). Workers die with the
 * parent (PR_SET_PDEATHSIG: to be exact with the parent *thread* that
 * forked them; one killed that way is replaced like any other, and the
 * task it held fails with CONC_FUTURE_SIGNALED(SIGKILL)), leave with
 * _exit and never run the parent's atexit handlers; the parent's stdio
 * buffers are flushed before each fork so nothing is written twice.
 *
 * Inside a coroutine that was cancelled (conc(7)), a call that waits
 * returns -ECANCELED as it would -ETIMEDOUT at its timeout: what the _timed
 * forms say of a timeout holds (terminate has killed and cancelled all the
 * same; destroy has not freed the pool).
 *
 * One pool may be used by several threads of its process at once; it is
 * not shared with other processes: in a worker (a task calling into its
 * pool) or a fork child of the caller, every call on it or its futures
 * that would touch the pool fails with -EPERM and touches nothing, even
 * destroy. A callback must not destroy its pool.
 *
 * The program may ignore SIGCHLD or reap children itself: a worker reaped
 * that way is still seen to die, but how is lost (its task's status is
 * -ECHILD). A task that calls exit() ends its worker without running the
 * parent's atexit handlers (glibc); a fork child of a task that returns
 * from it exits there.
 */
typedef struct conc_pool conc_pool;
typedef struct conc_future conc_future;

/*
 * A task: read arg_len bytes at arg, write at most result_cap bytes at
 * result, return the result's length or a negative errno (reported as the
 * task's status). A value above result_cap is reported as -EMSGSIZE, one
 * below -4095 as -EPROTO. Runs in a worker process. result is the
 * worker's own buffer, ending at a guard page: writing past result_cap
 * (rounded up to a multiple of 16) kills the worker (the task fails alone, CONC_FUTURE_SIGNALED(SIGSEGV));
 * a length read back from the pool's shared memory that does not fit is
 * the item's failure, -EPROTO.
 */
typedef ssize_t (*conc_task_fn)(const void *arg, size_t arg_len,
				void *result, size_t result_cap);

/* Attributes; NULL or zero fields mean the defaults noted. */
typedef struct conc_pool_attr {
	unsigned workers;		/* 0: CPUs available to the process */
	int (*initializer)(void *arg);	/* run first in each worker; a
					 * nonzero value ends the worker
					 * (exit code value & 0xff), which
					 * is replaced after 100 ms */
	void *initarg;
	unsigned max_tasks_per_worker;	/* 0: unlimited; else a worker
					 * exits after that many tasks (map
					 * items count one each, a chunk
					 * is finished first) and is
					 * replaced */
	int64_t task_timeout_ns;	/* 0 or < 0: none; else a task (a
					 * map item) running longer has its
					 * worker killed */
	size_t max_arg;			/* 0: 64 KiB; at most 1 GiB */
	size_t max_result;		/* 0: 64 KiB; at most 1 GiB */
} conc_pool_attr;

/* Status of a future (conc_future_status). */
#define CONC_FUTURE_PENDING		1
#define CONC_FUTURE_TIMEOUT		(-0x30000)
#define CONC_FUTURE_SIGNALED(sig)	(-(0x10000 | (sig)))
#define CONC_FUTURE_EXITED(code)	(-(0x20000 | (code)))
#define CONC_FUTURE_IS_SIGNALED(s)	((s) < 0 && ((-(s)) & ~0xffff) == 0x10000)
#define CONC_FUTURE_TERMSIG(s)		((-(s)) & 0xffff)
#define CONC_FUTURE_IS_EXITED(s)	((s) < 0 && ((-(s)) & ~0xffff) == 0x20000)
#define CONC_FUTURE_EXITCODE(s)		((-(s)) & 0xffff)

/*
 * Create a pool and fork its workers (they then wait for tasks). Returns
 * 0 and stores the handle in *p, -EINVAL (NULL p, max_arg or max_result
 * beyond 1 GiB, more than 4096 workers), -ENOMEM, -EMFILE, -EAGAIN (the
 * kernel refuses a process); nothing is left behind on error.
 */
int conc_pool_create(conc_pool **p, const conc_pool_attr *attr);

/*
 * Submit fn with a copy of len bytes at arg (apply_async); store its
 * future in *f, to be given back with conc_future_release(). Waits,
 * supervising, while every task slot is busy (there are four per worker).
 * Returns 0, -EINVAL (NULL p, fn or f; NULL arg with len > 0), -EMSGSIZE
 * (len > max_arg), -EPIPE (closed or terminated), -ENOMEM.
 */
int conc_pool_submit(conc_pool *p, conc_task_fn fn, const void *arg,
		     size_t len, conc_future **f);

/* As conc_pool_submit(), waiting at most timeout_ns (0: not at all) for a
 * free slot: -ETIMEDOUT when none came free in time; nothing was
 * submitted and *f is NULL. */
int conc_pool_submit_timed(conc_pool *p, conc_task_fn fn, const void *arg,
			   size_t len, conc_future **f, int64_t timeout_ns);

/*
 * As conc_pool_submit(), with callbacks run once the task has finished:
 * done(f, cb_arg) if it succeeded, else error(f, cb_arg) (either may be
 * NULL), in the thread and at the moment described above; also for tasks
 * cancelled by conc_pool_terminate() (in its thread). f may be NULL: the
 * future is then released by the pool after its callback ran. A callback
 * may read the future (result, status) and may release it if the caller
 * holds it.
 */
int conc_pool_submit_cb(conc_pool *p, conc_task_fn fn, const void *arg,
			size_t len,
			void (*done)(conc_future *f, void *cb_arg),
			void (*error)(conc_future *f, void *cb_arg),
			void *cb_arg, conc_future **f);

/* As conc_pool_submit_cb(), waiting at most timeout_ns for a free slot:
 * -ETIMEDOUT as conc_pool_submit_timed() (no callback will run). */
int conc_pool_submit_cb_timed(conc_pool *p, conc_task_fn fn, const void *arg,
			      size_t len,
			      void (*done)(conc_future *f, void *cb_arg),
			      void (*error)(conc_future *f, void *cb_arg),
			      void *cb_arg, conc_future **f, int64_t timeout_ns);

/*
 * Submit, wait (forever, supervising) and copy the result into result
 * (apply). Returns what conc_future_result() returns (-EMSGSIZE when cap is
 * too small: the result is lost) or what conc_pool_submit() returns.
 */
ssize_t conc_pool_apply(conc_pool *p, conc_task_fn fn, const void *arg,
			size_t len, void *result, size_t cap);

/* As conc_pool_apply(), waiting at most timeout_ns in all, for a slot and
 * then for the task. -ETIMEDOUT: the task had no slot (nothing was
 * submitted) or had not finished; it is not cancelled: it runs on in its
 * worker, holding its slot until it ends, and its result is dropped. */
ssize_t conc_pool_apply_timed(conc_pool *p, conc_task_fn fn, const void *arg,
			      size_t len, void *result, size_t cap,
			      int64_t timeout_ns);

/* Wait for the task to finish, supervising, at most timeout_ns. 0 when it
 * has finished (however), -ETIMEDOUT, -EINVAL. After conc_pool_destroy()
 * a future has always finished. */
int conc_future_wait(conc_future *f, int64_t timeout_ns);

/*
 * Copy the result into buf. Returns its length; the task's own negative
 * errno; -ECANCELED (the pool was terminated first); -ETIMEDOUT (the task
 * overran its timeout and its worker was killed); -ECHILD (the worker died:
 * conc_future_status() says how); -EAGAIN (not finished); -EMSGSIZE (cap is
 * smaller than the result, which stays available); -EINVAL. Never waits.
 */
ssize_t conc_future_result(conc_future *f, void *buf, size_t cap);

/* CONC_FUTURE_PENDING (1) while not finished; 0 when the task succeeded;
 * its own negative errno; -ECANCELED; CONC_FUTURE_TIMEOUT;
 * CONC_FUTURE_SIGNALED(sig) or CONC_FUTURE_EXITED(code) when its worker
 * died; -ECHILD when it died but the program took its exit status (SIGCHLD
 * ignored, its own waitpid); -EINVAL for NULL. */
int conc_future_status(conc_future *f);

/* Give the future back. A pending task goes on (its callback still runs);
 * its future is freed once it is finished. 0, -EPERM (another process:
 * nothing is freed), or -EINVAL. */
int conc_future_release(conc_future *f);

/*
 * Apply fn to the n items of in_size bytes at in, in chunks of chunk items
 * (0: about n / (4 * workers)), writing item i's result at out + i *
 * out_size with result_cap out_size (map). Waits, supervising. Returns 0
 * when every item succeeded, else the number of items that failed, or a
 * negative errno: -EINVAL (NULL p or fn, NULL in or out with n > 0,
 * in_size 0, an array beyond the address space: more than PTRDIFF_MAX
 * bytes), -EMSGSIZE (in_size > max_arg or out_size > max_result), -EPIPE
 * (closed), -EPERM (another process), -ENOMEM. An item fails alone when
 * fn fails, with its whole chunk's unfinished items when the worker dies
 * or times out.
 */
int conc_pool_map(conc_pool *p, conc_task_fn fn, const void *in, size_t n,
		  size_t in_size, void *out, size_t out_size, size_t chunk);

/* As conc_pool_map(), storing in lens[i] item i's result length or its
 * status as conc_future_result() would return it. */
int conc_pool_map_status(conc_pool *p, conc_task_fn fn, const void *in,
			 size_t n, size_t in_size, void *out, size_t out_size,
			 size_t chunk, ssize_t *lens);

/*
 * As conc_pool_map() and conc_pool_map_status(), waiting at most
 * timeout_ns in all. -ETIMEDOUT when not every item finished in time: out
 * holds the results of the items that did, lens[i] (if not NULL) is
 * -ETIMEDOUT for the others. Of those, the chunks already submitted run
 * on in the workers (their results are dropped); the rest never run.
 */
int conc_pool_map_timed(conc_pool *p, conc_task_fn fn, const void *in,
			size_t n, size_t in_size, void *out, size_t out_size,
			size_t chunk, int64_t timeout_ns);
int conc_pool_map_status_timed(conc_pool *p, conc_task_fn fn, const void *in,
			       size_t n, size_t in_size, void *out,
			       size_t out_size, size_t chunk, ssize_t *lens,
			       int64_t timeout_ns);

/*
 * Iterate over the results of fn on n items as they complete
 * (imap_unordered). Submits what fits at once and the rest as slots free
 * up, from conc_imap_next(). Errors as conc_pool_map(); the iterator's
 * memory holds every result until released (n * max_result at most).
 */
typedef struct conc_imap conc_imap;
int conc_pool_imap_unordered(conc_pool *p, conc_task_fn fn, const void *in,
			     size_t n, size_t in_size, size_t chunk,
			     conc_imap **it);

/*
 * The next finished item, waiting (supervising) at most timeout_ns: stores
 * its index in *index (may be NULL), copies its result into buf and
 * returns what conc_future_result() would return for it (-EMSGSIZE: cap
 * too small, the item is skipped; -ECANCELED: the pool was closed or
 * terminated before the item was submitted). -ETIMEDOUT when none
 * finished in time (an item that overran the task timeout is -ETIMEDOUT
 * too: *index is SIZE_MAX whenever no item was taken), -EPIPE when every
 * item was returned, -EINVAL (NULL
 * it; NULL buf with cap > 0: no item is taken). buf may be NULL with cap
 * 0 when results are not wanted: an item with a result is then skipped
 * with -EMSGSIZE, one without returns 0 or its status.
 */
ssize_t conc_imap_next(conc_imap *it, size_t *index, void *buf, size_t cap,
		       int64_t timeout_ns);

/* Free the iterator; items still running finish unseen. 0, -EPERM
 * (another process: nothing is freed), or -EINVAL. Must be called before
 * conc_pool_destroy(). */
int conc_imap_release(conc_imap *it);

/* Supervise now, waiting at most timeout_ns for something to happen (a
 * task finished, a worker died): runs due callbacks. Returns 0 after a
 * round of supervision (with a task timeout set, a round may also end at
 * a task's deadline with nothing to report), -ETIMEDOUT when the timeout
 * passed with nothing to do, -EINVAL. Call it in a loop. */
int conc_pool_poll(conc_pool *p, int64_t timeout_ns);

/* No more submissions (-EPIPE, at once for a submit waiting for a slot);
 * queued tasks still run. Idempotent. 0 or -EINVAL. */
int conc_pool_close(conc_pool *p);

/* After close or terminate: wait (supervising) for every task to finish
 * and every worker to exit. 0, -EINVAL (NULL, or the pool is still open). */
int conc_pool_join(conc_pool *p);

/* As conc_pool_join(), at most timeout_ns. -ETIMEDOUT: tasks still run or
 * workers still live; the pool is as it was, still joinable (call again,
 * or terminate it). */
int conc_pool_join_timed(conc_pool *p, int64_t timeout_ns);

/* Kill every worker now; every unfinished task fails with -ECANCELED
 * (error callbacks run in this thread). The pool takes no more tasks.
 * Idempotent. 0 or -EINVAL. */
int conc_pool_terminate(conc_pool *p);

/* As conc_pool_terminate(), waiting at most timeout_ns for the killed
 * workers to be gone (one in an uninterruptible sleep dies only when it
 * leaves it). -ETIMEDOUT: every task has finished (cancelled) and the
 * pool takes no more, but some workers are not reaped yet: call it again,
 * or conc_pool_join_timed(), or conc_pool_destroy_timed(). */
int conc_pool_terminate_timed(conc_pool *p, int64_t timeout_ns);

/* Terminate if needed and free the pool. Futures not yet released stay
 * valid (finished) until released. No other call on p may be running.
 * 0 or -EINVAL. */
int conc_pool_destroy(conc_pool *p);

/* As conc_pool_destroy(), waiting at most timeout_ns for the workers to
 * be gone. -ETIMEDOUT: the pool is terminated but not freed (still valid):
 * call it again. */
int conc_pool_destroy_timed(conc_pool *p, int64_t timeout_ns);

#endif
