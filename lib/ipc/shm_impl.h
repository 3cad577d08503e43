/*
 * A segment is a file (memfd or /dev/shm) holding a 64-byte header and the
 * data. A named segment gets its name only once its header is complete
 * (shm_create.c), so an opener never meets one half made.
 */
#ifndef CONC_IPC_SHM_IMPL_H
#define CONC_IPC_SHM_IMPL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <conc/shm.h>
#include "wait/wait.h"	/* __CONC_HIDDEN */

#define SHM_MAGIC	0x434f4e43u	/* "CONC" */
#define SHM_VERSION	1u
#define SHM_HDR		64u
#define SHM_MAX_SIZE	((size_t)1 << 40)
#define SHM_ALIGN_MAX	4096u	/* conc_shm_at: what every mapping shares */
#define SHM_PATH_MAX	(sizeof("/dev/shm/") + NAME_MAX)

struct shm_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t kind;
	uint32_t data_off;
	uint64_t size;
	uint64_t total;
};

struct conc_shm {
	char *map;
	size_t total;
	size_t size;
	int fd;
};

/* "/dev/shm/<name>" into path, or -EINVAL for a bad name. */
int __conc_shm_path(const char *name, char path[SHM_PATH_MAX]) __CONC_HIDDEN;

/* A handle mapping total bytes of fd (the handle owns fd on success). */
int __conc_shm_map(conc_shm **out, int fd, size_t total) __CONC_HIDDEN;

/*
 * Give the file its pages behind data bytes [off, off + len) now: tmpfs
 * provides a page when it is first touched, and on a full /dev/shm (or
 * memory cgroup) that touch is a SIGBUS; the allocation here fails
 * instead, with -ENOSPC (or -ENOMEM). 0 for a range already there.
 */
int __conc_shm_reserve(const conc_shm *s, size_t off, size_t len) __CONC_HIDDEN;

/* A range of a segment's data: off, len. */
struct shm_range {
	size_t off, len;
};

/* conc_shm_create(), also reserving n ranges of the data (those a
 * container writes as it sets up) before a named segment gets its name,
 * so that a creation that fails leaves no file. */
int __conc_shm_create_reserving(conc_shm **out, const char *name, size_t size,
				uint32_t kind, unsigned flags,
				const struct shm_range *ranges, unsigned n)
	__CONC_HIDDEN;

/* Unmap and free the handle, leaving its fd alone. */
void __conc_shm_unmap(conc_shm *s) __CONC_HIDDEN;

/* Open the named segment at path, checking it as conc_shm_open does; mode
 * holds the permission bits others may have (group, world writable). */
int __conc_shm_open_path(conc_shm **out, const char *path, uint32_t kind,
			 unsigned mode) __CONC_HIDDEN;

#endif
