/* bench_event — conc_event round trips between two processes (two events:
 * set, wait, clear) against an eventfd ping-pong. */
#include <conc.h>
#include "bench.h"

/* ev[0]: parent -> child, ev[1]: child -> parent, in shared memory. */
static conc_event *ev;
static struct bench_fds fds;

static void event_ping(void *ctx)
{
	(void)ctx;
	if (conc_event_set(&ev[0]) || conc_event_wait(&ev[1], CONC_FOREVER) ||
	    conc_event_clear(&ev[1]))
		bench_die("conc_event");
}

static void event_pong(void *ctx)
{
	(void)ctx;
	if (conc_event_wait(&ev[0], CONC_FOREVER) || conc_event_clear(&ev[0]) ||
	    conc_event_set(&ev[1]))
		bench_die("conc_event");
}

static void pingpong(const char *what)
{
	static struct bench_pp pp[2] = {
		{ event_ping, event_pong, NULL },
		{ bench_efd_ping, bench_efd_pong, &fds },
	};
	const struct bench_var v[2] = {
		{ "conc", bench_pp_run, &pp[0] },
		{ "eventfd pair", bench_pp_run, &pp[1] },
	};
	struct bench_set s;

	bench_set_run(&s, v, 2);
	if (conc_event_is_set(&ev[0]) || conc_event_is_set(&ev[1]))
		bench_die("an event is still set after ping-pong");
	bench_cmp(&s, what, "k rt/s", 0, 1, 0);
}

static void pingpong_one_cpu(void *what)
{
	bench_pin();
	pingpong(what);
}

int main(void)
{
	bench_banner("bench_event: conc_event vs eventfd");
	ev = bench_shared(2 * sizeof(*ev));
	if (conc_event_init(&ev[0], 0) || conc_event_init(&ev[1], 0))
		bench_die("conc_event_init");
	bench_fds_open(&fds);
	/* Pinned early: in a child, before this process has spun anywhere. */
	bench_reap(bench_fork(pingpong_one_cpu, "event ping-pong, 1 CPU, pinned early"));
	pingpong("event ping-pong, 2 CPUs, not pinned");
	/* Pinned late: conc has seen 2 CPUs by now, and spins. */
	bench_reap(bench_fork(pingpong_one_cpu, "event ping-pong, 1 CPU, pinned late"));
	bench_pp_footnote();
	return 0;
}
