/* --results DIR: each job's stdout, stderr and seq in files of a
 * directory named after its arguments, as GNU parallel's: DIR/1/a/2/c/
 * for the values a and c of sources 1 and 2 (every record of the job in
 * turn with -n), a value's '\\', tab and '/' written \\\\, \\t and \\_.
 * The job writes into the files itself: nothing of it is printed. Only
 * called when the option is given. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "run.h"

struct path {
	char *p;
	size_t len, cap;
};

static void put(struct path *s, const char *p, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		s->cap = (s->len + n + 1) * 2;
		s->p = run_realloc(s->p, s->cap);
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = 0;
}

/* Set once a name was too long: values cut to this many bytes. */
static size_t max_name;

static void put_value(struct path *s, const char *v)
{
	size_t start = s->len;

	for (; *v; v++) {
		if (*v == '\\')
			put(s, "\\\\", 2);
		else if (*v == '\t')
			put(s, "\\t", 2);
		else if (*v == '/')
			put(s, "\\_", 2);
		else
			put(s, v, 1);
	}
	if (max_name && s->len - start > max_name) {
		s->len = start + max_name;
		s->p[s->len] = 0;
	}
}

/* DIR/1/a/2/c/ : the job's directory, a '/' at its end. */
static char *job_dir(const struct opts *o, const struct args *a,
		     size_t *len)
{
	struct path s = { 0 };
	int w = a->width > 0 && a->width <= a->n ? a->width : a->n;
	char num[24];

	put(&s, o->results, strlen(o->results));
	put(&s, "/", 1);
	/* -n 0: GNU parallel's value for none, "\0noarg", escaped. */
	if (o->noargs)
		put(&s, "1/\\0noarg/", 10);
	/* --pipe: no values (a chunk's {} is ''), DIR/ itself. */
	for (int i = 0; !o->pipe && i < a->n; i++) {
		int k = snprintf(num, sizeof(num), "%d/", i % w + 1);

		put(&s, num, (size_t)k);
		put_value(&s, a->v[i]);
		put(&s, "/", 1);
	}
	*len = s.len;
	return s.p;
}

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir -p, mode 0777 & ~umask: 0, or the errno of the first directory
 * that cannot be made (its name left in p, cut there). */
static int make_dirs(char *p, size_t len)
{
	if (mkdir(p, 0777) == 0 || is_dir(p))
		return 0;
	for (size_t i = 1; i <= len; i++) {
		char c = p[i];

		if (c != '/' && c != 0)
			continue;
		p[i] = 0;
		if (!is_dir(p) && mkdir(p, 0777) < 0 && !is_dir(p))
			return errno;
		p[i] = c;
	}
	return 0;
}

/* GNU parallel's max_file_name_length: the longest name mkdir takes in
 * dir, found by its steps (x16 from 8, then halving to within 5), so the
 * cut is where its is. */
static size_t probe_max_name(const char *dir)
{
	size_t len = 8, lo, hi, dl = strlen(dir);
	char *p = NULL;

	/* d...d of n under dir, in p (realloc'd). */
#define PROBE(n) (p = run_realloc(p, dl + (n) + 2), \
		  memcpy(p, dir, dl), p[dl] = '/', \
		  memset(p + dl + 1, 'd', (n)), p[dl + 1 + (n)] = 0, p)
	do {
		rmdir(PROBE(len));
		len *= 16;
	} while (len < 100000000 && mkdir(PROBE(len), 0777) == 0);
	lo = len / 16;
	hi = len;
	while (hi - lo > 5) {
		size_t t = (lo + hi) / 2;

		if (mkdir(PROBE(t), 0777) == 0) {
			rmdir(p);
			lo = t;
		} else {
			hi = t;
		}
	}
#undef PROBE
	free(p);
	return lo;
}

/* As GNU parallel (perl's die in File::Path): "mkdir DIR: why", and the
 * exit status is its errno. */
static _Noreturn void mkdir_die(const char *p, int e)
{
	char *what = run_alloc(strlen(p) + 8);

	sprintf(what, "mkdir %s", p);
	run_warn(what, -e);
	exit(e & 255 ? e & 255 : RUN_EXIT_ERROR);
}

static int open_file(char *dir, size_t len, const char *name, bool want)
{
	int fd;

	strcpy(dir + len, name);
	fd = open(dir, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		run_die(dir, -errno);	/* GNU parallel: 255 as well */
	if (!want) {
		close(fd);
		fd = -1;
	}
	return fd;
}

char *results_open(const struct opts *o, const struct args *a, long seq,
		   bool dry, int *ofd, int *efd)
{
	char *name = NULL;
	size_t len;
	char *dir = job_dir(o, a, &len), num[24];
	int fd, n, e;

	dir[len - 1] = 0;	/* the '/' at the end, for mkdir */
	if (make_dirs(dir, len - 1)) {
		/* As GNU parallel: a name too long, say; from now on the
		 * values are cut to the longest name, and then it must go. */
		free(dir);
		max_name = probe_max_name(o->results);
		dir = job_dir(o, a, &len);
		dir[len - 1] = 0;
		if ((e = make_dirs(dir, len - 1)))
			mkdir_die(dir, e);
	}
	dir = run_realloc(dir, len + 8);
	dir[len - 1] = '/';
	fd = open_file(dir, len, "seq", true);
	n = snprintf(num, sizeof(num), "%ld", seq);
	if (write(fd, num, (size_t)n) != n)
		run_die(dir, -errno);
	close(fd);
	/* --dry-run: GNU parallel makes seq and an empty stderr, no
	 * stdout. */
	*ofd = dry ? -1 : open_file(dir, len, "stdout", true);
	*efd = open_file(dir, len, "stderr", !dry);
	if (o->res_names) {
		strcpy(dir + len, "stdout\n");
		name = dir;
	} else {
		free(dir);
	}
	return name;
}
