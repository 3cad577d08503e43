/* conc/proc.h — child processes with pidfds (multiprocessing.Process). */
#ifndef CONC_PROC_H
#define CONC_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>
#include <conc/base.h>

/* <sys/select.h> gives sigset_t even in strict ISO C modes. */
#include <sys/select.h>

/* A child process started by conc; an opaque handle owned by the caller
 * until conc_proc_release(). */
typedef struct conc_proc conc_proc;

/* One step applied in a spawned child before it runs the program, in
 * array order (posix_spawn_file_actions). */
enum conc_fileop_kind {
	CONC_FILE_DUP2 = 1,	/* dup2(src, fd) (src == fd: clear FD_CLOEXEC) */
	CONC_FILE_CLOSE,	/* close(fd) */
	CONC_FILE_OPEN,		/* open(path, oflag, mode) onto fd */
};

typedef struct conc_fileop {
	enum conc_fileop_kind op;
	int fd;
	int src;
	const char *path;
	int oflag;
	mode_t mode;
} conc_fileop;

/* Flags of conc_proc_attr. */
#define CONC_SPAWN_SETSID	 0x01u	/* new session (setsid) */
#define CONC_SPAWN_SETPGROUP	 0x02u	/* setpgid(0, attr->pgroup) */
#define CONC_SPAWN_RESETSIGS	 0x04u	/* every signal to SIG_DFL, not only caught ones */
#define CONC_SPAWN_SETSIGMASK	 0x08u	/* child's mask is attr->sigmask (else empty) */
#define CONC_SPAWN_PIPE_STDIN	 0x10u	/* a pipe to the child's stdin: conc_proc_stdin() */
#define CONC_SPAWN_PIPE_STDOUT	 0x20u	/* a pipe from its stdout: conc_proc_stdout() */
#define CONC_SPAWN_PIPE_STDERR	 0x40u	/* a pipe from its stderr: conc_proc_stderr() */

/*
 * Attributes; NULL or all zeroes means: no name, not a daemon, and for
 * spawn the caller's directory, no file actions, empty signal mask.
 * A spawned child does, in this order: reset signal handlers, death signal
 * (daemon), setsid, setpgid, chdir, the pipes onto fd 0, 1 and 2, the file
 * actions, the signal mask, execve. So relative paths in file actions and
 * in path are taken from cwd, and a file action may override a pipe.
 */
typedef struct conc_proc_attr {
	const char *name;	/* start only: the child's comm (prctl PR_SET_NAME,
				 * 15 bytes kept); execve names a spawned one */
	bool daemon;		/* SIGKILLed when its parent dies, however (to
				 * be exact: when the parent *thread* that made
				 * it ends), and at the parent's exit; a
				 * non-daemon child is joined at exit */
	unsigned flags;		/* CONC_SPAWN_* (spawn only) */
	const char *cwd;	/* spawn: chdir before exec */
	const conc_fileop *fileops;	/* spawn: applied in order */
	size_t nfileops;
	pid_t pgroup;		/* with CONC_SPAWN_SETPGROUP: 0 = own group */
	sigset_t sigmask;	/* with CONC_SPAWN_SETSIGMASK */
} conc_proc_attr;

/*
 * Run fn(arg) in a child process created with fork semantics: the child is
 * a copy of the caller with a consistent C library, even when the caller
 * has threads. When fn returns, the child ends as main's return would end
 * it: the non-daemon threads fn started are waited for, its daemon
 * children killed and its other children joined; then its stdio is
 * flushed and it leaves with _exit(fn's value & 0xff): the parent's
 * atexit handlers never run in it. The caller's stdio buffers are flushed before the fork so nothing is
 * written twice. The child starts with an empty list of children: it
 * never joins or kills its parent's at its own exit.
 * On success stores a handle in *p and returns 0; -EINVAL for NULL p or
 * fn; -EAGAIN/-ENOMEM when the kernel refuses a process; -EMFILE when no
 * fd is left for the pidfd (the child is then killed and reaped). A child
 * that ended and was reaped by someone else (SIGCHLD ignored, waitpid(-1)
 * in a handler) before its pidfd could be opened still makes a start (fn
 * ran): its handle has no pidfd, and join gives -ECHILD as for any child
 * reaped elsewhere.
 */
int conc_proc_start(conc_proc **p, int (*fn)(void *), void *arg,
		    const conc_proc_attr *attr);

/*
 * Run the program path with argv and envp (NULL: the caller's environ)
 * in a new process, like posix_spawn: clone with CLONE_VM, so the cost
 * does not grow with the caller's memory, and wait until the child has
 * exec'd. A path without '/' is searched in the caller's PATH, as
 * execvp(3) does. If the program cannot be started, the error is returned
 * here (-ENOENT, -EACCES, -ENOEXEC, or what a file action, chdir, setsid
 * or setpgid failed with; a script without "#!" is -ENOEXEC, not retried
 * with /bin/sh as execvp(3) does, as posix_spawnp(3) does not) and the
 * failed child is already reaped: never a child exiting 127. -EINVAL for
 * NULL p, path or argv, unknown flags or file actions; -EBADF for a
 * negative fd in a file action. Safe in a threaded caller: the child runs
 * no handler of the caller's and no libc code. In a coroutine the wait
 * suspends only the caller (the loop runs on); a cancel does not cut it
 * short (the program is never left half started): the task's next
 * suspending call returns -ECANCELED; but the cancel of a loop that winds
 * down (conc_run's main task returned) kills a child not yet exec'd and
 * returns -ECANCELED. A child whose parent dies before its exec is
 * killed too (PR_SET_PDEATHSIG until the exec; a daemon keeps it).
 */
int conc_proc_spawn(conc_proc **p, const char *path, char *const argv[],
		    char *const envp[], const conc_proc_attr *attr);

/* conc_proc_spawn, waiting at most timeout_ns for the child to exec (a
 * file action that opens a FIFO waits for its other end): then the child
 * is killed and reaped, and -ETIMEDOUT returned. */
int conc_proc_spawn_timed(conc_proc **p, const char *path,
			  char *const argv[], char *const envp[],
			  const conc_proc_attr *attr, int64_t timeout_ns);

/*
 * Wait for the child to end, at most timeout_ns. Stores the wait status in
 * *status (if not NULL) exactly as waitpid(2) gives it: decode with
 * WIFEXITED, WEXITSTATUS, WIFSIGNALED, WTERMSIG. Returns 0, -ETIMEDOUT
 * (the child stays joinable), -EINVAL; -ECHILD if someone else reaped it
 * (SIGCHLD ignored, waitpid(-1) elsewhere), its status is then lost.
 * Joining an already joined child returns 0 and the same status again;
 * several threads may join one child at once.
 */
int conc_proc_join(conc_proc *p, int *status, int64_t timeout_ns);

/* As conc_proc_join(p, status, 0), but -EAGAIN (not -ETIMEDOUT) while the
 * child runs: reap it if it has ended, never wait for it. 0 (and *status),
 * -EAGAIN, -EINVAL, -ECHILD as for conc_proc_join. */
int conc_proc_try_join(conc_proc *p, int *status);

/* Send sig to the child through its pidfd: never reaches a recycled pid.
 * 0, -ESRCH when the child has already been joined, -EINVAL. */
int conc_proc_kill(conc_proc *p, int sig);

/* Send sig to the process group the child leads: spawned with
 * CONC_SPAWN_SETSID, or CONC_SPAWN_SETPGROUP and pgroup 0 (else -EINVAL,
 * so that the caller's own group is never hit). Reaches what the child
 * started in its group, also once the child has ended, until it is
 * joined: then -ESRCH (the group id may be reused). 0, -EINVAL (also a bad
 * sig), -ESRCH, -EPERM. */
int conc_proc_kill_group(conc_proc *p, int sig);

/* The child's pid, or -EINVAL. */
pid_t conc_proc_pid(const conc_proc *p);

/* The child's pidfd (owned by the handle: do not close it), or -EINVAL;
 * -ECHILD when the child was reaped elsewhere before conc_proc_start()
 * could open one. */
int conc_proc_pidfd(const conc_proc *p);

/* With CONC_SPAWN_PIPE_STDIN / _STDOUT / _STDERR: the parent's end of the
 * pipe (owned by the handle: do not close it; O_CLOEXEC), else -EBADF. */
int conc_proc_stdin(const conc_proc *p);
int conc_proc_stdout(const conc_proc *p);
int conc_proc_stderr(const conc_proc *p);

/* Close the parent's end of the stdin pipe, so that the child reads end of
 * file (a filter such as cat(1) ends only then). 0, -EBADF if there is no
 * such pipe or it is already closed, -EINVAL. */
int conc_proc_close_stdin(conc_proc *p);

/*
 * Give up the handle: close its fds and free it. A child that is still
 * running is left alone (reaped by nobody until the parent exits unless
 * the caller arranges it), and no longer joined (or, a daemon, killed) at
 * exit. The handle must not be used again. 0 or -EINVAL.
 */
int conc_proc_release(conc_proc *p);

#endif
