/*
 * Coroutine stacks: a per-thread cache of free stacks for each size class
 * (a thread's loop gets back the stacks its tasks put: no lock, and their
 * memory is still there), over the process-wide pool (stack_pool.c), over
 * new slabs. Above the classes, a stack has its own mapping, not kept.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "loop/stack_impl.h"
#include "sys/sys.h"
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

/* [class][guarded] */
static __thread struct stack_list cache[STACK_NCLASS][2]
	__attribute__((tls_model("initial-exec")));

static int class_of(size_t size)
{
	int c = 0;

	while (((size_t)1 << (STACK_CLASS_MIN + c)) < size)
		c++;
	return c;
}

/* A new slab's stacks into the cache: 0, or -ENOMEM. */
static int refill(int c)
{
	size_t size = (size_t)1 << (STACK_CLASS_MIN + c), slot, n;
	int how;
	/* A second slab of a class: many tasks; their stacks get used. */
	char *base = __conc_stack_slab(size, &n, &how, __conc_stack_slabs_of(c) > 0);
	struct stack_list *l;

	if (!base)
		return -ENOMEM;
	l = &cache[c][how != STACK_GUARD_NONE];
	if (__conc_stack_reserve(l, n) < 0) {
		__conc_stack_unslab(base, n * (__conc_stack_guard() + size),
				    how == STACK_GUARD_MPROT ? n : 0);
		return -ENOMEM;
	}
	__conc_stack_slab_note(base, n, c, how);
	slot = __conc_stack_guard() + size;
	/* The lowest first out, as a thread that runs tasks one at a time
	 * touches one stack over and over. */
	for (size_t i = n; i-- > 0;)
		l->v[l->n++] = base + i * slot + __conc_stack_guard();
	return 0;
}

/* The newest free stack of class c, guarded g, from here or the pool
 * (k of them taken from there at once). */
static char *pop(int c, int g, size_t k)
{
	struct stack_list *l = &cache[c][g];

	if (!l->n && !__conc_stack_pool_take(l, k, c, g))
		return NULL;
	return l->v[--l->n];
}

static int get(struct __conc_stack *s, size_t size, size_t k)
{
	size_t pg = __conc_stack_page();
	char *lo;
	int c, g;

	if (!s || size > STACK_MAX)
		return -EINVAL;
	if (!size)
		size = STACK_DEFAULT;
	size = (size + pg - 1) & ~(pg - 1);
	if (size > STACK_SLAB_MAX)
		return __conc_stack_map(s, size);
	c = class_of(size);
	for (;;) {
		g = 1;
		lo = pop(c, 1, k);
		if (!lo) {
			g = 0;
			lo = pop(c, 0, k);
		}
		if (lo)
			break;
		if (refill(c) < 0)
			return -ENOMEM;
	}
	s->lo = lo;
	s->hi = lo + ((size_t)1 << (STACK_CLASS_MIN + c));
	s->slab = (void *)&__conc_stack_tag[c][g];
	if (!g)
		*(uint64_t *)lo = STACK_CANARY;
#if defined(__SANITIZE_ADDRESS__)
	/* The last task's frames left their redzones in the shadow. */
	__asan_unpoison_memory_region(s->lo, (size_t)(s->hi - s->lo));
#endif
	return 0;
}

int __conc_stack_get(struct __conc_stack *s, size_t size)
{
	return get(s, size, STACK_CACHE_MAX / 2);
}

/* A thread that runs no loop never gives its cache back (nothing tells
 * it when it ends): it takes one stack from the pool, and what a new
 * slab brought beyond it goes there at once. */
int __conc_stack_get_lean(struct __conc_stack *s, size_t size)
{
	int r = get(s, size, 1);

	__conc_stack_release();
	return r;
}

void __conc_stack_put_lean(struct __conc_stack *s)
{
	__conc_stack_put(s);
	__conc_stack_release();
}

/* The tag's class and guard flag, or -1 for a stack of its own. */
static int tag_of(const struct __conc_stack *s, int *g)
{
	const char *t = s->slab, *t0 = &__conc_stack_tag[0][0];

	if (t < t0 || t >= t0 + sizeof(__conc_stack_tag))
		return -1;
	*g = (int)(t - t0) % 2;
	return (int)(t - t0) / 2;
}

void __conc_stack_put(struct __conc_stack *s)
{
	int c, g;

	if (!s || !s->slab)
		return;
	c = tag_of(s, &g);
	if (c < 0) {
		sys_munmap(s->slab, (size_t)(s->hi - (char *)s->slab));
	} else if (s->hi - s->lo == (ptrdiff_t)1 << (STACK_CLASS_MIN + c)) {
		struct stack_list *l = &cache[c][g];

		if (__conc_stack_reserve(l, 1) == 0)
			l->v[l->n++] = s->lo;
		else	/* kept mapped but lost: give its memory back at least */
			sys_madvise(s->lo, (size_t)(s->hi - s->lo), MADV_DONTNEED);
		if (l->n > STACK_CACHE_MAX)
			__conc_stack_pool_give(l, STACK_CACHE_MAX / 2, c, g, 0);
	}
	s->lo = s->hi = NULL;
	s->slab = NULL;
}

int __conc_stack_intact(const struct __conc_stack *s)
{
	int g;

	if (tag_of(s, &g) < 0 || g)
		return 0;
	return *(const uint64_t *)s->lo == STACK_CANARY ? 0 : -EFAULT;
}

/* An empty cache holds no vector: a thread that ends leaves nothing. */
static void drop_empty(struct stack_list *l)
{
	if (l->n)
		return;
	free(l->v);
	l->v = NULL;
	l->cap = 0;
}

void __conc_stack_trim(size_t keep)
{
	for (int c = 0; c < STACK_NCLASS; c++)
		for (int g = 0; g < 2; g++) {
			struct stack_list *l = &cache[c][g];

			if (l->n > keep)
				__conc_stack_pool_give(l, l->n - keep, c, g, 1);
			drop_empty(l);
		}
	__conc_stack_pool_clean(0);
}

void __conc_stack_release(void)
{
	for (int c = 0; c < STACK_NCLASS; c++)
		for (int g = 0; g < 2; g++) {
			struct stack_list *l = &cache[c][g];

			__conc_stack_pool_give(l, l->n, c, g, 0);
			drop_empty(l);
		}
}
