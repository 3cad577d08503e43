/* Raw system call entry: returns the kernel's result (-errno on failure) and
 * never touches errno. The only place in conc that enters the kernel. */
#ifndef CONC_SYS_RAW_H
#define CONC_SYS_RAW_H

#if defined(__x86_64__)
static inline long __conc_syscall(long n, long a, long b, long c, long d,
				  long e, long f)
{
	unsigned long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;

	__asm__ __volatile__("syscall"
			     : "=a"(ret)
			     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10),
			       "r"(r8), "r"(r9)
			     : "rcx", "r11", "memory");
	return (long)ret;
}
#elif defined(__aarch64__)
static inline long __conc_syscall(long n, long a, long b, long c, long d,
				  long e, long f)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;

	__asm__ __volatile__("svc 0"
			     : "+r"(x0)
			     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4),
			       "r"(x5)
			     : "memory", "cc");
	return x0;
}
#else
#error "conc supports x86_64 and aarch64"
#endif

#define __CONC_SC6(n, a, b, c, d, e, f) \
	__conc_syscall((n), (long)(a), (long)(b), (long)(c), (long)(d), \
		       (long)(e), (long)(f))
#define __CONC_SC(n, ...) __CONC_SC_PAD(n, __VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define __CONC_SC_PAD(n, a, b, c, d, e, f, ...) __CONC_SC6(n, a, b, c, d, e, f)

#endif
