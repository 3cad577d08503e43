/* demo: the steamed-bun shop between processes: two bakers and two customers share a conc_queue of 5, closed when the baking is done */
/*
 * The seed's producer/consumer, with processes and a real queue. Two baker
 * processes put steamed buns (small byte messages) into a conc_queue that
 * holds 5; two customer processes take them out. The queue does all the
 * waiting: a baker whose put finds the basket full sleeps in the kernel
 * until a customer takes a bun, and a customer whose get finds it empty
 * sleeps until a bun arrives.
 *
 * Python's version polls queue.qsize() and sleeps, and never ends. Here the
 * last baker to finish closes the queue: no sentinel "no more buns"
 * message is needed. A closed queue refuses new buns, but customers still
 * get every bun already in it; only then does a get return -EPIPE, and
 * each customer goes home. At the end every bun baked was eaten exactly
 * once and the basket never held more than 5.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <conc.h>

#define BASKET	5
#define BAKERS	2
#define EATERS	2
#define EACH	10	/* buns per baker */
#define TOTAL	(BAKERS * EACH)
#define SEC	1000000000LL

/* Bookkeeping the processes share, in an anonymous conc_shm segment. */
struct ledger {
	int bakers_done;
	int most;		/* most buns seen in the basket */
	int eaten[TOTAL];	/* how many times bun i was eaten */
};

/* A bun on the wire: its number and who baked it. */
struct bun {
	int id;
	char baker[16];
};

static conc_queue *basket;
static struct ledger *ledger;
static const char *const bakers[BAKERS] = { "baker Li", "baker Zhang" };
static const char *const eaters[EATERS] = { "customer A", "customer B" };

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void note_size(void)
{
	int n = (int)conc_queue_size(basket), m;

	m = __atomic_load_n(&ledger->most, __ATOMIC_RELAXED);
	while (n > m && !__atomic_compare_exchange_n(&ledger->most, &m, n, 0,
						     __ATOMIC_RELAXED,
						     __ATOMIC_RELAXED))
		;
}

/* Baker b bakes buns b*EACH .. b*EACH+EACH-1. */
static int baker(void *arg)
{
	int b = (int)(long)arg, r;

	for (int i = 0; i < EACH; i++) {
		struct bun bun = { .id = b * EACH + i };

		snprintf(bun.baker, sizeof(bun.baker), "%s", bakers[b]);
		sleep_ms(5 + (bun.id * 7) % 20);	/* steaming takes a while */
		/* Told before the put, so no customer is seen to eat it first. */
		printf("  %s: bun %2d is ready\n", bakers[b], bun.id);
		/* Try without waiting; if the basket is full, say so and wait
		 * as long as it takes. */
		r = conc_queue_put(basket, &bun, sizeof(bun), 0);
		if (r == -ETIMEDOUT) {
			printf("  %s: the basket is full, waiting for a customer\n",
			       bakers[b]);
			r = conc_queue_put(basket, &bun, sizeof(bun), CONC_FOREVER);
		}
		if (r) {
			printf("  %s: conc_queue_put: %s\n", bakers[b], strerror(-r));
			return 100;
		}
		note_size();
	}
	/* The last baker out closes the shop's basket: no more buns. */
	if (__atomic_add_fetch(&ledger->bakers_done, 1, __ATOMIC_SEQ_CST) == BAKERS) {
		printf("  %s: that was the last bun; closing the basket\n", bakers[b]);
		if ((r = conc_queue_close(basket))) {
			printf("  conc_queue_close: %s\n", strerror(-r));
			return 100;
		}
	}
	return 0;
}

static int customer(void *arg)
{
	int c = (int)(long)arg, ate = 0;
	struct bun bun;
	ssize_t n;

	for (;;) {
		n = conc_queue_get(basket, &bun, sizeof(bun), 0);
		if (n == -ETIMEDOUT) {
			printf("  %s: no buns, hurry up, I'm starving...\n", eaters[c]);
			n = conc_queue_get(basket, &bun, sizeof(bun), CONC_FOREVER);
		}
		if (n == -EPIPE) {
			printf("  %s: the basket is closed and empty: going home "
			       "after %d buns\n", eaters[c], ate);
			return ate;
		}
		if (n != (ssize_t)sizeof(bun) || bun.id < 0 || bun.id >= TOTAL) {
			printf("  %s: conc_queue_get: %s\n", eaters[c],
			       n < 0 ? strerror((int)-n) : "a strange bun");
			return 255;
		}
		__atomic_add_fetch(&ledger->eaten[bun.id], 1, __ATOMIC_RELAXED);
		ate++;
		printf("  %s: takes bun %2d from %s\n", eaters[c], bun.id, bun.baker);
		sleep_ms(10 + (bun.id * 11) % 30);	/* eating takes a while too */
	}
}

static int fail(const char *what, int r)
{
	printf("%s: %s\n", what, strerror(-r));
	return 1;
}

int main(void)
{
	conc_queue_attr qa = { .capacity = BASKET, .max_msg = sizeof(struct bun) };
	conc_proc *p[BAKERS + EATERS];
	conc_shm *seg;
	int ate = 0, r, st, ok = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Both are anonymous: the children started below share them. */
	if ((r = conc_queue_create(&basket, &qa)))
		return fail("conc_queue_create", r);
	if ((r = conc_shm_create(&seg, NULL, sizeof(*ledger), CONC_SHM_RAW, 0)))
		return fail("conc_shm_create", r);
	ledger = conc_shm_at(seg, 0, sizeof(*ledger), _Alignof(struct ledger));

	printf("The shop opens: a basket (a conc_queue) for %d buns, %d baker "
	       "processes baking %d each, %d customer processes.\n",
	       BASKET, BAKERS, EACH, EATERS);
	for (int i = 0; i < BAKERS + EATERS; i++) {
		conc_proc_attr a = { .name = i < BAKERS ? bakers[i] : eaters[i - BAKERS] };

		r = i < BAKERS ? conc_proc_start(&p[i], baker, (void *)(long)i, &a)
			       : conc_proc_start(&p[i], customer,
						 (void *)(long)(i - BAKERS), &a);
		if (r)
			return fail("conc_proc_start", r);
	}
	for (int i = 0; i < BAKERS + EATERS; i++) {
		if ((r = conc_proc_join(p[i], &st, 10 * SEC))) {
			for (int j = i; j < BAKERS + EATERS; j++)
				conc_proc_kill(p[j], SIGKILL);
			return fail("conc_proc_join", r);
		}
		if (!WIFEXITED(st) || (i < BAKERS && WEXITSTATUS(st) != 0) ||
		    (i >= BAKERS && WEXITSTATUS(st) > TOTAL)) {
			printf("FAILED: %s ended badly (status 0x%x)\n",
			       i < BAKERS ? bakers[i] : eaters[i - BAKERS], st);
			ok = 0;
		} else if (i >= BAKERS) {
			ate += WEXITSTATUS(st);
		}
		conc_proc_release(p[i]);
	}

	printf("  => baked %d, eaten %d, at most %d in the basket at once, "
	       "%zd left in it\n", TOTAL, ate, ledger->most,
	       conc_queue_size(basket));
	for (int bun = 0; bun < TOTAL; bun++)
		if (ledger->eaten[bun] != 1) {
			printf("FAILED: bun %d eaten %d times\n", bun,
			       ledger->eaten[bun]);
			ok = 0;
		}
	r = conc_queue_put(basket, "late bun", 8, 0);
	printf("  a late put into the closed basket: %s\n", strerror(-r));
	if (ate != TOTAL || ledger->most > BASKET || conc_queue_size(basket) != 0 ||
	    ledger->bakers_done != BAKERS || r != -EPIPE) {
		printf("FAILED: expected %d buns eaten, at most %d in the basket, "
		       "none left, and -EPIPE after the close\n", TOTAL, BASKET);
		ok = 0;
	}
	conc_queue_destroy(basket);
	conc_shm_close(seg);
	if (!ok)
		return 1;
	printf("OK: every bun was eaten exactly once, the basket never held more "
	       "than %d, and the customers left when it was closed and empty.\n",
	       BASKET);
	return 0;
}
