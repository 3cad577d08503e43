/* demo: queue.Queue between two conc threads: a baker puts steamed buns in a basket of 5, a customer takes them, the basket closes when the baking is done */
/*
 * The seed's producer/consumer as it is written there: from queue import
 * Queue, one producer thread and one consumer thread. A conc_queue is
 * that Queue: made anonymous (no name under /dev/shm), it is shared by
 * the threads of this process; a capacity of 5 is the basket. The seed's
 * producer polls qsize() and sleeps when the basket is full; here
 * conc_queue_put() itself waits for room, and conc_queue_size() is only
 * printed. When the baker is done it closes the queue: the customer takes
 * what is left, then its get returns -EPIPE, the end, which the seed's
 * endless loops never reach. bun_shop.c builds the basket from a conc_sem
 * and a conc_mutex, bun_queue.c shares the queue between processes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <conc.h>

#define BUNS	12
#define MS	1000000LL

static conc_queue *basket;

static void pause_ms(long ms)
{
	struct timespec ts = { 0, ms * MS };

	nanosleep(&ts, NULL);
}

static int producer(void *arg)
{
	char bun[32];
	int n, r;

	(void)arg;
	for (n = 1; n <= BUNS; n++) {
		snprintf(bun, sizeof(bun), "steamed bun %d", n);
		/* Waits while the basket holds 5 (bounded: nothing may hang). */
		if ((r = conc_queue_put(basket, bun, strlen(bun) + 1, 5000 * MS)))
			return r;
		printf("  baker: made %s (%zd in the basket)\n", bun,
		       conc_queue_size(basket));
		pause_ms(n % 3 ? 5 : 30);
	}
	printf("  baker: done for the day, closing the basket\n");
	return conc_queue_close(basket);
}

static int consumer(void *arg)
{
	char bun[32];
	ssize_t n;
	int eaten = 0;

	(void)arg;
	while ((n = conc_queue_get(basket, bun, sizeof(bun), 5000 * MS)) > 0) {
		printf("  customer: took %s\n", bun);
		eaten++;
		pause_ms(eaten % 4 ? 20 : 1);
	}
	printf("  customer: the basket is closed and empty (%s)\n", strerror((int)-n));
	return n == -EPIPE ? eaten : -1;
}

int main(void)
{
	conc_queue_attr attr = { .capacity = 5, .max_msg = 32 };
	conc_thread *baker, *customer;
	const char *why;
	int r, made = -1, eaten = -1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (conc_thread_support(&why)) {
		printf("no conc threads with this C library (%s): see bun_queue\n", why);
		return 0;
	}
	if ((r = conc_queue_create(&basket, &attr))) {
		printf("conc_queue_create: %s\n", strerror(-r));
		return 1;
	}
	if ((r = conc_thread_start(&baker, producer, NULL, NULL)) ||
	    (r = conc_thread_start(&customer, consumer, NULL, NULL))) {
		printf("conc_thread_start: %s\n", strerror(-r));
		return 1;
	}
	if (conc_thread_join(baker, &made, 30000 * MS) ||
	    conc_thread_join(customer, &eaten, 30000 * MS)) {
		printf("FAILED: a thread did not end\n");
		return 1;
	}
	conc_queue_destroy(basket);
	if (made != 0 || eaten != BUNS) {
		printf("FAILED: baker %d, %d buns eaten of %d\n", made, eaten, BUNS);
		return 1;
	}
	printf("OK: %d buns baked and eaten\n", BUNS);
	return 0;
}
