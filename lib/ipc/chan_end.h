/*
 * One end of a channel, as the chan_*.c files share it. An end owns the
 * read end of one pipe and the write end of the other (a one-way pair:
 * one fd each). wfd is non-blocking. rfd is non-blocking until a receive
 * without a deadline outside a coroutine loop first has to wait: then it
 * is made blocking (rblock) so that such a receive waits inside its one
 * read, as a plain pipe reader does; every other read asks for RWF_NOWAIT
 * and waits through the wait point with the caller's deadline.
 *
 * Packet mode (rpkt, wpkt): the write end is O_DIRECT, so a frame of up
 * to PIPE_BUF bytes is one packet and one read takes it whole, header and
 * bytes. A longer one goes in as packets of a page each, read one by
 * one, and one longer than four pages as a plain byte stream (O_DIRECT
 * off while wstream), so that it is read in two large reads, padded to
 * whole pages (chan_frame.h) so that the kernel never merges a later
 * packet into the frame's last page. The cursor (phdr,
 * phave, pleft) follows where the pipe's read position is among the
 * frames, so that no read asks for less than a packet (the kernel would
 * drop the rest of it) or reaches into the next frame (rfd must keep
 * showing a message that waits): chan_cursor.c.
 *
 * Receiving (rlock): rbuf[rpos, rpos + rlen) holds bytes taken from the
 * pipe but not yet handed out, always the start of the stream that is
 * left: a part of a message that a receive's deadline cut short (kept for
 * the next receive), or what a waiting send took in. skip counts bytes of
 * a message too long for the caller that are still to be thrown away.
 * broken: the peer sent something that is not a frame, or a frame cut
 * short; where the next one starts is unknown, so receiving is over. Set
 * under rlock, never cleared; a receive that cannot get rlock reads it
 * without (atomic loads and stores).
 *
 * Sending (wlock): wdead once a send's deadline cut a frame short; the
 * write end is then closed, so the peer sees the frame torn (-EPROTO)
 * rather than waiting for the rest, and later sends fail with -EPIPE.
 */
#ifndef CONC_IPC_CHAN_END_H
#define CONC_IPC_CHAN_END_H

#include <stdbool.h>
#include <stddef.h>
#include <conc/chan.h>
#include <conc/mutex.h>
#include "wait/wait.h"
#include "chan_frame.h"

#define CHAN_RBUF_MIN	16384u

struct conc_chan {
	int rfd, wfd;		/* -1 when this end has none */
	bool broken, wdead;
	bool rpkt, wpkt;	/* the pipe read from / written to is O_DIRECT */
	bool rblock;		/* rfd's O_NONBLOCK is off */
	bool wstream;		/* wfd's O_DIRECT is off */
	bool plost;		/* the cursor met a bad header: it follows no more */
	size_t page;		/* the kernel's page size: the largest packet */
	conc_mutex rlock, wlock;
	char *rbuf;
	size_t rcap, rpos, rlen, skip;
	unsigned char phdr[CHAN_HDR];	/* the header being read from the pipe */
	size_t phave;		/* its bytes read so far; CHAN_HDR: complete */
	size_t pleft;		/* bytes of that frame still in the pipe */
};

#define __CHAN_HIDDEN __attribute__((visibility("hidden")))

/* Drop n bytes from the front of rbuf. */
void __chan_consume(conc_chan *c, size_t n) __CHAN_HIDDEN;

/* Make room for at least n more bytes after the content of rbuf (moving
 * it to the front, growing the buffer): 0 or -ENOMEM. */
int __chan_room(conc_chan *c, size_t n) __CHAN_HIDDEN;

/* Give back what rbuf grew beyond its first size, once it is empty. */
void __chan_shrink(conc_chan *c) __CHAN_HIDDEN;

/* Read up to n bytes, waiting until dl for the first: > 0 bytes, 0 at
 * end of file, -ETIMEDOUT or -errno. Asks for no more than the cursor
 * allows; at the start of a frame offer at least c->page bytes. */
long __chan_read(conc_chan *c, void *p, size_t n, conc_deadline dl)
	__CHAN_HIDDEN;

/* The same into the n entries of v (each trimmed to what was asked). */
struct iovec;
long __chan_readv(conc_chan *c, struct iovec *v, int n, conc_deadline dl)
	__CHAN_HIDDEN;

/* The same as it comes: no cursor (the caller moves it). */
long __chan_read_raw(conc_chan *c, const struct iovec *v, int n,
		     conc_deadline dl) __CHAN_HIDDEN;

/* The same without waiting: -EAGAIN when nothing is there. */
long __chan_pull(conc_chan *c, void *p, size_t n) __CHAN_HIDDEN;

/* The cursor: how much of n a read may ask for now, and moving it over
 * the r bytes at p that a read returned. */
size_t __chan_ask(const conc_chan *c, size_t n) __CHAN_HIDDEN;
void __chan_advance(conc_chan *c, const unsigned char *p, size_t r)
	__CHAN_HIDDEN;

/* Wait until wfd has room (or its reader is gone), or dl passes, taking
 * in what the peer sends meanwhile: 0 or -ETIMEDOUT (-errno). */
int __chan_wait_room(conc_chan *c, conc_deadline dl) __CHAN_HIDDEN;

/* Take in what the peer sent while a send waits (see chan_absorb.c):
 * false once looking at rfd again is of no use. */
bool __chan_absorb(conc_chan *c, bool *busy) __CHAN_HIDDEN;

#endif
