/* The return path of a signal handler: rt_sigreturn, entered with the
 * stack as the kernel left it (see sig.h). */
#include "sys/sig.h"

#if defined(__x86_64__)
__asm__(".text\n"
	".globl __conc_sigreturn\n"
	".hidden __conc_sigreturn\n"
	".type __conc_sigreturn, @function\n"
	".p2align 4\n"
	"	nop\n"	/* unwinders look one byte back for the caller */
	"__conc_sigreturn:\n"
	"	movl $15, %eax\n"
	"	syscall\n"
	".size __conc_sigreturn, .-__conc_sigreturn\n");
#elif defined(__aarch64__)
__asm__(".text\n"
	".globl __conc_sigreturn\n"
	".hidden __conc_sigreturn\n"
	".type __conc_sigreturn, %function\n"
	".p2align 4\n"
	"	nop\n"
	"__conc_sigreturn:\n"
	"	mov x8, #139\n"
	"	svc #0\n"
	".size __conc_sigreturn, .-__conc_sigreturn\n");
#endif
