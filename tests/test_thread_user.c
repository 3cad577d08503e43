/*
 * Threads as a user's program meets them: an empty name.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/prctl.h>
#include <conc.h>
#include "helpers.h"

static int name_is(void *want)
{
	char n[17] = { 0 };

	prctl(PR_GET_NAME, n);
	return strcmp(n, want) == 0 ? 0 : 1;
}

static int run_named(const char *name, const char *want)
{
	conc_thread_attr a = { .name = name };
	conc_thread *t;
	int code = -1;

	cr_assert_eq(conc_thread_start(&t, name_is, (void *)want, &a), 0);
	cr_assert_eq(conc_thread_join(t, &code, 10000000000LL), 0);
	return code;
}

/* An empty name is an empty name, as the reused thread of test_thread's
 * names_show_in_proc_comm shows: on a new thread too (which kept its
 * creator's, the name it was cloned with). */
Test(thread_name, empty_on_a_new_thread_and_a_reused_one, .timeout = 30)
{
	cr_assert_eq(prctl(PR_SET_NAME, "maker"), 0);
	cr_assert_eq(run_named("", ""), 0, "a new thread kept its creator's name");
	cr_assert_eq(run_named("other", "other"), 0);
	cr_assert_eq(run_named("", ""), 0);
	cr_assert_eq(run_named(NULL, "maker"), 0);
}
