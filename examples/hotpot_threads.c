/* demo: hotpot with threads: tom and cherry wait on a conc_event until the main thread's countdown ends and it calls them to eat */
/*
 * The seed's threading.Event example as it is written there: two friend
 * threads enter the dining state and wait (event.wait()); the main thread
 * prints a ten-step progress bar, then event.set() wakes both at once.
 * A friend that has waited long enough says so: a timed wait returns
 * -ETIMEDOUT (Python's wait(timeout) returning False) and leaves the event
 * as it was, so the friend simply waits again. hotpot.c tells the same
 * with processes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <conc.h>

#define MS	1000000LL
#define STEPS	10

static conc_event event = CONC_EVENT_INIT;
static const char *friends[] = { "tom", "cherry" };

static int chihuoguo(void *arg)
{
	const char *name = arg;
	int r, impatient = 0;

	printf("  %s has arrived and sits down to wait\n", name);
	/* Bounded in total: a bug fails instead of hanging. */
	while ((r = conc_event_wait(&event, 300 * MS)) == -ETIMEDOUT &&
	       ++impatient < 20)
		printf("  %s: is it ready yet?\n", name);
	if (r)
		return r;
	printf("  %s got the call: start eating!\n", name);
	return 0;
}

int main(void)
{
	struct timespec tick = { 0, 100 * MS };
	conc_thread *t[2];
	const char *why;
	char bar[STEPS + 1];
	int i, r, code, bad = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (conc_thread_support(&why)) {
		printf("no conc threads with this C library (%s): see hotpot\n", why);
		return 0;
	}
	for (i = 0; i < 2; i++)
		if ((r = conc_thread_start(&t[i], chihuoguo, (void *)friends[i], NULL))) {
			printf("conc_thread_start: %s\n", strerror(-r));
			return 1;
		}
	for (i = 0; i < STEPS; i++) {
		nanosleep(&tick, NULL);
		memset(bar, '>', (size_t)i + 1);
		memset(bar + i + 1, '-', (size_t)(STEPS - 1 - i));
		bar[STEPS] = 0;
		printf("%s\n", bar);
	}
	printf("--->>> the main thread calls everyone to eat\n");
	conc_event_set(&event);
	for (i = 0; i < 2; i++)
		if ((r = conc_thread_join(t[i], &code, 10000 * MS)) || code) {
			printf("%s: %s\n", friends[i], strerror(r ? -r : -code));
			bad = 1;
		}
	if (bad || !conc_event_is_set(&event)) {
		printf("FAILED: both friends must get the call\n");
		return 1;
	}
	printf("OK: both ate\n");
	return 0;
}
