/* demo: asyncio.gather(func1(), func2()) on a conc loop: two coroutines print three times each, sleeping 1 s between, done in about 3 s, not 6 */
/*
 * The seed's asyncio example in C:
 *
 *     async def func1():
 *         for i in range(3):
 *             print("func1", i); await asyncio.sleep(1)
 *     async def main():
 *         await asyncio.gather(func1(), func2())
 *     asyncio.run(main())
 *
 * conc_run() is asyncio.run, conc_go() create_task, conc_gather() gather
 * and conc_sleep() asyncio.sleep: while one task sleeps the other runs, so
 * the lines interleave and the whole takes three sleeps, not six. There is
 * no "async" colouring: the tasks are plain functions on stacks of their
 * own, and any conc call that blocks suspends only the task that made it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <conc.h>

#define SEC 1000000000LL

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The tasks share the thread: plain ints, no atomics. The lines printed
 * so far, and where func2's first line and func1's last one came. */
static int lines, func2_first = -1, func1_last = -1;

static int func(void *arg)
{
	const char *name = arg;

	for (int i = 0; i < 3; i++) {
		printf("%s %d\n", name, i);
		fflush(stdout);
		if (i == 0 && !strcmp(name, "func2"))
			func2_first = lines;
		if (i == 2 && !strcmp(name, "func1"))
			func1_last = lines;
		lines++;
		if (conc_sleep(1 * SEC) < 0)
			return 1;
	}
	return 0;
}

static int async_main(void *arg)
{
	conc_task *ts[2];
	int codes[2], r;

	(void)arg;
	if (conc_go(&ts[0], func, "func1", NULL) ||
	    conc_go(&ts[1], func, "func2", NULL))
		return 1;
	r = conc_gather(ts, 2, codes, 0, CONC_FOREVER);
	return r || codes[0] || codes[1];
}

int main(void)
{
	double t0 = now(), el;
	int code, r = conc_run(async_main, NULL, &code);

	if (r < 0) {
		fprintf(stderr, "conc_run: %s\n", r == -ENOSYS ?
			"this kernel has no io_uring" : "failed");
		return r == -ENOSYS ? 0 : 1;
	}
	el = now() - t0;
	printf("done in %.1f s (two tasks, three 1 s sleeps each)\n", el);
	/* The verdict is the order, not the time (a loaded machine stretched
	 * three sleeps past six): func2 begins while func1 sleeps, before
	 * func1's last line; one after the other, it begins after it. */
	return code || func2_first < 0 || func2_first > func1_last;
}
