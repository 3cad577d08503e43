/* demo: the steamed-bun shop: two bakers and two customers share a basket of 5 through conc_sem and conc_mutex */
/*
 * Producer/consumer with threads. Two bakers (producers) put steamed buns
 * into a basket that holds 5; two customers (consumers) take them out.
 * Two counting semaphores do the waiting: `free` counts the empty places
 * (a baker waits on it when the basket is full), `buns` the buns in the
 * basket (a customer waits on it when the basket is empty). A mutex guards
 * the basket itself, a ring of 5 slots, while a bun goes in or out.
 *
 * Python's version polls queue.qsize() and sleeps; here nobody polls: a
 * full basket puts the baker to sleep in the kernel until a customer takes
 * a bun, and the other way round. At the end every bun baked was eaten
 * exactly once, and the basket never held more than 5.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <conc.h>

#define BASKET	5
#define BAKERS	2
#define EATERS	2
#define EACH	12	/* buns per baker; eaters share them evenly */
#define TOTAL	(BAKERS * EACH)

struct shop {
	conc_sem free, buns;	/* empty places, buns in the basket */
	conc_mutex lock;	/* the basket: ring, count, most */
	int ring[BASKET];
	int head, count, most;
	int eaten[TOTAL];	/* how many times bun i was eaten */
};

struct person {
	struct shop *shop;
	const char *name;
	int id;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Bun numbers: baker b bakes b*EACH .. b*EACH+EACH-1. */
static int baker(void *arg)
{
	struct person *p = arg;
	struct shop *s = p->shop;

	for (int i = 0; i < EACH; i++) {
		int bun = p->id * EACH + i, n;

		sleep_ms(5 + (bun * 7) % 20);	/* steaming takes a while */
		if (conc_sem_trywait(&s->free) == -EAGAIN) {
			printf("  %s: the basket is full, waiting for a customer\n",
			       p->name);
			conc_sem_wait(&s->free);
		}
		conc_mutex_lock(&s->lock);
		s->ring[(s->head + s->count) % BASKET] = bun;
		n = ++s->count;
		if (n > s->most)
			s->most = n;
		/* Told under the lock, so the story keeps the basket's order. */
		printf("  %s: bun %2d into the basket (%d in it)\n", p->name, bun, n);
		conc_mutex_unlock(&s->lock);
		conc_sem_post(&s->buns);
	}
	return EACH;
}

static int customer(void *arg)
{
	struct person *p = arg;
	struct shop *s = p->shop;
	int ate = 0;

	for (int i = 0; i < TOTAL / EATERS; i++) {
		int bun, n;

		if (conc_sem_trywait(&s->buns) == -EAGAIN) {
			printf("  %s: no buns, hurry up, I'm starving...\n", p->name);
			conc_sem_wait(&s->buns);
		}
		conc_mutex_lock(&s->lock);
		bun = s->ring[s->head];
		s->head = (s->head + 1) % BASKET;
		n = --s->count;
		s->eaten[bun]++;
		printf("  %s: takes bun %2d (%d left)\n", p->name, bun, n);
		conc_mutex_unlock(&s->lock);
		conc_sem_post(&s->free);
		ate++;
		sleep_ms(10 + (bun * 11) % 30);	/* eating takes a while too */
	}
	return ate;
}

int main(void)
{
	const char *why;
	static struct shop s;
	struct person people[BAKERS + EATERS] = {
		{ &s, "baker Li", 0 }, { &s, "baker Zhang", 1 },
		{ &s, "customer A", 0 }, { &s, "customer B", 1 },
	};
	conc_thread *t[BAKERS + EATERS];
	int baked = 0, ate = 0, r, code, ok = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	conc_sem_init(&s.free, BASKET, CONC_PRIVATE);
	if (conc_thread_support(&why)) {
		printf("no conc threads with this C library (%s): %s\n", why,
		       "see bun_queue for processes");
		return 0;
	}
	conc_sem_init(&s.buns, 0, CONC_PRIVATE);
	conc_mutex_init(&s.lock, CONC_PRIVATE);

	printf("The shop opens: a basket for %d buns, %d bakers baking %d each, "
	       "%d customers.\n", BASKET, BAKERS, EACH, EATERS);
	for (int i = 0; i < BAKERS + EATERS; i++) {
		conc_thread_attr a = { .name = people[i].name };

		r = conc_thread_start(&t[i], i < BAKERS ? baker : customer,
				      &people[i], &a);
		if (r) {
			printf("conc_thread_start: %s\n", strerror(-r));
			return 1;
		}
	}
	for (int i = 0; i < BAKERS + EATERS; i++) {
		r = conc_thread_join(t[i], &code, 10 * 1000000000LL);
		if (r) {
			printf("conc_thread_join: %s\n", strerror(-r));
			return 1;
		}
		if (i < BAKERS)
			baked += code;
		else
			ate += code;
	}

	printf("  => baked %d, eaten %d, at most %d in the basket at once, "
	       "%d left in it\n", baked, ate, s.most, s.count);
	for (int bun = 0; bun < TOTAL; bun++)
		if (s.eaten[bun] != 1) {
			printf("FAILED: bun %d eaten %d times\n", bun, s.eaten[bun]);
			ok = 0;
		}
	if (baked != TOTAL || ate != TOTAL || s.most > BASKET || s.count != 0 ||
	    conc_sem_value(&s.free) != BASKET || conc_sem_value(&s.buns) != 0) {
		printf("FAILED: expected %d baked and eaten, at most %d in the "
		       "basket, none left\n", TOTAL, BASKET);
		ok = 0;
	}
	if (!ok)
		return 1;
	printf("OK: every bun was eaten exactly once; the basket never held "
	       "more than %d.\n", BASKET);
	return 0;
}
