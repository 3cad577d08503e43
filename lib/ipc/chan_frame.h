/*
 * The wire format of a channel. A message travels as a frame: an 8-byte
 * header ("Cc", version, 0, length as 32-bit little-endian) and its bytes.
 *
 * The pipes are in packet mode (pipe2 O_DIRECT): each write of up to
 * PIPE_BUF bytes is one packet, and a read returns at most one packet, so
 * a frame of up to PIPE_BUF bytes comes in with one read and a read never
 * takes bytes of the frame behind it (rfd stays readable while a message
 * waits). A longer frame is several packets of a page each. A read that
 * asks for less than a packet loses the rest of that packet: every read
 * asks for at least CHAN_READ_MIN bytes.
 */
#ifndef CONC_IPC_CHAN_FRAME_H
#define CONC_IPC_CHAN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define CHAN_HDR	8u
#define CHAN_VERSION	1u

/* The largest packet is a page; a page is at least PIPE_BUF. */
size_t __chan_read_min(void) __attribute__((visibility("hidden")));
#define CHAN_READ_MIN	__chan_read_min()

void __chan_hdr_put(unsigned char h[CHAN_HDR], uint32_t len)
	__attribute__((visibility("hidden")));

/* The frame's length, or -EPROTO for a header conc did not write or a
 * length beyond CONC_CHAN_MAX_MSG. */
long __chan_hdr_get(const unsigned char h[CHAN_HDR])
	__attribute__((visibility("hidden")));

#endif
