/*
 * The arena's lock and undo journal (see arena.h for the protocol), and
 * the checked loads and stores every call makes through it.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include "arena.h"
#include "sync/robust.h"	/* __conc_mutex_lock_until */
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

static uint64_t *at(const struct arena_call *c, uint64_t off)
{
	return (uint64_t *)((char *)c->a + off);
}

static void put_word(uint64_t *w, uint64_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELAXED);
}

/* A word a call may change: the allocator's, or one past the arena's
 * header; never the lock or the journal. */
static bool word_ok(const struct arena_call *c, uint64_t off)
{
	if (off & 7)
		return false;
	if (off == offsetof(struct arena, used) ||
	    (off >= offsetof(struct arena, free) &&
	     off < offsetof(struct arena, free) + sizeof(c->a->free)))
		return true;
	return off >= sizeof(struct arena) && off <= c->size - 8;
}

void __conc_arena_set(struct arena_call *c, uint64_t off, uint64_t v)
{
	struct arena *a = c->a;
	uint64_t n = c->jn;

	if (c->err)
		return;
	if (!word_ok(c, off)) {
		__conc_arena_bad(c);
		return;
	}
#ifdef CONC_FAULT_INJECTION
	if (__conc_fi_arena_flags & CONC_FI_ARENA_NO_UNDO) {
		put_word(at(c, off), v);
		__conc_arena_fi_point();
		return;
	}
#endif
	/* Overflow would be a bug in a caller's bound, and an unjournaled
	 * store a silent corruption for everyone after a crash. The count
	 * is ours (c->jn), never read back from the segment. */
	if (n >= ARENA_JMAX)
		__builtin_trap();
	put_word(&a->j[n].off, off);
	put_word(&a->j[n].old, __conc_arena_load(at(c, off)));
	/* The entry, then the length that makes it count, then the store
	 * it guards: an undo never meets a half-written entry, and a store
	 * is never made without its entry counted. */
	__conc_arena_barrier();
	put_word(&a->jstate, n + 1);
	c->jn = n + 1;
	__conc_arena_barrier();
	__conc_arena_fi_point();
	put_word(at(c, off), v);
	__conc_arena_barrier();
	__conc_arena_fi_point();
}

static void commit(struct arena_call *c, uint64_t state)
{
	__conc_arena_barrier();
	put_word(&c->a->jstate, state);
	c->jn = 0;
	__conc_arena_barrier();
	__conc_arena_fi_point();
}

/* Newest first, so a word journaled twice ends with its oldest value. A
 * death half way leaves the length alone: the next undo starts over and
 * writes the same values again. Entries are checked first: anyone may
 * have written them. */
static int undo(struct arena_call *c, uint64_t n)
{
	struct arena *a = c->a;
	uint64_t i, off[ARENA_JMAX], old[ARENA_JMAX];

	if (n > ARENA_JMAX)
		return -EPROTO;
	for (i = 0; i < n; i++) {
		off[i] = __conc_arena_load(&a->j[i].off);
		old[i] = __conc_arena_load(&a->j[i].old);
		if (!word_ok(c, off[i]))
			return -EPROTO;
	}
	for (i = n; i-- > 0;) {
		put_word(at(c, off[i]), old[i]);
		__conc_arena_barrier();
		__conc_arena_fi_point();
	}
	commit(c, 0);
	return 0;
}

void __conc_arena_rollback(struct arena_call *c)
{
	undo(c, c->jn);
}

int __conc_arena_commit(struct arena_call *c, uint64_t state)
{
	if (c->err) {
		__conc_arena_rollback(c);
		return c->err;
	}
	commit(c, state);
	return 0;
}

static int recover(struct arena_call *c, arena_redo_fn redo)
{
	uint64_t s = __conc_arena_load(&c->a->jstate);
	int r = 0;

	if (s & ARENA_REDO) {
		if (!redo || (s & ~ARENA_REDO))
			return -EPROTO;
		if ((r = redo(c)))
			return r;
		commit(c, 0);
	} else if (s) {
		r = undo(c, s);
	} else {
		return 0;	/* died before its first change, or after commit */
	}
	if (!r)
		c->a->recovered++;
	return r;
}

int __conc_arena_lock(struct arena_call *c, arena_redo_fn redo,
		      conc_deadline dl)
{
	/* A peer may hold the lock for ever (stopped, or hostile): the
	 * handle's timeout bounds the wait. A dead holder is no wait at all:
	 * the kernel hands the lock over with -EOWNERDEAD at once. */
	int r = __conc_mutex_lock_until(&c->a->lock, dl);

	c->err = 0;
	c->jn = 0;
	if (r != -EOWNERDEAD)
		return r;
	c->a->deaths++;
	r = recover(c, redo);
	if (r) {
		/* Unlocked without being made consistent: every later lock
		 * gets -ENOTRECOVERABLE instead of trusting the data. */
		conc_mutex_unlock(&c->a->lock);
		return r;
	}
	/* Refused only if a peer took the word meanwhile: then the lock is
	 * not ours, but it stays on our robust list until the unlock. */
	if ((r = conc_mutex_consistent(&c->a->lock)))
		conc_mutex_unlock(&c->a->lock);
	return r;
}

void __conc_arena_unlock(struct arena_call *c)
{
	conc_mutex_unlock(&c->a->lock);
}
