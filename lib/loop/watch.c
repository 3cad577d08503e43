/*
 * The loop's watch on the shared futex words its tasks sleep on.
 *
 * A process that is woken and killed before it acts takes its wake-up with
 * it (lib/wait/futex.c): a sleeper on a shared word must look again now and
 * then, or sleep for ever behind it. A thread looks every __CONC_RECHECK_NS.
 * A loop looks for all its tasks at once: its sleepers are grouped by word
 * and expected value, and every __CONC_RECHECK_NS (every LOOP_FALLBACK_NS
 * where the kernel has no IORING_OP_FUTEX_WAIT) it reads each group's word. A
 * word that no longer holds what its sleepers expect would have refused
 * them: they are woken to look again. So a thousand tasks asleep on one
 * semaphore cost one read a tenth of a second, where a re-check of each
 * (a timeout in the ring, a resume and a new wait) cost a fifth of a CPU.
 *
 * The wake-up: with IORING_OP_FUTEX_WAIT in flight, a futex wake of every
 * sleeper of the word (those of other processes too: a spurious wake-up,
 * which every waiter of conc takes as a reason to look again); parked
 * tasks of the fallback are woken directly. The word is read where the
 * task would read it: a task sleeps on memory that it keeps mapped.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include "loop/loop_impl.h"

struct fwatch {
	struct fwatch *next;		/* hash chain */
	const uint32_t *word;
	uint32_t expected;
	unsigned flags;			/* the sleepers' (wait.h) */
	size_t n;
	struct conc_task *head;		/* through fw_next, fw_prev */
};

static size_t slot(const struct loop *l, const uint32_t *word, uint32_t expected)
{
	uint64_t h = ((uintptr_t)word >> 2) ^ ((uint64_t)expected << 32);

	h *= 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 32) & (l->fw_cap - 1);
}

static int64_t every(const struct loop *l)
{
	/* Where the kernel cannot wake them, the sweep is all the tasks
	 * have: often, spaced out as the groups grow (a read each). */
	if (!l->futex_op)
		return LOOP_FALLBACK_NS * (int64_t)(1 + l->fw_n / 1024);
	return __CONC_RECHECK_NS;
}

static int grow(struct loop *l)
{
	size_t cap = l->fw_cap ? 2 * l->fw_cap : 64, i;
	struct fwatch **tab = calloc(cap, sizeof(*tab)), **old = l->fw_tab;
	size_t old_cap = l->fw_cap;

	if (!tab)
		return -ENOMEM;
	l->fw_tab = tab;
	l->fw_cap = cap;
	for (i = 0; i < old_cap; i++) {
		struct fwatch *g = old[i], *nx;

		for (; g; g = nx) {
			size_t s = slot(l, g->word, g->expected);

			nx = g->next;
			g->next = tab[s];
			tab[s] = g;
		}
	}
	free(old);
	return 0;
}

int __conc_watch_add(struct conc_task *t, const uint32_t *word,
		     uint32_t expected, unsigned flags)
{
	struct loop *l = t->loop;
	struct fwatch *g = NULL;

	if (l->fw_cap)
		for (g = l->fw_tab[slot(l, word, expected)]; g; g = g->next)
			if (g->word == word && g->expected == expected)
				break;
	if (!g) {
		size_t s;

		if (l->fw_n >= l->fw_cap && grow(l) < 0)
			return -ENOMEM;
		if (!(g = malloc(sizeof(*g))))
			return -ENOMEM;
		*g = (struct fwatch){ .word = word, .expected = expected,
				      .flags = flags };
		s = slot(l, word, expected);
		g->next = l->fw_tab[s];
		l->fw_tab[s] = g;
		if (l->fw_n++ == 0)
			l->fw_due = sys_now_ns() + every(l);
	}
	t->fw = g;
	t->fw_prev = NULL;
	t->fw_next = g->head;
	if (g->head)
		g->head->fw_prev = t;
	g->head = t;
	g->n++;
	return 0;
}

void __conc_watch_del(struct conc_task *t)
{
	struct loop *l = t->loop;
	struct fwatch *g = t->fw, **p;

	t->fw = NULL;
	if (t->fw_prev)
		t->fw_prev->fw_next = t->fw_next;
	else
		g->head = t->fw_next;
	if (t->fw_next)
		t->fw_next->fw_prev = t->fw_prev;
	if (--g->n)
		return;
	for (p = &l->fw_tab[slot(l, g->word, g->expected)]; *p != g; p = &(*p)->next)
		;
	*p = g->next;
	free(g);
	l->fw_n--;
}

static void wake(struct loop *l, struct fwatch *g)
{
	struct conc_task *t;

	if (l->futex_op) {
		__conc_wake((uint32_t *)g->word, INT_MAX, g->flags);
		return;
	}
	/* The tasks leave the group when they run, not now. */
	for (t = g->head; t; t = t->fw_next)
		__conc_wake_task(t, 0);
}

void __conc_watch_sweep(struct loop *l, int64_t now)
{
	size_t i;

	for (i = 0; i < l->fw_cap; i++) {
		struct fwatch *g;

		for (g = l->fw_tab[i]; g; g = g->next)
			if (__atomic_load_n(g->word, __ATOMIC_ACQUIRE) != g->expected)
				wake(l, g);
	}
	l->fw_due = now + every(l);
}

void __conc_watch_free(struct loop *l)
{
	free(l->fw_tab);
	l->fw_tab = NULL;
	l->fw_cap = 0;
}
