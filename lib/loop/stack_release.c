/*
 * Slabs back to the kernel. Every slab is noted here when it is made; when
 * the last loop of the process ends, a slab whose stacks are all in the
 * pool is unmapped whole (its memory, its page tables and its guards go),
 * and the pool forgets its stacks. A slab with a stack still out (a loop
 * that started meanwhile, a stack taken outside a loop) stays; the memory
 * of its pooled stacks is given back all the same. But for the newest
 * KEEP_BYTES of stacks of each class (at most 256, a thread's cache),
 * which keep their slab and their memory: a program that runs small loops one after the other would
 * otherwise map, guard, fault and unmap its stacks every time (2 to 7
 * times the cost of a loop of 1 to 200 tasks).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "loop/stack_impl.h"

#define KEEP_BYTES	((size_t)16 << 20)	/* 256 default stacks */

struct slab {
	char *base;
	size_t n;		/* stacks */
	size_t free;		/* of them in the pool, while counting */
	int c, how;
	bool kept;		/* holds one of the newest: stays */
};

/* Under the pool's lock. */
static struct slab *slabs;
static size_t nslabs, cap;
static size_t of_class[STACK_NCLASS];	/* read without the lock */

void __conc_stack_slab_note(char *base, size_t n, int c, int how)
{
	__conc_stack_pool_lock();
	if (nslabs == cap) {
		size_t more = cap ? 2 * cap : 64;
		struct slab *v = realloc(slabs, more * sizeof(*v));

		if (v) {
			slabs = v;
			cap = more;
		}
	}
	/* Not noted (no memory): the slab is never unmapped, only reused. */
	if (nslabs < cap) {
		slabs[nslabs++] = (struct slab){ .base = base, .n = n, .c = c, .how = how };
		__atomic_store_n(&of_class[c], of_class[c] + 1, __ATOMIC_RELAXED);
	}
	__conc_stack_pool_unlock();
}

size_t __conc_stack_slabs_of(int c)
{
	return __atomic_load_n(&of_class[c], __ATOMIC_RELAXED);
}

static size_t slot_of(int c)
{
	return __conc_stack_guard() + ((size_t)1 << (STACK_CLASS_MIN + c));
}

static int by_base(const void *a, const void *b)
{
	const char *x = ((const struct slab *)a)->base;
	const char *y = ((const struct slab *)b)->base;

	return (x > y) - (x < y);
}

/* The noted slab of class c that holds the stack at lo, or NULL. Slabs
 * are sorted by base and never overlap. *hint: the last one found, looked
 * at first, as neighbours in a list mostly share a slab (a slab's stacks
 * come and go in runs): 100,000 stacks at a loop's end cost a compare
 * each instead of a search. */
static struct slab *slab_of(const char *lo, int c, struct slab **hint)
{
	struct slab *s = *hint;
	size_t a = 0, b = nslabs;

	if (s && s->base <= lo && lo < s->base + s->n * slot_of(c) && s->c == c)
		return s;
	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (slabs[m].base <= lo)
			a = m + 1;
		else
			b = m;
	}
	if (!a)
		return NULL;
	s = &slabs[a - 1];
	if (s->c != c || lo >= s->base + s->n * slot_of(c))
		return NULL;
	*hint = s;
	return s;
}

/* Drop from l the stacks of whole slabs (all free), keeping the order. */
static void drop_whole(struct stack_list *l, int c)
{
	struct slab *hint = NULL;
	size_t k = 0;

	for (size_t i = 0; i < l->n; i++) {
		struct slab *s = slab_of(l->v[i], c, &hint);

		if (!s || s->free != s->n || s->kept)
			l->v[k++] = l->v[i];
	}
	l->n = k;
	if (!k) {
		free(l->v);
		l->v = NULL;
		l->cap = 0;
	}
}

/* Under the lock: the whole slabs leave the registry and the pool; they
 * are moved to the end of the registry, from *first on. */
static void pick(size_t *first)
{
	size_t k = 0;

	qsort(slabs, nslabs, sizeof(*slabs), by_base);
	for (size_t i = 0; i < nslabs; i++) {
		slabs[i].free = 0;
		slabs[i].kept = false;
	}
	/* The newest of each list (its end) are the ones kept warm. */
	for (int c = 0; c < STACK_NCLASS; c++)
		for (int g = 0; g < 2; g++) {
			struct stack_list *l = __conc_stack_pool_list(c, g, 0);
			size_t keep = __conc_stack_keep(c, KEEP_BYTES);
			struct slab *hint = NULL;

			for (size_t i = l->n > keep ? l->n - keep : 0; i < l->n; i++) {
				struct slab *s = slab_of(l->v[i], c, &hint);

				if (s)
					s->kept = true;
			}
		}
	for (int c = 0; c < STACK_NCLASS; c++)
		for (int g = 0; g < 2; g++)
			for (int clean = 0; clean < 2; clean++) {
				struct stack_list *l = __conc_stack_pool_list(c, g, clean);
				struct slab *hint = NULL;

				for (size_t i = 0; i < l->n; i++) {
					struct slab *s = slab_of(l->v[i], c, &hint);

					if (s)
						s->free++;
				}
			}
	for (int c = 0; c < STACK_NCLASS; c++)
		for (int g = 0; g < 2; g++)
			for (int clean = 0; clean < 2; clean++)
				drop_whole(__conc_stack_pool_list(c, g, clean), c);
	/* Partition: kept slabs first (still sorted), whole ones last. */
	for (size_t i = 0; i < nslabs; i++)
		if (slabs[i].free != slabs[i].n || slabs[i].kept) {
			struct slab t = slabs[k];

			slabs[k++] = slabs[i];
			slabs[i] = t;
		}
	*first = k;
}

static size_t len_of(const struct slab *s)
{
	return s->n * slot_of(s->c);
}

/* Neighbouring slabs (the kernel maps them side by side, and merges them
 * into one mapping) go in one call: unmapping one alone would split the
 * mapping first. */
static void unmap_runs(struct slab *v, size_t n)
{
	qsort(v, n, sizeof(*v), by_base);
	for (size_t i = 0, j; i < n; i = j) {
		char *end = v[i].base + len_of(&v[i]);
		size_t mprot = v[i].how == STACK_GUARD_MPROT ? v[i].n : 0;

		for (j = i + 1; j < n && v[j].base == end; j++) {
			end += len_of(&v[j]);
			mprot += v[j].how == STACK_GUARD_MPROT ? v[j].n : 0;
		}
		__conc_stack_unslab(v[i].base, (size_t)(end - v[i].base), mprot);
	}
}

void __conc_stack_unmap_free(void)
{
	struct slab *gone;
	size_t first, n = 0;

	__conc_stack_pool_lock();
	/* Room for the list first: once picked, a slab must go. No memory:
	 * the slabs stay, only their memory is given back. */
	gone = nslabs ? malloc(nslabs * sizeof(*gone)) : NULL;
	if (gone) {
		pick(&first);
		n = nslabs - first;
		memcpy(gone, slabs + first, n * sizeof(*gone));
		nslabs = first;
	}
	for (size_t i = 0; i < n; i++)
		__atomic_store_n(&of_class[gone[i].c], of_class[gone[i].c] - 1,
				 __ATOMIC_RELAXED);
	if (!nslabs) {
		free(slabs);
		slabs = NULL;
		cap = 0;
	}
	__conc_stack_pool_unlock();
	unmap_runs(gone, n);
	free(gone);
	__conc_stack_pool_clean(KEEP_BYTES);
}
