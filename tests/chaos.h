/*
 * tests/chaos.h — the engine of the randomized corruption harness
 * (test_ipc_chaos.c): a seeded generator, a peer that writes garbage into
 * a segment (once, or from a second process while the victim works), and
 * a call checker: every call returns within its bound and with a result
 * its contract lists.
 *
 * Seeded and replayable: CONC_CHAOS_SEED=n picks the seed (default fixed),
 * CONC_CHAOS_SECONDS=s how long each object is tortured (default 1; `make
 * chaos` runs longer). A failure prints the seed and the round.
 */
#ifndef CONC_TEST_CHAOS_H
#define CONC_TEST_CHAOS_H

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "helpers.h"

#define MS		 1000000LL
/* What a call may take beyond its own timeout: the library's documented
 * internal bounds (a creator's set-up, a producer's copy: 1 s each), and
 * room for a loaded machine. Well past it is a hang, not slowness. The
 * time the caller waited for a CPU is not counted (own_clock.h). */
#define CHAOS_SLACK_NS	 (6000 * MS)
/* A call that has not returned by then is reported and the test ends. */
#define CHAOS_WATCHDOG_S 30

struct chaos {
	uint64_t s;		/* generator state */
	uint64_t seed;
	unsigned round;
	const char *op;		/* the call under way, for the watchdog */
	pid_t victim;		/* the tid a peer may forge into lock words */
	unsigned char *raw;	/* the peer's own mapping of the whole file */
	size_t rawlen;
	pid_t writer;		/* the concurrent garbage writer, or 0 */
	unsigned long calls, errs;
	int64_t worst;		/* the longest a call took past its timeout */
	const char *worst_op;
	int64_t worst_timeout;
};

static struct chaos *chaos_now;

static uint64_t chaos_next(struct chaos *c)
{
	/* splitmix64: any seed, including 0, gives a good stream. */
	uint64_t z = (c->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static HELPER_UNUSED uint64_t chaos_below(struct chaos *c, uint64_t n)
{
	return n ? chaos_next(c) % n : 0;
}

static void chaos_watchdog(int sig)
{
	char msg[256];
	int n;

	(void)sig;
	n = snprintf(msg, sizeof(msg),
		     "chaos: %s has not returned after %d s (seed %llu round %u)\n",
		     chaos_now && chaos_now->op ? chaos_now->op : "?",
		     CHAOS_WATCHDOG_S,
		     chaos_now ? (unsigned long long)chaos_now->seed : 0ull,
		     chaos_now ? chaos_now->round : 0);
	if (n > 0)
		(void)!write(2, msg, (size_t)n);
	abort();
}

static HELPER_UNUSED void chaos_init(struct chaos *c, uint64_t salt)
{
	const char *e = getenv("CONC_CHAOS_SEED");

	memset(c, 0, sizeof(*c));
	c->seed = (e ? strtoull(e, NULL, 0) : 20261207ull) ^ salt;
	c->s = c->seed;
	c->victim = (pid_t)syscall(SYS_gettid);
	chaos_now = c;
	signal(SIGALRM, chaos_watchdog);
}

/* How long to run, in ns. */
static HELPER_UNUSED int64_t chaos_budget(void)
{
	const char *e = getenv("CONC_CHAOS_SECONDS");
	double s = e ? atof(e) : 1.0;

	return (int64_t)(s * 1e9);
}

/* A value a hostile peer would pick: lengths and offsets around the
 * segment's edges, lock states, the victim's own tid, or noise. */
static uint64_t chaos_value(struct chaos *c)
{
	uint64_t len = c->rawlen;

	switch (chaos_below(c, 16)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return UINT64_MAX;
	case 3: return (uint32_t)-1;
	case 4: return 0x7fffffff;
	case 5: return len - chaos_below(c, 80);
	case 6: return len + chaos_below(c, 80);
	case 7: return chaos_below(c, len);
	case 8: return (uint64_t)c->victim;
	case 9: return (uint64_t)c->victim | FUTEX_WAITERS;
	case 10: return FUTEX_OWNER_DIED;
	case 11: return 2;
	case 12: return chaos_below(c, 64);
	case 13: return (uint64_t)1 << chaos_below(c, 64);
	default: return chaos_next(c);
	}
}

/* One hostile store: a flipped bit, or 1, 2, 4 or 8 bytes of a chosen
 * value, aligned like the fields are, mostly near the front (headers,
 * geometry, locks) and sometimes anywhere. hdr: whether the segment's
 * own header may be hit. */
static HELPER_UNUSED void chaos_poke(struct chaos *c, int hdr)
{
	size_t lo = hdr ? 0 : 64, w = (size_t)1 << chaos_below(c, 4), off;
	uint64_t v = chaos_value(c);

	if (c->rawlen <= lo + 8)
		return;
	off = chaos_below(c, 3) ? lo + chaos_below(c, 512)
				: lo + chaos_below(c, c->rawlen - lo);
	off &= ~(w - 1);
	if (off + w > c->rawlen)
		return;
	/* A flipped bit keeps the rest of a structure plausible, which
	 * leads a call further in than noise does. */
	if (!chaos_below(c, 3)) {
		__atomic_fetch_xor(c->raw + off + chaos_below(c, w),
				   (uint8_t)(1u << chaos_below(c, 8)), __ATOMIC_RELAXED);
		return;
	}
	switch (w) {
	case 1: __atomic_store_n(c->raw + off, (uint8_t)v, __ATOMIC_RELAXED); break;
	case 2: __atomic_store_n((uint16_t *)(c->raw + off), (uint16_t)v, __ATOMIC_RELAXED); break;
	case 4: __atomic_store_n((uint32_t *)(c->raw + off), (uint32_t)v, __ATOMIC_RELAXED); break;
	default: __atomic_store_n((uint64_t *)(c->raw + off), v, __ATOMIC_RELAXED); break;
	}
}

/* The peer maps the named segment's whole file, header included. */
static HELPER_UNUSED void chaos_map(struct chaos *c, const char *name)
{
	char path[128];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		abort();
	c->rawlen = (size_t)st.st_size;
	c->raw = mmap(NULL, c->rawlen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (c->raw == MAP_FAILED)
		abort();
}

static HELPER_UNUSED void chaos_unmap(struct chaos *c)
{
	if (c->raw)
		munmap(c->raw, c->rawlen);
	c->raw = NULL;
}

/* A second process writes garbage at random moments until stopped. */
static HELPER_UNUSED void chaos_writer_start(struct chaos *c, int hdr)
{
	uint64_t seed = chaos_next(c);
	pid_t pid = fork();

	if (pid < 0)
		abort();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		c->s = seed;
		for (;;) {
			chaos_poke(c, hdr);
			/* Bursts and pauses: some calls run on a quiet
			 * segment, some are hit in the middle. */
			if (!chaos_below(c, 8))
				sleep_ns((int64_t)chaos_below(c, 200000));
		}
	}
	c->writer = pid;
}

static HELPER_UNUSED void chaos_writer_stop(struct chaos *c)
{
	int st;

	if (!c->writer)
		return;
	kill(c->writer, SIGKILL);
	while (waitpid(c->writer, &st, 0) < 0 && errno == EINTR)
		;
	c->writer = 0;
}

static int64_t chaos_t0;

static HELPER_UNUSED void chaos_begin(struct chaos *c, const char *op)
{
	c->op = op;
	c->calls++;
	alarm(CHAOS_WATCHDOG_S);
	chaos_t0 = own_now_ns();
}

/* End a call that returned r and was allowed timeout_ns (< 0: none of
 * its own): within bounds, and r >= 0 or one of the n errnos listed. */
static HELPER_UNUSED long chaos_end(struct chaos *c, long r, int64_t timeout_ns,
				    int n, ...)
{
	int64_t took = own_now_ns() - chaos_t0;
	va_list ap;
	int i, ok = r >= 0;

	alarm(0);
	va_start(ap, n);
	for (i = 0; i < n && !ok; i++)
		ok = r == -(long)va_arg(ap, int);
	va_end(ap);
	if (r < 0)
		c->errs++;
	if (!ok) {
		fprintf(stderr, "chaos: %s returned %ld (%s), not in its contract "
			"(seed %llu round %u)\n", c->op, r, strerror((int)-r),
			(unsigned long long)c->seed, c->round);
		abort();
	}
	if (took - (timeout_ns > 0 ? timeout_ns : 0) > c->worst) {
		c->worst = took - (timeout_ns > 0 ? timeout_ns : 0);
		c->worst_op = c->op;
		c->worst_timeout = timeout_ns;
	}
	if (took > (timeout_ns > 0 ? timeout_ns : 0) + CHAOS_SLACK_NS) {
		fprintf(stderr, "chaos: %s took %lld ms, its timeout %lld ms "
			"(seed %llu round %u)\n", c->op, (long long)(took / MS),
			(long long)(timeout_ns / MS), (unsigned long long)c->seed,
			c->round);
		abort();
	}
	c->op = NULL;
	return r;
}

/* CHAOS(c, timeout_ns, call, errnos...): run call under the checks. */
#define CHAOS_N(...) CHAOS_N_(__VA_ARGS__, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define CHAOS_N_(a, b, c, d, e, f, g, h, i, n, ...) n
#define CHAOS(c, t, call, ...)                                               \
	(chaos_begin((c), #call),                                            \
	 chaos_end((c), (long)(call), (t), CHAOS_N(__VA_ARGS__), __VA_ARGS__))

/* A timeout for one call: mostly short, sometimes zero. */
static HELPER_UNUSED int64_t chaos_timeout(struct chaos *c)
{
	static const int64_t t[] = { 0, 0, 1 * MS, 2 * MS, 5 * MS, 20 * MS };

	return t[chaos_below(c, sizeof(t) / sizeof(t[0]))];
}

#endif
