/*
 * Creating a segment. A named one starts as a file without a name under
 * /dev/shm (O_TMPFILE), is sized and given its header, and only then is
 * linked under its name. linkat fails if the name exists, so of racing
 * creators one names its file and the others open that one; and nobody
 * ever finds a named segment without its header: nothing to wait for.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include "ipc/shm_impl.h"
#include "sys/sys.h"

#define NAME_TRIES 4	/* a name removed between our link and our open */

static size_t total_for(size_t size)
{
	return (SHM_HDR + size + 4095) & ~(size_t)4095;
}

/* What build() reserves of the data beyond the header's page. */
struct rsv {
	const struct shm_range *r;
	unsigned n;
};

/* Size fd for size bytes of data and write the header; the handle owns
 * fd on success. The header's page and rsv's ranges are allocated first:
 * on a full /dev/shm the header's store would be a SIGBUS. */
static int build(conc_shm **out, int fd, size_t size, uint32_t kind,
		 struct rsv rsv)
{
	size_t total = total_for(size);
	struct shm_hdr *h;
	conc_shm *s;
	unsigned i;
	int r;

	r = sys_ftruncate(fd, (off_t)total);
	if (!r)
		r = sys_fallocate(fd, 0, 0, SHM_HDR);
	if (r == -EOPNOTSUPP)
		r = 0;
	if (!r)
		r = __conc_shm_map(&s, fd, total);
	if (r)
		return r;
	s->size = size;
	for (i = 0; i < rsv.n; i++)
		if ((r = __conc_shm_reserve(s, rsv.r[i].off, rsv.r[i].len))) {
			__conc_shm_unmap(s);
			return r;
		}
	h = (struct shm_hdr *)s->map;
	h->version = SHM_VERSION;
	h->kind = kind;
	h->data_off = SHM_HDR;
	h->size = size;
	h->total = total;
	/* release: the header before the magic that says it is there. */
	__atomic_store_n(&h->magic, SHM_MAGIC, __ATOMIC_RELEASE);
	*out = s;
	return 0;
}

/* Give the unnamed file fd the name path; -EEXIST if it is taken. */
static int name_it(int fd, const char *path)
{
	char proc[32] = "/proc/self/fd/", *p = proc + 14;
	unsigned v = (unsigned)fd, n = 1;
	int r;

	while (v / 10 >= n)
		n *= 10;
	for (; n; n /= 10)
		*p++ = (char)('0' + v / n % 10);
	*p = 0;
	r = sys_linkat(-100, proc, -100, path, AT_SYMLINK_FOLLOW);
	if (r == -ENOENT)	/* no /proc: needs CAP_DAC_READ_SEARCH */
		r = sys_linkat(fd, "", -100, path, AT_EMPTY_PATH);
	return r;
}

static int open_existing(conc_shm **out, const char *path, size_t size,
			 uint32_t kind, unsigned mode)
{
	int r = __conc_shm_open_path(out, path, kind, mode);

	if (!r && (*out)->size != size) {
		conc_shm_close(*out);
		return -EINVAL;
	}
	return r;
}

static int create_named(conc_shm **out, const char *name, size_t size,
			uint32_t kind, unsigned flags, struct rsv rsv)
{
	char path[SHM_PATH_MAX];
	unsigned mode = (flags >> 16) & 0777 ? (flags >> 16) & 0777 : 0600;
	conc_shm *s;
	int fd, r, i;

	if ((r = __conc_shm_path(name, path)))
		return r;
	fd = sys_openat(-100, "/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (fd < 0)
		return fd;
	if ((r = build(&s, fd, size, kind, rsv))) {
		sys_close(fd);
		return r;
	}
	for (i = 0; i < NAME_TRIES; i++) {
		r = name_it(fd, path);
		if (r != -EEXIST || (flags & CONC_SHM_EXCL))
			break;
		/* Someone else's: ours goes, unnamed. */
		r = open_existing(out, path, size, kind, mode);
		if (r != -ENOENT) {
			conc_shm_close(s);
			return r;
		}
	}
	if (r) {
		conc_shm_close(s);
		return r;
	}
	*out = s;
	return 0;
}

int __conc_shm_create_reserving(conc_shm **out, const char *name, size_t size,
				uint32_t kind, unsigned flags,
				const struct shm_range *ranges, unsigned n)
{
	struct rsv rsv = { ranges, n };
	int fd, r;

	if (!out || !size || size > SHM_MAX_SIZE ||
	    (flags & ~(CONC_SHM_EXCL | CONC_SHM_MODE(0777))))
		return -EINVAL;
	if (name)
		return create_named(out, name, size, kind, flags, rsv);
	/* Sealed against shrinking: a peer given the fd could otherwise cut
	 * the file under everyone's mappings (SIGBUS on the next access). */
	fd = sys_memfd_create("conc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return fd;
	r = sys_fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);
	if (!r)
		r = build(out, fd, size, kind, rsv);
	if (r)
		sys_close(fd);
	return r;
}

int conc_shm_create(conc_shm **out, const char *name, size_t size,
		    uint32_t kind, unsigned flags)
{
	return __conc_shm_create_reserving(out, name, size, kind, flags, NULL, 0);
}
