/* conc/sys.h — what the running kernel offers, and thread identity. */
#ifndef CONC_SYS_H
#define CONC_SYS_H

#include <stdint.h>
#include <sys/types.h>

/* Bits of conc_features(): kernel facilities newer than the 6.1 minimum,
 * or optional ones, found on the running kernel. */
#define CONC_FEAT_FUTEX_WAITV    (1u << 0)  /* futex_waitv(2), 5.16 */
#define CONC_FEAT_CLONE3         (1u << 1)  /* clone3(2), 5.3 */
#define CONC_FEAT_PIDFD          (1u << 2)  /* pidfd_open, CLONE_PIDFD, 5.3 */
#define CONC_FEAT_ROBUST_LIST    (1u << 3)  /* set_robust_list(2) */
#define CONC_FEAT_IO_URING       (1u << 4)  /* io_uring usable (not disabled) */
#define CONC_FEAT_URING_FUTEX    (1u << 5)  /* IORING_OP_FUTEX_WAIT, 6.7 */
#define CONC_FEAT_URING_WAITID   (1u << 6)  /* IORING_OP_WAITID, 6.7 */
#define CONC_FEAT_FUTEX2         (1u << 7)  /* futex_wake/futex_wait(2), 6.7 */
#define CONC_FEAT_WIPEONFORK     (1u << 8)  /* MADV_WIPEONFORK, 4.14 */
#define CONC_FEAT_RSEQ           (1u << 9)  /* rseq(2), 4.18 */
/* Not the kernel's: the C library in use is one conc_thread_start() can
 * give raw threads (its layout derived and verified; see
 * conc_thread_support()). */
#define CONC_FEAT_THREADS        (1u << 10)

/*
 * Return the CONC_FEAT_* bits the running kernel supports. The kernel is
 * probed once, at the first call; later calls return the cached answer.
 * Safe to call from any thread, before or after fork.
 */
uint32_t conc_features(void);

/*
 * Whether conc_thread_start() can start threads in this process: 0, or
 * -ENOTSUP with *why (if why is not NULL) set to a short static sentence
 * saying which check failed (a C library other than glibc 2.34+ on x86_64
 * or aarch64, or a layout glibc's descriptors and the live main thread do
 * not agree on). Checked once; later calls return the same answer.
 */
int conc_thread_support(const char **why);

/*
 * Return the kernel thread id of the caller (what gettid(2) returns), without
 * a system call after the first one in each thread; correct again after fork.
 */
pid_t conc_gettid(void);

#endif
