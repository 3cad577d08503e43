/*
 * conc/inline.h — not an API. What the inline fast paths of the other
 * headers read: the calling thread's cached identity, kept by libconc.
 * Its layout may change from one conc version to the next; a program
 * built against these headers must link the libconc.a that came with
 * them. Define CONC_NO_INLINE before including any conc header to call
 * the library for everything instead.
 */
#ifndef CONC_INLINE_H
#define CONC_INLINE_H

#include <stdint.h>

struct __conc_waiter;

/* Per-thread facts conc caches to avoid a system call on every lock. The
 * cache is tagged with the process's fork generation, kept in a
 * MADV_WIPEONFORK page: a fork child finds the page zeroed, so every entry
 * is refreshed there before it is trusted. */
struct __conc_self {
	uint64_t gen;		/* fork generation the entry was filled in */
	int32_t tid;
	int32_t pid;
	void *robust;		/* robust-list head in use, or NULL (sync) */
	/* ctx: the running execution context (0: the thread), reset in a
	 * fork child, which runs no task there; robust_held: the robust
	 * mutexes in this thread's registry. ctx_held reads both at once and
	 * equals ctx alone while the thread holds no robust mutex: the inline
	 * unlock checks the owner and the registry with one load. */
	__extension__ union {
		__extension__ struct {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
			uint32_t robust_held, ctx;
#else
			uint32_t ctx, robust_held;
#endif
		};
		uint64_t ctx_held;
	};
	struct __conc_waiter *waiter;	/* a loop's wait hook, or NULL; reset in a fork child */
	uint32_t base;	/* ctx outside coroutines: 0, or a conc thread's job */
	/* The last task id (a ctx) this thread's loops gave: the next loop
	 * goes on from there. Here, not in the loop's own TLS, because a
	 * reused conc thread starts each job with the program's TLS as new,
	 * and this entry alone is carried over. */
	uint32_t task_ids;
};

extern __thread struct __conc_self __conc_self_tls
	__attribute__((tls_model("initial-exec")));
extern uint64_t *__conc_fork_gen;

/* The caller's entry if it is valid in this process, else NULL (the
 * library then refreshes it on its slower path). */
static inline struct __conc_self *__conc_self_cached(void)
{
	struct __conc_self *s = &__conc_self_tls;
	const uint64_t *g = __atomic_load_n(&__conc_fork_gen, __ATOMIC_ACQUIRE);

	return g && s->gen && s->gen == __atomic_load_n(g, __ATOMIC_RELAXED)
		       ? s : (struct __conc_self *)0;
}

#endif
