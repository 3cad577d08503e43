/*
 * Signal handlers that return, and alternate signal stacks, on raw system
 * calls. A handler installed with sys_sigaction returns through
 * __conc_sigreturn (SA_RESTORER): x86_64 has no other way back; aarch64
 * would use its vDSO's, and takes ours as well.
 */
#ifndef CONC_SYS_SIG_H
#define CONC_SYS_SIG_H

#include <signal.h>
#include "sys/sys.h"

#define SYS_SA_RESTORER 0x04000000

void __conc_sigreturn(void) __attribute__((visibility("hidden")));

/* glibc's stack_t is the kernel's on x86_64 and aarch64. */
static inline int sys_sigaltstack(const stack_t *ss, stack_t *old)
{
	return (int)__CONC_SC(SYS_sigaltstack, ss, old);
}

#endif
