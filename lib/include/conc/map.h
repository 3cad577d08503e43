/* conc/map.h — a map of byte keys to byte values in shared memory,
 * written by several processes at once (multiprocessing.Manager().dict(),
 * without a server). The list (conc/list.h) is its sibling. */
#ifndef CONC_MAP_H
#define CONC_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <conc/base.h>
#include <conc/list.h>

/* A process's handle on a map; the map lives in a segment (conc_shm)
 * that every process using it maps. */
typedef struct conc_map conc_map;

/*
 * Every call takes the container's robust lock, so calls from threads and
 * processes are serialised, and each is atomic: a process killed inside a
 * call leaves the container as it was before that call or as after it,
 * never in between (the next caller replays an undo journal, or finishes a
 * list pop that had passed its commit point). Nothing is lost that a
 * finished call put in. A call also fails with the lock's errors:
 * -ENOTRECOVERABLE (the container was found damaged and abandoned),
 * -EDEADLK (the lock names the caller: it holds the lock through another
 * handle, from an iterate callback or a signal handler that interrupted
 * a call on the container, or a peer wrote the segment),
 * -ENOTSUP (the thread's robust list cannot be shared), -EPROTO (an
 * undo journal that cannot be replayed: the container is then abandoned),
 * -ETIMEDOUT (the handle's timeout passed while another caller held the
 * lock: see conc_map_set_timeout) and -ECANCELED (a cancelled task).
 *
 * Shared memory is input: any process that maps the segment can write any
 * byte of it. Every offset, length and count a call reads there is checked
 * against the segment, and every walk (chains, free lists, the list's
 * ring) is bounded, so whatever another process wrote, a call never reads
 * or writes outside the segment and never spins: it fails with -EPROTO,
 * having changed nothing, and lets go of the lock.
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
 * -EPROTO (an existing segment of another kind); -EEXIST; -ENOSPC
 * (/dev/shm or memory has no room for the pages the set-up writes: they
 * are allocated first; the others come as calls first touch them, and on
 * a full tmpfs the call that does gets SIGBUS); and what
 * conc_shm_create() returns.
 */
int conc_map_create(conc_map **m, const conc_map_attr *attr);

/* Open a named map: 0, -EINVAL, -ENOENT, -EPROTO (not a map, or damaged,
 * or its creator died setting it up), or what conc_shm_open() returns. */
int conc_map_open(conc_map **m, const char *name);

/*
 * As conc_map_open(), for a map's segment fd (dup'ed; the caller keeps
 * fd), with conc_shm_open_fd()'s checks: no owner or mode check, the
 * caller vouches for the file (one another user made with a group mode,
 * opened by the caller; or an anonymous map's fd, passed over a UNIX
 * socket). -EBADF: fd is not open; -EINVAL: NULL m or fd negative.
 */
int conc_map_open_fd(conc_map **m, int fd);

/* The map's segment fd (the handle's: do not close it; close-on-exec),
 * to pass to another process, or -EINVAL (NULL m). */
int conc_map_fd(const conc_map *m);

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
 * copied); -EINVAL (bad key: NULL, klen 0 or larger than the map; or buf
 * NULL with cap > 0). buf NULL with cap 0 only asks for the length.
 */
ssize_t conc_map_get(conc_map *m, const void *key, size_t klen,
		     void *buf, size_t cap);

/* Remove key: 0, -ENOENT, -EINVAL (as for conc_map_get). */
int conc_map_delete(conc_map *m, const void *key, size_t klen);

/* Whether key is in the map (false also for bad arguments and errors,
 * a timeout among them). */
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

/*
 * How long every later call on this handle waits for the map's lock, held
 * by another caller (a peer process that holds it for ever, stopped or
 * hostile, would otherwise stall every call): < 0 (CONC_FOREVER, the
 * default) for ever, 0 only tries, else timeout_ns; a call that gives up
 * returns -ETIMEDOUT having changed nothing. Kept in the handle, in this
 * process only. 0, or -EINVAL (NULL m).
 */
int conc_map_set_timeout(conc_map *m, int64_t timeout_ns);

/* Unmap and free this process's handle (the map lives on in others); a
 * named map's name stays until conc_shm_unlink(). No call may be under
 * way on the handle. 0 or -EINVAL. */
int conc_map_destroy(conc_map *m);

#endif
