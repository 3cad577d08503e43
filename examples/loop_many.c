/* demo: ten thousand coroutines on one thread, each sleeping 100 ms: done in about 100 ms, not 1,000 s */
/*
 * The seed on coroutines: "a single thread can achieve the effect of
 * concurrency ... one CPU supporting tens of thousands of coroutines is
 * not a problem". Here one thread runs 10,000 tasks; each sleeps 100 ms
 * (as if waiting for I/O) and then counts itself done. While one sleeps the
 * loop runs the others, so the whole takes about one sleep, where the same
 * sleeps one after the other would take 1,000 s. conc_gather() takes them
 * all at once, as asyncio.gather(*tasks) does.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <conc.h>

#define TASKS	10000
#define MS	1000000LL

static int done;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int sleeper(void *arg)
{
	(void)arg;
	if (conc_sleep(100 * MS) < 0)
		return 1;
	done++;		/* one thread: the tasks never run at once */
	return 0;
}

static int async_main(void *arg)
{
	static conc_task *ts[TASKS];
	static int codes[TASKS];
	int i, r;

	(void)arg;
	for (i = 0; i < TASKS; i++)
		if ((r = conc_go(&ts[i], sleeper, NULL, NULL))) {
			printf("conc_go: task %d: %d\n", i, r);
			return 1;	/* conc_run joins those started */
		}
	if ((r = conc_gather(ts, TASKS, codes, 0, 60 * 1000 * MS)))
		return 1;
	for (i = 0; i < TASKS; i++)
		if (codes[i])
			return 1;
	return 0;
}

int main(void)
{
	double t0 = now();
	int code, r = conc_run(async_main, NULL, &code);

	if (r < 0) {
		fprintf(stderr, "conc_run: %s\n", r == -ENOSYS ?
			"this kernel has no io_uring" : "failed");
		return r == -ENOSYS ? 0 : 1;
	}
	printf("%d of %d tasks slept 100 ms each on one thread: %.2f s in all\n",
	       done, TASKS, now() - t0);
	return code || done != TASKS;
}
