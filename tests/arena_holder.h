/*
 * arena_holder.h — a peer process that holds a map's or a list's lock
 * (struct arena, reached through its own mapping of the segment) for as
 * long as the test says, then lets go or dies holding it: what a stopped
 * or hostile peer does to everyone else. Include after helpers.h.
 */
#ifndef TEST_ARENA_HOLDER_H
#define TEST_ARENA_HOLDER_H

#include <stdbool.h>
#include <stdint.h>
#include <conc.h>
#include "ipc/arena.h"
#include "helpers.h"

struct holder {
	pid_t pid;
	uint32_t *f;	/* shared: [0] locked, [1] go on, [2] die holding */
};

static HELPER_UNUSED struct holder hold_arena(struct arena *a)
{
	struct holder h = { 0, shared_alloc(3 * sizeof(uint32_t)) };

	cr_assert_not_null(h.f);
	h.pid = test_fork();
	cr_assert_geq(h.pid, 0);
	if (h.pid == 0) {
		if (conc_mutex_lock(&a->lock))
			_exit(1);
		set_flag(&h.f[0], 1);
		/* Bounded: a test that never says go does not leave us. */
		if (!wait_flag(&h.f[1], 30000))
			_exit(2);
		if (!__atomic_load_n(&h.f[2], __ATOMIC_ACQUIRE))
			conc_mutex_unlock(&a->lock);
		_exit(0);
	}
	cr_assert(wait_flag(&h.f[0], 10000), "the holder took the lock");
	return h;
}

/* Let the holder go on (unlock) or die holding the lock; reap it. */
static HELPER_UNUSED void release_arena(struct holder h, bool die)
{
	set_flag(&h.f[2], die);
	set_flag(&h.f[1], 1);
	cr_assert(exited_with(wait_child(h.pid, 10000), 0));
	shared_free(h.f, 3 * sizeof(uint32_t));
}

#endif
