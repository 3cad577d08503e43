/*
 * Opening a segment: everything in the file is anyone's to write, so the
 * header is copied once, checked, and only the copy is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include "ipc/shm_impl.h"
#include "sys/sys.h"

/* A file of len bytes, too short for a header: a conc segment cut short
 * (its bytes begin as the magic does) is -EINVAL, as one cut anywhere
 * else; anything else, the empty file included, is no conc segment. */
static int too_short(int fd, long len)
{
	uint32_t magic = SHM_MAGIC, head = 0;
	long n = len < 4 ? len : 4;

	if (n && sys_pread(fd, &head, (size_t)n, 0) == n &&
	    !memcmp(&head, &magic, (size_t)n))
		return -EINVAL;
	return -EPROTO;
}

/* Map fd (ours now) and check it holds a finished segment of kind. */
static int attach(conc_shm **out, int fd, uint32_t kind)
{
	struct shm_hdr *h, c;
	conc_shm *s;
	long len;
	int r;

	len = sys_fsize(fd);
	if (len < 0)
		return (int)len;
	/* Empty, or zeroed below: not a conc segment (a conc creator names
	 * its file only once the header is written). */
	if (len < (long)SHM_HDR)
		return too_short(fd, len);
	r = __conc_shm_map(&s, fd, (size_t)len);
	if (r)
		return r;
	h = (struct shm_hdr *)s->map;
	c.magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
	c.version = h->version;
	c.kind = h->kind;
	c.data_off = h->data_off;
	c.size = h->size;
	c.total = h->total;
	r = 0;
	if (c.magic != SHM_MAGIC || c.version != SHM_VERSION ||
	    c.kind != kind || c.data_off != SHM_HDR)
		r = -EPROTO;
	else if (c.total != (uint64_t)len || c.size > c.total - SHM_HDR)
		r = -EINVAL;
	if (r) {
		__conc_shm_unmap(s);
		return r;
	}
	s->size = c.size;
	*out = s;
	return 0;
}

/* A name is trusted only if the caller or root owns the file and nobody
 * else may write it beyond what mode admits: otherwise anyone could
 * prepare a name for the caller to open, and write into it at will. */
static int check_owner(int fd, unsigned mode)
{
	struct stat st;
	int r = sys_fstat(fd, &st);

	if (r)
		return r;
	if (!S_ISREG(st.st_mode))
		return -EPROTO;
	if ((st.st_uid != sys_geteuid() && st.st_uid != 0) ||
	    (st.st_mode & 022 & ~mode))
		return -EACCES;
	return 0;
}

int __conc_shm_open_path(conc_shm **out, const char *path, uint32_t kind,
			 unsigned mode)
{
	int fd, r;

	fd = sys_openat(-100, path, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return fd;
	r = check_owner(fd, mode);
	if (!r)
		r = attach(out, fd, kind);
	if (r)
		sys_close(fd);
	return r;
}

int conc_shm_open(conc_shm **out, const char *name, uint32_t kind)
{
	char path[SHM_PATH_MAX];
	int r;

	if (!out)
		return -EINVAL;
	if ((r = __conc_shm_path(name, path)))
		return r;
	return __conc_shm_open_path(out, path, kind, 0600);
}

/*
 * A peer that hands over an anonymous file it did not seal against
 * shrinking could cut it under the caller's mapping (SIGBUS at the next
 * access), and the caller cannot tell a sealed one from its fd alone.
 * conc seals its own at birth (shm_create.c); one that can still be sealed
 * is sealed here, before its size is read; a named file cannot be, and is
 * admitted as conc_shm_open admits it. Returns whether fd may be cut.
 */
static bool cuttable(int fd)
{
	struct stat st;
	int seals = sys_fcntl(fd, F_GET_SEALS, 0);

	if (seals >= 0 && (seals & F_SEAL_SHRINK))
		return false;
	if (seals >= 0 && !(seals & F_SEAL_SEAL) &&
	    !sys_fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK))
		return false;
	return !sys_fstat(fd, &st) && S_ISREG(st.st_mode) && !st.st_nlink;
}

int conc_shm_open_fd(conc_shm **out, int fd, uint32_t kind)
{
	bool cut;
	int own, r;

	if (!out || fd < 0)
		return -EINVAL;
	own = sys_dup_cloexec(fd);
	if (own < 0)
		return own;
	cut = cuttable(own);
	r = attach(out, own, kind);
	/* After the checks of what it holds: a file that is no segment is
	 * -EPROTO whatever its seals. */
	if (!r && cut) {
		conc_shm_close(*out);
		*out = NULL;
		return -EACCES;
	}
	if (r)
		sys_close(own);
	return r;
}
