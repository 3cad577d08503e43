/* demo: the knife and the pot with two conc threads: the crossed order deadlocks (seen with conc_mutex_timedlock), one order does not */
/*
 * The seed's deadlock, told with threads as in Python (two Lock objects,
 * two Thread objects): fun1 takes the knife then the pot, fun2 the pot then
 * the knife. Here each cook, once it holds its first tool, meets the other
 * at a conc_barrier, so the cycle forms every time (the seed relies on a
 * sleep for that). Python's plain acquire() would then wait for ever;
 * conc_mutex_timedlock() gives up with -ETIMEDOUT and the cook puts its
 * first tool back. With one order for both (knife first) no cycle can form,
 * and the barrier is left out, since the second cook waits for the knife.
 * deadlock.c tells the same with processes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <conc.h>

#define MS	1000000LL

enum { COOKED = 1, BACKED_OFF = 2 };

static conc_mutex knife = CONC_MUTEX_INIT, pot = CONC_MUTEX_INIT;
static conc_barrier holding;	/* both cooks hold their first tool */
static bool ordered;

static int cook(void *arg)
{
	int n = (int)(long)arg, r;
	bool crossed = n == 2 && !ordered;
	conc_mutex *first = crossed ? &pot : &knife;
	conc_mutex *second = crossed ? &knife : &pot;
	const char *f = crossed ? "pot" : "knife", *s = crossed ? "knife" : "pot";

	/* Every wait is bounded: nothing in this demo may hang. */
	if ((r = conc_mutex_timedlock(first, 10000 * MS)) != 0)
		return r;
	printf("  fun%d: got the %s\n", n, f);
	if (!ordered && (r = conc_barrier_wait_timed(&holding, 5000 * MS)) < 0) {
		conc_mutex_unlock(first);
		return r;
	}
	r = conc_mutex_timedlock(second, 300 * MS);
	if (r == -ETIMEDOUT) {
		printf("  fun%d: no %s after 300 ms: deadlock, putting the %s back\n",
		       n, s, f);
		conc_mutex_unlock(first);
		return BACKED_OFF;
	}
	if (r != 0) {
		conc_mutex_unlock(first);
		return r;
	}
	printf("  fun%d: got the %s too, cooking; then both go back\n", n, s);
	conc_mutex_unlock(second);
	conc_mutex_unlock(first);
	return COOKED;
}

/* Both cooks at once; how many ended as `want`, or -1 on an error. */
static int kitchen(int want)
{
	conc_thread *t[2];
	int i, r, code, n = 0;

	conc_barrier_init(&holding, 2, CONC_PRIVATE);
	for (i = 0; i < 2; i++)
		if ((r = conc_thread_start(&t[i], cook, (void *)(long)(i + 1), NULL))) {
			printf("conc_thread_start: %s\n", strerror(-r));
			return -1;
		}
	for (i = 0; i < 2; i++) {
		if ((r = conc_thread_join(t[i], &code, 30000 * MS)) || code < 0) {
			printf("fun%d: %s\n", i + 1, strerror(r ? -r : -code));
			return -1;
		}
		n += code == want;
	}
	return n;
}

int main(void)
{
	const char *why;
	int n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (conc_thread_support(&why)) {
		printf("no conc threads with this C library (%s): see deadlock\n", why);
		return 0;
	}
	printf("1) fun1 takes knife then pot, fun2 pot then knife.\n");
	n = kitchen(BACKED_OFF);
	if (n < 1) {
		printf("FAILED: the crossed order must time out\n");
		return 1;
	}
	printf("  => deadlock seen: %d cook(s) gave up instead of waiting for ever\n\n", n);

	printf("2) Both take the knife first.\n");
	ordered = true;
	if (kitchen(COOKED) != 2) {
		printf("FAILED: with one order both cooks cook\n");
		return 1;
	}
	printf("  => both cooked, no cycle.\nOK\n");
	return 0;
}
