/*
 * Per-thread facts conc caches to avoid a system call on every lock: the
 * kernel thread id, and the robust-list head the sync layer uses. The cache
 * is tagged with the process's fork generation, kept in a MADV_WIPEONFORK
 * page: a fork child finds the page zeroed, so every cached entry is
 * refreshed there before it is trusted.
 */
#ifndef CONC_SYS_SELF_H
#define CONC_SYS_SELF_H

#include <stdint.h>
#include <sys/types.h>

#include <conc/inline.h>

struct __conc_self *__conc_self_refresh(void)
	__attribute__((visibility("hidden")));

/* The caller's cache entry, valid in the current process. */
static inline struct __conc_self *__conc_self(void)
{
	struct __conc_self *s = __conc_self_cached();

	return __builtin_expect(s != NULL, 1) ? s : __conc_self_refresh();
}

/* Register this process (once per fork generation) for the asymmetric
 * fence: 1 if the caller may then replace a full fence by a compiler
 * barrier, provided the other side calls __conc_membarrier(). */
int __conc_membarrier_register(void) __attribute__((visibility("hidden")));
void __conc_membarrier(void) __attribute__((visibility("hidden")));

/* Number of CPUs this process may run on (at least 1), probed once. */
int __conc_ncpu(void) __attribute__((visibility("hidden")));

/* Whether thread tid of this process has begun to exit (it runs no user
 * code again); false once it is gone, or when /proc cannot say. */
_Bool __conc_thread_exiting(pid_t tid) __attribute__((visibility("hidden")));

#endif
