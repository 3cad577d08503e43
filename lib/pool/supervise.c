/*
 * Supervision, driven by the callers' waits: one thread at a time waits on
 * the eventfd (a task ended) and every worker's pidfd (a worker died) until
 * the earliest task deadline at most; the others wait on the progress word
 * for the end of its round.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "pool_impl.h"

#define RETRY_NS 10000000	/* a place whose fork failed: retry */

static int64_t min_dl(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* Item length or status v as a worker wrote it, checked against the
 * result capacity: a task may have scribbled on its slot. */
static int64_t checked(int64_t v, size_t cap)
{
	return v > (int64_t)cap || v < -4095 ? -EPROTO : v;
}

/* Copy the items of slot i that finished into its future, fail the rest
 * with cause (that the worker said it was done with all: -EPROTO), free
 * the slot. Every word of the slot is read once and checked: offsets and
 * sizes are the future's own. */
void __conc_pool_collect(conc_pool *p, uint32_t i, int cause, conc_future **cbs)
{
	struct slot *s = __conc_pool_slot(p, i);
	conc_future *f = p->owner[i];
	const char *res = __conc_pool_res(p, s);
	int64_t *lens = __conc_pool_lens(s);
	/* acquire: lens[] and the results of the items counted. */
	uint32_t done = __atomic_load_n(&s->done, __ATOMIC_ACQUIRE), j;
	size_t n;

	if (done > f->nitems)
		done = f->nitems;
	if (!cause)
		cause = -EPROTO;
	for (j = 0; j < f->nitems; j++)
		f->lens[j] = j < done ? checked(__atomic_load_n(&lens[j],
							       __ATOMIC_RELAXED),
						f->out_size)
				      : cause;
	n = f->nitems == 1 ? (f->lens[0] > 0 ? (size_t)f->lens[0] : 0)
			   : (size_t)f->nitems * f->out_size;
	if (n && !(f->result = malloc(n)))
		for (j = 0; j < f->nitems; j++)
			f->lens[j] = -ENOMEM;
	for (j = 0; j < f->nitems; j++)
		if (f->lens[j] > 0)
			memcpy(f->result + j * f->out_size,
			       res + j * f->out_size, (size_t)f->lens[j]);
	p->owner[i] = NULL;
	__atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_RELAXED);
	p->nfree++;
	__conc_pool_finish(p, f, f->lens[0] < 0 ? (int)f->lens[0] : 0, cbs);
}

/* Worker k has ended with wait status st (-1: unknown, someone else
 * reaped it): fail what it held. */
static void buried(conc_pool *p, struct worker *w, int st, conc_future **cbs)
{
	uint32_t me = SLOT_RUNNING + w->id, i;
	int cause = st < 0 ? -ECHILD
		    : WIFSIGNALED(st) ? CONC_FUTURE_SIGNALED(WTERMSIG(st))
				      : CONC_FUTURE_EXITED(WEXITSTATUS(st));
	bool held = false;

	for (i = 0; i < p->nslots; i++)
		if (p->owner[i] && __atomic_load_n(&__conc_pool_slot(p, i)->state,
						   __ATOMIC_ACQUIRE) == me) {
			__conc_pool_collect(p, i, cause, cbs);
			held = true;
		}
	/* An exit code without a task: the initializer failed. Do not fork
	 * its successor in a loop. Without a status (SIGCHLD ignored), a
	 * worker that held no task waits a little: it may be that. */
	w->not_before = 0;
	if (!held && st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0)
		w->not_before = sys_now_ns() + RETRY_NS * 10;
	else if (!held && st < 0)
		w->not_before = sys_now_ns() + RETRY_NS;
	if (w->abandoned >= 0) {
		__atomic_store_n(&__conc_pool_slot(p, (uint32_t)w->abandoned)->state,
				 SLOT_FREE, __ATOMIC_RELAXED);
		p->nfree++;
	}
	conc_proc_release(w->proc);
	w->proc = NULL;
}

/* Kill the workers whose item overran the timeout; the earliest deadline
 * still ahead (-1: none). */
static int64_t overdue(conc_pool *p, conc_future **cbs)
{
	int64_t t = p->attr.task_timeout_ns, now = sys_now_ns(), next = -1, st, end;
	uint32_t i, k, state;

	if (t <= 0)
		return -1;
	for (i = 0; i < p->nslots; i++) {
		struct slot *s = __conc_pool_slot(p, i);

		state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		if (!p->owner[i] || state < SLOT_RUNNING)
			continue;
		st = __atomic_load_n(&s->started, __ATOMIC_RELAXED);
		if (!st) {	/* not started yet: look again soon */
			next = min_dl(next, now + RETRY_NS / 10);
			continue;
		}
		/* The worker's clock reading: one ahead of ours is a lie. */
		if (st < 0 || st > now)
			st = now;
		end = t > INT64_MAX - st ? INT64_MAX : st + t;
		if (now < end) {
			next = min_dl(next, end);
			continue;
		}
		/* The worker's own CAS to DONE fails after this one: it
		 * stops writing the slot's counters and exits. */
		if (!__atomic_compare_exchange_n(&s->state, &state,
						 SLOT_ABANDONED, 0,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;	/* just finished: next round */
		for (k = 0; k < p->nworkers; k++)
			if (p->w[k].proc && SLOT_RUNNING + p->w[k].id == state) {
				conc_proc_kill(p->w[k].proc, SIGKILL);
				p->w[k].abandoned = (int)i;
			}
		p->nfree--;	/* collect counts it free: not before death */
		__conc_pool_collect(p, i, CONC_FUTURE_TIMEOUT, cbs);
		__atomic_store_n(&s->state, SLOT_ABANDONED, __ATOMIC_RELAXED);
	}
	return next;
}

/* Tasks wait in the queue. After close, only then is a dead worker
 * replaced: one started on a drained queue would exit at once. */
static bool queued(conc_pool *p)
{
	uint32_t i;

	for (i = 0; i < p->nslots; i++)
		if (p->owner[i] && __atomic_load_n(&__conc_pool_slot(p, i)->state,
						   __ATOMIC_RELAXED) == SLOT_QUEUED)
			return true;
	return false;
}

/* Reap, collect, enforce timeouts, replace. Lock held. Whether anything
 * happened, and *next the deadline of the next round's own work. */
static bool process(conc_pool *p, struct pollfd *pfd, const uint32_t *ids,
		    uint32_t n, int64_t *next, conc_future **cbs)
{
	uint64_t v;
	uint32_t i, k;
	bool any = false, want;
	int st, r;

	sys_read(p->efd, &v, sizeof(v));
	/* Reap first: a dead worker's slots are final, so one that it
	 * marked DONE before dying is collected below, not left behind. */
	for (k = 0; k < p->nworkers; k++) {
		struct worker *w = &p->w[k];

		/* No pidfd: the program reaped it before conc_proc_start()
		 * could open one (SIGCHLD ignored); it is gone. */
		if (w->proc && conc_proc_pidfd(w->proc) < 0) {
			buried(p, w, -1, cbs);
			any = true;
		}
	}
	for (k = 0; k < n; k++) {
		struct worker *w = &p->w[k];

		if (!pfd[k + 1].revents || !w->proc || w->id != ids[k])
			continue;
		/* -ECHILD: the program reaped it (SIGCHLD ignored, or its
		 * own waitpid(-1)); it is dead all the same, how is lost. */
		if ((r = conc_proc_join(w->proc, &st, 0)) == 0 ||
		    r == -ECHILD) {
			buried(p, w, r ? -1 : st, cbs);
			any = true;
		}
	}
	for (i = 0; i < p->nslots; i++)
		if (p->owner[i] &&
		    __atomic_load_n(&__conc_pool_slot(p, i)->state,
				    __ATOMIC_ACQUIRE) == SLOT_DONE) {
			__conc_pool_collect(p, i, 0, cbs);
			any = true;
		}
	*next = overdue(p, cbs);
	want = !p->terminated && (!p->closed || queued(p));
	for (k = 0; want && k < p->nworkers; k++) {
		if (p->w[k].proc)
			continue;
		if (p->w[k].not_before > sys_now_ns())
			*next = min_dl(*next, p->w[k].not_before);
		else if (__conc_pool_spawn(p, k) < 0)
			*next = min_dl(*next, sys_now_ns() + RETRY_NS);
		else if (conc_proc_pidfd(p->w[k].proc) < 0)
			*next = sys_now_ns();	/* gone already: bury it */
	}
	return any || *cbs;
}

void __conc_pool_progress(conc_pool *p)
{
	__atomic_store_n(&p->progress, p->progress + 1, __ATOMIC_RELAXED);
	__conc_wake(&p->progress, INT32_MAX, CONC_PRIVATE);
}

/* Another thread supervises: wait for the end of its round. The word is
 * read under the lock, so a round that ends once it is dropped has changed
 * it and the wait returns at once. */
static int await_round(conc_pool *p, conc_deadline dl)
{
	uint32_t seen = p->progress;
	int r = 0;

	while (p->supervising && p->progress == seen && r == 0) {
		conc_mutex_unlock(&p->lock);
		r = __conc_wait(&p->progress, seen, dl, CONC_PRIVATE);
		if (__conc_pool_relock(p, dl) < 0)
			r = -ECANCELED;
	}
	/* -ECANCELED (a cancelled coroutine) is final, whatever happened. */
	return r == -ECANCELED || (p->supervising && p->progress == seen) ? r : 0;
}

int __conc_pool_round(conc_pool *p, conc_deadline dl)
{
	uint32_t n = p->nworkers, k, *ids;
	struct pollfd *pfd;
	conc_future *cbs = NULL;
	int64_t next;
	bool any;
	int w = 0;

	if (p->supervising)
		return await_round(p, dl);
	pfd = calloc(n + 1, sizeof(*pfd) + sizeof(*ids));
	if (!pfd)
		return -ENOMEM;
	ids = (uint32_t *)(pfd + n + 1);
	p->supervising = true;
	any = process(p, pfd, ids, 0, &next, &cbs);
	if (!any) {
		pfd[0].fd = p->efd;
		pfd[0].events = POLLIN;
		for (k = 0; k < n; k++) {
			pfd[k + 1].fd = p->w[k].proc ? conc_proc_pidfd(p->w[k].proc) : -1;
			pfd[k + 1].events = POLLIN;
			ids[k] = p->w[k].id;
		}
		conc_mutex_unlock(&p->lock);
		/* Whatever it returns, process() below looks at everything;
		 * only -ECANCELED is passed on (after the round). */
		w = __conc_wait_fds(pfd, n + 1, min_dl(dl, next));
		if (__conc_pool_relock(p, dl) < 0)
			w = -ECANCELED;
		any = process(p, pfd, ids, n, &next, &cbs);
	}
	free(pfd);
	p->supervising = false;
	__conc_pool_progress(p);
	if (cbs) {
		conc_mutex_unlock(&p->lock);
		__conc_pool_callbacks(p, cbs);
		if (__conc_pool_relock(p, dl) < 0)
			w = -ECANCELED;
	}
	if (w == -ECANCELED)
		return w;
	return any || !__conc_expired(dl) ? 0 : -ETIMEDOUT;
}
