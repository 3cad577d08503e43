/*
 * The context switch and the frame a new context starts from.
 *
 * A saved context is the frame __conc_coro_switch pushed on its own stack,
 * so a context is nothing but its stack pointer. The FP control words are
 * saved because the ABI makes them callee-saved ("preserved across calls"):
 * a coroutine that changes its rounding mode must not change its loop's.
 * The status bits (MXCSR flags, FPSR) are caller-saved: not kept apart
 * (MXCSR's go with its control bits). Loading a control word costs more
 * than the rest of the switch, and it almost never differs between two
 * contexts: it is loaded only when it does.
 *
 * Top-level asm in a C file: no assembler rule in the Makefile, and the
 * compiler still marks the object's stack non-executable.
 */
#include "loop/coro.h"

#if defined(__x86_64__)

/* Frame, from the saved sp up: MXCSR (4), x87 CW (2), pad (2), r15, r14,
 * r13, r12, rbx, rbp, return address: 64 bytes. At entry rsp = 8 mod 16
 * (the call pushed the return address), so the frame keeps sp 16-aligned. */
__asm__(
	".text\n"
	".globl __conc_coro_switch\n"
	".hidden __conc_coro_switch\n"
	".type __conc_coro_switch, @function\n"
	".p2align 4\n"
	"__conc_coro_switch:\n"
	"	.cfi_startproc\n"
	"	pushq %rbp\n"
	"	pushq %rbx\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	pushq %r14\n"
	"	pushq %r15\n"
	"	subq $8, %rsp\n"
	"	stmxcsr (%rsp)\n"
	"	fnstcw 4(%rsp)\n"
	/* read back at the size stored: forwarded from the store */
	"	movl (%rsp), %eax\n"
	"	movzwl 4(%rsp), %ecx\n"
	"	movq %rsp, (%rdi)\n"
	"	movq (%rsi), %rsp\n"
	"	cmpl (%rsp), %eax\n"
	"	jne 2f\n"
	"	cmpw 4(%rsp), %cx\n"
	"	jne 2f\n"
	"1:	addq $8, %rsp\n"
	"	popq %r15\n"
	"	popq %r14\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	popq %rbx\n"
	"	popq %rbp\n"
	"	ret\n"
	"2:	ldmxcsr (%rsp)\n"
	"	fldcw 4(%rsp)\n"
	"	jmp 1b\n"
	"	.cfi_endproc\n"
	".size __conc_coro_switch, .-__conc_coro_switch\n"
	/* A new context's first switch "returns" here with entry in r12 and
	 * arg in r13; rsp = top, 16-aligned, as a call site needs. The
	 * unwinder is told there is no caller, so a backtrace ends here. */
	".globl __conc_coro_start\n"
	".hidden __conc_coro_start\n"
	".type __conc_coro_start, @function\n"
	".p2align 4\n"
	"__conc_coro_start:\n"
	"	.cfi_startproc\n"
	"	.cfi_undefined %rip\n"
	"	movq %r13, %rdi\n"
	"	callq *%r12\n"
	"	ud2\n"
	"	.cfi_endproc\n"
	".size __conc_coro_start, .-__conc_coro_start\n");

enum { FRAME_WORDS = 8, F_CTL = 0, F_ENTRY = 4, F_ARG = 3, F_FP = 6, F_RET = 7 };

static void ctl_words(uint64_t *w)
{
	uint32_t mxcsr;
	uint16_t cw;

	__asm__ __volatile__("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(cw));
	*w = mxcsr | (uint64_t)cw << 32;
}

#elif defined(__aarch64__)

/* Frame, from the saved sp up: x19..x28, x29 (fp), x30 (lr), d8..d15,
 * FPCR, pad: 176 bytes, a multiple of 16 as sp must stay. */
__asm__(
	".text\n"
	".globl __conc_coro_switch\n"
	".hidden __conc_coro_switch\n"
	".type __conc_coro_switch, %function\n"
	".p2align 4\n"
	"__conc_coro_switch:\n"
	"	.cfi_startproc\n"
	"	sub sp, sp, #176\n"
	"	stp x19, x20, [sp, #0]\n"
	"	stp x21, x22, [sp, #16]\n"
	"	stp x23, x24, [sp, #32]\n"
	"	stp x25, x26, [sp, #48]\n"
	"	stp x27, x28, [sp, #64]\n"
	"	stp x29, x30, [sp, #80]\n"
	"	stp d8, d9, [sp, #96]\n"
	"	stp d10, d11, [sp, #112]\n"
	"	stp d12, d13, [sp, #128]\n"
	"	stp d14, d15, [sp, #144]\n"
	"	mrs x9, fpcr\n"
	"	str x9, [sp, #160]\n"
	"	mov x10, sp\n"
	"	str x10, [x0]\n"
	"	ldr x10, [x1]\n"
	"	mov sp, x10\n"
	"	ldr x10, [sp, #160]\n"
	"	cmp x9, x10\n"
	"	b.eq 1f\n"
	"	msr fpcr, x10\n"
	"1:\n"
	"	ldp x19, x20, [sp, #0]\n"
	"	ldp x21, x22, [sp, #16]\n"
	"	ldp x23, x24, [sp, #32]\n"
	"	ldp x25, x26, [sp, #48]\n"
	"	ldp x27, x28, [sp, #64]\n"
	"	ldp x29, x30, [sp, #80]\n"
	"	ldp d8, d9, [sp, #96]\n"
	"	ldp d10, d11, [sp, #112]\n"
	"	ldp d12, d13, [sp, #128]\n"
	"	ldp d14, d15, [sp, #144]\n"
	"	add sp, sp, #176\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size __conc_coro_switch, .-__conc_coro_switch\n"
	/* First switch to a new context: lr = here, entry in x19, arg in
	 * x20, sp = top; fp = 0 ends a frame-pointer walk. */
	".globl __conc_coro_start\n"
	".hidden __conc_coro_start\n"
	".type __conc_coro_start, %function\n"
	".p2align 4\n"
	"__conc_coro_start:\n"
	"	.cfi_startproc\n"
	"	.cfi_undefined x30\n"
	"	mov x0, x20\n"
	"	blr x19\n"
	"	brk #0\n"
	"	.cfi_endproc\n"
	".size __conc_coro_start, .-__conc_coro_start\n");

enum { FRAME_WORDS = 22, F_ENTRY = 0, F_ARG = 1, F_FP = 10, F_RET = 11, F_CTL = 20 };

static void ctl_words(uint64_t *w)
{
	uint64_t fpcr;

	__asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
	*w = fpcr;
}

#else
#error "conc coroutines: x86_64 and aarch64 only"
#endif

void __conc_coro_start(void) __attribute__((visibility("hidden")));

uint64_t __conc_coro_ctl(void)
{
	uint64_t w;

	ctl_words(&w);
	return w;
}

/*
 * The new context's frame is one __conc_coro_switch would have pushed:
 * its first switch pops it and "returns" into __conc_coro_start.
 */
void __conc_coro_init_ctl(struct __conc_coro_ctx *c, void *top,
			  void (*entry)(void *), void *arg, uint64_t ctl)
{
	uint64_t *f = (uint64_t *)((uintptr_t)top & ~(uintptr_t)15) - FRAME_WORDS;

	for (int i = 0; i < FRAME_WORDS; i++)
		f[i] = 0;
	f[F_CTL] = ctl;
	f[F_ENTRY] = (uint64_t)(uintptr_t)entry;
	f[F_ARG] = (uint64_t)(uintptr_t)arg;
	f[F_FP] = 0;
	f[F_RET] = (uint64_t)(uintptr_t)__conc_coro_start;
	c->sp = f;
}

/* The FP control words are the creator's, as a new thread inherits its
 * parent's. */
void __conc_coro_init(struct __conc_coro_ctx *c, void *top,
		      void (*entry)(void *), void *arg)
{
	__conc_coro_init_ctl(c, top, entry, arg, __conc_coro_ctl());
}
