/* test_coro.c — the coroutine floor: context switch, stacks. Nothing is
 * asserted on a coroutine's stack (a failed assertion unwinds the test
 * thread): coroutines record, the test's own context asserts. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "helpers.h"
#include "coro_probe.h"
#include "loop/coro.h"
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
