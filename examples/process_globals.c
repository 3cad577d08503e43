/* demo: a global variable is not shared between processes: a child's changes stay in the child, unless the data lives in a conc_shm segment */
/*
 * The seed's warning before its multiprocessing.Queue example: data that
 * looks like a global variable is copied into each process, which then
 * runs on its own copy. Three children each add 10 to a global counter and
 * see their own total; the parent, after joining them, still sees 0. The
 * same counter in an anonymous conc_shm segment (memfd, mapped shared, so
 * children forked after it see the very same bytes), guarded by a
 * conc_mutex that lives there too, ends at 30. To pass messages instead of
 * sharing bytes, see process_queue.c and pipe_greeting.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <conc.h>

#define SEC	1000000000LL
#define KIDS	3

static int counter;		/* each process has its own */

struct shared {
	conc_mutex lock;	/* zeroed: valid between processes */
	int counter;
};

static struct shared *sh;

static int child(void *arg)
{
	int i, r;

	(void)arg;
	for (i = 0; i < 10; i++) {
		counter++;
		if ((r = conc_mutex_timedlock(&sh->lock, 5 * SEC)))
			return 1;
		sh->counter++;
		conc_mutex_unlock(&sh->lock);
	}
	printf("  child pid %d: my global counter is %d\n", (int)getpid(), counter);
	return 0;
}

int main(void)
{
	conc_proc *p[KIDS];
	conc_shm *seg;
	int i, r, st, total, bad = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((r = conc_shm_create(&seg, NULL, sizeof(*sh), CONC_SHM_RAW, 0))) {
		printf("conc_shm_create: %s\n", strerror(-r));
		return 1;
	}
	sh = conc_shm_data(seg);
	for (i = 0; i < KIDS; i++)
		if ((r = conc_proc_start(&p[i], child, NULL, NULL))) {
			printf("conc_proc_start: %s\n", strerror(-r));
			return 1;
		}
	for (i = 0; i < KIDS; i++) {
		if ((r = conc_proc_join(p[i], &st, 10 * SEC)) || !WIFEXITED(st) ||
		    WEXITSTATUS(st))
			bad = 1;
		if (!r)
			conc_proc_release(p[i]);
	}
	printf("parent: global counter %d (the children changed their copies)\n",
	       counter);
	total = sh->counter;
	printf("parent: counter in the shared segment %d\n", total);
	conc_shm_close(seg);
	if (bad || counter != 0 || total != KIDS * 10) {
		printf("FAILED\n");
		return 1;
	}
	printf("OK\n");
	return 0;
}
