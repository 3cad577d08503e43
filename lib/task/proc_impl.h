/*
 * The process handle and the registry of live handles, shared by the files
 * of the process module. Not installed.
 */
#ifndef CONC_TASK_PROC_IMPL_H
#define CONC_TASK_PROC_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <sys/wait.h>
#include <conc/mutex.h>
#include <conc/proc.h>
#include "wait/wait.h"
#include "lock.h"

struct conc_proc {
	conc_mutex lock;	/* serialises reaping: one waitid, one status */
	uint32_t joined;	/* 1 once status holds the reaped status */
	int status;		/* waitpid(2) format */
	pid_t pid;
	int pidfd;
	int in, out, err;	/* parent's pipe ends, or -1 */
	bool daemon;
	bool leader;		/* spawned to lead a process group */
	pid_t owner;		/* the process whose registry lists it */
	struct conc_proc *prev, *next;
};

/* A new handle with no fds, or NULL. */
conc_proc *__conc_proc_alloc(bool daemon) __CONC_HIDDEN;

/* Close the handle's fds and free it (not tracked, or untracked first). */
void __conc_proc_free(conc_proc *p) __CONC_HIDDEN;

/* Make the registry and the exit handler ready. Called before a child is
 * created, so that tracking it afterwards cannot fail. 0 or -ENOMEM. */
int __conc_proc_prepare(void) __CONC_HIDDEN;

/* Add p to / remove p from the handles joined (or killed) at exit. */
void __conc_proc_track(conc_proc *p) __CONC_HIDDEN;
void __conc_proc_untrack(conc_proc *p) __CONC_HIDDEN;

/* What the end of the process does to the children it has not released:
 * daemons killed, the others joined (the exit handler, and the end of a
 * conc_proc_start child's fn). */
void __conc_proc_end_children(void) __CONC_HIDDEN;

/* conc_proc_join with an absolute deadline (< 0: none). */
int __conc_proc_join_until(conc_proc *p, int *status, conc_deadline dl)
	__CONC_HIDDEN;

/* Reap the child (idtype, id) if it has ended, never waiting: 1 (*si
 * filled in), 0 while it runs, or -errno (-ECHILD: not ours, or reaped). */
int __conc_proc_reap(idtype_t idtype, id_t id, siginfo_t *si) __CONC_HIDDEN;

/* Whether pidfd is a child of ours, not yet reaped (looked at, never
 * reaped nor waited for). */
bool __conc_proc_ours(int pidfd) __CONC_HIDDEN;

/* Wait, without limit, for a child that is ending (killed, or past its
 * last instruction) and reap it; its status is dropped. pidfd < 0: by pid
 * alone. 0, or -ECANCELED: the caller's coroutine was cancelled meanwhile
 * (the child is reaped all the same). */
int __conc_proc_reap_ending(pid_t pid, int pidfd) __CONC_HIDDEN;

/* The PATH candidates for a program, NULL-terminated, in one block to
 * free(): path itself if it holds a '/', else each PATH directory joined
 * with it. 0, -ENOENT (empty path), -ENAMETOOLONG, -ENOMEM. */
int __conc_spawn_paths(const char *path, char ***out) __CONC_HIDDEN;

#endif
