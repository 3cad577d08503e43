/*
 * Forced into every file of the musl build (make musl) with -include.
 * musl 1.2.3 (Debian 12) names no system call newer than its release:
 * take the number from the kernel's headers, as glibc's <sys/syscall.h>
 * does. (futex_wake has its own fallback in lib/sys/sys.h.)
 */
#include <asm/unistd.h>
#if !defined(SYS_futex_waitv) && defined(__NR_futex_waitv)
#define SYS_futex_waitv __NR_futex_waitv
#endif
