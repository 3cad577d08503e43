/*
 * lib_semstop.so — preloaded into conc-sem by test_sem_tool to hold open
 * the moment between its taking a permit and its starting the command:
 * conc-sem sets or clears CONC_SEM_OWNER_DIED there (conc-sem(1)), and
 * this unsetenv() stops the process (SIGSTOP) first, so that the test can
 * send it a signal in that very window, then let it go on (SIGCONT). Only
 * with CONC_TEST_STOP_AT_PERMIT set, and only once.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

int unsetenv(const char *name)
{
	static int (*real)(const char *);
	static int stopped;

	if (!real)
		real = (int (*)(const char *))dlsym(RTLD_NEXT, "unsetenv");
	if (!stopped && !strcmp(name, "CONC_SEM_OWNER_DIED") &&
	    getenv("CONC_TEST_STOP_AT_PERMIT")) {
		stopped = 1;
		raise(SIGSTOP);
	}
	return real ? real(name) : -1;
}
