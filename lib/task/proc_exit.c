/*
 * The registry of live handles, and what happens to them when the process
 * exits, as in Python: daemon children are killed, the others joined.
 *
 * The registry lives in a MADV_WIPEONFORK page: every fork child, whether
 * conc_proc_start() or the caller's own fork() made it, finds it zeroed,
 * that is empty, with an unlocked lock and a fresh once flag. So a child
 * never joins or kills its parent's children at its exit, and a lock that
 * another thread of the parent held at the fork is not held in the child.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <conc/once.h>
#include "proc_impl.h"

struct registry {
	conc_once_t once;	/* lock initialised (again after a fork) */
	conc_mutex lock;
	conc_proc *head;
};

static struct registry *reg;
/* Normal memory: a fork child inherits both the flag and the handler. */
static conc_once_t hook_once;
static int hooked;

static void init_lock(void)
{
	conc_mutex_init(&__atomic_load_n(&reg, __ATOMIC_ACQUIRE)->lock,
			CONC_PRIVATE);
}

/* *cancelled (if not NULL) is set when a cancel came while another thread
 * initialised the lock: the caller passes it on where it can. */
static struct registry *registry(bool *cancelled)
{
	struct registry *r = __atomic_load_n(&reg, __ATOMIC_ACQUIRE);
	void *page;

	if (!r) {
		page = sys_mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (sys_mmap_failed(page))
			return NULL;
		if (sys_madvise(page, 4096, MADV_WIPEONFORK) < 0) {
			sys_munmap(page, 4096);
			return NULL;
		}
		/* acq_rel: the madvise happens before anyone uses the page. */
		if (__atomic_compare_exchange_n(&reg, &r, page, 0,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			r = page;
		else
			sys_munmap(page, 4096);
	}
	if (__conc_once_anyway(&r->once, init_lock) < 0) {
		if (cancelled)
			*cancelled = true;
		else
			__conc_wait_recancel();
	}
	return r;
}

void __conc_proc_end_children(void)
{
	struct registry *r = __atomic_load_n(&reg, __ATOMIC_ACQUIRE);
	conc_proc *p;

	if (!r)
		return;
	__conc_wait_leave();	/* exit() in a task: see join_at_exit */
	__conc_once_anyway(&r->once, init_lock);
	/* Held throughout: a thread still running cannot free a handle we
	 * are waiting on (release takes the lock to untrack it). */
	__conc_lock_keep(&r->lock);
	for (p = r->head; p; p = p->next)
		if (p->daemon)
			conc_proc_kill(p, SIGKILL);
	for (p = r->head; p; p = p->next)
		conc_proc_join(p, NULL, CONC_FOREVER);
	conc_mutex_unlock(&r->lock);
}

static void at_exit(void)
{
	__conc_proc_end_children();
}

static void hook(void)
{
	hooked = atexit(at_exit) == 0;
}

int __conc_proc_prepare(void)
{
	bool cancelled = false;

	if (!registry(&cancelled))
		return -ENOMEM;
	if (__conc_once_anyway(&hook_once, hook) < 0)
		cancelled = true;
	if (!hooked)
		return -ENOMEM;
	/* Nothing started yet: the cancel is this call's result. */
	return cancelled ? -ECANCELED : 0;
}

void __conc_proc_track(conc_proc *p)
{
	struct registry *r = registry(NULL);	/* prepared: not NULL */

	p->owner = __conc_self()->pid;
	__conc_lock_keep(&r->lock);
	p->prev = NULL;
	p->next = r->head;
	if (r->head)
		r->head->prev = p;
	r->head = p;
	conc_mutex_unlock(&r->lock);
}

void __conc_proc_untrack(conc_proc *p)
{
	struct registry *r;

	/* A handle copied into a fork child is in no list there. */
	if (p->owner != __conc_self()->pid || !(r = registry(NULL)))
		return;
	__conc_lock_keep(&r->lock);
	if (p->prev)
		p->prev->next = p->next;
	else
		r->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	conc_mutex_unlock(&r->lock);
	p->owner = 0;
}
