/* tests/loop_helpers.h — what the loop tests share: skip without io_uring,
 * run a main task and check conc_run itself worked. */
#ifndef CONC_TEST_LOOP_HELPERS_H
#define CONC_TEST_LOOP_HELPERS_H

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

/* main's exit code; conc_run itself must succeed. */
static HELPER_UNUSED int run(int (*main)(void *), void *arg)
{
	int code = -12345, r = conc_run(main, arg, &code);

	cr_assert_eq(r, 0, "conc_run: %s", strerror(-r));
	return code;
}

#endif
