/* --joblog in GNU parallel's columns, one line per job as it ends (with
 * -k, as its output is printed: in input order, as GNU parallel);
 * --resume skips the seqs it logs, --resume-failed only those whose last
 * attempt succeeded. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "run.h"

struct joblog {
	int fd;
	unsigned char *done;	/* per seq: 1 succeeded, 2 failed */
	size_t ndone;
	bool rerun_failed;
};

static const char header[] =
	"Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

static void mark(struct joblog *l, long seq, bool ok)
{
	if (seq < 1 || seq > 100000000)
		return;
	if ((size_t)seq >= l->ndone) {
		size_t n = l->ndone ? l->ndone : 1024;

		while (n <= (size_t)seq)
			n *= 2;
		l->done = run_realloc(l->done, n);
		memset(l->done + l->ndone, 0, n - l->ndone);
		l->ndone = n;
	}
	l->done[seq] = ok ? 1 : 2;
}

/* Seq, Exitval and Signal of each line; lines that do not parse (the
 * header, a cut last line) are passed over. */
static void load(struct joblog *l, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;

	while (getline(&line, &cap, f) > 0) {
		char *col[9], *s = line, *end;
		int n = 0;
		long seq, ev, sig;

		while (n < 9 && (col[n] = strsep(&s, "\t")))
			n++;
		if (n < 9)
			continue;
		seq = strtol(col[0], &end, 10);
		if (end == col[0] || *end)
			continue;
		ev = strtol(col[6], &end, 10);
		sig = strtol(col[7], NULL, 10);
		mark(l, seq, ev == 0 && sig == 0);
	}
	free(line);
}

struct joblog *joblog_open(const struct opts *o)
{
	struct joblog *l = run_alloc(sizeof(*l));
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
	char what[600];
	FILE *f;

	memset(l, 0, sizeof(*l));
	l->rerun_failed = o->resume_failed;
	/* As GNU parallel: - is stdout, each line after its job's output. */
	if (!strcmp(o->joblog, "-")) {
		l->fd = -1;
		out_write(1, header, sizeof(header) - 1);
		return l;
	}
	snprintf(what, sizeof(what), "cannot open joblog %s", o->joblog);
	if (o->resume && (f = fopen(o->joblog, "re"))) {
		load(l, f);
		fclose(f);
	}
	flags |= o->resume ? O_APPEND : O_TRUNC;
	if ((l->fd = open(o->joblog, flags, 0666)) < 0)
		run_die(what, -errno);
	if (lseek(l->fd, 0, SEEK_END) == 0 &&
	    write(l->fd, header, sizeof(header) - 1) < 0)
		run_die(what, -errno);
	return l;
}

bool joblog_skip(const struct joblog *l, long seq)
{
	if (seq < 1 || (size_t)seq >= l->ndone || !l->done[seq])
		return false;
	return l->done[seq] == 1 || !l->rerun_failed;
}

char *joblog_line(const struct job *j, size_t *len)
{
	const char *host = j->host ? j->host->name : ":";
	size_t cl = strlen(j->cmd), n;
	char *line = run_alloc(cl + strlen(host) + 200), *c;

	n = (size_t)sprintf(line, "%ld\t%s\t%.3f\t%10.3f\t%llu\t%llu\t%d\t%d\t",
			    j->seq, host, j->start_real, j->runtime,
			    (unsigned long long)j->sent,
			    (unsigned long long)j->recv, job_exitval(j),
			    job_signo(j));
	/* As GNU parallel: a newline in the command would cut the line. */
	c = line + n;
	memcpy(c, j->cmd, cl);
	for (size_t i = 0; i < cl; i++)
		if (c[i] == '\n')
			c[i] = 0;
	c[cl] = '\n';
	*len = n + cl + 1;
	return line;
}

void joblog_put(struct joblog *l, char *line, size_t len)
{
	if (l->fd < 0)
		out_write(1, line, len);
	else if (write(l->fd, line, len) < 0)
		run_warn("writing the joblog", -errno);
	free(line);
}

void joblog_write(struct joblog *l, const struct job *j)
{
	size_t len;
	char *line = joblog_line(j, &len);

	joblog_put(l, line, len);
}
