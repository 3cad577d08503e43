/*
 * test_wait_hostile.c — a peer that keeps changing a word a caller waits
 * on must not keep the call past its timeout. A wait that finds the word
 * changed (the futex compares it first) looks again; if the peer changes
 * it every time, the caller would look again for as long as the peer goes
 * on, its deadline long past.
 *
 * A peer writing in a loop catches that only by chance (the word must
 * change between the caller's look and the kernel's compare, and on a
 * busy machine the two rarely run at once). So the peer here is the
 * caller's tracer: at every futex wait on the word (every io_uring_enter,
 * for a task of a loop), it changes the word before the kernel compares
 * it. It does so for PEER_S seconds at most, then lets the caller run
 * alone; a call still waiting by then has outlived its timeout by far.
 * No verdict depends on timing: a call that returns while the peer still
 * changes the word passes, however late. Skipped where ptrace is refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/futex.h>
#include <linux/ptrace.h>
#include <conc.h>
#include "ipc/queue_impl.h"
#include "ipc/rsem_impl.h"
#include "loop_helpers.h"

#define PEER_S	   30		/* how long the peer goes on at most */
#define TIMEOUT_NS 2000000LL	/* the caller's: 2 ms */

union objs {
	conc_mutex m;
	conc_rwlock rw;
	conc_event e;
	conc_barrier b;
	conc_once_t o;
};

struct seg {
	union objs o;
	long result;		/* the caller's */
	uint32_t ran;		/* once: fn ran */
};

/* What the peer writes into *word the i-th time: never the value it
 * replaces, never one that lets the caller in. */
typedef uint32_t (*scribble)(uint32_t i);

/* The caller's side: stopped until its tracer is ready, then the call. */
typedef long (*call_fn)(struct seg *s);

/* Where the peer strikes: a futex wait on the word; any futex wait (the
 * caller maps the word's segment at an address of its own); any
 * io_uring_enter. */
enum { FUTEX_WAITS, ANY_FUTEX_WAITS, RING_ENTERS };

/* Run call in a traced child; before each of its futex waits on word (or
 * each io_uring_enter), word = f(i). Returns whether the call came back
 * while the peer was still at it; *result is the call's. */
static bool meddle(struct seg *s, uint32_t *word, scribble f, int at,
		   call_fn call)
{
	int64_t end = now_ns() + (int64_t)PEER_S * 1000000000;
	struct ptrace_syscall_info info;
	uint32_t i = 0;
	bool on = true;
	int st, sig = 0;
	pid_t pid = test_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
			_exit(99);
		raise(SIGSTOP);
		s->result = call(s);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 99)
		cr_skip_test("ptrace is refused here");
	cr_assert(WIFSTOPPED(st));
	cr_assert_eq(ptrace(PTRACE_SETOPTIONS, pid, NULL,
			    PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL), 0);
	for (;;) {
		if (on && now_ns() >= end) {
			on = false;	/* the caller alone from now on */
			cr_assert_eq(ptrace(PTRACE_DETACH, pid, NULL, sig), 0);
			break;
		}
		cr_assert_eq(ptrace(PTRACE_SYSCALL, pid, NULL, sig), 0);
		sig = 0;
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (WSTOPSIG(st) != (SIGTRAP | 0x80)) {
			sig = WSTOPSIG(st);	/* the caller's own: passed on */
			continue;
		}
		if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof(info), &info) <= 0 ||
		    info.op != PTRACE_SYSCALL_INFO_ENTRY)
			continue;
		if (at == RING_ENTERS
		    ? info.entry.nr == SYS_io_uring_enter
		    : info.entry.nr == SYS_futex &&
		      (at == ANY_FUTEX_WAITS ||
		       info.entry.args[0] == (uintptr_t)word) &&
		      ((info.entry.args[1] & FUTEX_CMD_MASK) == FUTEX_WAIT_BITSET ||
		       (info.entry.args[1] & FUTEX_CMD_MASK) == FUTEX_WAIT))
			__atomic_store_n(word, f(i++), __ATOMIC_SEQ_CST);
	}
	if (!on)
		st = wait_child(pid, 60000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the caller died: %#x", st);
	cr_assert_gt(i, 0, "the peer never met a wait on the word");
	return on;
}

static struct seg *seg_new(void)
{
	struct seg *s = shared_alloc(sizeof(*s));

	cr_assert_not_null(s);
	return s;
}

#define CAME_BACK(s, word, f, at, call, want) do { \
	cr_assert(meddle((s), (word), (f), (at), (call)), \
		  "the call came back only once the peer stopped changing the word"); \
	cr_assert_eq((s)->result, (want)); \
} while (0)

/* A lock word held by nobody the caller knows (above any pid_max, so
 * never the caller's tid), never the same twice, with FUTEX_WAITERS set
 * so the caller goes straight to its wait. */
static uint32_t held(uint32_t i)
{
	return FUTEX_WAITERS | 0x00800000u | (i & 0x3fffffu);
}

static long timedlock(struct seg *s)
{
	return conc_mutex_timedlock(&s->o.m, TIMEOUT_NS);
}

static void mutex_case(unsigned flags)
{
	struct seg *s = seg_new();

	cr_assert_eq(conc_mutex_init(&s->o.m, flags), 0);
	s->o.m.word = held(0xfffff);
	CAME_BACK(s, &s->o.m.word, held, FUTEX_WAITS, timedlock, -ETIMEDOUT);
	shared_free(s, sizeof(*s));
}

Test(wait_hostile, mutex_word_a_peer_keeps_changing_ends_at_the_deadline, .timeout = 120)
{
	mutex_case(0);
}

Test(wait_hostile, robust_mutex_word_a_peer_keeps_changing_ends_at_the_deadline, .timeout = 120)
{
	mutex_case(CONC_ROBUST);
}

/* Write-locked by nobody the caller knows, the readers' sleep bit set, a
 * count below it that never stays. */
static uint32_t write_held(uint32_t i)
{
	return 0xc0000000u | (i & 0xffffu);
}

static long timedrdlock(struct seg *s)
{
	return conc_rwlock_timedrdlock(&s->o.rw, TIMEOUT_NS);
}

Test(wait_hostile, rwlock_read_word_a_peer_keeps_changing_ends_at_the_deadline, .timeout = 120)
{
	struct seg *s = seg_new();

	cr_assert_eq(conc_rwlock_init(&s->o.rw, 0), 0);
	s->o.rw.state = write_held(0xffff);
	CAME_BACK(s, &s->o.rw.state, write_held, FUTEX_WAITS, timedrdlock, -ETIMEDOUT);
	shared_free(s, sizeof(*s));
}

/* A count that never stays (a writers' hand-over word, a sleep word). */
static uint32_t bumped(uint32_t i)
{
	return i + 1000;
}

static long timedwrlock(struct seg *s)
{
	return conc_rwlock_timedwrlock(&s->o.rw, TIMEOUT_NS);
}

Test(wait_hostile, rwlock_writer_word_a_peer_keeps_changing_ends_at_the_deadline, .timeout = 120)
{
	struct seg *s = seg_new();

	cr_assert_eq(conc_rwlock_init(&s->o.rw, 0), 0);
	s->o.rw.state = 0x80000000u;	/* write-locked */
	CAME_BACK(s, &s->o.rw.wseq, bumped, FUTEX_WAITS, timedwrlock, -ETIMEDOUT);
	shared_free(s, sizeof(*s));
}

/* Not set, same generation: only the sleep bit the caller sets is taken
 * away again. */
static uint32_t unmarked(uint32_t i)
{
	(void)i;
	return 0;
}

static long event_wait(struct seg *s)
{
	return conc_event_wait(&s->o.e, TIMEOUT_NS);
}

Test(wait_hostile, event_word_a_peer_keeps_changing_ends_at_the_deadline, .timeout = 120)
{
	struct seg *s = seg_new();

	cr_assert_eq(conc_event_init(&s->o.e, 0), 0);
	CAME_BACK(s, &s->o.e.word, unmarked, FUTEX_WAITS, event_wait, -ETIMEDOUT);
	shared_free(s, sizeof(*s));
}

/* Rounds that never end the caller's: more than half the rounds away. */
static uint32_t elsewhere(uint32_t i)
{
	return 0x40000001u + (i & 0xffffu);
}

static long barrier_wait(struct seg *s)
{
	return conc_barrier_wait_timed(&s->o.b, TIMEOUT_NS);
}

Test(wait_hostile, barrier_word_a_peer_keeps_changing_ends_at_the_deadline, .timeout = 120)
{
	struct seg *s = seg_new();

	cr_assert_eq(conc_barrier_init(&s->o.b, 2, 0), 0);
	CAME_BACK(s, &s->o.b.seq, elsewhere, FUTEX_WAITS, barrier_wait, -ETIMEDOUT);
	shared_free(s, sizeof(*s));
}

/* Running, and the sleep mark the caller sets taken away again. */
static uint32_t running(uint32_t i)
{
	(void)i;
	return 1;
}

static struct seg *once_seg;

static void once_fn(void)
{
	once_seg->ran = 1;
}

static long once_timed(struct seg *s)
{
	once_seg = s;
	return conc_once_timed(&s->o.o, once_fn, TIMEOUT_NS);
}

Test(wait_hostile, once_word_a_peer_keeps_changing_ends_at_the_deadline, .timeout = 120)
{
	struct seg *s = seg_new();

	s->o.o.state = 1;	/* running, in someone else's hands */
	CAME_BACK(s, &s->o.o.state, running, FUTEX_WAITS, once_timed, -ETIMEDOUT);
	cr_assert_eq(s->ran, 0, "the flag said running: fn must not run");
	shared_free(s, sizeof(*s));
}

/* A word of a segment's, for the calls below. */
static conc_queue *queue;
static conc_rsem *rsem;
static char qname[64];

static long queue_open(struct seg *s)
{
	conc_queue *q;
	long r = conc_queue_open(&q, qname);

	(void)s;
	if (!r)
		conc_queue_destroy(q);
	return r;
}

/* Never 2 or 3 (a queue's set-up word: the old layout, ready). */
static uint32_t not_ready(uint32_t i)
{
	return 4 + (i & 0xffffu);
}

/* The opener's wait for a creator to finish (a second at most). */
Test(wait_hostile, queue_set_up_word_a_peer_keeps_changing_ends_at_the_bound, .timeout = 120)
{
	conc_queue_attr a = { .capacity = 4, .max_msg = 16,
			      .flags = CONC_SHM_EXCL };
	struct seg *s = seg_new();

	snprintf(qname, sizeof(qname), "conc-test-wait-hostile-%d", (int)getpid());
	conc_shm_unlink(qname);
	a.name = qname;
	cr_assert_eq(conc_queue_create(&queue, &a), 0);
	queue->q->init = not_ready(0xffff);
	CAME_BACK(s, &queue->q->init, not_ready, ANY_FUTEX_WAITS, queue_open, -EPROTO);
	conc_queue_destroy(queue);
	conc_shm_unlink(qname);
	shared_free(s, sizeof(*s));
}

static long rsem_wait(struct seg *s)
{
	(void)s;
	return conc_rsem_timedwait(rsem, TIMEOUT_NS);
}

/* Its only permit held (by the caller's parent), the sleep word bumped. */
Test(wait_hostile, rsem_sleep_word_a_peer_keeps_changing_ends_at_the_deadline, .timeout = 120)
{
	conc_rsem_attr a = { .permits = 1 };
	struct seg *s = seg_new();

	cr_assert_eq(conc_rsem_create(&rsem, &a), 0);
	cr_assert_eq(conc_rsem_trywait(rsem), 0);
	CAME_BACK(s, &rsem->sh->seq, bumped, FUTEX_WAITS, rsem_wait, -ETIMEDOUT);
	cr_assert_eq(conc_rsem_post(rsem), 0);
	cr_assert_eq(conc_rsem_destroy(rsem), 0);
	shared_free(s, sizeof(*s));
}

static int lock_in_a_task(void *arg)
{
	return (int)-timedlock(arg);
}

static long task_timedlock(struct seg *s)
{
	int code = -1, r = conc_run(lock_in_a_task, s, &code);

	return r ? r : -code;
}

/* A task's wait goes through the loop's ring: its futex wait is issued
 * inside io_uring_enter, where the peer changes the word first. (The
 * fallback for kernels without IORING_OP_FUTEX_WAIT compares the word in
 * user space: nothing to stop it at.) */
Test(wait_hostile, a_task_on_a_word_a_peer_keeps_changing_ends_at_the_deadline, .timeout = 120,
     .fini = plain_mode)
{
	struct seg *s = seg_new();

	if (!futex_mode(0))
		cr_skip_test("no IORING_OP_FUTEX_WAIT in this kernel");
	cr_assert_eq(conc_mutex_init(&s->o.m, 0), 0);
	s->o.m.word = held(0xfffff);
	CAME_BACK(s, &s->o.m.word, held, RING_ENTERS, task_timedlock, -ETIMEDOUT);
	shared_free(s, sizeof(*s));
}
