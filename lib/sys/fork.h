/*
 * fork through the C library, the one system call conc leaves to libc.
 * libc's fork() runs the atfork handlers and resets libc's own locks
 * (malloc arenas, stdio, the dynamic loader) in the child, so a child
 * forked while other threads held them can still use libc. A raw fork
 * could leave those locks held forever by threads that do not exist in
 * the child. errno is read here, right after the call, and nowhere else.
 */
#ifndef CONC_SYS_FORK_H
#define CONC_SYS_FORK_H

#include <errno.h>
#include <unistd.h>

/* The child's pid in the parent, 0 in the child, or -errno. */
static inline pid_t sys_fork(void)
{
	pid_t pid = fork();

	return pid < 0 ? -errno : pid;
}

#endif
