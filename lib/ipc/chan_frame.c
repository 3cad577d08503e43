/* Encoding and decoding the frame header (chan_frame.h). */
#include <errno.h>
#include <conc/chan.h>
#include "chan_frame.h"

void __chan_hdr_put(unsigned char h[CHAN_HDR], uint32_t len, unsigned flags)
{
	h[0] = 'C';
	h[1] = 'c';
	h[2] = CHAN_VERSION;
	h[3] = (unsigned char)flags;
	h[4] = (unsigned char)len;
	h[5] = (unsigned char)(len >> 8);
	h[6] = (unsigned char)(len >> 16);
	h[7] = (unsigned char)(len >> 24);
}

long __chan_hdr_get(const unsigned char h[CHAN_HDR], size_t page, size_t *pad)
{
	uint32_t len = h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 |
		       (uint32_t)h[7] << 24;

	if (h[0] != 'C' || h[1] != 'c' || h[2] != CHAN_VERSION ||
	    (h[3] & ~CHAN_F_PAD) || len > CONC_CHAN_MAX_MSG)
		return -EPROTO;
	*pad = h[3] ? __chan_pad(len, page) : 0;
	return (long)len;
}
