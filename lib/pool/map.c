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
		     size_t in_size, size_t out_size)
{
	if (!p || !fn || (n && !in) || !in_size)
		return -EINVAL;
	if (in_size > p->attr.max_arg || out_size > p->attr.max_result)
		return -EMSGSIZE;
	return 0;
}

int conc_pool_map_status(conc_pool *p, conc_task_fn fn, const void *in,
			 size_t n, size_t in_size, void *out, size_t out_size,
			 size_t chunk, ssize_t *lens)
{
	size_t c, nch, k, j, idx, m;
	conc_future **fs;
	int r = 0, failed = 0;
	ssize_t st;

	if ((r = __conc_pool_map_check(p, fn, in, n, in_size, out_size)) < 0)
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
					   (uint32_t)m, in_size, fs[k], true)) < 0) {
			__conc_pool_future_free(fs[k]);
			fs[k] = NULL;
		}
	}
	for (k = 0; k < nch; k++) {
		if (!fs[k])
			continue;
		conc_future_wait(fs[k], CONC_FOREVER);
		for (j = 0; j < fs[k]->nitems; j++) {
			idx = k * c + j;
			st = fs[k]->lens[j];
			if (st > 0)
				memcpy((char *)out + idx * out_size,
				       fs[k]->result + j * out_size, (size_t)st);
			else if (st < 0)
				failed++;
			if (lens)
				lens[idx] = st < 0 ? __conc_pool_code((int)st) : st;
		}
		conc_future_release(fs[k]);
	}
	free(fs);
	return r < 0 ? r : failed;
}

int conc_pool_map(conc_pool *p, conc_task_fn fn, const void *in, size_t n,
		  size_t in_size, void *out, size_t out_size, size_t chunk)
{
	return conc_pool_map_status(p, fn, in, n, in_size, out, out_size, chunk,
				    NULL);
}
