/*
 * The process-wide pool of free stacks: where a thread's cache overflows
 * to, and where __conc_stack_trim puts what a loop no longer needs, so
 * that a thread that ends (its cache is lost: no thread destructor
 * without pthreads) or a loop that ends leaves little behind. Two lists
 * per class: stacks that still hold their memory (an overflow: giving it
 * back costs a zap now and a page fault at the next use, 10 us each on a
 * small VM) and stacks that hold none (trimmed). Takers prefer the first.
 *
 * The lock is a spin: held for a copy of a few hundred pointers, and no
 * blocking call is allowed outside the wait point. The word holds the
 * holder's pid, so that a fork child, a copy of a process where another
 * thread held it, takes it over instead of spinning forever.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "loop/stack_impl.h"
#include "sys/self.h"
#include "sys/sys.h"

static struct stack_list pool[STACK_NCLASS][2][2];	/* [class][guarded][clean] */
static uint32_t pool_lock;

void __conc_stack_pool_lock(void)
{
	uint32_t me = (uint32_t)__conc_self()->pid, v = 0;

	/* Acquire: the pool's lists as the last holder left them. */
	while (!__atomic_compare_exchange_n(&pool_lock, &v, me, 0, __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED)) {
		if (v != 0 && v != me)
			continue;	/* the parent's, before the fork: ours now */
		sys_cpu_relax();
		v = 0;
	}
}

void __conc_stack_pool_unlock(void)
{
	/* Release: our changes to the lists before the next holder's look. */
	__atomic_store_n(&pool_lock, 0, __ATOMIC_RELEASE);
}

struct stack_list *__conc_stack_pool_list(int c, int g, int clean)
{
	return &pool[c][g][clean];
}

int __conc_stack_reserve(struct stack_list *l, size_t more)
{
	size_t cap = l->cap ? l->cap : 64;
	char **v;

	if (l->n + more <= l->cap)
		return 0;
	while (cap < l->n + more)
		cap *= 2;
	v = realloc(l->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	l->cap = cap;
	return 0;
}

static int by_address(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;

	return (x > y) - (x < y);
}

/* One madvise per run of neighbours (sorted here): a run spans the guards
 * between its stacks, and guards survive MADV_DONTNEED (mprotect'ed or
 * installed). */
static void give_back(char **v, size_t n, size_t size)
{
	size_t slot = __conc_stack_guard() + size;

	qsort(v, n, sizeof(*v), by_address);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && v[j] == v[j - 1] + slot; j++)
			;
		sys_madvise(v[i], (size_t)(v[j - 1] + size - v[i]), MADV_DONTNEED);
	}
}

/* Append v[0, k) to the pool list p; lost if it cannot grow (the memory
 * of clean ones is given back already). */
static void append(struct stack_list *p, char **v, size_t k)
{
	__conc_stack_pool_lock();
	if (__conc_stack_reserve(p, k) == 0) {
		memcpy(p->v + p->n, v, k * sizeof(*v));
		__atomic_store_n(&p->n, p->n + k, __ATOMIC_RELAXED);
	}
	__conc_stack_pool_unlock();
}

void __conc_stack_pool_give(struct stack_list *l, size_t k, int c, int g, int clean)
{
	if (k > l->n)
		k = l->n;
	if (!k)
		return;
	if (clean)
		give_back(l->v, k, (size_t)1 << (STACK_CLASS_MIN + c));
	append(&pool[c][g][clean], l->v, k);
	memmove(l->v, l->v + k, (l->n - k) * sizeof(*l->v));
	l->n -= k;
}

static size_t take(struct stack_list *l, size_t k, struct stack_list *p)
{
	/* Unlocked peek: an empty pool is the common case, and a stale
	 * answer only means a new slab, or a lock taken for nothing. */
	if (!__atomic_load_n(&p->n, __ATOMIC_RELAXED) ||
	    __conc_stack_reserve(l, k) < 0)
		return 0;
	__conc_stack_pool_lock();
	if (k > p->n)
		k = p->n;
	__atomic_store_n(&p->n, p->n - k, __ATOMIC_RELAXED);
	memcpy(l->v + l->n, p->v + p->n, k * sizeof(*l->v));
	__conc_stack_pool_unlock();
	l->n += k;
	return k;
}

size_t __conc_stack_pool_take(struct stack_list *l, size_t k, int c, int g)
{
	size_t n = take(l, k, &pool[c][g][0]);

	return n ? n : take(l, k, &pool[c][g][1]);
}

size_t __conc_stack_keep(int c, size_t keep_bytes)
{
	size_t k = keep_bytes >> (STACK_CLASS_MIN + c);

	return k < STACK_CACHE_MAX ? k : STACK_CACHE_MAX;
}

/* The memory of the pool's stacks back to the kernel, but for the newest
 * of each list (keep_bytes' worth): those to give back are taken out, so
 * the zaps run without the lock. */
void __conc_stack_pool_clean(size_t keep_bytes)
{
	for (int c = 0; c < STACK_NCLASS; c++)
		for (int g = 0; g < 2; g++) {
			struct stack_list *p = &pool[c][g][0];
			size_t keep = __conc_stack_keep(c, keep_bytes), k;
			char **d;

			if (__atomic_load_n(&p->n, __ATOMIC_RELAXED) <= keep)
				continue;
			__conc_stack_pool_lock();
			k = p->n > keep ? p->n - keep : 0;
			d = k ? malloc(k * sizeof(*d)) : NULL;
			if (d) {
				/* the oldest first in the list */
				memcpy(d, p->v, k * sizeof(*d));
				memmove(p->v, p->v + k, (p->n - k) * sizeof(*d));
				__atomic_store_n(&p->n, p->n - k, __ATOMIC_RELAXED);
			}
			__conc_stack_pool_unlock();
			if (!d)
				continue;	/* no memory: they keep theirs */
			give_back(d, k, (size_t)1 << (STACK_CLASS_MIN + c));
			append(&pool[c][g][1], d, k);
			free(d);
		}
}
