/*
 * A segment is a file (memfd or /dev/shm) holding a 64-byte header and the
 * data. The creator fills the header and stores the magic last, with
 * release order: an opener that sees the magic sees a complete header, and
 * one that sees zero waits (bounded) for a creator still at work.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <conc/shm.h>
#include "sys/sys.h"
#include "wait/wait.h"

#define MAGIC		0x434f4e43u	/* "CONC" */
#define VERSION		1u
#define HDR		64u
#define MAX_SIZE	((size_t)1 << 40)
#define OPEN_WAIT_NS	1000000000LL

struct hdr {
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

static int check_name(const char *name, char path[sizeof("/dev/shm/") + NAME_MAX])
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

static size_t total_for(size_t size)
{
	return (HDR + size + 4095) & ~(size_t)4095;
}

static int map_fd(conc_shm **out, int fd, size_t total)
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
	s->fd = fd;
	*out = s;
	return 0;
}

static void unmap(conc_shm *s)
{
	sys_munmap(s->map, s->total);
	free(s);
}

/* Map fd (ours now) and check it holds a finished segment of kind. */
static int attach(conc_shm **out, int fd, uint32_t kind)
{
	conc_deadline dl = sys_now_ns() + OPEN_WAIT_NS;
	struct hdr *h, c;
	conc_shm *s;
	long len;
	int r;

	/* A creator truncates the file before writing the header. */
	while ((len = sys_fsize(fd)) == 0 && !__conc_expired(dl))
		sys_sched_yield();
	if (len < 0)
		return (int)len;
	if (len < (long)HDR)
		return len == 0 ? -EPROTO : -EINVAL;
	r = map_fd(&s, fd, (size_t)len);
	if (r)
		return r;
	h = (struct hdr *)s->map;
	while (!__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) && !__conc_expired(dl))
		sys_sched_yield();
	/* Checked and used from one copy: the file is anyone's to write. */
	c.magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
	c.version = h->version;
	c.kind = h->kind;
	c.data_off = h->data_off;
	c.size = h->size;
	c.total = h->total;
	r = 0;
	if (c.magic != MAGIC || c.version != VERSION || c.kind != kind ||
	    c.data_off != HDR)
		r = -EPROTO;
	else if (c.total != (uint64_t)len || c.size > c.total - HDR)
		r = -EINVAL;
	if (r) {
		s->fd = -1;
		unmap(s);
		return r;
	}
	s->size = c.size;
	*out = s;
	return 0;
}

int conc_shm_create(conc_shm **out, const char *name, size_t size,
		    uint32_t kind, unsigned flags)
{
	char path[sizeof("/dev/shm/") + NAME_MAX];
	unsigned mode = (flags >> 16) & 0777;
	size_t total;
	struct hdr *h;
	conc_shm *s;
	int fd, r;

	if (!out || !size || size > MAX_SIZE ||
	    (flags & ~(CONC_SHM_EXCL | CONC_SHM_MODE(0777))))
		return -EINVAL;
	total = total_for(size);
	if (name) {
		if ((r = check_name(name, path)))
			return r;
		fd = sys_openat(-100, path, O_RDWR | O_CREAT | O_EXCL |
				O_CLOEXEC | O_NOFOLLOW, mode ? mode : 0600);
		if (fd == -EEXIST && !(flags & CONC_SHM_EXCL)) {
			r = conc_shm_open(out, name, kind);
			if (!r && (*out)->size != size) {
				conc_shm_close(*out);
				return -EINVAL;
			}
			return r;
		}
	} else {
		fd = sys_memfd_create("conc", MFD_CLOEXEC);
	}
	if (fd < 0)
		return fd;
	r = sys_ftruncate(fd, (off_t)total);
	if (!r)
		r = map_fd(&s, fd, total);
	if (r) {
		if (name)
			sys_unlink(path);
		sys_close(fd);
		return r;
	}
	h = (struct hdr *)s->map;
	h->version = VERSION;
	h->kind = kind;
	h->data_off = HDR;
	h->size = size;
	h->total = total;
	s->size = size;
	/* release: the header before the magic that says it is there. */
	__atomic_store_n(&h->magic, MAGIC, __ATOMIC_RELEASE);
	*out = s;
	return 0;
}

int conc_shm_open(conc_shm **out, const char *name, uint32_t kind)
{
	char path[sizeof("/dev/shm/") + NAME_MAX];
	int fd, r;

	if (!out)
		return -EINVAL;
	if ((r = check_name(name, path)))
		return r;
	fd = sys_openat(-100, path, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return fd;
	r = attach(out, fd, kind);
	if (r)
		sys_close(fd);
	return r;
}

int conc_shm_open_fd(conc_shm **out, int fd, uint32_t kind)
{
	int own, r;

	if (!out || fd < 0)
		return -EINVAL;
	own = sys_dup_cloexec(fd);
	if (own < 0)
		return own;
	r = attach(out, own, kind);
	if (r)
		sys_close(own);
	return r;
}

void *conc_shm_data(const conc_shm *s)
{
	return s ? s->map + HDR : NULL;
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
	 * boundary, so the answer is the same in all of them. */
	if (!s || !align || (align & (align - 1)) ||
	    offset > s->size || len > s->size - offset ||
	    (((uintptr_t)s->map + HDR + offset) & (align - 1)))
		return NULL;
	return s->map + HDR + offset;
}

int conc_shm_close(conc_shm *s)
{
	if (!s)
		return -EINVAL;
	if (s->fd >= 0)
		sys_close(s->fd);
	unmap(s);
	return 0;
}

int conc_shm_unlink(const char *name)
{
	char path[sizeof("/dev/shm/") + NAME_MAX];
	int r = check_name(name, path);

	return r ? r : sys_unlink(path);
}
