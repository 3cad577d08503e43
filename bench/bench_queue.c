/* bench_queue — conc_queue against a pipe, a SOCK_SEQPACKET socketpair,
 * POSIX mq and Python's multiprocessing.Queue: 64-byte messages between
 * processes, 1 producer -> 1 consumer and 2 -> 2, in messages per second.
 *
 * Every run forks fresh producers and consumers that wait at a gate, so
 * the clock covers only the transfer: from the gate's opening to the last
 * consumer's last message. Each message carries a sequence number; the
 * consumers' counts and sums prove every message arrived exactly once.
 * How consumers learn the end: conc_queue is closed by the last producer
 * (consumers drain it, then get -EPIPE); pipe and socket readers see end
 * of file when every writer has exited; POSIX mq has no close, so the last
 * producer sends one empty message per consumer. */
#include <errno.h>
#include <mqueue.h>
#include <sys/socket.h>
#include <conc.h>
#include "bench.h"

#define MSG	 64		/* bytes per message */
#define NMSG	 100000		/* messages per run, all producers together */
#define CAP	 64		/* conc_queue and mq capacity, in messages */
#define MAXP	 2		/* producers or consumers, at most */
#define PY_NMSG	 60000		/* Python is slow: shorter runs */

enum kind { K_CONC, K_PIPE, K_SEQ, K_MQ, K_PY, K_KINDS };

static const char *const kind_name[K_KINDS] = {
	"conc", "pipe", "SEQPACKET socketpair", "POSIX mq",
	"multiprocessing.Queue",
};

struct variant {
	enum kind k;
	int np, nc;		/* producers, consumers */
};

/* What the children report back, in shared memory. */
struct shared {
	uint32_t pdone;			/* producers finished */
	uint64_t got[MAXP], sum[MAXP];	/* per consumer */
	uint64_t end_ns[MAXP];		/* per consumer: its last message */
};

/* One run's channel: whichever the variant uses. */
struct chan {
	conc_queue *q;
	int fd[2];		/* pipe or socketpair: [0] read, [1] write */
	mqd_t mq;
};

static struct shared *sh;
static int mq_cap;		/* 0: POSIX mq unavailable, for mq_err */
static int mq_err;

static void put_one(const struct variant *v, struct chan *c, uint64_t seq)
{
	unsigned char m[MSG] = { 0 };
	int r;

	memcpy(m, &seq, sizeof(seq));
	switch (v->k) {
	case K_CONC:
		if ((r = conc_queue_put(c->q, m, MSG, CONC_FOREVER)))
			bench_die("conc_queue_put");
		break;
	case K_PIPE:
	case K_SEQ:
		if (write(c->fd[1], m, MSG) != MSG)
			bench_die("write");
		break;
	case K_MQ:
		if (mq_send(c->mq, (char *)m, MSG, 0))
			bench_die("mq_send");
		break;
	default:
		break;
	}
}

/* The next message's length into m, or 0 at the end. */
static ssize_t get_one(const struct variant *v, struct chan *c,
		       unsigned char m[MSG])
{
	char big[MSG > 8192 ? MSG : 8192];
	ssize_t n;

	switch (v->k) {
	case K_CONC:
		n = conc_queue_get(c->q, m, MSG, CONC_FOREVER);
		if (n == -EPIPE)
			return 0;
		if (n < 0)
			bench_die("conc_queue_get");
		return n;
	case K_PIPE:
	case K_SEQ:
		n = read(c->fd[0], m, MSG);
		if (n < 0)
			bench_die("read");
		return n;
	case K_MQ:
		/* mq_receive wants room for the queue's largest message. */
		n = mq_receive(c->mq, big, sizeof(big), NULL);
		if (n < 0)
			bench_die("mq_receive");
		memcpy(m, big, (size_t)n < MSG ? (size_t)n : MSG);
		return n;
	default:
		return 0;
	}
}

static int gate_ready[2], gate_go[2];	/* pipes: children -> parent, back */

/* In a child: say "ready", then wait for the gate to open (end of file). */
static void gate_wait(void)
{
	char c = 'r';

	close(gate_go[1]);
	close(gate_ready[0]);
	if (write(gate_ready[1], &c, 1) != 1 || read(gate_go[0], &c, 1) != 0)
		bench_die("gate");
	close(gate_ready[1]);
	close(gate_go[0]);
}

static void producer(const struct variant *v, struct chan *c, int id)
{
	uint64_t per = NMSG / v->np, first = (uint64_t)id * per;

	if (v->k == K_PIPE || v->k == K_SEQ)
		close(c->fd[0]);
	gate_wait();
	for (uint64_t i = 0; i < per; i++)
		put_one(v, c, first + i);
	if (__atomic_add_fetch(&sh->pdone, 1, __ATOMIC_SEQ_CST) == (uint32_t)v->np) {
		if (v->k == K_CONC && conc_queue_close(c->q))
			bench_die("conc_queue_close");
		if (v->k == K_MQ)
			for (int i = 0; i < v->nc; i++)
				if (mq_send(c->mq, "", 0, 0))
					bench_die("mq_send (end)");
	}
	_exit(0);
}

static void consumer(const struct variant *v, struct chan *c, int id)
{
	unsigned char m[MSG];
	uint64_t got = 0, sum = 0, seq;
	ssize_t n;

	if (v->k == K_PIPE || v->k == K_SEQ)
		close(c->fd[1]);
	gate_wait();
	while ((n = get_one(v, c, m)) > 0) {
		if (n != MSG)
			bench_die("a message of the wrong size");
		memcpy(&seq, m, sizeof(seq));
		got++;
		sum += seq;
	}
	sh->end_ns[id] = bench_now_ns();
	sh->got[id] = got;
	sh->sum[id] = sum;
	_exit(0);
}

static void open_chan(const struct variant *v, struct chan *c)
{
	conc_queue_attr qa = { .capacity = CAP, .max_msg = MSG };
	struct mq_attr ma = { .mq_maxmsg = mq_cap, .mq_msgsize = MSG };
	char name[64];

	memset(c, 0, sizeof(*c));
	switch (v->k) {
	case K_CONC:
		if (conc_queue_create(&c->q, &qa))
			bench_die("conc_queue_create");
		break;
	case K_PIPE:
		if (pipe2(c->fd, O_CLOEXEC))
			bench_die("pipe2");
		break;
	case K_SEQ:
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c->fd))
			bench_die("socketpair");
		break;
	case K_MQ:
		/* Unlinked at once: the open descriptors keep it alive. */
		snprintf(name, sizeof(name), "/conc-bench-%d", (int)getpid());
		c->mq = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &ma);
		if (c->mq == (mqd_t)-1)
			bench_die("mq_open");
		mq_unlink(name);
		break;
	default:
		break;
	}
}

static void close_chan(const struct variant *v, struct chan *c)
{
	switch (v->k) {
	case K_CONC:
		conc_queue_destroy(c->q);
		break;
	case K_PIPE:
	case K_SEQ:
		close(c->fd[0]);
		close(c->fd[1]);
		break;
	case K_MQ:
		mq_close(c->mq);
		break;
	default:
		break;
	}
}

static pid_t fork_child(void)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bench_die("fork");
	if (pid == 0)
		bench_guard(20);
	return pid;
}

/* One run: messages per second, in thousands. */
static double run(void *arg)
{
	const struct variant *v = arg;
	pid_t pid[2 * MAXP];
	uint64_t t0, end = 0, got = 0, sum = 0;
	const uint64_t total = (uint64_t)(NMSG / v->np) * v->np;
	struct chan c;
	int n = 0;
	char ch;

	memset(sh, 0, sizeof(*sh));
	open_chan(v, &c);
	if (pipe2(gate_ready, O_CLOEXEC) || pipe2(gate_go, O_CLOEXEC))
		bench_die("pipe2");
	for (int i = 0; i < v->nc; i++)
		if ((pid[n++] = fork_child()) == 0)
			consumer(v, &c, i);
	for (int i = 0; i < v->np; i++)
		if ((pid[n++] = fork_child()) == 0)
			producer(v, &c, i);
	/* Ours closed, so that readers see end of file when writers exit. */
	close_chan(v, &c);
	close(gate_ready[1]);
	for (int i = 0; i < n; i++)
		if (read(gate_ready[0], &ch, 1) != 1)
			bench_die("a child did not reach the gate");
	close(gate_ready[0]);
	close(gate_go[0]);
	t0 = bench_now_ns();
	close(gate_go[1]);	/* open the gate */
	for (int i = 0; i < n; i++)
		bench_reap(pid[i]);
	for (int i = 0; i < v->nc; i++) {
		got += sh->got[i];
		sum += sh->sum[i];
		if (sh->end_ns[i] > end)
			end = sh->end_ns[i];
	}
	if (got != total || sum != total * (total - 1) / 2)
		bench_die("messages lost or duplicated");
	return (double)total / ((double)(end - t0) / 1e9) / 1e3;
}

/* ---- Python's multiprocessing.Queue: one producer Process, the parent
 * gets; timed from the first message received to the last. */
static const char py_script[] =
	"import multiprocessing as mp, sys, time\n"
	"def prod(q, n):\n"
	"    m = b'x' * 64\n"
	"    for _ in range(n):\n"
	"        q.put(m)\n"
	"n = int(sys.argv[1])\n"
	"ctx = mp.get_context('fork')\n"
	"q = ctx.Queue()\n"
	"p = ctx.Process(target=prod, args=(q, n))\n"
	"p.start()\n"
	"q.get()\n"
	"t = time.perf_counter()\n"
	"for _ in range(n - 1):\n"
	"    if len(q.get()) != 64:\n"
	"        sys.exit(2)\n"
	"dt = time.perf_counter() - t\n"
	"p.join()\n"
	"print((n - 1) / dt)\n";

/* Thousands of messages per second, < 0 when Python failed. */
static double python_run(void *arg)
{
	char count[32], out[128], *argv[] = { "python3", "-c", (char *)py_script,
					       count, NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_PIPE_STDOUT };
	conc_proc *p;
	size_t len = 0;
	ssize_t n;
	int st;

	(void)arg;
	snprintf(count, sizeof(count), "%d", PY_NMSG);
	if (conc_proc_spawn(&p, "python3", argv, NULL, &a))
		return -1;
	while (len < sizeof(out) - 1 &&
	       (n = read(conc_proc_stdout(p), out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = 0;
	if (conc_proc_join(p, &st, 20 * 1000000000LL)) {
		conc_proc_kill(p, SIGKILL);
		conc_proc_join(p, &st, CONC_FOREVER);
		conc_proc_release(p);
		return -1;
	}
	conc_proc_release(p);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || strtod(out, NULL) <= 0)
		return -1;
	return strtod(out, NULL) / 1e3;
}

static int python_here(void)
{
	const char *path = getenv("PATH");
	char buf[4096];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		if (n && n < sizeof(buf) - sizeof("/python3")) {
			memcpy(buf, p, n);
			strcpy(buf + n, "/python3");
			if (access(buf, X_OK) == 0)
				return 1;
		}
		p += n + (p[n] == ':');
	}
	return 0;
}

/* Can this system make a POSIX message queue of CAP messages (or of the
 * unprivileged default limit)? Sets mq_cap. */
static void mq_probe(void)
{
	static const int caps[] = { CAP, 10 };
	char name[64];

	snprintf(name, sizeof(name), "/conc-bench-probe-%d", (int)getpid());
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		struct mq_attr ma = { .mq_maxmsg = caps[i], .mq_msgsize = MSG };
		mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &ma);

		if (q != (mqd_t)-1) {
			mq_close(q);
			mq_unlink(name);
			mq_cap = caps[i];
			return;
		}
		mq_err = errno;
	}
}

/* Other work on a small machine moves these figures a lot: say how busy
 * it was. */
static void load_note(void)
{
	char buf[64] = "";
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, " ")] = 0;
	if (buf[0])
		printf("   load average (1 min) before the runs: %s\n", buf);
}

/* Python's multiprocessing.Queue (1 -> 1 only) is one more variant, so its
 * runs alternate with the others like theirs. */
static void section(int np, int nc, const char *title)
{
	static struct variant v[K_KINDS];
	struct bench_var bv[K_KINDS];
	struct bench_set s;
	int n = 0, py = np == 1 && nc == 1 && python_here();
	char what[64];

	for (int k = 0; k < K_KINDS; k++) {
		if ((k == K_MQ && !mq_cap) || (k == K_PY && !py))
			continue;
		v[n] = (struct variant){ (enum kind)k, np, nc };
		bv[n] = (struct bench_var){ kind_name[k],
					    k == K_PY ? python_run : run, &v[n] };
		n++;
	}
	bench_set_run(&s, bv, n);
	snprintf(what, sizeof(what), "queue %s", title);
	for (int i = 1; i < n; i++)
		bench_cmp(&s, what, "k msg/s", 0, i, 0);
	if (!mq_cap)
		printf("%-42s  POSIX mq: skipped (mq_open failed: %s)\n", what,
		       strerror(mq_err));
	if (np == 1 && nc == 1 && !py)
		printf("%-42s  multiprocessing.Queue: skipped (no python3 in PATH)\n",
		       what);
	fflush(stdout);
}

int main(void)
{
	bench_banner("bench_queue: conc_queue vs pipe, socketpair, POSIX mq, "
		     "Python multiprocessing.Queue");
	sh = bench_shared(sizeof(*sh));
	mq_probe();
	printf("   %d-byte messages, %d per run; capacity: conc_queue %d, "
	       "mq %d, pipe 64 KiB, socket default\n", MSG, NMSG, CAP, mq_cap);
	load_note();
	section(1, 1, "1 -> 1 processes");
	section(2, 2, "2 -> 2 processes");
	printf("  (Python: %d messages from one Process to its parent, one\n"
	       "   `python3 -c` per run, timed from the first message received.)\n",
	       PY_NMSG);
	return 0;
}
