/*
 * fuzz_rsem — libFuzzer target: a robust semaphore's segment (its header,
 * the takers' lock, the holder table) as a peer may have written it, then
 * attach (conc_rsem_open) and every call: takes with timeouts of 0 and of
 * a fraction of a millisecond, posts of all that was taken, value,
 * permits, holders, destroy. No crash, hang or out-of-bounds access; every
 * result one the contract lists; no call past its timeout by more than a
 * loaded machine explains (beyond the documented 10 ms of a try); whatever
 * was taken can be given back, and the handle then goes (no -EBUSY) with
 * nothing left on the caller's robust registry.
 *
 * The template has a live holder (a child that sleeps holding a permit)
 * and two permits of a holder that died. Kept: the takers' lock word (a
 * peer that holds it denies service; FUZZ_DEAD leaves it as a dead
 * holder's), and permits when the input makes it 0 (the opener's wait
 * for a creator then takes its bounded second, tested in test_rsem). With
 * (flags & TID), one word is the caller's own thread id.
 */
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include "ipc/rsem_impl.h"
#include "image.h"

#define T_NS	   200000LL
#define TRY_NS	   10000000LL		/* a try's wait for the lock */

static struct image im;
static const struct range keep[] = {
	{ offsetof(struct rsem_shared, lock.word), sizeof(uint32_t) },
};

/* A child that takes n permits, then sleeps (alive) or exits (dead). */
static void holder(const char *name, int n, bool alive)
{
	int go[2], st;
	pid_t pid;
	char c;

	if (pipe(go))
		abort();
	pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0) {
		conc_rsem *s;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (conc_rsem_open(&s, name))
			_exit(1);
		for (int i = 0; i < n; i++)
			if (conc_rsem_trywait(s))
				_exit(1);
		if (write(go[1], "x", 1) != 1 || !alive)
			_exit(0);
		for (;;)
			pause();
	}
	if (read(go[0], &c, 1) != 1)
		abort();
	close(go[0]);
	close(go[1]);
	if (!alive && waitpid(pid, &st, 0) != pid)
		abort();
}

static void make(const char *name)
{
	conc_rsem_attr a = { .permits = 4, .holders = 6, .name = name,
			     .flags = CONC_SHM_EXCL };
	conc_rsem *s;

	if (conc_rsem_create(&s, &a))
		abort();
	holder(name, 1, true);
	holder(name, 2, false);
	conc_rsem_destroy(s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	image_init(&im, "rsem", CONC_SHM_RSEM, make);
	return 0;
}

#define TAKE_ERRS 6, EOWNERDEAD, EUSERS, ENOTSUP, EDEADLK, ENOTRECOVERABLE, ETIMEDOUT

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
	unsigned flags = image_load(&im, in, n, keep, 1);
	struct rsem_shared *sh = (struct rsem_shared *)im.data;
	conc_rsem_holder h[8];
	int taken = 0, i;
	conc_rsem *s;
	int64_t t0;
	long r;

	if (!sh->permits)
		sh->permits = ((struct rsem_shared *)im.tmpl)->permits;
	if (flags & FUZZ_DEAD)
		image_kill_holder(&im, offsetof(struct rsem_shared, lock));
	image_stamp_tid(&im, in, n);
	r = conc_rsem_open(&s, im.name);
	expect(r, "conc_rsem_open", 1, EPROTO);
	if (r)
		return 0;
	expect(conc_rsem_permits(s), "conc_rsem_permits", 0);
	expect(conc_rsem_value(s), "conc_rsem_value", 0);
	r = conc_rsem_holders(s, h, 8);
	expect(r, "conc_rsem_holders", 0);

	t0 = fuzz_now_ns();
	r = conc_rsem_trywait(s);
	fuzz_in_time("conc_rsem_trywait", t0, TRY_NS);
	expect(r, "conc_rsem_trywait", 6, EAGAIN, EOWNERDEAD, EUSERS, ENOTSUP,
	       EDEADLK, ENOTRECOVERABLE);
	taken += r == 0 || r == -EOWNERDEAD;
	t0 = fuzz_now_ns();
	r = conc_rsem_timedwait(s, 0);
	fuzz_in_time("conc_rsem_timedwait(0)", t0, TRY_NS);
	expect(r, "conc_rsem_timedwait", TAKE_ERRS);
	taken += r == 0 || r == -EOWNERDEAD;
	t0 = fuzz_now_ns();
	r = conc_rsem_timedwait(s, T_NS);
	fuzz_in_time("conc_rsem_timedwait(T)", t0, T_NS);
	expect(r, "conc_rsem_timedwait", TAKE_ERRS);
	taken += r == 0 || r == -EOWNERDEAD;

	r = conc_rsem_holders(s, h, 8);
	expect(r, "conc_rsem_holders", 0);
	expect(conc_rsem_value(s), "conc_rsem_value", 0);
	/* All that was taken goes back, then no more. */
	for (i = 0; i < taken; i++)
		expect(conc_rsem_post(s), "conc_rsem_post", 0);
	if (conc_rsem_post(s) != -EPERM) {
		fprintf(stderr, "a post beyond what was taken\n");
		abort();
	}
	expect(conc_rsem_destroy(s), "conc_rsem_destroy", 0);
	if (__conc_self_tls.robust_held) {
		fprintf(stderr, "a robust lock is still registered\n");
		abort();
	}
	return 0;
}
