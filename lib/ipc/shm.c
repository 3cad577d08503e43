/*
 * A segment handle: the mapping, its accessors, and names under /dev/shm.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "ipc/shm_impl.h"
#include "sys/sys.h"

int __conc_shm_path(const char *name, char path[SHM_PATH_MAX])
{
	size_t n;

	if (!name || !*name || strchr(name, '/') ||
	    (n = strlen(name)) > NAME_MAX || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return -EINVAL;
	memcpy(path, "/dev/shm/", 9);
	memcpy(path + 9, name, n + 1);
	return 0;
}

int __conc_shm_map(conc_shm **out, int fd, size_t total)
{
	conc_shm *s = malloc(sizeof(*s));
	void *p;

	if (!s)
		return -ENOMEM;
	p = sys_mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (sys_mmap_failed(p)) {
		free(s);
		return (int)(long)p;
	}
	s->map = p;
	s->total = total;
	s->size = 0;
	s->fd = fd;
	*out = s;
	return 0;
}

void __conc_shm_unmap(conc_shm *s)
{
	sys_munmap(s->map, s->total);
	free(s);
}

void *conc_shm_data(const conc_shm *s)
{
	return s ? s->map + SHM_HDR : NULL;
}

size_t conc_shm_size(const conc_shm *s)
{
	return s ? s->size : 0;
}

int conc_shm_fd(const conc_shm *s)
{
	return s ? s->fd : -EINVAL;
}

void *conc_shm_at(const conc_shm *s, size_t offset, size_t len, size_t align)
{
	/* The address, not the offset, must be aligned: the data area is
	 * aligned to 64 only. Every process maps the segment at a page
	 * boundary, so the answer is the same in all of them up to a page
	 * (4096, the smallest); beyond, it would depend on where each
	 * process mapped it, and a peer would find no object there. */
	if (!s || !align || (align & (align - 1)) || align > SHM_ALIGN_MAX ||
	    offset > s->size || len > s->size - offset ||
	    (((uintptr_t)s->map + SHM_HDR + offset) & (align - 1)))
		return NULL;
	return s->map + SHM_HDR + offset;
}

int __conc_shm_reserve(const conc_shm *s, size_t off, size_t len)
{
	int r;

	if (off > s->size || len > s->size - off)
		return -EINVAL;
	if (!len)
		return 0;
	r = sys_fallocate(s->fd, 0, (off_t)(SHM_HDR + off), (off_t)len);
	/* A file system without fallocate is not tmpfs: nothing to fear. */
	return r == -EOPNOTSUPP ? 0 : r;
}

int conc_shm_close(conc_shm *s)
{
	if (!s)
		return -EINVAL;
	if (s->fd >= 0)
		sys_close(s->fd);
	__conc_shm_unmap(s);
	return 0;
}

int conc_shm_unlink(const char *name)
{
	char path[SHM_PATH_MAX];
	int r = __conc_shm_path(name, path);

	return r ? r : sys_unlink(path);
}
