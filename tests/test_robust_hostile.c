/* test_robust_hostile.c — a robust mutex's list links live in shared memory:
 * a peer that rewrites them must not steer the owner's unlock into writing
 * where it chooses, and owner death must still be reported. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <conc.h>
#include "helpers.h"

static void *volatile canary[2];

struct seg {
	conc_mutex m[3];
	conc_event ready;
};

/* A peer (a fork, so it knows our addresses) points the links of held
 * mutex i at our private canary. */
static void peer_rewrites(conc_mutex *m)
{
	pid_t pid = test_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		m->robust_prev = (void *)&canary[1];
		m->robust_next = (void *)&canary[1];
		_exit(0);
	}
	cr_assert(exited_with(wait_child(pid, 5000), 0));
}

static struct robust_list_head *my_list(void)
{
	struct robust_list_head *h;
	size_t len;

	cr_assert_eq(syscall(SYS_get_robust_list, 0, &h, &len), 0);
	return h;
}

Test(robust_hostile, rewritten_links_do_not_steer_the_unlock, .timeout = 20)
{
	struct seg *s = shared_alloc(sizeof(*s));

	cr_assert_not_null(s);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(conc_mutex_init(&s->m[i], CONC_ROBUST), 0);
	canary[0] = canary[1] = (void *)0x5a5a;
	for (int i = 0; i < 3; i++)
		cr_assert_eq(conc_mutex_lock(&s->m[i]), 0);
	peer_rewrites(&s->m[1]);	/* the middle one: both neighbours */
	peer_rewrites(&s->m[2]);	/* the newest: its prev is the head */
	cr_assert_eq(conc_mutex_unlock(&s->m[1]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[2]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	cr_assert_eq(canary[0], (void *)0x5a5a);
	cr_assert_eq(canary[1], (void *)0x5a5a, "the unlock wrote through a forged link");
	struct robust_list_head *h = my_list();
	cr_assert_eq((void *)h->list.next, (void *)&h->list, "the list is not empty");
	cr_assert_null(h->list_op_pending);
	shared_free(s, sizeof(*s));
}

Test(robust_hostile, death_is_still_reported_after_a_rewrite, .timeout = 20)
{
	struct seg *s = shared_alloc(sizeof(*s));
	pid_t pid;

	cr_assert_not_null(s);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(conc_mutex_init(&s->m[i], CONC_ROBUST), 0);
	cr_assert_eq(conc_event_init(&s->ready, 0), 0);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (int i = 0; i < 3; i++)
			if (conc_mutex_lock(&s->m[i]))
				_exit(10 + i);
		/* Our own peer scribbles on m[0]'s links; we let go of m[1]
		 * and keep m[0] and m[2]. */
		s->m[0].robust_prev = (void *)&canary[1];
		if (conc_mutex_unlock(&s->m[1]))
			_exit(20);
		conc_event_set(&s->ready);
		for (;;)
			pause();
	}
	cr_assert_eq(conc_event_wait(&s->ready, 10000000000LL), 0);
	kill(pid, SIGKILL);
	cr_assert(killed_by(wait_child(pid, 5000), SIGKILL));
	cr_assert_eq(conc_mutex_lock(&s->m[1]), 0);
	cr_assert_eq(conc_mutex_lock(&s->m[2]), -EOWNERDEAD);
	cr_assert_eq(conc_mutex_lock(&s->m[0]), -EOWNERDEAD);
	shared_free(s, sizeof(*s));
}
