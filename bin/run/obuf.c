/* Output buffers: a job's output stays on the heap up to HEAP_PART, the
 * rest goes to one spill memfd shared by all jobs (its ranges punched out
 * once printed), so output piled up behind a slow job with -k does not
 * grow the heap without bound. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "run.h"

#define HEAP_PART (64 * 1024)
#define COPY_SIZE (64 * 1024)

static int spill_fd = -1;
static off_t spill_end;
static uint64_t spill_live;	/* bytes not yet printed */
static size_t heap;

size_t obuf_heap(void)
{
	return heap;
}

static void spill_write(struct obuf *b, const char *p, size_t n)
{
	if (spill_fd < 0 &&
	    (spill_fd = memfd_create("conc-run-spill", MFD_CLOEXEC)) < 0)
		run_die("memfd_create", -errno);
	if (b->nseg && b->seg[b->nseg - 1].off + (off_t)b->seg[b->nseg - 1].len ==
			       spill_end) {
		b->seg[b->nseg - 1].len += n;
	} else {
		if (b->nseg == b->segcap)
			b->seg = run_realloc(b->seg, (b->segcap = b->segcap ?
					     b->segcap * 2 : 4) * sizeof(*b->seg));
		b->seg[b->nseg++] = (struct seg){ spill_end, n };
	}
	while (n) {
		ssize_t w = pwrite(spill_fd, p, n, spill_end);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			run_die("writing the spill memfd", w < 0 ? -errno : -ENOSPC);
		p += w;
		n -= (size_t)w;
		spill_end += w;
		spill_live += (uint64_t)w;
	}
}

void obuf_spill(struct obuf *b)
{
	if (!b->len)
		return;
	spill_write(b, b->mem, b->len);
	heap -= b->cap;
	free(b->mem);
	b->mem = NULL;
	b->len = b->cap = 0;
}

void obuf_add(struct obuf *b, const char *p, size_t n)
{
	b->total += n;
	if (b->len + n > HEAP_PART) {
		obuf_spill(b);
		if (n > HEAP_PART) {
			spill_write(b, p, n);
			return;
		}
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n)
			cap *= 2;
		b->mem = run_realloc(b->mem, cap);
		heap += cap - b->cap;
		b->cap = cap;
	}
	memcpy(b->mem + b->len, p, n);
	b->len += n;
}

static void spill_release(const struct seg *s)
{
	spill_live -= s->len;
	if (!spill_live) {
		/* Nothing left in it: start again at 0. */
		if (ftruncate(spill_fd, 0) == 0)
			spill_end = 0;
		return;
	}
	fallocate(spill_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		  s->off, (off_t)s->len);
}

void obuf_drain(struct obuf *b, void (*fn)(void *, const char *, size_t),
		void *ctx)
{
	for (size_t i = 0; i < b->nseg; i++) {
		static char copy[COPY_SIZE];
		off_t off = b->seg[i].off;
		size_t left = b->seg[i].len;

		while (left) {
			ssize_t r = pread(spill_fd, copy, left < COPY_SIZE ?
					  left : COPY_SIZE, off);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				run_die("reading the spill memfd",
					r < 0 ? -errno : -EIO);
			fn(ctx, copy, (size_t)r);
			off += r;
			left -= (size_t)r;
		}
		spill_release(&b->seg[i]);
	}
	b->nseg = 0;
	if (b->len)
		fn(ctx, b->mem, b->len);
	b->len = 0;
}

void obuf_free(struct obuf *b)
{
	for (size_t i = 0; i < b->nseg; i++)
		spill_release(&b->seg[i]);
	heap -= b->cap;
	free(b->mem);
	free(b->seg);
	memset(b, 0, sizeof(*b));
}
