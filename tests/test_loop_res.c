/* test_loop_res — what conc_run leaves behind: nothing that grows. A
 * thousand loops one after the other, with tasks of every kind, keep the
 * heap, the fds and the mappings where they were; the stacks of a loop
 * with thousands of tasks go back to the kernel when it ends. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
#include "loop_helpers.h"
#if defined(__SANITIZE_ADDRESS__)
/* sanitizer/allocator_interface.h, which gcc does not ship */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

static size_t heap_bytes(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
#endif
}

static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;

	cr_assert(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* Resident memory in KiB. */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;

	cr_assert(f);
	cr_assert_eq(fscanf(f, "%ld %ld", &size, &res), 2);
	fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int blocking(void *arg)
{
	(void)arg;
	return 7;
}

static int naps(void *arg)
{
	(void)arg;
	return conc_sleep(MS);
}

static int forever(void *arg)
{
	(void)arg;
	return conc_sleep(BOUND);
}

static int echo_once(void *arg)
{
	int *sv = arg;
	char c = 'x';

	if (conc_write(sv[0], &c, 1, BOUND) != 1 || conc_read(sv[1], &c, 1, BOUND) != 1)
		return -1;
	return 0;
}

static void called(void *arg)
{
	(void)arg;
	conc_yield();
}

/* Tasks of every kind: own and shared stacks, I/O, a thread, a call
 * through the door, and two left running for conc_run to cancel. */
static int mixed(void *arg)
{
	conc_task_attr sh = { .shared_stack = true };
	conc_task *t[5];
	int sv[2], r = -1, codes[3];

	(void)arg;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	if (conc_go(&t[0], naps, NULL, NULL) || conc_go(&t[1], naps, NULL, &sh) ||
	    conc_go(&t[2], echo_once, sv, NULL) || conc_go(&t[3], forever, NULL, NULL) ||
	    conc_go(&t[4], forever, NULL, &sh))
		return -2;
	if (conc_to_thread(blocking, NULL, &r, BOUND) || r != 7)
		return -3;
	if (conc_loop_call(conc_loop_self(), called, NULL))
		return -4;
	r = conc_gather(t, 3, codes, 0, BOUND);
	close(sv[0]);
	close(sv[1]);
	return r;
}

Test(loop_res, a_thousand_runs_leave_nothing_behind, .timeout = 120)
{
	size_t heap0, heap1;
	int fds0, maps0;

	need_uring();
	/* The first runs make what is kept for good: the to_thread worker,
	 * libc's buffers, a door, the tables. */
	for (int i = 0; i < 20; i++)
		cr_assert_eq(run(mixed, NULL), 0);
	heap0 = heap_bytes();
	fds0 = count_fds();
	maps0 = count_maps();
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(run(mixed, NULL), 0, "run %d", i);
	heap1 = heap_bytes();
	cr_log_info("heap %zu -> %zu bytes, fds %d -> %d, maps %d -> %d",
		    heap0, heap1, fds0, count_fds(), maps0, count_maps());
	cr_assert_eq(count_fds(), fds0, "fds");
	/* The smallest leak, a 32-byte chunk a run, would be 32,000: allow
	 * the noise (glibc counts the chunks in its per-thread caches as in
	 * use; a to_thread worker more), not a leak per run. */
	cr_assert_lt(heap1, heap0 + 16384, "heap %zu -> %zu", heap0, heap1);
	/* A to_thread call may find the last worker not parked yet and start
	 * another: up to 16 park (a stack and its guard each). A mapping a
	 * run would be 1,000. */
	cr_assert_leq(count_maps(), maps0 + 2 + 2 * 16, "mappings");
}

#define MANY 5000

static int deep(void *arg)
{
	volatile char buf[12 << 10];

	(void)arg;
	buf[0] = 1;
	buf[sizeof(buf) - 1] = 1;
	return conc_sleep(MS) + buf[0] - 1;
}

struct many {
	long rss_inside;
	int maps_inside;
};

static int many_main(void *arg)
{
	struct many *m = arg;
	conc_task_attr sh = { .shared_stack = true };
	conc_task **ts = calloc(2 * MANY, sizeof(*ts));

	if (!ts)
		return -1;
	for (int i = 0; i < 2 * MANY; i++)
		if (conc_go(&ts[i], deep, NULL, i % 2 ? &sh : NULL))
			return -2;
	conc_yield();	/* all have started: their stacks are touched */
	m->rss_inside = rss_kib();
	m->maps_inside = count_maps();
	if (conc_gather(ts, 2 * MANY, NULL, 0, BOUND))
		return -3;
	free(ts);
	return 0;
}

Test(loop_res, the_stacks_go_back_when_the_last_loop_ends, .timeout = 60)
{
	struct many m = { 0, 0 };
	long rss0;
	int maps0;

	need_uring();
	/* A first round makes what is kept: the heap's own mappings (ASan's
	 * allocator never unmaps its regions). */
	cr_assert_eq(run(many_main, &m), 0);
	/* The shared-stack tasks' saved stacks were malloc'd, 60 MB: what
	 * glibc keeps of them after free is not the loop's (some builds keep
	 * it all, as in a Debian root under chroot). */
	malloc_trim(0);
	rss0 = rss_kib();
	maps0 = count_maps();
	for (int round = 0; round < 2; round++) {
		cr_assert_eq(run(many_main, &m), 0);
		malloc_trim(0);
		cr_log_info("round %d: rss %ld -> %ld -> %ld KiB, maps %d -> %d -> %d",
			    round, rss0, m.rss_inside, rss_kib(), maps0,
			    m.maps_inside, count_maps());
		/* 5,000 own stacks, 16 KiB touched each: 80 MB while it ran */
		cr_assert_gt(m.rss_inside, rss0 + MANY * 12, "the stacks were touched");
		cr_assert_leq(count_maps(), maps0 + 2, "the slabs are unmapped");
#if !defined(__SANITIZE_ADDRESS__)
		/* (ASan keeps the shadow of the stacks and its quarantine) */
		cr_assert_lt(rss_kib(), rss0 + 8 * 1024, "their memory went back");
#endif
	}
}

/* A stale handle of an ended loop is told apart from the loop that came
 * next on the same thread (which reuses its door). */
static conc_loop *first_loop;

static void never(void *arg)
{
	*(int *)arg = 1;
}

static int save_self(void *arg)
{
	(void)arg;
	first_loop = conc_loop_self();
	return first_loop ? 0 : -1;
}

static int call_stale(void *arg)
{
	int r = conc_loop_call(first_loop, never, arg);

	conc_sleep(MS);
	return r;
}

Test(loop_res, a_stale_handle_does_not_reach_the_next_loop, .timeout = 30)
{
	int called_flag = 0;

	need_uring();
	cr_assert_eq(run(save_self, NULL), 0);
	cr_assert_eq(conc_loop_call(first_loop, never, &called_flag), -EPIPE);
	cr_assert_eq(run(call_stale, &called_flag), -EPIPE);
	cr_assert_eq(called_flag, 0);
}

/* A gather across two loops that timed out gives back the tasks that had
 * ended meanwhile: nobody joins them again, so their loop's conc_run must
 * (it took them for a joiner's and left them, one handle a run). */
struct across {
	conc_task *other;	/* a task of the second loop, running on */
	conc_event ready, stop;
};

static int waits_for_stop(void *arg)
{
	struct across *x = arg;

	return conc_event_wait(&x->stop, BOUND);
}

static int second_loop(void *arg)
{
	struct across *x = arg;

	if (conc_go(&x->other, waits_for_stop, x, NULL))
		return -1;
	conc_event_set(&x->ready);
	if (conc_event_wait(&x->stop, BOUND))
		return -2;
	return conc_task_join(x->other, NULL, BOUND);
}

static int second_thread(void *arg)
{
	int code = -1, r = conc_run(second_loop, arg, &code);

	return r ? r : code;
}

static int gives_up(void *arg)
{
	struct across *x = arg;
	conc_task *ts[2];

	if (conc_go(&ts[0], blocking, NULL, NULL))
		return -1;
	ts[1] = x->other;
	/* ts[0] ends at once, x->other never: the deadline comes. */
	return conc_gather(ts, 2, NULL, 0, 1 * MS) == -ETIMEDOUT ? 0 : -2;
}

Test(loop_res, a_gather_across_loops_that_timed_out_leaves_nothing, .timeout = 60)
{
	struct across x;
	conc_thread *th;
	size_t heap0, heap1;
	int code = -1;

	need_uring();
	memset(&x, 0, sizeof(x));
	cr_assert_eq(conc_thread_start(&th, second_thread, &x, NULL), 0);
	cr_assert_eq(conc_event_wait(&x.ready, BOUND), 0);
	for (int i = 0; i < 20; i++)
		cr_assert_eq(run(gives_up, &x), 0);
	heap0 = heap_bytes();
	for (int i = 0; i < 300; i++)
		cr_assert_eq(run(gives_up, &x), 0, "run %d", i);
	heap1 = heap_bytes();
	conc_event_set(&x.stop);
	cr_assert_eq(conc_thread_join(th, &code, BOUND), 0);
	cr_assert_eq(code, 0);
	/* A handle a run would be 72,000 bytes. */
	cr_assert_lt(heap1, heap0 + 16384, "heap %zu -> %zu", heap0, heap1);
}
