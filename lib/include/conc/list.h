/* conc/list.h — a list of byte values in shared memory, written by
 * several processes at once (multiprocessing.Manager().list(), without a
 * server). Its calls behave as the map's (conc/map.h): see the contract
 * there for atomicity, space and the lock's errors. */
#ifndef CONC_LIST_H
#define CONC_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <conc/base.h>

/* A process's handle on a list; the list lives in a segment (conc_shm)
 * that every process using it maps. */
typedef struct conc_list conc_list;

/* What a map or a list is created with (the same for both). */
typedef struct conc_map_attr {
	size_t size;		/* bytes for keys, values and bookkeeping;
				 * 0: 1 MiB; at least 4096. Fixed: a full map
				 * gives -ENOSPC */
	const char *name;	/* NULL: anonymous (shared with children
				 * forked later), else a name under /dev/shm */
	unsigned flags;		/* CONC_SHM_EXCL, CONC_SHM_MODE(m) */
} conc_map_attr;

typedef conc_map_attr conc_list_attr;

/* As conc_map_create(), conc_map_open(), conc_map_open_fd() and
 * conc_map_fd(), for a list. */
int conc_list_create(conc_list **l, const conc_list_attr *attr);
int conc_list_open(conc_list **l, const char *name);
int conc_list_open_fd(conc_list **l, int fd);
int conc_list_fd(const conc_list *l);

/* Append a copy of len bytes (may be 0): 0, -EINVAL, -ENOSPC. */
int conc_list_append(conc_list *l, const void *val, size_t len);

/*
 * index < 0 counts from the end, as in Python; out of range: -ENOENT.
 * get copies element index into buf if it fits in cap bytes and returns
 * its length (-EMSGSIZE: nothing copied; buf NULL with cap 0 asks for the
 * length). set replaces it with a copy of val (-ENOSPC: nothing changed).
 * pop removes it and returns its length, if it fits in cap (-EMSGSIZE:
 * nothing copied, the element stays). Popping at either end moves
 * nothing; in the middle, the elements on the nearer side move up by one.
 */
ssize_t conc_list_get(conc_list *l, ssize_t index, void *buf, size_t cap);
int conc_list_set(conc_list *l, ssize_t index, const void *val, size_t len);
ssize_t conc_list_pop(conc_list *l, ssize_t index, void *buf, size_t cap);

/* Elements in the list, or a negative error. */
ssize_t conc_list_len(conc_list *l);

/* As conc_map_set_timeout(), for the list's lock. */
int conc_list_set_timeout(conc_list *l, int64_t timeout_ns);

/* As conc_map_destroy(). */
int conc_list_destroy(conc_list *l);

#endif
