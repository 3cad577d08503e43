/* Inputs: the sources given (::: words, :::: files, -a), combined as
 * every combination, first source slowest; or, with none, the items of
 * stdin read as they come, so a job starts before stdin ends. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "run.h"

#define READ_SIZE (64 * 1024)

/* -X, -m, --xargs, -n N: the job being filled, record by record. */
struct fill {
	struct args *rec;	/* its records so far */
	int nrec, cap;
	size_t weight;		/* their part of the line's length */
	bool full;		/* the next record would not fit */
	struct args *q;		/* records taken back, q[head] first */
	int head, nq, qcap;
	long max;		/* records a job at most (0: no bound) */
	bool spread;		/* done: the last ones spread over -j */
	long seq, nread;
	size_t limit;
};

struct input {
	const struct opts *o;
	bool by_len;		/* jobs filled by struct fill */
	struct fill f;
	struct src *src;	/* loaded */
	int nsrc;
	size_t *idx;		/* the odometer over the groups */
	int *group;		/* per source: its group (linked sources) */
	size_t *glen;		/* per group: its shortest source */
	int ngroup;
	bool end;
	bool failed;		/* a line too long: no more (input_next) */
	long total;
	long nuls;		/* values read that had a NUL byte */
	/* stdin as it comes (no sources) */
	int fd;
	char *buf;
	size_t start, len, cap;
	bool eof;
};

/*
 * An input value, p's l bytes, as a string (malloc'd). A NUL byte in it,
 * which no argument can carry (the value would end there), becomes the
 * two characters \0, as GNU parallel makes it, and the job is warned of
 * (input_next); *had says whether there was one.
 */
static char *value(const char *p, size_t l, bool *had)
{
	const char *q = p;
	size_t n = 0, k = 0;
	char *v;

	while ((q = memchr(q, 0, l - (size_t)(q - p))))
		n++, q++;
	*had = n > 0;
	v = run_alloc(l + n + 1);
	if (!n)
		memcpy(v, p, k = l);
	for (size_t i = 0; n && i < l; i++) {
		if (p[i]) {
			v[k++] = p[i];
		} else {
			v[k++] = '\\';
			v[k++] = '0';
		}
	}
	v[k] = 0;
	return v;
}

/* Split a whole file's bytes into items; the last delim ends an item,
 * it does not start an empty one. */
static void split(struct src *s, char *p, size_t n, char delim)
{
	size_t cap = 16;
	bool had;

	s->v = run_alloc(cap * sizeof(*s->v));
	while (n) {
		char *e = memchr(p, delim, n);
		size_t l = e ? (size_t)(e - p) : n;

		if (s->n == cap) {
			s->v = run_realloc(s->v, (cap *= 2) * sizeof(*s->v));
			if (s->nul) {
				s->nul = run_realloc(s->nul, cap * sizeof(*s->nul));
				memset(s->nul + s->n, 0, (cap - s->n) * sizeof(*s->nul));
			}
		}
		s->v[s->n] = value(p, l, &had);
		if (had && !s->nul)
			s->nul = memset(run_alloc(cap * sizeof(*s->nul)), 0,
					cap * sizeof(*s->nul));
		if (s->nul)
			s->nul[s->n] = had;
		s->n++;
		p += l + (e != NULL);
		n -= l + (e != NULL);
	}
}

static void load(struct src *s, char delim)
{
	int fd = strcmp(s->file, "-") ? open(s->file, O_RDONLY | O_CLOEXEC) : 0;
	size_t len = 0, cap = READ_SIZE;
	char *buf;
	ssize_t r;

	if (fd < 0) {
		char what[512];

		snprintf(what, sizeof(what), "cannot open %s", s->file);
		run_die(what, -errno);
	}
	buf = run_alloc(cap);
	for (;;) {
		if (len == cap)
			buf = run_realloc(buf, cap *= 2);
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			char what[512];

			snprintf(what, sizeof(what), "cannot read %s", s->file);
			run_die(what, -errno);
		}
		if (!r)
			break;
		len += (size_t)r;
	}
	if (fd)
		close(fd);
	split(s, buf, len, delim);
	free(buf);
}

/* perl's \s, which GNU parallel's -L looks for at a line's end. */
static bool blank(char c)
{
	return c && strchr(" \t\n\r\f\v", c);
}

/* -r: empty or white space only, as GNU parallel's /^\s*$/. */
static bool all_blank(const char *p, size_t l)
{
	while (l && blank(*p)) {
		p++;
		l--;
	}
	return !l;
}

/* -r: a source's blank values out (before the combinations). */
static void drop_blank(struct src *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (all_blank(s->v[i], strlen(s->v[i])))
			continue;
		if (s->nul)
			s->nul[n] = s->nul[i];
		s->v[n++] = s->v[i];
	}
	s->n = n;
}

/* -L: an item that ends in white space and the next are one (the
 * words of ::: too: GNU reads them as lines). */
static void join(struct src *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; n++) {
		size_t j = i, len = 0;
		char *v;

		char last = 0;

		for (;; j++) {
			size_t k = strlen(s->v[j]);

			last = k ? s->v[j][k - 1] : last;
			if (j + 1 == s->n || !blank(last))
				break;
		}
		if (j == i) {
			if (s->nul)
				s->nul[n] = s->nul[i];
			s->v[n] = s->v[i++];
			continue;
		}
		if (s->nul) {
			bool had = false;

			for (size_t k = i; k <= j; k++)
				had |= s->nul[k];
			s->nul[n] = had;
		}
		for (size_t k = i; k <= j; k++)
			len += strlen(s->v[k]);
		v = run_alloc(len + 1);
		*v = 0;
		for (size_t k = i; k <= j; k++)
			strcat(v, s->v[k]);	/* the old ones may be argv's */
		s->v[n] = v;
		i = j + 1;
	}
	s->n = n;
}

struct input *input_open(const struct opts *o)
{
	struct input *in = run_alloc(sizeof(*in));
	long tuples = 1;

	memset(in, 0, sizeof(*in));
	in->o = o;
	in->fd = -1;
	in->total = -1;
	/* As GNU parallel: a job of several records stops short of its
	 * line length limit (-n 1 needs no look: one record a job; -X -n 0
	 * is -X, the arguments not put in). -L's joined items come that
	 * way too (next_stream takes one item as one line). */
	in->by_len = !o->pipe && (o->fill || o->join ||
				  (!o->noargs && o->nargs > 1) ||
				  (!o->noargs && o->max_chars));
	if (in->by_len) {
		cmd_len_init(o);
		in->f.limit = o->max_chars ? o->max_chars : cmd_len_max();
		/* -s alone: still one input a job, its line looked at. */
		in->f.max = o->nargs || o->fill || o->join ? o->nargs : 1;
	}
	if (!o->nsrc) {
		in->fd = 0;
		in->cap = READ_SIZE;
		in->buf = run_alloc(in->cap);
		return in;
	}
	in->nsrc = o->nsrc;
	in->src = o->src;
	in->idx = run_alloc(sizeof(*in->idx) * (size_t)o->nsrc);
	in->group = run_alloc(sizeof(*in->group) * (size_t)o->nsrc);
	in->glen = run_alloc(sizeof(*in->glen) * (size_t)o->nsrc);
	static char *none[] = { "" };
	bool some = false;

	for (int i = 0; i < o->nsrc; i++) {
		if (o->src[i].file)
			load(&in->src[i], o->delim);
		if (o->join)
			join(&in->src[i]);
		if (o->noempty)
			drop_blank(&in->src[i]);
		some |= in->src[i].n > 0;
	}
	for (int i = 0; i < o->nsrc; i++) {
		/* As GNU parallel: beside others with inputs, an empty
		 * source is one empty argument, not zero jobs. */
		if (some && !in->src[i].n) {
			in->src[i].v = none;
			in->src[i].n = 1;
		}
		if (!i || !o->src[i].linked) {
			in->idx[in->ngroup] = 0;
			in->glen[in->ngroup++] = in->src[i].n;
		} else if (in->src[i].n < in->glen[in->ngroup - 1]) {
			in->glen[in->ngroup - 1] = in->src[i].n;
		}
		in->group[i] = in->ngroup - 1;
	}
	for (int g = 0; g < in->ngroup; g++) {
		tuples = in->glen[g] && tuples > LONG_MAX / (long)in->glen[g] ?
			 LONG_MAX : tuples * (long)in->glen[g];
		if (!in->glen[g])
			in->end = true;
	}
	in->total = in->end ? 0 : (tuples + (o->nargs ? o->nargs : 1) - 1) /
				  (o->nargs ? o->nargs : 1);
	if (o->fill && !in->end)	/* known only as the lines fill */
		in->total = -1;
	return in;
}

long input_total(const struct input *in)
{
	return in->total;
}

int input_fd(const struct input *in)
{
	return in->fd >= 0 && !in->eof ? in->fd : -1;
}

void input_fill(struct input *in)
{
	ssize_t r;

	if (in->start && in->start == in->len)
		in->start = in->len = 0;
	if (in->start > in->cap / 2) {
		memmove(in->buf, in->buf + in->start, in->len - in->start);
		in->len -= in->start;
		in->start = 0;
	}
	if (in->cap - in->len < READ_SIZE / 2)
		in->buf = run_realloc(in->buf, in->cap *= 2);
	r = read(in->fd, in->buf + in->len, in->cap - in->len);
	if (r < 0 && errno != EINTR && errno != EAGAIN) {
		run_warn("reading stdin", -errno);
		in->eof = true;
	} else if (r == 0) {
		in->eof = true;
	} else if (r > 0) {
		in->len += (size_t)r;
	}
}

/* v (malloc'd) as the next value of a. */
static void push_own(struct args *a, int *cap, char *v)
{
	if (a->n == *cap)
		a->v = run_realloc(a->v, sizeof(*a->v) * (size_t)(*cap *= 2));
	a->v[a->n++] = v;
}

static void push(struct args *a, int *cap, const char *p, size_t l)
{
	char *v = run_alloc(l + 1);

	memcpy(v, p, l);
	v[l] = 0;
	push_own(a, cap, v);
}

/* A column, white space off both ends: GNU parallel's --colsep implies
 * its --trim lr, so "a, b" split at , gives b, not " b". */
static void push_trimmed(struct args *a, int *cap, const char *p, size_t l)
{
	while (l && isspace((unsigned char)*p)) {
		p++;
		l--;
	}
	while (l && isspace((unsigned char)p[l - 1]))
		l--;
	push(a, cap, p, l);
}

/* One value: itself, or its columns with --colsep (split once a NUL
 * became \0: GNU parallel splits first, see conc-run(1)). */
static void add(struct input *in, struct args *a, int *cap,
		const char *p, size_t l)
{
	const struct opts *o = in->o;
	regmatch_t m;
	size_t off = 0;
	bool had;
	char *s = value(p, l, &had);

	in->nuls += had;
	if (!o->colsep_set) {
		push_own(a, cap, s);
		return;
	}
	l = strlen(s);
	/* As perl's split (GNU parallel's): from a column's start, the
	 * first match that ends past it, so a regex that matches nothing
	 * ("b*" where there is no b) splits between two characters; what
	 * follows the last match is the last column, empty or not. */
	while (off < l) {
		size_t at = off;

		if (regexec(&o->colsep, s + at, 1, &m, at ? REG_NOTBOL : 0))
			break;
		if (m.rm_eo == 0 && (++at > l ||
		    regexec(&o->colsep, s + at, 1, &m, REG_NOTBOL)))
			break;
		push_trimmed(a, cap, s + off, at - off + (size_t)m.rm_so);
		off = at + (size_t)m.rm_eo;
	}
	push_trimmed(a, cap, s + off, l - off);
	free(s);
}

/* -L: the items that end in white space and the one after, as one, the
 * delimiters between them taken out (in the buffer). */
static int item_joined(struct input *in, const char **p, size_t *l)
{
	char *b = in->buf + in->start, *end = in->buf + in->len, *e = b, *d;
	char delim = in->o->delim, last = 0;
	size_t out = 0;

	/* As GNU's: the item so far ends in white space (an empty line
	 * after it changes nothing): it goes on. */
	for (;; e = d + 1) {
		d = memchr(e, delim, (size_t)(end - e));
		if (!d && !in->eof)
			return 0;
		if (!d && b == end)
			return -1;
		if (d && d > e)
			last = d[-1];
		if (!d || !blank(last))
			break;
		if (d + 1 == end && !in->eof)	/* what goes on is to come */
			return 0;
		if (d + 1 == end)
			break;
	}
	for (char *q = b; q < (d ? d : end); q++)
		if (*q != delim)
			b[out++] = *q;
	*p = b;
	*l = out;
	in->start = d ? (size_t)(d + 1 - in->buf) : in->len;
	return 1;
}

/* The next item of stdin: 1, 0 (need more), -1 (end). */
static int item_any(struct input *in, const char **p, size_t *l)
{
	char *b = in->buf + in->start, *e;
	size_t n = in->len - in->start;

	if (in->o->join)
		return item_joined(in, p, l);

	if ((e = memchr(b, in->o->delim, n))) {
		*p = b;
		*l = (size_t)(e - b);
		in->start += *l + 1;
		return 1;
	}
	if (!in->eof)
		return 0;
	if (!n)
		return -1;
	*p = b;
	*l = n;
	in->start = in->len;
	return 1;
}

/* The same, -r's blank ones skipped. */
static int item(struct input *in, const char **p, size_t *l)
{
	int r;

	while ((r = item_any(in, p, l)) == 1 && in->o->noempty &&
	       all_blank(*p, *l))
		;
	return r;
}

/* With -n N, a job waits for N items (-r: not blank) or the end. */
static bool have(struct input *in, long want)
{
	const char *b = in->buf + in->start, *e = b + (in->len - in->start);

	if (in->eof)
		return true;
	while (want > 0) {
		const char *d = memchr(b, in->o->delim, (size_t)(e - b));

		if (!d)
			return false;
		if (!in->o->noempty || !all_blank(b, (size_t)(d - b)))
			want--;
		b = d + 1;
	}
	return true;
}

static int next_stream(struct input *in, struct args *a, int *cap)
{
	long want = in->o->nargs ? in->o->nargs : 1;
	const char *p;
	size_t l;
	int r;

	if (!have(in, want))
		return 0;
	while (want-- > 0 && (r = item(in, &p, &l)) == 1)
		add(in, a, cap, p, l);
	return a->n ? 1 : -1;
}

/* One record of the sources: a value of each, the odometer moved on. */
static void step_loaded(struct input *in, struct args *a, int *cap)
{
	int i;

	for (i = 0; i < in->nsrc; i++) {
		struct src *s = &in->src[i];
		size_t k = in->idx[in->group[i]];

		add(in, a, cap, s->v[k], strlen(s->v[k]));
		/* Made \0 as it was read; warned of once, at its first job,
		 * as GNU parallel, which changes the value itself. */
		if (s->nul && s->nul[k]) {
			s->nul[k] = false;
			in->nuls++;
		}
	}
	for (i = in->ngroup - 1; i >= 0; i--) {
		if (++in->idx[i] < in->glen[i])
			break;
		in->idx[i] = 0;
	}
	in->end = i < 0;
}

static int next_loaded(struct input *in, struct args *a, int *cap)
{
	long want = in->o->nargs ? in->o->nargs : 1;

	while (want-- > 0 && !in->end)
		step_loaded(in, a, cap);
	return a->n ? 1 : -1;
}

/* The next record, taken back ones first: 1, 0 (need more), -1 (end). */
static int next_record(struct input *in, struct args *r)
{
	struct fill *f = &in->f;
	int cap = 4, got = 1;
	const char *p;
	size_t l;

	if (f->head < f->nq) {
		*r = f->q[f->head++];
		return 1;
	}
	if (in->fd < 0 ? in->end : (got = item(in, &p, &l)) != 1)
		return in->fd < 0 ? -1 : got;
	r->n = 0;
	r->v = run_alloc(sizeof(*r->v) * (size_t)cap);
	if (in->fd < 0)
		step_loaded(in, r, &cap);
	else
		add(in, r, &cap, p, l);
	f->nread++;
	return 1;
}

/* r back, before every other record. */
static void unget(struct fill *f, struct args *r)
{
	if (f->head) {
		f->q[--f->head] = *r;
		return;
	}
	if (f->nq == f->qcap)
		f->q = run_realloc(f->q, sizeof(*f->q) *
				   (size_t)(f->qcap = f->qcap ? f->qcap * 2 : 16));
	memmove(f->q + 1, f->q, sizeof(*f->q) * (size_t)f->nq);
	f->q[0] = *r;
	f->nq++;
}

/* No record left: 1; some: 0; not known before more of stdin: -1. */
static int drained(struct input *in)
{
	if (in->f.head < in->f.nq)
		return 0;
	if (in->fd < 0)
		return in->end;
	if (memchr(in->buf + in->start, in->o->delim, in->len - in->start))
		return 0;
	return in->eof ? in->start == in->len : -1;
}

/* As GNU parallel: the error, and no more jobs (it kills those running,
 * the caller's part). */
static void too_long(struct fill *f, const struct args *r, size_t len)
{
	char what[200];
	int n = 0;

	/* As GNU parallel's message: the input's first 50 bytes. */
	for (int i = 0; i < r->n && n < 51; i++)
		n += snprintf(what + 100 + n, 52 - (size_t)n, "%s%s",
			      i ? " " : "", r->v[i]);
	snprintf(what, 100, "command line too long (%zu >= %zu) at input %ld",
		 len, f->limit, f->nread - 1);
	out_flush();	/* after what the jobs before it printed */
	fprintf(stderr, PROG ": %s: %.50s%s\n", what, what + 100,
		n > 50 ? "..." : "");
}

/* GNU parallel's CommandLine::populate: records while the line's
 * estimated length stays under the limit and the job has fewer than
 * -n; with -X and -m, when the input has ended, the last line's
 * records are spread over the -j slots (and no job then takes more). */
static int next_fill(struct input *in, struct args *a)
{
	struct fill *f = &in->f;
	int got, cap;

	while (!f->full && (!f->max || f->nrec < f->max)) {
		struct args r;
		size_t w, len;
		long cols;

		if ((got = next_record(in, &r)) == 0)
			return 0;
		if (got < 0)
			break;
		w = cmd_len_record(in->o, r.v, r.n, f->seq + 1);
		cols = f->nrec ? f->rec[0].n : r.n;
		len = cmd_len_line(in->o, (f->nrec + 1) * cols, f->weight + w);
		if (len >= f->limit) {
			if (!f->nrec) {
				too_long(f, &r, len);
				args_free(&r);
				in->failed = true;
				return -2;
			}
			unget(f, &r);
			f->full = true;
			break;
		}
		if (f->nrec == f->cap)
			f->rec = run_realloc(f->rec, sizeof(*f->rec) *
					     (size_t)(f->cap = f->cap ? f->cap * 2 : 16));
		f->rec[f->nrec++] = r;
		f->weight += w;
	}
	if (!f->nrec)
		return -1;
	if (in->o->spread && !f->spread && (got = drained(in)) != 0) {
		if (got < 0)
			return 0;
		f->spread = true;
		if (f->nrec > 1) {
			long jobs = in->o->jobs > 0 ? in->o->jobs : 1;

			f->max = (f->nrec + jobs - 1) / jobs;
			while (f->nrec > f->max)
				unget(f, &f->rec[--f->nrec]);
		}
	}
	cap = 0;
	for (int i = 0; i < f->nrec; i++)
		cap += f->rec[i].n;
	a->v = run_realloc(a->v, sizeof(*a->v) * (size_t)(cap ? cap : 1));
	for (int i = 0; i < f->nrec; i++) {
		memcpy(a->v + a->n, f->rec[i].v,
		       sizeof(*a->v) * (size_t)f->rec[i].n);
		a->n += f->rec[i].n;
		free(f->rec[i].v);
	}
	a->width = f->rec[0].n;
	if (f->head == f->nq)
		f->head = f->nq = 0;
	f->nrec = 0;
	f->weight = 0;
	f->full = false;
	f->seq++;
	return 1;
}

int input_next(struct input *in, struct args *a)
{
	long nuls = in->nuls;
	int cap = 4, r;

	a->n = a->width = 0;
	a->v = NULL;
	if (in->failed)
		return -2;
	a->v = run_alloc(sizeof(*a->v) * (size_t)cap);
	r = in->by_len ? next_fill(in, a) :
	    in->fd >= 0 ? next_stream(in, a, &cap) : next_loaded(in, a, &cap);
	if (r == 1 && in->nuls != nuls) {	/* GNU parallel's words */
		run_warn("Warning: A NUL character in the input was replaced with \\0.", 0);
		run_warn("Warning: NUL cannot be passed through in the argument list.", 0);
		run_warn("Warning: Did you mean to use the --null option?", 0);
	}
	if (r != 1) {
		args_free(a);
	} else if (in->o->noargs) {
		/* -n 0: the input is used up, the job gets none of it
		 * (but how many values it had, for {}). */
		for (int i = 0; i < a->n; i++)
			free(a->v[i]);
		a->width = a->n;
		a->n = 0;
	}
	return r;
}

void args_free(struct args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}
