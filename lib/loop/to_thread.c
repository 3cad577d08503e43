/*
 * conc_to_thread: the function runs on a conc thread (conc threads are
 * parked and reused after they end, so this is usually a wake-up, not a
 * clone) and the caller joins that thread, which inside a task waits
 * through the loop. A join, not a word the function sets on return: a
 * function that ends its thread (conc_thread_exit) has "returned" the code
 * it passed, as for any conc thread. A caller that gives up (timeout,
 * cancel) detaches the thread, which runs the function to its end and
 * frees the handle.
 */
#include <errno.h>
#include <conc/thread.h>
#include "loop/loop_impl.h"

int conc_to_thread(int (*fn)(void *), void *arg, int *ret, int64_t timeout_ns)
{
	conc_thread_attr at = { .daemon = true, .name = "conc to_thread" };
	struct conc_task *t = __conc_cur();
	conc_thread *th;
	bool cancelled;
	int r, code;

	if (!fn)
		return -EINVAL;
	/* A cancel already pending is this call's, yet fn is started all the
	 * same, as when the cancel comes during the wait: on -ECANCELED fn
	 * always runs (the caller cannot tell the two apart). Not with a
	 * timeout of 0: that call only looks, and a look never takes the
	 * cancel (its caller may read any failure as "not yet"); the join
	 * below leaves it pending for the next call that waits. */
	cancelled = t && timeout_ns != 0 && __conc_take_cancel(t);
	r = conc_thread_start(&th, fn, arg, &at);
	if (r < 0) {
		/* Nothing started: the cancel waits for the next call. */
		if (cancelled)
			t->cancel = true;
		return r;
	}
	/* The join converts timeout_ns once: the thread's start took
	 * microseconds of it at most. */
	r = cancelled ? -ECANCELED : conc_thread_join(th, &code, timeout_ns);
	if (r < 0) {
		conc_thread_detach(th);
		return r;
	}
	if (ret)
		*ret = code;
	return 0;
}
