/*
 * Before the loop sleeps in the ring, a short, adaptive spin: a peer on
 * another CPU often answers within microseconds, while a cross-CPU wake-up
 * costs tens of them on small VMs, to the waker (an IPI) and to the woken
 * (its CPU leaves a halt); the wait point spins for the same reason
 * (lib/wait/spin.h). With IORING_SETUP_TASKRUN_FLAG the kernel sets
 * IORING_SQ_TASKRUN in shared memory when a completion waits to be posted
 * (DEFER_TASKRUN posts them only when the loop enters), and wakes nobody
 * while nobody sleeps in the ring: the spin reads memory, and the peer
 * skips the wake-up. The queued SQEs are submitted first: one system call
 * more than a plain sleep, which a spin must be worth.
 *
 * The bound (ns, turned into pauses) adapts per loop: it doubles when a
 * spin paid off and halves when it did not. No pay-off: nothing came in
 * time; or the completion was there at once (the data came before the op
 * was submitted: the extra system call bought nothing); or the spin was
 * preempted (the peer most likely shares our CPU and answered while we
 * were off it: sleeping would have left it the CPU sooner). At the floor
 * the loop tries one idle turn in spin_every only, with the longest bound
 * (a floor-sized spin could never catch a peer that must first wake up,
 * so the bound could never grow back), and a probe that fails makes the
 * next one twice as far (PROBE_MIN to PROBE_MAX turns). A loop's peers are mostly other
 * processes, so what counts is the CPUs online, not the loop's own CPU
 * mask: on a one-CPU machine it never spins. Nor with nothing in flight,
 * nor past the next timer.
 */
#include <unistd.h>
#include "loop/loop_impl.h"

#define SPIN_MAX_NS	50000
#define SPIN_MIN_NS	500
#define PROBE_MIN	64	/* idle turns between two probes at the floor */
#define PROBE_MAX	4096

static bool ready(struct loop *l)
{
	return io_uring_cq_ready(&l->ring) ||
	       (__atomic_load_n(l->ring.sq.kflags, __ATOMIC_ACQUIRE) &
		IORING_SQ_TASKRUN);
}

/* Picoseconds per pause on this CPU, measured once per process (the best
 * of a few short runs, so that a preemption during one does not count). */
static uint64_t pause_ps(void)
{
	static uint64_t ps;
	uint64_t v = __atomic_load_n(&ps, __ATOMIC_RELAXED), best = UINT64_MAX;

	if (v)
		return v;
	for (int k = 0; k < 4; k++) {
		int64_t t0 = sys_now_ns(), t;

		for (int i = 0; i < 64; i++)
			sys_cpu_relax();
		t = sys_now_ns() - t0;
		if ((uint64_t)t < best)
			best = (uint64_t)t;
	}
	v = best * 1000 / 64 + 1;
	__atomic_store_n(&ps, v, __ATOMIC_RELAXED);
	return v;
}

void __conc_idle_spin_init(struct loop *l)
{
	static int online;
	int n = __atomic_load_n(&online, __ATOMIC_RELAXED);

	if (!n) {
		n = (int)sysconf(_SC_NPROCESSORS_ONLN);
		n = n < 1 ? 1 : n;
		__atomic_store_n(&online, n, __ATOMIC_RELAXED);
	}
	l->spin_ns = l->taskrun_flag && n > 1 ? SPIN_MAX_NS : 0;
	l->spin_every = PROBE_MIN;
}

void __conc_idle_spin(struct loop *l, int64_t timer_ns)
{
	uint32_t bound = l->spin_ns;
	uint64_t ps, i, n;
	int64_t t0, took;

	if (!bound || !l->ops || (timer_ns >= 0 && timer_ns < SPIN_MIN_NS))
		return;
	if (bound <= SPIN_MIN_NS) {
		if (++l->spin_skip < l->spin_every)
			return;
		l->spin_skip = 0;
		bound = SPIN_MAX_NS;
	}
	if (l->queued) {
		io_uring_submit(&l->ring);
		l->queued = 0;
	}
	ps = pause_ps();
	n = (uint64_t)(timer_ns >= 0 && timer_ns < bound ? timer_ns : bound) *
	    1000 / ps;
	t0 = sys_now_ns();
	for (i = 0; i < n && !ready(l); i++)
		sys_cpu_relax();
	took = sys_now_ns() - t0;
	/* Preempted: it took longer than its pauses, by more than the slack
	 * for the clock reads and the cache miss of the last look. */
	if (i > 0 && i < n && (uint64_t)took <= i * ps / 1000 * 3 / 2 + 1000) {
		l->spin_ns = bound * 2 > SPIN_MAX_NS ? SPIN_MAX_NS : bound * 2;
		l->spin_every = PROBE_MIN;
	} else if (l->spin_ns <= SPIN_MIN_NS) {
		/* A probe that failed (or ran into a timer): stay at the floor. */
		if (l->spin_every < PROBE_MAX)
			l->spin_every *= 2;
	} else if (timer_ns < 0 || timer_ns >= bound) {
		l->spin_ns = bound / 2 < SPIN_MIN_NS ? SPIN_MIN_NS : bound / 2;
	}
}
