/* demo: a parent and a child process greet each other over a pipe channel, then the child hangs up and the parent sees EOF */
/*
 * The seed's multiprocessing.Pipe example in C. conc_chan_pair() makes two
 * connected ends (Python's `conn1, conn2 = Pipe()`); a child started with
 * conc_proc_start() keeps one, the parent the other, and each closes the
 * end it does not use. They greet each other; then the child closes its
 * end and leaves, and the parent's next conc_chan_recv() returns -EPIPE
 * where Python's conn.recv() raises EOFError.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <conc.h>

#define SEC 1000000000LL

struct ends {
	conc_chan *parent, *child;
};

static int child(void *arg)
{
	struct ends *e = arg;
	char buf[64];
	ssize_t n;

	conc_chan_close(e->parent);	/* this process's copy of the other end */
	printf("  child  (pid %d): sending \"Hello!\"\n", (int)getpid());
	if (conc_chan_send(e->child, "Hello!", 6, 5 * SEC))
		return 1;
	if ((n = conc_chan_recv(e->child, buf, sizeof(buf) - 1, 5 * SEC)) < 0)
		return 2;
	buf[n] = 0;
	printf("  child: the parent says \"%s\"\n", buf);
	printf("  child: closing my end and leaving\n");
	conc_chan_close(e->child);
	return 0;
}

static int fail(const char *what, long r)
{
	printf("%s: %s\n", what, strerror((int)-r));
	return 1;
}

int main(void)
{
	struct ends e;
	conc_proc *p;
	char buf[64];
	ssize_t n;
	int r, st;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((r = conc_chan_pair(&e.parent, &e.child, 0)))
		return fail("conc_chan_pair", r);
	if ((r = conc_proc_start(&p, child, &e, NULL)))
		return fail("conc_proc_start", r);
	conc_chan_close(e.child);

	if ((n = conc_chan_recv(e.parent, buf, sizeof(buf) - 1, 5 * SEC)) < 0)
		return fail("conc_chan_recv", n);
	buf[n] = 0;
	printf("parent (pid %d): the child says \"%s\"; answering \"Hello to you!\"\n",
	       (int)getpid(), buf);
	if ((r = conc_chan_send(e.parent, "Hello to you!", 13, 5 * SEC)))
		return fail("conc_chan_send", r);

	n = conc_chan_recv(e.parent, buf, sizeof(buf), 5 * SEC);
	printf("parent: the child hung up; next receive: %s (%zd), Python's EOFError\n",
	       strerror((int)-n), n);
	conc_chan_close(e.parent);
	if ((r = conc_proc_join(p, &st, 5 * SEC)))
		return fail("conc_proc_join", r);
	conc_proc_release(p);
	return n == -EPIPE && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
