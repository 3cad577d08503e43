/*
 * I/O for a shared-stack task: its stack is elsewhere while it waits, so
 * the kernel reads and writes heap copies of the buffer and addresses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "loop/io.h"

/* The bounce for a shared-stack task: what the kernel touches lives on the
 * heap while the task's stack is copied out. */
struct bounce {
	struct sockaddr_storage sa;
	socklen_t alen;
	char data[];
};

long __conc_io_bounce(struct conc_task *t, const struct io *a,
		      conc_deadline dl)
{
	bool in = a->kind == IO_READ || a->kind == IO_RECV;
	bool out = a->kind == IO_WRITE || a->kind == IO_SEND;
	size_t n = in || out ? (a->len > 0x7ffff000 ? 0x7ffff000 : a->len) : 0;
	struct bounce *b = malloc(sizeof(*b) + n);
	struct io c = *a;
	long r;

	if (!b)
		return -ENOMEM;
	if (in || out)
		c.buf = b->data, c.len = n;
	if (out)
		memcpy(b->data, a->buf, n);
	if (a->kind == IO_ACCEPT && a->addr && a->alen) {
		b->alen = *a->alen < sizeof(b->sa) ? *a->alen : sizeof(b->sa);
		c.addr = (struct sockaddr *)&b->sa;
		c.alen = &b->alen;
	}
	if (a->kind == IO_CONNECT) {
		if (a->clen > sizeof(b->sa)) {
			free(b);
			return -EINVAL;
		}
		memcpy(&b->sa, a->addr, a->clen);
		c.addr = (struct sockaddr *)&b->sa;
	}
	r = __conc_io_ring(t, &c, dl);
	if (in && r > 0)
		memcpy(a->buf, b->data, (size_t)r);
	if (a->kind == IO_ACCEPT && r >= 0 && a->addr && a->alen) {
		memcpy(a->addr, &b->sa, b->alen < *a->alen ? b->alen : *a->alen);
		*a->alen = b->alen;
	}
	free(b);
	return r;
}
