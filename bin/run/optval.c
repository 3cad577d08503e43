/* The values of conc-run's options: numbers, -j, times, sizes, C
 * escapes, --halt rules. A bad one ends the run with 255. */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "opts.h"

_Noreturn void opt_bad(const char *what, const char *val)
{
	fprintf(stderr, PROG ": %s: %s\n", what, val);
	fprintf(stderr, PROG ": try '" PROG " --help'\n");
	exit(RUN_EXIT_ERROR);
}

long opt_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

long opt_num(const char *what, const char *s, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min)
		opt_bad(what, s);
	return v;
}

/* -j: N, 0 (as many as can run), P% of the CPUs, +N, -N. */
long opt_jobs(const char *s)
{
	size_t l = strlen(s);
	long c = opt_cpus(), v;

	if (l > 1 && s[l - 1] == '%') {
		char buf[32];

		if (l >= sizeof(buf))
			opt_bad("bad -j", s);
		memcpy(buf, s, l - 1);
		buf[l - 1] = 0;
		v = (long)ceil((double)c * (double)opt_num("bad -j", buf, 0) / 100);
	} else if (*s == '+') {
		return c + opt_num("bad -j", s + 1, 0);
	} else if (*s == '-') {
		v = c - opt_num("bad -j", s + 1, 0);
	} else {
		return opt_num("bad -j", s, 0);
	}
	/* As GNU parallel: 0% or -N of N CPUs is an error, not one job. */
	if (v < 1)
		opt_bad("-j leaves no job to run", s);
	return v;
}

/* Seconds, fractions allowed, s/m/h/d units, several (1m30s). */
int64_t opt_secs(const char *what, const char *s)
{
	const char *p = s;
	double sum = 0;

	/* As GNU parallel: 1.5, 90s, 2m, or parts as 1h2m3s. */
	do {
		char *end;
		double v;

		errno = 0;
		v = strtod(p, &end);
		if (errno || end == p || v < 0 || isnan(v) || *p == '-' ||
		    *p == '+')
			opt_bad(what, s);
		switch (*end) {
		case 's': break;
		case 'm': v *= 60; break;
		case 'h': v *= 3600; break;
		case 'd': v *= 86400; break;
		default:	/* no unit: seconds, for a lone number only */
			if (*end || p != s)
				opt_bad(what, s);
		}
		sum += v;
		p = *end ? end + 1 : end;
	} while (*p);
	if (sum > 1e9)
		sum = 1e9;
	return (int64_t)(sum * 1e9);
}

double opt_pct(const char *what, const char *s)
{
	size_t l = strspn(s, "0123456789.");
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || end != s + l || strcmp(end, "%") || *s == '.')
		opt_bad(what, s);
	return v;
}

size_t opt_size(const char *what, const char *s)
{
	char *end;
	double v, m = 1;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v <= 0)
		opt_bad(what, s);
	/* GNU parallel's suffixes: K M G and ki Ki ... are powers of 1024,
	 * a lone k m g powers of 1000. */
	switch (*end) {
	case 0: case 'b': case 'B': break;
	case 'k': case 'K': m = 1024.0; break;
	case 'm': case 'M': m = 1024.0 * 1024; break;
	case 'g': case 'G': m = 1024.0 * 1024 * 1024; break;
	default: opt_bad(what, s);
	}
	if (*end && end[1] && strcmp(end + 1, "i") && strcmp(end + 1, "B"))
		opt_bad(what, s);
	if (*end >= 'a' && *end <= 'z' && *end != 'b' && end[1] != 'i')
		m = *end == 'k' ? 1e3 : *end == 'm' ? 1e6 : 1e9;
	v *= m;
	if (v < 1 || v > 1024.0 * 1024 * 1024) {
		char w[64];

		snprintf(w, sizeof(w), "%s (1 byte to 1G)", what);
		opt_bad(w, s);
	}
	return (size_t)v;
}

/* C escapes of -d, --colsep and --recend: \n \t \r \xHH, octal \0 \NNN. */
char *opt_unescape(const char *s, size_t *len, bool octal)
{
	/* "\\d" may become "[0-9]": 2.5 times longer. */
	char *r = run_alloc(strlen(s) * 3 + 1), *w = r;
	bool br = false;	/* inside [...] of a regex */
	const char *open = NULL;

	for (; *s; s++) {
		if (!octal && *s == '[' && !br) {
			br = true;
			open = s;
		} else if (!octal && br && *s == '[' && s[1] == ':' &&
			   strstr(s + 2, ":]")) {
			/* [:digit:] inside: its ] does not close. */
			const char *e = strstr(s + 2, ":]") + 2;

			memcpy(w, s, (size_t)(e - s));
			w += e - s;
			s = e - 1;
			continue;
		} else if (!octal && br && *s == ']' && s != open + 1 &&
			   !(s == open + 2 && open[1] == '^')) {
			br = false;
		}
		if (*s != '\\' || !s[1]) {
			*w++ = *s;
			continue;
		}
		/* A regex: perl's \d and \D (GNU parallel's --colsep is a perl
		 * regex; POSIX has \w and \s but no \d). */
		if (!octal && (s[1] == 'd' || s[1] == 'D')) {
			const char *cls = s[1] == 'D' ? "[^0-9]" : br ? "0-9" : "[0-9]";

			if (!(s[1] == 'D' && br)) {
				w = stpcpy(w, cls);
				s++;
				continue;
			}
		}
		switch (*++s) {
		case 'n': *w++ = '\n'; break;
		case 't': *w++ = '\t'; break;
		case 'r': *w++ = '\r'; break;
		case '0': case '1': case '2': case '3':
		case '4': case '5': case '6': case '7': {
			/* \0, \072: octal, as printf(1) and GNU parallel's
			 * -d; in a regex \1 is left alone (a back-reference). */
			unsigned v = (unsigned)(*s - '0');

			if (!octal && *s != '0') {
				*w++ = '\\';
				*w++ = *s;
				break;
			}
			for (int k = 1; k < 3 && s[1] >= '0' && s[1] <= '7'; k++)
				v = v * 8 + (unsigned)(*++s - '0');
			*w++ = (char)v;
			break;
		}
		case 'x': {
			unsigned v = 0;
			int k = 0;

			while (k < 2 && s[1] && strchr("0123456789abcdefABCDEF", s[1])) {
				char c = *++s;

				v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
				k++;
			}
			*w++ = (char)v;
			break;
		}
		default: *w++ = '\\'; *w++ = *s; break;
		}
	}
	*w = 0;
	*len = (size_t)(w - r);
	return r;
}

/* now,fail=1 / soon,success=3 / fail=30% / 0 1 2 (GNU's shorthands). */
/* GNU parallel's --halt: never (0); WHEN,WHY=N or WHEN,WHY=P% with WHEN
 * now or soon (none: now, conc-run's own) and WHY fail, success or done,
 * N and P whole numbers (0: the first such job); its old forms 1, 2
 * (soon, now ,fail=1), -1, -2 (,success=1) and P% (soon,fail=P%). */
void opt_halt(struct halt *h, const char *s)
{
	static const char *const old[][2] = {
		{ "1", "soon,fail=1" }, { "2", "now,fail=1" },
		{ "-1", "soon,success=1" }, { "-2", "now,success=1" },
	};
	const char *p = s, *eq;
	size_t d;

	if (!strcmp(s, "0") || !strcmp(s, "never")) {
		h->when = HALT_NEVER;
		return;
	}
	for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++)
		if (!strcmp(s, old[i][0]))
			p = old[i][1];
	d = strspn(s, "0123456789");
	if (d && s[d] == '%' && !s[d + 1]) {
		h->when = HALT_SOON;
		h->what = HALT_FAIL;
		p = s;
		goto count;
	}
	h->when = HALT_NOW;
	if (!strncmp(p, "now,", 4))
		p += 4;
	else if (!strncmp(p, "soon,", 5)) {
		h->when = HALT_SOON;
		p += 5;
	}
	if (!(eq = strchr(p, '=')))
		opt_bad("bad --halt", s);
	if (!strncmp(p, "fail=", 5))
		h->what = HALT_FAIL;
	else if (!strncmp(p, "success=", 8))
		h->what = HALT_SUCCESS;
	else if (!strncmp(p, "done=", 5))
		h->what = HALT_DONE;
	else
		opt_bad("bad --halt", s);
	p = eq + 1;
count:
	/* As GNU parallel: digits (a percent sign after them), no more. */
	d = strspn(p, "0123456789");
	h->pct = d && p[d] == '%';
	if (!d || d > 9 || p[d + h->pct])
		opt_bad("bad --halt", s);
	h->count = strtod(p, NULL);
	if (h->pct)
		h->count /= 100;
}

/* GNU parallel's unquote_printf, for --tagstring: \t \n \r, \NNN and
 * \N octal; any other backslash stays. */
char *opt_printf(const char *s)
{
	char *r = run_alloc(strlen(s) + 1), *w = r;

	for (; *s; s++) {
		int n = 0;

		if (*s != '\\') {
			*w++ = *s;
			continue;
		}
		if (s[1] == 't' || s[1] == 'n' || s[1] == 'r') {
			s++;
			*w++ = *s == 't' ? '\t' : *s == 'n' ? '\n' : '\r';
			continue;
		}
		while (n < 3 && s[1 + n] >= '0' && s[1 + n] <= '9')
			n++;
		if (n == 2)	/* \NN: \N, then a digit */
			n = 1;
		if (!n) {
			*w++ = *s;
			continue;
		}
		unsigned v = 0;

		for (int k = 1; k <= n && s[k] <= '7'; k++)
			v = v * 8 + (unsigned)(s[k] - '0');
		*w++ = (char)v;
		s += n;
	}
	*w = 0;
	return r;
}
