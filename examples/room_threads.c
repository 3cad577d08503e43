/* demo: a room that admits two at a time: threading.Semaphore(2) and 7 visitor threads, as a conc_sem and conc threads */
/*
 * The seed's Semaphore example as it is written there, with threads:
 * seven visitors, home(name, se) takes a permit, stays a moment, gives it
 * back. Each visitor counts itself in and out, and the largest crowd seen
 * proves the semaphore never let a third one in. room.c tells the same
 * with processes sharing a page.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <conc.h>

#define VISITORS	7
#define CAPACITY	2
#define MS		1000000LL

static conc_sem se;
static int inside, most;

static int home(void *arg)
{
	int i = (int)(long)arg, n, m, r;
	struct timespec stay = { 0, 50 * MS };

	/* acquire(), bounded so that a bug fails instead of hanging. */
	if ((r = conc_sem_timedwait(&se, 5000 * MS)) != 0)
		return r;
	n = __atomic_add_fetch(&inside, 1, __ATOMIC_SEQ_CST);
	m = __atomic_load_n(&most, __ATOMIC_SEQ_CST);
	while (n > m && !__atomic_compare_exchange_n(&most, &m, n, 0,
			__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	printf("  tom %d gets into the room (%d inside)\n", i, n);
	nanosleep(&stay, NULL);
	printf("  *** tom %d is out of the room\n", i);
	__atomic_sub_fetch(&inside, 1, __ATOMIC_SEQ_CST);
	return conc_sem_post(&se);	/* release() */
}

int main(void)
{
	conc_thread *t[VISITORS];
	const char *why;
	int i, r, code, bad = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (conc_thread_support(&why)) {
		printf("no conc threads with this C library (%s): see room\n", why);
		return 0;
	}
	conc_sem_init(&se, CAPACITY, CONC_PRIVATE);	/* Semaphore(2) */
	for (i = 0; i < VISITORS; i++)
		if ((r = conc_thread_start(&t[i], home, (void *)(long)i, NULL))) {
			printf("conc_thread_start: %s\n", strerror(-r));
			return 1;
		}
	for (i = 0; i < VISITORS; i++)
		if ((r = conc_thread_join(t[i], &code, 10000 * MS)) || code) {
			printf("tom %d: %s\n", i, strerror(r ? -r : -code));
			bad = 1;
		}
	printf("  => at most %d inside at once, %d permits free\n", most,
	       conc_sem_value(&se));
	if (bad || most > CAPACITY || conc_sem_value(&se) != CAPACITY) {
		printf("FAILED: at most %d at a time, and every permit back\n", CAPACITY);
		return 1;
	}
	printf("OK\n");
	return 0;
}
