/*
 * I/O for a shared-stack task: its stack is elsewhere while it waits, so
 * what the kernel would touch there (a local buffer, a local address) is
 * a heap copy meanwhile. Memory off the shared stack (the heap, globals,
 * another thread's stack) stays put and goes to the kernel as it is: no
 * copy to pay, and an address the process cannot reach is the kernel's
 * -EFAULT, as from the system call, not a SIGSEGV in our copy.
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

/* Whether [p, p + len) overlaps the shared stack [lo, hi) (len 0: p). */
static bool on_stack(const struct __conc_stack *s, const void *p, size_t len)
{
	const char *c = p;

	return c && c < s->hi && (c >= s->lo || (size_t)(s->lo - c) < (len ? len : 1));
}

/* Whether any memory the call hands the kernel lies on the shared stack. */
static bool needs_bounce(const struct __conc_stack *s, const struct io *a)
{
	switch (a->kind) {
	case IO_ACCEPT:
		return on_stack(s, a->addr, sizeof(struct sockaddr_storage)) ||
		       on_stack(s, a->alen, sizeof(*a->alen));
	case IO_CONNECT:
		return on_stack(s, a->addr, a->clen);
	default:
		return on_stack(s, a->buf, a->len);
	}
}

long __conc_io_bounce(struct conc_task *t, const struct io *a,
		      conc_deadline dl)
{
	bool in = a->kind == IO_READ || a->kind == IO_RECV;
	bool out = a->kind == IO_WRITE || a->kind == IO_SEND;
	size_t n = in || out ? a->len : 0;	/* cut to IO_MAX_LEN (io.c) */
	struct bounce *b;
	struct io c = *a;
	long r;

	if (!needs_bounce(&t->loop->sstack, a))
		return __conc_io_ring(t, a, dl);
	if (!(b = malloc(sizeof(*b) + n)))
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
