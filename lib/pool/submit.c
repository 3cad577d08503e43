/* Submitting: a free slot, the argument bytes, the index into the queue. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "pool_impl.h"

conc_future *__conc_pool_future_new(uint32_t nitems, size_t out_size)
{
	conc_future *f = calloc(1, sizeof(*f));

	if (!f || !(f->lens = calloc(nitems, sizeof(*f->lens)))) {
		free(f);
		return NULL;
	}
	f->state = CONC_FUTURE_PENDING;
	f->nitems = nitems;
	f->out_size = out_size;
	return f;
}

/* A slot that is FREE, with no future: lock held, nfree > 0. */
static uint32_t free_slot(conc_pool *p)
{
	uint32_t i;

	for (i = 0; i < p->nslots; i++)
		if (!p->owner[i] && __atomic_load_n(&__conc_pool_slot(p, i)->state,
						    __ATOMIC_RELAXED) == SLOT_FREE)
			break;
	return i;
}

int __conc_pool_queue(conc_pool *p, conc_task_fn fn, const void *arg,
		 uint32_t nitems, size_t in_size, conc_future *f,
		 conc_deadline dl)
{
	struct slot *s;
	uint32_t i;
	int r = 0;

	if (__conc_pool_foreign(p))
		return -EPERM;
	if ((r = __conc_pool_lock(p, dl)) < 0)
		return r;	/* -ECANCELED */
	for (;;) {
		if (p->closed || p->terminated)
			r = -EPIPE;
		else if (p->nfree > 0 && (i = free_slot(p)) < p->nslots)
			break;
		else if (__conc_expired(dl))
			r = -ETIMEDOUT;
		else
			r = __conc_pool_round(p, dl);
		if (r < 0) {
			conc_mutex_unlock(&p->lock);
			return r;
		}
	}
	s = __conc_pool_slot(p, i);
	s->fn = fn;
	s->nitems = nitems;
	s->in_size = in_size;
	s->out_size = f->out_size;
	s->started = 0;
	__atomic_store_n(&s->done, 0, __ATOMIC_RELAXED);
	if ((size_t)nitems * in_size != 0)
		memcpy(__conc_pool_arg(s), arg, nitems * in_size);
	/* release: a worker that claims the slot sees what was written. */
	__atomic_store_n(&s->state, SLOT_QUEUED, __ATOMIC_RELEASE);
	r = conc_queue_put(p->q, &i, sizeof(i), 0);
	if (r < 0) {
		/* Only stale copies of dead workers' indices can fill it, and
		 * a worker may have claimed the slot through one of them: then
		 * the task runs after all. */
		uint32_t queued = SLOT_QUEUED;

		if (__atomic_compare_exchange_n(&s->state, &queued, SLOT_FREE,
						0, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED)) {
			conc_mutex_unlock(&p->lock);
			return r == -ETIMEDOUT ? -EAGAIN : r;
		}
	}
	f->pool = p;
	f->next = p->futures;
	if (f->next)
		f->next->prev = f;
	p->futures = f;
	p->owner[i] = f;
	p->nfree--;
	conc_mutex_unlock(&p->lock);
	return 0;
}

int __conc_pool_submit(conc_pool *p, conc_task_fn fn, const void *arg,
		       size_t len,
		       void (*done)(conc_future *f, void *cb_arg),
		       void (*error)(conc_future *f, void *cb_arg),
		       void *cb_arg, conc_future **fp, conc_deadline dl)
{
	conc_future *f;
	int r;

	if (!p || !fn || (!arg && len))
		return -EINVAL;
	if (__conc_pool_foreign(p))
		return -EPERM;
	if (len > p->attr.max_arg)
		return -EMSGSIZE;
	if (!(f = __conc_pool_future_new(1, p->attr.max_result)))
		return -ENOMEM;
	f->done = done;
	f->error = error;
	f->cb_arg = cb_arg;
	f->released = !fp;
	/* Without fp, f may be finished and freed by then: not read after. */
	if (fp)
		*fp = f;
	r = __conc_pool_queue(p, fn, arg, 1, len, f, dl);
	if (r < 0) {
		__conc_pool_future_free(f);
		if (fp)
			*fp = NULL;
	}
	return r;
}

int conc_pool_submit_cb_timed(conc_pool *p, conc_task_fn fn, const void *arg,
			      size_t len,
			      void (*done)(conc_future *f, void *cb_arg),
			      void (*error)(conc_future *f, void *cb_arg),
			      void *cb_arg, conc_future **f, int64_t timeout_ns)
{
	return __conc_pool_submit(p, fn, arg, len, done, error, cb_arg, f,
			    __conc_deadline(timeout_ns));
}

int conc_pool_submit_cb(conc_pool *p, conc_task_fn fn, const void *arg,
			size_t len,
			void (*done)(conc_future *f, void *cb_arg),
			void (*error)(conc_future *f, void *cb_arg),
			void *cb_arg, conc_future **f)
{
	return __conc_pool_submit(p, fn, arg, len, done, error, cb_arg, f, -1);
}

int conc_pool_submit_timed(conc_pool *p, conc_task_fn fn, const void *arg,
			   size_t len, conc_future **f, int64_t timeout_ns)
{
	if (!f)
		return -EINVAL;
	return __conc_pool_submit(p, fn, arg, len, NULL, NULL, NULL, f,
			    __conc_deadline(timeout_ns));
}

int conc_pool_submit(conc_pool *p, conc_task_fn fn, const void *arg,
		     size_t len, conc_future **f)
{
	if (!f)
		return -EINVAL;
	return __conc_pool_submit(p, fn, arg, len, NULL, NULL, NULL, f, -1);
}
