#include <sys/mman.h>
#include "sys.h"
#include "self.h"

__thread struct __conc_self __conc_self_tls
	__attribute__((tls_model("initial-exec")));
uint64_t *__conc_fork_gen;

/* Without MADV_WIPEONFORK nothing tells us about fork, so never cache. */
static uint64_t no_cache_gen;

static uint64_t *fork_gen_page(void)
{
	uint64_t *p = __atomic_load_n(&__conc_fork_gen, __ATOMIC_ACQUIRE);
	void *page;

	if (p)
		return p;
	page = sys_mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_mmap_failed(page))
		return &no_cache_gen;
	if (sys_madvise(page, 4096, MADV_WIPEONFORK) < 0) {
		sys_munmap(page, 4096);
		return &no_cache_gen;
	}
	if (!__atomic_compare_exchange_n(&__conc_fork_gen, &p, page, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		sys_munmap(page, 4096);
		return p;
	}
	return page;
}

struct __conc_self *__conc_self_refresh(void)
{
	struct __conc_self *s = &__conc_self_tls;
	uint64_t *g = fork_gen_page();
	uint64_t gen = 0, token;

	if (g != &no_cache_gen) {
		gen = __atomic_load_n(g, __ATOMIC_ACQUIRE);
		if (gen == 0) {
			/*
			 * First use in this process (or its first use since
			 * fork wiped the page). The token must differ from every
			 * token an ancestor stored in inherited TLS: the clock
			 * has moved on since any of them was taken.
			 */
			token = (uint64_t)sys_now_ns() << 1 | 1;
			if (!__atomic_compare_exchange_n(g, &gen, token, 0,
							 __ATOMIC_ACQ_REL,
							 __ATOMIC_ACQUIRE))
				token = gen;
			gen = token;
		}
	}
	if (s->gen != gen || gen == 0) {
		/* A fork child (an entry of an older generation) of a loop's
		 * task is a plain thread from its first call on, not only from
		 * its first wait (the loop finds out there): a lock it takes
		 * before that wait must be owned by the thread, or the unlock
		 * after it says -EPERM and the lock stays taken. */
		if (s->gen && gen) {
			s->ctx = s->base = 0;
			s->waiter = NULL;
		}
		s->tid = sys_gettid();
		s->pid = sys_getpid();
		s->robust = NULL;
		s->robust_held = 0;	/* a fork child holds none */
		s->gen = gen;
	}
	return s;
}

pid_t conc_gettid(void)
{
	return __conc_self()->tid;
}

int __conc_ncpu(void)
{
	static int ncpu;
	unsigned long mask[16];
	int n = __atomic_load_n(&ncpu, __ATOMIC_RELAXED), len, i;

	if (n)
		return n;
	len = sys_sched_getaffinity(0, sizeof(mask), mask);
	n = 0;
	for (i = 0; len > 0 && i < len / (int)sizeof(long); i++)
		n += __builtin_popcountl(mask[i]);
	if (n < 1)
		n = 1;
	__atomic_store_n(&ncpu, n, __ATOMIC_RELAXED);
	return n;
}
