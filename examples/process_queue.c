/* demo: a named conc_queue between processes: the main process writes items, children open the queue by name, read, and answer */
/*
 * The seed's multiprocessing.Queue example in C. The main process creates
 * a queue with a name under /dev/shm and puts three items, "1", "2" and
 * "3". Then it starts three processes in turn, p0, p1 and p2. A child does
 * not use the parent's handle: it opens the queue by its name, as an
 * unrelated program would, gets one item, "works" for a moment, puts the
 * item back with a "1" appended, and ends. Once all three have been joined
 * the main process reads what they wrote: "11", "21", "31".
 *
 * Unlike Python, joining a process that has put items no one has read yet
 * cannot deadlock: a conc_queue_put() is complete when it returns, there
 * is no feeder thread that must flush it first. At the end the name is
 * removed, after which opening it fails with -ENOENT.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <conc.h>

#define SEC 1000000000LL

static char name[64];		/* the queue's name under /dev/shm */

static int child(void *arg)
{
	const char *me = arg;
	struct timespec ts = { 0, 100000000 };	/* 100 ms of "work" */
	conc_queue *q;
	char item[32];
	ssize_t n;
	int r;

	printf("  %s (pid %d): start, opening queue \"%s\" by name\n", me,
	       (int)getpid(), name);
	if ((r = conc_queue_open(&q, name))) {
		printf("  %s: conc_queue_open: %s\n", me, strerror(-r));
		return 1;
	}
	n = conc_queue_get(q, item, sizeof(item) - 2, 5 * SEC);
	if (n < 0) {
		printf("  %s: conc_queue_get: %s\n", me, strerror((int)-n));
		return 1;
	}
	item[n] = 0;
	printf("  %s: got \"%s\"\n", me, item);
	nanosleep(&ts, NULL);
	strcat(item, "1");
	printf("  %s: put \"%s\"\n", me, item);
	if ((r = conc_queue_put(q, item, strlen(item), 5 * SEC))) {
		printf("  %s: conc_queue_put: %s\n", me, strerror(-r));
		return 1;
	}
	conc_queue_destroy(q);	/* our handle; the queue lives on */
	printf("  %s: end\n", me);
	return 0;
}

static int fail(const char *what, int r)
{
	printf("%s: %s\n", what, strerror(-r));
	conc_shm_unlink(name);
	return 1;
}

int main(void)
{
	static char *const names[3] = { "p0", "p1", "p2" };
	static const char *const want[3] = { "11", "21", "31" };
	conc_queue_attr qa = { .capacity = 8, .max_msg = 30, .name = name,
			       .flags = CONC_SHM_EXCL };
	conc_queue *q, *again;
	conc_proc *p;
	char item[32];
	ssize_t n;
	int r, st, ok = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(name, sizeof(name), "conc-demo-queue-%d", (int)getpid());
	if ((r = conc_queue_create(&q, &qa)))
		return fail("conc_queue_create", r);
	printf("main (pid %d): created /dev/shm/%s; putting \"1\", \"2\", \"3\"\n",
	       (int)getpid(), name);
	for (int i = 1; i <= 3; i++) {
		snprintf(item, sizeof(item), "%d", i);
		if ((r = conc_queue_put(q, item, strlen(item), 0)))
			return fail("conc_queue_put", r);
	}

	/* As in the seed: start each process and join it before the next. */
	for (int i = 0; i < 3; i++) {
		if ((r = conc_proc_start(&p, child, names[i], NULL)))
			return fail("conc_proc_start", r);
		if ((r = conc_proc_join(p, &st, 10 * SEC)))
			return fail("conc_proc_join", r);
		conc_proc_release(p);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			printf("FAILED: %s did not end well\n", names[i]);
			ok = 0;
		}
	}

	printf("main: %zd items in the queue; reading them:\n", conc_queue_size(q));
	for (int i = 0; i < 3; i++) {
		n = conc_queue_get(q, item, sizeof(item) - 1, 0);
		if (n < 0)
			return fail("conc_queue_get", (int)n);
		item[n] = 0;
		printf("  \"%s\"\n", item);
		if (strcmp(item, want[i])) {
			printf("FAILED: expected \"%s\"\n", want[i]);
			ok = 0;
		}
	}
	n = conc_queue_get(q, item, sizeof(item), 0);
	printf("main: one more get, without waiting: %s\n", strerror((int)-n));
	if (n != -ETIMEDOUT)
		ok = 0;

	conc_queue_destroy(q);
	if ((r = conc_shm_unlink(name)))
		return fail("conc_shm_unlink", r);
	r = conc_queue_open(&again, name);
	printf("main: removed the name; opening it again: %s\n", strerror(-r));
	if (r != -ENOENT) {
		if (!r)
			conc_queue_destroy(again);
		ok = 0;
	}
	if (!ok) {
		printf("FAILED\n");
		return 1;
	}
	printf("OK: every child read one item by the queue's name and its answer "
	       "came back in order.\n");
	return 0;
}
