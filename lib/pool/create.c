/* conc_pool_create: the slots' segment, the queue of indices, the eventfd,
 * then the workers, forked now while the caller may have no threads. */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include "sys/self.h"
#include "pool_impl.h"

#define MAX_BYTES	((size_t)1 << 30)
#define MAX_WORKERS	4096u

static void undo(conc_pool *p)
{
	uint32_t k;

	for (k = 0; p->w && k < p->nworkers; k++)
		if (p->w[k].proc) {
			conc_proc_kill(p->w[k].proc, SIGKILL);
			conc_proc_join(p->w[k].proc, NULL, CONC_FOREVER);
			conc_proc_release(p->w[k].proc);
		}
	if (p->q)
		conc_queue_destroy(p->q);
	if (p->shm)
		conc_shm_close(p->shm);
	if (p->efd >= 0)
		sys_close(p->efd);
	free(p->owner);
	free(p->w);
	free(p);
}

int conc_pool_create(conc_pool **pp, const conc_pool_attr *attr)
{
	static const conc_pool_attr none;
	conc_queue_attr qa = { 0 };
	conc_pool *p;
	uint32_t k;
	int r;

	if (!pp)
		return -EINVAL;
	if (!attr)
		attr = &none;
	if (attr->max_arg > MAX_BYTES || attr->max_result > MAX_BYTES ||
	    attr->workers > MAX_WORKERS)
		return -EINVAL;
	if (!(p = calloc(1, sizeof(*p))))
		return -ENOMEM;
	p->efd = -1;
	p->attr = *attr;
	if (!p->attr.workers)
		p->attr.workers = (unsigned)__conc_ncpu();
	if (!p->attr.max_arg)
		p->attr.max_arg = 64 * 1024;
	if (!p->attr.max_result)
		p->attr.max_result = 64 * 1024;
	if (p->attr.task_timeout_ns < 0)
		p->attr.task_timeout_ns = 0;
	conc_mutex_init(&p->lock, CONC_PRIVATE);
	p->nworkers = p->attr.workers;
	p->nslots = p->nfree = SLOTS_PER_WORKER * p->nworkers;
	p->stride = (sizeof(struct slot) + CHUNK_MAX * sizeof(int64_t) +
		     p->attr.max_arg + p->attr.max_result + 63) & ~(size_t)63;
	qa.capacity = 2 * p->nslots;
	qa.max_msg = sizeof(uint32_t);
	p->owner = calloc(p->nslots, sizeof(*p->owner));
	p->w = calloc(p->nworkers, sizeof(*p->w));
	r = -ENOMEM;
	if (!p->owner || !p->w)
		goto fail;
	/* Attributes each within bounds can still ask for more than a segment
	 * may hold (-EINVAL there): for the pool, memory it cannot have. */
	if ((r = conc_shm_create(&p->shm, NULL, p->nslots * p->stride,
				 CONC_SHM_RAW, 0)) < 0) {
		if (r == -EINVAL)
			r = -ENOMEM;
		goto fail;
	}
	p->base = conc_shm_data(p->shm);
	if ((r = conc_queue_create(&p->q, &qa)) < 0)
		goto fail;
	if ((r = p->efd = sys_eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		goto fail;
	p->pid = sys_getpid();
	for (k = 0; k < p->nworkers; k++)
		if ((r = __conc_pool_spawn(p, k)) < 0)
			goto fail;
	*pp = p;
	return 0;
fail:
	undo(p);
	return r;
}
