/*
 * Threads and malloc: a program that keeps starting more threads at once
 * than conc parks (16) has most of them end for real. glibc frees the
 * malloc cache (tcache: its table and the chunks it holds) only of the
 * threads pthread_create made; a conc thread's must not be lost when it
 * ends, or such a program's heap grows with every thread it ever ran;
 * and the state a new thread takes up is in the global locale.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <locale.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <conc.h>
#include "helpers.h"
#if defined(__SANITIZE_ADDRESS__)
/* sanitizer/allocator_interface.h, which gcc does not ship */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#define THREADS	48	/* at once: 32 more than park */
#define ROUNDS	25
#define WARM	5

static conc_event go;

/* Fill the cache: 7 chunks (tcache's default count) of 16 sizes each,
 * freed into it, which is what a thread holds when it ends. */
static int fill_cache(void *arg)
{
	void *p[16][7];

	(void)arg;
	if (conc_event_wait(&go, 60000000000LL))
		return 1;
	for (int s = 0; s < 16; s++)
		for (int k = 0; k < 7; k++) {
			p[s][k] = malloc(24 + 32 * (size_t)s);
			if (!p[s][k])
				return 2;
			memset(p[s][k], s, 24);
		}
	for (int s = 0; s < 16; s++)
		for (int k = 0; k < 7; k++)
			free(p[s][k]);
	return 0;
}

/* THREADS threads running fn together (each waits for go), so that each
 * is a kernel task of its own, then joined: all but the 16 that park end.
 * Each must return 0. */
static void run_together(int (*fn)(void *))
{
	conc_thread *t[THREADS];
	int code;

	conc_event_clear(&go);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(conc_thread_start(&t[i], fn, NULL, NULL), 0);
	conc_event_set(&go);
	for (int i = 0; i < THREADS; i++) {
		cr_assert_eq(conc_thread_join(t[i], &code, 60000000000LL), 0);
		cr_assert_eq(code, 0);
	}
}

static size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 m = mallinfo2();

	return m.uordblks;
#endif
}

/* Each round ends 32 threads holding about 30 KiB of cached chunks each:
 * lost, the heap grows by about 1 MiB a round (20 MiB over the rounds
 * measured); handed on to the threads started next, it stays where the
 * first rounds left it. However late the ending threads hand theirs on, a
 * thread starts with a state of its own only while none is waiting, so
 * at most 80 states (48 running, 32 ending) ever exist: 2.4 MiB, most of
 * it there by the fifth round. */
Test(thread_malloc, threads_that_end_leave_no_malloc_cache_behind, .timeout = 300)
{
	size_t before = 0, after;

	for (int r = 0; r < ROUNDS; r++) {
		run_together(fill_cache);
		if (r == WARM - 1)
			before = heap_in_use();
	}
	after = heap_in_use();
	cr_assert_lt(after, before + (4u << 20),
		     "the heap grew from %zu to %zu bytes over %d rounds",
		     before, after, ROUNDS - WARM);
}

static locale_t job_locale;

/* Ends using a locale that the program frees once it has joined it. */
static int use_locale(void *arg)
{
	(void)arg;
	if (conc_event_wait(&go, 60000000000LL))
		return 1;
	uselocale(job_locale);
	free(malloc(100));
	return 0;
}

/* Under a uselocale(3)'d locale (freed since), a thread reads the
 * global one, whether it is a new one, a reused one or one that took up
 * the state of one that ended. */
static int reads_global_locale(void *arg)
{
	(void)arg;
	if (conc_event_wait(&go, 60000000000LL))
		return 3;
	if (uselocale((locale_t)0) != LC_GLOBAL_LOCALE)
		return 1;
	return isalpha('a') && toupper('a') == 'A' ? 0 : 2;
}

Test(thread_malloc, a_taken_up_state_is_in_the_global_locale, .timeout = 120)
{
	job_locale = newlocale(LC_CTYPE_MASK, "C", (locale_t)0);
	cr_assert(job_locale);
	run_together(use_locale);
	freelocale(job_locale);
	run_together(reads_global_locale);
}
