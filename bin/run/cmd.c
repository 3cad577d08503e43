/* Command lines: replacement strings as GNU parallel's, the arguments
 * quoted for sh so that a value stays one word whatever it holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "run.h"

struct sb {
	char *p;
	size_t n, cap;
};

static void sb_add(struct sb *s, const char *p, size_t n)
{
	if (s->n + n + 1 > s->cap) {
		while (s->n + n + 1 > s->cap)
			s->cap = s->cap ? s->cap * 2 : 64;
		s->p = run_realloc(s->p, s->cap);
	}
	memcpy(s->p + s->n, p, n);
	s->n += n;
	s->p[s->n] = 0;
}

static void sb_str(struct sb *s, const char *p)
{
	sb_add(s, p, strlen(p));
}

/* Safe as they are: what GNU parallel leaves unquoted. */
static bool plain(const char *x)
{
	if (!*x)
		return false;
	for (; *x; x++)
		if (!((*x >= 'a' && *x <= 'z') || (*x >= 'A' && *x <= 'Z') ||
		      (*x >= '0' && *x <= '9') || strchr("-_.+/", *x)))
			return false;
	return true;
}

/* 'x' with each ' as '"'"', and no '' left at either end. */
static void quote(struct sb *s, const char *x)
{
	size_t start = s->n;

	if (plain(x)) {
		sb_str(s, x);
		return;
	}
	if (!*x) {
		sb_str(s, "''");
		return;
	}
	sb_add(s, "'", 1);
	for (; *x; x++)
		if (*x == '\'')
			sb_str(s, "'\"'\"'");
		else
			sb_add(s, x, 1);
	sb_add(s, "'", 1);
	if (s->n - start >= 2 && !memcmp(s->p + start, "''", 2)) {
		memmove(s->p + start, s->p + start + 2, s->n - start - 1);
		s->n -= 2;
	}
	if (s->n - start >= 2 && !memcmp(s->p + s->n - 2, "''", 2)) {
		s->n -= 2;
		s->p[s->n] = 0;
	}
}

char *cmd_quote(const char *x)
{
	struct sb s = { 0 };

	quote(&s, x);
	return s.p;
}

/* The modifiers: 0 none, '.' extension off, '/' basename, 'd' dirname,
 * 'b' basename without extension. */
static void modify(struct sb *s, const char *v, int mod)
{
	const char *slash = strrchr(v, '/'), *b = slash ? slash + 1 : v;
	size_t l = strlen(v);

	switch (mod) {
	case '/':
		sb_str(s, b);
		return;
	case '.':
	case 'b': {
		const char *from = mod == 'b' ? b : v;
		const char *dot = strrchr(b, '.');

		/* s:\.[^/.]*$:: — the dot after the last slash, and the
		 * last dot. */
		sb_add(s, from, dot ? (size_t)(dot - from) : strlen(from));
		return;
	}
	case 'd':
		/* dirname(3): trailing slashes off, then the last part. */
		while (l > 1 && v[l - 1] == '/')
			l--;
		while (l && v[l - 1] != '/')
			l--;
		if (!l) {
			sb_str(s, ".");
			return;
		}
		while (l > 1 && v[l - 1] == '/')
			l--;
		sb_add(s, v, l);
		return;
	}
	sb_str(s, v);
}

/* -n 0: the job has no argument, but a record's width of values, each
 * '' put in unquoted, as GNU parallel's (so {//} of one is '.'): col
 * -1 all of them apart by spaces (-q: brk gets where the next starts),
 * else the col-th (past the width: nothing). */
static void no_value(struct sb *s, const struct args *a, int col, int mod,
		     struct sb *brk)
{
	for (int i = col < 0 ? 0 : col; i < a->width; i++) {
		if (i > (col < 0 ? 0 : col) && brk)
			sb_add(brk, (char *)&s->n, sizeof(s->n));
		else if (i > (col < 0 ? 0 : col))
			sb_add(s, " ", 1);
		modify(s, "", mod);
		if (col >= 0)
			break;
	}
}

/* One value (or all, col < 0), modified, quoted unless raw. With brk
 * (-q), all of them are words of their own, as GNU parallel's: where
 * the next one starts goes in brk instead of a space. */
static void value(struct sb *s, const struct args *a, int col, int mod,
		  bool raw, struct sb *brk)
{
	if (!a->n && a->width) {
		no_value(s, a, col, mod, brk);
		return;
	}
	for (int i = col < 0 ? 0 : col; i < a->n; i++) {
		struct sb t = { 0 };

		if (i > (col < 0 ? 0 : col) && brk)
			sb_add(brk, (char *)&s->n, sizeof(s->n));
		else if (i > (col < 0 ? 0 : col))
			sb_add(s, " ", 1);
		sb_str(&t, "");
		modify(&t, a->v[i], mod);
		if (raw)
			sb_str(s, t.p);
		else
			quote(s, t.p);
		free(t.p);
		if (col >= 0)
			break;
	}
	/* A column the job lacks (the last job of -n, a short --colsep
	 * line) is nothing, not '': as GNU parallel. */
}

/* At p (a '{'), a replacement string? Its length, *col (-1: all,
 * -2: {#}, -3: {%}, COL_END - n: {-n}), *mod. */
#define COL_END CMD_COL_END
static size_t brace_rpl(const char *p, int *col, int *mod)
{
	const char *q = p + 1;
	long n = -1;
	bool end = *q == '-' && q[1] >= '1' && q[1] <= '9';

	if (!strncmp(q, "#}", 2) || !strncmp(q, "%}", 2)) {
		*col = *q == '#' ? -2 : -3;
		*mod = 0;
		return 3;
	}
	q += end;
	/* {0}: all of them, as {} (GNU parallel's). */
	if (!end && *q == '0' && q[1] && strchr("}./", q[1])) {
		q++;
	} else if (*q >= '1' && *q <= '9') {
		n = 0;
		while (*q >= '0' && *q <= '9' && n < 1000000)
			n = n * 10 + (*q++ - '0');
	}
	*col = n < 0 ? -1 : end ? COL_END - (int)n : (int)(n - 1);
	if (*q == '}')
		*mod = 0;
	else if (!strncmp(q, ".}", 2))
		*mod = '.';
	else if (!strncmp(q, "/}", 2))
		*mod = '/';
	else if (!strncmp(q, "//}", 3))
		*mod = 'd';
	else if (!strncmp(q, "/.}", 3))
		*mod = 'b';
	else
		return 0;
	return (size_t)(strchr(q, '}') - p) + 1;
}

/* -I STR: GNU parallel renames {} to STR, so {} and the strings made
 * from its entry ({N}, {-N}, {0}: no modifier) are text; at a place
 * where both match, the longer wins (GNU's are put longest first).
 * --er STR the same for {.} (and {N.}, {-N.}, {0.}). */
const char *cmd_replace, *cmd_extreplace;

/* At p, the string s renamed (mod: the entry it stands for)? */
static size_t renamed(const char *p, const char *s, int m, size_t l,
		      int *col, int *mod)
{
	size_t il = strlen(s);

	if (strncmp(p, s, il) || l > il)
		return l;
	*col = -1;
	*mod = m;
	return il;
}

static size_t rpl(const char *p, int *col, int *mod)
{
	size_t l = *p == '{' ? brace_rpl(p, col, mod) : 0;

	if (!cmd_replace && !cmd_extreplace)
		return l;
	if (l && cmd_replace && !*mod && *col != -2 && *col != -3)
		l = 0;
	if (l && cmd_extreplace && *mod == '.')
		l = 0;
	if (cmd_replace)
		l = renamed(p, cmd_replace, 0, l, col, mod);
	if (cmd_extreplace)
		l = renamed(p, cmd_extreplace, '.', l, col, mod);
	return l;
}

static const char *first(const char *a, const char *b)
{
	return !a || (b && b < a) ? b : a;
}

/* Where the next replacement string may start in [w, end): a '{', or
 * with -I or --er, their strings too. */
static const char *next_rpl(const char *w, const char *end)
{
	const char *b = memchr(w, '{', (size_t)(end - w));
	size_t n = (size_t)(end - w);

	if (cmd_replace)
		b = first(b, memmem(w, n, cmd_replace, strlen(cmd_replace)));
	if (cmd_extreplace)
		b = first(b, memmem(w, n, cmd_extreplace,
				    strlen(cmd_extreplace)));
	return b;
}

/* w (its first len bytes) with its replacement strings expanded; {}
 * and the like are argument one (-1: all of them, -2: none); *found: it
 * had one; brk as value's. */
static void expand_n(struct sb *s, const char *w, size_t len,
		     const struct args *a, long seq, int slot, bool raw,
		     int one, bool *found, struct sb *brk)
{
	const char *end = w + len;

	while (w < end) {
		const char *br = next_rpl(w, end);
		size_t l;
		int col, mod;

		if (!br) {
			sb_add(s, w, (size_t)(end - w));
			return;
		}
		sb_add(s, w, (size_t)(br - w));
		if (!(l = rpl(br, &col, &mod))) {
			sb_add(s, br, 1);
			w = br + 1;
			continue;
		}
		*found = true;
		if (col == -2 || col == -3) {
			char num[24];

			snprintf(num, sizeof(num), "%ld", col == -2 ? seq : (long)slot);
			sb_str(s, num);
		} else if (col <= COL_END) {
			/* {-n}: the job's n-th argument from its last; past
			 * the first, perl's negative index as GNU parallel's
			 * (the count added once more), else nothing. */
			int n = a->n ? a->n : a->width;	/* -n 0: '' each */
			int i = n - (COL_END - col);

			if (i < 0)
				i += n;
			if (i >= 0)
				value(s, a, i, mod, raw, NULL);
		} else {
			value(s, a, col < 0 ? one : col, mod, raw, brk);
		}
		w = br + l;
	}
}

size_t cmd_rpl(const char *p, int *col, int *mod)
{
	return rpl(p, col, mod);
}

size_t cmd_value_len(const char *v, int mod, bool raw)
{
	struct sb t = { 0 }, q = { 0 };
	size_t n;

	sb_str(&t, "");
	modify(&t, v, mod);
	n = t.n;
	if (!raw) {
		sb_str(&q, "");
		quote(&q, t.p);
		n = q.n;
		free(q.p);
	}
	free(t.p);
	return n;
}

static void expand(struct sb *s, const char *w, const struct args *a,
		   long seq, int slot, bool raw, bool *found, struct sb *brk)
{
	expand_n(s, w, strlen(w), a, seq, slot, raw, -1, found, brk);
}

/* A group (l bytes at g) has {} or another replacement string of all
 * the arguments (not {2}, {-1}, {#}, {%})? */
static bool of_all(const char *g, size_t l)
{
	for (const char *e = g + l, *b; (b = next_rpl(g, e));
	     g = b + 1) {
		int col, mod;
		size_t n = rpl(b, &col, &mod);

		if (n && b + n <= e && col == -1)
			return true;
	}
	return false;
}

/* -N, -X, -L: GNU parallel's context replace. In w, each group (apart by
 * spaces or tabs) with a replacement string of all the arguments is put
 * once per argument, the copies apart by a space (-q: brk gets where a
 * new word starts); in a copy {} is that argument. Other groups are put
 * once. */
static void expand_ctx(struct sb *s, const char *w, const struct args *a,
		       long seq, int slot, bool raw, bool *found,
		       struct sb *brk)
{
	while (*w) {
		/* As GNU's: a space ends a group; a tab ends one and starts
		 * the next (a copy of that one begins with it). */
		size_t l = *w == '\t';

		if (*w == ' ') {
			sb_add(s, w++, 1);
			continue;
		}
		l += strcspn(w + l, " \t");
		if (!of_all(w, l)) {
			expand_n(s, w, l, a, seq, slot, raw, -1, found, NULL);
		} else {
			/* -n 0: a copy per value of the record, each empty. */
			int n = a->n ? a->n : a->width > 1 ? a->width : 1;

			for (int i = 0; i < n; i++) {
				if (i && brk)
					sb_add(brk, (char *)&s->n, sizeof(s->n));
				else if (i)
					sb_add(s, " ", 1);
				/* No argument (-N 0): {} is nothing. */
				expand_n(s, w, l, a, seq, slot, raw,
					 a->n || a->width ? i : -2, found,
					 NULL);
			}
		}
		w += l;
	}
}

/* One word of the command, in context (-N, -X, -L) or not. */
static void word(struct sb *s, const struct opts *o, const char *w,
		 const struct args *a, long seq, int slot, bool raw,
		 bool *found, struct sb *brk)
{
	if (o->ctx)
		expand_ctx(s, w, a, seq, slot, raw, found, brk);
	else
		expand(s, w, a, seq, slot, raw, found, brk);
}

static char *shell_line(const struct opts *o, const struct args *a,
			long seq, int slot)
{
	struct sb s = { 0 };
	bool found = false;

	sb_str(&s, "");
	if (!o->ncmd) {
		/* No command: the arguments are the commands. */
		value(&s, a, -1, 0, true, NULL);
		return s.p;
	}
	for (int i = 0; i < o->ncmd; i++) {
		if (i)
			sb_add(&s, " ", 1);
		word(&s, o, o->cmd[i], a, seq, slot, o->rawcmd, &found, NULL);
	}
	/* -n 0: "cmd ", as GNU's; --pipe: the chunk's '' is not put. */
	if (!found && (a->n || o->noargs) && !o->pipe) {
		sb_add(&s, " ", 1);
		value(&s, a, -1, 0, false, NULL);
	}
	return s.p;
}

static void push_arg(char ***argv, int *k, char *w)
{
	*argv = run_realloc(*argv, sizeof(**argv) * (size_t)(*k + 2));
	(*argv)[(*k)++] = w;
}

/* -q: each word one argument, values put in unquoted (in context, a
 * group's copies are words of their own, as GNU parallel's). */
static char *argv_line(const struct opts *o, const struct args *a,
		       long seq, int slot, char ***argvp)
{
	char **argv = NULL;
	int k = 0;
	bool found = false;
	struct sb line = { 0 };

	for (int i = 0; i < o->ncmd; i++) {
		struct sb s = { 0 }, brk = { 0 };
		size_t from = 0, nb;
		bool rp = false, drop;

		sb_str(&s, "");
		word(&s, o, o->cmd[i], a, seq, slot, true, &rp, &brk);
		found |= rp;
		/* -n 0: GNU parallel puts the values in unquoted, so the
		 * shell drops a word they left empty. */
		drop = rp && !a->n && a->width;
		nb = brk.n / sizeof(size_t);
		for (size_t b = 0; b < nb; b++) {
			size_t at;
			char *w;

			memcpy(&at, brk.p + b * sizeof(at), sizeof(at));
			if (at > from || !drop) {
				w = run_alloc(at - from + 1);
				memcpy(w, s.p + from, at - from);
				w[at - from] = 0;
				push_arg(&argv, &k, w);
			}
			from = at;
		}
		if (from)
			memmove(s.p, s.p + from, s.n - from + 1);
		if (s.p[0] || !drop)
			push_arg(&argv, &k, s.p);
		else
			free(s.p);
		free(brk.p);
	}
	if ((!found || !o->ncmd) && !o->pipe)
		for (int i = 0; i < a->n; i++)
			push_arg(&argv, &k, run_strdup(a->v[i]));
	if (!argv)
		argv = run_alloc(sizeof(*argv));
	argv[k] = NULL;
	sb_str(&line, "");
	for (int i = 0; i < k; i++) {
		if (i)
			sb_add(&line, " ", 1);
		quote(&line, argv[i]);
	}
	*argvp = argv;
	return line.p;
}

char *cmd_build(const struct opts *o, const struct args *a, long seq,
		int slot, char ***argv)
{
	*argv = NULL;
	if (o->quote)
		return argv_line(o, a, seq, slot, argv);
	return shell_line(o, a, seq, slot);
}

char *cmd_tag(const struct opts *o, const struct args *a, long seq,
	      int slot)
{
	struct sb s = { 0 };
	bool found = false;

	sb_str(&s, "");
	if (o->tagstr)	/* in context too, as GNU parallel's */
		word(&s, o, o->tagstr, a, seq, slot, true, &found, NULL);
	else
		value(&s, a, -1, 0, true, NULL);
	sb_add(&s, "\t", 1);
	return s.p;
}

char *cmd_expand_raw(const char *tmpl, const struct args *a, long seq,
		     int slot)
{
	struct sb s = { 0 };
	bool found = false;

	sb_str(&s, "");
	expand(&s, tmpl, a, seq, slot, true, &found, NULL);
	return s.p;
}
