/*
 * Stack overflow report (opt-in, see coro.h): a SIGSEGV handler, on an
 * alternate signal stack since the faulting stack has no room left, that
 * names the running task when the fault lies in its stack's guard, and
 * otherwise passes the signal on to the handler installed before it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "loop/stack_impl.h"
#include "sys/self.h"
#include "sys/sig.h"

static struct sys_sigaction prev;	/* set before ours is installed */
static int installed;			/* 0 no, 1 in progress, 2 yes */
static int env_read;

/* What the handler needs from the thread it interrupts: TLS of the
 * initial-exec model is a plain load, safe in a handler. */
static __thread struct {
	const char *lo;		/* the running task's stack, or NULL */
	const char *name;
	int altstack;		/* this thread's alternate stack is set */
} run __attribute__((tls_model("initial-exec")));

static size_t put_str(char *b, size_t n, size_t cap, const char *s)
{
	while (*s && n < cap)
		b[n++] = *s++;
	return n;
}

static size_t put_hex(char *b, size_t n, size_t cap, uintptr_t v)
{
	char d[2 + 2 * sizeof(v)];
	int k = sizeof(d);

	do {
		d[--k] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	d[--k] = 'x';
	d[--k] = '0';
	while (k < (int)sizeof(d) && n < cap)
		b[n++] = d[k++];
	return n;
}

static _Noreturn void report(const void *addr)
{
	char b[200];
	size_t n = 0, cap = sizeof(b) - 1;
	char name[65];
	size_t i;

	/* the name is the task's: bound it, in case it is garbage */
	for (i = 0; run.name && i < sizeof(name) - 1 && run.name[i]; i++)
		name[i] = run.name[i];
	name[i] = 0;
	n = put_str(b, n, cap, "conc: task ");
	n = put_str(b, n, cap, i ? name : "(unnamed)");
	n = put_str(b, n, cap, " overflowed its stack (guard at ");
	n = put_hex(b, n, cap, (uintptr_t)addr);
	n = put_str(b, n, cap, ")\n");
	sys_write(2, b, n);
	abort();
}

typedef void (*info_handler)(int, siginfo_t *, void *);

static void on_segv(int sig, siginfo_t *si, void *uc);

/* As if ours had never been installed. A fault (si_code > 0) that meets
 * the default action or SIG_IGN: default again, and the faulting
 * instruction, run again on return, kills as it would have. */
static void chain(int sig, siginfo_t *si, void *uc)
{
	struct sys_sigaction p = prev, dfl = { .handler = SIG_DFL };
	uint64_t me = 1ull << (sig - 1);

	if (p.handler == (void *)SIG_DFL || p.handler == (void *)on_segv ||
	    (p.handler == (void *)SIG_IGN && si->si_code > 0)) {
		sys_sigaction(sig, &dfl, NULL);
		if (si->si_code <= 0)	/* sent, not a fault: send it again */
			sys_tgkill(sys_getpid(), sys_gettid(), sig);
		return;
	}
	if (p.handler == (void *)SIG_IGN)
		return;
	if (p.flags & SA_RESETHAND)
		sys_sigaction(sig, &dfl, NULL);
	/* The mask the kernel would have given it: ours adds sig, which its
	 * SA_NODEFER leaves out (unless its mask has it): a handler that
	 * jumps out of the fault must catch the next one too. */
	if ((p.flags & SA_NODEFER) && !(p.mask & me))
		sys_sigprocmask(SIG_UNBLOCK, (const sigset_t *)&me, NULL);
	if (p.mask)
		sys_sigprocmask(SIG_BLOCK, (const sigset_t *)&p.mask, NULL);
	if (p.flags & SA_SIGINFO)
		((info_handler)p.handler)(sig, si, uc);
	else
		((void (*)(int))p.handler)(sig);
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	const char *a = si->si_addr, *lo = run.lo;

	if (si->si_code > 0 && lo && a < lo && a >= lo - __conc_stack_guard())
		report(a);
	chain(sig, si, uc);
}

/* The handler runs on this thread's alternate stack: one of ours, unless
 * the program set one. */
static void ensure_altstack(void)
{
	struct __conc_stack s;
	stack_t old, ss;

	run.altstack = 1;
	if (sys_sigaltstack(NULL, &old) < 0 || !(old.ss_flags & SS_DISABLE))
		return;
	if (__conc_stack_get(&s, 64 << 10) < 0)
		return;
	ss.ss_sp = s.lo;
	ss.ss_size = (size_t)(s.hi - s.lo);
	ss.ss_flags = 0;
	if (sys_sigaltstack(&ss, NULL) < 0)
		__conc_stack_put(&s);
}

int __conc_stack_guard_install(void)
{
	struct sys_sigaction act = {
		.handler = (void *)on_segv,
		.flags = SA_SIGINFO | SA_ONSTACK | SYS_SA_RESTORER,
		.restorer = (void *)__conc_sigreturn,
	};
	int st = 0, r;

	(void)__conc_stack_guard();	/* computed here, not in the handler */
	if (!__atomic_compare_exchange_n(&installed, &st, 1, 0,
					 __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&installed, __ATOMIC_ACQUIRE) == 1)
			sys_cpu_relax();
		if (__atomic_load_n(&installed, __ATOMIC_ACQUIRE) == 0)
			return __conc_stack_guard_install();
		ensure_altstack();
		return 0;
	}
	r = sys_sigaction(SIGSEGV, NULL, &prev);
	if (r == 0)
		r = sys_sigaction(SIGSEGV, &act, NULL);
	/* Release: a thread that sees 2 sees prev, read by its handler. */
	__atomic_store_n(&installed, r == 0 ? 2 : 0, __ATOMIC_RELEASE);
	if (r == 0)
		ensure_altstack();
	return r;
}

int conc_loop_guard_install(void)
{
	return __conc_stack_guard_install();
}

void __conc_stack_running(const struct __conc_stack *s, const char *name)
{
	if (__builtin_expect(!__atomic_load_n(&env_read, __ATOMIC_RELAXED), 0)) {
		const char *e = getenv("CONC_LOOP_GUARD");

		__atomic_store_n(&env_read, 1, __ATOMIC_RELAXED);
		if (e && !strcmp(e, "1"))
			__conc_stack_guard_install();
	}
	run.lo = s ? s->lo : NULL;
	run.name = name;
	if (__builtin_expect(!run.altstack, 0) &&
	    __atomic_load_n(&installed, __ATOMIC_ACQUIRE) == 2)
		ensure_altstack();
}
