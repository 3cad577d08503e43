/*
 * lib_growstop.so — preloaded into conc-queue by test_queue_tool to hold
 * open the moment between a get's finding the next message larger than its
 * buffer and its taking it again with a larger one: that realloc() stops
 * the process (SIGSTOP) first, so that the test can take the message away
 * meanwhile, then let it go on (SIGCONT). Only with CONC_TEST_STOP_AT_GROW
 * set, and only once.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>

void *realloc(void *p, size_t n)
{
	static void *(*real)(void *, size_t);
	static int stopped;

	if (!real)
		real = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	if (!stopped && p && n > 65537 && getenv("CONC_TEST_STOP_AT_GROW")) {
		stopped = 1;
		raise(SIGSTOP);
	}
	return real ? real(p, n) : NULL;
}
