/*
 * Per-thread facts conc caches to avoid a system call on every lock: the
 * kernel thread id, and the robust-list head the sync layer uses. The cache
 * is tagged with the process's fork generation, kept in a MADV_WIPEONFORK
 * page: a fork child finds the page zeroed, so every cached entry is
 * refreshed there before it is trusted.
 */
#ifndef CONC_SYS_SELF_H
#define CONC_SYS_SELF_H

#include <stdint.h>
#include <sys/types.h>

struct __conc_self {
	uint64_t gen;		/* fork generation the entry was filled in */
	pid_t tid;
	pid_t pid;
	void *robust;		/* robust-list head in use, or NULL (sync) */
	/* Kept across fork, not refreshed: */
	uint32_t ctx;		/* running execution context (wait/wait.h) */
	struct __conc_waiter *waiter;	/* the loop's hook, or NULL */
};

extern __thread struct __conc_self __conc_self_tls
	__attribute__((tls_model("initial-exec")));
extern uint64_t *__conc_fork_gen;

struct __conc_self *__conc_self_refresh(void)
	__attribute__((visibility("hidden")));

/* The caller's cache entry, valid in the current process. */
static inline struct __conc_self *__conc_self(void)
{
	struct __conc_self *s = &__conc_self_tls;
	const uint64_t *g = __atomic_load_n(&__conc_fork_gen, __ATOMIC_ACQUIRE);

	if (__builtin_expect(g != NULL && s->gen != 0 &&
			     s->gen == __atomic_load_n(g, __ATOMIC_RELAXED), 1))
		return s;
	return __conc_self_refresh();
}

/* Register this process (once per fork generation) for the asymmetric
 * fence: 1 if the caller may then replace a full fence by a compiler
 * barrier, provided the other side calls __conc_membarrier(). */
int __conc_membarrier_register(void) __attribute__((visibility("hidden")));
void __conc_membarrier(void) __attribute__((visibility("hidden")));

/* Number of CPUs this process may run on (at least 1), probed once. */
int __conc_ncpu(void) __attribute__((visibility("hidden")));

#endif
