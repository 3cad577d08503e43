/* A job: its command spawned with conc_proc_spawn in a process group of
 * its own (so a timeout or Ctrl-C reaches what it started), stdin from
 * /dev/null or --pipe's chunk. Its stdout and stderr go to two memfds we
 * read once it has ended (GNU parallel's temporary files, in memory: no
 * wake-up of ours while it writes), or with --line-buffer into pipes we
 * read as they fill. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "run.h"

#define READ_SIZE (64 * 1024)

static char *sh_argv[] = { "/bin/sh", "-c", NULL, NULL };

struct job *job_new(long seq, struct args *a)
{
	struct job *j = run_alloc(sizeof(*j));

	memset(j, 0, sizeof(*j));
	j->seq = seq;
	if (a)
		j->a = *a;
	j->pidfd = j->ofd = j->efd = j->ifd = -1;
	j->omem = j->emem = -1;
	j->obol = j->ebol = true;
	return j;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void job_free(struct job *j)
{
	if (j->p)
		conc_proc_release(j->p);	/* and its pipes */
	close_fd(&j->omem);
	close_fd(&j->emem);
	obuf_free(&j->out);
	obuf_free(&j->err);
	job_shrink(j);
	free(j->tag);
	free(j->resname);
	free(j->logline);
	free(j);
}

void job_shrink(struct job *j)
{
	args_free(&j->a);
	if (j->argv)
		for (char **v = j->argv; *v; v++)
			free(*v);
	free(j->argv);
	free(j->cmd);
	free(j->wrap);
	free(j->chunk);
	j->argv = NULL;
	j->cmd = j->wrap = j->chunk = NULL;
}

/* The jobs' environment: ours, with PARALLEL_SEQ, PARALLEL_JOBSLOT and
 * PARALLEL_PID as GNU parallel sets them. The spawn has copied it when it
 * returns (the child has called execve), so one buffer serves every job. */
static char **job_env(long seq, int slot)
{
	extern char **environ;
	static char **env, seqv[40], slotv[40], pidv[40];
	static size_t n;

	if (!env) {
		size_t k = 0;

		while (environ[k])
			k++;
		env = run_alloc(sizeof(*env) * (k + 4));
		for (size_t i = 0; i < k; i++)
			if (strncmp(environ[i], "PARALLEL_SEQ=", 13) &&
			    strncmp(environ[i], "PARALLEL_JOBSLOT=", 17) &&
			    strncmp(environ[i], "PARALLEL_PID=", 13))
				env[n++] = environ[i];
		snprintf(pidv, sizeof(pidv), "PARALLEL_PID=%ld", (long)getpid());
		env[n] = pidv;
		env[n + 1] = seqv;
		env[n + 2] = slotv;
		env[n + 3] = NULL;
	}
	snprintf(seqv, sizeof(seqv), "PARALLEL_SEQ=%ld", seq);
	snprintf(slotv, sizeof(slotv), "PARALLEL_JOBSLOT=%d", slot);
	return env;
}

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int job_memfd(void)
{
	int fd = memfd_create("conc-run-job", MFD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Grouped: the job's stdout and stderr are memfds of their own. */
static int mem_out(struct job *j, conc_fileop *ops, size_t *n)
{
	int e;

	/* Another try: the output of the one before is dropped. */
	close_fd(&j->omem);
	close_fd(&j->emem);
	if ((j->omem = job_memfd()) < 0 || (j->emem = job_memfd()) < 0) {
		e = j->omem < 0 ? j->omem : j->emem;
		if (j->omem >= 0)
			close(j->omem);
		j->omem = j->emem = -1;
		return e;
	}
	ops[(*n)++] = (conc_fileop){ .op = CONC_FILE_DUP2, .fd = 1,
				     .src = j->omem };
	ops[(*n)++] = (conc_fileop){ .op = CONC_FILE_DUP2, .fd = 2,
				     .src = j->emem };
	return 0;
}

int job_spawn(struct job *j, const struct opts *o, int devnull)
{
	conc_fileop ops[3];
	conc_proc_attr attr = { .flags = CONC_SPAWN_SETPGROUP, .fileops = ops };
	int r;
	char **env = job_env(j->seq, j->slot);
	struct timespec ts;

	if (o->pipe)
		attr.flags |= CONC_SPAWN_PIPE_STDIN;
	else
		ops[attr.nfileops++] = (conc_fileop){ .op = CONC_FILE_DUP2,
						      .fd = 0, .src = devnull };
	if (o->results) {
		/* Its files stand in for the memfds: not printed, closed
		 * once it ended (their sizes read first, for the joblog). */
		close_fd(&j->omem);
		close_fd(&j->emem);
		free(j->resname);
		j->resname = results_open(o, &j->a, j->seq, false, &j->omem,
					  &j->emem);
		ops[attr.nfileops++] = (conc_fileop){
			.op = CONC_FILE_DUP2, .fd = 1, .src = j->omem };
		ops[attr.nfileops++] = (conc_fileop){
			.op = CONC_FILE_DUP2, .fd = 2, .src = j->emem };
	} else if (!o->ungroup && !o->linebuf) {
		if ((r = mem_out(j, ops, &attr.nfileops)) < 0)
			return r;
	} else if (!o->ungroup) {
		attr.flags |= CONC_SPAWN_PIPE_STDOUT | CONC_SPAWN_PIPE_STDERR;
	}
	if (j->wrap) {
		sh_argv[2] = j->wrap;
		r = conc_proc_spawn(&j->p, sh_argv[0], sh_argv, env, &attr);
	} else if (j->argv && (r = conc_proc_spawn(&j->p, j->argv[0], j->argv,
						 env, &attr)) != -ENOEXEC) {
		/* -q: the words run as a program, without a shell. */
	} else {
		/* As GNU parallel: $PARALLEL_SHELL, if set, runs the line.
		 * So does -q's quoted line when the program is a script
		 * without "#!" (ENOEXEC): GNU parallel runs -q's line with
		 * the shell too, which runs such a file itself. */
		static char *user_argv[] = { NULL, "-c", NULL, NULL };
		char **av = sh_argv;

		if (!user_argv[0]) {
			const char *u = getenv("PARALLEL_SHELL");

			user_argv[0] = u && *u ? (char *)u : sh_argv[0];
		}
		if (user_argv[0] != sh_argv[0])
			av = user_argv;
		av[2] = j->cmd;
		r = conc_proc_spawn(&j->p, av[0], av, env, &attr);
	}
	j->t0 = now_ns();
	clock_gettime(CLOCK_REALTIME, &ts);
	j->start_real = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (r < 0) {
		close_fd(&j->omem);
		close_fd(&j->emem);
		j->p = NULL;
		j->exited = true;
		j->status = (r == -ENOENT ? 127 : 126) << 8;
		return r;
	}
	j->pid = conc_proc_pid(j->p);
	j->pidfd = conc_proc_pidfd(j->p);
	if (!o->ungroup && o->linebuf) {
		j->ofd = conc_proc_stdout(j->p);
		j->efd = conc_proc_stderr(j->p);
		nonblock(j->ofd);
		nonblock(j->efd);
	}
	if (o->pipe) {
		j->ifd = conc_proc_stdin(j->p);
		nonblock(j->ifd);
	}
	j->state = JOB_RUNNING;
	return 0;
}

void job_signal(struct job *j, int sig)
{
	/* Its group, what it started too; only the leader if that fails. */
	if (j->p && !j->exited && conc_proc_kill_group(j->p, sig) < 0)
		conc_proc_kill(j->p, sig);
}

void job_read(struct job *j, const struct opts *o, int fd)
{
	static char buf[READ_SIZE];
	int *fdp = fd == j->ofd ? &j->ofd : &j->efd;
	struct obuf *b = fd == j->ofd ? &j->out : &j->err;

	(void)o;
	for (int k = 0; k < 16; k++) {
		ssize_t r = read(*fdp, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			/* The end, or an error we cannot do better with;
			 * the handle closes the pipe. */
			*fdp = -1;
			return;
		}
		obuf_add(b, buf, (size_t)r);
		/* The joblog's Receive is stdout's bytes, as GNU parallel's. */
		if (b == &j->out)
			j->recv += (uint64_t)r;
		if ((size_t)r < sizeof(buf))
			return;
	}
}

/* The size of what the job wrote into a memfd before it ended (a process
 * it left behind may write on: that part is not its output). */
static off_t mem_len(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_size : 0;
}

void job_mem_each(int fd, off_t len,
		  void (*fn)(void *, const char *, size_t), void *ctx)
{
	static char buf[READ_SIZE];
	off_t off = 0;

	while (off < len) {
		size_t want = len - off < (off_t)sizeof(buf) ?
			      (size_t)(len - off) : sizeof(buf);
		ssize_t r = pread(fd, buf, want, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;	/* cut short by a process it left behind */
		fn(ctx, buf, (size_t)r);
		off += r;
	}
}

static void add_to(void *b, const char *p, size_t n)
{
	obuf_add(b, p, n);
}

void job_take_mem(struct job *j)
{
	if (j->omem >= 0)
		job_mem_each(j->omem, j->olen, add_to, &j->out);
	if (j->emem >= 0)
		job_mem_each(j->emem, j->elen, add_to, &j->err);
	close_fd(&j->omem);
	close_fd(&j->emem);
}

void job_reap(struct job *j, const struct opts *o)
{
	int st = 0, r, rounds = 64;

	/* Not yet (a spurious wake-up): look again at the next one. Reaped
	 * by someone else (-ECHILD): its status is lost, it failed. */
	if ((r = conc_proc_try_join(j->p, &st)) == -EAGAIN)
		return;
	if (r < 0)
		st = 255 << 8;
	j->exited = true;
	j->status = st;
	j->runtime = (double)(now_ns() - j->t0) / 1e9;
	/* What it wrote before it ended is in the pipes now; a process it
	 * left behind holding them open does not keep the job going. */
	while ((j->ofd >= 0 || j->efd >= 0) && rounds-- > 0) {
		size_t before = j->out.total + j->err.total;

		if (j->ofd >= 0)
			job_read(j, o, j->ofd);
		if (j->efd >= 0)
			job_read(j, o, j->efd);
		if (j->out.total + j->err.total == before)
			break;
	}
	j->ofd = j->efd = -1;	/* the handle's: closed at its release */
	if (j->omem >= 0)
		j->recv += (uint64_t)(j->olen = mem_len(j->omem));
	if (j->emem >= 0)
		j->elen = mem_len(j->emem);
	if (o->results) {
		close_fd(&j->omem);
		close_fd(&j->emem);
	}
	if (j->ifd >= 0)
		conc_proc_close_stdin(j->p);
	j->ifd = -1;
	conc_proc_release(j->p);
	j->p = NULL;
	j->state = JOB_DONE;
}

void job_feed(struct job *j)
{
	while (j->chunk_off < j->chunk_len) {
		ssize_t w = write(j->ifd, j->chunk + j->chunk_off,
				  j->chunk_len - j->chunk_off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0) {
			/* EPIPE: it does not read all of it; its choice. */
			break;
		}
		j->chunk_off += (size_t)w;
		j->sent += (uint64_t)w;
	}
	/* The chunk stays for a retry (--retries): it is freed with the
	 * job. */
	conc_proc_close_stdin(j->p);
	j->ifd = -1;
}

bool job_failed(const struct job *j)
{
	return j->status != 0 || j->timed_out || j->killed;
}

int job_exitval(const struct job *j)
{
	if (j->timed_out || j->killed)
		return -1;
	return WIFEXITED(j->status) ? WEXITSTATUS(j->status) : 0;
}

int job_signo(const struct job *j)
{
	return WIFSIGNALED(j->status) ? WTERMSIG(j->status) : 0;
}
