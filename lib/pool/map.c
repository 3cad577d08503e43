/* map: the items in chunks of one slot each, results back in order. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "pool_impl.h"

size_t __conc_pool_chunk(conc_pool *p, size_t n, size_t in_size, size_t out_size,
		    size_t chunk)
{
	size_t c = chunk;

	if (!c)
		c = (n + 4 * p->nworkers - 1) / (4 * p->nworkers);
	if (c > CHUNK_MAX)
		c = CHUNK_MAX;
	if (in_size && c > p->attr.max_arg / in_size)
		c = p->attr.max_arg / in_size;
	if (out_size && c > p->attr.max_result / out_size)
		c = p->attr.max_result / out_size;
	return c ? c : 1;
}

int __conc_pool_map_check(conc_pool *p, conc_task_fn fn, const void *in, size_t n,
		     size_t in_size, size_t out_size, conc_deadline dl)
{
	int r;

	if (!p || !fn || (n && !in) || !in_size)
		return -EINVAL;
	if (__conc_pool_foreign(p))
		return -EPERM;
	/* An array beyond the address space (no object is larger than
	 * PTRDIFF_MAX bytes): no allocation is tried for it (a sanitizer
	 * would abort on its size), and n * in_size + 1 (imap's copy) or n
	 * rounded up to chunks cannot wrap. */
	if (n > PTRDIFF_MAX / in_size ||
	    (out_size && n > PTRDIFF_MAX / out_size))
		return -EINVAL;
	if (in_size > p->attr.max_arg || out_size > p->attr.max_result)
		return -EMSGSIZE;
	/* Closed: -EPIPE even for no item at all, as the man page says. A
	 * map with a timeout of 0 only looks, here too (__conc_pool_lock). */
	if ((r = __conc_pool_lock(p, dl)) < 0)
		return r;	/* -ECANCELED */
	r = p->closed ? -EPIPE : 0;
	conc_mutex_unlock(&p->lock);
	return r;
}

/* Items of chunk k: their results into out, their lengths or statuses
 * into lens. The number that failed. */
static int gather(const conc_future *f, size_t first, void *out,
		  size_t out_size, ssize_t *lens)
{
	ssize_t st;
	uint32_t j;
	int failed = 0;

	for (j = 0; j < f->nitems; j++) {
		st = f->lens[j];
		if (st > 0)
			memcpy((char *)out + (first + j) * out_size,
			       f->result + j * out_size, (size_t)st);
		else if (st < 0)
			failed++;
		if (lens)
			lens[first + j] = st < 0 ? __conc_pool_code((int)st) : st;
	}
	return failed;
}

static int map_until(conc_pool *p, conc_task_fn fn, const void *in, size_t n,
		     size_t in_size, void *out, size_t out_size, size_t chunk,
		     ssize_t *lens, conc_deadline dl)
{
	size_t c, nch, k, j, m;
	conc_future **fs;
	int r = 0, w, failed = 0;

	if ((r = __conc_pool_map_check(p, fn, in, n, in_size, out_size, dl)) < 0)
		return r;
	if (n && out_size && !out)
		return -EINVAL;
	if (!n)
		return 0;
	c = __conc_pool_chunk(p, n, in_size, out_size, chunk);
	nch = (n + c - 1) / c;
	if (!(fs = calloc(nch, sizeof(*fs))))
		return -ENOMEM;
	for (k = 0; k < nch && r == 0; k++) {
		m = n - k * c < c ? n - k * c : c;
		if (!(fs[k] = __conc_pool_future_new((uint32_t)m, out_size)))
			r = -ENOMEM;
		else if ((r = __conc_pool_queue(p, fn, (const char *)in + k * c * in_size,
					   (uint32_t)m, in_size, fs[k], dl)) < 0) {
			__conc_pool_future_free(fs[k]);
			fs[k] = NULL;
		}
	}
	for (k = 0; k < nch; k++) {
		m = n - k * c < c ? n - k * c : c;
		/* Not submitted, or not finished in time: the chunk's items
		 * fail with why (a submitted one runs on, unseen). After a
		 * cancel, only what has finished is taken. */
		w = fs[k] ? __conc_future_wait_until(fs[k],
						   r == -ECANCELED ? 0 : dl)
			  : r;
		if (w == -ETIMEDOUT && r == -ECANCELED)
			w = r;
		if (w == 0) {
			failed += gather(fs[k], k * c, out, out_size, lens);
		} else {
			if (r == 0)
				r = w;
			for (j = 0; lens && j < m; j++)
				lens[k * c + j] = w;
		}
		if (fs[k])
			conc_future_release(fs[k]);
	}
	free(fs);
	return r < 0 ? r : failed;
}

int conc_pool_map_status_timed(conc_pool *p, conc_task_fn fn, const void *in,
			       size_t n, size_t in_size, void *out,
			       size_t out_size, size_t chunk, ssize_t *lens,
			       int64_t timeout_ns)
{
	return map_until(p, fn, in, n, in_size, out, out_size, chunk, lens,
			 __conc_deadline(timeout_ns));
}

int conc_pool_map_status(conc_pool *p, conc_task_fn fn, const void *in,
			 size_t n, size_t in_size, void *out, size_t out_size,
			 size_t chunk, ssize_t *lens)
{
	return map_until(p, fn, in, n, in_size, out, out_size, chunk, lens, -1);
}

int conc_pool_map_timed(conc_pool *p, conc_task_fn fn, const void *in,
			size_t n, size_t in_size, void *out, size_t out_size,
			size_t chunk, int64_t timeout_ns)
{
	return map_until(p, fn, in, n, in_size, out, out_size, chunk, NULL,
			 __conc_deadline(timeout_ns));
}

int conc_pool_map(conc_pool *p, conc_task_fn fn, const void *in, size_t n,
		  size_t in_size, void *out, size_t out_size, size_t chunk)
{
	return map_until(p, fn, in, n, in_size, out, out_size, chunk, NULL, -1);
}
