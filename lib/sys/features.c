#include <errno.h>
#include <sys/mman.h>
#include <liburing.h>
#include <conc/sys.h>
#include "sys.h"

/* Opcode numbers from kernels newer than liburing 2.3's header. */
#define OP_WAITID	50
#define OP_FUTEX_WAIT	51

static uint32_t probe_uring(void)
{
	struct io_uring ring;
	struct io_uring_probe *p;
	uint32_t f = 0;

	if (io_uring_queue_init(2, &ring, 0) < 0)
		return 0;
	f |= CONC_FEAT_IO_URING;
	p = io_uring_get_probe_ring(&ring);
	if (p) {
		if (io_uring_opcode_supported(p, OP_FUTEX_WAIT))
			f |= CONC_FEAT_URING_FUTEX;
		if (io_uring_opcode_supported(p, OP_WAITID))
			f |= CONC_FEAT_URING_WAITID;
		io_uring_free_probe(p);
	}
	io_uring_queue_exit(&ring);
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
	return f | probe_uring();
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
