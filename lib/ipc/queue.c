/*
 * A queue's segment: creation, opening, the checks on what another process
 * set up, and the handle. The protocol itself: queue_impl.h.
 */
#include <errno.h>
#include <stdlib.h>
#include "ipc/queue_impl.h"
#include "ipc/shm_impl.h"
#include "sys/sys.h"

/* Setting a queue up writes its header alone, which shares the segment
 * header's page: conc_shm_create allocates that page before anything is
 * written (on a full /dev/shm, -ENOSPC rather than a SIGBUS), and the
 * slots stay sparse however many there are. */
_Static_assert(SHM_HDR + sizeof(struct shared) <= 4096,
	       "the queue's header is in the segment header's page");

#define DEFAULT_CAPACITY 64
#define DEFAULT_MAX_MSG	 8192
#define SETUP_NS	 1000000000	/* the longest a creator takes to set up */

static int attach(conc_queue **out, conc_shm *seg, conc_deadline dl)
{
	struct shared *q = conc_shm_data(seg);
	uint32_t cap, max, slot, ring, v;
	conc_queue *qh;
	int r;

	/* Its creator may still be setting it up: it wakes us when done. */
	while ((v = __atomic_load_n(&q->init, __ATOMIC_ACQUIRE)) != QUEUE_READY) {
		if (v == QUEUE_OLD_READY)
			return -EPROTO;
		r = __conc_wait(&q->init, v, dl, 0);
		if (r == -ECANCELED)
			return r;
		if (r == -ETIMEDOUT &&
		    __atomic_load_n(&q->init, __ATOMIC_ACQUIRE) != QUEUE_READY)
			return -EPROTO;
	}

	cap = q->capacity;
	max = q->max_msg;
	slot = q->slot_size;
	if (!cap || cap > QUEUE_LIMIT || max > QUEUE_LIMIT || slot % 8 ||
	    slot < sizeof(struct slot) + max)
		return -EPROTO;
	ring = __conc_q_ring(cap);
	if (sizeof(*q) + (size_t)ring * slot > conc_shm_size(seg))
		return -EPROTO;
	qh = calloc(1, sizeof(*qh));
	if (!qh)
		return -ENOMEM;
	qh->seg = seg;
	qh->q = q;
	qh->cap = cap;
	qh->max = max;
	qh->slot_size = slot;
	qh->ring = ring;
	*out = qh;
	return 0;
}

int conc_queue_create(conc_queue **out, const conc_queue_attr *attr)
{
	uint32_t cap = attr && attr->capacity ? attr->capacity : DEFAULT_CAPACITY;
	uint32_t max = attr && attr->max_msg ? attr->max_msg : DEFAULT_MAX_MSG;
	/* Whole cache lines: neighbouring slots, filled and emptied by
	 * different CPUs, never share one. */
	uint32_t slot = (uint32_t)((sizeof(struct slot) + max + 63) & ~63u);
	struct shared *q;
	conc_shm *seg;
	int r;

	if (!out || cap > QUEUE_LIMIT || max > QUEUE_LIMIT)
		return -EINVAL;
	r = conc_shm_create(&seg, attr ? attr->name : NULL,
			    sizeof(*q) + (size_t)__conc_q_ring(cap) * slot,
			    CONC_SHM_QUEUE,
			    attr ? attr->flags : 0);
	if (r)
		return r;
	q = conc_shm_data(seg);
	/* An existing named queue is opened, not set up again. */
	if (__atomic_compare_exchange_n(&q->init, &(uint32_t){ 0 }, 1, 0,
					__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		q->capacity = cap;
		q->max_msg = max;
		q->slot_size = slot;
		/* Nobody sleeps yet: the first commits need not wake anyone. */
		q->not_empty = q->not_full = RUNG;
		conc_mutex_init(&q->p.lock, CONC_ROBUST);
		conc_mutex_init(&q->c.lock, CONC_ROBUST);
		__atomic_store_n(&q->init, QUEUE_READY, __ATOMIC_RELEASE);
		__conc_wake(&q->init, INT32_MAX, 0);
	}
	r = attach(out, seg, __conc_deadline(SETUP_NS));
	if (!r && ((*out)->cap != cap || (*out)->max != max)) {
		conc_queue_destroy(*out);
		return -EINVAL;
	}
	if (r)
		conc_shm_close(seg);
	return r;
}

/* By name (name not NULL) or by fd: the segment, then the queue in it. */
static int open_seg(conc_queue **out, const char *name, int fd)
{
	conc_shm *seg;
	int r;

	if (!out)
		return -EINVAL;
	r = name ? conc_shm_open(&seg, name, CONC_SHM_QUEUE)
		 : conc_shm_open_fd(&seg, fd, CONC_SHM_QUEUE);
	if (r)
		return r;
	r = attach(out, seg, __conc_deadline(SETUP_NS));
	if (r)
		conc_shm_close(seg);
	return r;
}

int conc_queue_open(conc_queue **out, const char *name)
{
	return name ? open_seg(out, name, -1) : -EINVAL;
}

int conc_queue_open_fd(conc_queue **out, int fd)
{
	return open_seg(out, NULL, fd);
}

int conc_queue_fd(const conc_queue *qh)
{
	return qh ? conc_shm_fd(qh->seg) : -EINVAL;
}

/* Another context of this process is between get_begin and commit on qh:
 * the consumers' lock it holds (the word names its tid) is on its thread's
 * robust list, which the unmap would leave pointing into nothing, for the
 * thread's next robust lock, unlock or exit to write through. A thread
 * that ended lost the lock (its tid is gone from the word); in a fork
 * child the getter is a thread of the parent, on no list of ours. */
static bool pending_elsewhere(const conc_queue *qh)
{
	uint64_t g = __atomic_load_n(&qh->getter, __ATOMIC_RELAXED);
	uint32_t w = __atomic_load_n(&qh->q->c.lock.word, __ATOMIC_RELAXED);

	return g && (w & FUTEX_TID_MASK) == (uint32_t)g &&
	       sys_tgkill(sys_getpid(), (pid_t)(uint32_t)g, 0) != -ESRCH;
}

int conc_queue_destroy(conc_queue *qh)
{
	if (!qh)
		return -EINVAL;
	if (__conc_q_mine(qh))
		conc_queue_get_abort(qh);
	else if (pending_elsewhere(qh))
		return -EBUSY;
	conc_shm_close(qh->seg);
	free(qh);
	return 0;
}
