/*
 * Whether a thread of this process has begun to exit. A join of a thread
 * (pthread_join, conc_thread_join) returns once the kernel clears the
 * thread's tid word, in exit_mm(), right after it walked the thread's
 * robust list; but the thread stays findable by tgkill() until
 * exit_notify() reaps it, a little later. From exit_signals() on, before
 * either, /proc shows PF_EXITING in the thread's flags: it runs no user
 * code again, and will be gone in a moment.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include "sys.h"
#include "self.h"

#define PF_EXITING 0x4u

static void fmt_path(char *p, pid_t tid)
{
	static const char head[] = "/proc/self/task/", tail[] = "/stat";
	char digits[12];
	unsigned v = (unsigned)tid;
	int n = 0, k = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < (int)sizeof(digits));
	for (const char *h = head; *h; h++)
		p[k++] = *h;
	while (n)
		p[k++] = digits[--n];
	for (const char *t = tail; *t; t++)
		p[k++] = *t;
	p[k] = 0;
}

/* The 9th field of a stat line (flags), counted after the ')' that closes
 * the command name (which may itself hold ')' and spaces); 0 if unreadable. */
static unsigned long flags_of(const char *buf, long len)
{
	long i, close = -1, field = 2;
	unsigned long v = 0;

	for (i = 0; i < len; i++)
		if (buf[i] == ')')
			close = i;
	for (i = close + 1; close >= 0 && i < len && field < 9; i++)
		if (buf[i] == ' ')
			field++;
	for (; field == 9 && i < len && buf[i] >= '0' && buf[i] <= '9' &&
	       v < (1UL << 40); i++)
		v = v * 10 + (unsigned long)(buf[i] - '0');
	return v;
}

bool __conc_thread_exiting(pid_t tid)
{
	char path[48], buf[512];
	long r;
	int fd;

	fmt_path(path, tid);
	fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)	/* reaped already, or no /proc */
		return false;
	r = sys_read(fd, buf, sizeof(buf));
	sys_close(fd);
	return r > 0 && (flags_of(buf, r) & PF_EXITING);
}
