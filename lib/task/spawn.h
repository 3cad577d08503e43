/*
 * What conc_proc_spawn hands its child. The child runs in our memory, on
 * our TLS, beside the parent until it has exec'd: it may make raw system
 * calls and read this, nothing else (no errno, no malloc, no libc
 * function that touches state), and it reports a failure by storing
 * -errno in err before it exits. The kernel clears tid when the child
 * lets go of our memory (CLONE_CHILD_CLEARTID: at its execve or its
 * exit); the parent waits for that, not for a vfork.
 */
#ifndef CONC_TASK_SPAWN_H
#define CONC_TASK_SPAWN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <conc/proc.h>
#include "proc_impl.h"

struct spawn_ctx {
	char **paths;		/* candidates, NULL-terminated */
	bool search;		/* paths come from PATH */
	char *const *argv;
	char *const *envp;
	const conc_proc_attr *attr;
	sigset_t mask;		/* the mask the program starts with */
	int in, out, errfd;	/* the child's pipe ends (>= 3), or -1 */
	pid_t parent;		/* our pid, for the child to check */
	bool cleared;		/* the kernel reset the caught signals */
	int err;		/* 0, or -errno from the child */
	uint32_t tid;		/* SPAWN_LIVE until the kernel clears it */
};

#define SPAWN_LIVE 1u

/* A copy of argv, envp and attr (its strings and file actions) in a ctx
 * of our own, zeroed otherwise: free() it. NULL: no memory. */
struct spawn_ctx *__conc_spawn_copy(char *const argv[], char *const envp[],
				    const conc_proc_attr *attr) __CONC_HIDDEN;

int __conc_spawn_child(void *arg) __CONC_HIDDEN;

#endif
