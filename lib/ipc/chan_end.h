/*
 * One end of a channel, as the chan_*.c files share it. An end owns the
 * read end of one pipe and the write end of the other (a one-way pair:
 * one fd each). The fds are non-blocking; every wait goes through the
 * wait point with the caller's deadline.
 *
 * Receiving (rlock): rbuf[rpos, rpos + rlen) holds bytes taken from the
 * pipe but not yet handed out, always the start of the stream that is
 * left: a part of a message that a receive's deadline cut short (kept for
 * the next receive), or what a waiting send took in. skip counts bytes of
 * a message too long for the caller that are still to be thrown away.
 * broken: the peer sent something that is not a frame, or a frame cut
 * short; where the next one starts is unknown, so receiving is over.
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

#define CHAN_RBUF_MIN	16384u

struct conc_chan {
	int rfd, wfd;		/* -1 when this end has none */
	bool broken, wdead;
	conc_mutex rlock, wlock;
	char *rbuf;
	size_t rcap, rpos, rlen, skip;
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
 * end of file, -ETIMEDOUT or -errno. */
long __chan_read(conc_chan *c, void *p, size_t n, conc_deadline dl)
	__CHAN_HIDDEN;

/* Wait until wfd has room (or its reader is gone), or dl passes, taking
 * in what the peer sends meanwhile: 0 or -ETIMEDOUT (-errno). */
int __chan_wait_room(conc_chan *c, conc_deadline dl) __CHAN_HIDDEN;

/* Take in what the peer sent while a send waits (see chan_absorb.c):
 * false once looking at rfd again is of no use. */
bool __chan_absorb(conc_chan *c, bool *busy) __CHAN_HIDDEN;

#endif
