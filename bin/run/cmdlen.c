/* Where -X, -m, --xargs and -n N cut the inputs into jobs: GNU parallel
 * adds records to a command line while its estimate of the line's
 * length (CommandLine::len, not the length of the line it then builds)
 * stays under its usable length. The same estimate, so that the jobs
 * get the same arguments as there. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "run.h"

extern char **environ;

/* A replacement string and how often the command (or a template) has
 * it: GNU's %replacecount. */
struct key {
	int col, mod;
	long count;
};

static struct {
	struct key *k;
	int nk;
	size_t base;		/* text outside the context groups, and the
				 * spaces between the command's words */
	size_t context;		/* text inside them, without the strings */
	size_t groups;		/* words (apart by white space) with one */
	long count;		/* replacement strings in all */
} L;

static struct key *key(int col, int mod)
{
	for (int i = 0; i < L.nk; i++)
		if (L.k[i].col == col && L.k[i].mod == mod)
			return &L.k[i];
	L.k = run_realloc(L.k, sizeof(*L.k) * (size_t)(L.nk + 1));
	L.k[L.nk] = (struct key){ col, mod, 0 };
	return &L.k[L.nk++];
}

static bool space(char c)
{
	return c && strchr(" \t\n\r\f\v", c);	/* perl's \s */
}

/* One word of the command: its strings counted, its groups measured. */
static bool scan_word(const char *w)
{
	bool any = false;

	while (*w) {
		const char *e = w;
		size_t text = 0;
		bool has = false;

		if (space(*w)) {
			L.base++;
			w++;
			continue;
		}
		while (*e && !space(*e)) {
			int col, mod;
			size_t n = cmd_rpl(e, &col, &mod);

			if (n) {
				key(col, mod)->count++;
				has = true;
				e += n;
			} else {
				text++;
				e++;
			}
		}
		if (has) {
			L.context += text;
			L.groups++;
		} else {
			L.base += text;
		}
		any |= has;
		w = e;
	}
	return any;
}

/* A template of another option: its strings count once if the command
 * lacks them (GNU's "||= 1"). */
static void scan_tmpl(const char *w)
{
	for (; w && *w; w++) {
		int col, mod;
		size_t n = cmd_rpl(w, &col, &mod);

		if (n) {
			struct key *k = key(col, mod);

			if (!k->count)
				k->count = 1;
			w += n - 1;
		}
	}
}

void cmd_len_init(const struct opts *o)
{
	bool any = false;

	for (int i = 0; i < o->ncmd; i++)
		any |= scan_word(o->cmd[i]);
	L.base += o->ncmd > 1 ? (size_t)(o->ncmd - 1) : 0;
	/* --tag is --tagstring {} there. */
	scan_tmpl(o->tagstr ? o->tagstr : o->tag ? "{}" : NULL);
	for (int i = 0; i < o->ntf; i++)
		scan_tmpl(o->tf[i]);
	for (int i = 0; i < o->nret; i++)
		scan_tmpl(o->ret[i]);
	if (o->bar)	/* GNU computes {} for its bar */
		scan_tmpl("{}");
	/* No string: GNU appends a word {} (no command: the command is
	 * {}), so one more group and, after a command, a space; and
	 * counts that {} on top of the templates' (its second pass does
	 * not start its counts again). */
	if (!any) {
		key(-1, 0)->count++;
		L.groups++;
		L.base += o->ncmd > 0;
	}
	for (int i = 0; i < L.nk; i++)
		L.count += L.k[i].count;
}

static size_t digits(long v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* What one record (its n values) adds: GNU's CommandLine::push. */
size_t cmd_len_record(const struct opts *o, char **v, int n, long seq)
{
	size_t w = 0;

	for (int i = 0; i < L.nk; i++) {
		const struct key *k = &L.k[i];
		size_t l = 0;

		if (k->col == CMD_COL_SEQ) {
			l = n ? digits(seq) : 0;
		} else if (k->col == CMD_COL_SLOT) {
			l = n ? 1 : 0;	/* GNU's first free slot, 1 here */
		} else if (k->col == -1) {
			for (int j = 0; j < n; j++)
				l += cmd_value_len(v[j], k->mod,
						   o->quote || o->rawcmd);
		} else {
			int c = k->col <= CMD_COL_END ? n - (CMD_COL_END - k->col)
						      : k->col;

			if (c >= 0 && c < n)
				l = cmd_value_len(v[c], k->mod,
						  o->quote || o->rawcmd);
		}
		w += l * (size_t)k->count;
	}
	return w;
}

size_t cmd_len_line(const struct opts *o, long recargs, size_t weight)
{
	size_t len = L.base + weight;

	if (o->ctx)	/* the groups once per argument, apart by spaces */
		len += (size_t)recargs * L.context +
		       (size_t)(recargs - 1) * L.groups;
	else
		len += L.context + (size_t)(recargs - 1) * (size_t)L.count;
	if (o->quote)	/* GNU's pessimism for -q */
		len *= 3;
	if (o->nlogin)	/* and for other hosts (base64) */
		len = len * 4 / 3;
	return len;
}

/* GNU's Limits::Command::find_max for one-byte arguments, with the
 * kernel's answer known: a line fits when it is at most lim long. */
static size_t find_max(size_t lim)
{
	size_t len = 324, lower, upper;

	do {
		lower = len;
		len *= 16;
	} while (len <= lim);
	lower = len / 16;
	upper = len;
	while (lower != upper && lower != upper - 1 &&
	       (double)lower / (double)upper <= 0.99) {
		size_t mid = (upper - lower) / 2 + lower;

		if (mid <= lim)
			lower = mid;
		else
			upper = mid;
	}
	return lower;
}

size_t cmd_len_max(void)
{
	/* GNU runs "/usr/bin/echo ccc...": one argument, at most
	 * MAX_ARG_STRLEN (32 pages) with its NUL; and all of them and the
	 * environment within ARG_MAX. */
	size_t lim = 32 * 4096 - 1 + 14, env = 0, len;
	long argmax = sysconf(_SC_ARG_MAX);

	for (char **e = environ; *e; e++)
		env += strlen(*e) + 1 + sizeof(*e);
	if (argmax > 0 && (size_t)argmax > env + 64 &&
	    (size_t)argmax - env - 64 < lim)
		lim = (size_t)argmax - env - 64;
	len = find_max(lim);
	/* Less 3000 for its wrapping, halved for its hex encoding. */
	return len > 3002 ? (len - 3000) / 2 : 1;
}
