/* test_queue_hostile.c — a queue whose segment another process wrote:
 * indices, counts, lengths, sleep words and marks set to anything. The
 * victim's calls must return a clear error (-EPROTO, -ENOTRECOVERABLE) or
 * an ordinary result within their timeouts, never crash, never read or
 * write outside the segment (run it under ASan too), never hang. The
 * attacker is a forked process that writes the fields, then exits. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <conc.h>
#include "ipc/queue_impl.h"
#include "helpers.h"
#include "test_queue.h"


/* What the attacker writes: (offset into struct shared, value) pairs. */
struct attack {
	struct shared *q;
	unsigned n;
	struct { size_t off; uint32_t v; } w[64];
};

static int attacker(void *arg)
{
	struct attack *a = arg;

	for (unsigned i = 0; i < a->n; i++)
		__atomic_store_n((uint32_t *)((char *)a->q + a->w[i].off), a->w[i].v,
				 __ATOMIC_RELAXED);
	return 0;
}

static void attack(conc_queue *qh, struct attack *a)
{
	a->q = qh->q;
	cr_assert_eq(run_in_child(attacker, a, 5000), 0);
}

#define AT(field, value) \
	(struct attack){ .n = 1, .w = { { offsetof(struct shared, field), (value) } } }

Test(queue_hostile, a_tail_beyond_the_capacity_is_eproto, .timeout = 10)
{
	conc_queue *q = new_queue(4, 8);
	struct attack a = AT(tail, 4 + 5);

	attack(q, &a);
	cr_assert_eq(conc_queue_put(q, "x", 1, 0), -EPROTO);
	cr_assert_eq(conc_queue_put(q, "x", 1, 10 * MS), -EPROTO);
	cr_assert_eq(conc_queue_put(q, "x", 1, CONC_FOREVER), -EPROTO);
	cr_assert_leq(conc_queue_size(q), 4);
	conc_queue_destroy(q);
}

Test(queue_hostile, a_tail_behind_the_head_is_eproto, .timeout = 10)
{
	conc_queue *q = new_queue(4, 8);
	struct attack a = AT(tail, (uint32_t)-3);

	attack(q, &a);
	cr_assert_eq(conc_queue_put(q, "x", 1, CONC_FOREVER), -EPROTO);
	cr_assert_eq(conc_queue_size(q), 0);
	conc_queue_destroy(q);
}

Test(queue_hostile, any_head_stays_inside_the_ring, .timeout = 10)
{
	uint32_t heads[] = { 1u << 31, 0xffffffffu, 12345678u, 3 };
	char buf[8];

	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		conc_queue *q = new_queue(4, 8);
		struct attack a = AT(head, heads[i]);
		ssize_t n;

		cr_assert_eq(conc_queue_put(q, "abc", 3, 0), 0);
		attack(q, &a);
		n = conc_queue_get(q, buf, sizeof(buf), 5 * MS);
		/* What sits there is some message: in bounds, that is all. */
		cr_assert(n == -ETIMEDOUT || (n >= 0 && n <= 8), "head %#x: %zd",
			  heads[i], n);
		n = conc_queue_get_begin(q, buf, sizeof(buf), 0);
		cr_assert(n == -ETIMEDOUT || (n >= 0 && n <= 8), "head %#x: %zd",
			  heads[i], n);
		if (n >= 0)
			cr_assert_eq(conc_queue_get_commit(q), 0);
		cr_assert_leq(conc_queue_size(q), 4);
		conc_queue_destroy(q);
	}
}

/* A sleep word held at 0 only wakes the victim early or not at all: its
 * own deadline still ends the wait. */
Test(queue_hostile, sleep_words_held_at_zero_end_at_the_deadline, .timeout = 10)
{
	conc_queue *q = new_queue(1, 8);
	struct attack a = { .n = 2, .w = {
		{ offsetof(struct shared, not_empty), 0 },
		{ offsetof(struct shared, not_full), 0 } } };
	char buf[8];
	int64_t t0;

	attack(q, &a);
	t0 = now_ns();
	cr_assert_eq(conc_queue_get(q, buf, sizeof(buf), 20 * MS), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 20 * MS);
	cr_assert_eq(conc_queue_put(q, "a", 1, 0), 0);
	cr_assert_eq(conc_queue_put(q, "b", 1, 20 * MS), -ETIMEDOUT);
	cr_assert_eq(conc_queue_get(q, buf, sizeof(buf), 0), 1);
	conc_queue_destroy(q);
}

/* Marks left by nobody: a parked flag on a free lock, the owner context
 * and count of a free lock. */
Test(queue_hostile, stray_marks_are_cleared_by_the_next_holder, .timeout = 10)
{
	conc_queue *q = new_queue(2, 8);
	struct attack a = { .n = 5, .w = {
		{ offsetof(struct shared, c.parked), 1 },
		{ offsetof(struct shared, p.parked), 0xdeadbeef },
		{ offsetof(struct shared, c.lock.ctx), 99 },
		{ offsetof(struct shared, p.lock.count), 7 },
		{ offsetof(struct shared, head_seen), 0x80000000u } } };
	char buf[8];

	attack(q, &a);
	cr_assert_eq(conc_queue_put(q, "a", 1, 0), 0);
	cr_assert_eq(conc_queue_get(q, buf, sizeof(buf), 0), 1);
	cr_assert_eq(conc_queue_get(q, buf, sizeof(buf), 0), -ETIMEDOUT);
	conc_queue_destroy(q);
}

/* A lock word that names a thread that will never let go: calls with a
 * timeout end with it; timeout 0 gives up after a bounded wait. */
Test(queue_hostile, a_lock_held_forever_ends_at_the_deadline, .timeout = 20)
{
	conc_queue *q = new_queue(2, 8);
	struct attack a = { .n = 2, .w = {
		{ offsetof(struct shared, c.lock.word), 0x3fffff00u },
		{ offsetof(struct shared, p.lock.word), 0x3fffff00u } } };
	char buf[8];

	attack(q, &a);
	cr_assert_eq(conc_queue_get(q, buf, sizeof(buf), 10 * MS), -ETIMEDOUT);
	cr_assert_eq(conc_queue_put(q, "a", 1, 10 * MS), -ETIMEDOUT);
	cr_assert_eq(conc_queue_get(q, buf, sizeof(buf), 0), -ETIMEDOUT);
	conc_queue_destroy(q);
}

Test(queue_hostile, an_unrecoverable_lock_is_enotrecoverable, .timeout = 10)
{
	conc_queue *q = new_queue(2, 8);
	struct attack a = AT(c.lock.flags, CONC_ROBUST | 0x200u);
	char buf[8];

	attack(q, &a);
	cr_assert_eq(conc_queue_get(q, buf, sizeof(buf), 0), -ENOTRECOVERABLE);
	cr_assert_eq(conc_queue_get_begin(q, buf, sizeof(buf), CONC_FOREVER),
		     -ENOTRECOVERABLE);
	conc_queue_destroy(q);
}

/* ---- random writes ------------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A value an attacker would try: small, near a boundary, or anything. */
static uint32_t pick(uint64_t *s, uint32_t cap)
{
	switch (rnd(s) % 6) {
	case 0: return 0;
	case 1: return 1;
	case 2: return (uint32_t)rnd(s) % (cap * 3);
	case 3: return 0xffffffffu - (uint32_t)rnd(s) % 4;
	case 4: return 0x80000000u;
	default: return (uint32_t)rnd(s);
	}
}

static int ok(long r, long len)
{
	return r == 0 || r == len || r == -ETIMEDOUT || r == -EPROTO ||
	       r == -EPIPE || r == -EMSGSIZE || r == -ENOTRECOVERABLE ||
	       r == -EDEADLK || r == -EINVAL;
}

struct victim {
	conc_queue *q;
	uint64_t seed;
	long bad, call;
};

/* The victim's calls, each bounded by a short timeout. */
static int victim(void *arg)
{
	struct victim *v = arg;
	char msg[17] = "0123456789abcdef", buf[16];
	long r;

	/* Timeout 0 waits for a lock holder's copy, which a hostile lock
	 * word stretches to the limit (a second): rarely, then. */
	for (int i = 0; i < 16; i++) {
		int64_t t = rnd(&v->seed) % 12 == 0 ? 0 : 2 * MS;

		switch (rnd(&v->seed) % 5) {
		case 0:
			r = conc_queue_put(v->q, msg, 1 + rnd(&v->seed) % 16, t);
			break;
		case 1:
			r = conc_queue_get(v->q, buf, sizeof(buf), t);
			break;
		case 2:
			r = conc_queue_get_begin(v->q, buf, sizeof(buf), t);
			if (r >= 0)
				r = rnd(&v->seed) & 1 ? conc_queue_get_commit(v->q)
						      : conc_queue_get_abort(v->q);
			break;
		case 3:
			r = conc_queue_size(v->q);
			r = r >= 0 && r <= 4 ? 0 : r;
			break;
		default:
			r = rnd(&v->seed) % 8 ? 0 : conc_queue_close(v->q);
			break;
		}
		if (r > 0 && r <= 16)
			r = 0;
		if (!ok(r, 0)) {
			v->bad = r;
			v->call = i;
			return 1;
		}
	}
	return 0;
}

/* Every word of the header past the geometry, written at random, in
 * hundreds of rounds: the victim, a child, must end every call in time
 * with an ordinary result or a clear error. */
Test(queue_hostile, random_header_writes_never_crash_nor_hang, .timeout = 600)
{
	size_t first = offsetof(struct shared, closed);
	size_t words = (offsetof(struct shared, slots) - first) / 4;
	struct victim *v = shared_alloc(sizeof(*v));
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	for (int round = 0; round < 100; round++) {
		conc_queue *q = new_queue(4, 16);
		struct attack a = { .n = 1 + (unsigned)(rnd(&seed) % 8) };
		int st;

		for (int i = 0; i < 2; i++)
			cr_assert_eq(conc_queue_put(q, "seed", 4, 0), 0);
		for (unsigned i = 0; i < a.n; i++) {
			size_t off = first + 4 * (rnd(&seed) % words);

			/* The robust-list links are the owner's: a lock
			 * rewrites them before they are used. */
			if (off >= offsetof(struct shared, p.lock.robust_prev) &&
			    off < offsetof(struct shared, p.parked))
				off = offsetof(struct shared, p.lock.word);
			if (off >= offsetof(struct shared, c.lock.robust_prev) &&
			    off < offsetof(struct shared, c.parked))
				off = offsetof(struct shared, c.lock.word);
			a.w[i].off = off;
			a.w[i].v = pick(&seed, 4);
		}
		/* A few slots too: their seq and len words. */
		for (uint32_t i = 0; i < 4 && a.n < 62; i++)
			if (rnd(&seed) % 3 == 0) {
				size_t s = offsetof(struct shared, slots) +
					   (size_t)i * q->slot_size;

				a.w[a.n].off = s + rnd(&seed) % 2 * 4;
				a.w[a.n++].v = pick(&seed, 4);
			}
		attack(q, &a);
		*v = (struct victim){ .q = q, .seed = seed ^ (uint64_t)round };
		st = run_in_child(victim, v, 30000);
		cr_assert_eq(st, 0, "round %d: exit %d (-1: killed or hung), call %ld "
			     "returned %ld", round, st, v->call, v->bad);
		conc_queue_destroy(q);
	}
	shared_free(v, sizeof(*v));
}
