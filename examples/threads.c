/* demo: threads from a function and from a "class", join, and a daemon thread cut off at exit */
/*
 * Python's threading.Thread, in C with conc threads:
 *   1. Thread(target=func1, args=("1",)): a function and its argument,
 *      then join(), which here also hands back the thread's exit code;
 *   2. class MyThread(Thread) with a run() method: a struct that carries a
 *      run function pointer and its own fields;
 *   3. daemon threads: when main returns, the program waits for the
 *      non-daemon threads but not for the daemons, which die with it. A
 *      daemon that would tick forever is cut off.
 * Part 3 runs in a child process, so that this program can check from the
 * outside that the child ended, and fail instead of hanging if it did not.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <conc.h>

#define STEPS	3

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static conc_thread *start(int (*fn)(void *), void *arg, const char *name,
			  bool daemon)
{
	conc_thread_attr a = { .name = name, .daemon = daemon };
	conc_thread *t;
	int r = conc_thread_start(&t, fn, arg, &a);

	if (r) {
		printf("conc_thread_start: %s%s\n", strerror(-r), r == -ENOTSUP ?
		       " (no conc threads with this C library: use processes)" : "");
		exit(1);
	}
	return t;
}

static int join(conc_thread *t)
{
	int code, r = conc_thread_join(t, &code, 5 * 1000000000LL);

	if (r) {
		printf("conc_thread_join: %s\n", strerror(-r));
		exit(1);
	}
	return code;
}

/* 1. A plain function; what it returns is the thread's exit code. */
static int func1(void *arg)
{
	const char *name = arg;

	printf("  thread %s: start\n", name);
	for (int i = 0; i < STEPS; i++) {
		printf("  thread %s: %d\n", name, i);
		sleep_ms(100);
	}
	printf("  thread %s: end\n", name);
	return STEPS;
}

/* 2. A "class": the object is the thread's argument, run() its method. */
struct my_thread {
	int (*run)(struct my_thread *self);
	const char *name;
	int steps, done;
	conc_thread *handle;
};

static int my_thread_main(void *arg)
{
	struct my_thread *self = arg;

	return self->run(self);
}

static void my_thread_start(struct my_thread *self)
{
	self->handle = start(my_thread_main, self, self->name, false);
}

static int counting_run(struct my_thread *self)
{
	printf("  %s: start\n", self->name);
	for (int i = 0; i < self->steps; i++) {
		printf("  %s: %d\n", self->name, i);
		self->done++;
		sleep_ms(100);
	}
	printf("  %s: end\n", self->name);
	return 0;
}

/* 3. What the daemon and the non-daemon thread report to the parent. */
struct report {
	int ticks;		/* the daemon's */
	int worker_done;	/* the non-daemon thread finished its steps */
};

static int daemon_ticker(void *arg)
{
	struct report *rep = arg;

	for (;;) {
		printf("  daemon: tick %d\n",
		       __atomic_add_fetch(&rep->ticks, 1, __ATOMIC_SEQ_CST));
		sleep_ms(60);
	}
	return 0;
}

static int worker(void *arg)
{
	struct report *rep = arg;

	/* The daemon has run once before the program may end (bounded): its
	 * thread, started first, may still wait for a CPU after the worker's
	 * 300 ms on a loaded machine, and "cut off" needs a tick to show. */
	for (int i = 0; i < 1000 && !__atomic_load_n(&rep->ticks, __ATOMIC_SEQ_CST); i++)
		sleep_ms(10);
	for (int i = 0; i < STEPS; i++) {
		printf("  worker: step %d\n", i);
		sleep_ms(100);
	}
	printf("  worker: end\n");
	rep->worker_done = 1;
	return 0;
}

static void daemon_child(struct report *rep)
{
	start(daemon_ticker, rep, "ticker", true);
	start(worker, rep, "worker", false);
	printf("  main: end (returns; the worker is waited for, the daemon is not)\n");
	exit(0);	/* as a return from main */
}

int main(void)
{
	const char *why;
	struct my_thread objs[2] = {
		{ counting_run, "MyThread-1", STEPS, 0, NULL },
		{ counting_run, "MyThread-2", STEPS, 0, NULL },
	};
	conc_thread *t1, *t2;
	struct report *rep;
	int st, waited = 0;
	pid_t pid;

	/* Threads write while the child may too: one line at a time. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (conc_thread_support(&why)) {
		printf("no conc threads with this C library (%s): %s\n", why,
		       "use processes (processes.c)");
		return 0;
	}

	printf("1) Threads running a function:\n");
	t1 = start(func1, "1", "func1-1", false);
	t2 = start(func1, "2", "func1-2", false);
	printf("  main: both started, now joining\n");
	if (join(t1) != STEPS || join(t2) != STEPS) {
		printf("FAILED: wrong exit code\n");
		return 1;
	}
	printf("  main: joined both, each returned %d\n\n", STEPS);

	printf("2) Threads from a \"class\" (a struct with a run function):\n");
	for (int i = 0; i < 2; i++)
		my_thread_start(&objs[i]);
	for (int i = 0; i < 2; i++)
		if (join(objs[i].handle) != 0 || objs[i].done != STEPS) {
			printf("FAILED: %s did %d steps\n", objs[i].name, objs[i].done);
			return 1;
		}
	printf("  main: joined both objects, each did %d steps\n\n", STEPS);

	printf("3) A daemon thread and a non-daemon thread; main returns at once:\n");
	rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rep == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0)
		daemon_child(rep);
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (++waited > 3000) {	/* 30 s: the daemon kept it alive */
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			printf("FAILED: the program did not end: the daemon was waited for\n");
			return 1;
		}
		sleep_ms(10);
	}
	printf("  => the program ended (exit %d) once the worker was done "
	       "(worker_done=%d); the daemon had ticked %d times and was cut off\n",
	       WIFEXITED(st) ? WEXITSTATUS(st) : -1, rep->worker_done, rep->ticks);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !rep->worker_done ||
	    rep->ticks < 1) {
		printf("FAILED: expected exit 0, the worker done, some ticks\n");
		return 1;
	}
	printf("OK: joins returned the exit codes; main waited for the worker, "
	       "not for the daemon.\n");
	return 0;
}
