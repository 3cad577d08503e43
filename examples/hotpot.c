/* demo: hotpot: friends wait on a conc_event until the host calls them to eat */
/*
 * Friends sit at the table and wait; the host watches the pot come to the
 * boil (a progress bar), then sets the event and every waiting friend wakes
 * at once. A conc_event is a flag in shared memory: waiting for it costs no
 * CPU, and setting it wakes all waiters, past and future.
 *
 * Friends are processes sharing an anonymous MAP_SHARED page (hotpot_threads.c
 * tells it with threads, as the seed does). Their wait is bounded so that a bug cannot hang the demo.
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

#define FRIENDS	3
#define STEPS	10
#define MS	1000000LL

struct table {
	conc_event dinner;	/* zeroed by mmap: a valid event, not set */
	int called;		/* the host raised it just before setting dinner */
	int fed[FRIENDS];
};

static const char *name[FRIENDS] = { "tom", "cherry", "lao wang" };

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int wait_for_dinner(struct table *t, int i)
{
	int r;

	printf("  %s has arrived and sits at the table, waiting\n", name[i]);
	/* The host calls after ~0.5 s; 10 s means something is broken. */
	r = conc_event_wait(&t->dinner, 10000 * MS);
	if (r != 0) {
		printf("  %s: conc_event_wait: %s\n", name[i], strerror(-r));
		return 1;
	}
	/* A wake-up before the host's call would be a broken event. */
	if (!__atomic_load_n(&t->called, __ATOMIC_SEQ_CST)) {
		printf("  %s woke up before the call!\n", name[i]);
		return 1;
	}
	printf("  %s got the call: %s starts eating!\n", name[i], name[i]);
	t->fed[i] = 1;
	return 0;
}

int main(void)
{
	struct table *t;
	pid_t pid[FRIENDS];
	int i, r, st, fed = 0, bad = 0;

	/* Children leave with _exit(), which skips stdio's flush. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(30);
	t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED) {
		perror("mmap");
		return 1;
	}

	printf("The host invites %d friends to hotpot.\n", FRIENDS);
	for (i = 0; i < FRIENDS; i++) {
		fflush(stdout);	/* or the child would print our buffer again */
		pid[i] = fork();
		if (pid[i] < 0) {
			perror("fork");
			return 1;
		}
		if (pid[i] == 0) {
			alarm(30);	/* watchdog: a bug must fail, not hang */
			_exit(wait_for_dinner(t, i));
		}
	}

	sleep_ms(50);	/* let the friends sit down before the bar starts */
	for (i = 0; i < STEPS; i++) {
		sleep_ms(50);
		printf("  %.*s%.*s\n", i + 1, ">>>>>>>>>>", STEPS - 1 - i, "----------");
	}
	printf("--->>> the host tells everyone to start eating\n");
	__atomic_store_n(&t->called, 1, __ATOMIC_SEQ_CST);
	if ((r = conc_event_set(&t->dinner)) != 0) {
		printf("conc_event_set: %s\n", strerror(-r));
		return 1;
	}

	for (i = 0; i < FRIENDS; i++) {
		if (waitpid(pid[i], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			bad = 1;
		fed += t->fed[i];
	}
	printf("  => %d of %d friends got the call\n", fed, FRIENDS);
	if (bad || fed != FRIENDS) {
		printf("FAILED: every friend must get the call, and only after it\n");
		return 1;
	}
	printf("OK\n");
	return 0;
}
