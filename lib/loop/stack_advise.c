/*
 * One system call for the same advice on every stack of a slab: a slab's
 * guards (MADV_GUARD_INSTALL) or the top page of its stacks
 * (MADV_POPULATE_WRITE) are 100 to 250 ranges, and one madvise each cost
 * more than the work; process_madvise takes them all at once on Linux
 * 6.13 and later (which let a process give its own memory any advice).
 * Elsewhere it refuses, once, and the caller goes range by range.
 */
#include <errno.h>
#include "loop/stack_impl.h"
#include "sys/io.h"
#include "sys/self.h"

#define BATCH 128	/* iovecs on the stack (2 KiB: a task's may be small): a
			 * slab of 64 KiB stacks (104) in one call */
/* "The calling process" without a pidfd to open and close (6.15). */
#define PIDFD_SELF_PROCESS	-10001

static int refused;	/* the kernel has no process_madvise for this */
static int no_self;	/* nor PIDFD_SELF_PROCESS: open a pidfd each time */

/* One call on the calling process: through PIDFD_SELF_PROCESS where the
 * kernel knows it, else through a pidfd of our own. */
static long advise(const struct iovec *iov, size_t n, int advice)
{
	long r;
	int pfd;

	if (!__atomic_load_n(&no_self, __ATOMIC_RELAXED)) {
		r = sys_process_madvise(PIDFD_SELF_PROCESS, iov, n, advice);
		if (r != -EBADF)
			return r;
		__atomic_store_n(&no_self, 1, __ATOMIC_RELAXED);
	}
	pfd = sys_pidfd_open(__conc_self()->pid, 0);
	if (pfd < 0)
		return pfd;
	r = sys_process_madvise(pfd, iov, n, advice);
	sys_close(pfd);
	return r;
}

size_t __conc_stack_advise(char *first, size_t stride, size_t len, size_t n,
			   int advice)
{
	struct iovec iov[BATCH];
	size_t done = 0;

	if (__atomic_load_n(&refused, __ATOMIC_RELAXED))
		return 0;
	while (done < n) {
		size_t k = n - done < BATCH ? n - done : BATCH;
		long r;

		for (size_t i = 0; i < k; i++) {
			iov[i].iov_base = first + (done + i) * stride;
			iov[i].iov_len = len;
		}
		r = advise(iov, k, advice);
		if (r == -EINVAL || r == -ENOSYS || r == -EPERM) {
			if (!done)
				__atomic_store_n(&refused, 1, __ATOMIC_RELAXED);
			break;
		}
		/* A range that failed ends the call: those before it are done. */
		done += r > 0 ? (size_t)r / len : 0;
		if (r < 0 || (size_t)r < k * len)
			break;
	}
	return done;
}
