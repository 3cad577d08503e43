/*
 * fuzz_chan — libFuzzer target: a channel end whose peer writes anything.
 * The input is a list of steps on a fresh pair (a receives, b sends into
 * a's pipe): frames sent by conc_chan_send from b, bytes written by hand
 * into the same pipe (through a file description of its own, packet mode
 * or not: a peer process may do either), closing the peer, sends from a,
 * and receives on a of varying cap, all with timeout 0 (nothing waits).
 * What a peer writes is input (DESIGN.md, threat model), so whatever it
 * is, a receive returns a length within cap, -EPROTO (and then always
 * -EPROTO), -EMSGSIZE, -EPIPE or -ETIMEDOUT; frames sent before the first
 * hand-written byte come out intact and in order; rbuf stays bounded; a's
 * sends keep working.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <conc.h>
#include "ipc/chan_end.h"

#define QMAX	64
#define PAGE	4096u

static unsigned char *rx;	/* a receive buffer of CONC_CHAN_MAX_MSG */
static unsigned char *tx;	/* what a send or a hand-written write takes */
#define TX_MAX	(2u << 20)

static const size_t sizes[] = {
	0, 1, 7, 8, 255, 256, 257, 4087, 4088, 4089, 4096, 8184, 8185,
	12280, 16376, 16377, 16384, 20000, 65536, 300000, 1048576 - 8,
	(1u << 20) + 1, TX_MAX - 8,
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static const size_t caps[] = {
	0, 1, 8, 100, 4087, 4088, 4096, 16376, 65536, 1u << 20,
	CONC_CHAN_MAX_MSG,
};
#define NCAPS (sizeof(caps) / sizeof(caps[0]))

struct in {
	const uint8_t *p;
	size_t n;
};

static unsigned take(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint32_t take32(struct in *in)
{
	uint32_t v = take(in);

	v |= take(in) << 8;
	v |= take(in) << 16;
	return v | (uint32_t)take(in) << 24;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 12));
}

static int same(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed * 131u + i * 7u + (i >> 12)))
			return 0;
	return 1;
}

static void hdr(unsigned char *h, uint32_t len, unsigned flags)
{
	h[0] = 'C';
	h[1] = 'c';
	h[2] = 1;
	h[3] = (unsigned char)flags;
	h[4] = (unsigned char)len;
	h[5] = (unsigned char)(len >> 8);
	h[6] = (unsigned char)(len >> 16);
	h[7] = (unsigned char)(len >> 24);
}

#define CHECK(x) do { if (!(x)) { \
	fprintf(stderr, "fuzz_chan: %s:%d: %s\n", __FILE__, __LINE__, #x); \
	abort(); } } while (0)

struct run {
	conc_chan *a, *b;
	int raw;		/* our own description of a's pipe, write end */
	bool dirty;		/* a hand-written byte or a torn frame went in */
	bool closed;		/* nothing writes to a's pipe any more */
	bool proto, eof;	/* a's receive gave -EPROTO / -EPIPE (closed) */
	size_t qlen[QMAX];	/* frames sent before dirty, not received */
	unsigned qseed[QMAX];
	int qhead, qn;
	unsigned seq;
};

/* Write n bytes from p by hand, in packet mode or not; a full pipe just
 * takes less. */
static void hand(struct run *r, const void *p, size_t n, bool pkt)
{
	if (r->closed)
		return;
	r->dirty = true;
	fcntl(r->raw, F_SETFL, O_NONBLOCK | (pkt ? O_DIRECT : 0));
	(void)!write(r->raw, p, n);
}

static void send_b(struct run *r, struct in *in)
{
	size_t len = sizes[take(in) % NSIZES];
	unsigned seed = ++r->seq;
	int e;

	if (!r->b)
		return;
	fill(tx, len, seed);
	e = conc_chan_send(r->b, tx, len, 0);
	CHECK(e == 0 || e == -ETIMEDOUT || e == -EPIPE);
	if (e == 0 && !r->dirty && r->qn < QMAX) {
		int k = (r->qhead + r->qn++) % QMAX;

		r->qlen[k] = len;
		r->qseed[k] = seed;
	} else if (e == 0 || conc_chan_wfd(r->b) == -EPIPE) {
		r->dirty = true;	/* past what the queue holds, or torn */
	} else if (e == -ETIMEDOUT) {
		CHECK(conc_chan_wfd(r->b) >= 0);	/* nothing went in */
	}
}

static void recv_a(struct run *r, struct in *in)
{
	size_t cap = caps[take(in) % NCAPS];
	int before = 0, after = 0;
	long e;

	ioctl(conc_chan_rfd(r->a), FIONREAD, &before);
	e = conc_chan_recv(r->a, cap ? rx : NULL, cap, 0);
	ioctl(conc_chan_rfd(r->a), FIONREAD, &after);

	CHECK(e == -EPROTO || e == -EMSGSIZE || e == -EPIPE ||
	      e == -ETIMEDOUT || (e >= 0 && (size_t)e <= cap));
	CHECK(!r->proto || e == -EPROTO);
	CHECK(!r->eof || e == -EPIPE);
	/* All there is is there: a timeout now only ends a dribble
	 * (chan_recv.c), and then took some of it. */
	CHECK(!r->closed || e != -ETIMEDOUT || after < before);
	r->proto = e == -EPROTO;
	r->eof = e == -EPIPE && r->closed;
	if (r->qn) {
		int k = r->qhead;
		size_t len = r->qlen[k];

		if (len <= cap)
			CHECK(e == (long)len && same(rx, len, r->qseed[k]));
		else
			CHECK(e == -EMSGSIZE);
		r->qhead = (k + 1) % QMAX;
		r->qn--;
	} else if (!r->dirty) {
		CHECK(e == (r->closed ? -EPIPE : -ETIMEDOUT));
	}
	/* What a receive keeps is at most a frame and its pad. */
	CHECK(r->a->rcap <= 2 * ((size_t)CONC_CHAN_MAX_MSG + 2 * 65536 +
				   CHAN_RBUF_MIN));
}

/* a's own sends are not the peer's to break. b's pipe holds one packet:
 * with full, the second send waits for room (timeout 0: a look), and
 * meanwhile takes in what a's peer wrote (chan_absorb.c). */
static void send_a(struct run *r, struct in *in, bool full)
{
	size_t len = take(in) * 16u;
	unsigned char got[4088];
	int e;

	fill(tx, len, 7);
	e = conc_chan_send(r->a, tx, len, 0);
	if (!r->b) {
		CHECK(e == -EPIPE);
		return;
	}
	CHECK(e == 0);
	if (full)
		CHECK(conc_chan_send(r->a, tx, 1, 0) == -ETIMEDOUT);
	CHECK(conc_chan_recv(r->b, got, sizeof(got), 0) == (long)len &&
	      same(got, len, 7));
	CHECK(conc_chan_recv(r->b, got, sizeof(got), 0) == -ETIMEDOUT);
}

static void step(struct run *r, struct in *in)
{
	unsigned op = take(in), n, k;
	unsigned char h[8];

	switch (op % 10) {
	case 0:
	case 1:
		send_b(r, in);
		break;
	case 2:
	case 3:
		recv_a(r, in);
		break;
	case 4:		/* bytes from the input, packet mode or not */
		n = take(in) % 64;
		n = n < in->n ? n : (unsigned)in->n;
		hand(r, in->p, n, op & 0x10);
		in->p += n;
		in->n -= n;
		break;
	case 5:		/* a header of any flags and length */
		hdr(h, take32(in), take(in));
		hand(r, h, 1 + op / 32 % 8, op & 0x10);
		break;
	case 6:		/* a frame by hand, whole or not, maybe one byte a write */
		n = (unsigned)sizes[take(in) % NSIZES];
		k = take(in);
		hdr(tx, n, k & 0x80);
		fill(tx + 8, n, 0);
		n += 8;
		if (k & 0x80) {	/* the pad */
			memset(tx + n, 0, (PAGE - n % PAGE) % PAGE);
			n = (n + PAGE - 1) / PAGE * PAGE;
		}
		if (k & 0x40)
			n = n * (k & 0x3f) / 64;	/* cut short */
		if (op & 0x20 && n <= 64)
			for (k = 0; k < n; k++)
				hand(r, tx + k, 1, op & 0x10);
		else
			hand(r, tx, n, op & 0x10);
		break;
	case 7:		/* pages of one byte: pads, long bodies */
		n = 1 + take(in) % 64;
		memset(tx, take(in) & 1 ? take(in) : 0, n * PAGE);
		hand(r, tx, n * PAGE - op / 16 % 8, op & 0x80);
		break;
	case 8:
		send_a(r, in, op & 0x10);
		break;
	case 9:		/* the peer goes */
		if (!r->closed) {
			close(r->raw);
			conc_chan_close(r->b);
			r->raw = -1;
			r->b = NULL;
			r->closed = true;
		}
		break;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	rx = malloc(CONC_CHAN_MAX_MSG);
	tx = malloc(TX_MAX + PAGE);
	if (!rx || !tx)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct in in = { p, n };
	struct run r = { 0 };
	char path[64];
	int steps;

	CHECK(conc_chan_pair(&r.a, &r.b, 0) == 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", conc_chan_wfd(r.b));
	r.raw = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	CHECK(r.raw >= 0);
	CHECK(fcntl(conc_chan_wfd(r.a), F_SETPIPE_SZ, PAGE) >= 0);
	for (steps = 0; in.n && steps < 200; steps++)
		step(&r, &in);
	/* Whatever is left comes out, then the end of the stream. */
	if (!r.closed)
		step(&r, &(struct in){ (const uint8_t[]){ 9 }, 1 });
	for (steps = 0; steps < 20000 && !r.proto && !r.eof; steps++)
		recv_a(&r, &(struct in){ (const uint8_t[]){ NCAPS - 1 }, 1 });
	CHECK(r.proto || r.eof);
	conc_chan_close(r.a);
	if (r.b)
		conc_chan_close(r.b);
	if (r.raw >= 0)
		close(r.raw);
	return 0;
}
