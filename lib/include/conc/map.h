/* conc/map.h — a map of byte keys to byte values, and a list of byte
 * values, in shared memory, written by several processes at once
 * (multiprocessing.Manager().dict() / .list(), without a server). */
#ifndef CONC_MAP_H
#define CONC_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <conc/base.h>

/* A process's handle on a map or a list; the container lives in a
 * segment (conc_shm) that every process using it maps. */
typedef struct conc_map conc_map;
typedef struct conc_list conc_list;

typedef struct conc_map_attr {
	size_t size;		/* bytes for keys, values and bookkeeping;
				 * 0: 1 MiB; at least 4096. Fixed: a full map
				 * gives -ENOSPC */
	const char *name;	/* NULL: anonymous (shared with children
				 * forked later), else a name under /dev/shm */
	unsigned flags;		/* CONC_SHM_EXCL, CONC_SHM_MODE(m) */
} conc_map_attr;

/*
 * Every call takes the container's robust lock, so calls from threads and
 * processes are serialised, and each is atomic: a process killed inside a
 * call leaves the container as it was before that call or as after it,
 * never in between (the next caller replays an undo journal, or finishes a
 * list pop that had passed its commit point). Nothing is lost that a
 * finished call put in. A call also fails with the lock's errors:
 * -ENOTRECOVERABLE (the container was found damaged and abandoned),
 * -ENOTSUP (the thread's robust list cannot be shared), and -EPROTO (an
 * undo journal that cannot be replayed: the container is then abandoned).
 *
 * Space: each entry takes its bytes plus 48 (map) or 24 (list), rounded up
 * to 16; a map's bucket table up to 1/16 of its size; a list's index 8
 * bytes a slot, for up to twice as many slots as elements. Freed space is
 * merged with free neighbours and reused. A value is replaced by writing
 * the new entry before freeing the old, so a replacement needs room for
 * both.
 */

/*
 * Create a map (NULL attr: 1 MiB, anonymous). A named map that exists
 * already (and CONC_SHM_EXCL not given) is opened instead, if it is a map
 * of the same size. Returns 0; -EINVAL (NULL m, size under 4096 or over
 * 1 TiB, a bad name or flags, an existing segment of another size);
 * -EPROTO (an existing segment of another kind); -EEXIST; and what
 * conc_shm_create() returns.
 */
int conc_map_create(conc_map **m, const conc_map_attr *attr);

/* Open a named map: 0, -EINVAL, -ENOENT, -EPROTO (not a map, or damaged,
 * or its creator died setting it up), or what conc_shm_open() returns. */
int conc_map_open(conc_map **m, const char *name);

/*
 * Set key (klen > 0 bytes) to a copy of val (vlen bytes, may be 0),
 * adding it or replacing its value. Returns 0, -EINVAL (NULL m or key,
 * klen 0, val NULL with vlen > 0), -ENOSPC (no room: nothing changed).
 */
int conc_map_put(conc_map *m, const void *key, size_t klen,
		 const void *val, size_t vlen);

/*
 * Copy key's value into buf if it fits in cap bytes. Returns the value's
 * length; -ENOENT (no such key); -EMSGSIZE (cap too small: nothing
 * copied); -EINVAL (bad key, or buf NULL with cap > 0). buf NULL with
 * cap 0 only asks for the length.
 */
ssize_t conc_map_get(conc_map *m, const void *key, size_t klen,
		     void *buf, size_t cap);

/* Remove key: 0, -ENOENT, -EINVAL. */
int conc_map_delete(conc_map *m, const void *key, size_t klen);

/* Whether key is in the map (false also for bad arguments and errors). */
bool conc_map_contains(conc_map *m, const void *key, size_t klen);

/* Entries in the map, or a negative error. */
ssize_t conc_map_len(conc_map *m);

/*
 * Call fn for every entry, under the lock, in no particular order; fn must
 * not call into m, and its pointers are valid only during the call. Stops
 * early when fn returns non-zero, and returns that value; else 0, or
 * -EINVAL (NULL m or fn) or a lock error.
 */
int conc_map_iterate(conc_map *m,
		     int (*fn)(const void *key, size_t klen, const void *val,
			       size_t vlen, void *arg),
		     void *arg);

/* Unmap and free this process's handle (the map lives on in others); a
 * named map's name stays until conc_shm_unlink(). 0 or -EINVAL. */
int conc_map_destroy(conc_map *m);

typedef conc_map_attr conc_list_attr;

/* As conc_map_create() and conc_map_open(), for a list. */
int conc_list_create(conc_list **l, const conc_list_attr *attr);
int conc_list_open(conc_list **l, const char *name);

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

/* As conc_map_destroy(). */
int conc_list_destroy(conc_list *l);

#endif
