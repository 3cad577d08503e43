/* Our stdout and stderr: what the jobs printed, gathered and written in
 * few calls (flushed before every wait, and before the other fd is
 * written, so a job's stdout and stderr keep their order on a shared
 * terminal). */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "run.h"

#define OUT_SIZE (64 * 1024)

static char buf[OUT_SIZE];
static size_t len;
static int cur = -1;
static int err;

static void put(int fd, const char *p, size_t n)
{
	while (n && !err) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err = errno;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

void out_flush(void)
{
	if (len && cur >= 0)
		put(cur, buf, len);
	len = 0;
}

int out_error(void)
{
	return err;
}

void out_write(int fd, const char *p, size_t n)
{
	if (fd != cur) {
		out_flush();
		cur = fd;
	}
	if (len + n > OUT_SIZE) {
		out_flush();
		if (n > OUT_SIZE) {
			put(fd, p, n);
			return;
		}
	}
	memcpy(buf + len, p, n);
	len += n;
}

/* As GNU parallel's --tag: a carriage return starts a line too (for the
 * progress a job redraws in place), so "a\r\n" is two tagged lines. */
void out_tagged(int fd, const char *tag, const char *p, size_t n, bool *bol)
{
	size_t tl = strlen(tag);

	while (n) {
		size_t l = 0;

		while (l < n && p[l] != '\n' && p[l] != '\r')
			l++;
		if (*bol)
			out_write(fd, tag, tl);
		*bol = l < n;
		l += *bol;
		out_write(fd, p, l);
		p += l;
		n -= l;
	}
}
