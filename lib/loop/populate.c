/*
 * The top pages of a new slab's stacks, filled in on another CPU while the
 * loop goes on: a chain of IORING_OP_MADVISE(MADV_POPULATE_WRITE), one op
 * a page, runs in order in one worker thread of io_uring (io-wq). Filling
 * a page (zeroed, charged, mapped) is most of what a new task costs.
 *
 * The chains go through a small ring of their own, made when a loop first
 * needs one (many tasks): without DEFER_TASKRUN, so that a chain moves on
 * inside the worker and its end shows in the completion queue at once,
 * without the thread entering the kernel (the loop's ring would hold both
 * until then).
 *
 * One chain at a time, and a new one only once the last is done: a slab
 * that comes while the worker is still busy is filled in by the loop's
 * thread itself, as without this. So a free CPU takes about half of the
 * work off the loop, and a busy machine, where the worker waits for a CPU,
 * costs the loop at most one slab's pages faulted in by its tasks, never a
 * wait. A process allowed one CPU does without, and so does a loop whose
 * thread the kernel preempted while each of the last three chains ran:
 * there the worker only took the loop's turns, at the ring's cost a page
 * (at load 3 on 2 CPUs: 30 ms more CPU for 100,000 tasks, no time saved).
 * The loop waits for the chain in flight before it ends, so that no worker
 * advises memory that is unmapped, or mapped anew, by then.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include "loop/loop_impl.h"
#include "loop/stack_impl.h"
#include "sys/self.h"
#include "sys/sys.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define POP_ENTRIES	256	/* a slab of the smallest class */
#define UD_END		1	/* the last op of a chain */
#define POP_STRIKES	3

static int refused;	/* no such ring here: the thread does it all */

/* Whether the chain in flight has ended (its last op's completion). */
static bool done(struct loop *l)
{
	struct io_uring_cqe *cqe;

	while (l->pop_busy && io_uring_peek_cqe(&l->pop_ring, &cqe) == 0) {
		/* Not through the ring in this kernel: the thread does it. */
		if (cqe->res == -EINVAL || cqe->res == -EOPNOTSUPP)
			__atomic_store_n(&refused, 1, __ATOMIC_RELAXED);
		if (cqe->user_data == UD_END)
			l->pop_busy = false;
		io_uring_cqe_seen(&l->pop_ring, cqe);
	}
	return !l->pop_busy;
}

static bool ring_up(struct loop *l)
{
	if (l->pop_up)
		return true;
	if (__atomic_load_n(&refused, __ATOMIC_RELAXED))
		return false;
	/* One CPU: the worker would only take turns with the loop. */
	if (__conc_ncpu() < 2 || io_uring_queue_init(POP_ENTRIES, &l->pop_ring, 0) < 0) {
		__atomic_store_n(&refused, 1, __ATOMIC_RELAXED);
		return false;
	}
	l->pop_up = true;
	return true;
}

/* Times the kernel took the CPU from this thread for another: where no
 * CPU is free, the worker runs in the loop's turns, and costs more than
 * it saves (the ring's work a page besides the page's). */
static long preempted(void)
{
	struct rusage ru;

	if (__CONC_SC(SYS_getrusage, RUSAGE_THREAD, &ru) < 0)
		return 0;
	return ru.ru_nivcsw;
}

/* The stack's hook (stack_slab.c): 0 when the worker takes the n ranges,
 * else the caller fills them in itself. */
static int take(char *first, size_t stride, size_t len, size_t n)
{
	struct loop *l = __conc_loop();
	struct io_uring_sqe *sqe = NULL;

	long csw;

	if (!l || l->ending || !n || n > POP_ENTRIES ||
	    l->pop_strikes >= POP_STRIKES || !ring_up(l) || !done(l) ||
	    __atomic_load_n(&refused, __ATOMIC_RELAXED))
		return -1;
	/* Preempted while the last chain ran: no CPU to spare, it seems.
	 * A few times in a row, and the loop's thread does it all from now
	 * on (a preemption now and then is another thread's wake-up). */
	csw = preempted();
	if (!l->pop_csw || csw == l->pop_csw)
		l->pop_strikes = 0;
	else if (++l->pop_strikes >= POP_STRIKES)
		return -1;
	l->pop_csw = csw;
	for (size_t i = 0; i < n; i++) {
		sqe = io_uring_get_sqe(&l->pop_ring);
		if (!sqe)	/* cannot be: the chain before was submitted */
			break;
		io_uring_prep_madvise(sqe, first + i * stride, (off_t)len,
				      MADV_POPULATE_WRITE);
		/* (the slot may hold the UD_END of an earlier chain) */
		io_uring_sqe_set_data64(sqe, 0);
		sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
	}
	if (!sqe)
		return -1;
	/* The last one's completion, whatever its result, ends the chain;
	 * a failed op before it (and the ops it cancelled) posts one too. */
	sqe->flags &= (uint8_t)~(IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS);
	io_uring_sqe_set_data64(sqe, UD_END);
	if (io_uring_submit(&l->pop_ring) < 0)
		return -1;
	l->pop_busy = true;
	return 0;
}

void __conc_populate_on(struct loop *l)
{
	(void)l;
	__conc_stack_populate_hook = take;
}

void __conc_populate_off(struct loop *l)
{
	__conc_stack_populate_hook = NULL;
	if (!l->pop_up)
		return;
	while (!done(l)) {
		struct io_uring_cqe *cqe;

		io_uring_wait_cqe(&l->pop_ring, &cqe);
	}
	io_uring_queue_exit(&l->pop_ring);
	l->pop_up = false;
}
