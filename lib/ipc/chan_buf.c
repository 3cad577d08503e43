/*
 * The bytes an end took from its pipe and has not handed out yet
 * (rbuf, chan_end.h): always the front of what is left of the stream.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "chan_end.h"

void __chan_consume(conc_chan *c, size_t n)
{
	c->rpos += n;
	c->rlen -= n;
	if (!c->rlen)
		c->rpos = 0;
}

int __chan_room(conc_chan *c, size_t n)
{
	size_t cap = c->rcap;
	char *p;

	if (c->rcap - c->rpos - c->rlen >= n)
		return 0;
	if (c->rpos) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen);
		c->rpos = 0;
		if (c->rcap - c->rlen >= n)
			return 0;
	}
	if (n > SIZE_MAX / 2 - c->rlen)
		return -ENOMEM;
	while (cap - c->rlen < n)
		cap *= 2;
	if (!(p = realloc(c->rbuf, cap)))
		return -ENOMEM;
	c->rbuf = p;
	c->rcap = cap;
	return 0;
}

void __chan_shrink(conc_chan *c)
{
	char *p;

	if (c->rlen || c->rcap <= CHAN_RBUF_MIN)
		return;
	if ((p = realloc(c->rbuf, CHAN_RBUF_MIN))) {
		c->rbuf = p;
		c->rcap = CHAN_RBUF_MIN;
	}
}
