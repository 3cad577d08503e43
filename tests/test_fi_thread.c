/*
 * test_fi_thread.c — a stress test of conc threads running ordinary C
 * library code next to main, and proof that it can fail: with each of the
 * library's fault-injection switches (CONC_FI_*, compiled into the test
 * build only) turned on alone, the same stress must fail.
 *
 * Each stress run is a fresh process: this binary re-executed with
 * CONC_FI_THREAD_STRESS=<bits> in its environment (a constructor runs the
 * stress before Criterion's main), so that glibc starts single-threaded,
 * as in a program that never created a pthread (a fork of the Criterion
 * worker may already be multi-threaded, which would hide the hazards), and
 * so that GLIBC_TUNABLES=glibc.malloc.tcache_count=0 can be given: some
 * hazards only show when every small free goes to a fastbin. lib_tlsmod.so
 * is loaded at start-up (LD_PRELOAD of the child: in the initial link map,
 * static TLS, as a linked library), lib_tlsdyn.so with dlopen (dynamic TLS).
 *
 * The stress: rounds of 8 conc threads + main (later rounds reuse the
 * threads the earlier ones left parked), a "fastbin duel" of two threads on
 * two CPUs trading 24-byte blocks, then sequential start/join pairs that
 * hand each start to a parked thread. Each job does malloc/calloc/
 * realloc/free of random sizes with cross-thread frees (blocks traded
 * through shared slots, each checked before it is freed), errno ownership,
 * strerror (known and unknown numbers), snprintf, printf/fprintf/fputs/
 * fputc/putc/putchar to one shared stdout (a memfd, parsed afterwards: every
 * character counted, every record in order), ctype via the tables, TLS of
 * the program and of both libraries (fresh at each start, private to each
 * thread), sched_getcpu while pinned to a CPU other than 0, and atexit
 * registered in threads (the handlers must run at exit()). Each thread also
 * checks what glibc reads to know it is not alone (__libc_single_threaded,
 * the TCB's multiple_threads word), and a stream main holds with flockfile
 * must stop another thread's fputc: facts that need no lucky overlap of
 * the threads. Any crash, hang, non-zero exit or mismatch fails the run;
 * the child reports why on fd 3.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <gnu/libc-version.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <conc.h>
#include "task/libc.h"		/* CONC_FI_* and __conc_fi */

#define ENV_STRESS	"CONC_FI_THREAD_STRESS"
#define ENV_DIR		"CONC_FI_THREAD_DIR"
#define TCACHE0		"GLIBC_TUNABLES=glibc.malloc.tcache_count=0"
#define REPORT_FD	3

#define NTHR		8		/* conc threads, besides main */
#define MAIN_ID		NTHR
#define NID		(NTHR + 1)
#define ROUNDS		4
#define ROUND_MS	60		/* work per round */
#define REUSE_RUNS	16		/* sequential start+join pairs */
#define NSLOT		512		/* blocks traded between threads */
#define N_ATEXIT	5		/* handlers registered in threads */
#define DUEL_MS		100		/* the fastbin duel */
#define BURST		2048		/* characters in a row at a job's start */
#define CHILD_MS	20000		/* a stress child that takes longer hangs (a run
				 * takes 0.5 s, 0.7 s at load 47 on 2 CPUs) */

/* ==================================================================== */
/* The stress child                                                      */
/* ==================================================================== */

/* TLS of the program itself (static TLS, local-exec). */
static __thread int exe_x = 5;
static __thread char exe_str[16] = "exe image";
static __thread long exe_bss[32];

struct tlsapi {
	int *(*x)(void);
	char *(*str)(void);
	long *(*bss)(void);
	int xinit, nbss;
	const char *strinit;
};
static struct tlsapi mod, dyn;		/* linked (preloaded), dlopen'd */
static int dyn_loaded;

struct jobarg {
	int id, round;
};

/* What each job saw, per id (one job per id at a time). */
static struct res {
	uint64_t putc_n, rec_n;		/* characters and records written */
	void *errno_addr, *exe_addr, *mod_addr, *dyn_addr;
	uintptr_t self;
	pid_t tid;
	uint64_t iters;
} res[NID];

static void *slots[NSLOT];
static int stop, failed, nfail;
static int atexit_count, arrived[ROUNDS];
static pid_t phase_a_tids[ROUNDS][NTHR], reuse_tids[REUSE_RUNS];

static char *exp_strerror_ebadf;
static unsigned short exp_class[257];
static int exp_upper[257], exp_lower[257];
static int pin_cpus[CPU_SETSIZE], npin;
static cpu_set_t orig_mask;

static void report(const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(REPORT_FD, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Record a failure (the first few are reported) and make the jobs stop. */
static __attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...)
{
	char buf[320];
	va_list ap;
	int n;

	__atomic_store_n(&failed, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	if (__atomic_fetch_add(&nfail, 1, __ATOMIC_SEQ_CST) >= 3)
		return;
	memcpy(buf, "FAIL ", 5);
	va_start(ap, fmt);
	n = vsnprintf(buf + 5, sizeof(buf) - 6, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof(buf) - 7)
		n = (int)sizeof(buf) - 7;
	buf[5 + n] = '\n';
	report(buf, (size_t)n + 6);
}

static __attribute__((noreturn)) void setup_error(const char *what)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "SETUP %s (errno %d)\n", what, errno);

	report(buf, (size_t)n);
	_exit(2);
}

static int failing(void)
{
	return __atomic_load_n(&failed, __ATOMIC_RELAXED);
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- TLS --------------------------------------------------------------- */

static int api_fresh(const struct tlsapi *a)
{
	const long *b = a->bss();

	if (*a->x() != a->xinit || strcmp(a->str(), a->strinit))
		return 0;
	for (int i = 0; i < a->nbss; i++)
		if (b[i])
			return 0;
	return 1;
}

static void api_dirty(const struct tlsapi *a, int id)
{
	*a->x() = 1000 + id;
	strcpy(a->str(), "dirty");
	a->bss()[a->nbss - 1] = id + 1;
}

/* At the start of a job in a conc thread (new or reused): every TLS
 * variable of the program and of the libraries has its initial value. */
static void tls_fresh_check(int id, const char *when)
{
	int bss_ok = 1;

	for (int i = 0; i < 32; i++)
		if (exe_bss[i])
			bss_ok = 0;
	if (exe_x != 5 || strcmp(exe_str, "exe image") || !bss_ok)
		fail("%s thread %d: program TLS not initial (exe_x=%d str=\"%.15s\" bss %s)",
		     when, id, exe_x, exe_str, bss_ok ? "zero" : "dirty");
	if (!api_fresh(&mod))
		fail("%s thread %d: TLS of the linked library not initial (x=%d str=\"%.31s\")",
		     when, id, *mod.x(), mod.str());
	if (dyn_loaded && !api_fresh(&dyn))
		fail("%s thread %d: TLS of the dlopen'd library not initial (x=%d str=\"%.31s\")",
		     when, id, *dyn.x(), dyn.str());
}

static void tls_dirty(int id)
{
	exe_x = 1000 + id;
	strcpy(exe_str, "dirty");
	exe_bss[31] = id + 1;
	api_dirty(&mod, id);
	if (dyn_loaded)
		api_dirty(&dyn, id);
}

/* ---- ctype, strerror, snprintf, errno, CPU ------------------------------ */

static void ctype_expect(void)
{
	for (int c = -1; c < 256; c++) {
		unsigned short cl = 0;

		if (isalpha(c)) cl |= 1;
		if (isdigit(c)) cl |= 2;
		if (isspace(c)) cl |= 4;
		if (isupper(c)) cl |= 8;
		if (ispunct(c)) cl |= 16;
		if (isxdigit(c)) cl |= 32;
		exp_class[c + 1] = cl;
		exp_upper[c + 1] = toupper(c);
		exp_lower[c + 1] = tolower(c);
	}
}

static void ctype_check(int id)
{
	/* The tables are reached through per-thread pointers. */
	const unsigned short *b = *__ctype_b_loc();
	const int32_t *up = *__ctype_toupper_loc(), *lo = *__ctype_tolower_loc();

	if (!b || !up || !lo) {
		fail("thread %d: ctype table pointers NULL (b=%p toupper=%p tolower=%p)",
		     id, (void *)b, (void *)up, (void *)lo);
		return;
	}
	for (int c = -1; c < 256; c++) {
		unsigned short cl = 0;

		if (isalpha(c)) cl |= 1;
		if (isdigit(c)) cl |= 2;
		if (isspace(c)) cl |= 4;
		if (isupper(c)) cl |= 8;
		if (ispunct(c)) cl |= 16;
		if (isxdigit(c)) cl |= 32;
		if (cl != exp_class[c + 1] || toupper(c) != exp_upper[c + 1] ||
		    tolower(c) != exp_lower[c + 1] || up[c] != exp_upper[c + 1] ||
		    lo[c] != exp_lower[c + 1]) {
			fail("thread %d: ctype of %d wrong (class %#x/%#x, toupper %d/%d)",
			     id, c, cl, exp_class[c + 1], toupper(c), exp_upper[c + 1]);
			return;
		}
	}
}

static void strerror_check(int id, uint64_t it)
{
	char want[64];
	int unknown = 100000 + id * 1000 + (int)(it % 1000);
	const char *s = strerror(EBADF);

	if (!s || strcmp(s, exp_strerror_ebadf))
		fail("thread %d: strerror(EBADF) = \"%.40s\"", id, s ? s : "(null)");
	/* Unknown numbers are formatted into a per-thread buffer. */
	snprintf(want, sizeof(want), "Unknown error %d", unknown);
	s = strerror(unknown);
	if (!s || strcmp(s, want))
		fail("thread %d: strerror(%d) = \"%.40s\"", id, unknown, s ? s : "(null)");
}

static void snprintf_check(int id, uint64_t it)
{
	char got[96], want[96], digits[16];
	unsigned v = (unsigned)(it * 2654435761u) ^ (unsigned)id, x = v;
	int n, k = 0, d = 0;

	n = snprintf(got, sizeof(got), "%d:%x:%s:%c%%", id, v, "str", 'q');
	/* The same, built by hand. */
	want[k++] = (char)('0' + id);
	want[k++] = ':';
	do {
		digits[d++] = "0123456789abcdef"[x & 15];
		x >>= 4;
	} while (x);
	while (d)
		want[k++] = digits[--d];
	memcpy(want + k, ":str:q%", 8);
	if (n != (int)strlen(want) || strcmp(got, want))
		fail("thread %d: snprintf gave \"%s\", expected \"%s\"", id, got, want);
}

static void errno_check(int id, uint64_t it)
{
	int token = (int)(((unsigned)id << 20) | (unsigned)(it & 0xfffff)) + 200000;

	errno = token;
	if (it % 4 == 0)
		sched_yield();
	else
		for (volatile int i = 0; i < 50; i++)
			;
	if (errno != token) {
		fail("thread %d: errno changed under it: %d, expected %d", id, errno, token);
		return;
	}
	if (close(-1) != -1 || errno != EBADF)
		fail("thread %d: close(-1) left errno %d, expected EBADF", id, errno);
}

/* Pinned to a CPU other than 0, sched_getcpu() (rseq in glibc 2.35+) must
 * say so. The caller's mask is restored afterwards (workers are reused). */
static void pin_check(int id, int k)
{
	cpu_set_t one;
	int cpu;

	if (!npin)
		return;
	cpu = pin_cpus[(id + k) % npin];
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one)) {
		fail("thread %d: sched_setaffinity(%d): errno %d", id, cpu, errno);
		return;
	}
	for (int i = 0; i < 3; i++) {
		unsigned kcpu = ~0u;
		int got;

		if (syscall(SYS_getcpu, &kcpu, NULL, NULL) == 0 && (int)kcpu != cpu) {
			fail("thread %d: pinned to CPU %d, the kernel says %u", id, cpu, kcpu);
			break;
		}
		got = sched_getcpu();
		if (got != cpu) {
			fail("thread %d: pinned to CPU %d, sched_getcpu() says %d", id, cpu, got);
			break;
		}
		sched_yield();
	}
	if (sched_setaffinity(0, sizeof(orig_mask), &orig_mask))
		fail("thread %d: restoring the CPU mask: errno %d", id, errno);
}

/* ---- malloc with cross-thread frees --------------------------------- */

struct blk {
	uint64_t magic;		/* BLK_LIVE ^ size while held */
	uint64_t seed;
};
#define BLK_LIVE 0x6c697665626c6bULL

static size_t pick_size(uint64_t *r)
{
	unsigned x = (unsigned)(rnd(r) % 1000);

	if (x < 350)
		return 24;			/* one fastbin, hammered */
	if (x < 700)
		return 16 + rnd(r) % 105;	/* any fastbin (<= 120) */
	if (x < 900)
		return 121 + rnd(r) % 904;	/* small bins */
	if (x < 997)
		return 1025 + rnd(r) % 31744;	/* larger */
	return 65536 + rnd(r) % 196608;		/* around the mmap threshold */
}

static unsigned char pat(uint64_t seed, size_t i)
{
	return (unsigned char)((seed >> ((i & 7) * 8)) ^ i);
}

static void blk_fill(unsigned char *p, size_t size, uint64_t seed)
{
	struct blk *b = (struct blk *)p;
	size_t i, end = size < 256 ? size : 256;

	b->magic = BLK_LIVE ^ size;
	b->seed = seed;
	for (i = sizeof(*b); i < end; i++)
		p[i] = pat(seed, i);
	if (size > 256)
		for (i = size - 16; i < size; i++)
			p[i] = pat(seed, i);
}

/* Whether p (any thread's) is intact; marks it dead. */
static int blk_take(unsigned char *p, size_t *sizep)
{
	struct blk *b = (struct blk *)p;
	uint64_t seed = b->seed;
	size_t size = (size_t)(__atomic_exchange_n(&b->magic, 0, __ATOMIC_RELAXED) ^
			       BLK_LIVE), i, end;

	*sizep = size;
	if (size < 16 || size > 262144)
		return 0;
	end = size < 256 ? size : 256;
	for (i = sizeof(*b); i < end; i++)
		if (p[i] != pat(seed, i))
			return 0;
	if (size > 256)
		for (i = size - 16; i < size; i++)
			if (p[i] != pat(seed, i))
				return 0;
	return 1;
}

static void malloc_ops(int id, uint64_t *r, int n)
{
	for (int k = 0; k < n; k++) {
		size_t size = pick_size(r), got;
		unsigned char *p = malloc(size), *old;

		if (!p) {
			fail("thread %d: malloc(%zu) failed", id, size);
			return;
		}
		blk_fill(p, size, rnd(r));
		old = __atomic_exchange_n(&slots[rnd(r) % NSLOT], p, __ATOMIC_ACQ_REL);
		if (old) {
			if (!blk_take(old, &got)) {
				fail("thread %d: a traded block %p was corrupted (size field %zu)",
				     id, (void *)old, got);
				return;	/* leave it: freeing it may crash elsewhere */
			}
			free(old);
		}
	}
	/* Local: calloc zeroed, realloc keeps the prefix. */
	{
		size_t n1 = 1 + rnd(r) % 2000, n2 = n1 + 1 + rnd(r) % 6000;
		unsigned char *q = calloc(1, n1), *q2;

		if (!q) {
			fail("thread %d: calloc(%zu) failed", id, n1);
			return;
		}
		for (size_t i = 0; i < n1; i++)
			if (q[i]) {
				fail("thread %d: calloc(%zu) byte %zu is %d", id, n1, i, q[i]);
				free(q);
				return;
			}
		memset(q, 0x5a ^ id, n1);
		q2 = realloc(q, n2);
		if (!q2) {
			free(q);
			fail("thread %d: realloc failed", id);
			return;
		}
		for (size_t i = 0; i < n1; i++)
			if (q2[i] != (unsigned char)(0x5a ^ id)) {
				fail("thread %d: realloc lost byte %zu of %zu", id, i, n1);
				break;
			}
		free(q2);
	}
}

/* ---- shared stdout ------------------------------------------------------ */

/* One character ('a' + id) or one record "<Xnnnnnn>" (X = 'A' + id, nnnnnn
 * the id's record number, in order) at a time, by various calls. */
static void stdio_ops(int id, uint64_t it)
{
	struct res *r = &res[id];
	int c = 'a' + id, rc;

	switch (it % 3) {
	case 0: rc = fputc(c, stdout); break;
	case 1: rc = putc(c, stdout); break;
	default: rc = putchar(c); break;
	}
	if (rc != c)
		fail("thread %d: fputc/putc/putchar returned %d", id, rc);
	r->putc_n++;
	/* Now and then a burst, so that writers meet in the buffer. */
	if (it % 64 == 0) {
		for (int k = 0; k < 128; k++)
			if (fputc(c, stdout) != c) {
				fail("thread %d: fputc failed in a burst", id);
				break;
			}
		r->putc_n += 128;
	}
	if (it % 8 == 7) {
		unsigned seq = (unsigned)r->rec_n;
		char buf[16];

		switch ((it / 8) % 3) {
		case 0: rc = printf("<%c%06u>", 'A' + id, seq); break;
		case 1: rc = fprintf(stdout, "<%c%06u>", 'A' + id, seq); break;
		default:
			snprintf(buf, sizeof(buf), "<%c%06u>", 'A' + id, seq);
			rc = fputs(buf, stdout) >= 0 ? 9 : -1;
			break;
		}
		if (rc != 9)
			fail("thread %d: printf/fprintf/fputs returned %d", id, rc);
		r->rec_n++;
	}
}

static void verify_output(void)
{
	uint64_t chars[NID] = { 0 }, recs[NID] = { 0 };
	off_t len;
	char *buf;

	if (fflush(stdout))
		fail("fflush(stdout): errno %d", errno);
	len = lseek(1, 0, SEEK_END);
	if (len < 0) {
		fail("lseek(stdout): errno %d", errno);
		return;
	}
	buf = malloc((size_t)len + 1);
	if (!buf || pread(1, buf, (size_t)len, 0) != len) {
		fail("reading the output back failed");
		free(buf);
		return;
	}
	for (off_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c >= 'a' && c < 'a' + NID) {
			chars[c - 'a']++;
		} else if (c == '<') {
			int id, ok = i + 9 <= len;
			unsigned seq = 0;

			id = ok ? buf[i + 1] - 'A' : -1;
			ok = ok && id >= 0 && id < NID && buf[i + 8] == '>';
			for (int k = 2; ok && k < 8; k++) {
				if (buf[i + k] < '0' || buf[i + k] > '9')
					ok = 0;
				seq = seq * 10 + (unsigned)(buf[i + k] - '0');
			}
			if (!ok) {
				fail("output: garbled record at offset %lld: \"%.9s\"",
				     (long long)i, buf + i);
				break;
			}
			if (seq != recs[id]) {
				fail("output: record %u of thread %d where %llu was due (lost or reordered)",
				     seq, id, (unsigned long long)recs[id]);
				break;
			}
			recs[id]++;
			i += 8;
		} else {
			fail("output: stray byte %#x at offset %lld", c, (long long)i);
			break;
		}
	}
	for (int id = 0; id < NID && !failing(); id++) {
		if (chars[id] != res[id].putc_n)
			fail("output: %llu characters of thread %d, %llu written (fputc lost/duplicated)",
			     (unsigned long long)chars[id], id,
			     (unsigned long long)res[id].putc_n);
		else if (recs[id] != res[id].rec_n)
			fail("output: %llu records of thread %d, %llu written",
			     (unsigned long long)recs[id], id,
			     (unsigned long long)res[id].rec_n);
	}
	free(buf);
}

/* ---- atexit ------------------------------------------------------------- */

static void counted_at_exit(void)
{
	__atomic_fetch_add(&atexit_count, 1, __ATOMIC_RELAXED);
}

/* Registered by main first, so it runs last. */
static void report_at_exit(void)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "ATEXIT %d\n",
			 __atomic_load_n(&atexit_count, __ATOMIC_RELAXED));

	report(buf, (size_t)n);
}

/* ---- what glibc reads to know it is not alone --------------------------
 * The hazards of a glibc that believes it is single-threaded (malloc
 * without its arena locks, atomics without the lock prefix, stdio without
 * its stream locks) are races between CPUs: the stress shows them only
 * when the threads happen to run at once, which a loaded machine may not
 * let them do for many runs (at load 40 on 2 CPUs the missing stdio locks
 * showed in 2 runs of 40). So each run also checks, whatever the
 * scheduler does, the facts those code paths read. */

/* In every thread, while conc threads run: __libc_single_threaded (the
 * public flag malloc reads) is 0 and, on x86_64, the TCB's
 * multiple_threads word (%fs:0x18, which glibc 2.36's atomics read) is
 * not. */
static void mt_facts_check(int id)
{
	if (__libc_single_threaded)
		fail("thread %d: __libc_single_threaded is %d while conc threads run",
		     id, (int)__libc_single_threaded);
#if defined(__x86_64__)
	{
		int mt;

		__asm__ volatile("movl %%fs:0x18, %0" : "=r"(mt));
		if (!mt)
			fail("thread %d: the TCB's multiple_threads word is 0 while conc threads run",
			     id);
	}
#endif
}

static pid_t probe_tid;
static int probe_done;

static int probe_putc(void *p)
{
	(void)p;
	__atomic_store_n(&probe_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	if (fputc('a' + MAIN_ID, stdout) != 'a' + MAIN_ID)
		fail("stdio probe: fputc failed");
	__atomic_store_n(&probe_done, 1, __ATOMIC_SEQ_CST);
	return 0;
}

/* Whether thread tid is inside futex(2) now (/proc's syscall file). */
static int in_futex(pid_t tid)
{
	char path[64], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strtol(buf, NULL, 10) == SYS_futex;
}

static void join_or_die(conc_thread *h, int want, const char *what, int id);

/* A stream that main holds (flockfile) must stop another thread's fputc
 * until main lets it go: that thread either sleeps in futex(2), on the
 * stream's lock, or (stdio locks off) writes at once. Only the second is
 * a verdict; a thread the machine did not run within the bound says
 * nothing. */
static void stdio_lock_probe(void)
{
	conc_thread_attr attr = { .stack_size = 256 << 10, .name = "fi-probe" };
	int64_t give_up = mono_ns() + 3000000000LL;
	conc_thread *t;
	pid_t tid = 0;

	flockfile(stdout);
	if (conc_thread_start(&t, probe_putc, NULL, &attr)) {
		funlockfile(stdout);
		fail("stdio probe: conc_thread_start failed");
		return;
	}
	while (mono_ns() < give_up) {
		if (__atomic_load_n(&probe_done, __ATOMIC_SEQ_CST))
			break;
		if (!tid)
			tid = __atomic_load_n(&probe_tid, __ATOMIC_ACQUIRE);
		/* Asleep in futex(2) and still not done: blocked on the lock
		 * (its done is stored before it could park). */
		if (tid && in_futex(tid) && !__atomic_load_n(&probe_done, __ATOMIC_SEQ_CST))
			break;
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
	if (__atomic_load_n(&probe_done, __ATOMIC_SEQ_CST))
		fail("stdio probe: another thread's fputc went through a stream main held with flockfile (the stdio locks are off)");
	funlockfile(stdout);
	join_or_die(t, 0, "stdio probe", 0);
	res[MAIN_ID].putc_n++;
}

/* ---- the jobs ----------------------------------------------------------- */

static void record_identity(int id)
{
	struct res *r = &res[id];

	r->errno_addr = &errno;
	r->exe_addr = &exe_x;
	r->mod_addr = mod.x();
	r->dyn_addr = dyn_loaded ? dyn.x() : NULL;
	r->tid = (pid_t)syscall(SYS_gettid);
}

/* Wait (bounded) until every job of the round is here. */
static void start_line(int round)
{
	int64_t give_up = mono_ns() + 500000000;

	__atomic_fetch_add(&arrived[round], 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&arrived[round], __ATOMIC_ACQUIRE) < NID &&
	       !failing() && mono_ns() < give_up)
		sched_yield();
}

static int stress_job(void *p)
{
	const struct jobarg *a = p;
	int id = a->id;
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(id + 1) + (uint64_t)a->round * 7919 + 1;
	int64_t deadline = mono_ns() + ROUND_MS * 1000000LL;
	int *mx = mod.x(), *dx = dyn_loaded ? dyn.x() : NULL;
	uint64_t it;

	if (id != MAIN_ID) {
		tls_fresh_check(id, a->round ? "round 1+ (parked threads reused)"
					     : "round 0");
		if (!conc_thread_self())
			fail("thread %d: conc_thread_self() is NULL", id);
		if (a->round == 0 && id < N_ATEXIT - 1 && atexit(counted_at_exit))
			fail("thread %d: atexit failed", id);
	} else if (conc_thread_self()) {
		fail("main: conc_thread_self() is not NULL");
	}
	record_identity(id);
	mt_facts_check(id);
	ctype_check(id);
	pin_check(id, 0);
	/* All nine together, then a burst of characters: writers meet. */
	start_line(a->round);
	for (int k = 0; k < BURST; k++)
		if (fputc('a' + id, stdout) != 'a' + id) {
			fail("thread %d: fputc failed in a burst", id);
			break;
		}
	res[id].putc_n += BURST;
	for (it = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); it++) {
		int token = (int)(((unsigned)id << 24) | (unsigned)(it & 0xffffff));

		exe_x = token;
		exe_bss[it % 32] = token;
		*mx = token;
		if (dx)
			*dx = token;
		malloc_ops(id, &rng, 8);
		stdio_ops(id, it);
		errno_check(id, it);
		if (it % 16 == 0) {
			strerror_check(id, it);
			snprintf_check(id, it);
		}
		if (it % 64 == 0)
			ctype_check(id);
		if (exe_x != token || exe_bss[it % 32] != token || *mx != token ||
		    (dx && *dx != token))
			fail("thread %d: a TLS variable changed under it (exe %d, lib %d, dlopen'd %d, expected %d)",
			     id, exe_x, *mx, dx ? *dx : token, token);
		exe_bss[it % 32] = 0;
		if (id == MAIN_ID && mono_ns() >= deadline)
			__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	}
	pin_check(id, 1);
	res[id].iters += it;
	res[id].self = (uintptr_t)conc_thread_self();
	if (id != MAIN_ID)
		tls_dirty(id);
	return 100 + id;
}

static int reuse_job(void *p)
{
	const struct jobarg *a = p;
	uint64_t rng = 0x2545f4914f6cdd1dULL + (uint64_t)a->round;

	tls_fresh_check(a->id, "sequential start (reused thread)");
	ctype_check(a->id);
	errno_check(a->id, (uint64_t)a->round);
	strerror_check(a->id, (uint64_t)a->round);
	pin_check(a->id, a->round);
	malloc_ops(a->id, &rng, 32);
	if (a->round == 5 && atexit(counted_at_exit))
		fail("reuse %d: atexit failed", a->round);
	reuse_tids[a->round] = (pid_t)syscall(SYS_gettid);
	tls_dirty(a->id);
	return 7;
}

/* ---- the fastbin duel ---------------------------------------------------
 * Two threads on two CPUs trade fastbin-sized blocks through two rings:
 * each mallocs from its own arena while the other frees into that arena's
 * fastbin (a lock-free push that only the TCB's multiple_threads word makes
 * a locked instruction), the tightest form of the cross-thread frees. */
#define RING 256
struct ring {
	void *slot[RING];
	uint32_t head __attribute__((aligned(64)));	/* consumer */
	uint32_t tail __attribute__((aligned(64)));	/* producer */
};
static struct ring rings[2];
static uint64_t duel_n[2];

static int ring_push(struct ring *r, void *p)
{
	uint32_t t = r->tail;

	if (t - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == RING)
		return 0;
	r->slot[t % RING] = p;
	__atomic_store_n(&r->tail, t + 1, __ATOMIC_RELEASE);
	return 1;
}

static void *ring_pop(struct ring *r)
{
	uint32_t h = r->head;
	void *p;

	if (h == __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE))
		return NULL;
	p = r->slot[h % RING];
	__atomic_store_n(&r->head, h + 1, __ATOMIC_RELEASE);
	return p;
}

static int duel_check(uint64_t *p, uint64_t want)
{
	return p[0] == want && p[1] == ~want && p[2] == (want ^ 0x5555555555555555ULL);
}

static void duel_fill(uint64_t *p, uint64_t v)
{
	p[0] = v;
	p[1] = ~v;
	p[2] = v ^ 0x5555555555555555ULL;
}

static int duel_job(void *arg)
{
	const struct jobarg *a = arg;
	int me = a->id, cpu = -1;
	struct ring *out = &rings[me], *in = &rings[!me];
	uint64_t n = 0, got = 0;
	cpu_set_t one;

	/* Each on a CPU of its own, when there are two. */
	for (int c = 0, k = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &orig_mask) && k++ == me)
			cpu = c;
	if (cpu >= 0 && CPU_COUNT(&orig_mask) > 1) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one))
			fail("duel %d: sched_setaffinity: errno %d", me, errno);
	}
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		for (int k = 0; k < 64; k++) {
			uint64_t *p = malloc(24), *q;

			if (!p) {
				fail("duel %d: malloc(24) failed", me);
				break;
			}
			/* The value records who filled it and when: a block
			 * handed out twice is overwritten by its second owner. */
			duel_fill(p, ((uint64_t)me << 63) | n++);
			if (!ring_push(out, p))
				free(p);
			q = ring_pop(in);
			if (q) {
				if (!duel_check(q, q[0]) || (q[0] >> 63) == (uint64_t)me) {
					fail("duel %d: a traded 24-byte block was corrupted", me);
					break;
				}
				q[0] = q[1] = q[2] = 0;
				free(q);
				got++;
			}
		}
	}
	duel_n[me] = got;
	if (sched_setaffinity(0, sizeof(orig_mask), &orig_mask))
		fail("duel %d: restoring the CPU mask: errno %d", me, errno);
	return 0;
}

static void duel(void)
{
	static struct jobarg da[2];
	conc_thread_attr attr = { .stack_size = 256 << 10, .name = "fi-duel" };
	struct timespec d = { 0, DUEL_MS * 1000000L };
	conc_thread *h[2];

	__atomic_store_n(&stop, failing(), __ATOMIC_SEQ_CST);
	for (int i = 0; i < 2; i++) {
		da[i].id = i;
		if (conc_thread_start(&h[i], duel_job, &da[i], &attr)) {
			fail("duel: conc_thread_start failed");
			report("START\n", 6);
			_exit(1);
		}
	}
	nanosleep(&d, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 2; i++)
		join_or_die(h[i], 0, "duel", i);
	for (int i = 0; i < 2; i++) {
		void *p;

		while ((p = ring_pop(&rings[i])))
			free(p);
	}
}

static void check_distinct(const char *what, void *const *v, int n)
{
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (v[i] && v[i] == v[j]) {
				fail("%s of thread %d and thread %d is the same (%p)",
				     what, i, j, v[i]);
				return;
			}
}

static void join_or_die(conc_thread *h, int want, const char *what, int id)
{
	int code = -1, r = conc_thread_join(h, &code, 5000000000LL);

	if (r) {
		fail("%s %d: conc_thread_join: %d", what, id, r);
		report("JOIN\n", 5);
		_exit(1);
	}
	if (code != want)
		fail("%s %d: exit code %d, expected %d", what, id, code, want);
}

static void load_api(struct tlsapi *a, void *h, const char *pfx)
{
	char name[64];
	int (*xi)(void), (*nb)(void);
	const char *(*si)(void);

#define SYM(var, s) do { \
	snprintf(name, sizeof(name), "%s_%s", pfx, s); \
	*(void **)&(var) = dlsym(h, name); \
	if (!(var)) setup_error(name); \
} while (0)
	SYM(a->x, "x");
	SYM(a->str, "str");
	SYM(a->bss, "bss");
	SYM(xi, "x_init");
	SYM(nb, "nbss");
	SYM(si, "str_init");
#undef SYM
	a->xinit = xi();
	a->nbss = nb();
	a->strinit = si();
}

static __attribute__((noreturn)) void stress_child(unsigned bits)
{
	static struct jobarg args[NID];
	conc_thread_attr attr = { .stack_size = 256 << 10, .name = "fi-stress" };
	conc_thread *h[NTHR];
	uintptr_t hv[NTHR];
	const char *dir = getenv(ENV_DIR);
	char path[PATH_MAX];
	void *dl;
	int mfd, r;

	if (!__libc_single_threaded)
		setup_error("the process is already multi-threaded");
	if (!dir)
		setup_error(ENV_DIR " not set");
	load_api(&mod, RTLD_DEFAULT, "tlsmod");
	snprintf(path, sizeof(path), "%s/lib_tlsdyn.so", dir);
	/* stdout: a memfd, small buffer so that it is flushed often. */
	mfd = memfd_create("fi-stress-out", MFD_CLOEXEC);
	if (mfd < 0 || dup2(mfd, 1) != 1)
		setup_error("memfd");
	close(mfd);
	setvbuf(stdout, NULL, _IOFBF, 256);
	exp_strerror_ebadf = strdup(strerror(EBADF));
	ctype_expect();
	if (sched_getaffinity(0, sizeof(orig_mask), &orig_mask))
		setup_error("sched_getaffinity");
	for (int c = 1; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &orig_mask))
			pin_cpus[npin++] = c;
	if (atexit(report_at_exit))
		setup_error("atexit");

	__conc_fi = bits;

	/* Phase A: rounds of 8 threads + main; later rounds reuse the parked
	 * threads. The dlopen'd library comes after round 0, so threads made
	 * before it get its (dynamic) TLS too. */
	for (int round = 0; round < ROUNDS && !failing(); round++) {
		void *addr[4][NID];

		if (round == 1) {
			dl = dlopen(path, RTLD_NOW);
			if (!dl)
				setup_error(dlerror());
			load_api(&dyn, dl, "tlsdyn");
			__atomic_store_n(&dyn_loaded, 1, __ATOMIC_RELEASE);
		}
		__atomic_store_n(&stop, failing(), __ATOMIC_SEQ_CST);
		for (int i = 0; i < NTHR; i++) {
			args[i].id = i;
			args[i].round = round;
			r = conc_thread_start(&h[i], stress_job, &args[i], &attr);
			if (r == -ENOTSUP && round == 0 && i == 0)
				setup_error("conc_thread_start: -ENOTSUP, no conc threads with this C library");
			if (r) {
				fail("round %d: conc_thread_start: %d", round, r);
				report("START\n", 6);
				_exit(1);
			}
			hv[i] = (uintptr_t)h[i];
		}
		args[MAIN_ID].id = MAIN_ID;
		args[MAIN_ID].round = round;
		stress_job(&args[MAIN_ID]);
		for (int i = 0; i < NTHR; i++)
			join_or_die(h[i], 100 + i, "thread", i);
		for (int i = 0; i < NTHR; i++) {
			if (res[i].self != hv[i])
				fail("thread %d: conc_thread_self() was %#lx, its handle %#lx",
				     i, (unsigned long)res[i].self, (unsigned long)hv[i]);
			phase_a_tids[round][i] = res[i].tid;
		}
		for (int i = 0; i < NID; i++) {
			addr[0][i] = res[i].errno_addr;
			addr[1][i] = res[i].exe_addr;
			addr[2][i] = res[i].mod_addr;
			addr[3][i] = res[i].dyn_addr;
		}
		check_distinct("&errno", addr[0], NID);
		check_distinct("program TLS", addr[1], NID);
		check_distinct("linked library TLS", addr[2], NID);
		check_distinct("dlopen'd library TLS", addr[3], NID);
	}

	/* Phase P: a stream held by main stops another thread's fputc. */
	if (!failing())
		stdio_lock_probe();

	/* Phase D: the fastbin duel. */
	if (!failing())
		duel();

	/* Phase B: sequential start+join, each start handed to a parked
	 * thread: its TLS must be fresh again. */
	for (int i = 0; i < REUSE_RUNS && !failing(); i++) {
		struct timespec d = { 0, 300000 };
		conc_thread *t;

		args[0].id = i % NTHR;
		args[0].round = i;
		r = conc_thread_start(&t, reuse_job, &args[0], &attr);
		if (r) {
			fail("reuse %d: conc_thread_start: %d", i, r);
			report("START\n", 6);
			_exit(1);
		}
		join_or_die(t, 7, "reuse", i);
		nanosleep(&d, NULL);	/* let it park */
	}
	if (!failing()) {
		int reused = 0;

		for (int i = 0; i < REUSE_RUNS; i++) {
			for (int k = 0; k < i; k++)
				if (reuse_tids[k] == reuse_tids[i])
					reused = 1;
			for (int rd = 0; rd < ROUNDS; rd++)
				for (int k = 0; k < NTHR; k++)
					if (phase_a_tids[rd][k] == reuse_tids[i])
						reused = 1;
		}
		if (!reused)
			fail("no start reused a parked thread: the reset of TLS went untested");
	}

	/* Drain the slots, then read stdout back. */
	for (int i = 0; i < NSLOT && !failing(); i++) {
		size_t got;

		if (slots[i] && !blk_take(slots[i], &got))
			fail("drain: slot %d block corrupted", i);
		else
			free(slots[i]);
		slots[i] = NULL;
	}
	if (!failing())
		verify_output();
	if (failing())
		_exit(1);
	{
		char buf[160];
		int n = snprintf(buf, sizeof(buf),
				 "STRESS-OK iterations thread 0 %llu, main %llu; duel trades %llu+%llu\n",
				 (unsigned long long)res[0].iters,
				 (unsigned long long)res[MAIN_ID].iters,
				 (unsigned long long)duel_n[0],
				 (unsigned long long)duel_n[1]);

		report(buf, (size_t)n);
	}
	/* exit(), not _exit(): the handlers registered in threads must run. */
	exit(0);
}

__attribute__((constructor)) static void stress_entry(void)
{
	const char *s = getenv(ENV_STRESS);

	if (s)
		stress_child((unsigned)strtoul(s, NULL, 0));
}

/* ==================================================================== */
/* The parent side                                                       */
/* ==================================================================== */

static char self_dir[PATH_MAX];

static char self_exe[PATH_MAX];

/* This binary, and its directory (where the test libraries are built). */
static const char *find_dir(void)
{
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	char *slash;

	cr_assert(n > 0, "readlink(/proc/self/exe)");
	self_exe[n] = 0;
	snprintf(self_dir, sizeof(self_dir), "%s", self_exe);
	slash = strrchr(self_dir, '/');
	cr_assert(slash);
	*slash = 0;
	return self_dir;
}

static int skip_env(const char *e)
{
	static const char *const drop[] = { ENV_STRESS "=", ENV_DIR "=",
					    "GLIBC_TUNABLES=", "LD_PRELOAD=" };

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (!strncmp(e, drop[i], strlen(drop[i])))
			return 1;
	return 0;
}

/*
 * One stress run in a fresh process with fault bits `bits`, and malloc's
 * tcache off if tcache0. 0: passed; 1: failed (why says how); 2: could not
 * be set up (not a verdict on the threads).
 */
static int run_stress(unsigned bits, int tcache0, char *why, size_t whylen)
{
	extern char **environ;
	const char *dir = find_dir();
	char e_stress[64], e_dir[PATH_MAX + 32],
	     e_pre[PATH_MAX + 32], out[1024];
	char **env;
	char *argv[2];
	size_t n = 0, ne = 0, olen = 0;
	int pfd[2], st;
	pid_t pid;
	int64_t deadline;

	snprintf(e_pre, sizeof(e_pre), "LD_PRELOAD=%s/lib_tlsmod.so", dir);
	cr_assert(access(e_pre + 11, R_OK) == 0,
		  "%s missing: build the test libraries (make tests)", e_pre + 11);
	snprintf(e_dir, sizeof(e_dir), "%s/lib_tlsdyn.so", dir);
	cr_assert(access(e_dir, R_OK) == 0,
		  "%s missing: build the test libraries (make tests)", e_dir);
	snprintf(e_dir, sizeof(e_dir), "%s=%s", ENV_DIR, dir);
	snprintf(e_stress, sizeof(e_stress), "%s=%u", ENV_STRESS, bits);
	while (environ[n])
		n++;
	env = calloc(n + 5, sizeof(*env));
	cr_assert(env);
	for (size_t i = 0; i < n; i++)
		if (!skip_env(environ[i]))
			env[ne++] = environ[i];
	env[ne++] = e_stress;
	env[ne++] = e_dir;
	env[ne++] = e_pre;
	if (tcache0)
		env[ne++] = (char *)TCACHE0;
	env[ne] = NULL;
	argv[0] = self_exe;
	argv[1] = NULL;
	cr_assert(pipe2(pfd, O_CLOEXEC) == 0);

	pid = fork();
	cr_assert(pid >= 0, "fork");
	if (pid == 0) {
		/* stderr too: glibc's own abort messages are reports. */
		if (dup2(pfd[1], REPORT_FD) < 0 || fcntl(REPORT_FD, F_SETFD, 0) ||
		    dup2(pfd[1], 2) < 0)
			_exit(126);
		execve(self_exe, argv, env);
		_exit(127);
	}
	close(pfd[1]);
	free(env);

	/* Read the report until EOF (the child is gone) or the deadline. */
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + CHILD_MS;
	}
	for (;;) {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		struct timespec ts;
		int64_t now, left;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		left = deadline - now;
		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			break;
		if (!p.revents)
			continue;
		r = read(pfd[0], out + olen, sizeof(out) - 1 - olen);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			break;
		}
		olen += (size_t)r;
		if (olen == sizeof(out) - 1)
			olen = 0;	/* a flood: keep the latest */
	}
	out[olen] = 0;
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	/* Trim the final newline for the message. */
	while (olen && out[olen - 1] == '\n')
		out[--olen] = 0;
	for (char *c = out; *c; c++)
		if (*c == '\n')
			*c = '|';

	if (WIFEXITED(st) && WEXITSTATUS(st) == 2 && strstr(out, "SETUP")) {
		snprintf(why, whylen, "%.1000s", out);
		return 2;
	}
	if (WIFSIGNALED(st)) {
		snprintf(why, whylen, "killed by signal %d (%s)%s; report: %.1000s",
			 WTERMSIG(st), strsignal(WTERMSIG(st)),
			 WTERMSIG(st) == SIGKILL ? ", hung or killed at the deadline" : "",
			 olen ? out : "-");
		return 1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(why, whylen, "exit status %d; report: %.1000s",
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1, olen ? out : "-");
		return 1;
	}
	{
		char want[32];

		snprintf(want, sizeof(want), "ATEXIT %d", N_ATEXIT);
		if (!strstr(out, "STRESS-OK") || !strstr(out, want)) {
			snprintf(why, whylen,
				 "exit 0, but the report lacks STRESS-OK or \"%s\" (handlers registered in threads did not all run): %.1000s",
				 want, olen ? out : "-");
			return 1;
		}
	}
	snprintf(why, whylen, "%s", out);
	return 0;
}

static const char *variant(int tcache0)
{
	return tcache0 ? "tcache_count=0" : "default malloc";
}

Test(fi_thread, stress_passes_without_faults, .timeout = 150)
{
	char why[2048];

	for (int run = 0; run < 5; run++)
		for (int v = 0; v < 2; v++) {
			int r = run_stress(0, v, why, sizeof(why));

			cr_assert_eq(r, 0, "run %d (%s): the stress failed with no fault injected: %s",
				     run, variant(v), why);
		}
	cr_log_info("no fault: 10 runs passed; the last: %s", why);
}

/* Every hazard has a check that does not wait for the scheduler to make
 * the threads meet (mt_facts_check, stdio_lock_probe; TLS, ctype, rseq and
 * the pointer guard are facts of each thread), so the first run fails. The
 * races of the stress proper showed the hazards of a glibc that believes
 * it is alone only now and then under load (2 runs in 40 at load 40 on
 * 2 CPUs for the stdio locks), so they were no proof; the runs after the
 * first only cover a stdio probe that a stalled machine left undecided. */
#define ATTEMPTS 4

/* The stress must fail at least once in ATTEMPTS runs with `bit` alone;
 * the runs alternate tcache_count=0 (first) and the default malloc. */
static void expect_failure(unsigned bit, const char *name)
{
	char why[2048];
	int a;

	for (a = 0; a < ATTEMPTS; a++) {
		int v = !(a & 1);
		int r = run_stress(bit, v, why, sizeof(why));

		cr_assert_neq(r, 2, "CONC_FI_%s: the stress could not run: %s", name, why);
		if (r) {
			cr_log_info("CONC_FI_%s: stress failed on attempt %d (%s): %s",
				    name, a + 1, variant(v), why);
			return;
		}
	}
	cr_assert_fail("CONC_FI_%s: the stress passed %d times with the fault injected: it does not detect this hazard (last: %s)",
		       name, a, why);
}

Test(fi_thread, catches_shared_tp, .timeout = 60)
{
	expect_failure(CONC_FI_SHARED_TP, "SHARED_TP");
}

Test(fi_thread, catches_single_threaded, .timeout = 60)
{
	expect_failure(CONC_FI_SINGLE_THREADED, "SINGLE_THREADED");
}

Test(fi_thread, catches_mt_word, .timeout = 60)
{
#if defined(__aarch64__)
	cr_skip_test("aarch64 (glibc 2.36, qemu): the stress does not catch a missing multiple_threads word there; conc sets it all the same");
#endif
	unsigned maj = 0, min = 0;

	/* 2.36 reads the word in its atomics and 2.41 in malloc; 2.43 reads
	 * it nowhere (objdump: only pthread_create and pthread_cancel touch
	 * %fs:0x18), so there is no hazard left for the stress to catch. */
	if (sscanf(gnu_get_libc_version(), "%u.%u", &maj, &min) == 2 &&
	    (maj > 2 || (maj == 2 && min >= 43)))
		cr_skip_test("glibc %s no longer reads the multiple_threads word; conc sets it all the same",
			     gnu_get_libc_version());
	expect_failure(CONC_FI_MT_WORD, "MT_WORD");
}

Test(fi_thread, catches_io_locks, .timeout = 60)
{
	expect_failure(CONC_FI_IO_LOCKS, "IO_LOCKS");
}

Test(fi_thread, catches_pointer_guard, .timeout = 60)
{
#if defined(__aarch64__)
	cr_skip_test("aarch64: the pointer guard is a global, not per thread: nothing to copy");
#endif
	expect_failure(CONC_FI_POINTER_GUARD, "POINTER_GUARD");
}

/* A fresh conc thread with __ctype_init() skipped: are its ctype table
 * pointers set all the same? glibc 2.41 initialises them in the TLS image
 * by relocations (glibc bugs 19341, 32483), so the hazard is gone there. */
static int ctype_probe(void *arg)
{
	(void)arg;
	return *__ctype_b_loc() && *__ctype_toupper_loc() &&
	       *__ctype_tolower_loc() && isalpha('a') && toupper('a') == 'A';
}

static bool ctype_set_without_init(void)
{
	conc_thread *t;
	int code = 0;

	__conc_fi = CONC_FI_CTYPE;
	cr_assert_eq(conc_thread_start(&t, ctype_probe, NULL, NULL), 0);
	cr_assert_eq(conc_thread_join(t, &code, 10 * 1000000000LL), 0);
	__conc_fi = 0;
	return code;
}

Test(fi_thread, catches_ctype, .timeout = 60)
{
	if (ctype_set_without_init())
		cr_skip_test("this glibc's TLS image sets the ctype pointers itself: no hazard to catch");
	expect_failure(CONC_FI_CTYPE, "CTYPE");
}

Test(fi_thread, catches_rseq, .timeout = 60)
{
	cpu_set_t m;
	int other = 0;

	cr_assert_eq(sched_getaffinity(0, sizeof(m), &m), 0);
	for (int c = 1; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &m))
			other = 1;
	if (!other)
		cr_skip_test("only CPU 0 is usable: a stale rseq cpu_id (0) cannot be told apart");
	expect_failure(CONC_FI_RSEQ, "RSEQ");
}

Test(fi_thread, catches_tls_reset, .timeout = 60)
{
	expect_failure(CONC_FI_TLS_RESET, "TLS_RESET");
}
