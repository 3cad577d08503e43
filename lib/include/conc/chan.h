/* conc/chan.h — message channels on pipes (multiprocessing.Pipe). */
#ifndef CONC_CHAN_H
#define CONC_CHAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <conc/base.h>

/* One end of a channel; an opaque handle owning its fds. */
typedef struct conc_chan conc_chan;

#define CONC_CHAN_ONEWAY 0x1u	/* a only receives, b only sends */
#define CONC_CHAN_MAX_MSG (64u << 20)	/* largest frame accepted */

/*
 * Make a connected pair of ends on pipe2(O_CLOEXEC): duplex (two pipes)
 * unless CONC_CHAN_ONEWAY. Give one end to a child (fork after this, then
 * each side closes the end it does not use). 0, -EINVAL, -EMFILE, -ENOMEM.
 */
int conc_chan_pair(conc_chan **a, conc_chan **b, unsigned flags);

/*
 * Send one message of len bytes (up to CONC_CHAN_MAX_MSG; any size, even
 * beyond the pipe's buffer). timeout_ns bounds the wait for room before
 * the first byte; once a frame has begun it is completed. Returns 0,
 * -EPIPE (the peer end is closed), -ETIMEDOUT, -EMSGSIZE, -EBADF (a
 * receive-only end), -EINVAL.
 */
int conc_chan_send(conc_chan *c, const void *msg, size_t len,
		   int64_t timeout_ns);

/*
 * Receive one message into buf. Returns its length; -EPIPE when the peer
 * closed and nothing remains (Python's EOFError); -ETIMEDOUT; -EMSGSIZE
 * when cap is too small (the message is discarded, the channel stays in
 * step); -EPROTO when the peer sent a torn or oversize frame (the channel
 * is then unusable); -EBADF on a send-only end.
 */
ssize_t conc_chan_recv(conc_chan *c, void *buf, size_t cap,
		       int64_t timeout_ns);

/* The fd to poll for reading (-EBADF if none) or for writing. */
int conc_chan_rfd(const conc_chan *c);
int conc_chan_wfd(const conc_chan *c);

/* Close this end and free the handle: 0 or -EINVAL. */
int conc_chan_close(conc_chan *c);

#endif
