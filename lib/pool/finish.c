/* A future's end: its status, its callbacks (run unlocked, once), its
 * freeing once both the caller and the pool are done with it. */
#include <errno.h>
#include <stdlib.h>
#include "pool_impl.h"

void __conc_pool_future_free(conc_future *f)
{
	conc_pool *p = f->pool;

	if (p) {
		if (f->prev)
			f->prev->next = f->next;
		else
			p->futures = f->next;
		if (f->next)
			f->next->prev = f->prev;
	}
	free(f->result);
	free(f->lens);
	free(f);
}

void __conc_pool_finish(conc_pool *p, conc_future *f, int status,
		   conc_future **cbs)
{
	(void)p;
	f->status = status;
	/* release: conc_future_status() reads the status without the lock. */
	__atomic_store_n(&f->state, 0, __ATOMIC_RELEASE);
	if ((status == 0 && f->done) || (status != 0 && f->error)) {
		f->cb_pending = true;
		f->cb_next = *cbs;
		*cbs = f;
	} else if (f->released) {
		__conc_pool_future_free(f);
	}
}

void __conc_pool_callbacks(conc_pool *p, conc_future *cbs)
{
	conc_future *f, *next;

	for (f = cbs; f; f = next) {
		next = f->cb_next;
		if (f->status == 0)
			f->done(f, f->cb_arg);
		else
			f->error(f, f->cb_arg);
		__conc_lock_keep(&p->lock);
		f->cb_pending = false;
		if (f->released)
			__conc_pool_future_free(f);
		conc_mutex_unlock(&p->lock);
	}
}
