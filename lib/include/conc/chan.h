/* conc/chan.h — message channels on pipes (multiprocessing.Pipe). */
#ifndef CONC_CHAN_H
#define CONC_CHAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <conc/base.h>

/*
 * One end of a channel; an opaque handle owning its fds. Threads of one
 * process may share an end (sends are serialised, and so are receives).
 * After fork each process has its own copy of the handle: one process
 * uses an end, the others close their copies.
 */
typedef struct conc_chan conc_chan;

#define CONC_CHAN_ONEWAY 0x1u	/* a only receives, b only sends */
#define CONC_CHAN_MAX_MSG (64u << 20)	/* largest frame accepted */

/*
 * Make a connected pair of ends on pipe2(O_CLOEXEC | O_NONBLOCK) pipes
 * whose write ends are in packet mode (O_DIRECT; see the man page): duplex
 * (two pipes) unless CONC_CHAN_ONEWAY. Give one end to a child (fork after
 * this, then each side closes the end it does not use: a copy left open
 * keeps the other side from ever seeing -EPIPE). 0, -EINVAL (NULL, a == b,
 * unknown flags), -EMFILE, -ENFILE, -ENOMEM; nothing is left open then.
 */
int conc_chan_pair(conc_chan **a, conc_chan **b, unsigned flags);

/*
 * Send one message of len bytes (up to CONC_CHAN_MAX_MSG; any size, even
 * beyond the pipe's buffer; 0 is a valid, empty message). timeout_ns
 * bounds every wait (for room, for another thread's send). A message of
 * up to 4088 bytes goes in whole or not at all. A longer one may go in
 * parts: if the timeout passes after a part, the send returns -ETIMEDOUT
 * and the end's sending side is closed (the peer receives what came
 * before, then -EPROTO; later sends and conc_chan_wfd return -EPIPE).
 * Never raises SIGPIPE. While it waits for room it takes in what the peer
 * sends (kept for conc_chan_recv), so two ends sending large messages to
 * each other at once do not deadlock. Returns 0, -EPIPE (the peer end is
 * closed, or the sending side was closed as above), -ETIMEDOUT, -EMSGSIZE,
 * -EBADF (a receive-only end), -EINVAL (NULL c, or NULL msg with len > 0).
 */
int conc_chan_send(conc_chan *c, const void *msg, size_t len,
		   int64_t timeout_ns);

/*
 * Receive one message into buf. timeout_ns bounds every wait (for the
 * message, for the rest of it, for another thread's receive). A timeout
 * in the middle of a message returns -ETIMEDOUT and keeps what came: the
 * next receive takes the message up again (so timeout 0 in a poll loop
 * assembles long messages). Returns its length; -EPIPE when the peer
 * closed and nothing remains (Python's EOFError); -ETIMEDOUT; -EMSGSIZE
 * when cap is too small (the message is discarded, the channel stays in
 * step; a timeout while discarding: -ETIMEDOUT, and the next receive ends
 * the discarding with -EMSGSIZE); -EPROTO when the peer sent a torn or
 * oversize frame (receiving on this end then always fails with -EPROTO;
 * sending is unaffected); -ENOMEM (no memory to keep a part a timeout cut
 * short: as -EPROTO); -EBADF on a send-only end; -EINVAL (NULL c, or NULL
 * buf with cap > 0).
 */
ssize_t conc_chan_recv(conc_chan *c, void *buf, size_t cap,
		       int64_t timeout_ns);

/*
 * The fd to poll for reading (-EBADF if none) or for writing (-EPIPE once
 * a torn send closed it); -EINVAL for NULL. Close-on-exec, owned by the
 * end with its flags: poll it, do not read, write, close or fcntl it (a
 * receive without a timeout that has to wait makes rfd blocking, and
 * waits in its read). rfd readable means a message may have begun;
 * a message a waiting send took in does not show on it, so after a send
 * drain with conc_chan_recv(c, ..., 0) until -ETIMEDOUT before polling.
 */
int conc_chan_rfd(const conc_chan *c);
int conc_chan_wfd(const conc_chan *c);

/* Close this end and free the handle: 0 or -EINVAL. The peer then sees
 * -EPIPE. No call may be under way on this end. */
int conc_chan_close(conc_chan *c);

#endif
