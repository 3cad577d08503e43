/* demo: Pipe(duplex=False): a one-way conc channel between two child processes, the sender's end refuses to receive, the receiver's to send */
/*
 * The seed's other kind of multiprocessing.Pipe: with duplex=False,
 * `conn1, conn2 = Pipe(duplex=False)` gives an end that only receives
 * (conn1) and one that only sends (conn2). conc_chan_pair() with
 * CONC_CHAN_ONEWAY does the same: a receives, b sends, over a single pipe.
 * As in the seed, both ends go to child processes (process1 and process2),
 * and the main process only starts and joins them. Using an end the wrong
 * way is an error (-EBADF), not a silent hang; once the sender has closed
 * its end, the receiver's next conc_chan_recv() returns -EPIPE (Python's
 * EOFError). pipe_greeting.c shows a duplex channel.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <conc.h>

#define SEC	1000000000LL
#define N	3

static conc_chan *conn1, *conn2;	/* receive-only, send-only */

static int receiver(void *arg)
{
	char buf[64];
	ssize_t n;
	int got = 0;

	(void)arg;
	conc_chan_close(conn2);		/* this process's copy of the other end */
	if (conc_chan_send(conn1, "x", 1, SEC) != -EBADF)
		return 1;
	while ((n = conc_chan_recv(conn1, buf, sizeof(buf) - 1, 5 * SEC)) >= 0) {
		buf[n] = 0;
		printf("  process 1 (pid %d) got \"%s\"\n", (int)getpid(), buf);
		got++;
	}
	printf("  process 1: the sender hung up (%s)\n", strerror((int)-n));
	conc_chan_close(conn1);
	return n == -EPIPE && got == N ? 0 : 2;
}

static int sender(void *arg)
{
	char buf[64];
	int i, len;

	(void)arg;
	conc_chan_close(conn1);
	if (conc_chan_recv(conn2, buf, sizeof(buf), SEC) != -EBADF)
		return 1;
	for (i = 1; i <= N; i++) {
		len = snprintf(buf, sizeof(buf), "Hello %d from pid %d", i, (int)getpid());
		printf("  process 2 sends \"%s\"\n", buf);
		if (conc_chan_send(conn2, buf, (size_t)len, 5 * SEC))
			return 2;
	}
	conc_chan_close(conn2);
	return 0;
}

int main(void)
{
	conc_proc *p[2];
	int i, r, st, bad = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((r = conc_chan_pair(&conn1, &conn2, CONC_CHAN_ONEWAY))) {
		printf("conc_chan_pair: %s\n", strerror(-r));
		return 1;
	}
	if ((r = conc_proc_start(&p[0], receiver, NULL, NULL)) ||
	    (r = conc_proc_start(&p[1], sender, NULL, NULL))) {
		printf("conc_proc_start: %s\n", strerror(-r));
		return 1;
	}
	/* The main process keeps no end: the receiver sees EOF once the
	 * sender alone has closed. */
	conc_chan_close(conn1);
	conc_chan_close(conn2);
	for (i = 0; i < 2; i++) {
		if ((r = conc_proc_join(p[i], &st, 10 * SEC)) || !WIFEXITED(st) ||
		    WEXITSTATUS(st)) {
			printf("process %d: %s, status %#x\n", i + 1,
			       r ? strerror(-r) : "ended badly", r ? 0 : st);
			bad = 1;
		}
		if (!r)
			conc_proc_release(p[i]);
	}
	printf(bad ? "FAILED\n" : "OK: %d messages one way, EOF at the end\n", N);
	return bad;
}
