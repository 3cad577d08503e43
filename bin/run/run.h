/* run.h — conc-run's parts: options, inputs, command lines, output
 * buffers, jobs, the event loop. Only conc-run includes it. */
#ifndef CONC_RUN_H
#define CONC_RUN_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <conc.h>

#define PROG "conc-run"

/* Exit statuses, as GNU parallel's. */
#define RUN_EXIT_MANY	101	/* more than 100 jobs failed */
#define RUN_EXIT_ERROR	255	/* anything else went wrong */

/* ---- options (opts.c) ---- */

enum halt_when { HALT_NEVER, HALT_SOON, HALT_NOW };
enum halt_what { HALT_FAIL, HALT_SUCCESS, HALT_DONE };

struct halt {
	enum halt_when when;
	enum halt_what what;
	double count;		/* jobs, or a fraction of them with pct */
	bool pct;
};

/* An input source: ::: words, or the lines of a :::: file. */
struct src {
	char **v;
	size_t n;
	bool *nul;		/* per item: it had a NUL byte (made \0), or
				 * NULL when none had */
	const char *file;	/* :::: FILE (- is stdin), read at start */
	bool linked;		/* :::+ : goes along with the source before */
};

struct opts {
	long jobs;		/* slots, resolved from -j */
	bool keep, ungroup, linebuf, tag, quote, dry, pipe;
	bool noempty;		/* -r: blank inputs skipped */
	bool verbose;		/* -v: each command line before its output */
	bool trace;		/* -t, --verbose: each on stderr as it starts */
	bool bar, progress, eta, resume, resume_failed;
	bool colsep_set;
	char delim;		/* item separator of stdin and :::: files */
	long nargs;		/* -n, -N, -L: arguments (records) per job */
	bool noargs;		/* -n 0: an input a job, none on its line */
	bool ctx;		/* -N, -X, -L: GNU's context replace */
	bool fill;		/* -X, -m, --xargs: as many arguments a job as
				 * the line length allows */
	bool spread;		/* -X, -m: the last ones spread over -j */
	bool rawcmd;		/* the command starts with a replacement
				 * string: the values go in unquoted */
	bool join;		/* -L, --max-lines: an input that ends in
				 * white space goes on with the next */
	const char *tagstr;	/* --tagstring, escapes undone */
	regex_t colsep;
	size_t block;		/* --pipe chunk size */
	const char *recend;
	size_t recend_len;
	const char *joblog;
	const char *results;	/* --results DIR */
	bool res_names;		/* --results with --line-buffer: print the
				 * stdout files' names, as GNU parallel */
	char **argfile;		/* -a, each a source before the ::: ones */
	int nargfile;
	int64_t timeout_ns;	/* 0: none */
	double timeout_pct;	/* --timeout P%: P / 100 (0: none) */
	int64_t delay_ns;
	long nice;		/* --nice: the jobs' niceness (0: ours) */
	size_t max_chars;	/* -s: the line length limit (0: GNU's) */
	long retries;		/* attempts in all, 1 by default */
	struct halt halt;
	char **login;		/* -S, --sshloginfile lines: [N/]login */
	int nlogin;
	const char *ssh;	/* --ssh: the program and its options */
	char **tf, **ret;	/* --transferfile, --return templates */
	int ntf, nret;
	bool cleanup;
	char **cmd;		/* the command's words */
	int ncmd;
	struct src *src;
	int nsrc;
};

/* Parse argv into o; exits with a message on a bad option (255) and for
 * --help and --version (0). */
void opts_parse(struct opts *o, int argc, char **argv);

/* ---- errors (conc-run.c) ---- */

/* "conc-run: what: why" on stderr; why from -err (0: none). */
void run_warn(const char *what, int err);
_Noreturn void run_die(const char *what, int err);
void *run_alloc(size_t n);
void *run_realloc(void *p, size_t n);
char *run_strdup(const char *s);

/* ---- $PARALLEL_SHELL (shell.c) ---- */

/* Exit with an error (255) when it is set and names no program. */
void shell_check(void);

/* ---- inputs (input.c) ---- */

/* One job's arguments: the values of every source (or column), n times
 * with -n, flattened. */
struct args {
	char **v;
	int n;
	int width;		/* values a record (--results' names); 0: n */
};

struct input;

struct input *input_open(const struct opts *o);
/* 1: *a filled (free with args_free); 0: not yet (wait for input_fd to
 * be readable); -1: no more; -2: no more, an error (a line too long,
 * said on stderr): the run must fail (255). */
int input_next(struct input *in, struct args *a);
/* The fd to poll for more input, or -1. */
int input_fd(const struct input *in);
/* Read what is there (after input_fd polled readable). */
void input_fill(struct input *in);
/* Jobs in all when known now (every input read at start), else -1. */
long input_total(const struct input *in);
void args_free(struct args *a);

/* ---- command lines (cmd.c) ---- */

/* The shell command for the job (malloc'd), or with -q its argv (in
 * *argv, malloc'd with its strings; the return value is then the line
 * for the log). seq and slot for {#} and {%}. */
char *cmd_build(const struct opts *o, const struct args *a, long seq,
		int slot, char ***argv);
/* GNU parallel's quoting for sh: x unchanged when it needs none. */
char *cmd_quote(const char *x);
/* A template (--transferfile, --return) with the values put in as they
 * are (malloc'd). */
char *cmd_expand_raw(const char *tmpl, const struct args *a, long seq,
		     int slot);
/* At p (a '{'), a replacement string? Its length (0: none), *col (-1:
 * all the arguments, n - 1: {n}, CMD_COL_SEQ {#}, CMD_COL_SLOT {%},
 * CMD_COL_END - n: {-n}) and *mod (0 . / d b). */
#define CMD_COL_SEQ (-2)
#define CMD_COL_SLOT (-3)
#define CMD_COL_END (-10)
size_t cmd_rpl(const char *p, int *col, int *mod);
/* -I's string ({} renamed), NULL without it; any p may start one.
 * --er's ({.} renamed) the same. */
extern const char *cmd_replace, *cmd_extreplace;
/* The length of v modified by mod and quoted for sh (unless raw). */
size_t cmd_value_len(const char *v, int mod, bool raw);

/* GNU parallel's estimate of a command line's length (its
 * CommandLine::len), which decides where -X, -m, --xargs and -n N cut
 * the inputs into jobs (cmdlen.c). cmd_len_init once, after the options;
 * a record's weight added up over the job's records gives the line. */
void cmd_len_init(const struct opts *o);
size_t cmd_len_record(const struct opts *o, char **v, int n, long seq);
size_t cmd_len_line(const struct opts *o, long recargs, size_t weight);
/* The longest line GNU parallel builds here (its usable command line
 * length). */
size_t cmd_len_max(void);

/* The tag of --tag: the values joined by spaces; --tagstring's
 * expanded. A tab after it. */
char *cmd_tag(const struct opts *o, const struct args *a, long seq,
	      int slot);

/* ---- other hosts through ssh (ssh.c) ---- */

struct host {
	char *name;		/* as given, for the joblog's Host column */
	char *ssh;		/* the ssh command and host, quoted for sh;
				 * NULL: this machine (":") */
	long slots;
};

/* The hosts of -S and --sshloginfile; none given: this machine alone,
 * with o->jobs slots. */
struct host *hosts_open(const struct opts *o, int *n);
/* The local sh script that runs the job's line on h: transfers, the
 * command, returns, cleanup (malloc'd). */
char *ssh_wrap(const struct opts *o, const struct host *h,
	       const struct args *a, long seq, int slot, const char *line);

/* ---- output buffers (obuf.c): heap up to a bound, then a memfd ---- */

struct seg {
	off_t off;
	size_t len;
};

struct obuf {
	char *mem;
	size_t len, cap;
	struct seg *seg;	/* spilled data, before mem */
	size_t nseg, segcap;
	uint64_t total;
};

void obuf_add(struct obuf *b, const char *p, size_t n);
/* Move the heap part to the spill file. */
void obuf_spill(struct obuf *b);
/* Call fn on every byte range in order; then empty b. */
void obuf_drain(struct obuf *b, void (*fn)(void *, const char *, size_t),
		void *ctx);
void obuf_free(struct obuf *b);
/* Heap bytes held by every obuf. */
size_t obuf_heap(void);

/* ---- output (out.c) ---- */

/* Buffered writes to our fd 1 and 2, flushed before every wait. */
void out_write(int fd, const char *p, size_t n);
/* Write p, a tag before each line that starts; *bol: at a line start. */
void out_tagged(int fd, const char *tag, const char *p, size_t n,
		bool *bol);
void out_flush(void);
/* Nonzero once a write failed (EPIPE and such): stop. */
int out_error(void);

/* ---- jobs (job.c) ---- */

enum job_state { JOB_NEW, JOB_RUNNING, JOB_DONE, JOB_SKIPPED };

struct job {
	long seq;
	int slot;
	long act;		/* its index in the loop's running list */
	long tries;
	struct args a;
	char *cmd;		/* the line, for the log and --dry-run */
	char *wrap;		/* on another host: the local script */
	const struct host *host;
	char **argv;		/* -q */
	char *tag;
	char *resname;		/* --results --line-buffer: printed */
	char *logline;		/* -k: its joblog line, put when printed */
	size_t loglen;
	conc_proc *p;
	pid_t pid;
	int pidfd, ofd, efd, ifd;	/* ofd, efd: pipes (--line-buffer) */
	int omem, emem;		/* grouped: the memfds it writes into */
	off_t olen, elen;	/* what they held when it ended */
	bool exited, timed_out, killed;	/* killed: by us (halt, signal) */
	bool obol, ebol;	/* --line-buffer --tag: at a line start */
	struct obuf out, err;
	int64_t t0, kill_at;
	int kill_stage;
	int stop_sig;		/* what stop_job sent it last */
	double start_real, runtime;
	int status;		/* waitpid's */
	uint64_t sent, recv;
	char *chunk;		/* --pipe: its stdin, sent from off */
	size_t chunk_len, chunk_off;
	enum job_state state;
};

struct job *job_new(long seq, struct args *a);
void job_free(struct job *j);
/* Done, waiting for its turn (-k): keep only its output and tag. */
void job_shrink(struct job *j);
/* Start it; 0 or -errno (then failed with status 127 or 126). */
int job_spawn(struct job *j, const struct opts *o, int devnull);
/* Signal its process group (the job's whole family). */
void job_signal(struct job *j, int sig);
/* Read what its pipes hold; -1 when both are closed. */
void job_read(struct job *j, const struct opts *o, int fd);
/* After the pidfd was readable: reap, read the rest of the pipes, close
 * them; grouped output stays in the memfds until printed. */
void job_reap(struct job *j, const struct opts *o);
/* Call fn on the first len bytes of a memfd, a chunk at a time. */
void job_mem_each(int fd, off_t len,
		  void (*fn)(void *, const char *, size_t), void *ctx);
/* Move the memfds' output into its obufs and close them (-k: it waits,
 * and an fd per waiting job would run out). */
void job_take_mem(struct job *j);
/* Write what --pipe gives it; closes its stdin at the end. */
void job_feed(struct job *j);
bool job_failed(const struct job *j);
/* GNU parallel's Exitval column: -1 when we killed it. */
int job_exitval(const struct job *j);
int job_signo(const struct job *j);

/* ---- the output of one job (emit.c) ---- */

/* With --line-buffer: print the complete lines it has so far. */
void emit_lines(struct job *j, const struct opts *o);
/* Print all it has (grouped; the rest with --line-buffer). */
void emit_job(struct job *j, const struct opts *o);
/* -v: its command line first in its output (-u: printed now), as it
 * starts. */
void emit_verbose(struct job *j, const struct opts *o);
/* -t: its command line on stderr now. */
void emit_trace(const struct job *j);

/* ---- the --pipe chunks (chunk.c) ---- */

struct chunker;

/* nrec: -n, records per chunk (0: by --block). */
struct chunker *chunker_open(int fd, size_t block, const char *recend,
			     size_t recend_len, long nrec);
/* 1: a chunk in *p, *n bytes (malloc'd, the caller's); 0: wait for chunker_fd;
 * -1: end of input. */
int chunker_next(struct chunker *c, char **p, size_t *n);
int chunker_fd(const struct chunker *c);
void chunker_fill(struct chunker *c);

/* ---- --results DIR (results.c) ---- */
/* Make the job's directory and its seq file; open its stdout and stderr
 * (into *ofd, *efd). With dry (--dry-run) make seq and an empty stderr
 * only (*ofd, *efd -1). Exits with a message when it cannot. Returns
 * with o->res_names the stdout file's name and a newline (malloc'd),
 * else NULL. */
char *results_open(const struct opts *o, const struct args *a, long seq,
		  bool dry, int *ofd, int *efd);
/* ---- --joblog (joblog.c) ---- */

struct joblog;

/* Open (truncate, or append with --resume); reads the seqs done. */
struct joblog *joblog_open(const struct opts *o);
void joblog_write(struct joblog *l, const struct job *j);
/* Its line (malloc'd), to be put later (-k: when its output is). */
char *joblog_line(const struct job *j, size_t *len);
/* Write it (to stdout, buffered with the jobs' output, for -) and free. */
void joblog_put(struct joblog *l, char *line, size_t len);
/* With --resume(-failed): seq needs no run. */
bool joblog_skip(const struct joblog *l, long seq);

/* ---- progress on a terminal (progress.c) ---- */

struct progress {
	long done, failed, running, total;
	int64_t t0, last;
	bool on;
};

void progress_draw(struct progress *p, const struct opts *o, int64_t now,
		   bool force);
void progress_end(struct progress *p);

/* ---- the loop (loop.c) ---- */

int run_loop(struct opts *o);

int64_t now_ns(void);

#endif
