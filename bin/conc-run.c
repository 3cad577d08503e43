/* conc-run — run jobs in parallel, GNU parallel's syntax in one small
 * binary over libconc (see conc-run(1)). The parts are in bin/run/. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "run/run.h"

void run_warn(const char *what, int err)
{
	if (err)
		fprintf(stderr, PROG ": %s: %s\n", what, strerror(-err));
	else
		fprintf(stderr, PROG ": %s\n", what);
}

_Noreturn void run_die(const char *what, int err)
{
	run_warn(what, err);
	exit(RUN_EXIT_ERROR);
}

void *run_realloc(void *p, size_t n)
{
	if (!(p = realloc(p, n ? n : 1)))
		run_die("out of memory", 0);
	return p;
}

void *run_alloc(size_t n)
{
	return run_realloc(NULL, n);
}

char *run_strdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(run_alloc(n), s, n);
}

/* A closed 0, 1 or 2 would be taken by the next fd we open: hold each
 * with /dev/null read-only, so a write there still fails (EBADF). */
static void std_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDONLY) != fd)
			exit(RUN_EXIT_ERROR);
}

int main(int argc, char **argv)
{
	struct opts o;

	std_fds();
	opts_parse(&o, argc, argv);
	return run_loop(&o);
}
