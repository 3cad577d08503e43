/* What a stopped job leaves in its process group: the library signals a
 * group only while its leader is unreaped, so a process that ignores the
 * TERM and outlives its job would outlive conc-run too (GNU parallel
 * leaves none). Watched from the reap to the grace's end, then KILLed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "loop.h"

#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1u << 2)
#endif

/* A job being stopped (TERM sent, its KILL not yet due) whose leader
 * ended may leave processes in its group: one that ignores the TERM would
 * outlive conc-run, since the library signals a group only while its
 * leader is unreaped. So before the reap, a copy of the pidfd keeps the
 * group in reach (through the pidfd, the group of that process, whatever
 * takes its id later); after it, the group is KILLed at the grace's end
 * if anything is left in it. -1: nothing to watch. */
int stop_group_hold(const struct job *j)
{
	if (j->exited || j->kill_stage != 1 || j->kill_at < 0 || j->pidfd < 0)
		return -1;
	return fcntl(j->pidfd, F_DUPFD_CLOEXEC, 0);
}

static int group_signal(int gfd, pid_t pgid, int sig)
{
	static bool by_id;	/* before 6.9: the kernel has no such flag */

	if (!by_id) {
		if (syscall(SYS_pidfd_send_signal, gfd, sig, NULL,
			    PIDFD_SIGNAL_PROCESS_GROUP) == 0)
			return 0;
		if (errno != EINVAL)
			return -errno;
		by_id = true;
	}
	/* No other group takes the id while a process is in this one, and
	 * the first look that finds it empty is the last. */
	return kill(-pgid, sig) < 0 ? -errno : 0;
}

/* Is a process of group pgid running (not a zombie)? A signal cannot
 * tell: a zombie takes it, and an init that reaps late (a container's)
 * keeps the zombies of the job's children in the group. /proc can; true
 * where it cannot be read. */
static bool group_runs(pid_t pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool runs = d == NULL;

	while (d && !runs && (e = readdir(d))) {
		char path[64], buf[512], *p;
		int fd;
		ssize_t n;
		long pg;
		char st;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/stat", e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		/* pid (comm) state ppid pgrp ...: comm may hold anything. */
		if (!(p = strrchr(buf, ')')) ||
		    sscanf(p + 1, " %c %*d %ld", &st, &pg) != 2)
			continue;
		runs = pg == pgid && st != 'Z' && st != 'X';
	}
	if (d)
		closedir(d);
	return runs;
}

bool stop_group_left(int gfd, pid_t pgid, int64_t kill_at, int64_t now)
{
	if (group_signal(gfd, pgid, 0) < 0)
		return false;
	if (now < kill_at && group_runs(pgid))
		return true;
	/* The grace is over, or only zombies are left: the KILL also takes
	 * a child the scan missed (born while it read /proc). */
	group_signal(gfd, pgid, SIGKILL);
	return false;
}
