/*
 * The process's rsem handles, for one question: which of their records
 * still name a thread that let go of everything. A conc thread whose
 * function returns does what the kernel does at a thread's exit to every
 * robust lock it still holds (__conc_robust_release_all), then parks for
 * its next job: it lives on under the same tid, so tgkill() cannot tell
 * conc_rsem_destroy() that the permit it recorded is gone. The release
 * tells every handle instead, and the records naming that tid are wiped.
 * The hook is installed by the first handle, so a program without rsem
 * pays nothing; a release with nothing held skips it.
 */
#include "ipc/rsem_impl.h"
#include "task/fork_lock.h"

/* Set up again in a fork child (task/fork_lock.h); the handles are the
 * child's too (memory and mappings copied), so the list is kept. */
static struct __conc_fork_lock lock = __CONC_FORK_LOCK_INIT;
static conc_rsem *head;

static void lock_handles(void)
{
	__conc_fork_lock(&lock, NULL);
}

/* On the releasing thread itself, after its locks were marked dead: a
 * record of its tid is stale (its next job is another holder). The swap
 * loses to a taker that claimed the freed slot meanwhile. */
static void released(pid_t tid)
{
	conc_rsem *s;
	uint32_t i, t;

	lock_handles();
	for (s = head; s; s = s->next)
		for (i = 0; i < s->nslots; i++) {
			t = (uint32_t)tid;
			__atomic_compare_exchange_n(&s->own[i].tid, &t, 0, 0,
						    __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED);
		}
	conc_mutex_unlock(&lock.m);
}

void __conc_rsem_track(conc_rsem *s)
{
	__atomic_store_n(&__conc_robust_released, released, __ATOMIC_RELEASE);
	lock_handles();
	s->next = head;
	head = s;
	conc_mutex_unlock(&lock.m);
}

void __conc_rsem_untrack(conc_rsem *s)
{
	conc_rsem **pp;

	lock_handles();
	for (pp = &head; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	conc_mutex_unlock(&lock.m);
}
