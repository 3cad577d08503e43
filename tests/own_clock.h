/*
 * tests/own_clock.h — a clock for "did this call come back in time?" on a
 * loaded machine: CLOCK_MONOTONIC less the time the calling thread has
 * waited on a run queue (run_delay, /proc/thread-self/schedstat). Load
 * that keeps the caller off the CPU does not advance it; a call that
 * sleeps past its timeout, or spins, does. Without schedstat it is
 * CLOCK_MONOTONIC. Used by the tests (helpers.h) and the fuzzers.
 */
#ifndef CONC_TEST_OWN_CLOCK_H
#define CONC_TEST_OWN_CLOCK_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* The file is opened again in a new thread or a fork child (another
 * tid): each reads its own thread's figure. */
static inline int64_t own_now_ns(void)
{
	static __thread int fd = -1;
	static __thread pid_t tid;
	unsigned long long run, wait = 0;
	struct timespec ts;
	char s[96];
	ssize_t n;

	if (tid != gettid()) {
		if (fd >= 0)
			close(fd);
		tid = gettid();
		fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	}
	if (fd >= 0 && (n = pread(fd, s, sizeof(s) - 1, 0)) > 0) {
		s[n] = 0;
		if (sscanf(s, "%llu %llu", &run, &wait) != 2)
			wait = 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - (int64_t)wait;
}

#endif
