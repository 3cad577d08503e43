/* demo: a room that admits two at a time: a conc_sem of 2 shared by 7 visitor processes */
/*
 * Seven visitors want to spend a moment in a room that holds two. A counting
 * semaphore with two permits is the doorman: entering takes a permit, leaving
 * gives it back. The visitors count themselves in and out of the room with an
 * atomic counter, and record the largest crowd they ever saw, so the parent
 * can check the doorman never let a third one in.
 *
 * Visitors are processes sharing an anonymous MAP_SHARED page;
 * room_threads.c tells it with threads, as the seed does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <conc.h>

#define VISITORS	7
#define CAPACITY	2
#define MS		1000000LL

struct room {
	conc_sem door;
	int inside;		/* visitors in the room now */
	int most;		/* the largest crowd ever seen */
	int visited;		/* visitors who got in and out */
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int visit(struct room *rm, int i)
{
	int r, n, most;

	/* Bounded: with 7 visitors of 100 ms and 2 places, 10 s is plenty
	 * even on a loaded machine. */
	if ((r = conc_sem_timedwait(&rm->door, 10000 * MS)) != 0) {
		printf("  tom %d: waiting at the door: %s\n", i, strerror(-r));
		return 1;
	}
	n = __atomic_add_fetch(&rm->inside, 1, __ATOMIC_SEQ_CST);
	most = __atomic_load_n(&rm->most, __ATOMIC_SEQ_CST);
	while (n > most && !__atomic_compare_exchange_n(&rm->most, &most, n, 0,
			__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;	/* most was reloaded: another visitor raised it */
	printf("  tom %d enters the room   (%d inside)\n", i, n);
	sleep_ms(100);
	n = __atomic_sub_fetch(&rm->inside, 1, __ATOMIC_SEQ_CST);
	printf("  *** tom %d leaves the room (%d inside)\n", i, n);
	__atomic_add_fetch(&rm->visited, 1, __ATOMIC_SEQ_CST);
	/* Leave the room before giving the permit back, or the next visitor
	 * could count itself in while we are still counted. */
	if ((r = conc_sem_post(&rm->door)) != 0) {
		printf("  tom %d: conc_sem_post: %s\n", i, strerror(-r));
		return 1;
	}
	return 0;
}

int main(void)
{
	struct room *rm;
	pid_t pid[VISITORS];
	int i, r, st, bad = 0;

	/* Children leave with _exit(), which skips stdio's flush. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(30);
	rm = mmap(NULL, sizeof(*rm), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rm == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if ((r = conc_sem_init(&rm->door, CAPACITY, 0)) != 0) {
		printf("conc_sem_init: %s\n", strerror(-r));
		return 1;
	}

	printf("%d visitors, a room for %d, each stays 100 ms.\n", VISITORS, CAPACITY);
	for (i = 0; i < VISITORS; i++) {
		fflush(stdout);	/* or the child would print our buffer again */
		pid[i] = fork();
		if (pid[i] < 0) {
			perror("fork");
			return 1;
		}
		if (pid[i] == 0) {
			alarm(30);	/* watchdog: a bug must fail, not hang */
			_exit(visit(rm, i));
		}
	}
	for (i = 0; i < VISITORS; i++)
		if (waitpid(pid[i], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			bad = 1;

	printf("  => %d of %d visited, at most %d inside at once, %d permits free\n",
	       rm->visited, VISITORS, rm->most, conc_sem_value(&rm->door));
	if (bad || rm->visited != VISITORS || rm->most > CAPACITY ||
	    conc_sem_value(&rm->door) != CAPACITY) {
		printf("FAILED: the room must hold at most %d and everyone "
		       "must get in\n", CAPACITY);
		return 1;
	}
	printf("OK: never more than %d in the room.\n", CAPACITY);
	return 0;
}
