/* $PARALLEL_SHELL, as GNU parallel: checked once at the start, so that
 * one that is no program is an error before anything runs, not a
 * failure (127) of every job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "run.h"

static bool runnable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

/* A name without a / is looked for on $PATH, as the spawn does. */
static bool found(const char *sh)
{
	const char *path = getenv("PATH"), *p, *e;

	if (strchr(sh, '/'))
		return runnable(sh);
	for (p = path ? path : "/usr/bin:/bin";; p = e + 1) {
		size_t n;
		char *f;
		bool ok;

		e = strchrnul(p, ':');
		n = (size_t)(e - p);
		f = run_alloc(n + strlen(sh) + 3);
		/* An empty entry is the current directory. */
		sprintf(f, "%.*s/%s", n ? (int)n : 1, n ? p : ".", sh);
		ok = runnable(f);
		free(f);
		if (ok)
			return true;
		if (!*e)
			return false;
	}
}

void shell_check(void)
{
	const char *sh = getenv("PARALLEL_SHELL");
	char what[300];

	if (!sh || !*sh || found(sh))
		return;
	snprintf(what, sizeof(what), "shell '%.200s' not found", sh);
	run_die(what, 0);
}
