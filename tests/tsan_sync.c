/*
 * ThreadSanitizer check of the sync primitives (Criterion cannot run under
 * TSan, so this is a plain program). Threads are pthreads, which TSan
 * knows; the data each primitive protects is touched with plain loads and
 * stores, so a missing happens-before edge in conc shows up as a race.
 * Exit 0 when every result is exact and TSan reported nothing.
 */
#include <conc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define T 4
#define N 20000

static conc_mutex mu;
static conc_mutex rmu;
static conc_rwlock rw;
static conc_sem items, slots;
static conc_mutex ring_lock;
static conc_cond cv;
static conc_barrier bar;
static conc_once_t once = CONC_ONCE_INIT;
static conc_event ev;
static long counter, rcounter, rwdata[8], ring[16], produced, consumed;
static int ring_head, ring_tail, cv_count, once_runs, ev_payload;
static long bar_data[T];

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "tsan_sync: %s:%d: %s\n", \
	__FILE__, __LINE__, #c); exit(1); } } while (0)

static void init_once(void) { once_runs++; }

static void *worker(void *arg)
{
	long id = (long)arg, sum;

	CHECK(conc_once(&once, init_once) == 0);
	for (int i = 0; i < N; i++) {
		CHECK(conc_mutex_lock(&mu) == 0);
		counter++;
		CHECK(conc_mutex_unlock(&mu) == 0);
		CHECK(conc_mutex_lock(&rmu) == 0);
		CHECK(conc_mutex_lock(&rmu) == 0);
		rcounter++;
		CHECK(conc_mutex_unlock(&rmu) == 0);
		CHECK(conc_mutex_unlock(&rmu) == 0);
		if (i % 8 == 0) {
			CHECK(conc_rwlock_wrlock(&rw) == 0);
			for (int k = 0; k < 8; k++)
				rwdata[k]++;
			CHECK(conc_rwlock_unlock(&rw) == 0);
		} else {
			CHECK(conc_rwlock_rdlock(&rw) == 0);
			sum = 0;
			for (int k = 1; k < 8; k++)
				sum += rwdata[k] - rwdata[0];
			CHECK(sum == 0);
			CHECK(conc_rwlock_unlock(&rw) == 0);
		}
	}
	/* Bounded ring: producers are even ids, consumers odd. */
	for (int i = 0; i < N / 4; i++) {
		if (id % 2 == 0) {
			CHECK(conc_sem_wait(&slots) == 0);
			CHECK(conc_mutex_lock(&ring_lock) == 0);
			ring[ring_tail++ % 16] = i + 1;
			produced += i + 1;
			CHECK(conc_mutex_unlock(&ring_lock) == 0);
			CHECK(conc_sem_post(&items) == 0);
		} else {
			CHECK(conc_sem_wait(&items) == 0);
			CHECK(conc_mutex_lock(&ring_lock) == 0);
			consumed += ring[ring_head++ % 16];
			CHECK(conc_mutex_unlock(&ring_lock) == 0);
			CHECK(conc_sem_post(&slots) == 0);
		}
	}
	/* Condition: everyone waits for everyone. */
	CHECK(conc_mutex_lock(&mu) == 0);
	cv_count++;
	CHECK(conc_cond_broadcast(&cv) == 0);
	while (cv_count < T)
		CHECK(conc_cond_wait(&cv, &mu, CONC_FOREVER) == 0);
	CHECK(conc_mutex_unlock(&mu) == 0);
	/* Barrier: what one round writes, the next reads. */
	for (int round = 1; round <= 50; round++) {
		bar_data[id] = round * 10 + id;
		CHECK(conc_barrier_wait(&bar) >= 0);
		for (int k = 0; k < T; k++)
			CHECK(bar_data[k] == round * 10 + k);
		CHECK(conc_barrier_wait(&bar) >= 0);
	}
	if (id == 1) {
		CHECK(conc_event_wait(&ev, CONC_FOREVER) == 0);
		CHECK(ev_payload == 42);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[T];

	CHECK(conc_mutex_init(&rmu, CONC_RECURSIVE | CONC_PRIVATE) == 0);
	CHECK(conc_sem_init(&slots, 16, CONC_PRIVATE) == 0);
	CHECK(conc_barrier_init(&bar, T, 0) == 0);
	for (long i = 0; i < T; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
	ev_payload = 42;
	CHECK(conc_event_set(&ev) == 0);
	for (int i = 0; i < T; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	CHECK(counter == (long)T * N && rcounter == (long)T * N);
	CHECK(produced == consumed && once_runs == 1);
	puts("tsan_sync: ok");
	return 0;
}
