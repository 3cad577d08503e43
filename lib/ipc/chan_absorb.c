/*
 * A send that waits for room takes in what the peer sends meanwhile, or
 * two ends sending large messages to each other at once would both wait
 * for a reader forever. It does so only when it gets the receiving side
 * at once (otherwise a receiving thread drains the pipe anyway); what it
 * takes in waits in rbuf for conc_chan_recv and no longer shows on rfd.
 */
#include <errno.h>
#include "chan_end.h"

/* At most one largest frame, its pad (up to a 64 KiB page) and change. */
#define ABSORB_MAX	((size_t)CONC_CHAN_MAX_MSG + CHAN_RBUF_MIN + 2 * 65536)

bool __chan_absorb(conc_chan *c, bool *busy)
{
	size_t room;
	long r = 0;

	if (conc_mutex_trylock(&c->rlock)) {
		*busy = true;
		return true;
	}
	room = c->page > CHAN_RBUF_MIN ? c->page : CHAN_RBUF_MIN;
	if (room > ABSORB_MAX - c->rlen)
		room = ABSORB_MAX - c->rlen;
	/* Never less than a packet (chan_cursor.c). */
	if (!c->broken && room >= c->page && !__chan_room(c, room)) {
		room = c->rcap - c->rpos - c->rlen;
		if (room > ABSORB_MAX - c->rlen)
			room = ABSORB_MAX - c->rlen;
		if ((r = __chan_pull(c, c->rbuf + c->rpos + c->rlen, room)) > 0)
			c->rlen += (size_t)r;
	}
	conc_mutex_unlock(&c->rlock);
	return r > 0 || r == -EAGAIN || r == -EINTR;
}
