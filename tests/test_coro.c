/* test_coro.c — the coroutine floor: context switch, stacks. Nothing is
 * asserted on a coroutine's stack (a failed assertion unwinds the test
 * thread): coroutines record, the test's own context asserts. */
#include <criterion/criterion.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <conc.h>
#include "helpers.h"
#include "coro_probe.h"
#include "loop/coro.h"
#include "loop/stack_impl.h"
#include "sys/sys.h"

static struct __conc_coro_ctx main_ctx, co_ctx;

/* ---- registers and FP control words across a switch ------------------ */

#define ROUNDS 4
static uint64_t co_out[ROUNDS][PROBE_N], co_vals[ROUNDS][PROBE_N];
static uint64_t co_entry_fpctl[PROBE_FPCTL_N];

static void regs_co(void *arg)
{
	(void)arg;
	probe_read_fpctl(co_entry_fpctl);
	for (int r = 0; r < ROUNDS; r++) {
		probe_fill(co_vals[r], 1, r);
		regs_switch(&co_ctx, &main_ctx, co_out[r], co_vals[r]);
	}
	for (;;)
		__conc_coro_switch(&co_ctx, &main_ctx);
}

Test(coro, switch_keeps_callee_saved_and_fp_control, .timeout = 10)
{
	struct __conc_stack s;
	uint64_t vals[PROBE_N], out[PROBE_N], before[PROBE_FPCTL_N],
		after[PROBE_FPCTL_N];

	cr_assert_eq(__conc_stack_get(&s, 0), 0);
	probe_read_fpctl(before);
	__conc_coro_init(&co_ctx, s.hi, regs_co, NULL);
	for (int r = 0; r < ROUNDS; r++) {
		probe_fill(vals, 0, r);
		memset(out, 0, sizeof(out));
		regs_switch(&main_ctx, &co_ctx, out, vals);
		for (int i = 0; i < PROBE_N; i++)
			cr_assert_eq(out[i], vals[i], "main, round %d, reg %d: %#llx != %#llx",
				     r, i, (unsigned long long)out[i],
				     (unsigned long long)vals[i]);
	}
	__conc_coro_switch(&main_ctx, &co_ctx);	/* let it see its last round */
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < PROBE_N; i++)
			cr_assert_eq(co_out[r][i], co_vals[r][i],
				     "coroutine, round %d, reg %d: %#llx != %#llx", r, i,
				     (unsigned long long)co_out[r][i],
				     (unsigned long long)co_vals[r][i]);
	probe_read_fpctl(after);
	for (int i = 0; i < PROBE_FPCTL_N; i++) {
		cr_assert_eq(after[i], before[i]);
		cr_assert_eq(co_entry_fpctl[i], before[i], "a new context starts "
			     "with its creator's FP control words");
	}
	__conc_stack_put(&s);
}

/* ---- ping-pong -------------------------------------------------------- */

#define PINGS 1000000
static long turn, co_bad;

static void pong_co(void *arg)
{
	long *n = arg;

	for (;;) {
		if (turn != 2 * *n + 1)
			co_bad++;
		turn++;
		++*n;
		__conc_coro_switch(&co_ctx, &main_ctx);
	}
}

Test(coro, ping_pong_a_million_times, .timeout = 60)
{
	struct __conc_stack s;
	long n = 0;

	cr_assert_eq(__conc_stack_get(&s, 0), 0);
	turn = co_bad = 0;
	__conc_coro_init(&co_ctx, s.hi, pong_co, &n);
	for (long i = 0; i < PINGS; i++) {
		cr_assert_eq(turn, 2 * i);
		turn++;
		__conc_coro_switch(&main_ctx, &co_ctx);
	}
	cr_assert_eq(turn, 2L * PINGS);
	cr_assert_eq(n, PINGS);
	cr_assert_eq(co_bad, 0);
	__conc_stack_put(&s);
}

/* ---- entry: argument, alignment, libc on the new stack --------------- */

struct entry_rec {
	struct __conc_coro_ctx ctx;
	void *self;
	uintptr_t frame;
	char text[64];
};

static void entry_co(void *arg)
{
	struct entry_rec *e = arg;

	e->self = e;
	e->frame = (uintptr_t)__builtin_frame_address(0);
	/* varargs with doubles: misaligned SSE spills would fault here */
	snprintf(e->text, sizeof(e->text), "%s %.3f %Lf", "coro", 2.5, 1.25L);
	for (;;)
		__conc_coro_switch(&e->ctx, &main_ctx);
}

Test(coro, entry_gets_its_argument_on_an_aligned_stack, .timeout = 10)
{
	struct __conc_stack s[2];
	struct entry_rec e[2];

	for (int i = 0; i < 2; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		cr_assert_eq(__conc_stack_get(&s[i], 0), 0);
		/* a top that is not 16-aligned: the callee aligns it */
		__conc_coro_init(&e[i].ctx, s[i].hi - 8 * i, entry_co, &e[i]);
	}
	for (int i = 1; i >= 0; i--) {
		__conc_coro_switch(&main_ctx, &e[i].ctx);
		cr_assert_eq(e[i].self, &e[i]);
		cr_assert_eq(e[i].frame % 16, 0, "frame %#lx", (unsigned long)e[i].frame);
		cr_assert(e[i].frame < (uintptr_t)s[i].hi &&
			  e[i].frame > (uintptr_t)s[i].lo, "runs on its own stack");
		cr_assert_str_eq(e[i].text, "coro 2.500 1.250000");
	}
	for (int i = 0; i < 2; i++)
		__conc_stack_put(&s[i]);
}

/* ---- stacks ----------------------------------------------------------- */

Test(coro_stack, default_is_usable_and_guarded, .timeout = 10)
{
	struct __conc_stack s;
	pid_t pid;
	int st;

	cr_assert_eq(__conc_stack_get(&s, 0), 0);
	cr_assert_geq(s.hi - s.lo, 64 << 10);
	cr_assert_eq((uintptr_t)s.hi % 16, 0);
	memset(s.lo, 0xa5, (size_t)(s.hi - s.lo));
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct sys_sigaction dfl = { .handler = SIG_DFL };

		sys_sigaction(SIGSEGV, &dfl, NULL);	/* ASan's, past its interceptor */
		((volatile char *)s.lo)[-1] = 1;
		_exit(0);
	}
	st = wait_child(pid, 10000);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
		  "a write below lo faults (status %#x)", st);
	__conc_stack_put(&s);
	cr_assert_null(s.slab);
}

Test(coro_stack, sizes, .timeout = 10)
{
	struct __conc_stack s;

	cr_assert_eq(__conc_stack_get(&s, 1), 0, "rounded up");
	cr_assert_geq(s.hi - s.lo, 1);
	s.hi[-1] = 1;
	__conc_stack_put(&s);
	cr_assert_eq(__conc_stack_get(&s, 1u << 20), 0);
	cr_assert_geq(s.hi - s.lo, 1 << 20);
	s.lo[0] = s.hi[-1] = 1;
	__conc_stack_put(&s);
	cr_assert_eq(__conc_stack_get(&s, SIZE_MAX), -EINVAL);
	cr_assert_eq(__conc_stack_get(NULL, 0), -EINVAL);
}

/* ---- slabs ------------------------------------------------------------ */

static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static int by_lo(const void *a, const void *b)
{
	const struct __conc_stack *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* A child that writes at p: did it die of SIGSEGV? */
static int write_faults(char *p)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct sys_sigaction dfl = { .handler = SIG_DFL };

		sys_sigaction(SIGSEGV, &dfl, NULL);
		*(volatile char *)p = 1;
		_exit(0);
	}
	int st = wait_child(pid, 10000);
	return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
}

#define MANY 100000

Test(coro_stack, a_hundred_thousand_at_once_in_few_mappings, .timeout = 120)
{
	struct rlimit rl;
	struct __conc_stack *s = calloc(MANY, sizeof(*s));
	char **first = calloc(MANY, sizeof(*first));
	int m0 = count_maps(), m1, r = 0;
	long i;

	cr_assert(s && first);
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)MANY * (80 << 10) * 2) {
		free(s);
		free(first);
		cr_skip_test("RLIMIT_AS is below 16 GB of address space");
	}
	for (i = 0; i < MANY && (r = __conc_stack_get(&s[i], 0)) == 0; i++)
		;
	if (r == -ENOMEM) {
		while (i-- > 0)
			__conc_stack_put(&s[i]);
		free(s);
		free(first);
		cr_skip_test("no memory for 100,000 stacks (overcommit policy?)");
	}
	m1 = count_maps();
	cr_log_info("100,000 stacks: %d more mappings", m1 - m0);
	cr_assert_lt(m1 - m0, 65530 / 2, "%d mappings", m1 - m0);
	qsort(s, MANY, sizeof(*s), by_lo);
	for (i = 0; i < MANY; i++) {
		cr_assert_eq(s[i].hi - s[i].lo, 64 << 10);
		if (i)
			cr_assert_leq(s[i - 1].hi, s[i].lo, "disjoint");
		if (i % 1000 == 0)
			s[i].hi[-1] = s[i].lo[0] = 1;
	}
	for (i = 0; i < MANY; i++) {
		first[i] = s[i].lo;
		__conc_stack_put(&s[i]);
	}
	for (i = 0; i < MANY; i++)
		cr_assert_eq(__conc_stack_get(&s[i], 0), 0);
	qsort(s, MANY, sizeof(*s), by_lo);
	long again = 0;
	for (long j = i = 0; i < MANY && j < MANY;)	/* both sorted: merge */
		if (s[i].lo == first[j])
			again++, i++, j++;
		else if (s[i].lo < first[j])
			i++;
		else
			j++;
	/* a slab's stacks left over from the first round may come first */
	cr_assert_geq(again, MANY - 256, "the second 100,000 are the first ones "
		      "again: %ld of them", again);
	for (i = 0; i < MANY; i++)
		__conc_stack_put(&s[i]);
	__conc_stack_trim(0);
	free(first);
	free(s);
}

Test(coro_stack, put_then_get_reuses, .timeout = 10)
{
	struct __conc_stack a, b;

	cr_assert_eq(__conc_stack_get(&a, 32 << 10), 0);
	char *lo = a.lo;
	__conc_stack_put(&a);
	cr_assert_eq(__conc_stack_get(&b, 20 << 10), 0, "same class");
	cr_assert_eq(b.lo, lo);
	cr_assert_eq(b.hi - b.lo, 32 << 10);
	__conc_stack_put(&b);
}

Test(coro_stack, guards_between_slab_neighbours, .timeout = 30)
{
	struct __conc_stack s[3];
	size_t g = 16 << 10;

	for (int i = 0; i < 3; i++)
		cr_assert_eq(__conc_stack_get(&s[i], 16 << 10), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert(write_faults(s[i].lo - 1), "just below lo");
		cr_assert(write_faults(s[i].lo - g), "the guard's lowest byte");
	}
	for (int i = 0; i < 3; i++)
		__conc_stack_put(&s[i]);
}

Test(coro_stack, trim_gives_memory_back_and_keeps_guards, .timeout = 30)
{
	struct __conc_stack s[8];

	for (int i = 0; i < 8; i++) {
		cr_assert_eq(__conc_stack_get(&s[i], 0), 0);
		memset(s[i].lo, 0x5a, (size_t)(s[i].hi - s[i].lo));
	}
	for (int i = 0; i < 8; i++)
		__conc_stack_put(&s[i]);
	__conc_stack_trim(0);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(__conc_stack_get(&s[i], 0), 0);
		cr_assert_eq(s[i].lo[100], 0, "zero-filled again");
		cr_assert_eq(s[i].hi[-1], 0);
		cr_assert(write_faults(s[i].lo - 1));
	}
	for (int i = 0; i < 8; i++)
		__conc_stack_put(&s[i]);
}

/* Stacks one thread put come back to another through the pool: past
 * the first thread's cache, or all of them after a trim. */
#define POOLED 1000
static char *pooled[POOLED];

static void *put_many(void *trim)
{
	struct __conc_stack s[POOLED];

	for (int i = 0; i < POOLED; i++)
		if (__conc_stack_get(&s[i], 128 << 10))
			return "get";
	for (int i = 0; i < POOLED; i++) {
		pooled[i] = s[i].lo;
		s[i].lo[0] = 1;
		__conc_stack_put(&s[i]);
	}
	if (trim)
		__conc_stack_trim(0);
	else	/* what a loop does when it ends: nothing lost with the thread */
		__conc_stack_release();
	return NULL;
}

static int in_pooled(const char *lo)
{
	for (int i = 0; i < POOLED; i++)
		if (pooled[i] == lo)
			return 1;
	return 0;
}

static void pool_round(int trim, int want)
{
	struct __conc_stack s[POOLED];
	pthread_t t;
	void *err;
	int from_pool = 0;

	cr_assert_eq(pthread_create(&t, NULL, put_many, trim ? &t : NULL), 0);
	cr_assert_eq(pthread_join(t, &err), 0);
	cr_assert_null(err);
	for (int i = 0; i < want; i++) {
		cr_assert_eq(__conc_stack_get(&s[i], 100 << 10), 0);
		from_pool += in_pooled(s[i].lo);
		if (trim)
			cr_assert_eq(s[i].lo[0], 0, "given back: zero-filled");
	}
	/* the rest of the other thread's last slab may come among them */
	cr_assert_geq(from_pool, want - 64, "%d of %d from the other thread's",
		      from_pool, want);
	for (int i = 0; i < want; i++)
		__conc_stack_put(&s[i]);
}

Test(coro_stack, a_threads_overflow_goes_to_the_pool, .timeout = 30)
{
	pool_round(0, POOLED - 256);
}

Test(coro_stack, trim_gives_them_all_to_the_pool, .timeout = 30)
{
	pool_round(1, POOLED);
}

/* Before Linux 6.13 (forced here): three stacks guarded by mprotect, the
 * rest without a guard but with a canary. In a child: the limits are
 * process-wide. Exit code: the first check that failed. */
static int old_kernel_child(void)
{
	struct __conc_stack s[6];

	__conc_stack_test_limits(1, 3);
	for (int i = 0; i < 6; i++)
		if (__conc_stack_get(&s[i], 128 << 10))
			return 1;
	for (int i = 0; i < 6; i++)
		if (__conc_stack_intact(&s[i]))
			return 2;
	qsort(s, 6, sizeof(*s), by_lo);
	int guarded = 0;
	for (int i = 0; i < 6; i++)
		guarded += write_faults(s[i].lo - 1);
	if (guarded != 3)
		return 10 + guarded;
	for (int i = 0; i < 6; i++)
		if (!write_faults(s[i].lo - 1)) {
			s[i].lo[0] ^= 1;	/* an overflow's mark */
			if (__conc_stack_intact(&s[i]) != -EFAULT)
				return 3;
			s[i].lo[0] ^= 1;
		}
	for (int i = 0; i < 6; i++)
		__conc_stack_put(&s[i]);
	return 0;
}

Test(coro_stack, old_kernel_guards_while_the_budget_lasts, .timeout = 30)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(old_kernel_child());
	int st = wait_child(pid, 20000);
	cr_assert(WIFEXITED(st), "status %#x", st);
	cr_assert_eq(WEXITSTATUS(st), 0, "check %d failed", WEXITSTATUS(st));
}

/* ---- shared stack ------------------------------------------------------ */

#define SHARED_TASKS 3
#define SHARED_ROUNDS 1000

struct sh_task {
	struct __conc_coro_ctx ctx;
	struct __conc_saved_stack sv;
	int id, depth, bad, done;
	size_t max_len;
};

static struct __conc_coro_ctx sched_ctx;

/* Local state at several depths, a pointer into its own frame, and a
 * switch away at the bottom: all must be as they were on resume. */
static int sh_dive(struct sh_task *t, int depth, int round)
{
	volatile int local[40];
	volatile int *self = &local[7];
	int sum = 0;

	for (int i = 0; i < 40; i++)
		local[i] = t->id * 1000000 + depth * 1000 + i;
	if (depth > 0)
		sum = sh_dive(t, depth - 1, round);
	else
		__conc_coro_switch(&t->ctx, &sched_ctx);
	for (int i = 0; i < 40; i++)
		if (local[i] != t->id * 1000000 + depth * 1000 + i)
			t->bad++;
	if (self != &local[7] || *self != t->id * 1000000 + depth * 1000 + 7)
		t->bad++;
	return sum + local[0];
}

static void sh_task_main(void *arg)
{
	struct sh_task *t = arg;

	for (int r = 0; r < SHARED_ROUNDS; r++)
		/* depths vary by task and round: saved lengths grow and shrink */
		sh_dive(t, (t->depth + r * (t->id + 1)) % 24, r);
	t->done = 1;
	for (;;)
		__conc_coro_switch(&t->ctx, &sched_ctx);
}

Test(coro_shared, three_tasks_keep_their_stacks, .timeout = 60)
{
	struct __conc_stack sh;
	struct sh_task t[SHARED_TASKS];
	size_t min_len = SIZE_MAX;

	cr_assert_eq(__conc_stack_get(&sh, 0), 0);
	for (int i = 0; i < SHARED_TASKS; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].id = i + 1;
		t[i].depth = 5 * i;
		__conc_coro_init(&t[i].ctx, sh.hi, sh_task_main, &t[i]);
		cr_assert_eq(__conc_sstack_save(&t[i].sv, &sh, t[i].ctx.sp), 0);
	}
	for (int live = SHARED_TASKS; live;) {
		live = 0;
		for (int i = 0; i < SHARED_TASKS; i++) {
			if (t[i].done)
				continue;
			__conc_sstack_restore(&t[i].sv, &sh);
			__conc_coro_switch(&sched_ctx, &t[i].ctx);
			cr_assert_eq(__conc_sstack_save(&t[i].sv, &sh, t[i].ctx.sp), 0);
			if (t[i].sv.len > t[i].max_len)
				t[i].max_len = t[i].sv.len;
			if (t[i].sv.len < min_len)
				min_len = t[i].sv.len;
			cr_assert_leq(t[i].sv.len, t[i].sv.cap);
			cr_assert_leq(t[i].sv.cap, 2 * t[i].sv.len + 256 + 64, "right-sized");
			live += !t[i].done;
		}
	}
	for (int i = 0; i < SHARED_TASKS; i++) {
		cr_assert_eq(t[i].bad, 0, "task %d lost %d values", i + 1, t[i].bad);
		cr_assert_gt(t[i].max_len, 23 * 40 * sizeof(int), "it did go deep");
		__conc_sstack_free(&t[i].sv);
		cr_assert_null(t[i].sv.buf);
	}
	cr_assert_lt(min_len, 1024, "and shallow: %zu", min_len);
	__conc_stack_put(&sh);
}

Test(coro_shared, save_refuses_a_foreign_sp, .timeout = 10)
{
	struct __conc_stack sh;
	struct __conc_saved_stack sv = { 0 };
	char here;

	cr_assert_eq(__conc_stack_get(&sh, 0), 0);
	cr_assert_eq(__conc_sstack_save(&sv, &sh, &here), -EINVAL);
	cr_assert_eq(__conc_sstack_save(&sv, &sh, sh.lo - 16), -EINVAL);
	cr_assert_eq(__conc_sstack_save(&sv, &sh, sh.hi - 8), -EINVAL, "misaligned");
	cr_assert_eq(__conc_sstack_save(&sv, &sh, sh.hi), 0, "nothing used");
	cr_assert_eq(sv.len, 0);
	__conc_sstack_free(&sv);
	__conc_stack_put(&sh);
}

/* ---- stack overflow report -------------------------------------------- */

static volatile int dive_limit = 1 << 30;

static int dive(int n)
{
	volatile char pad[512];

	pad[0] = (char)n;
	if (n < dive_limit)
		return dive(n + 1) + pad[0];
	return pad[0];
}

static void diver_co(void *arg)
{
	(void)arg;
	dive(0);
	for (;;)
		__conc_coro_switch(&co_ctx, &main_ctx);
}

enum { VIA_CALL, VIA_ENV, NO_GUARD, SHARED = 4 };

/* A child whose task dives until its stack ends; stderr to a pipe. */
static int overflow_child(int how, int err_fd)
{
	int shared = how & SHARED;
	struct __conc_stack s;
	struct __conc_saved_stack sv = { 0 };

	dup2(err_fd, 2);
	how &= ~SHARED;
	if (how == VIA_CALL && conc_loop_guard_install() != 0)
		_exit(20);
	if (how == VIA_ENV)
		setenv("CONC_LOOP_GUARD", "1", 1);
	if (__conc_stack_get(&s, 32 << 10))
		_exit(21);
	__conc_coro_init(&co_ctx, s.hi, diver_co, NULL);
	if (shared && __conc_sstack_save(&sv, &s, co_ctx.sp))
		_exit(22);
	__conc_stack_running(&s, "deep-diver");
	if (shared)
		__conc_sstack_restore(&sv, &s);
	__conc_coro_switch(&main_ctx, &co_ctx);
	return 23;
}

/* Run fn(arg, fd) in a child, fd its stderr; that stderr in out, the
 * child's wait status returned. */
static int run_child(int (*fn)(int, int), int arg, char *out, size_t cap)
{
	int p[2], st;
	ssize_t n, got = 0;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		_exit(fn(arg, p[1]));
	}
	close(p[1]);
	for (char junk[256]; (n = (size_t)got < cap - 1 ?
				 read(p[0], out + got, cap - 1 - (size_t)got) :
				 read(p[0], junk, sizeof(junk))) > 0;)
		if ((size_t)got < cap - 1)
			got += n;	/* the rest drained: no SIGPIPE for a long report */
	out[got] = 0;
	close(p[0]);
	st = wait_child(pid, 20000);
	cr_assert_neq(st, -1, "the child ended");
	return st;
}

static int run_overflow(int how, int shared, char *out, size_t cap)
{
	return run_child(overflow_child, how | (shared ? SHARED : 0), out, cap);
}

Test(coro_guard, overflow_is_reported_with_name_and_address, .timeout = 30)
{
	char out[512];
	int st = run_overflow(VIA_CALL, 0, out, sizeof(out));

	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, out);
	cr_assert_not_null(strstr(out, "conc: task deep-diver overflowed its stack (guard at 0x"),
			   "stderr: %s", out);
}

Test(coro_guard, opt_in_by_environment, .timeout = 30)
{
	char out[512];
	int st = run_overflow(VIA_ENV, 0, out, sizeof(out));

	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x", st);
	cr_assert_not_null(strstr(out, "task deep-diver overflowed"), "stderr: %s", out);
}

Test(coro_guard, overflow_of_a_shared_stack_too, .timeout = 30)
{
	char out[512];
	int st = run_overflow(VIA_CALL, 1, out, sizeof(out));

	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x", st);
	cr_assert_not_null(strstr(out, "task deep-diver overflowed"), "stderr: %s", out);
}

Test(coro_guard, without_opt_in_a_plain_sigsegv, .timeout = 30)
{
	char out[512];
	int st;

	unsetenv("CONC_LOOP_GUARD");
	st = run_overflow(NO_GUARD, 0, out, sizeof(out));
	/* ASan's own handler may report it and exit instead */
	cr_assert(!WIFSIGNALED(st) || WTERMSIG(st) == SIGSEGV, "status %#x", st);
	cr_assert_null(strstr(out, "overflowed"), "stderr: %s", out);
}

static void mine(int sig, siginfo_t *si, void *uc)
{
	static const char m[] = "mine\n";

	(void)sig;
	(void)uc;
	if (write(2, m, sizeof(m) - 1) < 0 || si->si_addr != (void *)16)
		_exit(31);
	_exit(30);
}

static volatile int *volatile bad_ptr_v = (int *)16;
static volatile int *volatile *bad_ptr = &bad_ptr_v;

/* Other faults reach the program's handler, or kill as before. */
static int other_fault_child(int own_handler, int err_fd)
{
	struct __conc_stack s;

	dup2(err_fd, 2);
	if (own_handler) {
		struct sigaction sa = { .sa_sigaction = mine, .sa_flags = SA_SIGINFO };

		sigaction(SIGSEGV, &sa, NULL);
	} else {
		struct sys_sigaction dfl = { .handler = SIG_DFL };

		sys_sigaction(SIGSEGV, &dfl, NULL);	/* not ASan's */
	}
	if (conc_loop_guard_install() || __conc_stack_get(&s, 0))
		return 20;
	__conc_stack_running(&s, "innocent");
	**bad_ptr = 1;
	return 21;
}

static int run_other_fault(int own_handler, char *out, size_t cap)
{
	return run_child(other_fault_child, own_handler, out, cap);
}

Test(coro_guard, other_faults_go_to_the_programs_handler, .timeout = 30)
{
	char out[256];
	int st = run_other_fault(1, out, sizeof(out));

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 30, "status %#x, stderr: %s", st, out);
	cr_assert_str_eq(out, "mine\n");
}

Test(coro_guard, other_faults_kill_as_before, .timeout = 30)
{
	char out[256];
	int st = run_other_fault(0, out, sizeof(out));

	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "status %#x, stderr: %s", st, out);
	cr_assert_str_eq(out, "");
}

/* A program's handler that jumps out of the fault (longjmp, as a checker
 * that probes memory does) with SA_NODEFER: it runs with SIGSEGV not
 * blocked, so it catches the next fault too; and it runs with its sa_mask
 * blocked, as without the report. */
static jmp_buf jump_back;
static volatile sig_atomic_t jumps, segv_blocked, usr1_blocked;

static void jumper(int sig, siginfo_t *si, void *uc)
{
	sigset_t now;

	(void)sig;
	(void)si;
	(void)uc;
	sigprocmask(SIG_BLOCK, NULL, &now);
	segv_blocked += sigismember(&now, SIGSEGV) == 1;
	usr1_blocked += sigismember(&now, SIGUSR1) == 1;
	jumps++;
	longjmp(jump_back, 1);	/* not siglongjmp: the mask stays as it is */
}

static int jumper_child(int guard, int err_fd)
{
	struct sigaction sa = { .sa_sigaction = jumper,
				.sa_flags = SA_SIGINFO | SA_NODEFER };
	struct __conc_stack s;

	dup2(err_fd, 2);
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaction(SIGSEGV, &sa, NULL);
	if (guard && (conc_loop_guard_install() || __conc_stack_get(&s, 0)))
		return 20;
	if (guard)
		__conc_stack_running(&s, "innocent");
	for (int i = 0; i < 3; i++)
		if (!setjmp(jump_back))
			**bad_ptr = 1;
	/* what the handler saw, each of its 3 runs: SIGUSR1 blocked, not
	 * SIGSEGV; after its last jump the mask is the handler's, as left */
	return jumps == 3 && !segv_blocked && usr1_blocked == 3 ? 30 : 40 + jumps;
}

Test(coro_guard, a_handler_with_sa_nodefer_that_jumps_out_catches_every_fault,
     .timeout = 30)
{
	char out[256];
	int st;

	for (int guard = 0; guard < 2; guard++) {
		st = run_child(jumper_child, guard, out, sizeof(out));
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 30,
			  "guard %d: status %#x (exit 41, 42: the handler ran once, twice), stderr: %s",
			  guard, st, out);
	}
}

/* ---- a task starts with its creator's FP control words ---------------- */

static void write_fpctl(const uint64_t *w)
{
#if defined(__x86_64__)
	uint32_t m = (uint32_t)w[0];
	uint16_t c = (uint16_t)w[1];

	__asm__ __volatile__("ldmxcsr %0\n\tfldcw %1" : : "m"(m), "m"(c));
#else
	__asm__ __volatile__("msr fpcr, %0" : : "r"(w[0]));
#endif
}

static uint64_t child_saw[PROBE_FPCTL_N];

static int read_child(void *arg)
{
	(void)arg;
	probe_read_fpctl(child_saw);
	return 0;
}

static int make_child(void *arg)
{
	uint64_t mine[PROBE_FPCTL_N];
	conc_task *t;
	int r;

	(void)arg;
	probe_read_fpctl(mine);
	write_fpctl(probe_fpctl[0]);
	r = conc_go(&t, read_child, NULL, NULL);
	write_fpctl(mine);	/* the child runs later, from other words */
	return r ? r : conc_task_join(t, NULL, 10 * 1000000000LL);
}

Test(coro, a_task_starts_with_its_creators_fp_control_words, .timeout = 30)
{
	int code = -1;

	if (!(conc_features() & CONC_FEAT_IO_URING))
		cr_skip_test("io_uring is not available in this kernel");
	cr_assert_eq(conc_run(make_child, NULL, &code), 0);
	cr_assert_eq(code, 0);
	for (int i = 0; i < PROBE_FPCTL_N; i++)
		cr_assert_eq(child_saw[i], probe_fpctl[0][i], "word %d: %#llx", i,
			     (unsigned long long)child_saw[i]);
}
