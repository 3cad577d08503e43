/*
 * conc_proc_start: fn(arg) in a child made by libc's fork (see sys/fork.h),
 * with a pidfd opened right after. Between the two, the program's atfork
 * handlers run and its signal handlers may: a child that has ended may
 * already be reaped by a SIGCHLD handler's waitpid(-1), or by the kernel
 * when SIGCHLD is ignored, and its pid may even be another process's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include "sys/fork.h"
#include "proc_impl.h"
#include "thread.h"

static _Noreturn void child(int (*fn)(void *), void *arg,
			    const conc_proc_attr *attr, pid_t parent,
			    const int ready[2])
{
	int r;

	/* The death signal follows the parent's death, but a parent that
	 * died before the prctl would never send it: look once after. */
	if (attr->daemon &&
	    (sys_prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
	     sys_getppid() != parent))
		sys_kill(sys_getpid(), SIGKILL);
	if (attr->daemon) {
		sys_write(ready[1], "", 1);
		sys_close(ready[0]);
		sys_close(ready[1]);
	}
	if (attr->name)
		sys_prctl(PR_SET_NAME, (unsigned long)attr->name, 0, 0, 0);
	r = fn(arg);
	/* fn was the child's main: its end waits as main's does (Python's
	 * Process joins its threads and children too), but the parent's
	 * atexit handlers are not the child's to run. */
	__conc_thread_wait_all();
	__conc_proc_end_children();
	fflush(NULL);
	/* Never exit(): the parent's atexit handlers are not the child's. */
	sys_exit_group(r & 0xff);
}

/* A pidfd for our child pid, or -ESRCH when someone else reaped it: fn ran,
 * the start stands, and the handle tells -ECHILD as for a child reaped
 * later. A pidfd that refers to no child of ours (the pid was taken by
 * another process) is told apart with waitid, which only knows children. */
static int open_pidfd(pid_t pid)
{
	int fd = sys_pidfd_open(pid, 0);

	if (fd >= 0 && !__conc_proc_ours(fd)) {
		sys_close(fd);
		fd = -ESRCH;
	}
	return fd;
}

/*
 * The death signal is sent when the *thread* that forked ends, and a child
 * whose prctl comes after that is never told: getppid() names the process,
 * which lives on. So the caller's thread (a conc thread's job that returns
 * at once, say) waits until the daemon child has it: the child writes a
 * byte once it is set, or dies (its pidfd). Not the pipe's end of file:
 * children that other threads fork meanwhile inherit its write end.
 */
static void await_death_signal(int fd, int pidfd)
{
	struct pollfd w[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = pidfd, .events = POLLIN } };
	char c;
	long n;
	int r;
	bool cancelled = false;

	while ((n = sys_read(fd, &c, 1)) == -EAGAIN || n == -EINTR) {
		r = __conc_wait_fds(w, 2, -1);
		if (r == -ECANCELED)
			cancelled = true;	/* the start stands: tell it later */
		else if (r < 0 || w[1].revents)
			break;
	}
	if (cancelled)
		__conc_wait_recancel();
}

int conc_proc_start(conc_proc **pp, int (*fn)(void *), void *arg,
		    const conc_proc_attr *attr)
{
	static const conc_proc_attr none;
	conc_proc *p;
	pid_t parent, pid;
	int r, ready[2] = { -1, -1 };

	if (!pp || !fn)
		return -EINVAL;
	if (!attr)
		attr = &none;
	if ((r = __conc_proc_prepare()) < 0)
		return r;
	if (!(p = __conc_proc_alloc(attr->daemon)))
		return -ENOMEM;
	if (attr->daemon &&
	    (r = sys_pipe2(ready, O_CLOEXEC | O_NONBLOCK)) < 0) {
		__conc_proc_free(p);
		return r;
	}
	parent = sys_getpid();
	/* Whatever sits in our stdio buffers would be written twice. */
	fflush(NULL);
	pid = sys_fork();
	if (pid == 0)
		child(fn, arg, attr, parent, ready);
	if (attr->daemon)
		sys_close(ready[1]);
	if (pid < 0) {
		if (attr->daemon)
			sys_close(ready[0]);
		__conc_proc_free(p);
		return pid;
	}
	p->pid = pid;
	p->pidfd = open_pidfd(pid);
	if (attr->daemon) {
		if (p->pidfd >= 0)
			await_death_signal(ready[0], p->pidfd);
		sys_close(ready[0]);
	}
	if (p->pidfd == -ESRCH) {
		p->pidfd = -1;
	} else if (p->pidfd < 0) {
		r = p->pidfd;
		p->pidfd = -1;
		sys_kill(pid, SIGKILL);
		/* A cancelled coroutine hears of it first. */
		if (__conc_proc_reap_ending(pid, -1) < 0)
			r = -ECANCELED;
		__conc_proc_free(p);
		return r;
	}
	__conc_proc_track(p);
	if (attr->daemon)
		__conc_worker_made_daemon();
	*pp = p;
	return 0;
}
