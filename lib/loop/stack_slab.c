/*
 * Slabs of coroutine stacks, and their guards.
 *
 * vm.max_map_count (65530 by default) caps the mappings of a process, and
 * mprotect splits one: a slab of n stacks with a PROT_NONE guard each is
 * 2n mappings, so 100,000 guarded stacks cannot exist that way. Since
 * Linux 6.13, MADV_GUARD_INSTALL makes guard pages in the page tables
 * without splitting the mapping: a slab stays one mapping, whatever n.
 * Before 6.13, guards are made with mprotect while a budget lasts (a
 * quarter of vm.max_map_count, in stacks), and later slabs have none: their
 * stacks carry a canary at the bottom instead (__conc_stack_intact).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include "loop/stack_impl.h"
#include "sys/sys.h"
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

const char __conc_stack_tag[STACK_NCLASS][2];

static int no_madv_guard;	/* 1: the kernel lacks MADV_GUARD_INSTALL */
static long mprotect_budget = -1;	/* stacks still to guard by mprotect; -1: unread */

size_t __conc_stack_page(void)
{
	static size_t pg;

	if (!pg) {
		unsigned long v = getauxval(AT_PAGESZ);

		pg = v && !(v & (v - 1)) ? v : 4096;
	}
	return pg;
}

size_t __conc_stack_guard(void)
{
	size_t pg = __conc_stack_page();

	return pg > (16 << 10) ? pg : 16 << 10;
}

void __conc_stack_test_limits(int no_madv, long budget)
{
	__atomic_store_n(&no_madv_guard, no_madv, __ATOMIC_RELAXED);
	__atomic_store_n(&mprotect_budget, budget, __ATOMIC_RELAXED);
}

/* A quarter of vm.max_map_count: half of the mappings for guarded stacks
 * (two each), half left to the rest of the program. */
static long read_budget(void)
{
	char buf[32];
	long v = 0, r;
	int fd = sys_openat(AT_FDCWD, "/proc/sys/vm/max_map_count",
			    O_RDONLY | O_CLOEXEC, 0);

	if (fd < 0)
		return 65530 / 4;
	r = sys_read(fd, buf, sizeof(buf) - 1);
	sys_close(fd);
	for (long i = 0; i < r && buf[i] >= '0' && buf[i] <= '9' && v < (1L << 40); i++)
		v = v * 10 + (buf[i] - '0');
	return v > 0 ? v / 4 : 65530 / 4;
}

/* Take one stack from the mprotect budget; 0 when it is spent. */
static int take_budget(void)
{
	long b = __atomic_load_n(&mprotect_budget, __ATOMIC_RELAXED);

	if (b < 0) {
		long fresh = read_budget();

		/* Only the first reader installs it; others see its value. */
		__atomic_compare_exchange_n(&mprotect_budget, &b, fresh, 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		b = __atomic_load_n(&mprotect_budget, __ATOMIC_RELAXED);
	}
	while (b > 0)
		if (__atomic_compare_exchange_n(&mprotect_budget, &b, b - 1, 0,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return 1;
	return 0;
}

/* Make [p, p + len) inaccessible by the page tables (one mapping). */
static int guard_madv(char *p, size_t len)
{
	int r;

	if (__atomic_load_n(&no_madv_guard, __ATOMIC_RELAXED))
		return 0;
	r = sys_madvise(p, len, MADV_GUARD_INSTALL);
	if (r == -EINVAL)
		__atomic_store_n(&no_madv_guard, 1, __ATOMIC_RELAXED);
	return r == 0;
}

/* The same for a slab stack: how it was done, STACK_GUARD_NONE when it
 * is left accessible. */
static int guard(char *p, size_t len)
{
	if (guard_madv(p, len))
		return STACK_GUARD_MADV;
	if (!take_budget())
		return STACK_GUARD_NONE;
	if (sys_mprotect(p, len, PROT_NONE) == 0)
		return STACK_GUARD_MPROT;
	__atomic_fetch_add(&mprotect_budget, 1, __ATOMIC_RELAXED);
	return STACK_GUARD_NONE;
}

static char *map(size_t len)
{
	char *p = sys_mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
			   -1, 0);

	return sys_mmap_failed(p) ? NULL : p;
}

char *__conc_stack_slab(size_t size, size_t *n, int *how, int warm)
{
	size_t g = __conc_stack_guard(), slot = g + size, pg = __conc_stack_page();
	size_t k = STACK_SLAB_BYTES / slot < 4 ? 4 : STACK_SLAB_BYTES / slot, i = 0;
	char *base = map(k * slot);

	if (!base)
		return NULL;
	if (!__atomic_load_n(&no_madv_guard, __ATOMIC_RELAXED))
		i = __conc_stack_advise(base, slot, g, k, MADV_GUARD_INSTALL);
	/* All or none: a slab's stacks share one tag. A budget spent
	 * part-way gives the unguarded rest of the slab back. */
	*how = i ? STACK_GUARD_MADV : guard(base, g);
	for (i = i ? i : 1; *how && i < k; i++)
		if (!guard(base + i * slot, g)) {
			sys_munmap(base + i * slot, (k - i) * slot);
			k = i;
		}
	/* A task's first run touches the top page of its stack: a fault
	 * each, the most of what 100,000 new tasks cost. Where many tasks
	 * are made, the kernel fills them in one call, cheaper than a
	 * trap each. Best effort. Not on another CPU: an io_uring worker
	 * (IORING_OP_MADVISE, one op a page) spent 2 to 5 times the CPU a
	 * page that this call does, and page tables changed from two
	 * threads at once slow both (100,000 sleepers: 303 -> 275 ms
	 * without it, the process's CPU 437 -> 275 ms). */
	if (warm)
		__conc_stack_advise(base + slot - pg, slot, pg, k, MADV_POPULATE_WRITE);
	*n = k;
	return base;
}

void __conc_stack_unslab(char *base, size_t len, size_t mprotected)
{
#if defined(__SANITIZE_ADDRESS__)
	/* Frames left redzones in the shadow: whatever is mapped here next
	 * must not inherit them. */
	__asan_unpoison_memory_region(base, len);
#endif
	sys_munmap(base, len);
	__atomic_fetch_add(&mprotect_budget, (long)mprotected, __ATOMIC_RELAXED);
}

/* Its own mapping, guarded whatever the budget: such stacks are few. */
int __conc_stack_map(struct __conc_stack *s, size_t size)
{
	size_t g = __conc_stack_guard();
	char *p = map(g + size);

	if (!p)
		return -ENOMEM;
	if (!guard_madv(p, g) && sys_mprotect(p, g, PROT_NONE) < 0) {
		sys_munmap(p, g + size);
		return -ENOMEM;
	}
	s->lo = p + g;
	s->hi = p + g + size;
	s->slab = p;
	return 0;
}
