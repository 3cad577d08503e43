/* --pipe: stdin cut into chunks of about --block bytes, each ending at a
 * record end (--recend) unless stdin ends without one. A record longer
 * than a block makes a longer chunk: records are never cut. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "run.h"

struct chunker {
	int fd;
	size_t block;
	const char *re;
	size_t rl;
	char *buf;
	size_t start, len, cap;
	size_t scanned;		/* no record end before start + scanned */
	bool eof;
};

struct chunker *chunker_open(int fd, size_t block, const char *recend,
			     size_t recend_len)
{
	struct chunker *c = run_alloc(sizeof(*c));

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->block = block;
	c->re = recend;
	c->rl = recend_len;
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

/* The end of the first record end in p[0, n), or 0. */
static size_t first_end(const struct chunker *c, const char *p, size_t n)
{
	const char *e = memmem(p, n, c->re, c->rl);

	return e ? (size_t)(e - p) + c->rl : 0;
}

static int take(struct chunker *c, size_t n, char **p, size_t *np)
{
	*p = run_alloc(n);
	memcpy(*p, c->buf + c->start, n);
	*np = n;
	c->start += n;
	c->scanned = 0;
	return 1;
}

int chunker_next(struct chunker *c, char **p, size_t *n)
{
	char *b = c->buf + c->start;
	size_t have = c->len - c->start, e;

	if (have >= c->block) {
		if ((e = last_end(c, b, c->block)))
			return take(c, e, p, n);
		/* One record longer than a block: up to its end. */
		if (c->scanned < c->block)
			c->scanned = c->block - (c->rl - 1 < c->block ? c->rl - 1 : 0);
		if ((e = first_end(c, b + c->scanned, have - c->scanned)))
			return take(c, c->scanned + e, p, n);
		c->scanned = have > c->rl ? have - c->rl + 1 : c->scanned;
	}
	if (c->eof)
		return have ? take(c, have, p, n) : -1;
	return 0;
}
