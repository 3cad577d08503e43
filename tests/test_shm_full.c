/*
 * Creating a segment, a map or a list when /dev/shm is full: the call
 * fails with -ENOSPC, it does not kill its caller with SIGBUS (tmpfs
 * gives a page only when it is first touched, and a create writes a
 * header). The test runs in a child with a mount namespace of its own,
 * where /dev/shm is a tmpfs of 64 KiB that a file fills; it needs root
 * (CAP_SYS_ADMIN) and is skipped without it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <conc.h>
#include "helpers.h"

#define FILL "/dev/shm/conc-test-fill"

/* 0: in a private /dev/shm of 64 KiB; 1: cannot (not root). */
static int private_small_shm(void)
{
	if (unshare(CLONE_NEWNS) ||
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=64k,mode=1777"))
		return 1;
	return 0;
}

/* Fill it to the last page: 0, or -1. */
static int fill(void)
{
	static char page[4096] = { 1 };
	int fd = open(FILL, O_CREAT | O_RDWR | O_CLOEXEC, 0600), n = 0;

	if (fd < 0)
		return -1;
	while (write(fd, page, sizeof(page)) == (ssize_t)sizeof(page))
		n++;
	close(fd);
	return n > 0 ? 0 : -1;
}

/* Each check's own exit code, so the parent can say which failed. */
static int full_child(void)
{
	conc_map_attr a = { .size = 16 * 1024 };
	conc_shm *s;
	conc_map *m;
	conc_list *l;

	if (private_small_shm())
		return 77;
	if (fill())
		return 2;
	if (conc_shm_create(&s, "conc-test-full-seg", 100, CONC_SHM_RAW, 0) != -ENOSPC)
		return 3;
	if (access("/dev/shm/conc-test-full-seg", F_OK) == 0)
		return 4;	/* a creation that fails leaves no file */
	a.name = "conc-test-full-map";
	if (conc_map_create(&m, &a) != -ENOSPC ||
	    access("/dev/shm/conc-test-full-map", F_OK) == 0)
		return 5;
	a.name = "conc-test-full-list";
	if (conc_list_create(&l, &a) != -ENOSPC ||
	    access("/dev/shm/conc-test-full-list", F_OK) == 0)
		return 6;
	/* Room again: the same calls work, and so does an open. */
	if (unlink(FILL))
		return 7;
	a.name = "conc-test-full-map";
	if (conc_map_create(&m, &a) || conc_map_put(m, "k", 1, "v", 1))
		return 8;
	conc_map_destroy(m);
	if (conc_map_open(&m, a.name) || conc_map_len(m) != 1)
		return 9;
	conc_map_destroy(m);
	a.name = "conc-test-full-list";
	if (conc_list_create(&l, &a) || conc_list_append(l, "v", 1))
		return 10;
	conc_list_destroy(l);
	if (conc_shm_create(&s, "conc-test-full-seg", 100, CONC_SHM_RAW, 0))
		return 11;
	conc_shm_close(s);
	return 0;
}

static int run_full(void *arg)
{
	(void)arg;
	return full_child();
}

Test(shm_full, create_on_a_full_dev_shm_is_enospc_not_sigbus, .timeout = 60)
{
	pid_t pid = fork_child(run_full, NULL);
	int st;

	cr_assert_gt(pid, 0);
	st = wait_child(pid, 30000);
	cr_assert_neq(st, -1, "the child did not end");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		cr_skip_test("no mount namespace (needs root)");
	cr_assert_not(WIFSIGNALED(st), "the child was killed by signal %d",
		      WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	cr_assert(exited_with(st, 0), "check %d failed", WEXITSTATUS(st));
}
