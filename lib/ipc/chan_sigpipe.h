/*
 * Keeping SIGPIPE from the caller where the kernel lacks RWF_NOSIGNAL
 * (before Linux 6.18; chan_send.c). A write to a pipe whose reader is gone
 * raises SIGPIPE in the writing thread, and its default action kills the
 * process. A send holds SIGPIPE blocked in the calling thread around each
 * of its writes (never across a wait, where other tasks of the thread may
 * run) and takes back the one its own write raised, so the process's
 * dispositions and the thread's mask and pending set are as they were.
 */
#ifndef CONC_IPC_CHAN_SIGPIPE_H
#define CONC_IPC_CHAN_SIGPIPE_H

#include <stdint.h>

struct chan_sigpipe {
	uint64_t old;		/* the caller's mask */
	uint64_t pending;	/* the caller's pending set, if it blocks SIGPIPE */
};

void __chan_sigpipe_hold(struct chan_sigpipe *s)
	__attribute__((visibility("hidden")));

/* r: what the writes gave; -EPIPE means one of them raised SIGPIPE. */
void __chan_sigpipe_release(struct chan_sigpipe *s, int r)
	__attribute__((visibility("hidden")));

#endif
