/*
 * A map or a list reached through its segment's descriptor
 * (conc_map_open_fd, conc_list_open_fd; conc_map_fd, conc_list_fd): the
 * way to one that an open by name refuses (another user's file, or one a
 * group may write) and to an anonymous one passed over a UNIX socket to a
 * process that did not inherit it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <conc.h>
#include "helpers.h"

#define KiB 1024

static void name_for(char *buf, size_t n, const char *tag)
{
	snprintf(buf, n, "conc-test-mapfd-%d-%s", (int)getpid(), tag);
}

/* Either container behind one set of calls, so both get every check. */
struct any {
	bool list;
	conc_map *m;
	conc_list *l;
};

static int any_create(struct any *a, const conc_map_attr *attr)
{
	return a->list ? conc_list_create(&a->l, attr) : conc_map_create(&a->m, attr);
}

static int any_open(struct any *a, const char *name)
{
	return a->list ? conc_list_open(&a->l, name) : conc_map_open(&a->m, name);
}

static int any_open_fd(struct any *a, int fd)
{
	return a->list ? conc_list_open_fd(&a->l, fd) : conc_map_open_fd(&a->m, fd);
}

static int any_open_fd_null(bool list, int fd)
{
	return list ? conc_list_open_fd(NULL, fd) : conc_map_open_fd(NULL, fd);
}

static int any_fd(const struct any *a)
{
	return a->list ? conc_list_fd(a->l) : conc_map_fd(a->m);
}

static int any_add(struct any *a, const char *v)
{
	return a->list ? conc_list_append(a->l, v, strlen(v))
		       : conc_map_put(a->m, v, strlen(v), v, strlen(v));
}

static bool any_has(struct any *a, const char *v)
{
	char buf[32];
	ssize_t n, i;

	if (!a->list)
		return conc_map_contains(a->m, v, strlen(v));
	n = conc_list_len(a->l);
	for (i = 0; i < n; i++)
		if (conc_list_get(a->l, i, buf, sizeof(buf)) == (ssize_t)strlen(v) &&
		    !memcmp(buf, v, strlen(v)))
			return true;
	return false;
}

static void any_destroy(struct any *a)
{
	cr_assert_eq(a->list ? conc_list_destroy(a->l) : conc_map_destroy(a->m), 0);
}

/* A named one that conc_map_open refuses: group and others may write it,
 * then another user owns it. Its file, opened by the caller, works. */
static void refused_by_name(bool list)
{
	conc_map_attr attr = { .size = 16 * KiB };
	struct any a = { .list = list }, b = { .list = list };
	char name[64], path[128];
	int fd;

	name_for(name, sizeof(name), list ? "list" : "map");
	conc_shm_unlink(name);
	attr.name = name;
	cr_assert_eq(any_create(&a, &attr), 0);
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fchmod(fd, 0666), 0);
	cr_assert_eq(any_open(&b, name), -EACCES);
	cr_assert_eq(any_open_fd(&b, fd), 0);
	cr_assert_eq(any_add(&a, "from-a"), 0);
	cr_assert_eq(any_add(&b, "from-b"), 0);
	cr_assert(any_has(&b, "from-a"));
	cr_assert(any_has(&a, "from-b"));
	any_destroy(&b);
	if (geteuid() == 0) {
		cr_assert_eq(fchmod(fd, 0600), 0);
		cr_assert_eq(fchown(fd, 65534, 65534), 0);
		cr_assert_eq(any_open(&b, name), -EACCES);
		cr_assert_eq(any_open_fd(&b, fd), 0);
		cr_assert(any_has(&b, "from-b"));
		any_destroy(&b);
	}
	cr_assert_eq(close(fd), 0);	/* dup'ed: the caller's to close */
	cr_assert(any_has(&a, "from-a"));
	any_destroy(&a);
	cr_assert_eq(conc_shm_unlink(name), 0);
}

Test(map_fd, map_refused_by_name_opens_by_its_file, .timeout = 30)
{
	refused_by_name(false);
}

Test(map_fd, list_refused_by_name_opens_by_its_file, .timeout = 30)
{
	refused_by_name(true);
}

/* A process forked before the anonymous container existed: it gets the
 * descriptor over the socket, opens it, adds, and says so. */
static void stranger(int sock, bool list)
{
	struct any b = { .list = list };
	int fd = recv_fd(sock);
	char c = 'x';

	if (fd < 0)
		_exit(1);
	if (any_open_fd(&b, fd))
		_exit(2);
	close(fd);
	if (any_add(&b, "stranger") || !any_has(&b, "parent"))
		_exit(3);
	any_destroy(&b);
	if (write(sock, &c, 1) != 1)
		_exit(4);
	_exit(0);
}

static void anonymous_over_a_socket(bool list)
{
	conc_map_attr attr = { .size = 16 * KiB };
	struct any a = { .list = list };
	int sv[2], fd;
	char c;
	pid_t pid;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(sv[0]);
		stranger(sv[1], list);
	}
	close(sv[1]);
	cr_assert_eq(any_create(&a, &attr), 0);
	fd = any_fd(&a);
	cr_assert_geq(fd, 0);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	cr_assert_eq(any_add(&a, "parent"), 0);
	cr_assert_eq(send_fd(sv[0], fd), 0);
	cr_assert_eq(read(sv[0], &c, 1), 1, "the other process did not get in");
	cr_assert(exited_with(wait_child(pid, 10000), 0));
	cr_assert(any_has(&a, "stranger"));
	cr_assert_eq(any_fd(&a), fd, "the handle's descriptor stays");
	any_destroy(&a);
	close(sv[0]);
}

Test(map_fd, anonymous_map_passed_over_a_socket, .timeout = 30)
{
	anonymous_over_a_socket(false);
}

Test(map_fd, anonymous_list_passed_over_a_socket, .timeout = 30)
{
	anonymous_over_a_socket(true);
}

/* Bad arguments, and segments of another kind. */
static void bad_fds(bool list)
{
	conc_map_attr attr = { .size = 16 * KiB };
	struct any a = { .list = list }, other = { .list = !list }, b = { .list = list };
	conc_shm *s;
	int fd, fds = count_fds();

	cr_assert_eq(any_open_fd_null(list, 0), -EINVAL);
	cr_assert_eq(any_open_fd(&b, -1), -EINVAL);
	cr_assert_eq(list ? conc_list_fd(NULL) : conc_map_fd(NULL), -EINVAL);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(close(fd), 0);
	cr_assert_eq(any_open_fd(&b, fd), -EBADF);
	cr_assert_eq(any_create(&other, &attr), 0);
	cr_assert_eq(any_open_fd(&b, any_fd(&other)), -EPROTO, "the other kind");
	any_destroy(&other);
	cr_assert_eq(conc_shm_create(&s, NULL, 16 * KiB, CONC_SHM_RAW, 0), 0);
	cr_assert_eq(any_open_fd(&b, conc_shm_fd(s)), -EPROTO);
	conc_shm_close(s);
	/* Of the right kind but never set up: its creator's one second
	 * passes, then -EPROTO. */
	cr_assert_eq(conc_shm_create(&s, NULL, 16 * KiB,
				     list ? CONC_SHM_LIST : CONC_SHM_MAP, 0), 0);
	cr_assert_eq(any_open_fd(&b, conc_shm_fd(s)), -EPROTO);
	conc_shm_close(s);
	/* Twice on one fd, and the opener's own handle: three handles. */
	cr_assert_eq(any_create(&a, &attr), 0);
	cr_assert_eq(any_open_fd(&b, any_fd(&a)), 0);
	cr_assert_eq(any_add(&b, "b"), 0);
	cr_assert(any_has(&a, "b"));
	any_destroy(&b);
	any_destroy(&a);
	cr_assert_eq(count_fds(), fds, "a descriptor leaked");
}

Test(map_fd, map_bad_fds, .timeout = 30)
{
	bad_fds(false);
}

Test(map_fd, list_bad_fds, .timeout = 30)
{
	bad_fds(true);
}
