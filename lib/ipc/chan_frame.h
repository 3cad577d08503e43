/*
 * The wire format of a channel. A message travels as a frame: an 8-byte
 * header ("Cc", version, 0, length as 32-bit little-endian) and its bytes.
 * A frame of up to PIPE_BUF bytes goes into the pipe with one write, whole
 * or not at all (chan_send.c); a receive reads exactly one frame
 * (chan_recv.c).
 */
#ifndef CONC_IPC_CHAN_FRAME_H
#define CONC_IPC_CHAN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define CHAN_HDR	8u
#define CHAN_VERSION	1u

void __chan_hdr_put(unsigned char h[CHAN_HDR], uint32_t len)
	__attribute__((visibility("hidden")));

/* The frame's length, or -EPROTO for a header conc did not write or a
 * length beyond CONC_CHAN_MAX_MSG. */
long __chan_hdr_get(const unsigned char h[CHAN_HDR])
	__attribute__((visibility("hidden")));

#endif
