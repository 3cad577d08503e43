/* bench_loop — the io_uring loop and its tasks:
 * 1. yield between two tasks vs swapcontext between two contexts;
 * 2. 100,000 tasks that each sleep 10 ms: wall time and peak RSS vs
 *    Python's asyncio doing the same; 1,000,000 shared-stack tasks;
 * 3. TCP echo round trips per second, 1 and 64 connections, vs a plain
 *    epoll server (the same epoll client drives both), server and client
 *    pinned to two CPUs, then to one;
 * 4. a task woken by another process through a conc_sem vs two threads
 *    and vs two plain processes, pinned to two CPUs, then to one. */
#include <errno.h>
#include <poll.h>
#include <ucontext.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <conc.h>
#include "bench.h"

#define YIELDS		2000000
#define SLEEPERS	100000
#define ECHO_RT		20000	/* round trips per run, 1 connection */
#define ECHO_RT_MANY	100000	/* 64 connections */
#define ECHO_LEN	64

/* ---- 1. yield ---------------------------------------------------------- */

static int yielder(void *arg)
{
	(void)arg;
	for (int i = 0; i < YIELDS; i++)
		conc_yield();
	return 0;
}

static int yield_main(void *arg)
{
	conc_task *a, *b;
	uint64_t t0;

	if (conc_go(&a, yielder, NULL, NULL) || conc_go(&b, yielder, NULL, NULL))
		bench_die("conc_go");
	t0 = bench_now_ns();
	if (conc_task_join(a, NULL, -1) || conc_task_join(b, NULL, -1))
		bench_die("join");
	*(double *)arg = (double)(bench_now_ns() - t0) / (2.0 * YIELDS);
	return 0;
}

static double run_yield(void *arg)
{
	double ns = -1;

	(void)arg;
	if (conc_run(yield_main, &ns, NULL))
		bench_die("conc_run");
	return ns;
}

static ucontext_t uc_main, uc_a, uc_b;

static void uc_fn(int which)
{
	for (int i = 0; i < YIELDS; i++)
		swapcontext(which ? &uc_b : &uc_a, which ? &uc_a : &uc_b);
	setcontext(&uc_main);
}

static double run_swapcontext(void *arg)
{
	static char sa[65536], sb[65536];
	uint64_t t0;

	(void)arg;
	getcontext(&uc_a);
	uc_a.uc_stack.ss_sp = sa;
	uc_a.uc_stack.ss_size = sizeof(sa);
	uc_a.uc_link = NULL;
	makecontext(&uc_a, (void (*)(void))uc_fn, 1, 0);
	getcontext(&uc_b);
	uc_b.uc_stack.ss_sp = sb;
	uc_b.uc_stack.ss_size = sizeof(sb);
	makecontext(&uc_b, (void (*)(void))uc_fn, 1, 1);
	t0 = bench_now_ns();
	swapcontext(&uc_main, &uc_a);
	return (double)(bench_now_ns() - t0) / (2.0 * YIELDS);
}

/* ---- 2. many sleepers -------------------------------------------------- */

struct sleepers {
	int n;
	bool shared;
	double rss[BENCH_REPS];
	int rep;
};

static int sleep10(void *arg)
{
	(void)arg;
	return conc_sleep(10 * 1000000);
}

static int sleepers_main(void *arg)
{
	struct sleepers *s = arg;
	conc_task_attr at = { .shared_stack = s->shared };
	conc_task **ts = malloc((size_t)s->n * sizeof(*ts));

	if (!ts)
		bench_die("malloc");
	for (int i = 0; i < s->n; i++)
		if (conc_go(&ts[i], sleep10, NULL, &at))
			bench_die("conc_go");
	if (conc_gather(ts, (size_t)s->n, NULL, 0, -1))
		bench_die("gather");
	free(ts);
	return 0;
}

/* In a child, so that its peak RSS is its own; the time goes back in a
 * pipe (ms), the peak RSS comes from wait4 (MiB). */
static double in_child(struct sleepers *s, void (*fn)(struct sleepers *, int))
{
	struct rusage ru;
	double ms = -1;
	int p[2], st;
	pid_t pid;

	if (pipe(p))
		bench_die("pipe");
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		bench_guard(60);
		close(p[0]);
		fn(s, p[1]);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &ms, sizeof(ms)) != sizeof(ms))
		ms = -1;
	close(p[0]);
	if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	s->rss[s->rep++ % BENCH_REPS] = (double)ru.ru_maxrss / 1024.0;
	return ms;
}

static void conc_sleepers(struct sleepers *s, int fd)
{
	uint64_t t0 = bench_now_ns();
	double ms;

	if (conc_run(sleepers_main, s, NULL))
		_exit(1);
	ms = (double)(bench_now_ns() - t0) / 1e6;
	if (write(fd, &ms, sizeof(ms)) != sizeof(ms))
		_exit(1);
}

static void py_sleepers(struct sleepers *s, int fd)
{
	char n[16], f[16];
	static const char prog[] =
		"import asyncio, os, struct, sys, time\n"
		"async def f():\n"
		"    await asyncio.sleep(0.01)\n"
		"async def main(n):\n"
		"    await asyncio.gather(*(f() for _ in range(n)))\n"
		"t0 = time.monotonic()\n"
		"asyncio.run(main(int(sys.argv[1])))\n"
		"os.write(int(sys.argv[2]), struct.pack('d', (time.monotonic() - t0) * 1e3))\n";

	snprintf(n, sizeof(n), "%d", s->n);
	snprintf(f, sizeof(f), "%d", fd);
	execlp("python3", "python3", "-c", prog, n, f, (char *)NULL);
	_exit(1);
}

static double run_conc_sleepers(void *arg)
{
	return in_child(arg, conc_sleepers);
}

static double run_py_sleepers(void *arg)
{
	return in_child(arg, py_sleepers);
}

static void sleepers(void)
{
	static struct sleepers cs = { .n = SLEEPERS }, ps = { .n = SLEEPERS },
			       ss = { .n = SLEEPERS, .shared = true };
	const struct bench_var v[3] = {
		{ "conc", run_conc_sleepers, &cs },
		{ "conc shared", run_conc_sleepers, &ss },
		{ "asyncio", run_py_sleepers, &ps },
	};
	struct bench_set s, r;

	bench_set_run(&s, v, 3);
	bench_cmp(&s, "100,000 tasks sleep 10 ms, wall", "ms", 0, 2, 1);
	bench_cmp(&s, "the same, shared stacks, wall", "ms", 1, 2, 1);
	/* The RSS of the same runs, as a set of its own. */
	r = s;
	for (int i = 0; i < BENCH_REPS; i++) {
		r.v[0][i] = cs.rss[i];
		r.v[1][i] = ss.rss[i];
		r.v[2][i] = ps.rss[i];
	}
	bench_cmp(&r, "100,000 tasks sleep 10 ms, peak RSS", "MiB", 0, 2, 1);
	bench_cmp(&r, "the same, shared stacks, peak RSS", "MiB", 1, 2, 1);
}

/* No anchor (asyncio would take minutes): the wall time and the peak RSS
 * of the same runs, each with its spread. */
static void million(void)
{
	static struct sleepers m = { .n = 1000000, .shared = true };
	const struct bench_var v[1] = { { "conc", run_conc_sleepers, &m } };
	struct bench_set s;

	bench_set_run(&s, v, 1);
	if (!s.ok[0])
		bench_die("1,000,000 shared-stack tasks failed");
	bench_what("1,000,000 shared-stack tasks sleep 10 ms");
	bench_put("conc", s.v[0], BENCH_REPS, "ms");
	bench_put("peak RSS", m.rss, BENCH_REPS, "MiB");
	printf("\n");
	fflush(stdout);
}

/* ---- 3. TCP echo -------------------------------------------------------- */

static int listener(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof(*a)) ||
	    listen(fd, 256) || getsockname(fd, (struct sockaddr *)a, &len))
		bench_die("listen");
	return fd;
}

static int echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[ECHO_LEN * 4];
	ssize_t n;

	while ((n = conc_recv(fd, buf, sizeof(buf), 0, -1)) > 0)
		if (conc_send(fd, buf, (size_t)n, MSG_NOSIGNAL, -1) != n)
			break;
	close(fd);
	return 0;
}

static int conc_server_main(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd;
	conc_task *t;

	while ((fd = conc_accept(lfd, NULL, NULL, SOCK_CLOEXEC, -1)) >= 0) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (conc_go(&t, echo_conn, (void *)(intptr_t)fd, NULL))
			break;
	}
	return 0;
}

/* Where a run puts the server and the client: each pinned to one CPU
 * (-1: left to the scheduler), the same for conc and its anchor. */
struct echo_var {
	void (*server)(int lfd);
	int conns, rounds;
	int server_cpu, client_cpu;
};

static void pin_to(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		bench_die("sched_setaffinity");
}

static void conc_server(int lfd)
{
	conc_run(conc_server_main, (void *)(intptr_t)lfd, NULL);
}

static void epoll_server(int lfd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd }, evs[128];
	char buf[ECHO_LEN * 4];

	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 128, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd, one = 1;

			if (fd == lfd) {
				int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

				if (c < 0)
					continue;
				setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				ev.events = EPOLLIN;
				ev.data.fd = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				continue;
			}
			ssize_t k = recv(fd, buf, sizeof(buf), 0);

			if (k <= 0) {
				if (k == 0 || errno != EAGAIN)
					close(fd);
				continue;
			}
			if (send(fd, buf, (size_t)k, MSG_NOSIGNAL) != k)
				close(fd);
		}
	}
}

/* The forked server: pinned first, then the loop or the epoll server. */
static struct echo_srv {
	const struct echo_var *e;
	int lfd;
} echo_srv;

static void echo_server(void *arg)
{
	const struct echo_srv *s = arg;

	pin_to(s->e->server_cpu);
	s->e->server(s->lfd);
}

/* The client, the same for both servers: conns connections, one message
 * in flight on each, e->rounds round trips in all; thousands per second.
 * The bench's own CPU mask is put back after the run. */
static double run_echo(void *arg)
{
	const struct echo_var *e = arg;
	struct sockaddr_in a;
	int lfd = listener(&a), ep = epoll_create1(EPOLL_CLOEXEC), fds[64];
	char msg[ECHO_LEN], buf[ECHO_LEN];
	struct epoll_event evs[64];
	int done = 0, sent = 0;
	cpu_set_t mask;
	uint64_t t0;
	pid_t pid;

	if (sched_getaffinity(0, sizeof(mask), &mask))
		bench_die("sched_getaffinity");
	echo_srv = (struct echo_srv){ e, lfd };
	pid = bench_fork(echo_server, &echo_srv);
	pin_to(e->client_cpu);
	memset(msg, 'x', sizeof(msg));
	for (int i = 0; i < e->conns; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		int one = 1;

		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fds[i], (struct sockaddr *)&a, sizeof(a)))
			bench_die("connect");
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
	}
	t0 = bench_now_ns();
	for (int i = 0; i < e->conns; i++, sent++)
		if (send(fds[i], msg, sizeof(msg), 0) != sizeof(msg))
			bench_die("send");
	while (done < e->rounds) {
		int n = epoll_wait(ep, evs, 64, 10000);

		/* No signal: when a ring this thread made is torn down
		 * (conc_features' probe), the kernel's exit work posts task
		 * work to the thread, which ends its next epoll_wait with
		 * EINTR some milliseconds later. Look again. */
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die("echo: no answer in 10 s");
		for (int i = 0; i < n; i++) {
			int fd = fds[evs[i].data.u32];

			/* Messages are small: one recv takes a whole echo. */
			if (recv(fd, buf, sizeof(buf), MSG_WAITALL) != sizeof(buf))
				bench_die("recv");
			done++;
			if (sent < e->rounds) {
				if (send(fd, msg, sizeof(msg), 0) != sizeof(msg))
					bench_die("send");
				sent++;
			}
		}
	}
	t0 = bench_now_ns() - t0;
	for (int i = 0; i < e->conns; i++)
		close(fds[i]);
	close(ep);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(lfd);
	if (sched_setaffinity(0, sizeof(mask), &mask))
		bench_die("sched_setaffinity");
	return e->rounds / ((double)t0 / 1e9) / 1e3;
}

static void echo(int conns, int server_cpu, int client_cpu, const char *what)
{
	static struct echo_var ev[2];
	const struct bench_var v[2] = {
		{ "conc", run_echo, &ev[0] },
		{ "epoll", run_echo, &ev[1] },
	};
	int rounds = conns > 1 ? ECHO_RT_MANY : ECHO_RT;
	struct bench_set s;

	ev[0] = (struct echo_var){ conc_server, conns, rounds, server_cpu, client_cpu };
	ev[1] = (struct echo_var){ epoll_server, conns, rounds, server_cpu, client_cpu };
	bench_set_run(&s, v, 2);
	bench_cmp(&s, what, "k rt/s", 0, 1, 0);
}

/* The first two CPUs the bench may use (the second -1 if there is one). */
static void two_cpus(int cpu[2])
{
	cpu_set_t mask;

	cpu[0] = cpu[1] = -1;
	if (sched_getaffinity(0, sizeof(mask), &mask))
		return;
	for (int c = 0, k = 0; c < CPU_SETSIZE && k < 2; c++)
		if (CPU_ISSET(c, &mask))
			cpu[k++] = c;
}

/* Left to the scheduler, client and server share a CPU in some runs and
 * not in others, and the figure jumps between the two (bimodal, 0.8-1.2x
 * from run to run): each is measured on its own, pinned. */
static void echoes(void)
{
	int cpu[2];

	two_cpus(cpu);
	if (cpu[1] >= 0) {
		echo(1, cpu[0], cpu[1], "TCP echo, 1 connection");
		echo(64, cpu[0], cpu[1], "TCP echo, 64 connections");
	}
	echo(1, cpu[0], cpu[0], "TCP echo, 1 connection, one CPU");
	echo(64, cpu[0], cpu[0], "TCP echo, 64 connections, one CPU");
	printf("  (Server and client pinned, the same for conc and epoll: on two CPUs\n"
	       "   a round trip is mostly two cross-CPU wake-ups; on one CPU it is the\n"
	       "   CPU cost of both sides, and the system calls that make it. The conc\n"
	       "   loop spins up to 50 us before it sleeps, adaptively; the epoll server\n"
	       "   sleeps at once. The client is the same plain epoll client for both.)\n");
	fflush(stdout);
}

/* ---- 4. a task woken by another process --------------------------------
 * Left to the scheduler, the two sides shared a CPU in some runs and not in
 * others, and both figures jumped between the two (bimodal, 0.02-1.06x from
 * run to run): each row is measured pinned, conc and the anchor alike, in a
 * process of its own (so that main stays unpinned). */

#define ROUNDS 20000

struct pp {
	conc_sem s[2];
};

static struct pp *pp;

/* Where the peer (the forked process, or the thread) pins itself: -1 to
 * stay on the CPU of the measuring process. */
static int peer_cpu = -1;

static void pong_proc(void *arg)
{
	(void)arg;
	pin_to(peer_cpu);
	for (int i = 0; i <= ROUNDS; i++)
		if (conc_sem_wait(&pp->s[0]) || conc_sem_post(&pp->s[1]))
			bench_die("pong");
}

static int ping_task(void *arg)
{
	uint64_t t0 = 0;

	for (int i = 0; i <= ROUNDS; i++) {
		if (i == 1)
			t0 = bench_now_ns();
		if (conc_sem_post(&pp->s[0]) || conc_sem_wait(&pp->s[1]))
			bench_die("ping");
	}
	*(double *)arg = ROUNDS / ((double)(bench_now_ns() - t0) / 1e9) / 1e3;
	return 0;
}

static double run_task_vs_proc(void *arg)
{
	pid_t pid = bench_fork(pong_proc, NULL);
	double k = -1;

	(void)arg;
	if (conc_run(ping_task, &k, NULL))
		bench_die("conc_run");
	bench_reap(pid);
	return k;
}

static int pong_thread(void *arg)
{
	pong_proc(arg);
	return 0;
}

static double run_threads(void *arg)
{
	conc_thread *th;
	double k = -1;

	if (conc_thread_start(&th, pong_thread, NULL, NULL))
		bench_die("thread");
	ping_task(&k);
	conc_thread_join(th, NULL, -1);
	(void)arg;
	return k;
}

/* The same two sides as conc's, a plain process in the task's stead: what
 * a switch between processes costs apart from the loop. */
static double run_procs(void *arg)
{
	pid_t pid = bench_fork(pong_proc, NULL);
	double k = -1;

	(void)arg;
	ping_task(&k);
	bench_reap(pid);
	return k;
}

static void wakeup_row(void *what)
{
	const struct bench_var v[3] = {
		{ "conc", run_task_vs_proc, NULL },
		{ "two threads", run_threads, NULL },
		{ "two processes", run_procs, NULL },
	};
	struct bench_set s;

	bench_set_run(&s, v, 3);
	bench_cmp(&s, what, "k rt/s", 0, 1, 0);
	bench_cmp(&s, what, "k rt/s", 0, 2, 0);
}

/* The measuring side on the first CPU, the peer on the second. conc counts
 * the CPUs it may use at its first contended wait, once per process (fork
 * children keep the count): one such wait before the pinning, so that it
 * sees the two CPUs that the two sides use between them, as processes left
 * to the scheduler would, and spins before it sleeps (the threads, the
 * process and the task alike). */
static void wakeup_two_cpus(void *what)
{
	conc_sem probe;
	int cpu[2];

	two_cpus(cpu);
	if (cpu[1] < 0) {
		bench_what(what);
		printf("  skipped (one CPU usable)\n");
		return;
	}
	if (conc_sem_init(&probe, 0, 0) || conc_sem_timedwait(&probe, 1) != -ETIMEDOUT)
		bench_die("probe");
	peer_cpu = cpu[1];
	pin_to(cpu[0]);
	wakeup_row(what);
}

/* Both sides on one CPU, pinned before any contended wait: conc sees one
 * CPU and its waits never spin; every answer is a switch. */
static void wakeup_one_cpu(void *what)
{
	int cpu[2];

	two_cpus(cpu);
	pin_to(cpu[0]);
	wakeup_row(what);
}

static void wakeups(void)
{
	pp = bench_shared(sizeof(*pp));
	bench_reap(bench_fork(wakeup_two_cpus,
			      "sem ping-pong: task <-> process, 2 CPUs"));
	bench_reap(bench_fork(wakeup_one_cpu,
			      "sem ping-pong: task <-> process, 1 CPU"));
	printf("  (Each side pinned, the same for conc and the anchors: on two CPUs\n"
	       "   the peer process (thread) on a CPU of its own; on one CPU both\n"
	       "   sides on one. Two processes: conc's peer against a plain process\n"
	       "   in the task's stead (a switch between processes costs more than\n"
	       "   one between threads). On two CPUs every side spins briefly on the\n"
	       "   semaphore before it sleeps, adaptively: the task too, while its\n"
	       "   loop has nothing else to do (as here), else it sleeps in a\n"
	       "   FUTEX_WAIT on the ring at once. On one CPU nobody spins on it.)\n");
	fflush(stdout);
}

/* With arguments, only the parts named: yield, sleepers, million, echo,
 * wakeup. */
static bool part(int argc, char **argv, const char *name)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	const struct bench_var yv[2] = {
		{ "conc", run_yield, NULL },
		{ "swapcontext", run_swapcontext, NULL },
	};
	struct bench_set s;

	bench_banner("bench_loop: tasks on the io_uring loop");
	if (!(conc_features() & CONC_FEAT_IO_URING)) {
		printf("   skipped: io_uring is not available in this kernel\n");
		return 0;
	}
	if (part(argc, argv, "yield")) {
		bench_set_run(&s, yv, 2);
		bench_cmp(&s, "yield between two tasks", "ns", 0, 1, 1);
	}
	if (part(argc, argv, "sleepers"))
		sleepers();
	if (part(argc, argv, "million"))
		million();
	if (part(argc, argv, "echo")) {
		echoes();
	}
	if (part(argc, argv, "wakeup"))
		wakeups();
	return 0;
}
