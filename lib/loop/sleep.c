/* conc_sleep and conc_yield: the two waits that need no event. */
#include <errno.h>
#include "loop/loop_impl.h"

int conc_sleep(int64_t ns)
{
	struct conc_task *t = __conc_cur();
	conc_deadline dl;
	int r;

	if (ns < 0)
		return -EINVAL;
	dl = __conc_deadline(ns);
	if (!t)
		/* A time beyond the clock's range (no deadline) is forever,
		 * not -EINVAL. */
		return __conc_sleep_until(dl < 0 ? INT64_MAX : dl);
	if (__conc_take_cancel(t))
		return -ECANCELED;
	r = __conc_park(t, dl);
	return r == -ETIMEDOUT ? 0 : r;
}

/* A yield does not enter the kernel: the task goes to the back of the run
 * queue and the next one runs (itself, when it is alone); the ring is
 * looked at only when nothing is runnable or every few switches. */
int conc_yield(void)
{
	struct conc_task *t = __conc_cur();

	if (t) {
		__conc_runq_push(t->loop, t);
		__conc_suspend(t);
	}
	return 0;
}
