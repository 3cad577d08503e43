/* demo: a coroutine reads a conc_queue that another process fills, while a second coroutine of the same loop keeps ticking */
/*
 * The same queue a thread or a process would use (multiprocessing.Queue),
 * read from a task: conc_queue_get() suspends only the reading task. A
 * child process puts five numbers, 200 ms apart; the loop's other task
 * ticks every 100 ms meanwhile, which shows the loop is never blocked.
 * When the reader has all five it cancels the ticker, whose sleep then
 * returns -ECANCELED (asyncio's CancelledError), and the loop ends.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <conc.h>

#define MS 1000000LL

static conc_queue *q;
static conc_task *ticker_task;

static int ticker(void *arg)
{
	int ticks = 0;

	(void)arg;
	while (conc_sleep(100 * MS) == 0)
		ticks++;
	printf("ticker: cancelled after %d ticks\n", ticks);
	return 0;
}

static int reader(void *arg)
{
	(void)arg;
	for (int i = 0; i < 5; i++) {
		int v;
		ssize_t n = conc_queue_get(q, &v, sizeof(v), 5000 * MS);

		if (n != sizeof(v))
			return 1;
		printf("reader: got %d from the other process\n", v);
		fflush(stdout);
	}
	return conc_task_cancel(ticker_task);
}

static int async_main(void *arg)
{
	conc_task *r;
	int code;

	(void)arg;
	if (conc_go(&ticker_task, ticker, NULL, NULL) ||
	    conc_go(&r, reader, NULL, NULL))
		return 1;
	if (conc_task_join(r, &code, 10000 * MS) || code)
		return 1;
	return conc_task_join(ticker_task, NULL, 1000 * MS) != 0;
}

int main(void)
{
	int code, r, st;
	pid_t pid;

	if (conc_queue_create(&q, NULL)) {
		fputs("conc_queue_create failed\n", stderr);
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		for (int i = 1; i <= 5; i++) {
			struct timespec ts = { 0, 200 * MS };

			nanosleep(&ts, NULL);
			conc_queue_put(q, &i, sizeof(i), CONC_FOREVER);
		}
		_exit(0);
	}
	r = conc_run(async_main, NULL, &code);
	waitpid(pid, &st, 0);
	conc_queue_destroy(q);
	if (r == -ENOSYS) {
		puts("this kernel has no io_uring: nothing to show");
		return 0;
	}
	return r < 0 || code;
}
