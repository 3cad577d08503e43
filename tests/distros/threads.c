/* Prints which C library this is and whether raw threads are available
 * in it, and why not (make musl, make check-distros, make check-aarch64). */
#include <stdio.h>
#include <conc.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

int main(void)
{
	const char *why;
	int r = conc_thread_support(&why);

#ifdef __GLIBC__
	printf("glibc %s", gnu_get_libc_version());
#else
	printf("not glibc (musl?)");
#endif
#if defined(__x86_64__)
	printf(" x86_64");
#elif defined(__aarch64__)
	printf(" aarch64");
#endif
	printf(": threads %s%s%s\n", r ? "no" : "yes", r ? ": " : "",
	       r ? why : "");
	return 0;
}
