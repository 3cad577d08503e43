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

typedef struct conc_map conc_map;
typedef struct conc_list conc_list;

typedef struct conc_map_attr {
	size_t size;		/* bytes for keys, values and bookkeeping;
				 * 0: 1 MiB. Fixed: a full map gives -ENOSPC */
	const char *name;	/* NULL: anonymous (shared with children
				 * forked later), else a name under /dev/shm */
	unsigned flags;		/* CONC_SHM_EXCL, CONC_SHM_MODE(m) */
} conc_map_attr;

/*
 * Every call takes the container's robust lock; a process killed inside a
 * call leaves the container as it was before that call or after it, never
 * in between (an undo journal is replayed by the next caller).
 * Errors: -EINVAL (NULL, empty key), -ENOSPC (full), -ENOENT (no such key
 * or index), -EMSGSIZE (buf too small: nothing is removed), -EOVERFLOW.
 */
int conc_map_create(conc_map **m, const conc_map_attr *attr);
int conc_map_open(conc_map **m, const char *name);
int conc_map_put(conc_map *m, const void *key, size_t klen,
		 const void *val, size_t vlen);
/* The value's length; copies min(len, cap) bytes only if it fits. */
ssize_t conc_map_get(conc_map *m, const void *key, size_t klen,
		     void *buf, size_t cap);
int conc_map_delete(conc_map *m, const void *key, size_t klen);
bool conc_map_contains(conc_map *m, const void *key, size_t klen);
ssize_t conc_map_len(conc_map *m);
/*
 * Call fn for every entry, under the lock, in no particular order; fn must
 * not call into m. Stops early when fn returns non-zero, and returns that
 * value; else 0.
 */
int conc_map_iterate(conc_map *m,
		     int (*fn)(const void *key, size_t klen, const void *val,
			       size_t vlen, void *arg),
		     void *arg);
int conc_map_destroy(conc_map *m);

typedef conc_map_attr conc_list_attr;

int conc_list_create(conc_list **l, const conc_list_attr *attr);
int conc_list_open(conc_list **l, const char *name);
int conc_list_append(conc_list *l, const void *val, size_t len);
/* index < 0 counts from the end, as in Python. */
ssize_t conc_list_get(conc_list *l, ssize_t index, void *buf, size_t cap);
int conc_list_set(conc_list *l, ssize_t index, const void *val, size_t len);
ssize_t conc_list_pop(conc_list *l, ssize_t index, void *buf, size_t cap);
ssize_t conc_list_len(conc_list *l);
int conc_list_destroy(conc_list *l);

#endif
