/*
 * Creating and finding a robust semaphore. Setting one up is idempotent
 * (the lock's robust flag, then permits from 0 by compare-and-swap), so
 * racing creators agree and one that dies half way leaves nothing that
 * the next creator does not finish.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include "ipc/rsem_impl.h"
#include "ipc/shm_impl.h"
#include "sync/robust.h"

#define SETUP_WAIT_NS 1000000000LL

static size_t size_for(uint32_t holders)
{
	return sizeof(struct rsem_shared) + (size_t)holders * sizeof(struct rsem_slot);
}

static void setup(struct rsem_shared *sh, uint32_t permits)
{
	/* conc_mutex_init(&sh->lock, CONC_ROBUST) on the zeroed mutex of a
	 * new segment, and a no-op on one already set up (maybe held). */
	__atomic_fetch_or(&sh->lock.flags, CONC_ROBUST, __ATOMIC_RELAXED);
	/* release: the lock's flag before the permits that say "ready". */
	if (__atomic_compare_exchange_n(&sh->permits, &(uint32_t){ 0 }, permits,
					0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		__conc_wake(&sh->permits, INT_MAX, 0);
}

static int attach(conc_rsem **out, conc_shm *seg)
{
	struct rsem_shared *sh = conc_shm_data(seg);
	size_t size = conc_shm_size(seg), n;
	conc_deadline dl = sys_now_ns() + SETUP_WAIT_NS;
	conc_rsem *s;
	int r;

	if (size < size_for(1))
		return -EPROTO;
	/* A creator between its conc_shm_create() and setup(). */
	while (!__atomic_load_n(&sh->permits, __ATOMIC_ACQUIRE)) {
		r = __conc_wait(&sh->permits, 0, dl, 0);
		if (r == -ECANCELED)
			return r;
		/* Set up just as the second ran out: it is there. */
		if (r == -ETIMEDOUT &&
		    !__atomic_load_n(&sh->permits, __ATOMIC_ACQUIRE))
			return -EPROTO;
	}
	n = (size - sizeof(*sh)) / sizeof(struct rsem_slot);
	if (n > CONC_RSEM_HOLDERS_MAX)
		n = CONC_RSEM_HOLDERS_MAX;
	s = calloc(1, sizeof(*s));
	if (s)
		s->own = calloc(n, sizeof(*s->own));
	if (!s || !s->own) {
		free(s);
		return -ENOMEM;
	}
	s->seg = seg;
	s->sh = sh;
	s->nslots = (uint32_t)n;
	__conc_rsem_track(s);
	*out = s;
	return 0;
}

int conc_rsem_create(conc_rsem **out, const conc_rsem_attr *attr)
{
	uint32_t permits = attr && attr->permits ? attr->permits : 1;
	uint32_t holders = attr ? attr->holders : 0;
	struct shm_range rsv = { 0, 0 };
	struct rsem_shared *sh;
	conc_shm *seg;
	int r;

	if (!out || permits > CONC_RSEM_PERMITS_MAX ||
	    holders > CONC_RSEM_HOLDERS_MAX)
		return -EINVAL;
	if (!holders)
		holders = permits < CONC_RSEM_HOLDERS_MAX ? permits
							  : CONC_RSEM_HOLDERS_MAX;
	/* The whole segment is allocated first (at most 256 KiB): set-up
	 * writes its header, and every take reads every slot, which on a
	 * full /dev/shm would be a SIGBUS for the first taker. */
	rsv.len = size_for(holders);
	r = __conc_shm_create_reserving(&seg, attr ? attr->name : NULL,
					rsv.len, CONC_SHM_RSEM,
					attr ? attr->flags : 0, &rsv, 1);
	if (r)
		return r;
	/* An existing one made otherwise (a conc before 2026-12-07, a bare
	 * conc_shm_create) may lack pages; for one that has them all this
	 * allocates nothing. */
	sh = conc_shm_data(seg);
	if ((r = __conc_shm_reserve(seg, 0, conc_shm_size(seg)))) {
		conc_shm_close(seg);
		return r;
	}
	setup(sh, permits);
	r = attach(out, seg);
	if (r) {
		conc_shm_close(seg);
		return r;
	}
	if (__conc_rsem_permits(*out) != permits) {
		conc_rsem_destroy(*out);
		return -EINVAL;
	}
	return 0;
}

/* By name (name not NULL) or by fd: the segment, then the rsem in it. */
static int open_seg(conc_rsem **out, const char *name, int fd)
{
	conc_shm *seg;
	int r;

	if (!out)
		return -EINVAL;
	r = name ? conc_shm_open(&seg, name, CONC_SHM_RSEM)
		 : conc_shm_open_fd(&seg, fd, CONC_SHM_RSEM);
	if (r)
		return r;
	r = attach(out, seg);
	if (r)
		conc_shm_close(seg);
	return r;
}

int conc_rsem_open(conc_rsem **out, const char *name)
{
	return name ? open_seg(out, name, -1) : -EINVAL;
}

int conc_rsem_open_fd(conc_rsem **out, int fd)
{
	return open_seg(out, NULL, fd);
}

int conc_rsem_fd(const conc_rsem *s)
{
	return s ? conc_shm_fd(s->seg) : -EINVAL;
}

#define EXIT_WAIT_NS 1000000000LL	/* for a thread that exits to be reaped */
#define EXIT_STEP_NS 50000LL

/* Whether thread tid (of this process, not the caller) lives, as far as
 * its robust list goes. A thread that has begun to exit is waited for
 * (bounded) until it is reaped: a join of it may have returned already,
 * its list walked, while tgkill() still finds it. */
static bool lives(pid_t pid, pid_t tid)
{
	conc_deadline dl, step;
	bool cancelled = false;

	if (sys_tgkill(pid, tid, 0) == -ESRCH)
		return false;
	if (!__conc_thread_exiting(tid))	/* or reaped meanwhile */
		return sys_tgkill(pid, tid, 0) != -ESRCH;
	dl = __conc_deadline(EXIT_WAIT_NS);
	while (sys_tgkill(pid, tid, 0) != -ESRCH && !__conc_expired(dl)) {
		step = sys_now_ns() + EXIT_STEP_NS;
		if (__conc_sleep_until(step < dl ? step : dl) == -ECANCELED)
			cancelled = true;	/* taken once; given back below */
	}
	if (cancelled)
		__conc_wait_recancel();
	return sys_tgkill(pid, tid, 0) != -ESRCH;
}

/* Whether a thread of this process holds a slot through this handle: its
 * lock is then linked in that thread's robust list, which the kernel (and
 * the next unlock beside it) would follow into an unmapped page. The
 * caller's own list is asked directly. Another thread's list is out of
 * reach, and the slot's word is no witness (a peer may write it free while
 * the thread still has it linked): a slot this handle's record gives to
 * another thread counts as held until the kernel has walked that thread's
 * list (which it does before a join of the thread returns), or until the
 * thread, a conc one, let go of it when its function returned (the record
 * is wiped then: rsem_track.c). After a fork the records name the
 * parent's threads, none of them the child's. */
static bool held_here(const conc_rsem *s)
{
	const struct __conc_self *me = __conc_self();
	bool linked = me->robust_held != 0;
	pid_t pid = sys_getpid();
	uint32_t i, tid;

	for (i = 0; i < s->nslots; i++) {
		tid = __atomic_load_n(&s->own[i].tid, __ATOMIC_RELAXED);
		if (tid && tid != (uint32_t)me->tid &&
		    lives(pid, (pid_t)tid))
			return true;
		if (linked && __conc_robust_entry(&s->sh->slots[i].m))
			return true;
	}
	return false;
}

int conc_rsem_destroy(conc_rsem *s)
{
	if (!s)
		return -EINVAL;
	if (held_here(s))
		return -EBUSY;
	__conc_rsem_untrack(s);
	conc_shm_close(s->seg);
	free(s->own);
	free(s);
	return 0;
}

int conc_rsem_permits(conc_rsem *s)
{
	return s ? (int)__conc_rsem_permits(s) : -EINVAL;
}
