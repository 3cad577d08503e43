/* Printing a job's output: whole (grouped), or its complete lines as
 * they come (--line-buffer), with the tag before every line (--tag). */
#include <string.h>
#include "run.h"

struct sink {
	int fd;
	const char *tag;
	bool *bol;
};

static void to_out(void *ctx, const char *p, size_t n)
{
	struct sink *s = ctx;

	if (s->tag)
		out_tagged(s->fd, s->tag, p, n, s->bol);
	else
		out_write(s->fd, p, n);
}

static void drain(struct obuf *b, int fd, const char *tag, bool *bol)
{
	struct sink s = { fd, tag, bol };

	obuf_drain(b, to_out, &s);
}

/* Up to the last newline, or where there is none the last carriage
 * return (GNU parallel's line end too, for progress redrawn in place):
 * what comes before it is whole lines. */
static void lines(struct obuf *b, int fd, const char *tag, bool *bol)
{
	char *nl;
	size_t keep;

	if (!b->len || (!(nl = memrchr(b->mem, '\n', b->len)) &&
			!(nl = memrchr(b->mem, '\r', b->len))))
		return;
	keep = b->len - (size_t)(nl + 1 - b->mem);
	b->len -= keep;
	drain(b, fd, tag, bol);
	memmove(b->mem, nl + 1, keep);
	b->len = keep;
}

void emit_lines(struct job *j, const struct opts *o)
{
	const char *tag = o->tag ? j->tag : NULL;

	lines(&j->out, 1, tag, &j->obol);
	lines(&j->err, 2, tag, &j->ebol);
}

/* The obuf, then (grouped, not moved there) the memfd the job wrote. */
static void whole(struct obuf *b, int mem, off_t len, int fd, const char *tag,
		  bool *bol)
{
	struct sink s = { fd, tag, bol };

	drain(b, fd, tag, bol);
	if (mem >= 0)
		job_mem_each(mem, len, to_out, &s);
}

/* -v: the command line and a newline, on stdout as the job's own first
 * line (tagged), as GNU parallel's. */
void emit_verbose(struct job *j, const struct opts *o)
{
	if (!o->ungroup) {
		/* Printed as its output is: before what it writes (grouped,
		 * the memfd's, later), or in its turn with -k. */
		obuf_add(&j->out, j->cmd, strlen(j->cmd));
		obuf_add(&j->out, "\n", 1);
		return;
	}
	/* -u (no tag): the job writes to our stdout itself, after this. */
	out_write(1, j->cmd, strlen(j->cmd));
	out_write(1, "\n", 1);
	out_flush();
}

/* -t (GNU parallel's --verbose): as xargs -t, each try's command line
 * on stderr as it starts, never tagged nor held back by -k or
 * --results (with --dry-run, as it is printed). */
void emit_trace(const struct job *j)
{
	out_write(2, j->cmd, strlen(j->cmd));
	out_write(2, "\n", 1);
	/* -u: before what the job writes to our stderr itself. */
	out_flush();
}

void emit_job(struct job *j, const struct opts *o)
{
	const char *tag = o->tag ? j->tag : NULL;

	if (j->resname)
		to_out(&(struct sink){ 1, tag, &j->obol }, j->resname,
		       strlen(j->resname));
	whole(&j->out, j->omem, j->olen, 1, tag, &j->obol);
	whole(&j->err, j->emem, j->elen, 2, tag, &j->ebol);
}
