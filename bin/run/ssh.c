/* Other hosts: ssh is the transport, no daemon of ours. A job on another
 * host is a local sh script: copy its --transferfile files there (ssh and
 * cat, no rsync needed), run the line there with /bin/sh -c, copy the
 * --return files back, remove them there with --cleanup, and exit with
 * the command's status. Paths are taken from the remote login directory;
 * a "/./" in one starts the part used there (as rsync -R). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "run.h"

struct host *hosts_open(const struct opts *o, int *n)
{
	struct host *h = run_alloc(sizeof(*h) * (size_t)(o->nlogin ? o->nlogin : 1));

	*n = 0;
	if (!o->nlogin) {
		h[(*n)++] = (struct host){ run_strdup(":"), NULL, o->jobs };
		return h;
	}
	for (int i = 0; i < o->nlogin; i++) {
		const char *l = o->login[i], *p = l;
		long slots = 0;
		char *q;

		while (isdigit((unsigned char)*p))
			slots = slots * 10 + (*p++ - '0');
		if (p > l && *p == '/' && slots > 0)
			l = p + 1;
		else
			slots = o->jobs;
		h[*n].name = run_strdup(l);
		h[*n].slots = slots;
		h[*n].ssh = NULL;
		if (strcmp(l, ":")) {
			/* A login with a space is an ssh command ending with
			 * the host, as the user wrote it for sh. */
			if (strchr(l, ' ')) {
				h[*n].ssh = run_strdup(l);
			} else {
				q = cmd_quote(l);
				h[*n].ssh = run_alloc(strlen(o->ssh) + strlen(q) + 2);
				strcpy(h[*n].ssh, o->ssh);
				strcat(h[*n].ssh, " ");
				strcat(h[*n].ssh, q);
				free(q);
			}
		}
		(*n)++;
	}
	return h;
}

struct sb {
	char *p;
	size_t n;
};

static void add(struct sb *s, const char *x)
{
	size_t l = strlen(x);

	s->p = run_realloc(s->p, s->n + l + 1);
	memcpy(s->p + s->n, x, l + 1);
	s->n += l;
}

static void addq(struct sb *s, const char *x)
{
	char *q = cmd_quote(x);

	add(s, q);
	free(q);
}

/* ssh, then one word the remote shell reads as cmd. */
static void remote(struct sb *s, const struct host *h, const char *cmd)
{
	add(s, h->ssh);
	add(s, " ");
	addq(s, cmd);
}

/* The path there (from "/./" on) and here (without the "/./"). */
static char *there(const char *path)
{
	const char *d = strstr(path, "/./");

	return run_strdup(d ? d + 3 : path);
}

static char *here(const char *path)
{
	const char *d = strstr(path, "/./");
	char *r = run_strdup(path);

	if (d)
		memmove(r + (d - path), r + (d - path) + 2, strlen(d + 2) + 1);
	return r;
}

static char *dir_of(const char *path)
{
	char *d = run_strdup(path), *sl = strrchr(d, '/');

	if (!sl) {
		free(d);
		return NULL;
	}
	sl[sl == d] = 0;
	return d;
}

/* Remote: mkdir -p DIR && cat > PATH, fed from the local file. */
static void transfer(struct sb *s, const struct host *h, const char *f)
{
	struct sb c = { 0 };
	char *t = there(f), *d = dir_of(t);

	add(&c, "");
	if (d) {
		add(&c, "mkdir -p ");
		addq(&c, d);
		add(&c, " && ");
	}
	add(&c, "cat > ");
	addq(&c, t);
	remote(s, h, c.p);
	add(s, " < ");
	addq(s, f);
	add(s, " && ");
	free(c.p);
	free(t);
	free(d);
}

static void fetch(struct sb *s, const struct host *h, const char *f)
{
	char *t = there(f), *l = here(f), *d = dir_of(l);
	struct sb c = { 0 };

	if (d) {
		add(s, "mkdir -p ");
		addq(s, d);
		add(s, "; ");
	}
	add(&c, "cat ");
	addq(&c, t);
	remote(s, h, c.p);
	add(s, " < /dev/null > ");
	addq(s, l);
	add(s, " || { [ $rc = 0 ] && rc=255; }; ");
	free(c.p);
	free(t);
	free(l);
	free(d);
}

char *ssh_wrap(const struct opts *o, const struct host *h,
	       const struct args *a, long seq, int slot, const char *line)
{
	struct sb s = { 0 }, c = { 0 }, rm = { 0 };
	char **tf = run_alloc(sizeof(*tf) * (size_t)(o->ntf + o->nret + 1));
	char env[128];
	int i;

	add(&s, "{ ");
	for (i = 0; i < o->ntf; i++) {
		tf[i] = cmd_expand_raw(o->tf[i], a, seq, slot);
		transfer(&s, h, tf[i]);
	}
	/* The job's variables there too, as GNU parallel sets them. */
	snprintf(env, sizeof(env), "exec env PARALLEL_SEQ=%ld PARALLEL_JOBSLOT=%d PARALLEL_PID=%d ",
		 seq, slot, (int)getpid());
	add(&c, env);
	add(&c, "/bin/sh -c ");
	addq(&c, line);
	remote(&s, h, c.p);
	add(&s, "; }; rc=$?; ");
	for (int k = 0; k < o->nret; k++, i++) {
		tf[i] = cmd_expand_raw(o->ret[k], a, seq, slot);
		fetch(&s, h, tf[i]);
	}
	if (o->cleanup && i) {
		add(&rm, "rm -f");
		for (int k = 0; k < i; k++) {
			char *t = there(tf[k]);

			add(&rm, " ");
			addq(&rm, t);
			free(t);
		}
		/* Directories left empty go too (relative ones only: those
		 * under the login directory). */
		for (int k = 0; k < i; k++) {
			char *t = there(tf[k]), *d = dir_of(t);

			if (d && *d != '/') {
				add(&rm, "; rmdir -p ");
				addq(&rm, d);
				add(&rm, " 2>/dev/null");
			}
			free(t);
			free(d);
		}
		add(&rm, "; true");
		remote(&s, h, rm.p);
		add(&s, " < /dev/null; ");
	}
	add(&s, "exit $rc");
	while (i--)
		free(tf[i]);
	free(tf);
	free(c.p);
	free(rm.p);
	return s.p;
}
