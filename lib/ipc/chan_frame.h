/*
 * The wire format of a channel. A message travels as a frame: an 8-byte
 * header ("Cc", version, flags, length as 32-bit little-endian) and its
 * bytes. The one flag, CHAN_F_PAD, says that zero bytes follow up to a
 * multiple of the page size (counted from the header on): a long frame
 * sent as a byte stream into a packet pipe ends on a page boundary, so
 * the kernel cannot merge a later packet into its last page (chan_end.h).
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
#define CHAN_F_PAD	0x80u

void __chan_hdr_put(unsigned char h[CHAN_HDR], uint32_t len, unsigned flags)
	__attribute__((visibility("hidden")));

/* The frame's length, or -EPROTO for a header conc did not write or a
 * length beyond CONC_CHAN_MAX_MSG; *pad: the zero bytes after the message
 * (page: the page size). */
long __chan_hdr_get(const unsigned char h[CHAN_HDR], size_t page, size_t *pad)
	__attribute__((visibility("hidden")));

/* The zero bytes a padded frame of a len-byte message carries. */
static inline size_t __chan_pad(size_t len, size_t page)
{
	return (page - (CHAN_HDR + len) % page) % page;
}

#endif
