/* bench_chan — round trips of a message between two processes over a
 * conc_chan (framed, packet pipes, SIGPIPE-safe) against a bare pair
 * of blocking pipes carrying the same bytes (a blocking write, then a
 * blocking read, each way), with each process pinned to a CPU of its own
 * ("2 CPUs") and with both pinned to one CPU ("1 CPU"). Unpinned, the
 * scheduler put both on one CPU in some runs and not in others, and the
 * figure was bimodal for conc and the anchor alike: pinned, every run of
 * either measures the same thing.
 * 1. a 64-byte message each way;
 * 2. a 64 KiB message each way (a pipe's whole buffer). */
#include <stdbool.h>
#include <sys/uio.h>
#include <conc.h>
#include "bench.h"

#define BIG	 65536
#define BIG_ROUNDS 1000		/* round trips per run for the big message */

static conc_chan *ca, *cb;	/* parent's end, child's end */
static struct bench_fds fds;
static char *msg;		/* BIG bytes, each process its own copy */
static size_t len;		/* bytes per message in this run */

static void chan_ping(void *ctx)
{
	(void)ctx;
	if (conc_chan_send(ca, msg, len, CONC_FOREVER) ||
	    conc_chan_recv(ca, msg, BIG, CONC_FOREVER) != (ssize_t)len)
		bench_die("conc_chan (parent)");
}

static void chan_pong(void *ctx)
{
	(void)ctx;
	if (conc_chan_recv(cb, msg, BIG, CONC_FOREVER) != (ssize_t)len ||
	    conc_chan_send(cb, msg, len, CONC_FOREVER))
		bench_die("conc_chan (child)");
}

#ifndef RWF_NOSIGNAL
#define RWF_NOSIGNAL	0x00000100	/* Linux 6.18 */
#endif

/* The pipe pair's writes by pwritev2 with RWF_NOSIGNAL (one buffer), as a
 * send of conc's must be to keep SIGPIPE away: what the kernel makes such
 * a write cost more than a plain one, apart from what conc adds. */
static bool nosig, nosig_ok;

static void put_all(int fd)
{
	for (size_t off = 0; off < len;) {
		struct iovec v = { msg + off, len - off };
		ssize_t n = nosig ? pwritev2(fd, &v, 1, -1, RWF_NOSIGNAL)
				  : write(fd, msg + off, len - off);

		if (n <= 0)
			bench_die("pipe write");
		off += (size_t)n;
	}
}

static void get_all(int fd)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = read(fd, msg + off, len - off);

		if (n <= 0)
			bench_die("pipe read");
		off += (size_t)n;
	}
}

static void pipe_ping(void *ctx)
{
	(void)ctx;
	put_all(fds.to_child[1]);
	get_all(fds.to_parent[0]);
}

static void pipe_pong(void *ctx)
{
	(void)ctx;
	get_all(fds.to_child[0]);
	put_all(fds.to_parent[1]);
}

/* bench_pp_run() with a number of rounds of our own. */
struct pp_n {
	struct bench_pp pp;
	int rounds;
};

/* The CPU the child of a run pins itself to: -1 to stay where its parent
 * is pinned. */
static int child_cpu = -1;

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		bench_die("sched_setaffinity");
}

static void pp_n_child(void *arg)
{
	const struct pp_n *p = arg;

	if (child_cpu >= 0)
		pin_to(child_cpu);
	for (int i = 0; i <= p->rounds; i++)
		p->pp.pong(p->pp.ctx);
}

static double pp_n_run(void *arg)
{
	const struct pp_n *p = arg;
	pid_t pid = bench_fork(pp_n_child, arg);
	uint64_t t0;

	p->pp.ping(p->pp.ctx);
	t0 = bench_now_ns();
	for (int i = 0; i < p->rounds; i++)
		p->pp.ping(p->pp.ctx);
	t0 = bench_now_ns() - t0;
	bench_reap(pid);
	return p->rounds / ((double)t0 / 1e9) / 1e3;
}

/* One run of 64-byte or BIG-byte messages: arg is a struct pp_n. */
static double small_run(void *arg)
{
	len = 64;
	return pp_n_run(arg);
}

static double nosig_run(void *arg)
{
	double r;

	if (!nosig_ok)
		return -1;
	nosig = true;
	r = small_run(arg);
	nosig = false;
	return r;
}

static double big_run(void *arg)
{
	len = BIG;
	return pp_n_run(arg);
}

static void pingpong(const char *tag)
{
	static struct pp_n pp[5] = {
		{ { chan_ping, chan_pong, NULL }, BENCH_ROUNDS },
		{ { pipe_ping, pipe_pong, NULL }, BENCH_ROUNDS },
		{ { chan_ping, chan_pong, NULL }, BIG_ROUNDS },
		{ { pipe_ping, pipe_pong, NULL }, BIG_ROUNDS },
		{ { pipe_ping, pipe_pong, NULL }, BENCH_ROUNDS },
	};
	const struct bench_var v[5] = {
		{ "conc", small_run, &pp[0] },
		{ "pipe pair", small_run, &pp[1] },
		{ "conc", big_run, &pp[2] },
		{ "pipe pair", big_run, &pp[3] },
		{ "pwritev2 pipe pair", nosig_run, &pp[4] },
	};
	struct bench_set s;
	char what[64];

	bench_set_run(&s, v, 5);
	snprintf(what, sizeof(what), "chan 64 B round trip, %s", tag);
	bench_cmp(&s, what, "k rt/s", 0, 1, 0);
	snprintf(what, sizeof(what), "chan 64 B rt vs pwritev2 pipes, %s", tag);
	bench_cmp(&s, what, "k rt/s", 0, 4, 0);
	snprintf(what, sizeof(what), "chan 64 KiB round trip, %s", tag);
	bench_cmp(&s, what, "k rt/s", 2, 3, 0);
}

static void pingpong_one_cpu(void *tag)
{
	bench_pin();
	pingpong(tag);
}

/* The parent on the first CPU it may use, every child on the next. */
static void pingpong_two_cpus(void *tag)
{
	cpu_set_t set;
	int cpu, first = -1;

	if (sched_getaffinity(0, sizeof(set), &set))
		bench_die("sched_getaffinity");
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (first < 0) {
			first = cpu;
		} else {
			child_cpu = cpu;
			break;
		}
	}
	if (child_cpu < 0) {
		printf("chan round trips, 2 CPUs: skipped (one CPU usable)\n");
		return;
	}
	pin_to(first);
	pingpong(tag);
}

int main(void)
{
	bench_banner("bench_chan: conc_chan vs a pair of plain pipes");
	if (conc_chan_pair(&ca, &cb, 0))
		bench_die("conc_chan_pair");
	bench_fds_open(&fds);
	if (!(msg = malloc(BIG)))
		bench_die("malloc");
	nosig_ok = !pwritev2(fds.to_child[1], &(struct iovec){ msg, 0 }, 1, -1,
			     RWF_NOSIGNAL);
	memset(msg, 'm', BIG);
	/* In processes of their own, so that main stays unpinned. Each
	 * process on its own CPU: every answer wakes the other CPU. */
	bench_reap(bench_fork(pingpong_two_cpus, "2 CPUs"));
	/* Both processes on one CPU: every answer needs a switch. */
	bench_reap(bench_fork(pingpong_one_cpu, "1 CPU"));
	printf("  (Both sides keep every fd open: no process waits for EOF. 2 CPUs:\n"
	       "   each process pinned to a CPU of its own, every answer wakes the\n"
	       "   other CPU (on a VM, its wake-up may cost more than the rest); 1 CPU:\n"
	       "   both pinned to one, every answer is a switch. A 64-byte conc_chan\n"
	       "   message costs a send one pwritev2 (RWF_NOSIGNAL: no SIGPIPE) and a\n"
	       "   receive one read of a packet, as many system calls as a bare pipe's\n"
	       "   bytes; what is left is the header, the locks that let threads share\n"
	       "   an end, and pwritev2 against write: \"vs pwritev2 pipes\" has the\n"
	       "   pipe pair write as a send must, with pwritev2 and RWF_NOSIGNAL (a\n"
	       "   floor for a channel on pipes that keeps SIGPIPE away). A 64 KiB\n"
	       "   message is padded to whole pages and read in two reads.)\n");
	conc_chan_close(ca);
	conc_chan_close(cb);
	return 0;
}
