/*
 * The child side of conc_proc_spawn, on its own small stack in the
 * parent's memory (see spawn.h). Not instrumented by ASan: it never
 * returns, so the redzones an instrumented frame poisons would stay in
 * the shadow of a stack the parent unmaps and the kernel hands out again.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include "spawn.h"

#define CHILD __attribute__((no_sanitize_address, noinline))

/*
 * Between the unblocking of signals and the exec, a handler of the parent
 * would run here, in the parent's memory: caught signals go back to
 * SIG_DFL (and ignored ones too with CONC_SPAWN_RESETSIGS).
 */
static CHILD void reset_signals(int all)
{
	struct sys_sigaction dfl = { 0 }, old;
	int sig;

	for (sig = 1; sig < 65; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (!all && (sys_sigaction(sig, NULL, &old) < 0 ||
			     old.handler == (void *)SIG_DFL ||
			     old.handler == (void *)SIG_IGN))
			continue;
		sys_sigaction(sig, &dfl, NULL);
	}
}

static CHILD int apply(const conc_fileop *f)
{
	int fd, r;

	switch (f->op) {
	case CONC_FILE_DUP2:
		if (f->src != f->fd)
			return sys_dup3(f->src, f->fd, 0);
		r = sys_fcntl(f->fd, F_GETFD, 0);
		return r < 0 ? r : sys_fcntl(f->fd, F_SETFD, r & ~FD_CLOEXEC);
	case CONC_FILE_CLOSE:
		/* Like posix_spawn: closing what is not open is no error. */
		sys_close(f->fd);
		return 0;
	case CONC_FILE_OPEN:
		fd = sys_openat(AT_FDCWD, f->path, f->oflag, f->mode);
		if (fd < 0 || fd == f->fd)
			return fd;
		r = sys_dup3(fd, f->fd, 0);
		sys_close(fd);
		return r;
	}
	return -EINVAL;
}

/* As execvp: go on past a directory where the program is not, remember
 * that one was not executable, stop at any other error. */
static CHILD int exec_all(const struct spawn_ctx *c)
{
	bool eacces = false;
	int r = -ENOENT, i;

	for (i = 0; c->paths[i]; i++) {
		r = sys_execve(c->paths[i], c->argv, c->envp);
		switch (r) {
		case -EACCES:
			eacces = true;
			/* fallthrough */
		case -ENOENT:
		case -ENOTDIR:
		case -ESTALE:
		case -ENODEV:
		case -ETIMEDOUT:
			continue;
		}
		return r;
	}
	if (!c->search)
		return r;
	return eacces ? -EACCES : -ENOENT;
}

CHILD int __conc_spawn_child(void *arg)
{
	struct spawn_ctx *c = arg;
	const conc_proc_attr *a = c->attr;
	size_t i;
	int r = 0;

	if (!c->cleared || (a->flags & CONC_SPAWN_RESETSIGS))
		reset_signals(a->flags & CONC_SPAWN_RESETSIGS);
	/* Our parent waits for our exec, but may be killed meanwhile: then
	 * no one wants us, and a step that blocks (a FIFO's open) would
	 * keep us, its fds and its memory for ever. A daemon keeps the
	 * death signal past the exec; anyone else drops it just before. */
	r = sys_prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (r == 0 && sys_getppid() != c->parent)
		r = -ESRCH;
	if (r >= 0 && (a->flags & CONC_SPAWN_SETSID))
		r = sys_setsid();
	if (r >= 0 && (a->flags & CONC_SPAWN_SETPGROUP))
		r = sys_setpgid(0, a->pgroup);
	if (r >= 0 && a->cwd)
		r = sys_chdir(a->cwd);
	if (r >= 0 && c->in >= 0)
		r = sys_dup3(c->in, 0, 0);
	if (r >= 0 && c->out >= 0)
		r = sys_dup3(c->out, 1, 0);
	if (r >= 0 && c->errfd >= 0)
		r = sys_dup3(c->errfd, 2, 0);
	for (i = 0; r >= 0 && i < a->nfileops; i++)
		r = apply(&a->fileops[i]);
	if (r >= 0 && !a->daemon)
		r = sys_prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	if (r >= 0)
		r = sys_sigprocmask(SIG_SETMASK, &c->mask, NULL);
	if (r >= 0)
		r = exec_all(c);
	/* The parent reads it once the kernel cleared tid, at our exit. */
	__atomic_store_n(&c->err, r, __ATOMIC_RELAXED);
	sys_exit_group(127);
}
