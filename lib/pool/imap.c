/*
 * imap_unordered: the items in chunks, submitted as slots free up (from
 * conc_imap_next), returned in the order they finish. The arguments are
 * copied at creation, so the caller's array need not outlive the call.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "pool_impl.h"

struct conc_imap {
	conc_pool *p;
	conc_task_fn fn;
	char *in;
	size_t n, in_size, out_size, c, nch, sent, returned;
	conc_future **f;
	uint32_t *pos;		/* per chunk: items returned */
	/* The chunks sent and not wholly returned, in no order: a look for
	 * a finished one passes over the running ones only (each holds a
	 * task slot), not over every chunk already returned, which made an
	 * iteration of n chunks take n * n / 2 steps. */
	size_t *live, nlive;
};

int conc_pool_imap_unordered(conc_pool *p, conc_task_fn fn, const void *in,
			     size_t n, size_t in_size, size_t chunk,
			     conc_imap **itp)
{
	conc_imap *it;
	int r;

	if (!itp)
		return -EINVAL;
	if ((r = __conc_pool_map_check(p, fn, in, n, in_size, 0, -1)) < 0)
		return r;
	if (!(it = calloc(1, sizeof(*it))))
		return -ENOMEM;
	it->p = p;
	it->fn = fn;
	it->n = n;
	it->in_size = in_size;
	it->c = __conc_pool_chunk(p, n, in_size, 0, chunk);
	it->out_size = p->attr.max_result / it->c;
	it->nch = (n + it->c - 1) / it->c;
	it->in = malloc(n * in_size + 1);
	it->f = calloc(it->nch + 1, sizeof(*it->f));
	it->pos = calloc(it->nch + 1, sizeof(*it->pos));
	it->live = calloc(it->nch + 1, sizeof(*it->live));
	if (!it->in || !it->f || !it->pos || !it->live) {
		conc_imap_release(it);
		return -ENOMEM;
	}
	if (n)
		memcpy(it->in, in, n * in_size);
	*itp = it;
	return 0;
}

/* Submit the chunks that find a free slot now. A chunk that cannot be
 * submitted at all gets a finished future carrying the error; after
 * close or terminate, -ECANCELED. Returns -ECANCELED when a cancel of
 * the caller's coroutine came instead (nothing submitted), else 0. */
static int feed(conc_imap *it)
{
	conc_future *f;
	size_t m, j;
	int r;

	while (it->sent < it->nch) {
		m = it->n - it->sent * it->c;
		m = m < it->c ? m : it->c;
		if (!(f = __conc_pool_future_new((uint32_t)m, it->out_size)))
			return 0;
		/* A deadline already passed: take a free slot, never wait. */
		r = __conc_pool_queue(it->p, it->fn, it->in + it->sent * it->c * it->in_size,
				 (uint32_t)m, it->in_size, f, 0);
		if (r == -ETIMEDOUT || r == -EAGAIN || r == -ECANCELED) {
			__conc_pool_future_free(f);
			return r == -ECANCELED ? r : 0;
		}
		if (r < 0) {
			/* Closed meanwhile: -EPIPE would read as the end. */
			if (r == -EPIPE)
				r = -ECANCELED;
			for (j = 0; j < m; j++)
				f->lens[j] = r;
			f->status = r;
			f->state = 0;
		}
		it->live[it->nlive++] = it->sent;
		it->f[it->sent++] = f;
	}
	return 0;
}

/* Where in live a finished chunk with items left is, or nlive. Lock
 * held. */
static size_t ready(conc_imap *it)
{
	size_t i;

	for (i = 0; i < it->nlive; i++)
		if (it->f[it->live[i]]->state != CONC_FUTURE_PENDING)
			break;
	return i;
}

ssize_t conc_imap_next(conc_imap *it, size_t *index, void *buf, size_t cap,
		       int64_t timeout_ns)
{
	conc_deadline dl = __conc_deadline(timeout_ns);
	conc_pool *p;
	conc_future *f;
	size_t i, k;
	ssize_t st;
	uint32_t j;
	int r = 0;

	/* No item taken until said otherwise: an item's status may be
	 * -ETIMEDOUT too (it overran the task timeout), and only the index
	 * tells that from a call that found no item in time. */
	if (index)
		*index = SIZE_MAX;
	/* Refused before an item is taken: a NULL buf is fine only with cap
	 * 0 (results not wanted: each is then -EMSGSIZE, skipped). */
	if (!it || (!buf && cap))
		return -EINVAL;
	if (__conc_pool_foreign(it->p))
		return -EPERM;
	if (it->returned == it->n)
		return -EPIPE;
	p = it->p;
	if ((r = feed(it)) < 0 || (r = __conc_pool_lock(p, dl)) < 0)
		return r;	/* -ECANCELED */
	while ((i = ready(it)) == it->nlive && r == 0) {
		r = __conc_pool_round(p, dl);
		if (r == 0 && ready(it) == it->nlive && __conc_expired(dl))
			r = -ETIMEDOUT;
		if (r == 0 && it->sent < it->nch) {
			conc_mutex_unlock(&p->lock);
			r = feed(it);
			if (__conc_pool_relock(p, dl) < 0)
				r = -ECANCELED;
		}
	}
	conc_mutex_unlock(&p->lock);
	if (r == -ECANCELED)
		return r;	/* a ready item is left for the next call */
	if (i == it->nlive)
		return r ? r : -ETIMEDOUT;
	k = it->live[i];
	f = it->f[k];
	j = it->pos[k]++;
	it->returned++;
	if (index)
		*index = k * it->c + j;
	st = f->lens[j];
	if (st < 0)
		st = __conc_pool_code((int)st);
	else if ((size_t)st > cap)
		st = -EMSGSIZE;
	else if (st > 0)
		memcpy(buf, f->result + j * it->out_size, (size_t)st);
	if (it->pos[k] == f->nitems) {
		conc_future_release(f);
		it->f[k] = NULL;
		it->live[i] = it->live[--it->nlive];
	}
	return st;
}

int conc_imap_release(conc_imap *it)
{
	size_t k;

	if (!it)
		return -EINVAL;
	/* As conc_future_release(): another process touches nothing. */
	if (__conc_pool_foreign(it->p))
		return -EPERM;
	for (k = 0; k < it->nlive; k++)
		conc_future_release(it->f[it->live[k]]);
	free(it->live);
	free(it->f);
	free(it->pos);
	free(it->in);
	free(it);
	return 0;
}
