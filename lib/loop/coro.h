/*
 * Coroutine contexts and stacks: the machine-dependent floor of lib/loop/.
 * Owned by the "coro" helper (lib/loop/coro*.{c,h,S}, lib/loop/stack*.{c,h});
 * used by the "loop" helper (scheduler, io_uring, public API).
 *
 * A context is just a saved stack pointer: __conc_coro_switch pushes the
 * callee-saved registers and the FP control words the ABI says to keep
 * (x86_64: rbx rbp r12-r15, MXCSR, x87 CW; aarch64: x19-x29, lr, d8-d15,
 * FPCR) on the current stack, stores sp in *from, loads to->sp, pops and
 * returns there.
 */
#ifndef CONC_LOOP_CORO_H
#define CONC_LOOP_CORO_H

#include <stddef.h>
#include <stdint.h>

struct __conc_coro_ctx {
	void *sp;
};

/* Make c start entry(arg) on the stack whose highest address is top (16-byte
 * aligned by the callee) at the first switch to it. entry must never return:
 * a finished coroutine switches away for the last time. */
void __conc_coro_init(struct __conc_coro_ctx *c, void *top,
		      void (*entry)(void *), void *arg)
	__attribute__((visibility("hidden")));

/* Save the caller's context in from, resume to. Returns when something
 * switches back to from. */
void __conc_coro_switch(struct __conc_coro_ctx *from,
			struct __conc_coro_ctx *to)
	__attribute__((visibility("hidden")));

/*
 * Stacks. A stack is [lo, hi) usable, with an inaccessible guard below lo.
 * Stacks come from slabs (many stacks per mapping, guards made with
 * mprotect, so that 100,000 stacks stay well under vm.max_map_count) and
 * are kept for reuse by the calling thread's loop.
 * size 0: the default (enough for printf and friends, e.g. 64 KiB).
 */
struct __conc_stack {
	char *lo, *hi;
	void *slab;		/* owner slab, for release */
};

int __conc_stack_get(struct __conc_stack *s, size_t size)
	__attribute__((visibility("hidden")));	/* 0 or -ENOMEM/-EINVAL */
void __conc_stack_put(struct __conc_stack *s)
	__attribute__((visibility("hidden")));

/*
 * Shared-stack mode: tasks run on one big stack per loop; when a task
 * suspends, the used part [sp, hi) is copied out to a right-sized heap
 * buffer, and copied back before it resumes. The loop calls these around
 * its switches (the copy must happen while running on another stack: the
 * scheduler's own).
 */
struct __conc_saved_stack {
	void *buf;
	size_t len, cap;
};
int __conc_sstack_save(struct __conc_saved_stack *sv, const struct __conc_stack *shared,
		       const void *sp) __attribute__((visibility("hidden")));
void __conc_sstack_restore(const struct __conc_saved_stack *sv,
			   const struct __conc_stack *shared)
	__attribute__((visibility("hidden")));
void __conc_sstack_free(struct __conc_saved_stack *sv)
	__attribute__((visibility("hidden")));

/*
 * Stack overflow report (opt-in, CONC_LOOP_GUARD=1 in the environment or
 * conc_loop_guard_install()): a SIGSEGV handler on an alternate signal
 * stack that, when the fault address lies in a registered guard page,
 * writes "conc: task <name> overflowed its stack (guard at <addr>)" and
 * aborts; any other fault goes to the handler that was installed before.
 * The loop registers the running task's name and guard range:
 */
void __conc_stack_running(const struct __conc_stack *s, const char *name)
	__attribute__((visibility("hidden")));

#endif
