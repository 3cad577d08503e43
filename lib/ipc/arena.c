/*
 * The arena's lock and undo journal (see arena.h for the protocol).
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include "arena.h"
#include "sys/sys.h"
#include "wait/wait.h"

#ifdef CONC_FAULT_INJECTION
unsigned long __conc_fi_arena_kill_at;
unsigned long __conc_fi_arena_points;
unsigned __conc_fi_arena_flags;

void __conc_arena_fi_point(void)
{
	if (__conc_fi_arena_kill_at &&
	    ++__conc_fi_arena_points == __conc_fi_arena_kill_at)
		sys_kill(sys_getpid(), SIGKILL);
}
#endif

static void put_word(uint64_t *w, uint64_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELAXED);
}

static uint64_t get_word(const uint64_t *w)
{
	return __atomic_load_n(w, __ATOMIC_RELAXED);
}

/* A word a call may change: the allocator's, or one past the arena's
 * header; never the lock or the journal. */
static bool word_ok(const struct arena *a, uint64_t off)
{
	if (off & 7)
		return false;
	if (off == offsetof(struct arena, used) ||
	    (off >= offsetof(struct arena, free) &&
	     off < offsetof(struct arena, free) + sizeof(a->free)))
		return true;
	return off >= sizeof(*a) && off <= a->size - 8;
}

void __conc_arena_set(struct arena *a, uint64_t *w, uint64_t v)
{
	uint64_t n = a->jstate;

#ifdef CONC_FAULT_INJECTION
	if (__conc_fi_arena_flags & CONC_FI_ARENA_NO_UNDO) {
		put_word(w, v);
		__conc_arena_fi_point();
		return;
	}
#endif
	/* Overflow would be a bug in a caller's bound, and an unjournaled
	 * store a silent corruption for everyone after a crash. */
	if (n >= ARENA_JMAX)
		__builtin_trap();
	a->j[n].off = __conc_arena_off(a, w);
	a->j[n].old = get_word(w);
	/* The entry, then the length that makes it count, then the store
	 * it guards: an undo never meets a half-written entry, and a store
	 * is never made without its entry counted. */
	__conc_arena_barrier();
	put_word(&a->jstate, n + 1);
	__conc_arena_barrier();
	__conc_arena_fi_point();
	put_word(w, v);
	__conc_arena_barrier();
	__conc_arena_fi_point();
}

void __conc_arena_commit(struct arena *a, uint64_t state)
{
	__conc_arena_barrier();
	put_word(&a->jstate, state);
	__conc_arena_barrier();
	__conc_arena_fi_point();
}

/* Newest first, so a word journaled twice ends with its oldest value. A
 * death half way leaves the length alone: the next undo starts over and
 * writes the same values again. */
static int undo(struct arena *a)
{
	uint64_t n = get_word(&a->jstate), i;

	if (n > ARENA_JMAX)
		return -EPROTO;
	for (i = n; i-- > 0;)
		if (!word_ok(a, a->j[i].off))
			return -EPROTO;
	for (i = n; i-- > 0;) {
		put_word(__conc_arena_at(a, a->j[i].off), a->j[i].old);
		__conc_arena_barrier();
		__conc_arena_fi_point();
	}
	__conc_arena_commit(a, 0);
	return 0;
}

void __conc_arena_rollback(struct arena *a)
{
	undo(a);
}

static int recover(struct arena *a, arena_redo_fn redo)
{
	uint64_t s = get_word(&a->jstate);
	int r = 0;

	if (s & ARENA_REDO) {
		if (!redo || (s & ~ARENA_REDO))
			return -EPROTO;
		redo(a);
		__conc_arena_commit(a, 0);
	} else if (s) {
		r = undo(a);
	} else {
		return 0;	/* died before its first change, or after commit */
	}
	if (!r)
		a->recovered++;
	return r;
}

int __conc_arena_lock(struct arena *a, arena_redo_fn redo)
{
	int r = conc_mutex_lock(&a->lock);

	if (r != -EOWNERDEAD)
		return r;
	a->deaths++;
	r = recover(a, redo);
	if (r) {
		/* Unlocked without being made consistent: every later lock
		 * gets -ENOTRECOVERABLE instead of trusting the data. */
		conc_mutex_unlock(&a->lock);
		return r;
	}
	return conc_mutex_consistent(&a->lock);
}

void __conc_arena_unlock(struct arena *a)
{
	conc_mutex_unlock(&a->lock);
}
