/* demo: a pool of 5 worker processes: apply_async with callbacks, a task that crashes without hanging the pool, map over a list, close and join */
/*
 * The seed's multiprocessing.Pool example in C. Pool(5) is
 * conc_pool_create() with 5 workers; apply_async(func, args, callback) is
 * conc_pool_submit_cb(); the callbacks run here, in the parent, while
 * conc_pool_join() waits (conc_pool_poll() would run them earlier). Then a
 * task that kills its own worker: Python's Pool would hang forever, ours
 * reports how the worker died and goes on. Last, pool.map over a list of
 * names, results in order.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <conc.h>
#include <conc/pool.h>

#define NAME 32

/* Runs in a worker: print who we are, "work", return the name. */
static ssize_t func(const void *arg, size_t len, void *res, size_t cap)
{
	struct timespec ts = { 0, 200000000 };

	if (len > cap)
		return -EMSGSIZE;
	printf("  worker %d: %.*s\n", (int)getpid(), (int)len, (const char *)arg);
	fflush(stdout);
	nanosleep(&ts, NULL);
	memcpy(res, arg, len);
	return (ssize_t)len;
}

/* Runs in the parent, once per task, during a call that supervises. */
static void callback(conc_future *f, void *arg)
{
	char name[NAME + 1];
	ssize_t n = conc_future_result(f, name, NAME);

	(void)arg;
	name[n > 0 ? n : 0] = 0;
	printf("  callback in the parent %d: %s\n", (int)getpid(), name);
}

static ssize_t crash(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
	raise(SIGKILL);	/* as if the OOM killer had chosen this worker */
	return 0;
}

int main(void)
{
	static const char *names[] = { "pd", "pdd", "cpdd", "Hello pd",
		"Hello pdd", "Hello cpdd", "bye pd", "bye pdd", "bye cpdd" };
	conc_pool_attr attr = { .workers = 5 };
	char in[9][NAME] = { { 0 } }, out[9][NAME];
	ssize_t lens[9];
	conc_future *f;
	conc_pool *pool;
	int i, r, st;

	setvbuf(stdout, NULL, _IOLBF, 0);	/* lines in order, even in a pipe */
	if ((r = conc_pool_create(&pool, &attr)) < 0) {
		fprintf(stderr, "pool: %s\n", strerror(-r));
		return 1;
	}
	printf("apply_async, the first three with a callback:\n");
	for (i = 0; i < 9; i++)
		conc_pool_submit_cb(pool, func, names[i], strlen(names[i]),
				    i < 3 ? callback : NULL, NULL, NULL, NULL);

	printf("a task whose worker is killed:\n");
	conc_pool_submit(pool, crash, NULL, 0, &f);
	conc_future_wait(f, CONC_FOREVER);
	st = conc_future_status(f);
	if (CONC_FUTURE_IS_SIGNALED(st))
		printf("  it failed: its worker was killed by signal %d; the pool goes on\n",
		       CONC_FUTURE_TERMSIG(st));
	conc_future_release(f);

	printf("map over the list:\n");
	for (i = 0; i < 9; i++)
		memcpy(in[i], names[i], strlen(names[i]));
	r = conc_pool_map_status(pool, func, in, 9, NAME, out, NAME, 1, lens);
	for (i = 0; i < 9; i++)
		printf("  result %d: %.*s\n", i, (int)(lens[i] > 0 ? lens[i] : 0),
		       out[i]);

	conc_pool_close(pool);
	conc_pool_join(pool);
	conc_pool_destroy(pool);
	return r == 0 ? 0 : 1;
}
