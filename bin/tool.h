/* bin/tool.h — what conc-sem, conc-queue and conc-event say and parse
 * alike: errors as "tool: what failed: why", TIMEOUT in seconds, modes,
 * names. Header-only; each tool is one .c file over libconc. */
#ifndef CONC_BIN_TOOL_H
#define CONC_BIN_TOOL_H

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <conc.h>

static const char *tool_name;
static int tool_closed;		/* a bit per fd 0-2 that was closed at start */

/* The tool's name, also in getopt's messages (they use argv[0]). */
static __attribute__((unused)) void tool_start(const char *name, char **argv)
{
	tool_name = name;
	argv[0] = (char *)name;
}

/* "tool: what: why" on stderr; why is strerror(-err), or nothing for 0. */
static __attribute__((unused)) void tool_err(int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err < 0 ? -err : err));
	fputc('\n', stderr);
}

/* Seconds, fractions allowed ("0.2", "1e-3", "5"), into nanoseconds.
 * Returns 0, or -EINVAL for anything else (negative, inf, nan, junk). */
static __attribute__((unused)) int tool_seconds(const char *s, int64_t *ns)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !(v >= 0) || v > 9.2e9)
		return -EINVAL;
	*ns = (int64_t)(v * 1e9 + 0.5);
	return 0;
}

/* Now on CLOCK_MONOTONIC, in nanoseconds. */
static __attribute__((unused)) int64_t tool_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The end of a TIMEOUT of t ns that starts now (t < 0: none, -1). */
static __attribute__((unused)) int64_t tool_end(int64_t t)
{
	int64_t now = tool_now_ns();

	if (t < 0)
		return -1;
	/* A timeout near the largest one taken: the end saturates, as the
	 * library's deadlines do, rather than wrap into the past. */
	return t > INT64_MAX - now ? INT64_MAX : now + t;
}

/* What is left until end, as a timeout for a library call: -1 (no end,
 * CONC_FOREVER), or 0 once end has passed (the call then only tries). */
static __attribute__((unused)) int64_t tool_left(int64_t end)
{
	int64_t left;

	if (end < 0)
		return -1;
	left = end - tool_now_ns();
	return left > 0 ? left : 0;
}

/* An unsigned count in [lo, hi]; -EINVAL otherwise. */
static __attribute__((unused)) int tool_count(const char *s, unsigned long lo, unsigned long hi,
		      uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (*s == '-' || *s == '+')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* The umask is off while an object is made: --mode is the mode it gets,
 * as with mkdir -m (a umask of 022 would turn --mode 660 into 640 and
 * keep the group out). Returns the umask to put back. */
static __attribute__((unused)) mode_t tool_umask_off(void)
{
	return umask(0);
}

/* An octal file mode (at most 0777) for CONC_SHM_MODE(), with read and
 * write for the owner (who must use the object again). */
static __attribute__((unused)) int tool_mode(const char *s, unsigned *mode)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 8);
	if (!*s || *end || errno || v > 0777 || (v & 0600) != 0600)
		return -EINVAL;
	*mode = (unsigned)v;
	return 0;
}

/* A name under /dev/shm: a clear error before the library says -EINVAL. */
static __attribute__((unused)) int tool_name_ok(const char *name)
{
	if (!*name)
		tool_err(0, "the name is empty");
	else if (strchr(name, '/'))
		tool_err(0, "%s: a name may not contain '/' (it is a file under /dev/shm)", name);
	else if (strlen(name) > NAME_MAX)
		tool_err(0, "%.20s...: the name is longer than %d bytes", name, NAME_MAX);
	else if (!strcmp(name, ".") || !strcmp(name, ".."))
		tool_err(0, "%s: not a name", name);
	else
		return 1;
	return 0;
}

static char tool_bus_msg[NAME_MAX + 160];
static int tool_bus_status;

static void tool_bus(int sig)
{
	(void)sig;
	if (write(2, tool_bus_msg, strlen(tool_bus_msg)) < 0)
		_exit(tool_bus_status);
	_exit(tool_bus_status);
}

/* A peer that may write the object's file may also cut it short, and the
 * next touch of a page past its end is SIGBUS (conc_shm_create(3)): that
 * is said and ends the tool with status, not with a core dump. */
static __attribute__((unused)) void tool_guard(const char *name, int status)
{
	struct sigaction sa = { .sa_handler = tool_bus };

	snprintf(tool_bus_msg, sizeof(tool_bus_msg),
		 "%s: %s: its file was cut short by another process\n", tool_name, name);
	tool_bus_status = status;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

/*
 * An object the library would not open by its name (-EACCES) because its
 * group or others may write it: a user who made it so with --mode chose
 * that, so the tool opens /dev/shm/NAME itself, by the library's other rule
 * (a regular file owned by the caller or root), and hands the library its
 * fd (conc_shm_open_fd(3) and siblings). Returns the fd or -EACCES.
 */
static __attribute__((unused)) int tool_shm_fd(const char *name)
{
	char path[sizeof("/dev/shm/") + NAME_MAX];
	struct stat st;
	int fd;

	if (snprintf(path, sizeof(path), "/dev/shm/%s", name) >= (int)sizeof(path))
		return -EACCES;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -EACCES;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (st.st_uid != geteuid() && st.st_uid != 0)) {
		close(fd);
		return -EACCES;
	}
	return fd;
}

/* Whether /dev/shm/NAME holds a segment of kind (conc_shm_open(3)), one
 * group or others may write opened as tool_shm_fd() opens it: 0 or -errno.
 * What rm asks, and no more: a semaphore or queue whose creator died
 * before it was set up, or that a peer broke, is no longer opened as one,
 * and is still one to remove (as conc-event's rm has it). */
static __attribute__((unused)) int tool_shm_kind(const char *name, uint32_t kind)
{
	conc_shm *seg;
	int r = conc_shm_open(&seg, name, kind), fd;

	if (r == -EACCES && (fd = tool_shm_fd(name)) >= 0) {
		r = conc_shm_open_fd(&seg, fd, kind);
		close(fd);
	}
	if (!r)
		conc_shm_close(seg);
	return r;
}

/* The mode of /dev/shm/NAME if tool_shm_fd() accepts it, for a create
 * that opens an existing object (CONC_SHM_MODE admits those bits): 0 or
 * -EACCES. */
static __attribute__((unused)) int tool_shm_mode(const char *name, unsigned *mode)
{
	struct stat st;
	int fd = tool_shm_fd(name), r = -EACCES;

	if (fd < 0)
		return fd;
	if (!fstat(fd, &st)) {
		*mode = st.st_mode & 0777;
		r = 0;
	}
	close(fd);
	return r;
}

/* Fds 0-2 that were closed are opened on /dev/null, so that no fd the
 * library opens (a segment's) takes their place and gets our output.
 * Returns a bit per one that was closed (also kept in tool_closed). */
static __attribute__((unused)) int tool_std_fds(void)
{
	int fd, closed = 0;

	for (fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			closed |= 1 << fd;
			if (open("/dev/null", O_RDWR) != fd)
				exit(127);
		}
	return tool_closed = closed;
}

/* What the tool printed reached standard output, or the failure is said:
 * a status, a listing or the help that did not reach its reader (a full
 * disk, a closed stdout) is an error, as for cat(1); exit() would flush
 * it and drop the error. Returns 0 or -1. */
static __attribute__((unused)) int tool_flush(void)
{
	int err = 0;

	errno = 0;
	if (tool_closed & 2)
		err = EBADF;
	else if (fflush(stdout) || ferror(stdout))
		err = errno ? errno : EIO;
	if (err)
		tool_err(err, "writing standard output");
	return err ? -1 : 0;
}


/* The options every tool takes alike: -m/--mode, -h/--help, -V/--version,
 * and an unknown one. Returns -1 to go on, else the status to exit with
 * now (bad: the tool's status for bad usage; fail: for an output error). */
static __attribute__((unused)) int tool_option(int c, const char *usage,
					       unsigned *mode, int bad, int fail)
{
	switch (c) {
	case 'm':
		if (!tool_mode(optarg, mode))
			return -1;
		tool_err(0, "--mode %s: not an octal mode (at most 777) with read and "
			 "write for the owner", optarg);
		return bad;
	case 'h':
		fputs(usage, stdout);
		return tool_flush() ? fail : 0;
	case 'V':
		printf("%s (conc) %s\n", tool_name, CONC_VERSION);
		return tool_flush() ? fail : 0;
	default:
		fputs(usage, stderr);
		return bad;
	}
}

#endif
