/*
 * The candidate paths of a spawn, built in the parent: the spawned child
 * shares our memory and our malloc, so it must find everything ready.
 * PATH is read from the caller's environment, as execvp(3) does, not from
 * the envp given to the program; when unset, "/bin:/usr/bin" as in glibc.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "proc_impl.h"

int __conc_spawn_paths(const char *path, char ***out)
{
	const char *dirs, *d, *end;
	size_t len = strlen(path), n = 1, size;
	char **v, *s;

	if (len == 0)
		return -ENOENT;
	if (strchr(path, '/')) {
		dirs = NULL;
	} else {
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		dirs = getenv("PATH");
		if (!dirs)
			dirs = "/bin:/usr/bin";
		for (d = dirs; *d; d++)
			n += *d == ':';
	}
	/* n pointers and a NULL, then the strings: each directory, '/' and
	 * the name, or the path alone. */
	size = (n + 1) * sizeof(char *) + (dirs ? strlen(dirs) : 0) +
	       n * (len + 2);
	if (!(v = malloc(size)))
		return -ENOMEM;
	s = (char *)(v + n + 1);
	if (!dirs) {
		v[0] = memcpy(s, path, len + 1);
		v[1] = NULL;
		*out = v;
		return 0;
	}
	for (n = 0, d = dirs;; d = end + 1) {
		end = strchrnul(d, ':');
		v[n++] = s;
		/* An empty entry is the current directory. */
		if (end > d) {
			memcpy(s, d, (size_t)(end - d));
			s += end - d;
			*s++ = '/';
		}
		memcpy(s, path, len + 1);
		s += len + 1;
		if (!*end)
			break;
	}
	v[n] = NULL;
	*out = v;
	return 0;
}
