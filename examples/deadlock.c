/* demo: two cooks, a knife and a pot: a deadlock detected with conc_mutex_timedlock, then avoided by lock ordering */
/*
 * Each cook needs both the knife and the pot. Cook 1 takes the knife then the
 * pot, cook 2 the pot then the knife: each ends up holding what the other
 * waits for. With conc_mutex_lock() they would wait forever; with
 * conc_mutex_timedlock() the wait gives up with -ETIMEDOUT, the cook puts
 * back what it holds, and the kitchen keeps moving. Then the cure: both take
 * the knife first, so no cycle can form.
 *
 * The cooks are processes sharing an anonymous MAP_SHARED page;
 * deadlock_threads.c tells the same with threads.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <conc.h>

#define MS		1000000LL
#define PATIENCE	(300 * MS)	/* how long a cook waits for the second tool */

enum outcome { NOT_RUN, COOKED, BACKED_OFF, FAILED };

struct kitchen {
	conc_mutex knife, pot;	/* zeroed by mmap: valid, process-shared */
	conc_barrier holding;	/* both cooks hold their first tool */
	int outcome[2];
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int cook(struct kitchen *k, int n, bool ordered)
{
	conc_mutex *first = &k->knife, *second = &k->pot;
	const char *f = "knife", *s = "pot";
	int r;

	if (n == 2 && !ordered) {	/* cook 2's habit: the pot first */
		first = &k->pot, second = &k->knife;
		f = "pot", s = "knife";
	}
	/* Even the first lock is bounded: nothing in this demo may hang. */
	if ((r = conc_mutex_timedlock(first, 10000 * MS)) != 0) {
		printf("  cook %d: lock %s: %s\n", n, f, strerror(-r));
		return FAILED;
	}
	printf("  cook %d: got the %s\n", n, f);
	/* Crossed, meet once both hold their first tool, so the cycle forms
	 * every time, however late the other cook was started. */
	if (!ordered && (r = conc_barrier_wait_timed(&k->holding, 10000 * MS)) < 0) {
		printf("  cook %d: barrier: %s\n", n, strerror(-r));
		conc_mutex_unlock(first);
		return FAILED;
	}
	sleep_ms(ordered ? 100 : 0);

	printf("  cook %d: waiting for the %s...\n", n, s);
	r = conc_mutex_timedlock(second, PATIENCE);
	if (r == -ETIMEDOUT) {
		printf("  cook %d: no %s after 300 ms: deadlock suspected, "
		       "putting the %s back\n", n, s, f);
		conc_mutex_unlock(first);
		return BACKED_OFF;
	}
	if (r != 0) {
		printf("  cook %d: lock %s: %s\n", n, s, strerror(-r));
		conc_mutex_unlock(first);
		return FAILED;
	}
	printf("  cook %d: got the %s too, cooking\n", n, s);
	sleep_ms(50);
	conc_mutex_unlock(second);
	conc_mutex_unlock(first);
	printf("  cook %d: done, knife and pot are free\n", n);
	return COOKED;
}

static int run(struct kitchen *k, bool ordered)
{
	pid_t pid[2];
	int i, st;

	k->outcome[0] = k->outcome[1] = NOT_RUN;
	conc_barrier_init(&k->holding, 2, 0);
	for (i = 0; i < 2; i++) {
		fflush(stdout);	/* or the child would print our buffer again */
		pid[i] = fork();
		if (pid[i] < 0) {
			perror("fork");
			return -1;
		}
		if (pid[i] == 0) {
			alarm(30);	/* watchdog: a bug must fail, not hang */
			k->outcome[i] = cook(k, i + 1, ordered);
			_exit(0);
		}
	}
	for (i = 0; i < 2; i++)
		if (waitpid(pid[i], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			k->outcome[i] = FAILED;
	return 0;
}

int main(void)
{
	struct kitchen *k;
	int backed, cooked, i;

	/* Children leave with _exit(), which skips stdio's flush. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(30);
	k = mmap(NULL, sizeof(*k), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (k == MAP_FAILED) {
		perror("mmap");
		return 1;
	}

	printf("1) Cook 1 takes knife then pot, cook 2 pot then knife.\n");
	if (run(k, false) != 0)
		return 1;
	for (backed = i = 0; i < 2; i++) {
		if (k->outcome[i] == FAILED)
			return 1;
		backed += k->outcome[i] == BACKED_OFF;
	}
	/* Both may back off, or one backs off and the other then gets both:
	 * either way the cycle was seen instead of hanging (the first to
	 * give up must: each waited for what the other held). */
	if (backed == 0) {
		printf("FAILED: the crossed order should have timed out\n");
		return 1;
	}
	printf("  => deadlock detected: %d cook(s) timed out and backed off\n\n",
	       backed);

	printf("2) Lock ordering: both cooks take the knife first.\n");
	if (run(k, true) != 0)
		return 1;
	for (cooked = i = 0; i < 2; i++)
		cooked += k->outcome[i] == COOKED;
	if (cooked != 2) {
		printf("FAILED: with one order both cooks should cook\n");
		return 1;
	}
	printf("  => both cooked, nobody waited in a cycle.\nOK\n");
	return 0;
}
