/*
 * The I/O calls outside a loop where preadv2/pwritev2 do not exist: a
 * seccomp filter that answers them ENOSYS, as qemu-user 7.2 does (and a
 * sandbox may). A read or write with a timeout then falls back to poll
 * and the plain call: it must neither return the -ENOSYS of a call the
 * caller never made nor block past its deadline.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <conc.h>
#include "loop_helpers.h"

static char big[1 << 20];

/* In a child: preadv2 and pwritev2 fail with ENOSYS. 0, or the number of
 * the check that failed. */
static int without_rwf(void *arg)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_preadv2, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pwritev2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof(f) / sizeof(f[0])), f };
	int p[2];
	char b[8];
	long n;

	(void)arg;
	if (pipe2(p, O_CLOEXEC))
		return 1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 2;
	/* Nothing comes: the deadline, not -ENOSYS. */
	if (conc_read(p[0], b, sizeof(b), 20 * MS) != -ETIMEDOUT)
		return 3;
	/* More than the pipe holds, nobody reading: a short count or
	 * -ETIMEDOUT, not a write blocked for ever. */
	n = conc_write(p[1], big, sizeof(big), 50 * MS);
	if (!(n == -ETIMEDOUT || (n > 0 && n < (long)sizeof(big))))
		return 4;
	/* What is there is read at once. */
	if (n > 0 && conc_read(p[0], b, sizeof(b), BOUND) != (long)sizeof(b))
		return 5;
	return 0;
}

Test(io_norwf, timed_calls_without_preadv2_keep_their_deadline, .timeout = 60)
{
	if (!seccomp_available())
		cr_skip_test("no seccomp filters here");
	cr_assert_eq(run_in_child(without_rwf, NULL, 20000), 0);
}
