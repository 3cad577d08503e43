/*
 * Thin wrappers over the system calls conc uses. Each returns what the
 * kernel returned: >= 0 on success, -errno on failure. errno is never read
 * or written. Nothing above lib/sys may issue a system call another way.
 */
#ifndef CONC_SYS_SYS_H
#define CONC_SYS_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <time.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <linux/time_types.h>
#include "raw.h"

/* Numbers newer than the kernel headers Debian 12 ships (6.1); the same on
 * x86_64 and aarch64, as every system call added since 5.1 is. */
#ifndef SYS_futex_wake
#define SYS_futex_wake 454
#endif
#ifndef FUTEX_BITSET_MATCH_ANY
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

struct clone_args;
struct futex_waitv;
struct robust_list_head;
struct rusage;
struct pollfd;

/* An absolute CLOCK_MONOTONIC time in nanoseconds; < 0 means never. */
typedef int64_t conc_deadline;

static inline int64_t sys_clock_ns(clockid_t clock)
{
	struct timespec ts;

	/* Through libc for the vDSO; the clocks used cannot fail. */
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t sys_now_ns(void)
{
	return sys_clock_ns(CLOCK_MONOTONIC);
}

/* The one place a deadline becomes a timespec: absolute for the calls that
 * take one (FUTEX_WAIT_BITSET), or what is left of it, never negative, for
 * those that take a relative time (ppoll). NULL for no deadline. */
static inline struct timespec *sys_ts_abs(conc_deadline d, struct timespec *ts)
{
	if (d < 0)
		return NULL;
	ts->tv_sec = d / 1000000000;
	ts->tv_nsec = d % 1000000000;
	return ts;
}

/* What is left until d, in nanoseconds: 0 once it has passed, -1 for none. */
static inline int64_t sys_ns_left(conc_deadline d)
{
	int64_t left;

	if (d < 0)
		return -1;
	left = d - sys_now_ns();
	return left > 0 ? left : 0;
}

static inline struct timespec *sys_ts_left(conc_deadline d, struct timespec *ts)
{
	return sys_ts_abs(sys_ns_left(d), ts);
}

/* The same in the kernel's own type, which io_uring's timeouts take. */
static inline struct __kernel_timespec *sys_kts(const struct timespec *ts,
						struct __kernel_timespec *k)
{
	if (!ts)
		return NULL;
	k->tv_sec = ts->tv_sec;
	k->tv_nsec = ts->tv_nsec;
	return k;
}

static inline struct __kernel_timespec *sys_kts_abs(conc_deadline d,
						    struct __kernel_timespec *k)
{
	struct timespec ts;

	return sys_kts(sys_ts_abs(d, &ts), k);
}

static inline struct __kernel_timespec *sys_kts_left(conc_deadline d,
						     struct __kernel_timespec *k)
{
	struct timespec ts;

	return sys_kts(sys_ts_left(d, &ts), k);
}

static inline long sys_futex(uint32_t *uaddr, int op, uint32_t val,
			     const void *timeout_or_val2, uint32_t *uaddr2,
			     uint32_t val3)
{
	return __CONC_SC(SYS_futex, uaddr, op, val, timeout_or_val2, uaddr2,
			 val3);
}

/*
 * Sleep while *uaddr == expected, until woken or until the absolute
 * CLOCK_MONOTONIC deadline (< 0: none). FUTEX_WAIT_BITSET takes an absolute
 * time, so a retry never stretches the timeout.
 * Returns 0 (woken), -EAGAIN (value differed), -ETIMEDOUT, -EINTR.
 */
static inline int sys_futex_wait(const uint32_t *uaddr, uint32_t expected,
				 conc_deadline deadline, int private_flag)
{
	struct timespec ts;

	return (int)sys_futex((uint32_t *)uaddr,
			      FUTEX_WAIT_BITSET | private_flag, expected,
			      sys_ts_abs(deadline, &ts),
			      NULL, FUTEX_BITSET_MATCH_ANY);
}

static inline int sys_futex_wake(uint32_t *uaddr, int n, int private_flag)
{
	return (int)sys_futex(uaddr, FUTEX_WAKE | private_flag, (uint32_t)n,
			      NULL, NULL, 0);
}

/* Wake nwake waiters on uaddr and move up to nmove others to uaddr2,
 * provided *uaddr still equals cmpval (-EAGAIN otherwise). */
static inline int sys_futex_cmp_requeue(uint32_t *uaddr, int nwake, int nmove,
					uint32_t *uaddr2, uint32_t cmpval,
					int private_flag)
{
	return (int)sys_futex(uaddr, FUTEX_CMP_REQUEUE | private_flag,
			      (uint32_t)nwake, (void *)(long)nmove, uaddr2,
			      cmpval);
}

static inline int sys_futex_requeue(uint32_t *uaddr, int nwake, int nmove,
				    uint32_t *uaddr2, int private_flag)
{
	return (int)sys_futex(uaddr, FUTEX_REQUEUE | private_flag,
			      (uint32_t)nwake, (void *)(long)nmove, uaddr2, 0);
}

static inline int sys_futex_waitv(struct futex_waitv *w, unsigned n,
				  unsigned flags, const struct timespec *abs,
				  clockid_t clk)
{
	return (int)__CONC_SC(SYS_futex_waitv, w, n, flags, abs, clk);
}

static inline int sys_gettid(void)
{
	return (int)__CONC_SC(SYS_gettid, 0);
}

static inline int sys_getpid(void)
{
	return (int)__CONC_SC(SYS_getpid, 0);
}

static inline int sys_eventfd(unsigned initval, int flags)
{
	return (int)__CONC_SC(SYS_eventfd2, initval, flags);
}

static inline int sys_pipe2(int fds[2], int flags)
{
	return (int)__CONC_SC(SYS_pipe2, fds, flags);
}

static inline int sys_memfd_create(const char *name, unsigned flags)
{
	return (int)__CONC_SC(SYS_memfd_create, name, flags);
}

static inline int sys_close(int fd)
{
	return (int)__CONC_SC(SYS_close, fd);
}

static inline long sys_read(int fd, void *buf, size_t len)
{
	return __CONC_SC(SYS_read, fd, buf, len);
}

static inline long sys_write(int fd, const void *buf, size_t len)
{
	return __CONC_SC(SYS_write, fd, buf, len);
}

static inline long sys_pread(int fd, void *buf, size_t len, off_t off)
{
	return __CONC_SC(SYS_pread64, fd, buf, len, off);
}

/* clone3 returns twice like fork; the caller must not rely on the stack
 * when it passes a new one (that case belongs in assembly). */
static inline long sys_clone3(struct clone_args *args, size_t size)
{
	return __CONC_SC(SYS_clone3, args, size);
}

static inline int sys_pidfd_open(pid_t pid, unsigned flags)
{
	return (int)__CONC_SC(SYS_pidfd_open, pid, flags);
}

static inline int sys_pidfd_send_signal(int pidfd, int sig, siginfo_t *info,
					unsigned flags)
{
	return (int)__CONC_SC(SYS_pidfd_send_signal, pidfd, sig, info, flags);
}

static inline int sys_waitid(int idtype, id_t id, siginfo_t *info,
			     int options, struct rusage *ru)
{
	return (int)__CONC_SC(SYS_waitid, idtype, id, info, options, ru);
}

static inline int sys_set_robust_list(struct robust_list_head *head,
				      size_t len)
{
	return (int)__CONC_SC(SYS_set_robust_list, head, len);
}

static inline int sys_get_robust_list(int tid, struct robust_list_head **head,
				      size_t *len)
{
	return (int)__CONC_SC(SYS_get_robust_list, tid, head, len);
}

/* mmap returns an address, or -errno in the last page of the range. */
static inline void *sys_mmap(void *addr, size_t len, int prot, int flags,
			     int fd, off_t off)
{
	return (void *)__CONC_SC(SYS_mmap, addr, len, prot, flags, fd, off);
}

static inline int sys_mmap_failed(const void *p)
{
	return (unsigned long)p > -4096UL;
}

static inline int sys_munmap(void *addr, size_t len)
{
	return (int)__CONC_SC(SYS_munmap, addr, len);
}

static inline int sys_mprotect(void *addr, size_t len, int prot)
{
	return (int)__CONC_SC(SYS_mprotect, addr, len, prot);
}

static inline int sys_madvise(void *addr, size_t len, int advice)
{
	return (int)__CONC_SC(SYS_madvise, addr, len, advice);
}

static inline int sys_prctl(int op, unsigned long a, unsigned long b,
			    unsigned long c, unsigned long d)
{
	return (int)__CONC_SC(SYS_prctl, op, a, b, c, d);
}

static inline int sys_sched_getaffinity(pid_t pid, size_t len, void *mask)
{
	return (int)__CONC_SC(SYS_sched_getaffinity, pid, len, mask);
}

/* struct sched_attr as sched_getattr(2) fills it, up to the period (the
 * first version's size: the kernel fills or takes no more). */
struct sys_sched_attr {
	uint32_t size;
	uint32_t policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

static inline int sys_sched_getattr(pid_t pid, struct sys_sched_attr *a)
{
	return (int)__CONC_SC(SYS_sched_getattr, pid, a, sizeof(*a), 0);
}

static inline int sys_sched_setattr(pid_t pid, struct sys_sched_attr *a)
{
	a->size = sizeof(*a);
	return (int)__CONC_SC(SYS_sched_setattr, pid, a, 0);
}

static inline int sys_sched_yield(void)
{
	return (int)__CONC_SC(SYS_sched_yield, 0);
}

static inline void sys_cpu_relax(void)
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/*
 * Start a task with clone(2) on the given stack (its top; 16-byte aligned
 * by the callee): the child runs fn(arg) and then SYS_exit(fn's value).
 * ptid, tls, ctid as clone(2) takes them for the flags given.
 * Returns the child's tid, or -errno. Defined in clone.c.
 */
long __conc_clone(int (*fn)(void *), void *stack, unsigned long flags,
		  void *arg, pid_t *ptid, void *tls, pid_t *ctid)
	__attribute__((visibility("hidden")));

/* The same with clone3(2): the stack (and its size) in args, the child
 * starting at its top. Returns the child's tid, or -errno (-ENOSYS before
 * Linux 5.3, -EINVAL for a flag the kernel does not know). */
long __conc_clone3(struct clone_args *args, size_t size, int (*fn)(void *),
		   void *arg) __attribute__((visibility("hidden")));

static inline int sys_execve(const char *path, char *const argv[],
			     char *const envp[])
{
	return (int)__CONC_SC(SYS_execve, path, argv, envp);
}

static inline _Noreturn void sys_exit_group(int code)
{
	for (;;)
		__CONC_SC(SYS_exit_group, code);
}

static inline _Noreturn void sys_exit_thread(int code)
{
	for (;;)
		__CONC_SC(SYS_exit, code);
}

static inline int sys_dup3(int old, int new, int flags)
{
	return (int)__CONC_SC(SYS_dup3, old, new, flags);
}

static inline int sys_fcntl(int fd, int cmd, long arg)
{
	return (int)__CONC_SC(SYS_fcntl, fd, cmd, arg);
}

static inline int sys_ioctl(int fd, unsigned long req, void *arg)
{
	return (int)__CONC_SC(SYS_ioctl, fd, req, arg);
}

static inline int sys_openat(int dirfd, const char *path, int flags,
			     unsigned mode)
{
	return (int)__CONC_SC(SYS_openat, dirfd, path, flags, mode);
}

static inline int sys_chdir(const char *path)
{
	return (int)__CONC_SC(SYS_chdir, path);
}

static inline int sys_setsid(void)
{
	return (int)__CONC_SC(SYS_setsid, 0);
}

static inline int sys_setpgid(pid_t pid, pid_t pgid)
{
	return (int)__CONC_SC(SYS_setpgid, pid, pgid);
}

static inline int sys_getppid(void)
{
	return (int)__CONC_SC(SYS_getppid, 0);
}

static inline int sys_kill(pid_t pid, int sig)
{
	return (int)__CONC_SC(SYS_kill, pid, sig);
}

static inline int sys_tgkill(pid_t tgid, pid_t tid, int sig)
{
	return (int)__CONC_SC(SYS_tgkill, tgid, tid, sig);
}

/* The kernel's sigset is 8 bytes on x86_64 and aarch64, not glibc's 128. */
#define SYS_SIGSET_SIZE 8

static inline int sys_sigprocmask(int how, const sigset_t *set,
				  sigset_t *old)
{
	return (int)__CONC_SC(SYS_rt_sigprocmask, how, set, old,
			      SYS_SIGSET_SIZE);
}

/* struct k_sigaction as the kernel reads it (no SA_RESTORER needed to
 * reset to SIG_DFL/SIG_IGN or to query). */
struct sys_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static inline int sys_sigaction(int sig, const struct sys_sigaction *act,
				struct sys_sigaction *old)
{
	return (int)__CONC_SC(SYS_rt_sigaction, sig, act, old,
			      SYS_SIGSET_SIZE);
}

static inline int sys_ppoll(struct pollfd *fds, unsigned n,
			    const struct timespec *ts)
{
	return (int)__CONC_SC(SYS_ppoll, fds, n, ts, NULL, SYS_SIGSET_SIZE);
}

static inline int sys_access(const char *path, int mode)
{
	return (int)__CONC_SC(SYS_faccessat, -100 /* AT_FDCWD */, path, mode);
}

static inline int sys_sched_setaffinity(pid_t pid, size_t len,
					const void *mask)
{
	return (int)__CONC_SC(SYS_sched_setaffinity, pid, len, mask);
}

static inline int sys_sigaltstack_disable(void)
{
	struct { void *sp; int flags; size_t size; } ss = { NULL, 2, 0 };

	/* SS_DISABLE = 2 */
	return (int)__CONC_SC(SYS_sigaltstack, &ss, NULL);
}

static inline int sys_ftruncate(int fd, off_t len)
{
	return (int)__CONC_SC(SYS_ftruncate, fd, len);
}

static inline int sys_fallocate(int fd, int mode, off_t off, off_t len)
{
	return (int)__CONC_SC(SYS_fallocate, fd, mode, off, len);
}

/* The file's size, or -errno. glibc's struct stat is the kernel's on
 * x86_64 and aarch64. */
static inline long sys_fsize(int fd)
{
	struct stat st;
	long r = __CONC_SC(SYS_fstat, fd, &st);

	return r < 0 ? r : (long)st.st_size;
}

static inline int sys_unlink(const char *path)
{
	return (int)__CONC_SC(SYS_unlinkat, -100 /* AT_FDCWD */, path, 0);
}

static inline int sys_dup_cloexec(int fd)
{
	return sys_fcntl(fd, 1030 /* F_DUPFD_CLOEXEC */, 0);
}

static inline int sys_fstat(int fd, struct stat *st)
{
	return (int)__CONC_SC(SYS_fstat, fd, st);
}

static inline int sys_linkat(int olddir, const char *old, int newdir,
			     const char *new, int flags)
{
	return (int)__CONC_SC(SYS_linkat, olddir, old, newdir, new, flags);
}

static inline unsigned sys_geteuid(void)
{
	return (unsigned)__CONC_SC(SYS_geteuid, 0);
}

#endif
