/*
 * __conc_clone: the raw clone(2) that starts the child on a new stack,
 * calls fn(arg) there and ends the child with SYS_exit (only the calling
 * task, never exit_group) with fn's return value. C cannot express "return
 * twice onto another stack", so it is a few lines of assembly per
 * architecture. Returns the child's tid in the parent, or -errno.
 */
#include "sys.h"

#if defined(__x86_64__)
__asm__(
	".text\n"
	".globl __conc_clone\n"
	".hidden __conc_clone\n"
	".type __conc_clone,@function\n"
	"__conc_clone:\n"
	/* rdi fn, rsi stack, rdx flags, rcx arg, r8 ptid, r9 tls, 8(rsp) ctid */
	"	and $-16, %rsi\n"
	"	sub $16, %rsi\n"
	"	mov %rdi, 0(%rsi)\n"
	"	mov %rcx, 8(%rsi)\n"
	"	mov %rdx, %rdi\n"
	"	mov %r8, %rdx\n"
	"	mov 8(%rsp), %r10\n"
	"	mov %r9, %r8\n"
	"	mov $56, %eax\n"		/* SYS_clone */
	"	syscall\n"
	"	test %eax, %eax\n"
	"	jnz 1f\n"
	"	xor %ebp, %ebp\n"		/* outermost frame for unwinders */
	"	pop %rax\n"
	"	pop %rdi\n"
	"	call *%rax\n"
	"	mov %eax, %edi\n"
	"	mov $60, %eax\n"		/* SYS_exit */
	"	syscall\n"
	"	hlt\n"
	"1:	ret\n"
	".size __conc_clone, .-__conc_clone\n"
	/* rdi args, rsi size, rdx fn, rcx arg; the kernel keeps every
	 * register but rax, rcx and r11 in both tasks. */
	".globl __conc_clone3\n"
	".hidden __conc_clone3\n"
	".type __conc_clone3,@function\n"
	"__conc_clone3:\n"
	"	mov %rcx, %r8\n"
	"	mov $435, %eax\n"		/* SYS_clone3 */
	"	syscall\n"
	"	test %eax, %eax\n"
	"	jnz 1f\n"
	"	xor %ebp, %ebp\n"
	"	mov %r8, %rdi\n"
	"	call *%rdx\n"
	"	mov %eax, %edi\n"
	"	mov $60, %eax\n"		/* SYS_exit */
	"	syscall\n"
	"	hlt\n"
	"1:	ret\n"
	".size __conc_clone3, .-__conc_clone3\n");
#elif defined(__aarch64__)
__asm__(
	".text\n"
	".globl __conc_clone\n"
	".hidden __conc_clone\n"
	".type __conc_clone,%function\n"
	"__conc_clone:\n"
	/* x0 fn, x1 stack, x2 flags, x3 arg, x4 ptid, x5 tls, x6 ctid */
	"	and x1, x1, #-16\n"
	"	stp x0, x3, [x1, #-16]!\n"
	"	mov x0, x2\n"
	"	mov x2, x4\n"
	"	mov x3, x5\n"
	"	mov x4, x6\n"
	"	mov x8, #220\n"			/* SYS_clone */
	"	svc #0\n"
	"	cbz x0, 1f\n"
	"	ret\n"
	"1:	mov x29, #0\n"
	"	mov x30, #0\n"
	"	ldp x1, x0, [sp], #16\n"
	"	blr x1\n"
	"	mov x8, #93\n"			/* SYS_exit */
	"	svc #0\n"
	"	brk #0\n"
	".size __conc_clone, .-__conc_clone\n"
	/* x0 args, x1 size, x2 fn, x3 arg; the kernel keeps every register
	 * but x0 in both tasks. */
	".globl __conc_clone3\n"
	".hidden __conc_clone3\n"
	".type __conc_clone3,%function\n"
	"__conc_clone3:\n"
	"	mov x8, #435\n"		/* SYS_clone3 */
	"	svc #0\n"
	"	cbz x0, 1f\n"
	"	ret\n"
	"1:	mov x29, #0\n"
	"	mov x30, #0\n"
	"	mov x0, x3\n"
	"	blr x2\n"
	"	mov x8, #93\n"			/* SYS_exit */
	"	svc #0\n"
	"	brk #0\n"
	".size __conc_clone3, .-__conc_clone3\n");
#endif
