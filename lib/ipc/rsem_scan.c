/* Looking at the holder table, and taking back what the dead held
 * (rsem_impl.h). */
#include <errno.h>
#include "ipc/rsem_impl.h"

#define PROBE_NS 100000000LL	/* tgkill checks per handle: 10 a second */

void __conc_rsem_look(conc_rsem *s, const struct __conc_self *me,
		      struct rsem_look *l)
{
	uint32_t i, w;

	l->held = 0;
	l->dead = 0;
	l->mine = l->free = -1;
	for (i = 0; i < s->nslots; i++) {
		struct rsem_slot *sl = &s->sh->slots[i];

		/* The caller's own slot counts what the caller took, whatever
		 * a peer wrote there. */
		if (me && l->mine < 0 && __conc_rsem_mine(s, i, me)) {
			l->mine = (int)i;
			l->held += __atomic_load_n(&s->own[i].count, __ATOMIC_RELAXED);
			continue;
		}
		/* acquire: the slot's count, written before its lock. */
		w = __atomic_load_n(&sl->m.word, __ATOMIC_ACQUIRE);
		if (__conc_rsem_live(w)) {
			l->held += __atomic_load_n(&sl->count, __ATOMIC_RELAXED);
		} else if (__conc_rsem_dead(w)) {
			l->dead++;
		} else if (l->free < 0) {
			l->free = (int)i;
		}
	}
}

uint32_t __conc_rsem_probe(conc_rsem *s, bool mark)
{
	int64_t now = sys_now_ns(), last = __atomic_load_n(&s->probed, __ATOMIC_RELAXED);
	uint32_t i, w, n = 0;
	int32_t pid;

	if (!mark && (now - last < PROBE_NS ||
		      !__atomic_compare_exchange_n(&s->probed, &last, now, 0,
						   __ATOMIC_RELAXED,
						   __ATOMIC_RELAXED)))
		return 0;
	for (i = 0; i < s->nslots; i++) {
		struct rsem_slot *sl = &s->sh->slots[i];

		w = __atomic_load_n(&sl->m.word, __ATOMIC_ACQUIRE);
		pid = __atomic_load_n(&sl->pid, __ATOMIC_RELAXED);
		if (!__conc_rsem_live(w) || pid <= 0 ||
		    sys_tgkill(pid, (pid_t)(w & FUTEX_TID_MASK), 0) != -ESRCH)
			continue;
		/* Gone, and the kernel did not mark its word: do it, unless
		 * the word moved on meanwhile (then it was not this one's). */
		if (!mark || __atomic_compare_exchange_n(
				     &sl->m.word, &w,
				     (w & FUTEX_WAITERS) | FUTEX_OWNER_DIED, 0,
				     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			n++;
	}
	return n;
}

/* A dead slot, with the table lock held: only a take-back (or a peer
 * writing nonsense) changes its word now. */
static bool take_back(struct rsem_slot *sl)
{
	int r = conc_mutex_trylock(&sl->m);

	if (r == -EOWNERDEAD) {
		conc_mutex_consistent(&sl->m);
		__atomic_store_n(&sl->count, 0, __ATOMIC_RELAXED);
		conc_mutex_unlock(&sl->m);
		return true;
	}
	if (r == 0) {		/* a word marked dead on a mutex not robust */
		__atomic_store_n(&sl->count, 0, __ATOMIC_RELAXED);
		conc_mutex_unlock(&sl->m);
		return true;
	}
	if (r == -ENOTRECOVERABLE) {	/* a peer's doing: start it afresh */
		conc_mutex_init(&sl->m, CONC_ROBUST);
		return true;
	}
	return false;		/* -EBUSY (a peer's nonsense), -ENOTSUP */
}

uint32_t __conc_rsem_reclaim(conc_rsem *s)
{
	uint32_t i, n = 0;

	/* The caller's own slot, marked dead by a peer, is taken back too;
	 * its claim record stays, but a slot is the caller's only while its
	 * lock is on the thread's robust list as well (__conc_rsem_mine). */
	for (i = 0; i < s->nslots; i++) {
		struct rsem_slot *sl = &s->sh->slots[i];

		if (__conc_rsem_dead(__atomic_load_n(&sl->m.word, __ATOMIC_ACQUIRE)) &&
		    take_back(sl))
			n++;
	}
	return n;
}

void __conc_rsem_ring(conc_rsem *s, int n)
{
	/* seq_cst bump, then seq_cst look at waiters: pairs with the
	 * sleeper's raise of waiters, then read of seq (rsem_wait.c). */
	__atomic_add_fetch(&s->sh->seq, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->sh->waiters, __ATOMIC_SEQ_CST))
		__conc_wake(&s->sh->seq, n, 0);
}
