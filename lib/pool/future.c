/* The caller's side of a future. */
#include <errno.h>
#include <string.h>
#include "pool_impl.h"

int __conc_future_wait_until(conc_future *f, conc_deadline dl)
{
	conc_pool *p;
	int r = 0;

	if (!f)
		return -EINVAL;
	if (!(p = f->pool))
		return 0;
	if (__conc_pool_foreign(p))
		return -EPERM;
	if ((r = __conc_pool_lock(p, dl)) < 0)
		return r;	/* -ECANCELED */
	while (f->state == CONC_FUTURE_PENDING && r == 0) {
		r = __conc_pool_round(p, dl);
		if (r == 0 && f->state == CONC_FUTURE_PENDING &&
		    __conc_expired(dl))
			r = -ETIMEDOUT;
	}
	if (f->state != CONC_FUTURE_PENDING)
		r = 0;
	conc_mutex_unlock(&p->lock);
	return r;
}

int conc_future_wait(conc_future *f, int64_t timeout_ns)
{
	return __conc_future_wait_until(f, __conc_deadline(timeout_ns));
}

int conc_future_status(conc_future *f)
{
	if (!f)
		return -EINVAL;
	/* The state is written under the pool's lock, by a round that may
	 * run in another thread: acquire, to see the status it wrote. */
	if (__atomic_load_n(&f->state, __ATOMIC_ACQUIRE) == CONC_FUTURE_PENDING)
		return CONC_FUTURE_PENDING;
	return f->status;
}

ssize_t conc_future_result(conc_future *f, void *buf, size_t cap)
{
	int st = conc_future_status(f);

	if (st == CONC_FUTURE_PENDING)
		return -EAGAIN;
	if (st != 0)
		return __conc_pool_code(st);
	if ((size_t)f->lens[0] > cap)
		return -EMSGSIZE;
	if (f->lens[0] > 0) {
		if (!buf)
			return -EINVAL;
		memcpy(buf, f->result, (size_t)f->lens[0]);
	}
	return f->lens[0];
}

int conc_future_release(conc_future *f)
{
	conc_pool *p;

	if (!f)
		return -EINVAL;
	if (!(p = f->pool)) {
		__conc_pool_future_free(f);
		return 0;
	}
	/* A fork child's copy of the lock may be held by a thread of the
	 * parent that is not in the child: it would never come free. */
	if (__conc_pool_foreign(p))
		return -EPERM;
	__conc_lock_keep(&p->lock);
	if (f->state == CONC_FUTURE_PENDING || f->cb_pending)
		f->released = true;
	else
		__conc_pool_future_free(f);
	conc_mutex_unlock(&p->lock);
	return 0;
}
