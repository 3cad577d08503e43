/* tests/coro_probe.h — regs_switch(from, to, out, vals): load every
 * callee-saved register and FP control word from vals, __conc_coro_switch
 * (from, to), and when switched back store what those registers then hold
 * in out; the caller's own values are kept, as the ABI asks. Test code. */
#ifndef CONC_TEST_CORO_PROBE_H
#define CONC_TEST_CORO_PROBE_H

#include <stdint.h>
#include "loop/coro.h"

#if defined(__x86_64__)
/* rbx rbp r12 r13 r14 r15, MXCSR, x87 CW */
#define PROBE_N 8
#define PROBE_FPCTL_FIRST 6
__asm__(
	".text\n"
	".globl regs_switch\n"
	".hidden regs_switch\n"
	".p2align 4\n"
	"regs_switch:\n"
	"	pushq %rbp\n"
	"	pushq %rbx\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	pushq %r14\n"
	"	pushq %r15\n"
	"	pushq %rdx\n"
	"	subq $16, %rsp\n"
	"	stmxcsr (%rsp)\n"
	"	fnstcw 4(%rsp)\n"
	"	movl 48(%rcx), %eax\n"
	"	movl %eax, 8(%rsp)\n"
	"	ldmxcsr 8(%rsp)\n"
	"	movl 56(%rcx), %eax\n"
	"	movw %ax, 12(%rsp)\n"
	"	fldcw 12(%rsp)\n"
	"	movq 0(%rcx), %rbx\n"
	"	movq 8(%rcx), %rbp\n"
	"	movq 16(%rcx), %r12\n"
	"	movq 24(%rcx), %r13\n"
	"	movq 32(%rcx), %r14\n"
	"	movq 40(%rcx), %r15\n"
	"	callq __conc_coro_switch\n"
	"	movq 16(%rsp), %rdx\n"
	"	movq %rbx, 0(%rdx)\n"
	"	movq %rbp, 8(%rdx)\n"
	"	movq %r12, 16(%rdx)\n"
	"	movq %r13, 24(%rdx)\n"
	"	movq %r14, 32(%rdx)\n"
	"	movq %r15, 40(%rdx)\n"
	"	stmxcsr 8(%rsp)\n"
	"	movl 8(%rsp), %eax\n"
	"	movq %rax, 48(%rdx)\n"
	"	fnstcw 12(%rsp)\n"
	"	movzwl 12(%rsp), %eax\n"
	"	movq %rax, 56(%rdx)\n"
	"	ldmxcsr (%rsp)\n"
	"	fldcw 4(%rsp)\n"
	"	addq $24, %rsp\n"
	"	popq %r15\n"
	"	popq %r14\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	popq %rbx\n"
	"	popq %rbp\n"
	"	ret\n");

/* Valid control words, none the default: MXCSR rounding toward zero with
 * DAZ, or rounding down; x87 rounding toward zero, or up at single
 * precision. */
static const uint64_t probe_fpctl[2][2] = { { 0x7fc0, 0x0f7f }, { 0x3f80, 0x087f } };

static inline void probe_read_fpctl(uint64_t *w)
{
	uint32_t m;
	uint16_t c;

	__asm__ __volatile__("stmxcsr %0\n\tfnstcw %1" : "=m"(m), "=m"(c));
	w[0] = m;
	w[1] = c;
}

#elif defined(__aarch64__)
/* x19..x29, d8..d15, FPCR */
#define PROBE_N 20
#define PROBE_FPCTL_FIRST 19
__asm__(
	".text\n"
	".globl regs_switch\n"
	".hidden regs_switch\n"
	".p2align 4\n"
	"regs_switch:\n"
	"	sub sp, sp, #192\n"
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
	"	str x2, [sp, #168]\n"
	"	ldr x9, [x3, #152]\n"
	"	msr fpcr, x9\n"
	"	ldp x19, x20, [x3, #0]\n"
	"	ldp x21, x22, [x3, #16]\n"
	"	ldp x23, x24, [x3, #32]\n"
	"	ldp x25, x26, [x3, #48]\n"
	"	ldp x27, x28, [x3, #64]\n"
	"	ldr x29, [x3, #80]\n"
	"	ldp d8, d9, [x3, #88]\n"
	"	ldp d10, d11, [x3, #104]\n"
	"	ldp d12, d13, [x3, #120]\n"
	"	ldp d14, d15, [x3, #136]\n"
	"	bl __conc_coro_switch\n"
	"	ldr x2, [sp, #168]\n"
	"	stp x19, x20, [x2, #0]\n"
	"	stp x21, x22, [x2, #16]\n"
	"	stp x23, x24, [x2, #32]\n"
	"	stp x25, x26, [x2, #48]\n"
	"	stp x27, x28, [x2, #64]\n"
	"	str x29, [x2, #80]\n"
	"	stp d8, d9, [x2, #88]\n"
	"	stp d10, d11, [x2, #104]\n"
	"	stp d12, d13, [x2, #120]\n"
	"	stp d14, d15, [x2, #136]\n"
	"	mrs x9, fpcr\n"
	"	str x9, [x2, #152]\n"
	"	ldr x9, [sp, #160]\n"
	"	msr fpcr, x9\n"
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
	"	add sp, sp, #192\n"
	"	ret\n");

/* FPCR: rounding toward zero with flush-to-zero, or toward +inf with
 * default NaN. */
static const uint64_t probe_fpctl[2][1] = { { 0x01c00000 }, { 0x02400000 } };

static inline void probe_read_fpctl(uint64_t *w)
{
	uint64_t v;

	__asm__ __volatile__("mrs %0, fpcr" : "=r"(v));
	w[0] = v;
}
#endif

#define PROBE_FPCTL_N (PROBE_N - PROBE_FPCTL_FIRST)

void regs_switch(struct __conc_coro_ctx *from, struct __conc_coro_ctx *to,
		 uint64_t *out, const uint64_t *vals);

/* Values for side (0 or 1) in round r: every register distinct. */
static inline void probe_fill(uint64_t *vals, int side, int r)
{
	for (int i = 0; i < PROBE_FPCTL_FIRST; i++)
		vals[i] = 0x0101010101010101ull * (uint64_t)(i + 1) ^
			  (uint64_t)side << 63 ^ (uint64_t)r << 40;
	for (int i = 0; i < PROBE_FPCTL_N; i++)
		vals[PROBE_FPCTL_FIRST + i] = probe_fpctl[(side + r) & 1][i];
}

#endif
