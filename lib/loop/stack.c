/*
 * Coroutine stacks, first cut: one mapping per stack, its lowest page made
 * inaccessible as the guard (two mappings per stack; slabs come next).
 */
#include <errno.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include "loop/coro.h"
#include "sys/sys.h"

#define STACK_DEFAULT (64u << 10)
#define STACK_MAX ((size_t)1 << 30)

static size_t page_size(void)
{
	static size_t pg;

	if (!pg)
		pg = getauxval(AT_PAGESZ) ? getauxval(AT_PAGESZ) : 4096;
	return pg;
}

int __conc_stack_get(struct __conc_stack *s, size_t size)
{
	size_t pg = page_size();
	char *p;

	if (!s || size > STACK_MAX)
		return -EINVAL;
	if (!size)
		size = STACK_DEFAULT;
	size = (size + pg - 1) & ~(pg - 1);
	p = sys_mmap(NULL, size + pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (sys_mmap_failed(p))
		return -ENOMEM;
	if (sys_mprotect(p, pg, PROT_NONE) < 0) {
		sys_munmap(p, size + pg);
		return -ENOMEM;
	}
	s->lo = p + pg;
	s->hi = p + pg + size;
	s->slab = p;
	return 0;
}

void __conc_stack_put(struct __conc_stack *s)
{
	if (!s || !s->slab)
		return;
	sys_munmap(s->slab, (size_t)(s->hi - (char *)s->slab));
	s->lo = s->hi = NULL;
	s->slab = NULL;
}
