/*
 * conc_proc_spawn: posix_spawn on a raw clone3 (or clone) with CLONE_VM |
 * CLONE_PIDFD. The child borrows our memory instead of copying it, so the
 * cost does not grow with the parent's size. Not CLONE_VFORK: that would
 * hold the caller's thread in the kernel until the exec, with no deadline
 * (a file action opening a FIFO waits for a writer) and, in a coroutine,
 * the whole loop with it. The caller waits instead through the wait point,
 * until its deadline, for the tid word the kernel clears when the child
 * execs or exits (CLONE_CHILD_CLEARTID); then the child's err tells
 * whether the program runs.
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
#include "wait/wait.h"

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
		.flags = CLONE_VM | CLONE_PIDFD | CLONE_CHILD_CLEARTID |
			 CLONE_CLEAR_SIGHAND,
		.pidfd = (uintptr_t)pidfd,
		.child_tid = (uintptr_t)&c->tid,
		.exit_signal = SIGCHLD,
		.stack = (uintptr_t)stack,
		.stack_size = STACK_SIZE,
	};

	if (__atomic_load_n(&no_clone3, __ATOMIC_RELAXED))
		return -ENOSYS;
	c->cleared = true;
	return __conc_clone3(&a, sizeof(a), __conc_spawn_child, c);
}

/* A child that ended without the kernel clearing its tid word: one
 * that dumped core does. */
static bool ended(int pidfd)
{
	siginfo_t si;

	si.si_pid = 0;
	return sys_waitid(P_PIDFD, (id_t)pidfd, &si,
			  WEXITED | WNOHANG | WNOWAIT, NULL) < 0 || si.si_pid;
}

/*
 * Wait until the child has let go of our memory (exec'd or exited). At
 * the deadline, kill it and wait for that: a program that did not start
 * in time is not started at all (or, if its exec came in the same moment,
 * is killed). A cancel does not end the wait, which is short but for a
 * step that blocks (then only the deadline does): the program either
 * runs or has failed when the caller hears of the cancel (*cancelled),
 * never half started. But the cancel of a loop that winds down is final:
 * conc_run waits for its tasks, and one held here without a deadline (a
 * FIFO nobody opens) would hold it for ever; it is the deadline then.
 * Returns 0, -ETIMEDOUT or -ECANCELED.
 */
static int wait_exec(struct spawn_ctx *c, int pidfd, conc_deadline dl,
		     bool *cancelled)
{
	int r = 0, w;

	while (__atomic_load_n(&c->tid, __ATOMIC_ACQUIRE)) {
		w = __conc_wait(&c->tid, SPAWN_LIVE, r ? -1 : dl, 0);
		if (w == -ECANCELED && (r || !__conc_wait_ending())) {
			*cancelled = true;
		} else if ((w == -ETIMEDOUT || w == -ECANCELED) && !r) {
			if (!__atomic_load_n(&c->tid, __ATOMIC_ACQUIRE)) {
				*cancelled = w == -ECANCELED;
				break;
			}
			r = w;
			sys_pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
		} else if (__atomic_load_n(&c->tid, __ATOMIC_ACQUIRE) &&
			   ended(pidfd)) {
			break;
		}
	}
	return r;
}

/* Clone, and wait for the exec. Returns the pid and *pidfd, or -errno. */
static long run(struct spawn_ctx *c, int *pidfd, conc_deadline dl)
{
	sigset_t all, old;
	bool cancelled = false;
	void *stack;
	long pid;
	int err;

	stack = stack_get();
	if (sys_mmap_failed(stack))
		return (long)stack;
	c->tid = SPAWN_LIVE;
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
				   CLONE_VM | CLONE_PIDFD |
				   CLONE_CHILD_CLEARTID | SIGCHLD,
				   c, pidfd, NULL, (pid_t *)&c->tid);
	}
	sys_sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		stack_put(stack);
		return pid;
	}
	err = wait_exec(c, *pidfd, dl, &cancelled);
	/* The child is off its stack now, and what it stored in c->err
	 * came before the kernel cleared tid. */
	stack_put(stack);
	if (!err)
		err = __atomic_load_n(&c->err, __ATOMIC_RELAXED);
	if (err < 0) {
		/* It failed and called _exit, or was killed: reap it (the
		 * wait may be a coroutine's, a long one). */
		if (__conc_proc_reap_ending((pid_t)pid, *pidfd) < 0)
			cancelled = true;
		sys_close(*pidfd);
		pid = err;
	}
	/* The result stands; a cancel heard meanwhile goes to the task's
	 * next wait. */
	if (cancelled)
		__conc_wait_recancel();
	return pid;
}

int conc_proc_spawn_timed(conc_proc **pp, const char *path,
			  char *const argv[], char *const envp[],
			  const conc_proc_attr *attr, int64_t timeout_ns)
{
	static const conc_proc_attr none;
	conc_deadline dl = __conc_deadline(timeout_ns);
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	struct spawn_ctx *c = NULL;
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
	r = -ENOMEM;
	if (!(c = __conc_spawn_copy(argv, envp ? envp : environ, attr)))
		goto fail;
	c->in = c->out = c->errfd = -1;
	if ((r = __conc_spawn_paths(path, &c->paths)) < 0)
		goto fail;
	if ((attr->flags & CONC_SPAWN_PIPE_STDIN) && (r = pipe_for(in, 0)) < 0)
		goto fail;
	if ((attr->flags & CONC_SPAWN_PIPE_STDOUT) &&
	    (r = pipe_for(out, 1)) < 0)
		goto fail;
	if ((attr->flags & CONC_SPAWN_PIPE_STDERR) &&
	    (r = pipe_for(err, 1)) < 0)
		goto fail;
	c->search = !strchr(path, '/');
	if (attr->flags & CONC_SPAWN_SETSIGMASK)
		c->mask = attr->sigmask;
	else
		sigemptyset(&c->mask);
	c->in = in[0];
	c->out = out[1];
	c->errfd = err[1];
	c->parent = sys_getpid();
	pid = run(c, &pidfd, dl);
	if (pid < 0) {
		r = (int)pid;
		goto fail;
	}
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	free(c->paths);
	free(c);
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
	if (c)
		free(c->paths);
	free(c);
	__conc_proc_free(p);
	return r;
}

int conc_proc_spawn(conc_proc **pp, const char *path, char *const argv[],
		    char *const envp[], const conc_proc_attr *attr)
{
	return conc_proc_spawn_timed(pp, path, argv, envp, attr, CONC_FOREVER);
}
