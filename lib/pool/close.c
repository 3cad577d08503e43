/* The end of a pool: close (no more tasks), join (wait for the queued ones
 * and the workers), terminate (kill now, cancel the rest), destroy. */
#include <errno.h>
#include <stdlib.h>
#include "pool_impl.h"

int conc_pool_poll(conc_pool *p, int64_t timeout_ns)
{
	conc_deadline dl = __conc_deadline(timeout_ns);
	int r;

	if (!p)
		return -EINVAL;
	if (__conc_pool_foreign(p))
		return -EPERM;
	if ((r = __conc_pool_lock(p, dl)) < 0)
		return r;	/* -ECANCELED */
	r = __conc_pool_round(p, dl);
	conc_mutex_unlock(&p->lock);
	return r;
}

int conc_pool_close(conc_pool *p)
{
	if (!p)
		return -EINVAL;
	if (__conc_pool_foreign(p))
		return -EPERM;
	/* No wait: a cancel is left for the next one. */
	__conc_lock_keep(&p->lock);
	p->closed = true;
	/* Workers drain the queue, then get -EPIPE and exit. */
	conc_queue_close(p->q);
	/* A submit waiting for a slot learns it now, not when a task ends:
	 * the supervising one through the eventfd, the others through the
	 * end of its round. */
	sys_write(p->efd, &(uint64_t){ 1 }, sizeof(uint64_t));
	__conc_pool_progress(p);
	conc_mutex_unlock(&p->lock);
	return 0;
}

static bool busy(conc_pool *p)
{
	uint32_t k;

	if (p->nfree < p->nslots)
		return true;
	for (k = 0; k < p->nworkers; k++)
		if (p->w[k].proc)
			return true;
	return false;
}

int conc_pool_join_timed(conc_pool *p, int64_t timeout_ns)
{
	conc_deadline dl = __conc_deadline(timeout_ns);
	int r = 0;

	if (!p)
		return -EINVAL;
	if (__conc_pool_foreign(p))
		return -EPERM;
	if ((r = __conc_pool_lock(p, dl)) < 0)
		return r;	/* -ECANCELED */
	if (!p->closed)
		r = -EINVAL;
	while (r == 0 && busy(p)) {
		r = __conc_pool_round(p, dl);
		if (r == 0 && busy(p) && __conc_expired(dl))
			r = -ETIMEDOUT;
	}
	conc_mutex_unlock(&p->lock);
	return r;
}

int conc_pool_join(conc_pool *p)
{
	return conc_pool_join_timed(p, CONC_FOREVER);
}

/* Kill every worker, cancel every task: once, at the first terminate.
 * Lock held; the callbacks of the cancelled tasks go to *cbs. */
static void kill_all(conc_pool *p, conc_future **cbs)
{
	uint32_t k, i, state;

	p->terminated = p->closed = true;
	conc_queue_close(p->q);
	for (k = 0; k < p->nworkers; k++)
		if (p->w[k].proc) {
			conc_proc_kill(p->w[k].proc, SIGKILL);
			/* Every slot is freed below, its own included. */
			p->w[k].abandoned = -1;
		}
	/* Finished tasks stay finished; the rest are cancelled (in a
	 * chunk, the items done keep their results). A worker not dead yet
	 * may still write its slot: collect checks what it reads, and the
	 * slots are never handed out again. */
	for (i = 0; i < p->nslots; i++) {
		state = __atomic_load_n(&__conc_pool_slot(p, i)->state,
					__ATOMIC_ACQUIRE);
		if (p->owner[i])
			__conc_pool_collect(p, i, state == SLOT_DONE ? 0 : -ECANCELED,
				       cbs);
		__atomic_store_n(&__conc_pool_slot(p, i)->state, SLOT_FREE,
				 __ATOMIC_RELAXED);
	}
	p->nfree = p->nslots;
	__conc_pool_progress(p);
}

/* Reap the killed workers, until dl. Lock held. 0 or -ETIMEDOUT. */
static int reap_all(conc_pool *p, conc_deadline dl)
{
	uint32_t k;
	int r = 0;

	for (k = 0; k < p->nworkers; k++) {
		if (!p->w[k].proc)
			continue;
		/* SIGKILLed: short, unless stuck in an uninterruptible
		 * sleep. Past dl, the others are still reaped if dead. */
		if (__conc_proc_join_until(p->w[k].proc, NULL, dl) == -ETIMEDOUT) {
			r = -ETIMEDOUT;
			continue;
		}
		conc_proc_release(p->w[k].proc);
		p->w[k].proc = NULL;
	}
	return r;
}

int conc_pool_terminate_timed(conc_pool *p, int64_t timeout_ns)
{
	conc_deadline dl = __conc_deadline(timeout_ns);
	conc_future *cbs = NULL;
	int r;

	if (!p)
		return -EINVAL;
	if (__conc_pool_foreign(p))
		return -EPERM;
	/* Killed and cancelled even so; the wait for the workers is what a
	 * cancel (like a timeout) cuts short. With a timeout of 0 there is
	 * no such wait, so no cancel to return (__conc_pool_relock). */
	r = __conc_pool_relock(p, dl);
	if (!p->terminated)
		kill_all(p, &cbs);
	if (r == 0)
		r = reap_all(p, dl);
	conc_mutex_unlock(&p->lock);
	if (cbs)
		__conc_pool_callbacks(p, cbs);
	return r;
}

int conc_pool_terminate(conc_pool *p)
{
	return conc_pool_terminate_timed(p, CONC_FOREVER);
}

int conc_pool_destroy_timed(conc_pool *p, int64_t timeout_ns)
{
	conc_future *f;
	int r;

	if (!p)
		return -EINVAL;
	/* Not even freed in another process: the caller's copy of it
	 * goes with that process (or its exec). */
	if (__conc_pool_foreign(p))
		return -EPERM;
	if ((r = conc_pool_terminate_timed(p, timeout_ns)) < 0)
		return r;
	__conc_lock_keep(&p->lock);
	for (f = p->futures; f; f = f->next)
		f->pool = NULL;
	conc_mutex_unlock(&p->lock);
	conc_queue_destroy(p->q);
	conc_shm_close(p->shm);
	sys_close(p->efd);
	free(p->owner);
	free(p->w);
	free(p);
	return 0;
}

int conc_pool_destroy(conc_pool *p)
{
	return conc_pool_destroy_timed(p, CONC_FOREVER);
}
