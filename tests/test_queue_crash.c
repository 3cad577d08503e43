/* test_queue_crash.c — conc_queue under SIGKILL.
 *
 * Deterministic deaths first: seccomp kills a process at the very futex
 * call that follows its commit (a put's, a get's, a close's), and the
 * sleepers it owed a wake-up must still be woken (by the kernel, through
 * the robust list's pending entry).
 *
 * Then kill storms: producers and consumers are SIGKILLed at random times,
 * thousands of times, and restarted, while a shared log records what each
 * was doing. Each message carries (producer, sequence, checksum). The
 * producer marks a sequence "in flight" before its put and "completed"
 * after it returns (or "not sent" after a timeout). A consumer marks its
 * phase: 1 inside the get, 2 got it, 3 logged it. At the end:
 *  - no message is corrupt (checksum, length) and none that was never
 *    sent (or whose put timed out) is ever received;
 *  - a completed put is received exactly once, except that a get
 *    consumer killed in phase 1 or 2 may lose the message it took (the
 *    documented rule for conc_queue_get), and a get_begin consumer killed
 *    in phase 3 may have it delivered again (at least once, never lost);
 *  - a put in flight when its producer died is received at most once;
 *  - nobody stays blocked: the queue drains with no close, and after the
 *    close every consumer ends on -EPIPE.
 * Sleepers are killed too, with the queue empty or full, while others
 * sleep beside them, and a fresh process must still get through. */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <conc.h>
#include "helpers.h"

#define MS 1000000LL
#define SEC 1000000000LL
/* A wait that must end gives up here: generous, since on a loaded machine
 * (load 60 on 2 CPUs) a fresh process can take seconds to run at all. */
#define WAIT_MS	30000
#define WAIT_NS	(WAIT_MS * MS)

/* ---- messages ---------------------------------------------------------- */

enum { PAY = 2000 };

struct msg {
	uint32_t who, seq, len, sum;
	unsigned char pay[PAY];
};

static size_t make_msg(struct msg *m, uint32_t who, uint32_t seq)
{
	uint32_t x = who * 2654435761u ^ seq * 40503u ^ 0x9e3779b9u;

	m->who = who;
	m->seq = seq;
	m->len = (x >> 7) % PAY;
	m->sum = 0;
	for (uint32_t i = 0; i < m->len; i++) {
		x = x * 1103515245u + 12345u;
		m->pay[i] = (unsigned char)(x >> 16);
		m->sum = m->sum * 31 + m->pay[i];
	}
	return offsetof(struct msg, pay) + m->len;
}

static int msg_ok(const struct msg *m, ssize_t n)
{
	uint32_t sum = 0;

	if (n < (ssize_t)offsetof(struct msg, pay) || m->len > PAY ||
	    (size_t)n != offsetof(struct msg, pay) + m->len)
		return 0;
	for (uint32_t i = 0; i < m->len; i++)
		sum = sum * 31 + m->pay[i];
	return sum == m->sum;
}

static void warm_up(void)
{
	conc_mutex m;

	/* Fill the per-thread caches (tid, robust list) before seccomp. */
	conc_mutex_init(&m, CONC_ROBUST);
	conc_mutex_lock(&m);
	conc_mutex_unlock(&m);
}

static void need_seccomp(void)
{
	if (!seccomp_available())
		cr_skip_test("seccomp filters are not available here");
}

static conc_queue *new_queue(uint32_t cap, uint32_t max)
{
	conc_queue_attr a = { .capacity = cap, .max_msg = max };
	conc_queue *q;

	cr_assert_eq(conc_queue_create(&q, &a), 0);
	return q;
}

/* ---- deterministic deaths at the wake-up ----------------------------------- */

static int get_one(void *arg)
{
	uint32_t v;
	ssize_t n = conc_queue_get(arg, &v, sizeof(v), CONC_FOREVER);

	return n == 4 ? (int)(v & 0x7f) : 100 + errcode((int)n) % 100;
}

static int put_one(void *arg)
{
	uint32_t v = 7;

	return errcode(conc_queue_put(arg, &v, sizeof(v), CONC_FOREVER));
}

/* Reap whichever of pid[0..n-1] ends first: its index, its status in *st. */
static int first_to_end(pid_t *pid, int n, int *st)
{
	int64_t dl = now_ns() + WAIT_NS;

	while (now_ns() < dl) {
		for (int i = 0; i < n; i++)
			if (pid[i] > 0 && waitpid(pid[i], st, WNOHANG) == pid[i])
				return i;
		sleep_ns(MS / 2);
	}
	return -1;
}

struct die_arg {
	conc_queue *q;
	int what;	/* 0 put, 1 get, 2 close */
};

/* Dies (SIGSYS) at its first futex call: the wake-up after its commit. */
static int die_at_wake_up(void *arg)
{
	struct die_arg *d = arg;
	uint32_t v = 42;

	warm_up();
	if (seccomp_kill_at(SYS_futex))
		return 100;
	switch (d->what) {
	case 0:
		return errcode(conc_queue_put(d->q, &v, sizeof(v), CONC_FOREVER));
	case 1:
		return conc_queue_get(d->q, &v, sizeof(v), CONC_FOREVER) == 4 ? 0 : 1;
	default:
		return errcode(conc_queue_close(d->q));
	}
}

/* Two consumers sleep; a put wakes them, one takes it, the other goes back
 * to sleep. The next producer dies between its commit and its wake-up:
 * the kernel must wake the sleeper for it. */
Test(queue_crash, producer_killed_between_commit_and_wake_up, .timeout = 120)
{
	need_seccomp();
	for (int round = 0; round < 5; round++) {
		struct die_arg d = { new_queue(4, 4), 0 };
		uint32_t one = 1;
		pid_t c[2], p;
		int st, i;

		for (i = 0; i < 2; i++) {
			c[i] = fork_child(get_one, d.q);
			cr_assert(wait_thread_sleeping(c[i], c[i], WAIT_MS));
		}
		cr_assert_eq(conc_queue_put(d.q, &one, 4, 0), 0);
		i = first_to_end(c, 2, &st);
		cr_assert_geq(i, 0, "neither consumer got the first message");
		cr_assert(exited_with(st, 1));
		cr_assert(wait_thread_sleeping(c[!i], c[!i], WAIT_MS));
		p = fork_child(die_at_wake_up, &d);
		st = wait_child(p, WAIT_MS);
		cr_assert(killed_by(st, SIGSYS) || exited_with(st, 0), "status %#x", st);
		cr_assert(exited_with(wait_child(c[!i], WAIT_MS), 42),
			  "round %d: the sleeper was not woken after the producer died",
			  round);
		cr_assert_eq(conc_queue_size(d.q), 0);
		conc_queue_destroy(d.q);
	}
}

/* The mirror image: two producers sleep on a full queue; a get wakes them,
 * one puts, the other sleeps again; the next consumer dies between its
 * commit and its wake-up. */
Test(queue_crash, consumer_killed_between_commit_and_wake_up, .timeout = 120)
{
	need_seccomp();
	for (int round = 0; round < 5; round++) {
		struct die_arg d = { new_queue(1, 4), 1 };
		uint32_t v = 3;
		pid_t p[2], c;
		int st, i;

		cr_assert_eq(conc_queue_put(d.q, &v, 4, 0), 0);
		for (i = 0; i < 2; i++) {
			p[i] = fork_child(put_one, d.q);
			cr_assert(wait_thread_sleeping(p[i], p[i], WAIT_MS));
		}
		cr_assert_eq(conc_queue_get(d.q, &v, 4, 0), 4);
		i = first_to_end(p, 2, &st);
		cr_assert_geq(i, 0, "neither producer got room");
		cr_assert(exited_with(st, 0));
		cr_assert(wait_thread_sleeping(p[!i], p[!i], WAIT_MS));
		c = fork_child(die_at_wake_up, &d);
		st = wait_child(c, WAIT_MS);
		cr_assert(killed_by(st, SIGSYS) || exited_with(st, 0), "status %#x", st);
		cr_assert(exited_with(wait_child(p[!i], WAIT_MS), 0),
			  "round %d: the sleeping producer was not woken", round);
		cr_assert_eq(conc_queue_get(d.q, &v, 4, 0), 4);
		cr_assert_eq(v, 7);
		conc_queue_destroy(d.q);
	}
}

/* Two-step getters that begin, then die before they commit. */
struct woken {
	conc_queue *q;
	uint32_t begun;
};

static int begin_then_die(void *arg)
{
	struct woken *w = arg;
	uint32_t v;

	if (conc_queue_get_begin(w->q, &v, sizeof(v), CONC_FOREVER) == 4 && v == 42)
		__atomic_fetch_add(&w->begun, 1, __ATOMIC_SEQ_CST);
	raise(SIGKILL);
	return 1;
}

/* Issue 9, item 9: getters W and S sleep on an empty queue; the producer
 * dies between its commit and its wake-up, so the kernel wakes one of them
 * (W), and W is killed before it is done (here: after its begin, which
 * leaves the message in the queue). A woken getter that dies must not take
 * the wake-up with it: S must still get the message. */
Test(queue_crash, getter_woken_alone_then_killed_strands_nobody, .timeout = 300)
{
	need_seccomp();
	for (int round = 0; round < 3; round++) {
		struct woken *w = shared_alloc(sizeof(*w));
		struct die_arg d;
		pid_t c[2], p;
		uint32_t v;
		int st;

		w->q = new_queue(4, 4);
		d = (struct die_arg){ w->q, 0 };
		for (int i = 0; i < 2; i++) {
			c[i] = fork_child(begin_then_die, w);
			cr_assert(wait_thread_sleeping(c[i], c[i], WAIT_MS));
		}
		p = fork_child(die_at_wake_up, &d);
		st = wait_child(p, WAIT_MS);
		cr_assert(killed_by(st, SIGSYS), "status %#x", st);
		for (int i = 0; i < 2; i++)
			cr_assert(killed_by(wait_child(c[i], WAIT_MS), SIGKILL),
				  "round %d: getter %d was never woken", round, i);
		cr_assert_eq(w->begun, 2, "round %d: the message reached %u getters",
			     round, w->begun);
		/* Begun twice, committed never: still there. */
		cr_assert_eq(conc_queue_get(w->q, &v, sizeof(v), 0), 4);
		cr_assert_eq(v, 42);
		conc_queue_destroy(w->q);
		shared_free(w, sizeof(*w));
	}
}

/* A sleeper on one CPU with the test, at SCHED_IDLE: once woken it cannot
 * run while the test goes on, so the test can kill it before it looks. */
struct idle {
	conc_queue *q;
	int put;
	uint32_t done;
};

static int idle_sleeper(void *arg)
{
	struct idle *d = arg;
	struct sched_param sp = { 0 };
	uint32_t v = 9;

	if (sched_setscheduler(0, SCHED_IDLE, &sp))
		return 2;
	if (d->put ? conc_queue_put(d->q, &v, 4, CONC_FOREVER) != 0
		   : conc_queue_get(d->q, &v, 4, CONC_FOREVER) != 4)
		return 1;
	__atomic_add_fetch(&d->done, 1, __ATOMIC_SEQ_CST);
	return 0;
}

/* W and S wait (on an empty queue for a get, a full one for a put); the
 * test's call wakes W, and W is killed before it runs: S must go on.
 * Returns 0 when W ran first after all (a scheduler tick can hand the CPU
 * to a woken SCHED_IDLE task): then S is let through and nothing was
 * shown, so the caller tries again. */
static int woken_then_killed_once(int put)
{
	struct idle *d = shared_alloc(sizeof(*d));
	uint32_t v = 5;
	pid_t w, s;
	int st;

	d->q = new_queue(1, 4);
	d->put = put;
	if (put)
		cr_assert_eq(conc_queue_put(d->q, &v, 4, 0), 0);
	w = fork_child(idle_sleeper, d);	/* sleeps in the queue */
	cr_assert(wait_thread_sleeping(w, w, WAIT_MS));
	s = fork_child(idle_sleeper, d);	/* waits for w's lock */
	cr_assert(wait_thread_sleeping(s, s, WAIT_MS));
	if (put)
		cr_assert_eq(conc_queue_get(d->q, &v, 4, 0), 4);
	else
		cr_assert_eq(conc_queue_put(d->q, &v, 4, 0), 0);
	kill(w, SIGKILL);	/* woken, never ran */
	st = wait_child(w, WAIT_MS);
	if (!killed_by(st, SIGKILL)) {
		cr_assert(exited_with(st, 0), "status %#x", st);
		if (put)
			cr_assert_eq(conc_queue_get(d->q, &v, 4, 0), 4);
		else
			cr_assert_eq(conc_queue_put(d->q, &v, 4, 0), 0);
	}
	cr_assert(exited_with(wait_child(s, WAIT_MS), 0), "the other was stranded");
	if (killed_by(st, SIGKILL)) {
		cr_assert_eq(d->done, 1);
		cr_assert_eq(conc_queue_size(d->q), put ? 1 : 0);
	}
	conc_queue_destroy(d->q);
	shared_free(d, sizeof(*d));
	return killed_by(st, SIGKILL);
}

static void woken_then_killed(int put)
{
	cpu_set_t one;
	int i;

	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	for (i = 0; i < 20; i++)
		if (woken_then_killed_once(put))
			return;
	cr_assert_fail("the woken sleeper always ran before the kill");
}

Test(queue_crash, getter_woken_then_killed_before_it_looks, .timeout = 120)
{
	woken_then_killed(0);
}

Test(queue_crash, putter_woken_then_killed_before_it_looks, .timeout = 120)
{
	woken_then_killed(1);
}

/* A closer that dies before waking anyone: every sleeper, consumers of an
 * empty queue or producers of a full one, must still end with -EPIPE. */
static void closer_dies(int full)
{
	enum { N = 3 };
	struct die_arg d = { new_queue(1, 4), 2 };
	uint32_t v = 5;
	pid_t s[N], c;
	int st;

	if (full)
		cr_assert_eq(conc_queue_put(d.q, &v, 4, 0), 0);
	for (int i = 0; i < N; i++) {
		s[i] = fork_child(full ? put_one : get_one, d.q);
		cr_assert(wait_thread_sleeping(s[i], s[i], WAIT_MS));
	}
	c = fork_child(die_at_wake_up, &d);
	st = wait_child(c, WAIT_MS);
	cr_assert(killed_by(st, SIGSYS), "status %#x", st);
	for (int i = 0; i < N; i++)
		cr_assert(exited_with(wait_child(s[i], WAIT_MS), full ? EPIPE : 100 + EPIPE),
			  "sleeper %d was not woken after the closer died", i);
	/* Closed for good; the dead closer's lock is taken over. */
	cr_assert_eq(conc_queue_put(d.q, &v, 4, 0), -EPIPE);
	cr_assert_eq(conc_queue_close(d.q), 0);
	if (full)
		cr_assert_eq(conc_queue_get(d.q, &v, 4, 0), 4);
	cr_assert_eq(conc_queue_get(d.q, &v, 4, CONC_FOREVER), -EPIPE);
	conc_queue_destroy(d.q);
}

Test(queue_crash, closer_killed_before_waking_consumers, .timeout = 120)
{
	need_seccomp();
	closer_dies(0);
}

Test(queue_crash, closer_killed_before_waking_producers, .timeout = 120)
{
	need_seccomp();
	closer_dies(1);
}

/* ---- kill storms ---------------------------------------------------------------- */

enum { NP = 3, NC = 3, MAXSEQ = 1 << 16 };
enum { S_NONE, S_FLIGHT, S_DONE };	/* a sequence's state */
enum { C_GET, C_BEGIN };		/* how a consumer takes messages */

struct log {
	uint32_t stop;
	uint32_t next[NP];		/* the next sequence of each producer */
	uint32_t phase[NC];		/* 0 idle, 1 in the get, 2 got, 3 logged */
	uint32_t errors, corrupt;
	uint32_t first_error;
	uint8_t state[NP][MAXSEQ];
	uint32_t recv[NP][MAXSEQ];
};

struct storm {
	conc_queue *q;
	struct log *log;
	int mode[NC];			/* C_GET or C_BEGIN per consumer */
	pid_t prod[NP], cons[NC];
	uint32_t loss_ok, dup_ok;	/* what the kills excuse */
	uint32_t kills;
	uint64_t seed;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fail(struct log *l, uint32_t code)
{
	__atomic_compare_exchange_n(&l->first_error, &(uint32_t){ 0 }, code, 0,
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	__atomic_fetch_add(&l->errors, 1, __ATOMIC_RELAXED);
}

static void producer(struct storm *s, uint32_t id)
{
	struct log *l = s->log;
	struct msg m;
	int64_t t = id == 0 ? CONC_FOREVER : id == 1 ? 2 * MS : 0;

	for (;;) {
		uint32_t seq = __atomic_load_n(&l->next[id], __ATOMIC_SEQ_CST);
		size_t n;
		int r;

		if (__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE))
			_exit(0);
		if (seq >= MAXSEQ) {
			sleep_ns(MS);
			continue;
		}
		n = make_msg(&m, id, seq);
		/* The sequence is used up before its put may begin. */
		__atomic_store_n(&l->next[id], seq + 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&l->state[id][seq], S_FLIGHT, __ATOMIC_SEQ_CST);
		r = conc_queue_put(s->q, &m, n, t);
		if (r == 0) {
			__atomic_store_n(&l->state[id][seq], S_DONE, __ATOMIC_SEQ_CST);
		} else if (r == -ETIMEDOUT) {
			/* Wholly out: it must never be received. */
			__atomic_store_n(&l->state[id][seq], S_NONE, __ATOMIC_SEQ_CST);
			if (t == 0)
				sched_yield();
		} else {
			fail(l, 1000 + (uint32_t)-r);
			_exit(1);
		}
	}
}

static void consumer(struct storm *s, uint32_t id)
{
	struct log *l = s->log;
	int begin = s->mode[id] == C_BEGIN;
	int64_t t = id % 2 ? 5 * MS : CONC_FOREVER;
	struct msg m;

	for (;;) {
		ssize_t n;

		__atomic_store_n(&l->phase[id], 1, __ATOMIC_SEQ_CST);
		n = begin ? conc_queue_get_begin(s->q, &m, sizeof(m), t)
			  : conc_queue_get(s->q, &m, sizeof(m), t);
		if (n == -ETIMEDOUT)
			continue;
		if (n == -EPIPE) {
			__atomic_store_n(&l->phase[id], 0, __ATOMIC_SEQ_CST);
			_exit(0);
		}
		if (n < 0) {
			fail(l, 2000 + (uint32_t)-n);
			_exit(1);
		}
		__atomic_store_n(&l->phase[id], 2, __ATOMIC_SEQ_CST);
		if (!msg_ok(&m, n) || m.who >= NP || m.seq >= MAXSEQ)
			__atomic_fetch_add(&l->corrupt, 1, __ATOMIC_SEQ_CST);
		else
			__atomic_fetch_add(&l->recv[m.who][m.seq], 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&l->phase[id], 3, __ATOMIC_SEQ_CST);
		if (begin && conc_queue_get_commit(s->q)) {
			fail(l, 3000);
			_exit(1);
		}
		__atomic_store_n(&l->phase[id], 0, __ATOMIC_SEQ_CST);
	}
}

static pid_t spawn(struct storm *s, int prod, uint32_t id)
{
	pid_t pid = test_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (prod)
			producer(s, id);
		else
			consumer(s, id);
		_exit(0);
	}
	return pid;
}

/* SIGKILL one of ours, reap it, book what its death excuses, restart it. */
static void kill_one(struct storm *s, int prod, uint32_t id)
{
	pid_t *pid = prod ? &s->prod[id] : &s->cons[id];
	uint32_t ph;
	int st;

	kill(*pid, SIGKILL);
	st = wait_child(*pid, WAIT_MS);
	cr_assert(killed_by(st, SIGKILL), "%s %u ended on its own: %#x (error %u)",
		  prod ? "producer" : "consumer", id, st, s->log->first_error);
	s->kills++;
	if (!prod) {
		ph = s->log->phase[id];
		if (s->mode[id] == C_GET && (ph == 1 || ph == 2))
			s->loss_ok++;
		if (s->mode[id] == C_BEGIN && ph == 3)
			s->dup_ok++;
		s->log->phase[id] = 0;
	}
	*pid = spawn(s, prod, id);
}

static struct storm *storm_new(uint32_t cap, const int mode[NC])
{
	struct storm *s = calloc(1, sizeof(*s));

	cr_assert_not_null(s);
	s->log = shared_alloc(sizeof(struct log));
	cr_assert_not_null(s->log);
	s->q = new_queue(cap, sizeof(struct msg));
	memcpy(s->mode, mode, sizeof(s->mode));
	s->seed = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x2545f4914f6cdd1dull;
	for (uint32_t i = 0; i < NC; i++)
		s->cons[i] = spawn(s, 0, i);
	for (uint32_t i = 0; i < NP; i++)
		s->prod[i] = spawn(s, 1, i);
	return s;
}

/* Stop, drain without a close, close, and check the log against the rules. */
static void storm_end(struct storm *s)
{
	struct log *l = s->log;
	uint32_t missing = 0, dups = 0, ghosts = 0, flight_dups = 0, done = 0;
	int64_t dl;

	set_flag(&l->stop, 1);
	for (int i = 0; i < NP; i++)
		cr_assert(exited_with(wait_child(s->prod[i], WAIT_MS), 0),
			  "producer %d did not finish (error %u)", i, l->first_error);
	/* Nobody is stuck: the consumers empty the queue with no close. */
	dl = now_ns() + WAIT_NS;
	while (conc_queue_size(s->q) > 0 && now_ns() < dl)
		sleep_ns(MS);
	cr_assert_eq(conc_queue_size(s->q), 0, "messages left with consumers alive");
	cr_assert_eq(conc_queue_close(s->q), 0);
	cr_assert_eq(conc_queue_put(s->q, "x", 1, 0), -EPIPE);
	for (int i = 0; i < NC; i++)
		cr_assert(exited_with(wait_child(s->cons[i], WAIT_MS), 0),
			  "consumer %d did not end on -EPIPE (error %u)", i, l->first_error);
	cr_assert_eq(l->errors, 0, "errors: %u, the first %u", l->errors, l->first_error);
	cr_assert_eq(l->corrupt, 0, "corrupt messages: %u", l->corrupt);
	for (uint32_t p = 0; p < NP; p++)
		for (uint32_t q = 0; q < MAXSEQ; q++) {
			uint32_t st = l->state[p][q], n = l->recv[p][q];

			if (st == S_NONE && n)
				ghosts++;
			if (st == S_DONE) {
				done++;
				if (!n)
					missing++;
			}
			if (n > 1)
				dups += n - 1;
			if (st == S_FLIGHT && n > 1)
				flight_dups++;
		}
	cr_log_info("%u kills, %u completed puts, %u lost (%u excused), %u "
		    "duplicates (%u excused)", s->kills, done, missing, s->loss_ok,
		    dups, s->dup_ok);
	cr_assert_eq(ghosts, 0, "%u messages received that were never put", ghosts);
	cr_assert_leq(missing, s->loss_ok, "%u completed puts lost, %u excused "
		      "(seed %#llx)", missing, s->loss_ok, (unsigned long long)s->seed);
	cr_assert_leq(dups, s->dup_ok, "%u duplicates, %u excused", dups, s->dup_ok);
	cr_assert_leq(flight_dups, s->dup_ok);
	cr_assert_gt(done, s->kills / 4, "the storm left too little traffic to judge");
	conc_queue_destroy(s->q);
	shared_free(s->log, sizeof(struct log));
	free(s);
}

/* Kill `kills` times, after a random 0-2 ms each, a victim chosen among
 * producers (if prod) and the consumers whose bit is set in cons. */
static void storm(struct storm *s, int kills, int prod, unsigned cons)
{
	int nv = (prod ? NP : 0) + __builtin_popcount(cons);

	for (int k = 0; k < kills; k++) {
		int v = (int)(rnd(&s->seed) % (uint64_t)nv);

		sleep_ns((int64_t)(rnd(&s->seed) % 2000) * 1000);
		if (prod && v < NP) {
			kill_one(s, 1, (uint32_t)v);
			continue;
		}
		v -= prod ? NP : 0;
		for (uint32_t c = 0; c < NC; c++)
			if ((cons >> c & 1) && v-- == 0)
				kill_one(s, 0, c);
	}
}

static const int all_get[NC] = { C_GET, C_GET, C_GET };
static const int all_begin[NC] = { C_BEGIN, C_BEGIN, C_BEGIN };
static const int mixed[NC] = { C_GET, C_BEGIN, C_GET };

/* Producers die anywhere in their puts, half messages included (up to
 * 2 KB each, so often inside the copy): completed puts arrive exactly
 * once, puts in flight at most once. */
Test(queue_crash, producers_killed_at_random, .timeout = 900)
{
	struct storm *s = storm_new(4, all_get);

	storm(s, 1500, 1, 0);
	storm_end(s);
}

/* conc_queue_get consumers die anywhere: nothing is duplicated, and what
 * is lost is no more than the consumers killed holding or taking one. */
Test(queue_crash, get_consumers_killed_at_random, .timeout = 900)
{
	struct storm *s = storm_new(4, all_get);

	storm(s, 800, 0, 0x7);
	storm_end(s);
}

/* get_begin/commit consumers die anywhere: nothing is ever lost. */
Test(queue_crash, two_step_consumers_killed_at_random_lose_nothing, .timeout = 300)
{
	struct storm *s = storm_new(4, all_begin);

	storm(s, 800, 0, 0x7);
	storm_end(s);
}

/* Everyone dies, in a small queue that is often full and often empty. */
Test(queue_crash, everyone_killed_at_random, .timeout = 900)
{
	struct storm *s = storm_new(2, mixed);

	storm(s, 1500, 1, 0x7);
	storm_end(s);
}

/* ---- killing sleepers ------------------------------------------------------------ */

struct sleepers {
	conc_queue *q;
	uint32_t got;
	uint32_t errors;
};

/* Takes messages with get_begin/commit (so a death loses none) forever. */
static int sleepy_consumer(void *arg)
{
	struct sleepers *z = arg;
	uint32_t v;

	for (;;) {
		ssize_t n = conc_queue_get_begin(z->q, &v, sizeof(v), CONC_FOREVER);

		if (n == -EPIPE)
			return 0;
		if (n != 4) {
			__atomic_fetch_add(&z->errors, 1, __ATOMIC_RELAXED);
			return 1;
		}
		__atomic_fetch_add(&z->got, 1, __ATOMIC_SEQ_CST);
		conc_queue_get_commit(z->q);
	}
}

static int sleepy_producer(void *arg)
{
	struct sleepers *z = arg;
	uint32_t v = 1;

	for (;;) {
		int r = conc_queue_put(z->q, &v, sizeof(v), CONC_FOREVER);

		if (r == -EPIPE)
			return 0;
		if (r) {
			__atomic_fetch_add(&z->errors, 1, __ATOMIC_RELAXED);
			return 1;
		}
		__atomic_fetch_add(&z->got, 1, __ATOMIC_SEQ_CST);
	}
}

static void wait_count(uint32_t *c, uint32_t want, const char *what, int round)
{
	int64_t dl = now_ns() + WAIT_NS;

	while (__atomic_load_n(c, __ATOMIC_SEQ_CST) < want && now_ns() < dl)
		sleep_ns(100000);
	cr_assert_geq(__atomic_load_n(c, __ATOMIC_SEQ_CST), want,
		      "round %d: %s stuck (%u of %u)", round, what, *c, want);
}

static void reap_killed(pid_t pid)
{
	kill(pid, SIGKILL);
	cr_assert(killed_by(wait_child(pid, WAIT_MS), SIGKILL));
}

/*
 * Consumers sleep on an empty queue. Each round kills one or two of them
 * (asleep, or just woken by the round before), restarts them, and has a
 * fresh producer put a few messages, sometimes killing a consumer right
 * after: the survivors must take every message, dying consumers' included.
 */
Test(queue_crash, sleeping_consumers_killed_survivors_still_served, .timeout = 300)
{
	enum { N = 4, ROUNDS = 300 };
	struct sleepers *z = shared_alloc(sizeof(*z));
	uint64_t seed = (uint64_t)now_ns() | 1;
	uint32_t sent = 0;
	pid_t c[N];

	cr_assert_not_null(z);
	z->q = new_queue(4, 4);
	for (int i = 0; i < N; i++)
		c[i] = fork_child(sleepy_consumer, z);
	for (int r = 0; r < ROUNDS; r++) {
		int kills = 1 + (int)(rnd(&seed) % 2), k = (int)(rnd(&seed) % 3) + 1;

		for (int j = 0; j < kills; j++) {
			int i = (int)(rnd(&seed) % N);

			reap_killed(c[i]);
			c[i] = fork_child(sleepy_consumer, z);
		}
		for (int j = 0; j < k; j++) {
			uint32_t v = (uint32_t)r;

			cr_assert_eq(conc_queue_put(z->q, &v, 4, WAIT_NS), 0);
		}
		sent += (uint32_t)k;
		if (r % 3 == 0) {
			int i = (int)(rnd(&seed) % N);

			sleep_ns((int64_t)(rnd(&seed) % 200) * 1000);
			reap_killed(c[i]);
			c[i] = fork_child(sleepy_consumer, z);
		}
		wait_count(&z->got, sent, "consumers", r);
		/* Redeliveries may overshoot; count from what was taken. */
		__atomic_store_n(&z->got, sent, __ATOMIC_SEQ_CST);
	}
	cr_assert_eq(conc_queue_close(z->q), 0);
	for (int i = 0; i < N; i++)
		cr_assert(exited_with(wait_child(c[i], WAIT_MS), 0));
	cr_assert_eq(z->errors, 0);
	cr_assert_eq(conc_queue_size(z->q), 0);
	conc_queue_destroy(z->q);
	shared_free(z, sizeof(*z));
}

/* Producers sleep on a full queue; kill some, take a few messages as a
 * fresh consumer (sometimes killing a producer right after): the
 * survivors must fill the room. */
Test(queue_crash, sleeping_producers_killed_survivors_still_served, .timeout = 300)
{
	enum { N = 4, ROUNDS = 300, CAP = 3 };
	struct sleepers *z = shared_alloc(sizeof(*z));
	uint64_t seed = (uint64_t)now_ns() | 1;
	pid_t p[N];

	cr_assert_not_null(z);
	z->q = new_queue(CAP, 4);
	for (int i = 0; i < N; i++)
		p[i] = fork_child(sleepy_producer, z);
	wait_count(&z->got, CAP, "producers", -1);
	for (int r = 0; r < ROUNDS; r++) {
		int kills = 1 + (int)(rnd(&seed) % 2), k = (int)(rnd(&seed) % CAP) + 1;
		uint32_t v;

		for (int j = 0; j < kills; j++) {
			int i = (int)(rnd(&seed) % N);

			reap_killed(p[i]);
			p[i] = fork_child(sleepy_producer, z);
		}
		/* What killed producers had in flight may or may not be in:
		 * count the room from the queue itself. */
		cr_assert_eq(conc_queue_size(z->q), CAP);
		__atomic_store_n(&z->got, 0, __ATOMIC_SEQ_CST);
		for (int j = 0; j < k; j++)
			cr_assert_eq(conc_queue_get(z->q, &v, 4, WAIT_NS), 4);
		if (r % 3 == 0) {
			int i = (int)(rnd(&seed) % N);

			sleep_ns((int64_t)(rnd(&seed) % 200) * 1000);
			reap_killed(p[i]);
			p[i] = fork_child(sleepy_producer, z);
		}
		{
			int64_t dl = now_ns() + WAIT_NS;

			while (conc_queue_size(z->q) < CAP && now_ns() < dl)
				sleep_ns(100000);
			cr_assert_eq(conc_queue_size(z->q), CAP,
				     "round %d: producers stuck beside free room", r);
		}
	}
	cr_assert_eq(conc_queue_close(z->q), 0);
	for (int i = 0; i < N; i++)
		cr_assert(exited_with(wait_child(p[i], WAIT_MS), 0));
	cr_assert_eq(z->errors, 0);
	conc_queue_destroy(z->q);
	shared_free(z, sizeof(*z));
}
