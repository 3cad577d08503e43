/*
 * conc_to_thread: the function runs on a conc thread (conc threads are
 * parked and reused after they end, so this is usually a wake-up, not a
 * clone); the caller waits on a futex word, which inside a task goes
 * through the loop. The job is counted by both sides: whichever leaves
 * last frees it, so a caller that gave up (timeout, cancel) leaves the
 * function to finish on its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <conc/thread.h>
#include "loop/loop_impl.h"

struct job {
	int (*fn)(void *);
	void *arg;
	int ret;
	uint32_t done;
	uint32_t refs;
};

static void put(struct job *j)
{
	if (__atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(j);
}

static int runner(void *p)
{
	struct job *j = p;

	j->ret = j->fn(j->arg);
	/* release: ret is seen by whoever sees done. */
	__atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
	__conc_wake(&j->done, 1, CONC_PRIVATE);
	put(j);
	return 0;
}

int conc_to_thread(int (*fn)(void *), void *arg, int *ret, int64_t timeout_ns)
{
	conc_thread_attr at = { .daemon = true, .name = "conc to_thread" };
	conc_deadline dl = __conc_deadline(timeout_ns);
	struct conc_task *t = __conc_cur();
	conc_thread *th;
	struct job *j;
	bool cancelled;
	int r;

	if (!fn)
		return -EINVAL;
	/* A cancel already pending is this call's, yet fn is started all the
	 * same, as when the cancel comes during the wait: on -ECANCELED fn
	 * always runs (the caller cannot tell the two apart). */
	cancelled = t && __conc_take_cancel(t);
	j = calloc(1, sizeof(*j));
	if (!j) {
		r = -ENOMEM;
		goto fail;
	}
	j->fn = fn;
	j->arg = arg;
	j->refs = 2;
	r = conc_thread_start(&th, runner, j, &at);
	if (r < 0) {
		free(j);
		goto fail;
	}
	conc_thread_detach(th);
	r = cancelled ? -ECANCELED : 0;
	while (r == 0 && !__atomic_load_n(&j->done, __ATOMIC_ACQUIRE))
		r = __conc_wait(&j->done, 0, dl, CONC_PRIVATE);
	if (r == 0 && ret)
		*ret = j->ret;
	put(j);
	return r < 0 ? r : 0;
fail:
	/* Nothing started: the cancel waits for the next call. */
	if (cancelled)
		t->cancel = true;
	return r;
}
