/*
 * conc_proc_spawn: posix_spawn on a raw clone3 (or clone) with CLONE_VM |
 * CLONE_VFORK | CLONE_PIDFD. The child borrows our memory instead of
 * copying it, so the cost does not grow with the parent's size, and the
 * parent's thread sleeps until the child has called execve or exited:
 * when it wakes, the child's err tells whether the program runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/sched.h>
#include "spawn.h"
#include "thread.h"

/* The child's frames are small and it calls nothing deep. */
#define STACK_SIZE (64 * 1024)

extern char **environ;

static int check(const conc_proc_attr *a)
{
	const unsigned known = CONC_SPAWN_SETSID | CONC_SPAWN_SETPGROUP |
			       CONC_SPAWN_RESETSIGS | CONC_SPAWN_SETSIGMASK |
			       CONC_SPAWN_PIPE_STDIN | CONC_SPAWN_PIPE_STDOUT |
			       CONC_SPAWN_PIPE_STDERR;
	const conc_fileop *f;
	size_t i;

	if ((a->flags & ~known) || (a->nfileops && !a->fileops))
		return -EINVAL;
	for (i = 0; i < a->nfileops; i++) {
		f = &a->fileops[i];
		if (f->fd < 0 || (f->op == CONC_FILE_DUP2 && f->src < 0))
			return -EBADF;
		if (f->op < CONC_FILE_DUP2 || f->op > CONC_FILE_OPEN ||
		    (f->op == CONC_FILE_OPEN && !f->path))
			return -EINVAL;
	}
	return 0;
}

/* A pipe whose child end (fds[child]) is >= 3, so that putting one pipe
 * on fd 0, 1 or 2 in the child cannot overwrite another. */
static int pipe_for(int fds[2], int child)
{
	int r = sys_pipe2(fds, O_CLOEXEC);

	if (r < 0)
		return r;
	if (fds[child] < 3) {
		r = sys_fcntl(fds[child], F_DUPFD_CLOEXEC, 3);
		sys_close(fds[child]);
		fds[child] = r;
		if (r < 0) {
			sys_close(fds[!child]);
			fds[!child] = -1;
			return r;
		}
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		sys_close(*fd);
	*fd = -1;
}

/* One child stack kept from a spawn to the next: a munmap per spawn
 * cost a TLB flush on every CPU the child ran on, and the mmap its page
 * faults: a tenth of what a spawn cost its caller. Spawns at once from
 * several threads map more and keep one. */
static void *spare;

/* Acquire and release: what an earlier child wrote on the stack comes
 * before what the next one writes, from whichever thread. */
static void *stack_get(void)
{
	void *s = __atomic_exchange_n(&spare, NULL, __ATOMIC_ACQUIRE);

	if (s)
		return s;
	return sys_mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
}

static void stack_put(void *s)
{
	s = __atomic_exchange_n(&spare, s, __ATOMIC_ACQ_REL);
	if (s)
		sys_munmap(s, STACK_SIZE);
}

/* Set once clone3 or CLONE_CLEAR_SIGHAND (Linux 5.5) is refused. */
static int no_clone3;

/* clone3 with CLONE_CLEAR_SIGHAND: the kernel resets the caught signals
 * to SIG_DFL in the child, which saves the child a sigaction call per
 * signal (1% of the time of a job that runs `sh -c true`). -ENOSYS: use
 * clone. */
static long spawn_clone3(struct spawn_ctx *c, void *stack, int *pidfd)
{
	struct clone_args a = {
		.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD |
			 CLONE_CLEAR_SIGHAND,
		.pidfd = (uintptr_t)pidfd,
		.exit_signal = SIGCHLD,
		.stack = (uintptr_t)stack,
		.stack_size = STACK_SIZE,
	};

	if (__atomic_load_n(&no_clone3, __ATOMIC_RELAXED))
		return -ENOSYS;
	c->cleared = true;
	return __conc_clone3(&a, sizeof(a), __conc_spawn_child, c);
}

/* Clone, and wait for the exec. Returns the pid and *pidfd, or -errno. */
static long run(struct spawn_ctx *c, int *pidfd)
{
	sigset_t all, old;
	void *stack;
	long pid;
	int err;

	stack = stack_get();
	if (sys_mmap_failed(stack))
		return (long)stack;
	/* No handler of ours may run in the child before it reset them. */
	sigfillset(&all);
	sigemptyset(&old);
	sys_sigprocmask(SIG_SETMASK, &all, &old);
	pid = spawn_clone3(c, stack, pidfd);
	/* Before 5.3, before 5.5, or a sandbox that refuses clone3 (some
	 * say EPERM): clone would fail the same way for any other reason. */
	if (pid == -ENOSYS || pid == -EINVAL || pid == -EPERM) {
		__atomic_store_n(&no_clone3, 1, __ATOMIC_RELAXED);
		c->cleared = false;
		pid = __conc_clone(__conc_spawn_child,
				   (char *)stack + STACK_SIZE,
				   CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
				   c, pidfd, NULL, NULL);
	}
	/* The vfork is over: the child has exec'd or exited, so what it
	 * stored in c->err is visible here. */
	err = __atomic_load_n(&c->err, __ATOMIC_RELAXED);
	sys_sigprocmask(SIG_SETMASK, &old, NULL);
	stack_put(stack);
	if (pid > 0 && err < 0) {
		/* It failed and called _exit: reap it, with our signal mask
		 * back (the wait may be a coroutine's, a long one). */
		if (__conc_proc_reap_ending((pid_t)pid, *pidfd) < 0)
			err = -ECANCELED;	/* heard of first */
		sys_close(*pidfd);
		pid = err;
	}
	return pid;
}

int conc_proc_spawn(conc_proc **pp, const char *path, char *const argv[],
		    char *const envp[], const conc_proc_attr *attr)
{
	static const conc_proc_attr none;
	struct spawn_ctx c = { .in = -1, .out = -1, .errfd = -1 };
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int pidfd = -1;
	conc_proc *p;
	long pid;
	int r;

	if (!pp || !path || !argv)
		return -EINVAL;
	if (!attr)
		attr = &none;
	if ((r = check(attr)) < 0 || (r = __conc_proc_prepare()) < 0)
		return r;
	if (!(p = __conc_proc_alloc(attr->daemon)))
		return -ENOMEM;
	if ((r = __conc_spawn_paths(path, &c.paths)) < 0)
		goto fail;
	if ((attr->flags & CONC_SPAWN_PIPE_STDIN) && (r = pipe_for(in, 0)) < 0)
		goto fail;
	if ((attr->flags & CONC_SPAWN_PIPE_STDOUT) &&
	    (r = pipe_for(out, 1)) < 0)
		goto fail;
	if ((attr->flags & CONC_SPAWN_PIPE_STDERR) &&
	    (r = pipe_for(err, 1)) < 0)
		goto fail;
	c.search = !strchr(path, '/');
	c.argv = argv;
	c.envp = envp ? envp : environ;
	c.attr = attr;
	if (attr->flags & CONC_SPAWN_SETSIGMASK)
		c.mask = attr->sigmask;
	else
		sigemptyset(&c.mask);
	c.in = in[0];
	c.out = out[1];
	c.errfd = err[1];
	c.parent = attr->daemon ? sys_getpid() : 0;
	pid = run(&c, &pidfd);
	if (pid < 0) {
		r = (int)pid;
		goto fail;
	}
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	free(c.paths);
	p->pid = (pid_t)pid;
	p->pidfd = pidfd;
	p->in = in[1];
	p->out = out[0];
	p->err = err[0];
	/* Its own group, whose id stays its pid until it is reaped. */
	p->leader = (attr->flags & CONC_SPAWN_SETSID) ||
		    ((attr->flags & CONC_SPAWN_SETPGROUP) && !attr->pgroup);
	__conc_proc_track(p);
	if (attr->daemon)
		__conc_worker_made_daemon();
	*pp = p;
	return 0;
fail:
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	free(c.paths);
	__conc_proc_free(p);
	return r;
}
