/*
 * Whether a signal sent to the calling thread alone (tgkill, raise(3),
 * pthread_kill(3), a fault) is pending on it, blocked. The kernel drops
 * such signals when the thread ends; a conc thread that parks instead
 * would hand them to the next function it runs. rt_sigpending(2) gives
 * the thread's own and its process's together; /proc/thread-self/status
 * tells them apart (SigPnd: the thread's own, ShdPnd: the process's).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include "sys.h"
#include "io.h"
#include "self.h"

/* The hex number after "\nSigPnd:" in buf, or UINT64_MAX if there is none. */
static uint64_t own_pending(const char *buf, long len)
{
	static const char key[] = "\nSigPnd:";
	uint64_t v = 0;
	long i, k;
	int digits = 0;

	for (i = 0; i + (long)sizeof(key) - 1 <= len; i++) {
		for (k = 0; key[k] && buf[i + k] == key[k]; k++)
			;
		if (key[k])
			continue;
		for (i += k; i < len && (buf[i] == ' ' || buf[i] == '\t'); i++)
			;
		for (; i < len && digits < 16; i++, digits++) {
			char c = buf[i];

			if (c >= '0' && c <= '9')
				v = v << 4 | (uint64_t)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v << 4 | (uint64_t)(c - 'a' + 10);
			else
				break;
		}
		return digits ? v : UINT64_MAX;
	}
	return UINT64_MAX;
}

bool __conc_thread_signals_pending(void)
{
	uint64_t set = 0;
	char buf[4096];
	long n;
	int fd;

	/* The common case: nothing pending at all, one system call. */
	if (sys_sigpending(&set) < 0 || set == 0)
		return false;
	/* Where /proc cannot say, any pending signal may be the thread's. */
	fd = sys_openat(AT_FDCWD, "/proc/thread-self/status",
			O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return true;
	n = sys_read(fd, buf, sizeof(buf));
	sys_close(fd);
	return n <= 0 || own_pending(buf, n) != 0;
}
