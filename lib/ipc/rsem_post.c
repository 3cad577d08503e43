/* Giving a permit back, and looking at a robust semaphore (rsem_impl.h). */
#include <errno.h>
#include "ipc/rsem_impl.h"
#include "sync/robust.h"

/* The caller's slot: where it last took one, else a walk. */
static int mine(conc_rsem *s, const struct __conc_self *me)
{
	uint32_t i = __atomic_load_n(&s->hint, __ATOMIC_RELAXED);
	struct rsem_look l;

	if (i < s->nslots && __conc_rsem_mine(s, i, me))
		return (int)i;
	__conc_rsem_look(s, me, &l);
	return l.mine;
}

/*
 * No slot looks the caller's, yet one it claimed through this handle is
 * still on its robust list: a peer rewrote the slot (its word, context or
 * time). Let go of it all the same, or the list would keep naming the
 * segment after conc_rsem_destroy() unmaps it. The unlock says whether the
 * permit was still ours to give back (0) or was taken (-EPERM).
 */
static int let_go_of_rewritten(conc_rsem *s, const struct __conc_self *me)
{
	uint32_t i;
	int r;

	if (!me->robust_held)
		return -EPERM;
	for (i = 0; i < s->nslots; i++) {
		struct rsem_slot *sl = &s->sh->slots[i];

		if (__atomic_load_n(&s->own[i].tid, __ATOMIC_RELAXED) != (uint32_t)me->tid ||
		    __atomic_load_n(&s->own[i].ctx, __ATOMIC_RELAXED) != __conc_ctx(me) ||
		    !__conc_robust_entry(&sl->m))
			continue;
		__atomic_store_n(&s->own[i].tid, 0, __ATOMIC_RELAXED);
		r = conc_mutex_unlock(&sl->m);
		if (!r)
			__conc_rsem_ring(s, 1);
		return r;
	}
	return -EPERM;
}

int conc_rsem_post(conc_rsem *s)
{
	const struct __conc_self *me;
	struct rsem_slot *sl;
	uint32_t c;
	int i, r;

	if (!s)
		return -EINVAL;
	me = __conc_self();
	if ((i = mine(s, me)) < 0)
		return let_go_of_rewritten(s, me);
	sl = &s->sh->slots[i];
	/* What the caller took, not what the slot says: a peer's count
	 * there would otherwise keep the permit (and the handle) for ever. */
	c = __atomic_load_n(&s->own[i].count, __ATOMIC_RELAXED);
	/* One store gives the permit back either way: the count, or the
	 * slot's lock (its count then no longer counts). */
	if (c > 1) {
		__atomic_store_n(&s->own[i].count, c - 1, __ATOMIC_RELAXED);
		__atomic_store_n(&sl->count, c - 1, __ATOMIC_RELEASE);
	} else {
		/* Forgotten first: once unlocked, another thread of ours
		 * may claim the slot and write its own entry. */
		__atomic_store_n(&s->own[i].tid, 0, __ATOMIC_RELAXED);
		if ((r = conc_mutex_unlock(&sl->m)))
			return r;
	}
	__conc_rsem_ring(s, 1);
	return 0;
}

int conc_rsem_value(conc_rsem *s)
{
	uint32_t permits;
	struct rsem_look l;

	if (!s)
		return -EINVAL;
	permits = __conc_rsem_permits(s);
	__conc_rsem_look(s, NULL, &l);
	return l.held >= permits ? 0 : (int)(permits - l.held);
}

ssize_t conc_rsem_holders(conc_rsem *s, conc_rsem_holder *out, size_t max)
{
	ssize_t n = 0;
	uint32_t i, w;

	if (!s || (!out && max))
		return -EINVAL;
	for (i = 0; i < s->nslots; i++) {
		struct rsem_slot *sl = &s->sh->slots[i];

		w = __atomic_load_n(&sl->m.word, __ATOMIC_ACQUIRE);
		if (!__conc_rsem_live(w))
			continue;
		if ((size_t)n < max) {
			out[n].pid = __atomic_load_n(&sl->pid, __ATOMIC_RELAXED);
			out[n].tid = (pid_t)(w & FUTEX_TID_MASK);
			out[n].count = __atomic_load_n(&sl->count, __ATOMIC_RELAXED);
			out[n].since_ns = __atomic_load_n(&sl->since, __ATOMIC_RELAXED);
		}
		n++;
	}
	return n;
}
