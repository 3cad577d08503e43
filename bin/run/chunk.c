/* --pipe: stdin cut into chunks as GNU parallel cuts it, so that the same
 * command gets the same chunks. Rounds: read up to the next multiple of
 * the block size, then give the bytes up to the last record end in what
 * was read (with -n N: every run of N records in it); a round that gives
 * nothing (a record longer than the block) grows the block by 1.3x + 1
 * for good, with a warning, and reads on. At the end of input what is
 * left is one chunk. Records are never cut. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "run.h"

#define BLOCK_MAX ((size_t)INT32_MAX)	/* GNU parallel's 2 GiB - 1 */

struct chunker {
	int fd;
	size_t block;
	const char *re;
	size_t rl;
	long nrec;		/* -n: records per chunk; 0: by size */
	char *buf;
	size_t start, len, cap;
	size_t glen;		/* the round's bytes, from start */
	bool eof, inround, lastround, gave;
};

struct chunker *chunker_open(int fd, size_t block, const char *recend,
			     size_t recend_len, long nrec)
{
	struct chunker *c = run_alloc(sizeof(*c));

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->block = block;
	c->re = recend;
	c->rl = recend_len;
	c->nrec = nrec;
	c->cap = block * 2 + 65536;
	c->buf = run_alloc(c->cap);
	return c;
}

int chunker_fd(const struct chunker *c)
{
	return c->eof ? -1 : c->fd;
}

void chunker_fill(struct chunker *c)
{
	ssize_t r;

	if (c->start) {
		memmove(c->buf, c->buf + c->start, c->len - c->start);
		c->len -= c->start;
		c->start = 0;
	}
	if (c->len == c->cap)
		c->buf = run_realloc(c->buf, c->cap *= 2);
	r = read(c->fd, c->buf + c->len, c->cap - c->len);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r < 0)
		run_warn("reading stdin", -errno);
	if (r <= 0)
		c->eof = true;
	else
		c->len += (size_t)r;
}

/* The end of the last record end in p[0, n), or 0. */
static size_t last_end(const struct chunker *c, const char *p, size_t n)
{
	if (c->rl == 1) {
		const char *e = memrchr(p, *c->re, n);

		return e ? (size_t)(e - p) + 1 : 0;
	}
	for (size_t i = n; i >= c->rl; i--)
		if (!memcmp(p + i - c->rl, c->re, c->rl))
			return i;
	return 0;
}

/* The end of the k-th record end in p[0, n), or 0. As GNU parallel's
 * nindex: each search starts one byte after the last match began, the
 * first at 1 (a record end at 0 is part of the first record). */
static size_t nth_end(const struct chunker *c, const char *p, size_t n,
		      long k)
{
	size_t at = 0;

	/* --recend '': k bytes, or what is left (perl's index of "" past
	 * the end is the end). */
	if (!c->rl)
		return (size_t)k < n ? (size_t)k : n;
	while (k--) {
		const char *e;

		if (at + 1 >= n ||
		    !(e = memmem(p + at + 1, n - at - 1, c->re, c->rl)))
			return 0;
		at = (size_t)(e - p);
	}
	return at + c->rl;
}

static int take(struct chunker *c, size_t n, char **p, size_t *np)
{
	*p = run_alloc(n);
	memcpy(*p, c->buf + c->start, n);
	*np = n;
	c->start += n;
	c->glen -= n;
	c->gave = true;
	return 1;
}

int chunker_next(struct chunker *c, char **p, size_t *n)
{
	for (;;) {
		char *b = c->buf + c->start;
		size_t have = c->len - c->start, e, target;

		if (c->inround) {
			if (c->nrec)
				e = nth_end(c, b, c->glen, c->nrec);
			else
				e = c->lastround || c->gave ? 0 : last_end(c, b, c->glen);
			if (e)
				return take(c, e, p, n);
			if (c->lastround)
				return c->glen ? take(c, c->glen, p, n) : -1;
			c->inround = false;
			if (!c->gave && c->block < BLOCK_MAX) {
				size_t old = c->block;

				c->block = (size_t)ceil((double)old * 1.3 + 1);
				if (c->block > BLOCK_MAX)
					c->block = BLOCK_MAX;
				fprintf(stderr, PROG ": warning: a record was longer "
					"than %zu: --block %zu\n", old, c->block);
			}
		}
		target = c->glen + c->block - c->glen % c->block;
		if (have < target && !c->eof)
			return 0;
		c->lastround = have < target;
		c->glen = c->lastround ? have : target;
		c->inround = true;
		c->gave = false;
	}
}
