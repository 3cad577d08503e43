/* tests/test_rsem.c — the robust semaphore: permits, ownership, holders,
 * names, holders that die, a table a peer scribbled on. Every wait is
 * bounded; children leave with _exit(). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <conc.h>
#include "ipc/rsem_impl.h"
#include "helpers.h"

#define MS(ms)	((int64_t)(ms) * 1000000)
#define BOUND	MS(10000)

static conc_rsem *anon(uint32_t permits, uint32_t holders)
{
	conc_rsem_attr a = { .permits = permits, .holders = holders };
	conc_rsem *s = NULL;

	cr_assert_eq(conc_rsem_create(&s, &a), 0);
	return s;
}

static void name_for(char *buf, size_t n, const char *what)
{
	snprintf(buf, n, "conc-test-rsem-%s-%d", what, (int)getpid());
	conc_shm_unlink(buf);
}

/* Forked before the semaphore existed: it gets the fd over the socket,
 * opens it, finds the parent's permit taken, takes the other and ends
 * holding it (the kernel hands it back). Exit code: the failed step. */
static int fd_peer(void *arg)
{
	int sock = *(int *)arg, fd;
	conc_rsem *s;

	if ((fd = recv_fd(sock)) < 0)
		return 2;
	if (conc_rsem_open_fd(&s, fd))
		return 3;
	close(fd);
	if (conc_rsem_permits(s) != 2 || conc_rsem_value(s) != 1)
		return 4;
	if (conc_rsem_trywait(s) || conc_rsem_trywait(s) != -EAGAIN)
		return 5;
	return 0;
}

Test(rsem, fd_passed_over_a_socket_opens_the_anonymous_one, .timeout = 30)
{
	conc_rsem *s;
	int sv[2], st;
	pid_t pid;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork_child(fd_peer, &sv[1]);
	cr_assert_gt(pid, 0);
	s = anon(2, 0);
	cr_assert_eq(conc_rsem_trywait(s), 0);
	cr_assert_eq(send_fd(sv[0], conc_rsem_fd(s)), 0);
	st = wait_child(pid, 10000);
	cr_assert(exited_with(st, 0), "the peer failed at step %d",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	/* The peer died holding one: it is free again. */
	cr_assert_eq(conc_rsem_value(s), 1);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_destroy(s), 0);
	close(sv[0]);
	close(sv[1]);
}

Test(rsem, counts_permits_per_holder)
{
	conc_rsem *s = anon(2, 0);
	conc_rsem_holder h[4];

	cr_assert_eq(conc_rsem_permits(s), 2);
	cr_assert_eq(conc_rsem_value(s), 2);
	cr_assert_eq(conc_rsem_trywait(s), 0);
	cr_assert_eq(conc_rsem_timedwait(s, MS(10)), 0);
	cr_assert_eq(conc_rsem_value(s), 0);
	cr_assert_eq(conc_rsem_trywait(s), -EAGAIN);
	cr_assert_eq(conc_rsem_timedwait(s, 0), -ETIMEDOUT);
	cr_assert_eq(conc_rsem_timedwait(s, MS(20)), -ETIMEDOUT);
	/* One context, one holder, counted. */
	cr_assert_eq(conc_rsem_holders(s, h, 4), 1);
	cr_assert_eq(h[0].pid, getpid());
	cr_assert_eq(h[0].tid, conc_gettid());
	cr_assert_eq(h[0].count, 2);
	cr_assert_gt(h[0].since_ns, (int64_t)(time(NULL) - 60) * 1000000000);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_holders(s, h, 4), 1);
	cr_assert_eq(h[0].count, 1);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_holders(s, h, 4), 0);
	cr_assert_eq(conc_rsem_value(s), 2);
	cr_assert_eq(conc_rsem_post(s), -EPERM);
	/* Not unmapped while a permit is held through it. */
	cr_assert_eq(conc_rsem_wait(s), 0);
	cr_assert_eq(conc_rsem_destroy(s), -EBUSY);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_destroy(s), 0);
}

Test(rsem, bad_arguments)
{
	conc_rsem_attr a = { .permits = CONC_RSEM_PERMITS_MAX + 1 };
	conc_rsem *s;

	cr_assert_eq(conc_rsem_create(NULL, NULL), -EINVAL);
	cr_assert_eq(conc_rsem_create(&s, &a), -EINVAL);
	a = (conc_rsem_attr){ .permits = 1, .holders = CONC_RSEM_HOLDERS_MAX + 1 };
	cr_assert_eq(conc_rsem_create(&s, &a), -EINVAL);
	a = (conc_rsem_attr){ .name = "a/b" };
	cr_assert_eq(conc_rsem_create(&s, &a), -EINVAL);
	cr_assert_eq(conc_rsem_open(&s, "a/b"), -EINVAL);
	cr_assert_eq(conc_rsem_open(NULL, "x"), -EINVAL);
	cr_assert_eq(conc_rsem_wait(NULL), -EINVAL);
	cr_assert_eq(conc_rsem_trywait(NULL), -EINVAL);
	cr_assert_eq(conc_rsem_timedwait(NULL, 0), -EINVAL);
	cr_assert_eq(conc_rsem_post(NULL), -EINVAL);
	cr_assert_eq(conc_rsem_value(NULL), -EINVAL);
	cr_assert_eq(conc_rsem_permits(NULL), -EINVAL);
	cr_assert_eq(conc_rsem_holders(NULL, NULL, 0), -EINVAL);
	cr_assert_eq(conc_rsem_destroy(NULL), -EINVAL);
	s = anon(1, 0);
	cr_assert_eq(conc_rsem_holders(s, NULL, 1), -EINVAL);
	cr_assert_eq(conc_rsem_holders(s, NULL, 0), 0);
	conc_rsem_destroy(s);
}

static int other_posts(void *arg)
{
	return errcode(conc_rsem_post(arg));
}

static int takes_and_exits(void *arg)
{
	int r = conc_rsem_timedwait(arg, BOUND);

	return r ? errcode(r) : 0;	/* and never posts */
}

static int takes_and_reports(void *arg)
{
	int r = conc_rsem_timedwait(arg, BOUND);

	if (r == 0 || r == -EOWNERDEAD)
		conc_rsem_post(arg);
	return errcode(r);
}

Test(rsem, only_the_holder_posts)
{
	conc_rsem *s = anon(1, 0);

	cr_assert_eq(conc_rsem_wait(s), 0);
	cr_assert_eq(run_in_child(other_posts, s, 10000), EPERM);
	cr_assert_eq(conc_rsem_value(s), 0);
	cr_assert_eq(conc_rsem_post(s), 0);
	conc_rsem_destroy(s);
}

Test(rsem, a_dead_holders_permit_comes_back_and_is_reported_once)
{
	conc_rsem *s = anon(1, 0);

	cr_assert_eq(run_in_child(takes_and_exits, s, 10000), 0);
	cr_assert_eq(conc_rsem_timedwait(s, BOUND), -EOWNERDEAD);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_timedwait(s, BOUND), 0);
	cr_assert_eq(conc_rsem_post(s), 0);
	conc_rsem_destroy(s);
}

Test(rsem, a_sleeper_gets_the_permit_of_a_holder_killed_by_sigkill)
{
	conc_rsem *s = anon(1, 0);
	uint32_t *took = shared_alloc(4096);
	pid_t holder, sleeper;
	int st;

	holder = test_fork();
	if (holder == 0) {
		if (conc_rsem_wait(s))
			_exit(1);
		set_flag(took, 1);
		pause();
		_exit(0);
	}
	cr_assert(wait_flag(took, 10000));
	sleeper = fork_child(takes_and_reports, s);
	sleep_ns(MS(50));
	kill(holder, SIGKILL);
	cr_assert(killed_by(wait_child(holder, 10000), SIGKILL));
	st = wait_child(sleeper, 10000);
	cr_assert(exited_with(st, EOWNERDEAD), "status %#x", st);
	cr_assert_eq(conc_rsem_value(s), 1);
	shared_free(took, 4096);
	conc_rsem_destroy(s);
}

Test(rsem, a_post_wakes_a_sleeper_in_another_process)
{
	conc_rsem *s = anon(1, 0);
	pid_t sleeper;

	cr_assert_eq(conc_rsem_wait(s), 0);
	sleeper = fork_child(takes_and_reports, s);
	sleep_ns(MS(30));
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert(exited_with(wait_child(sleeper, 10000), 0));
	conc_rsem_destroy(s);
}

Test(rsem, a_full_table_is_eusers)
{
	conc_rsem *s = anon(3, 1);

	cr_assert_eq(run_in_child(takes_and_reports, s, 10000), 0);
	cr_assert_eq(conc_rsem_wait(s), 0);
	/* A permit is free, but no slot for another holder. */
	cr_assert_eq(conc_rsem_value(s), 2);
	cr_assert_eq(run_in_child(takes_and_reports, s, 10000), EUSERS);
	/* The holder itself may take more. */
	cr_assert_eq(conc_rsem_trywait(s), 0);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(run_in_child(takes_and_reports, s, 10000), 0);
	conc_rsem_destroy(s);
}

Test(rsem, named_create_open_and_checks)
{
	char name[64];
	conc_rsem_attr a = { .permits = 3, .flags = CONC_SHM_EXCL };
	conc_rsem *s, *t;
	conc_shm *seg;
	struct stat st;

	name_for(name, sizeof(name), "named");
	a.name = name;
	cr_assert_eq(conc_rsem_open(&t, name), -ENOENT);
	cr_assert_eq(conc_rsem_create(&s, &a), 0);
	cr_assert_eq(conc_rsem_create(&t, &a), -EEXIST);
	a.flags = 0;
	cr_assert_eq(conc_rsem_create(&t, &a), 0);	/* same: opened */
	conc_rsem_destroy(t);
	a.permits = 4;
	a.holders = 3;
	cr_assert_eq(conc_rsem_create(&t, &a), -EINVAL);	/* other permits */
	cr_assert_eq(conc_rsem_open(&t, name), 0);
	cr_assert_eq(conc_rsem_permits(t), 3);
	cr_assert_eq(conc_rsem_wait(t), 0);
	cr_assert_eq(conc_rsem_value(s), 2);
	/* Held through t's mapping: only t can give it back. */
	cr_assert_eq(conc_rsem_post(s), -EPERM);
	cr_assert_eq(conc_rsem_destroy(t), -EBUSY);
	cr_assert_eq(conc_rsem_wait(s), 0);	/* a second holder entry */
	cr_assert_eq(conc_rsem_value(t), 1);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_post(t), 0);
	cr_assert_eq(conc_rsem_value(t), 3);
	cr_assert_eq(fstat(conc_rsem_fd(s), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	conc_rsem_destroy(t);
	conc_rsem_destroy(s);
	/* Another kind under the name. */
	cr_assert_eq(conc_shm_unlink(name), 0);
	cr_assert_eq(conc_shm_create(&seg, name, 4096, CONC_SHM_RAW, 0), 0);
	cr_assert_eq(conc_rsem_open(&t, name), -EPROTO);
	a.flags = 0;
	cr_assert_neq(conc_rsem_create(&t, &a), 0);
	conc_shm_close(seg);
	conc_shm_unlink(name);
}

/* A file group or others may write: conc_rsem_open refuses it, a caller
 * that vouches for the file (conc-sem --mode 666) opens its fd. */
Test(rsem, open_fd_takes_a_file_open_refuses)
{
	conc_rsem_attr a = { .permits = 2 };
	char name[64], path[128];
	conc_rsem *s, *t;
	conc_shm *seg;
	int fd;

	name_for(name, sizeof(name), "fd");
	a.name = name;
	cr_assert_eq(conc_rsem_create(&s, &a), 0);
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fchmod(fd, 0666), 0);
	cr_assert_eq(conc_rsem_open(&t, name), -EACCES);
	cr_assert_eq(conc_rsem_open_fd(&t, fd), 0);
	cr_assert_eq(close(fd), 0);	/* dup'ed: the caller's to close */
	cr_assert_eq(conc_rsem_permits(t), 2);
	cr_assert_eq(conc_rsem_wait(t), 0);
	cr_assert_eq(conc_rsem_value(s), 1);
	cr_assert_eq(conc_rsem_post(t), 0);
	cr_assert_eq(conc_rsem_destroy(t), 0);
	cr_assert_eq(conc_rsem_destroy(s), 0);
	cr_assert_eq(conc_shm_unlink(name), 0);
	/* An anonymous one's fd, as another process would get it. */
	cr_assert_eq(conc_rsem_fd(NULL), -EINVAL);
	s = anon(1, 0);
	cr_assert(fcntl(conc_rsem_fd(s), F_GETFD) & FD_CLOEXEC);
	cr_assert_eq(conc_rsem_open_fd(&t, conc_rsem_fd(s)), 0);
	cr_assert_eq(conc_rsem_trywait(t), 0);
	cr_assert_eq(conc_rsem_trywait(s), -EAGAIN);
	cr_assert_eq(conc_rsem_post(t), 0);
	cr_assert_eq(conc_rsem_destroy(t), 0);
	cr_assert_eq(conc_rsem_destroy(s), 0);
	/* Bad arguments, and a segment of another kind. */
	cr_assert_eq(conc_rsem_open_fd(NULL, 0), -EINVAL);
	cr_assert_eq(conc_rsem_open_fd(&t, -1), -EINVAL);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(close(fd), 0);
	cr_assert_eq(conc_rsem_open_fd(&t, fd), -EBADF);
	cr_assert_eq(conc_shm_create(&seg, NULL, 4096, CONC_SHM_RAW, 0), 0);
	cr_assert_eq(conc_rsem_open_fd(&t, conc_shm_fd(seg)), -EPROTO);
	conc_shm_close(seg);
}

/* ---- a peer that writes anything ---- */

static conc_rsem *hostile(uint32_t permits, uint32_t holders, unsigned seed)
{
	conc_rsem *s = anon(permits, holders);
	unsigned char *p = (unsigned char *)s->sh;
	size_t n = sizeof(*s->sh) + (size_t)s->nslots * sizeof(struct rsem_slot);

	srand(seed);
	for (size_t i = 0; i < n; i++)
		if (rand() % 3 == 0)
			p[i] = (unsigned char)rand();
	return s;
}

/* The calls' time is the child's own (own_clock.h): a child that load
 * keeps off the CPU is not late, one that sleeps 9 s is (exit 9). */
static int scribbled_calls(void *arg)
{
	conc_rsem *s = arg;
	conc_rsem_holder h[8];
	int64_t t0 = own_now_ns();
	int r;

	conc_rsem_value(s);
	conc_rsem_holders(s, h, 8);
	r = conc_rsem_timedwait(s, MS(300));
	if (r == 0 || r == -EOWNERDEAD)
		conc_rsem_post(s);
	conc_rsem_trywait(s);
	conc_rsem_post(s);
	return own_now_ns() - t0 < MS(9000) ? 0 : 9;
}

Test(rsem, scribbled_table_never_crashes_or_hangs, .timeout = 120)
{
	for (unsigned seed = 1; seed <= 40; seed++) {
		conc_rsem *s = hostile(2, 4, seed);

		cr_assert_eq(run_in_child(scribbled_calls, s, 60000), 0,
			     "seed %u", seed);
		conc_rsem_destroy(s);
	}
}

Test(rsem, a_forged_dead_tid_is_found_by_its_absence)
{
	conc_rsem *s = anon(1, 2);
	struct rsem_slot *sl = &s->sh->slots[1];
	pid_t gone = fork();

	if (gone == 0)
		_exit(0);
	cr_assert(exited_with(wait_child(gone, 10000), 0));
	/* A holder whose thread ended without the kernel marking its word
	 * (its robust list was broken): a tid nobody has now. */
	conc_mutex_init(&sl->m, CONC_ROBUST);
	sl->m.word = (uint32_t)gone;
	sl->pid = gone;
	sl->count = 1;
	cr_assert_eq(conc_rsem_value(s), 0);
	cr_assert_eq(conc_rsem_timedwait(s, BOUND), -EOWNERDEAD);
	cr_assert_eq(conc_rsem_post(s), 0);
	conc_rsem_destroy(s);
}

Test(rsem, a_forged_live_tid_holds_but_never_hangs)
{
	conc_rsem *s = anon(1, 2);
	struct rsem_slot *sl = &s->sh->slots[0];

	/* Our own parent's tid: alive, and not ours. */
	conc_mutex_init(&sl->m, CONC_ROBUST);
	sl->m.word = (uint32_t)getppid();
	sl->pid = getppid();
	sl->count = 1;
	cr_assert_eq(conc_rsem_timedwait(s, MS(250)), -ETIMEDOUT);
	cr_assert_eq(conc_rsem_trywait(s), -EAGAIN);
	cr_assert_eq(conc_rsem_post(s), -EPERM);
	conc_rsem_destroy(s);
}

/* ---- threads: a permit belongs to the thread that took it ---- */

static int thread_takes(void *arg)
{
	return -conc_rsem_timedwait(arg, BOUND);	/* and never posts */
}

static int thread_posts(void *arg)
{
	return -conc_rsem_post(arg);
}

Test(rsem, a_thread_that_ends_holding_gives_its_permit_back)
{
	conc_rsem *s = anon(2, 0);
	conc_thread *t;
	int code = -1, r;

	cr_assert_eq(conc_rsem_wait(s), 0);
	r = conc_thread_start(&t, thread_takes, s, NULL);
	if (r == -ENOTSUP)
		cr_skip_test("conc threads not supported here");
	cr_assert_eq(r, 0);
	cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
	cr_assert_eq(code, 0);
	/* Another thread of this process cannot post ours. */
	cr_assert_eq(conc_thread_start(&t, thread_posts, s, NULL), 0);
	cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
	cr_assert_eq(code, EPERM);
	cr_assert_eq(conc_rsem_timedwait(s, BOUND), -EOWNERDEAD);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_value(s), 2);
	cr_assert_eq(conc_rsem_destroy(s), 0);
}

/*
 * A join returns once the kernel has walked the thread's robust list, but
 * tgkill() finds the thread a moment longer: a destroy right after the
 * join said -EBUSY about once in a few hundred rounds (seen in CI). Many
 * rounds, each a fresh semaphore whose permit a thread ends holding.
 */
Test(rsem, destroy_right_after_joining_the_holder_goes_through, .timeout = 60)
{
	conc_rsem *s;
	conc_thread *t;
	int code, r, i;

	for (i = 0; i < 300; i++) {
		s = anon(1, 0);
		r = conc_thread_start(&t, thread_takes, s, NULL);
		if (r == -ENOTSUP)
			cr_skip_test("conc threads not supported here");
		cr_assert_eq(r, 0);
		code = -1;
		cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
		cr_assert_eq(code, 0);
		cr_assert_eq(conc_rsem_destroy(s), 0, "round %d", i);
	}
}

Test(rsem, a_creator_that_died_before_setting_up_is_finished_by_the_next)
{
	char name[64];
	conc_rsem_attr a = { .permits = 1 };
	conc_shm *seg;
	conc_rsem *s;

	name_for(name, sizeof(name), "halfmade");
	a.name = name;
	/* What a creator killed between conc_shm_create and setup leaves. */
	cr_assert_eq(conc_shm_create(&seg, name, sizeof(struct rsem_shared) +
				     sizeof(struct rsem_slot), CONC_SHM_RSEM, 0), 0);
	cr_assert_eq(conc_rsem_open(&s, name), -EPROTO);	/* after 1 s */
	cr_assert_eq(conc_rsem_create(&s, &a), 0);
	cr_assert_eq(conc_rsem_trywait(s), 0);
	cr_assert_eq(conc_rsem_post(s), 0);
	conc_rsem_destroy(s);
	conc_shm_close(seg);
	conc_shm_unlink(name);
}

/* ---- contexts: two coroutines of one thread are two holders ---- */

void __conc_ctx_switch(uint32_t ctx);

Test(rsem, each_context_of_a_thread_holds_its_own)
{
	conc_rsem *s = anon(2, 0);
	conc_rsem_holder h[4];

	__conc_ctx_switch(7);
	cr_assert_eq(conc_rsem_wait(s), 0);
	__conc_ctx_switch(8);
	cr_assert_eq(conc_rsem_wait(s), 0);
	cr_assert_eq(conc_rsem_holders(s, h, 4), 2);
	cr_assert_eq(conc_rsem_trywait(s), -EAGAIN);
	__conc_ctx_switch(9);
	cr_assert_eq(conc_rsem_post(s), -EPERM);	/* holds none */
	__conc_ctx_switch(7);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_post(s), -EPERM);	/* 8's is 8's */
	__conc_ctx_switch(8);
	cr_assert_eq(conc_rsem_post(s), 0);
	__conc_ctx_switch(0);
	cr_assert_eq(conc_rsem_value(s), 2);
	conc_rsem_destroy(s);
}

/* ---- a peer takes our slot's word away while we hold it ---- */

static void *robust_first(void)
{
	struct robust_list_head *h;
	size_t len;

	cr_assert_eq(syscall(SYS_get_robust_list, 0, &h, &len), 0);
	return (void *)h->list.next == (void *)&h->list ? NULL : h->list.next;
}

/*
 * The slot's lock stays on our robust list until we let go of it: a
 * destroy that unmapped the segment meanwhile would leave the list naming
 * unmapped memory, and our next robust lock would write there (SIGSEGV).
 * So the destroy is refused while it is linked, and the post, although it
 * gives nothing back (-EPERM), takes it off the list.
 */
Test(rsem, a_word_a_peer_took_from_us_leaves_nothing_linked)
{
	for (int peer_writes_word = 0; peer_writes_word < 2; peer_writes_word++) {
		conc_rsem *s = anon(2, 0);
		conc_mutex mine;
		int i;

		cr_assert_null(robust_first());
		cr_assert_eq(conc_rsem_wait(s), 0);
		for (i = 0; i < (int)s->nslots; i++)
			if (s->sh->slots[i].m.word == (uint32_t)conc_gettid())
				break;
		cr_assert_lt(i, (int)s->nslots);
		if (peer_writes_word)
			__atomic_store_n(&s->sh->slots[i].m.word, 1, __ATOMIC_RELAXED);
		else
			s->sh->slots[i].m.ctx = 0x40;	/* the slot no longer looks ours */
		cr_assert_eq(conc_rsem_destroy(s), -EBUSY);
		cr_assert_eq(conc_rsem_post(s), peer_writes_word ? -EPERM : 0);
		cr_assert_null(robust_first(), "the slot's lock is still linked");
		cr_assert_eq(conc_rsem_post(s), -EPERM);
		cr_assert_eq(conc_rsem_destroy(s), 0);
		cr_assert_eq(conc_mutex_init(&mine, CONC_ROBUST), 0);
		cr_assert_eq(conc_mutex_lock(&mine), 0);
		cr_assert_eq(conc_mutex_unlock(&mine), 0);
	}
}

/* ---- a peer writes the takers' lock to name us, recursive beside it ---- */

/* rsem.h: a takers' lock that names the caller is a peer's forgery,
 * -EDEADLK. With CONC_RECURSIVE forged too, the take used to count
 * itself in as a recursive owner and go on without the lock (and leave
 * it named after the caller at the unlock). */
Test(rsem, a_takers_lock_forged_to_name_us_recursively_is_refused)
{
	conc_rsem *s = anon(2, 0);
	conc_mutex *m = &s->sh->lock;

	__atomic_store_n(&m->word, (uint32_t)syscall(SYS_gettid), __ATOMIC_RELAXED);
	m->ctx = 0;
	m->flags |= CONC_RECURSIVE;
	cr_assert_eq(conc_rsem_trywait(s), -EDEADLK);
	cr_assert_eq(conc_rsem_timedwait(s, MS(20)), -EDEADLK);
	cr_assert_eq(conc_rsem_holders(s, NULL, 0), 0, "nothing was taken");
	/* The peer puts it back: the semaphore works again. */
	m->flags &= ~(uint32_t)CONC_RECURSIVE;
	m->count = 0;
	__atomic_store_n(&m->word, 0, __ATOMIC_RELEASE);
	cr_assert_eq(conc_rsem_trywait(s), 0);
	cr_assert_eq(conc_rsem_post(s), 0);
	conc_rsem_destroy(s);
}
