/* conc/shm.h — shared memory segments with a checked header. */
#ifndef CONC_SHM_H
#define CONC_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <conc/base.h>

/* A mapped segment: an opaque handle owned by the caller. */
typedef struct conc_shm conc_shm;

/* Kinds recorded in a segment's header, so an object is never opened as
 * another. Values below 0x10000 are conc's; a program may use others. */
#define CONC_SHM_RAW	 1u	/* a user's bytes */
#define CONC_SHM_QUEUE	 2u
#define CONC_SHM_MAP	 3u
#define CONC_SHM_LIST	 4u
#define CONC_SHM_RSEM	 5u	/* a robust semaphore (conc/rsem.h) */
#define CONC_SHM_EVENT	 6u	/* one conc_event (conc-event(1)) */

/* Flags of conc_shm_create(). */
#define CONC_SHM_EXCL	 0x1u	/* fail with -EEXIST if the name exists */
#define CONC_SHM_MODE(m) (((unsigned)(m) & 0777u) << 16)  /* default 0600 */

/*
 * Create a segment of size bytes of zeroed data (after conc's header) for
 * objects of kind. name NULL makes an anonymous segment (memfd_create):
 * children forked afterwards share it, and its fd can be passed to another
 * process (conc_shm_fd, then conc_shm_open_fd). Otherwise name is a file
 * under /dev/shm (no '/', at most NAME_MAX bytes), created with mode 0600
 * unless CONC_SHM_MODE() says otherwise (less the umask, as open(2) does);
 * without CONC_SHM_EXCL an existing segment is opened instead (and checked
 * as by conc_shm_open, except that group and world write bits are admitted
 * if the mode asked for them). An anonymous segment is sealed against
 * shrinking (F_SEAL_SHRINK), so a peer given its fd cannot cut it under
 * the others; a named one cannot be sealed: whoever may write the file
 * can truncate it (SIGBUS for the others).
 * Returns 0, -EINVAL (size 0 or too large, bad name or flags, or an
 * existing segment of another size), -EEXIST, -EACCES, -ENOMEM, -ENOSPC
 * (/dev/shm or memory has no room for the header's page: the header's
 * page is allocated first, so a full tmpfs is an error here, not a
 * SIGBUS), and what conc_shm_open() returns when an existing segment is
 * opened.
 */
int conc_shm_create(conc_shm **s, const char *name, size_t size,
		    uint32_t kind, unsigned flags);

/*
 * Open the named segment and check its header, never mapping a file as if
 * it were right: -ENOENT if it does not exist; -EPROTO if it is not a conc
 * segment (a file shorter than a header included, unless it begins as
 * one), has another layout version or holds another kind of object (a
 * segment gets its name only once its header is written, so there is no
 * creator at work to wait for); -EINVAL
 * if its recorded size does not match the file (truncated or grown) or
 * the name is bad (empty, with '/', longer than NAME_MAX); -EACCES if
 * the file is owned by another user than the caller and root, or if its
 * group or others may write it (anyone can create a name in /dev/shm: a
 * segment someone else prepared is not opened silently).
 */
int conc_shm_open(conc_shm **s, const char *name, uint32_t kind);

/* As conc_shm_open(), for a segment's fd (dup'ed; the caller keeps fd),
 * without the owner and mode checks. An anonymous file not sealed against
 * shrinking (F_SEAL_SHRINK), which its sender could cut under the mapping,
 * is sealed here if it can be, else refused: -EACCES. */
int conc_shm_open_fd(conc_shm **s, int fd, uint32_t kind);

/* The data area (size bytes, 64-byte aligned), its size, the fd. */
void *conc_shm_data(const conc_shm *s);
size_t conc_shm_size(const conc_shm *s);
int conc_shm_fd(const conc_shm *s);

/*
 * A pointer to len bytes at offset in the data area, or NULL if that range
 * is not inside it or the pointer would not be aligned to align (a power
 * of two, at most 4096; the data area is aligned to 64, and the answer is
 * the same in every process): how related processes place several objects
 * (mutexes, events, structs) at fixed offsets of one segment.
 */
void *conc_shm_at(const conc_shm *s, size_t offset, size_t len, size_t align);

/* Unmap and free the handle; the segment lives on while others map it. */
int conc_shm_close(conc_shm *s);

/* Remove a named segment's name: 0, -ENOENT, -EINVAL (bad name). */
int conc_shm_unlink(const char *name);

#endif
