/*
 * Creating a segment, a map, a list, a queue or a robust semaphore when
 * /dev/shm is full: the call fails with -ENOSPC, it does not kill its
 * caller with SIGBUS (tmpfs gives a page only when it is first touched,
 * and a create writes a header). The test runs in a child with a mount namespace of its own,
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
#include <sys/stat.h>
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

static ssize_t echo(const void *arg, size_t len, void *res, size_t cap)
{
	if (len > cap)
		return -EMSGSIZE;
	memcpy(res, arg, len);
	return (ssize_t)len;
}

/* Give one page back: the header's page then fits, nothing more. */
static int free_one_page(void)
{
	struct stat st;

	if (stat(FILL, &st) || st.st_size < 4096)
		return -1;
	return truncate(FILL, st.st_size - 4096);
}

/* The queue and the robust semaphore: on a full /dev/shm their create
 * fails; with room for the header's page alone, a queue (even of 1 << 24
 * slots: only its header is set up) is created and works, and a robust
 * semaphore whose holder table (read whole by every take) does not fit
 * is refused rather than killing its first taker; a pool (anonymous
 * segments) does not mind. */
static int full_queue_rsem_child(void)
{
	conc_queue_attr qa = { .capacity = 4, .max_msg = 16,
			       .name = "conc-test-full-q" };
	conc_rsem_attr ra = { .permits = 2, .name = "conc-test-full-rsem" };
	conc_pool_attr pa = { .workers = 1 };
	conc_pool *p;
	conc_queue *q;
	conc_rsem *r;
	char buf[16];

	if (private_small_shm())
		return 77;
	if (fill())
		return 2;
	if (conc_queue_create(&q, &qa) != -ENOSPC ||
	    access("/dev/shm/conc-test-full-q", F_OK) == 0)
		return 3;
	if (conc_rsem_create(&r, &ra) != -ENOSPC ||
	    access("/dev/shm/conc-test-full-rsem", F_OK) == 0)
		return 4;
	/* A pool's segments (its slots, its queue) are anonymous memfds, not
	 * files of /dev/shm: a full /dev/shm does not stop it. */
	if (conc_pool_create(&p, &pa) ||
	    conc_pool_apply_timed(p, echo, "ab", 2, buf, sizeof(buf),
				  10000000000LL) != 2 ||
	    conc_pool_destroy(p))
		return 10;
	if (free_one_page())
		return 5;
	ra.holders = CONC_RSEM_HOLDERS_MAX;
	if (conc_rsem_create(&r, &ra) != -ENOSPC ||
	    access("/dev/shm/conc-test-full-rsem", F_OK) == 0)
		return 6;
	qa.capacity = 1u << 24;
	if (conc_queue_create(&q, &qa) || conc_queue_put(q, "m", 1, 0) ||
	    conc_queue_get(q, buf, sizeof(buf), 0) != 1)
		return 7;
	conc_queue_destroy(q);
	if (unlink(FILL))
		return 8;
	ra.holders = 64;	/* two pages: room for them now */
	if (conc_rsem_create(&r, &ra) || conc_rsem_wait(r) || conc_rsem_post(r))
		return 9;
	conc_rsem_destroy(r);
	return 0;
}

static int run_full(void *arg)
{
	return ((int (*)(void))arg)();
}

static void run_checks(int (*child)(void))
{
	pid_t pid = fork_child(run_full, (void *)child);
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

Test(shm_full, create_on_a_full_dev_shm_is_enospc_not_sigbus, .timeout = 60)
{
	run_checks(full_child);
}

Test(shm_full, queue_and_rsem_create_on_a_full_dev_shm_is_enospc, .timeout = 60)
{
	run_checks(full_queue_rsem_child);
}
