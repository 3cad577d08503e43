/*
 * Asymmetric fences (membarrier(2), MEMBARRIER_CMD_GLOBAL_EXPEDITED, 4.16):
 * a hot path that would need a full fence on every call makes do with a
 * compiler barrier, and the rare side it pairs with (a waiter about to
 * sleep) pays for both with one system call that runs a barrier on every
 * CPU running a registered process. Registration is per process and not
 * inherited by fork, so it is redone in each fork generation.
 */
#include <linux/membarrier.h>
#include "sys.h"
#include "self.h"

static int usable = -1;		/* -1 unknown, 0 no, 1 yes */
static uint64_t registered_gen;

int __conc_membarrier_register(void)
{
	uint64_t g = __conc_self()->gen;
	int u = __atomic_load_n(&usable, __ATOMIC_RELAXED);

	if (u == 0 || !g)
		return 0;
	if (u == 1 && __atomic_load_n(&registered_gen, __ATOMIC_ACQUIRE) == g)
		return 1;
	if (__CONC_SC(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
		      0, 0) < 0) {
		__atomic_store_n(&usable, 0, __ATOMIC_RELAXED);
		return 0;
	}
	__atomic_store_n(&registered_gen, g, __ATOMIC_RELEASE);
	__atomic_store_n(&usable, 1, __ATOMIC_RELAXED);
	return 1;
}

void __conc_membarrier(void)
{
	if (__atomic_load_n(&usable, __ATOMIC_RELAXED) != 0)
		__CONC_SC(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0);
}
