#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/io_uring.h>
#include <conc/sys.h>
#include "sys.h"
#include "task/libc.h"

/* Opcode numbers from kernels newer than the headers Debian 12 ships. */
#define OP_WAITID	50
#define OP_FUTEX_WAIT	51

/* With raw io_uring_setup/io_uring_register, so that the library needs
 * liburing only where it runs a ring (the loop module). */
static uint32_t probe_uring(void)
{
	struct {
		struct io_uring_probe p;
		struct io_uring_probe_op ops[256];
	} probe;
	struct io_uring_params params;
	uint32_t f = 0;
	int fd;

	memset(&params, 0, sizeof(params));
	fd = (int)__CONC_SC(SYS_io_uring_setup, 2, &params);
	if (fd < 0)
		return 0;
	f |= CONC_FEAT_IO_URING;
	memset(&probe, 0, sizeof(probe));
	if (__CONC_SC(SYS_io_uring_register, fd, IORING_REGISTER_PROBE, &probe,
		      256) == 0) {
		if (probe.p.ops_len > OP_FUTEX_WAIT &&
		    (probe.ops[OP_FUTEX_WAIT].flags & IO_URING_OP_SUPPORTED))
			f |= CONC_FEAT_URING_FUTEX;
		if (probe.p.ops_len > OP_WAITID &&
		    (probe.ops[OP_WAITID].flags & IO_URING_OP_SUPPORTED))
			f |= CONC_FEAT_URING_WAITID;
	}
	sys_close(fd);
	return f;
}

/* Each probe makes a call that a kernel with the feature rejects with
 * EINVAL (bad arguments) and one without it with ENOSYS. */
static uint32_t probe(void)
{
	struct robust_list_head *head;
	uint32_t f = 0;
	size_t len;
	void *page;
	int fd;

	if (sys_futex_waitv(NULL, 0, ~0u, NULL, 0) != -ENOSYS)
		f |= CONC_FEAT_FUTEX_WAITV;
	if (sys_clone3(NULL, 0) != -ENOSYS)
		f |= CONC_FEAT_CLONE3;
	fd = sys_pidfd_open(sys_getpid(), 0);
	if (fd >= 0) {
		f |= CONC_FEAT_PIDFD;
		sys_close(fd);
	}
	if (sys_get_robust_list(0, &head, &len) == 0)
		f |= CONC_FEAT_ROBUST_LIST;
	if (__CONC_SC(SYS_futex_wake, NULL, 0, 0, ~0u) != -ENOSYS)
		f |= CONC_FEAT_FUTEX2;
	page = sys_mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!sys_mmap_failed(page)) {
		if (sys_madvise(page, 4096, MADV_WIPEONFORK) == 0)
			f |= CONC_FEAT_WIPEONFORK;
		sys_munmap(page, 4096);
	}
	if (__CONC_SC(SYS_rseq, NULL, 0, ~0, 0) != -ENOSYS)
		f |= CONC_FEAT_RSEQ;
	if (conc_thread_support(NULL) == 0)
		f |= CONC_FEAT_THREADS;
	return f | probe_uring();
}

int conc_thread_support(const char **why)
{
	int r = __conc_libc_check();

	if (why)
		*why = !r ? NULL : __conc_libc_why() ? __conc_libc_why()
				       : "the C library was not recognised";
	return r;
}

uint32_t conc_features(void)
{
	/* Bit 31 marks "probed"; racing first callers compute the same. */
	static uint32_t cached;
	uint32_t f = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);

	if (!(f & 0x80000000u)) {
		f = probe() | 0x80000000u;
		__atomic_store_n(&cached, f, __ATOMIC_RELEASE);
	}
	return f & ~0x80000000u;
}
