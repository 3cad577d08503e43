/* bench_switch — the bare coroutine switch (__conc_coro_switch: callee-saved
 * registers and FP control words) against a minimal hand-written switch
 * (callee-saved registers only, written here) and swapcontext(3). A figure
 * is one round trip: a switch to a coroutine and one back. */
#include <ucontext.h>
#include "loop/coro.h"
#include "bench.h"

/* One run: the fastest of BATCHES batches, in ns per round trip. The
 * machine is shared: a batch that a preemption hit says nothing about the
 * switch, and batches short enough leave most of them unhit. */
#define BATCHES 40
#define ROUNDS 50000		/* round trips per batch */
#define UC_ROUNDS 5000		/* swapcontext makes a system call each way */

static double best_of(void (*batch)(int n), int n)
{
	double best = -1;

	for (int b = 0; b < BATCHES; b++) {
		uint64_t t = bench_now_ns();

		batch(n);
		t = bench_now_ns() - t;
		if (best < 0 || (double)t / n < best)
			best = (double)t / n;
	}
	return best;
}

/* ---- the minimal switch: what any switch must do, and no more -------- */

struct min_ctx {
	void *sp;
};

void min_switch(struct min_ctx *from, struct min_ctx *to);
void min_start(void);

#if defined(__x86_64__)
__asm__(".text\n"
	".globl min_switch\n.hidden min_switch\n.p2align 4\n"
	"min_switch:\n"
	"	pushq %rbp\n	pushq %rbx\n	pushq %r12\n"
	"	pushq %r13\n	pushq %r14\n	pushq %r15\n"
	"	movq %rsp, (%rdi)\n"
	"	movq (%rsi), %rsp\n"
	"	popq %r15\n	popq %r14\n	popq %r13\n"
	"	popq %r12\n	popq %rbx\n	popq %rbp\n"
	"	ret\n"
	".globl min_start\n.hidden min_start\n.p2align 4\n"
	"min_start:\n"
	"	movq %r13, %rdi\n"
	"	callq *%r12\n"
	"	ud2\n");
/* r15 r14 r13 r12 rbx rbp ret: after the ret, sp = top, 16-aligned */
enum { MIN_WORDS = 7, MIN_ENTRY = 3, MIN_ARG = 2, MIN_RET = 6 };
#elif defined(__aarch64__)
__asm__(".text\n"
	".globl min_switch\n.hidden min_switch\n.p2align 4\n"
	"min_switch:\n"
	"	sub sp, sp, #160\n"
	"	stp x19, x20, [sp, #0]\n	stp x21, x22, [sp, #16]\n"
	"	stp x23, x24, [sp, #32]\n	stp x25, x26, [sp, #48]\n"
	"	stp x27, x28, [sp, #64]\n	stp x29, x30, [sp, #80]\n"
	"	stp d8, d9, [sp, #96]\n	stp d10, d11, [sp, #112]\n"
	"	stp d12, d13, [sp, #128]\n	stp d14, d15, [sp, #144]\n"
	"	mov x9, sp\n	str x9, [x0]\n	ldr x9, [x1]\n	mov sp, x9\n"
	"	ldp x19, x20, [sp, #0]\n	ldp x21, x22, [sp, #16]\n"
	"	ldp x23, x24, [sp, #32]\n	ldp x25, x26, [sp, #48]\n"
	"	ldp x27, x28, [sp, #64]\n	ldp x29, x30, [sp, #80]\n"
	"	ldp d8, d9, [sp, #96]\n	ldp d10, d11, [sp, #112]\n"
	"	ldp d12, d13, [sp, #128]\n	ldp d14, d15, [sp, #144]\n"
	"	add sp, sp, #160\n"
	"	ret\n"
	".globl min_start\n.hidden min_start\n.p2align 4\n"
	"min_start:\n"
	"	mov x0, x20\n"
	"	blr x19\n"
	"	brk #0\n");
enum { MIN_WORDS = 20, MIN_ENTRY = 0, MIN_ARG = 1, MIN_RET = 11 };
#endif

static void min_init(struct min_ctx *c, char *top, void (*fn)(void *), void *arg)
{
	uint64_t *f = (uint64_t *)((uintptr_t)top & ~(uintptr_t)15) - MIN_WORDS;

	memset(f, 0, MIN_WORDS * sizeof(*f));
	f[MIN_ENTRY] = (uint64_t)(uintptr_t)fn;
	f[MIN_ARG] = (uint64_t)(uintptr_t)arg;
	f[MIN_RET] = (uint64_t)(uintptr_t)min_start;
	c->sp = f;
}

/* ---- the three ping-pongs: the coroutine counts, the caller checks --- */

static struct __conc_stack stack;
static long count;

static struct __conc_coro_ctx conc_main, conc_co;

static void conc_body(void *arg)
{
	(void)arg;
	for (;;) {
		count++;
		__conc_coro_switch(&conc_co, &conc_main);
	}
}

static void conc_batch(int n)
{
	for (int i = 0; i < n; i++)
		__conc_coro_switch(&conc_main, &conc_co);
}

static double run_conc(void *arg)
{
	double ns;

	(void)arg;
	count = 0;
	__conc_coro_init(&conc_co, stack.hi, conc_body, NULL);
	__conc_coro_switch(&conc_main, &conc_co);	/* warm */
	ns = best_of(conc_batch, ROUNDS);
	if (count != (long)BATCHES * ROUNDS + 1)
		bench_die("conc switch: lost a round");
	return ns;
}

/* Shared-stack mode: the same round trip, with the task's used stack
 * (about SH_USED bytes) copied out after it switches and in before. */
#define SH_USED 1024
static struct __conc_saved_stack sh_saved;

static volatile int sh_forever = 1;

static void sh_deep(int left)
{
	volatile char pad[200];

	pad[0] = (char)left;
	if (left > 0)
		sh_deep(left - 1);
	else
		while (sh_forever) {
			count++;
			__conc_coro_switch(&conc_co, &conc_main);
		}
	(void)pad[0];
}

static void sh_body(void *arg)
{
	(void)arg;
	sh_deep(SH_USED / 256);
	for (;;)
		__conc_coro_switch(&conc_co, &conc_main);
}

static void sh_batch(int n)
{
	for (int i = 0; i < n; i++) {
		__conc_sstack_restore(&sh_saved, &stack);
		__conc_coro_switch(&conc_main, &conc_co);
		if (__conc_sstack_save(&sh_saved, &stack, conc_co.sp))
			bench_die("__conc_sstack_save");
	}
}

static double run_shared(void *arg)
{
	double ns;

	(void)arg;
	count = 0;
	__conc_coro_init(&conc_co, stack.hi, sh_body, NULL);
	__conc_coro_switch(&conc_main, &conc_co);
	if (__conc_sstack_save(&sh_saved, &stack, conc_co.sp))
		bench_die("__conc_sstack_save");
	ns = best_of(sh_batch, ROUNDS);
	if (count != (long)BATCHES * ROUNDS + 1)
		bench_die("shared-stack switch: lost a round");
	return ns;
}

static struct min_ctx min_main, min_co;

static void min_body(void *arg)
{
	(void)arg;
	for (;;) {
		count++;
		min_switch(&min_co, &min_main);
	}
}

static void min_batch(int n)
{
	for (int i = 0; i < n; i++)
		min_switch(&min_main, &min_co);
}

static double run_min(void *arg)
{
	double ns;

	(void)arg;
	count = 0;
	min_init(&min_co, stack.hi, min_body, NULL);
	min_switch(&min_main, &min_co);
	ns = best_of(min_batch, ROUNDS);
	if (count != (long)BATCHES * ROUNDS + 1)
		bench_die("minimal switch: lost a round");
	return ns;
}

static ucontext_t uc_main, uc_co;

static void uc_body(void)
{
	for (;;) {
		count++;
		swapcontext(&uc_co, &uc_main);
	}
}

static void uc_batch(int n)
{
	for (int i = 0; i < n; i++)
		swapcontext(&uc_main, &uc_co);
}

static double run_uc(void *arg)
{
	double ns;

	(void)arg;
	count = 0;
	if (getcontext(&uc_co))
		return -1;
	uc_co.uc_stack.ss_sp = stack.lo;
	uc_co.uc_stack.ss_size = (size_t)(stack.hi - stack.lo);
	uc_co.uc_link = NULL;
	makecontext(&uc_co, uc_body, 0);
	swapcontext(&uc_main, &uc_co);
	ns = best_of(uc_batch, UC_ROUNDS);
	if (count != (long)BATCHES * UC_ROUNDS + 1)
		bench_die("swapcontext: lost a round");
	return ns;
}

int main(void)
{
	const struct bench_var v[4] = {
		{ "conc", run_conc, NULL },
		{ "minimal", run_min, NULL },
		{ "swapcontext", run_uc, NULL },
		{ "conc shared", run_shared, NULL },
	};
	struct bench_set s;

	bench_banner("bench_switch: coroutine switch vs a minimal one and swapcontext");
	if (__conc_stack_get(&stack, 0))
		bench_die("__conc_stack_get");
	bench_set_run(&s, v, 4);
	bench_cmp(&s, "switch round trip vs minimal", "ns", 0, 1, 1);
	bench_cmp(&s, "switch round trip vs swapcontext", "ns", 0, 2, 1);
	char why[64];

	snprintf(why, sizeof(why), "%zu bytes copied each way", sh_saved.len);
	bench_fig(&s, "shared-stack round trip", "ns", 3, why);
	printf("  (conc also keeps MXCSR and the x87 control word (FPCR on aarch64),\n"
	       "   as the ABI asks; the minimal switch keeps the callee-saved\n"
	       "   registers only; swapcontext saves the signal mask: a system call.)\n");
	printf("  (shared stack: the same round trip with the task's used stack\n"
	       "   copied out after it and back in before it, as the loop does.)\n");
	__conc_sstack_free(&sh_saved);
	__conc_stack_put(&stack);
	return 0;
}
