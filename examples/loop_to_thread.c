/* demo: asyncio.to_thread: a blocking call runs on a conc thread while the loop's other tasks go on */
/*
 * Some calls block and have no asynchronous form (a library that sleeps,
 * a DNS lookup, a slow computation). conc_to_thread() runs one on a conc
 * thread (threads are reused) and suspends only the calling task until it
 * returns; a second task keeps printing meanwhile. A second call with a
 * timeout gives up on the result; the function still ends on its thread.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <conc.h>

#define MS 1000000LL

static int blocking_work(void *arg)
{
	struct timespec ts = { 0, 300 * MS };
	int n = *(int *)arg;

	nanosleep(&ts, NULL);	/* a call that blocks its thread */
	return n * n;
}

/* The second call's: it blocks until its caller, having given up on it,
 * lets it go, so it cannot end within the 50 ms however late the loop
 * looks. A sleep of 300 ms could: the loop's thread held up past it (a
 * loaded machine), the join found the thread done and took its result. */
static conc_event given_up = CONC_EVENT_INIT;

static int held_work(void *arg)
{
	int r = conc_event_wait(&given_up, CONC_FOREVER);

	return r ? r : blocking_work(arg);
}

static int busy(void *arg)
{
	int *ticks = arg;

	while (conc_sleep(50 * MS) == 0)
		++*ticks;
	return 0;
}

static int async_main(void *arg)
{
	conc_task *t;
	int n = 12, ret = 0, ticks = 0, r;

	(void)arg;
	if (conc_go(&t, busy, &ticks, NULL))
		return 1;
	r = conc_to_thread(blocking_work, &n, &ret, CONC_FOREVER);
	printf("to_thread: %d squared is %d; the loop ticked %d times meanwhile\n",
	       n, ret, ticks);
	if (r)
		return 1;
	r = conc_to_thread(held_work, &n, NULL, 50 * MS);
	printf("with a 50 ms timeout: %s\n", r == -ETIMEDOUT ? "gave up" : "?");
	conc_event_set(&given_up);	/* it ends on its thread, unjoined */
	conc_task_cancel(t);
	return conc_task_join(t, NULL, 1000 * MS) || r != -ETIMEDOUT;
}

int main(void)
{
	const char *why;
	int code, r;

	if (conc_thread_support(&why)) {
		printf("no conc threads with this C library (%s): conc_to_thread "
		       "has nothing to run on\n", why);
		return 0;
	}
	r = conc_run(async_main, NULL, &code);
	if (r == -ENOSYS) {
		puts("this kernel has no io_uring: nothing to show");
		return 0;
	}
	return r < 0 || code;
}
