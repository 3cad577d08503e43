/* apply: submit and wait, with one deadline for both. */
#include <errno.h>
#include "pool_impl.h"

static ssize_t apply_until(conc_pool *p, conc_task_fn fn, const void *arg,
			   size_t len, void *result, size_t cap,
			   conc_deadline dl)
{
	conc_future *f;
	ssize_t r = __conc_pool_submit(p, fn, arg, len, NULL, NULL, NULL, &f, dl);

	if (r < 0)
		return r;
	/* Not finished in time: released, it runs on and its result is
	 * dropped. */
	r = __conc_future_wait_until(f, dl);
	if (r == 0)
		r = conc_future_result(f, result, cap);
	conc_future_release(f);
	return r;
}

ssize_t conc_pool_apply_timed(conc_pool *p, conc_task_fn fn, const void *arg,
			      size_t len, void *result, size_t cap,
			      int64_t timeout_ns)
{
	return apply_until(p, fn, arg, len, result, cap,
			   __conc_deadline(timeout_ns));
}

ssize_t conc_pool_apply(conc_pool *p, conc_task_fn fn, const void *arg,
			size_t len, void *result, size_t cap)
{
	return apply_until(p, fn, arg, len, result, cap, -1);
}
