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

Test(robust_hostile, a_plain_mutex_made_robust_keeps_its_links_unread, .timeout = 20)
{
	conc_mutex *m = shared_alloc(sizeof(*m));
	void *nowhere = (void *)16;	/* below vm.mmap_min_addr */

	cr_assert_not_null(m);
	cr_assert_eq(conc_mutex_lock(m), 0);
	/* A peer turns the held plain mutex robust, links to nowhere. */
	__atomic_fetch_or(&m->flags, CONC_ROBUST, __ATOMIC_RELAXED);
	m->robust_prev = m->robust_next = nowhere;
	cr_assert_eq(conc_mutex_unlock(m), 0);
	cr_assert_eq(m->word, 0);
	struct robust_list_head *h = my_list();
	cr_assert_eq((void *)h->list.next, (void *)&h->list);
	shared_free(m, sizeof(*m));
}

/*
 * A peer rewrites the flags, the count, the context or the word of a robust
 * mutex we hold: whatever the unlock then says, the mutex must leave our
 * robust list, or the list would name memory we unmap next, and the next
 * robust lock would write there.
 */
Test(robust_hostile, rewrites_never_leave_a_mutex_on_our_list, .timeout = 20)
{
	conc_mutex mine;

	cr_assert_eq(conc_mutex_init(&mine, CONC_ROBUST), 0);
	for (int kind = 0; kind < 5; kind++) {
		conc_mutex *m = shared_alloc(sizeof(*m));
		int r;

		cr_assert_not_null(m);
		cr_assert_eq(conc_mutex_init(m, CONC_ROBUST |
					     (kind == 1 ? CONC_RECURSIVE : 0)), 0);
		cr_assert_eq(conc_mutex_lock(m), 0);
		switch (kind) {
		case 0: __atomic_fetch_and(&m->flags, ~CONC_ROBUST, __ATOMIC_RELAXED); break;
		case 1: m->count = 5; break;
		case 2: m->ctx = 77; break;
		case 3: __atomic_store_n(&m->word, 1, __ATOMIC_RELAXED); break;
		case 4: __atomic_fetch_or(&m->flags, CONC_RECURSIVE, __ATOMIC_RELAXED);
			m->count = 1; break;
		}
		r = conc_mutex_unlock(m);
		cr_assert(r == 0 || r == -EPERM, "kind %d: %d", kind, r);
		if (kind != 3)
			cr_assert_eq(r, 0, "kind %d: our own mutex", kind);
		struct robust_list_head *h = my_list();
		cr_assert_eq((void *)h->list.next, (void *)&h->list,
			     "kind %d: still on the list", kind);
		shared_free(m, sizeof(*m));
		cr_assert_eq(conc_mutex_lock(&mine), 0);
		cr_assert_eq(conc_mutex_unlock(&mine), 0);
	}
}
