/*
 * Wrappers for the I/O and signal calls the pipe channel needs beyond
 * sys.h: gathered writes, reads and writes with per-call flags (a read
 * that must not block, a write that must not raise SIGPIPE), and taking
 * back a SIGPIPE that a write raised where the kernel lacks those flags.
 * Same rule as sys.h: each returns the kernel's result, -errno on failure.
 */
#ifndef CONC_SYS_IO_H
#define CONC_SYS_IO_H

#include <stdint.h>
#include <signal.h>
#include <time.h>
#include <sys/uio.h>
#include "sys.h"

static inline long sys_writev(int fd, const struct iovec *iov, int n)
{
	return __CONC_SC(SYS_writev, fd, iov, n);
}

/* One advice on n ranges of the memory of the process pidfd names (for
 * the caller's own process, Linux 6.13 allows any advice): the bytes
 * advised, from the first range on, or -errno. */
static inline long sys_process_madvise(int pidfd, const struct iovec *iov,
				       size_t n, int advice)
{
	return __CONC_SC(SYS_process_madvise, pidfd, iov, n, advice, 0);
}

/* write(2) at the file position that never waits (RWF_NOWAIT): what fits
 * now, -EAGAIN, or -EOPNOTSUPP for a file that cannot tell. No pwritev2
 * at all (-ENOSYS: before Linux 4.6, qemu-user 7.2, a seccomp filter)
 * cannot tell either: the caller's fallback, never the caller's error. */
#define SYS_RWF_NOWAIT 0x8
static inline long sys_write_nowait(int fd, const void *buf, size_t len)
{
	struct iovec v = { (void *)buf, len };
	long r = __CONC_SC(SYS_pwritev2, fd, &v, 1, -1L, 0L, SYS_RWF_NOWAIT);

	return r == -ENOSYS ? -EOPNOTSUPP : r;
}

/* The same for read(2): what is there now, -EAGAIN (also for a regular
 * file's pages not yet in the cache), or -EOPNOTSUPP (also without
 * preadv2). */
static inline long sys_read_nowait(int fd, void *buf, size_t len)
{
	struct iovec v = { buf, len };
	long r = __CONC_SC(SYS_preadv2, fd, &v, 1, -1L, 0L, SYS_RWF_NOWAIT);

	return r == -ENOSYS ? -EOPNOTSUPP : r;
}

#ifndef RWF_NOWAIT
#define RWF_NOWAIT	0x00000008	/* Linux 4.14; pipes since 5.x */
#endif
#ifndef RWF_NOSIGNAL
#define RWF_NOSIGNAL	0x00000100	/* Linux 6.18: no SIGPIPE, only EPIPE */
#endif

/* At the file's own position (offset -1): what pipes need. */
static inline long sys_preadv2(int fd, const struct iovec *iov, int n,
			       int flags)
{
	return __CONC_SC(SYS_preadv2, fd, iov, n, -1L, 0L, flags);
}

static inline long sys_pwritev2(int fd, const struct iovec *iov, int n,
				int flags)
{
	return __CONC_SC(SYS_pwritev2, fd, iov, n, -1L, 0L, flags);
}

static inline long sys_readv(int fd, const struct iovec *iov, int n)
{
	return __CONC_SC(SYS_readv, fd, iov, n);
}

/* The signals pending for the thread or its process (kernel sigset). */
static inline int sys_sigpending(uint64_t *set)
{
	return (int)__CONC_SC(SYS_rt_sigpending, set, SYS_SIGSET_SIZE);
}

/* Take one pending signal of set: its number, or -EAGAIN once ts passed
 * (a zero ts only looks). */
static inline int sys_sigtimedwait(const uint64_t *set, siginfo_t *info,
				   const struct timespec *ts)
{
	return (int)__CONC_SC(SYS_rt_sigtimedwait, set, info, ts,
			      SYS_SIGSET_SIZE);
}

#endif
