/* bench_sem — conc_sem against glibc's sem_t, eventfd and pipes:
 * 1. uncontended post+wait pairs in one thread;
 * 2. ping-pong between two processes with two semaphores. */
#include <semaphore.h>
#include <conc.h>
#include "bench.h"

#define PAIRS 2000000		/* uncontended pairs per run */

static double unc_conc(void *arg)
{
	conc_sem *s = arg;
	uint64_t t0 = bench_now_ns();

	for (int i = 0; i < PAIRS; i++)
		if (conc_sem_post(s) || conc_sem_wait(s))
			bench_die("conc_sem");
	return (double)(bench_now_ns() - t0) / PAIRS;
}

static double unc_posix(void *arg)
{
	sem_t *s = arg;
	uint64_t t0 = bench_now_ns();

	for (int i = 0; i < PAIRS; i++)
		if (sem_post(s) || sem_wait(s))
			bench_die("sem_t");
	return (double)(bench_now_ns() - t0) / PAIRS;
}

/* Semaphores shared by the two processes: [0] parent -> child, [1] back. */
struct shared {
	conc_sem cs[2];
	sem_t ps[2];
};

static void conc_ping(void *ctx)
{
	struct shared *s = ctx;

	if (conc_sem_post(&s->cs[0]) || conc_sem_wait(&s->cs[1]))
		bench_die("conc_sem");
}

static void conc_pong(void *ctx)
{
	struct shared *s = ctx;

	if (conc_sem_wait(&s->cs[0]) || conc_sem_post(&s->cs[1]))
		bench_die("conc_sem");
}

static void posix_ping(void *ctx)
{
	struct shared *s = ctx;

	if (sem_post(&s->ps[0]) || sem_wait(&s->ps[1]))
		bench_die("sem_t");
}

static void posix_pong(void *ctx)
{
	struct shared *s = ctx;

	if (sem_wait(&s->ps[0]) || sem_post(&s->ps[1]))
		bench_die("sem_t");
}

static struct shared *sh;
static struct bench_fds fds;

/* Round trips per second between two processes, for every mechanism. */
static void pingpong(const char *what)
{
	static struct bench_pp pp[4] = {
		{ conc_ping, conc_pong, NULL },
		{ posix_ping, posix_pong, NULL },
		{ bench_efd_ping, bench_efd_pong, &fds },
		{ bench_pipe_ping, bench_pipe_pong, &fds },
	};
	const struct bench_var v[4] = {
		{ "conc", bench_pp_run, &pp[0] },
		{ "sem_t(pshared)", bench_pp_run, &pp[1] },
		{ "eventfd pair", bench_pp_run, &pp[2] },
		{ "pipe pair", bench_pp_run, &pp[3] },
	};
	struct bench_set s;
	int v0, v1;

	pp[0].ctx = pp[1].ctx = sh;
	bench_set_run(&s, v, 4);
	if (conc_sem_value(&sh->cs[0]) || conc_sem_value(&sh->cs[1]) ||
	    sem_getvalue(&sh->ps[0], &v0) || sem_getvalue(&sh->ps[1], &v1) ||
	    v0 || v1)
		bench_die("a semaphore has permits left after ping-pong");
	for (int a = 1; a < 4; a++)
		bench_cmp(&s, what, "k rt/s", 0, a, 0);
}

static void pingpong_one_cpu(void *what)
{
	bench_pin();
	pingpong(what);
}

int main(void)
{
	static conc_sem cs, cs_priv;
	static sem_t ps, ps_priv;
	const struct bench_var v[] = {
		{ "conc", unc_conc, &cs },
		{ "sem_t(pshared)", unc_posix, &ps },
		{ "conc", unc_conc, &cs_priv },
		{ "sem_t(private)", unc_posix, &ps_priv },
	};
	struct bench_set s;

	bench_banner("bench_sem: conc_sem vs sem_t, eventfd, pipe");
	if (conc_sem_init(&cs, 0, 0) || conc_sem_init(&cs_priv, 0, CONC_PRIVATE) ||
	    sem_init(&ps, 1, 0) || sem_init(&ps_priv, 0, 0))
		bench_die("sem init");
	bench_set_run(&s, v, 4);
	bench_cmp(&s, "sem uncontended post+wait", "ns", 0, 1, 1);
	bench_cmp(&s, "sem uncontended post+wait, private", "ns", 2, 3, 1);

	sh = bench_shared(sizeof(*sh));
	for (int i = 0; i < 2; i++)
		if (conc_sem_init(&sh->cs[i], 0, 0) || sem_init(&sh->ps[i], 1, 0))
			bench_die("sem init");
	bench_fds_open(&fds);
	/* Pinned early: in a child, before this process has spun anywhere. */
	bench_reap(bench_fork(pingpong_one_cpu, "sem ping-pong, 1 CPU, pinned early"));
	pingpong("sem ping-pong, 2 CPUs, not pinned");
	/* Pinned late: conc has seen 2 CPUs by now, and spins. */
	bench_reap(bench_fork(pingpong_one_cpu, "sem ping-pong, 1 CPU, pinned late"));
	bench_pp_footnote();
	return 0;
}
