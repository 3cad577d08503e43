/*
 * Where the pipe's read position is among the frames (chan_end.h). Two
 * rules keep a read from losing or taking too much:
 * - a packet pipe drops what a read does not take of a packet, so a read
 *   never asks for less than the next packet: a page at the start of a
 *   frame or within its header (a packet is at most a page), the rest of
 *   the frame once its header is known;
 * - it never asks beyond the end of the frame: a packet ends a read, and
 *   a frame sent as a byte stream is at least a page long (and ends on a
 *   page boundary: chan_frame.h). The rest of a frame includes its pad.
 * A pipe that is not in packet mode gets exactly the header, then exactly
 * the rest. Bytes written by hand (as the tests do) may break these
 * rules, a write that holds the end of one frame and the start of the
 * next: then at worst a message is cut (-EPROTO) or taken early from the
 * pipe.
 */
#include <string.h>
#include "chan_end.h"

size_t __chan_ask(const conc_chan *c, size_t n)
{
	size_t max;

	if (c->plost)
		return n;
	/* Within a header (only bytes that conc did not write split one):
	 * a page still, for the rest may be a packet of a whole page. */
	if (c->phave < CHAN_HDR)
		max = c->rpkt ? c->page : CHAN_HDR - c->phave;
	else
		max = c->pleft;
	return n < max ? n : max;
}

void __chan_advance(conc_chan *c, const unsigned char *p, size_t r)
{
	size_t k, pad;
	long len;

	while (r && !c->plost) {
		if (c->phave < CHAN_HDR) {
			k = CHAN_HDR - c->phave < r ? CHAN_HDR - c->phave : r;
			memcpy(c->phdr + c->phave, p, k);
			c->phave += k;
			if (c->phave == CHAN_HDR) {
				len = __chan_hdr_get(c->phdr, c->page, &pad);
				if (len < 0)
					c->plost = true;	/* receiving fails */
				c->pleft = len < 0 ? 0 : (size_t)len + pad;
			}
		} else {
			k = c->pleft < r ? c->pleft : r;
			c->pleft -= k;
		}
		p += k;
		r -= k;
		if (c->phave == CHAN_HDR && !c->pleft)
			c->phave = 0;	/* the frame is over */
	}
}
