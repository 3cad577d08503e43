/*
 * The loop's I/O calls (lib/loop/io*.c): one description of a call, run
 * through the ring inside a task (io.c), as the plain system call outside
 * (io_plain.c), or through heap copies for a shared-stack task
 * (io_bounce.c).
 */
#ifndef CONC_LOOP_IO_H
#define CONC_LOOP_IO_H

#include <poll.h>
#include "loop/loop_impl.h"

enum { IO_READ, IO_WRITE, IO_RECV, IO_SEND, IO_ACCEPT, IO_CONNECT };

/* The most one call moves: Linux's MAX_RW_COUNT on 4 KiB pages. */
#define IO_MAX_LEN	((size_t)0x7ffff000)

struct io {
	int kind, fd, flags;
	void *buf;
	size_t len;
	struct sockaddr *addr;	/* accept: out; connect: in */
	socklen_t *alen, clen;
};

static inline short __conc_io_events(int kind)
{
	return kind == IO_WRITE || kind == IO_SEND || kind == IO_CONNECT ?
		POLLOUT : POLLIN;
}

long __conc_io_plain(const struct io *a) __CONC_LOOP_HIDDEN;
long __conc_io_connected(const struct io *a, conc_deadline dl) __CONC_LOOP_HIDDEN;
long __conc_io_ring(struct conc_task *t, const struct io *a,
		    conc_deadline dl) __CONC_LOOP_HIDDEN;
long __conc_io_outside(const struct io *a, conc_deadline dl) __CONC_LOOP_HIDDEN;
long __conc_io_bounce(struct conc_task *t, const struct io *a,
		      conc_deadline dl) __CONC_LOOP_HIDDEN;

#endif
