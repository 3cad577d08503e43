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

struct input {
	const struct opts *o;
	struct src *src;	/* loaded */
	int nsrc;
	size_t *idx;		/* the odometer over the groups */
	int *group;		/* per source: its group (linked sources) */
	size_t *glen;		/* per group: its shortest source */
	int ngroup;
	bool end;
	long total;
	/* stdin as it comes (no sources) */
	int fd;
	char *buf;
	size_t start, len, cap;
	bool eof;
};

/* Split a whole file's bytes into items; the last delim ends an item,
 * it does not start an empty one. */
static void split(struct src *s, char *p, size_t n, char delim)
{
	size_t cap = 16;

	s->v = run_alloc(cap * sizeof(*s->v));
	while (n) {
		char *e = memchr(p, delim, n);
		size_t l = e ? (size_t)(e - p) : n;

		if (s->n == cap)
			s->v = run_realloc(s->v, (cap *= 2) * sizeof(*s->v));
		s->v[s->n] = run_alloc(l + 1);
		memcpy(s->v[s->n], p, l);
		s->v[s->n++][l] = 0;
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

struct input *input_open(const struct opts *o)
{
	struct input *in = run_alloc(sizeof(*in));
	long tuples = 1;

	memset(in, 0, sizeof(*in));
	in->o = o;
	in->fd = -1;
	in->total = -1;
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

static void push(struct args *a, int *cap, const char *p, size_t l)
{
	if (a->n == *cap)
		a->v = run_realloc(a->v, sizeof(*a->v) * (size_t)(*cap *= 2));
	a->v[a->n] = run_alloc(l + 1);
	memcpy(a->v[a->n], p, l);
	a->v[a->n++][l] = 0;
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

/* One value: itself, or its columns with --colsep. */
static void add(const struct opts *o, struct args *a, int *cap,
		const char *p, size_t l)
{
	regmatch_t m;
	char *s;
	size_t off = 0;

	if (!o->colsep_set) {
		push(a, cap, p, l);
		return;
	}
	s = run_alloc(l + 1);
	memcpy(s, p, l);
	s[l] = 0;
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

/* The next item of stdin: 1, 0 (need more), -1 (end). */
static int item(struct input *in, const char **p, size_t *l)
{
	char *b = in->buf + in->start, *e;
	size_t n = in->len - in->start;

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

/* With -n N, a job waits for N items or the end. */
static bool have(struct input *in, long want)
{
	const char *b = in->buf + in->start, *e = b + (in->len - in->start);

	if (in->eof)
		return true;
	while (want-- > 0) {
		const char *d = memchr(b, in->o->delim, (size_t)(e - b));

		if (!d)
			return false;
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
		add(in->o, a, cap, p, l);
	return a->n ? 1 : -1;
}

static int next_loaded(struct input *in, struct args *a, int *cap)
{
	long want = in->o->nargs ? in->o->nargs : 1;

	while (want-- > 0 && !in->end) {
		int i;

		for (i = 0; i < in->nsrc; i++) {
			const char *v = in->src[i].v[in->idx[in->group[i]]];

			add(in->o, a, cap, v, strlen(v));
		}
		for (i = in->ngroup - 1; i >= 0; i--) {
			if (++in->idx[i] < in->glen[i])
				break;
			in->idx[i] = 0;
		}
		in->end = i < 0;
	}
	return a->n ? 1 : -1;
}

int input_next(struct input *in, struct args *a)
{
	int cap = 4, r;

	a->n = 0;
	a->v = run_alloc(sizeof(*a->v) * (size_t)cap);
	r = in->fd >= 0 ? next_stream(in, a, &cap) : next_loaded(in, a, &cap);
	if (r != 1) {
		args_free(a);
	} else if (in->o->noargs) {
		/* -n 0: the input is used up, the job gets none of it. */
		for (int i = 0; i < a->n; i++)
			free(a->v[i]);
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
