/* Keeping SIGPIPE from the caller (chan_sigpipe.h). */
#include <errno.h>
#include <signal.h>
#include "chan_sigpipe.h"
#include "sys/io.h"

#define PIPE_BIT	(1ull << (SIGPIPE - 1))

void __chan_sigpipe_hold(struct chan_sigpipe *s)
{
	uint64_t pipe = PIPE_BIT;

	s->old = s->pending = 0;
	sys_sigprocmask(SIG_BLOCK, (sigset_t *)&pipe, (sigset_t *)&s->old);
	/* Only a thread that blocks SIGPIPE itself can have one pending:
	 * leave that one where it is. */
	if (s->old & PIPE_BIT)
		sys_sigpending(&s->pending);
}

void __chan_sigpipe_release(struct chan_sigpipe *s, int r)
{
	uint64_t pipe = PIPE_BIT;
	struct timespec zero = { 0, 0 };

	if (r == -EPIPE && !(s->pending & PIPE_BIT))
		sys_sigtimedwait(&pipe, NULL, &zero);
	if (!(s->old & PIPE_BIT))
		sys_sigprocmask(SIG_UNBLOCK, (sigset_t *)&pipe, NULL);
}
