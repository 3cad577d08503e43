/* tests/loop_helpers.h — what the loop tests share: skip without io_uring,
 * run a main task and check conc_run itself worked, run a body with and
 * without IORING_OP_FUTEX_WAIT. */
#ifndef CONC_TEST_LOOP_HELPERS_H
#define CONC_TEST_LOOP_HELPERS_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <conc.h>
#include "helpers.h"

#define MS	1000000LL
#define SEC	1000000000LL
#define BOUND	(10 * SEC)	/* every wait is bounded: a hang fails */

static HELPER_UNUSED void need_uring(void)
{
	if (!(conc_features() & CONC_FEAT_IO_URING))
		cr_skip_test("io_uring is not available in this kernel");
}

/* With IORING_OP_FUTEX_WAIT (false where the kernel lacks it: skip that
 * round) or with the fallback of kernels before 6.7, forced through
 * CONC_LOOP_NO_FUTEX_OP; read when a loop starts. */
static HELPER_UNUSED bool futex_mode(int fallback)
{
	need_uring();
	if (!fallback && !(conc_features() & CONC_FEAT_URING_FUTEX))
		return false;
	if (fallback)
		setenv("CONC_LOOP_NO_FUTEX_OP", "1", 1);
	else
		unsetenv("CONC_LOOP_NO_FUTEX_OP");
	return true;
}

/* The same for a whole test: it skips where the kernel lacks the opcode. */
static HELPER_UNUSED void futex_mode_or_skip(int fallback)
{
	if (!futex_mode(fallback))
		cr_skip_test("IORING_OP_FUTEX_WAIT needs Linux 6.7");
}

/* The body once in each futex mode that this kernel can run. */
#define EACH_FUTEX_MODE(fb) for ((fb) = 0; (fb) < 2; (fb)++) if (futex_mode(fb))

/* A suite's .fini: the loop's own choice of opcodes again. */
static HELPER_UNUSED void plain_mode(void)
{
	unsetenv("CONC_LOOP_NO_FUTEX_OP");
	unsetenv("CONC_LOOP_NO_WAITID_OP");
}

/* A ticker task's body: count every millisecond until *stop, so a test
 * sees that the loop went on while another of its tasks waited. -1 when
 * a sleep failed (the task was cancelled). */
static HELPER_UNUSED int tick_until(uint32_t *ticks, const uint32_t *stop)
{
	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		__atomic_fetch_add(ticks, 1, __ATOMIC_RELEASE);
		if (conc_sleep(1000000))
			return -1;
	}
	return 0;
}

/* main's exit code; conc_run itself must succeed. */
static HELPER_UNUSED int run(int (*main)(void *), void *arg)
{
	int code = -12345, r = conc_run(main, arg, &code);

	cr_assert_eq(r, 0, "conc_run: %s", strerror(-r));
	return code;
}

/* Inside a loop: run f and g as two tasks of it and join both; 0 when
 * both returned 0, else 1 (a start failed), 2 (a join) or 3 (an exit
 * code). */
static HELPER_UNUSED int go_two(int (*f)(void *), int (*g)(void *), void *arg)
{
	conc_task *a, *b;
	int ca = -1, cb = -1;

	if (conc_go(&a, f, arg, NULL) || conc_go(&b, g, arg, NULL))
		return 1;
	if (conc_task_join(a, &ca, BOUND) || conc_task_join(b, &cb, BOUND))
		return 2;
	return ca || cb ? 3 : 0;
}

#endif
