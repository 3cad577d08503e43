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
 *
 * Not supported: x86 shadow stacks (CET SHSTK; the switch moves no shadow
 * stack, so a process that enables them faults at the first switch) and
 * aarch64 pointer authentication of the saved lr (the switch neither signs
 * nor checks it). ASan works (stack_get and sstack clear the shadow they
 * reuse); its fiber annotations are not made, so a noreturn call (exit,
 * longjmp) on a task's stack may print ASan's "ignoring requested
 * __asan_handle_no_return" warning. TSan does not follow the switch.
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

/* The same with the FP control words ctl, taken earlier by
 * __conc_coro_ctl() (a task's frame is made when it first runs, with the
 * words of whoever started it). */
uint64_t __conc_coro_ctl(void) __attribute__((visibility("hidden")));
void __conc_coro_init_ctl(struct __conc_coro_ctx *c, void *top,
			  void (*entry)(void *), void *arg, uint64_t ctl)
	__attribute__((visibility("hidden")));

/* Save the caller's context in from, resume to. Returns when something
 * switches back to from. */
void __conc_coro_switch(struct __conc_coro_ctx *from,
			struct __conc_coro_ctx *to)
	__attribute__((visibility("hidden")));

/*
 * Stacks. A stack is [lo, hi) usable, with an inaccessible guard below lo.
 * size 0: the default, 64 KiB (enough for printf and friends). A size is
 * rounded up to a page, then up to a class: 16, 32, 64, 128 or 256 KiB
 * (hi - lo is the class's size); larger ones (up to 1 GiB) get a mapping of
 * their own, unmapped when put. 16-byte aligned hi.
 *
 * Limits, for the man page:
 * - Guard: 16 KiB (or one page if pages are larger) below lo. A frame that
 *   steps further than that over the end lands in the next stack down.
 * - vm.max_map_count (65530 by default) counts mappings, and a PROT_NONE
 *   guard made with mprotect splits one: a stack would cost two. So
 *   stacks of a class are cut from slabs of 8 MiB of address space (about
 *   100 default stacks), with guards made by MADV_GUARD_INSTALL (Linux
 *   6.13+): in the page tables, no split, one mapping per slab; 100,000
 *   default stacks are about 1,000 mappings and 8 GB of address space
 *   (MAP_NORESERVE: only touched pages cost memory, at least one 4 KiB
 *   page per running or suspended task).
 * - Before Linux 6.13: guards are made with mprotect for the first
 *   vm.max_map_count / 4 stacks (16,382 by default; 2 mappings each), and
 *   later slabs have no guard: their stacks carry a canary at lo that
 *   __conc_stack_intact checks (an overflow found late, not stopped).
 *   For many tasks there, the shared-stack mode costs no mapping at all.
 * - Free stacks are kept by the thread that puts them (no lock, memory
 *   still there: a pop), up to 256 per class; beyond, the oldest half
 *   goes to a process-wide pool (a spin lock), memory and all. A loop
 *   that ends gives its thread's whole cache to the pool
 *   (__conc_stack_release), so nothing is lost when the thread ends; the
 *   last loop of the process to end calls __conc_stack_unmap_free: slabs
 *   whose stacks are all in the pool are unmapped, and the memory of the
 *   other pooled stacks goes back (MADV_DONTNEED: the address space and
 *   guards stay for the next loop), but for the newest 16 MiB (256 stacks at
 *   most) of each class, kept as they are for the next loop. Stacks taken outside a loop (tests)
 *   stay in the taking thread's cache until it calls
 *   __conc_stack_release or __conc_stack_trim.
 */
struct __conc_stack {
	char *lo, *hi;
	void *slab;		/* owner slab, for release */
};

int __conc_stack_get(struct __conc_stack *s, size_t size)
	__attribute__((visibility("hidden")));	/* 0 or -ENOMEM/-EINVAL */
void __conc_stack_put(struct __conc_stack *s)
	__attribute__((visibility("hidden")));
/* The same for a thread that runs no loop: nothing stays in its cache. */
int __conc_stack_get_lean(struct __conc_stack *s, size_t size)
	__attribute__((visibility("hidden")));
void __conc_stack_put_lean(struct __conc_stack *s)
	__attribute__((visibility("hidden")));
/* All but the keep most recently put of the calling thread's free stacks
 * (per class) to the process-wide pool, and the memory of every pooled
 * stack back to the kernel (runs of neighbours in one call: about 0.3 us
 * a stack). */
void __conc_stack_trim(size_t keep) __attribute__((visibility("hidden")));
/* All of the calling thread's free stacks to the pool, memory and all
 * (a loop that ends calls it). */
void __conc_stack_release(void) __attribute__((visibility("hidden")));
/* Unmap the slabs whose stacks are all in the pool, then give back the
 * memory of the other pooled stacks (the last loop of the process to end
 * calls it). */
void __conc_stack_unmap_free(void) __attribute__((visibility("hidden")));
/* 0, or -EFAULT when a stack without a guard (see the limits above) ran
 * over its end: its canary at lo is gone. Always 0 for guarded stacks.
 * The loop checks when a task suspends or ends. */
int __conc_stack_intact(const struct __conc_stack *s)
	__attribute__((visibility("hidden")));

/*
 * Shared-stack mode: tasks run on one big stack per loop; when a task
 * suspends, the used part [sp, hi) is copied out to a right-sized heap
 * buffer, and copied back before it resumes. The loop calls these around
 * its switches (the copy must happen while running on another stack: the
 * scheduler's own):
 *   start:   __conc_coro_init(&t->ctx, shared->hi, entry, arg);
 *            __conc_sstack_save(&t->sv, shared, t->ctx.sp);  (its first frame)
 *   resume:  __conc_sstack_restore(&t->sv, shared);
 *            __conc_coro_switch(&sched, &t->ctx);
 *   after:   __conc_sstack_save(&t->sv, shared, t->ctx.sp);  (unless it ended)
 *   end:     __conc_sstack_free(&t->sv);
 * sp is the task's saved context (ctx.sp): everything the task needs is
 * above it (the switch frame holds its registers; x86_64's red zone
 * belongs to leaf functions, and a task that switched is in none).
 * Cost: a copy of the used stack (typically 0.5-2 KiB) at every switch
 * each way; memory: that much per suspended task (buffers shrink when
 * more than twice too big).
 * Forbids: a pointer into a suspended task's stack, used by anyone else
 * (another task, or a thread) while it is suspended; it points into
 * whatever task runs now. Pointers within the task itself stay right (the
 * stack comes back to the same addresses). The stack size caps one
 * task's depth, as usual; every task of a shared stack lives on its
 * addresses, so a stack overflow report names the task running then.
 */
struct __conc_saved_stack {
	void *buf;
	size_t len, cap;
};
/* 0, -EINVAL (sp outside shared, or not 16-byte aligned), -ENOMEM (the
 * buffer could not grow: the task's stack is not saved, do not run another
 * task on the shared stack before it ends or a retry succeeds). */
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
 * stack that, when the fault address lies in the running task's guard,
 * writes "conc: task <name> overflowed its stack (guard at <addr>)" (addr:
 * the faulting address) and aborts (SIGABRT); any other fault goes to the
 * handler that was installed before (its flags honoured: SA_SIGINFO,
 * SA_RESETHAND, SA_NODEFER, its mask), or, if that was SIG_DFL or SIG_IGN,
 * kills as it would have (SIGSEGV, core). The loop registers the running
 * task's name and guard range at each resume (s NULL: no task runs); the
 * environment is read at the first call. name must stay valid while the
 * task runs.
 * For the man page:
 * - A program with its own SIGSEGV handler installs it first, then the
 *   report: ours chains to it. A handler installed after ours replaces it
 *   (no report then; the program's handler sees the overflow).
 * - Each thread that runs a loop gets an alternate signal stack (64 KiB,
 *   itself guarded) at its first task, unless it has one already; it is
 *   not freed when the thread exits.
 * - Only guarded stacks are covered (see the stack limits above): an
 *   overflow that jumps over the 16 KiB guard, or a stack without one,
 *   is not reported as such.
 */
void __conc_stack_running(const struct __conc_stack *s, const char *name)
	__attribute__((visibility("hidden")));
/* 0 or -errno (from rt_sigaction). Idempotent; any thread. */
int __conc_stack_guard_install(void) __attribute__((visibility("hidden")));
/* The public name (conc/loop.h declares it; conc_loop_guard_install(3)). */
int conc_loop_guard_install(void);

#endif
