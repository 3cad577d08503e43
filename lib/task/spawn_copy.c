/*
 * What a spawned child reads, copied into one block of ours before the
 * clone. The child runs beside its caller until it has exec'd, and the
 * caller may be a coroutine on a shared stack: while it waits, its locals
 * (an argv array, a path in a file action) are copied elsewhere and other
 * tasks write over them. The child must find everything in memory that
 * stays put, and so must the tid word the kernel clears for us.
 */
#include <stdlib.h>
#include <string.h>
#include "spawn.h"

/* The entries of a NULL-terminated vector, and the bytes of its strings. */
static size_t count(char *const v[], size_t *n)
{
	size_t bytes = 0;

	for (*n = 0; v[*n]; (*n)++)
		bytes += strlen(v[*n]) + 1;
	return bytes;
}

static char *put_str(char **s, const char *src)
{
	size_t n = strlen(src) + 1;
	char *d = memcpy(*s, src, n);

	*s += n;
	return d;
}

static void put_vec(char **dst, char *const src[], size_t n, char **s)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = put_str(s, src[i]);
	dst[n] = NULL;
}

struct spawn_ctx *__conc_spawn_copy(char *const argv[], char *const envp[],
				    const conc_proc_attr *attr)
{
	size_t nargv, nenvp, i, nops = attr->nfileops;
	size_t bytes = count(argv, &nargv) + count(envp, &nenvp);
	struct spawn_ctx *c;
	conc_proc_attr *a;
	conc_fileop *ops;
	char **vec, *s;

	bytes += attr->cwd ? strlen(attr->cwd) + 1 : 0;
	for (i = 0; i < nops; i++)
		if (attr->fileops[i].op == CONC_FILE_OPEN)
			bytes += strlen(attr->fileops[i].path) + 1;
	/* Every part's size is a multiple of the pointer's alignment, so
	 * each stays aligned behind the one before. */
	c = malloc(sizeof(*c) + sizeof(*a) + nops * sizeof(*ops) +
		   (nargv + nenvp + 2) * sizeof(char *) + bytes);
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	a = (conc_proc_attr *)(c + 1);
	ops = (conc_fileop *)(a + 1);
	vec = (char **)(ops + nops);
	s = (char *)(vec + nargv + nenvp + 2);
	*a = *attr;
	a->name = NULL;
	a->fileops = nops ? ops : NULL;
	if (attr->cwd)
		a->cwd = put_str(&s, attr->cwd);
	for (i = 0; i < nops; i++) {
		ops[i] = attr->fileops[i];
		if (ops[i].op == CONC_FILE_OPEN)
			ops[i].path = put_str(&s, ops[i].path);
	}
	put_vec(vec, argv, nargv, &s);
	put_vec(vec + nargv + 1, envp, nenvp, &s);
	c->argv = vec;
	c->envp = vec + nargv + 1;
	c->attr = a;
	return c;
}
