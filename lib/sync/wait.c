#include <errno.h>
#include "wait.h"

__thread uint32_t __conc_spin_budget
	__attribute__((tls_model("initial-exec")));

int __conc_wait(const uint32_t *word, uint32_t expected,
		conc_deadline deadline, unsigned flags)
{
	int r = sys_futex_wait(word, expected, deadline,
			       __conc_futex_private(flags));

	return r == -ETIMEDOUT ? r : 0;
}

void __conc_wake(uint32_t *word, int n, unsigned flags)
{
	sys_futex_wake(word, n, __conc_futex_private(flags));
}
