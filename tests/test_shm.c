/* test_shm.c — conc_shm_*: anonymous and named segments, passing the fd,
 * modes and O_EXCL, names, the checked header (corrupt, wrong kind,
 * truncated, unfinished), placing objects at offsets. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <conc.h>
#include "helpers.h"

/* The header shm.c writes, known here only to break it on purpose. */
#define H_MAGIC		0
#define H_VERSION	4
#define H_KIND		8
#define H_DATA_OFF	12
#define H_SIZE		16
#define H_TOTAL		24
#define HDR		64

/* A /dev/shm name unique to this test process. */
static const char *tname(const char *tag)
{
	static char buf[8][96];
	static int i;
	char *b = buf[i++ % 8];

	snprintf(b, sizeof(buf[0]), "conc-test-shm-%d-%s", (int)getpid(), tag);
	return b;
}

static const char *tpath(const char *name)
{
	static char buf[4][128];
	static int i;
	char *b = buf[i++ % 4];

	snprintf(b, sizeof(buf[0]), "/dev/shm/%s", name);
	return b;
}

static void poke32(const char *name, off_t off, uint32_t v)
{
	int fd = open(tpath(name), O_RDWR);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, &v, 4, off), 4);
	close(fd);
}

static void poke64(const char *name, off_t off, uint64_t v)
{
	int fd = open(tpath(name), O_RDWR);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, &v, 8, off), 8);
	close(fd);
}

static void resize(const char *name, off_t len)
{
	cr_assert_eq(truncate(tpath(name), len), 0);
}

/* The whole file, malloc'ed, and its length. */
static char *slurp(const char *name, size_t *len)
{
	struct stat st;
	int fd = open(tpath(name), O_RDONLY);
	char *p;

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(p);
	cr_assert_eq(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

/* A healthy named segment of size bytes, closed again. */
static void make_named(const char *name, size_t size, uint32_t kind)
{
	conc_shm *s;

	conc_shm_unlink(name);
	cr_assert_eq(conc_shm_create(&s, name, size, kind, CONC_SHM_EXCL), 0);
	memset(conc_shm_data(s), 0x5a, size);
	cr_assert_eq(conc_shm_close(s), 0);
}

/* Open must refuse the file, and neither open nor create may change it. */
static void assert_refused(const char *name, uint32_t kind, size_t size, int err)
{
	size_t l0, l1;
	char *before = slurp(name, &l0), *after;
	conc_shm *s = (conc_shm *)0x1;

	cr_assert_eq(conc_shm_open(&s, name, kind), err);
	cr_assert_eq(s, (conc_shm *)0x1, "no handle on failure");
	cr_assert_eq(conc_shm_create(&s, name, size, kind, 0), err);
	after = slurp(name, &l1);
	cr_assert_eq(l0, l1);
	cr_assert(!memcmp(before, after, l0), "a refused file was written");
	free(before);
	free(after);
}

/* ---- anonymous segments -------------------------------------------------- */

Test(shm, anonymous_is_zeroed_aligned_and_sized, .timeout = 10)
{
	conc_shm *s;
	unsigned char *p;

	cr_assert_eq(conc_shm_create(&s, NULL, 10000, CONC_SHM_RAW, 0), 0);
	p = conc_shm_data(s);
	cr_assert_not_null(p);
	cr_assert_eq((uintptr_t)p % 64, 0);
	cr_assert_eq(conc_shm_size(s), 10000);
	cr_assert_geq(conc_shm_fd(s), 0);
	for (size_t i = 0; i < 10000; i++)
		cr_assert_eq(p[i], 0, "byte %zu", i);
	memset(p, 0xff, 10000);		/* all of it is writable */
	cr_assert_eq(conc_shm_close(s), 0);
}

Test(shm, anonymous_is_shared_with_children_forked_later, .timeout = 10)
{
	conc_shm *s;
	uint32_t *p;
	pid_t pid;

	cr_assert_eq(conc_shm_create(&s, NULL, 64, CONC_SHM_RAW, 0), 0);
	p = conc_shm_data(s);
	p[0] = 41;
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(p[0] == 41 && (p[1] = 42) ? 0 : 1);
	cr_assert(exited_with(wait_child(pid, 5000), 0));
	cr_assert_eq(p[1], 42, "the child's write is seen");
	conc_shm_close(s);
}

/* The child exists before the segment: it can only get it through the fd. */
Test(shm, anonymous_fd_passed_to_another_process, .timeout = 10)
{
	int sv[2];
	conc_shm *s;
	char *p;
	pid_t pid;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		conc_shm *c;
		int fd = recv_fd(sv[1]);
		char *d;

		if (fd < 0)
			_exit(10);
		if (conc_shm_open_fd(&c, fd, CONC_SHM_QUEUE) != -EPROTO)
			_exit(11);
		if (conc_shm_open_fd(&c, fd, CONC_SHM_RAW))
			_exit(12);
		d = conc_shm_data(c);
		if (conc_shm_size(c) != 5000 || strcmp(d, "hello"))
			_exit(13);
		strcpy(d + 100, "world");
		conc_shm_close(c);
		/* open_fd dup'ed: ours is still open. */
		_exit(fcntl(fd, F_GETFD) < 0 ? 14 : 0);
	}
	cr_assert_eq(conc_shm_create(&s, NULL, 5000, CONC_SHM_RAW, 0), 0);
	p = conc_shm_data(s);
	strcpy(p, "hello");
	cr_assert_eq(send_fd(sv[0], conc_shm_fd(s)), 0);
	cr_assert(exited_with(wait_child(pid, 5000), 0));
	cr_assert_str_eq(p + 100, "world");
	conc_shm_close(s);
}

Test(shm, open_fd_in_the_same_process_maps_the_same_memory, .timeout = 10)
{
	conc_shm *a, *b;

	cr_assert_eq(conc_shm_create(&a, NULL, 128, CONC_SHM_MAP, 0), 0);
	cr_assert_eq(conc_shm_open_fd(&b, conc_shm_fd(a), CONC_SHM_MAP), 0);
	cr_assert_neq(conc_shm_fd(a), conc_shm_fd(b), "open_fd dup's the fd");
	cr_assert_neq(conc_shm_data(a), conc_shm_data(b));
	cr_assert_eq(conc_shm_size(b), 128);
	((char *)conc_shm_data(a))[127] = 'x';
	cr_assert_eq(((char *)conc_shm_data(b))[127], 'x');
	cr_assert_eq(conc_shm_close(a), 0);
	((char *)conc_shm_data(b))[0] = 'y';	/* lives on in b */
	cr_assert_eq(conc_shm_close(b), 0);
}

Test(shm, open_fd_refuses_bad_fds, .timeout = 10)
{
	conc_shm *s;
	char tmpl[] = "/tmp/conc-test-shm-XXXXXX";
	int fd, p[2];

	cr_assert_eq(conc_shm_open_fd(&s, -1, CONC_SHM_RAW), -EINVAL);
	cr_assert_eq(conc_shm_open_fd(NULL, 0, CONC_SHM_RAW), -EINVAL);
	cr_assert_eq(conc_shm_open_fd(&s, 1000000, CONC_SHM_RAW), -EBADF);
	/* A file that is not a segment. */
	fd = mkstemp(tmpl);
	cr_assert_geq(fd, 0);
	unlink(tmpl);
	cr_assert_eq(write(fd, "just some text, not a conc segment header......"
			  "...........................", 74), 74);
	cr_assert_eq(conc_shm_open_fd(&s, fd, CONC_SHM_RAW), -EPROTO);
	close(fd);
	/* A pipe has no size: refused after the bounded wait for a creator. */
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(conc_shm_open_fd(&s, p[0], CONC_SHM_RAW), -EPROTO);
	close(p[0]);
	close(p[1]);
}

/* ---- named segments ------------------------------------------------------ */

Test(shm, named_create_open_from_a_child_and_unlink, .timeout = 10)
{
	const char *name = tname("named");
	conc_shm *s;
	char *p;
	pid_t pid;

	cr_assert_eq(conc_shm_create(&s, name, 300, CONC_SHM_RAW, CONC_SHM_EXCL), 0);
	p = conc_shm_data(s);
	strcpy(p, "from the creator");
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		conc_shm *c;

		if (conc_shm_open(&c, name, CONC_SHM_RAW))
			_exit(1);
		if (conc_shm_size(c) != 300 ||
		    strcmp(conc_shm_data(c), "from the creator"))
			_exit(2);
		strcpy((char *)conc_shm_data(c) + 200, "from the child");
		_exit(conc_shm_close(c) ? 3 : 0);
	}
	cr_assert(exited_with(wait_child(pid, 5000), 0));
	cr_assert_str_eq(p + 200, "from the child");
	cr_assert_eq(conc_shm_unlink(name), 0);
	cr_assert_eq(conc_shm_open(&s, name, CONC_SHM_RAW), -ENOENT);
	cr_assert_eq(conc_shm_unlink(name), -ENOENT);
	p[0] = 'x';		/* the mapping outlives the name */
	cr_assert_eq(conc_shm_close(s), 0);
}

Test(shm, named_mode_is_0600_unless_asked, .timeout = 10)
{
	const char *a = tname("mode-a"), *b = tname("mode-b");
	struct stat st;
	conc_shm *s;

	umask(022);
	cr_assert_eq(conc_shm_create(&s, a, 64, CONC_SHM_RAW, 0), 0);
	conc_shm_close(s);
	cr_assert_eq(stat(tpath(a), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
	cr_assert_eq(conc_shm_create(&s, b, 64, CONC_SHM_RAW,
				     CONC_SHM_MODE(0640) | CONC_SHM_EXCL), 0);
	conc_shm_close(s);
	cr_assert_eq(stat(tpath(b), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0640, "mode %o", st.st_mode & 0777);
	conc_shm_unlink(a);
	conc_shm_unlink(b);
}

Test(shm, excl_and_reopening_by_create, .timeout = 10)
{
	const char *name = tname("excl");
	conc_shm *a, *b;

	cr_assert_eq(conc_shm_create(&a, name, 1000, CONC_SHM_LIST, CONC_SHM_EXCL), 0);
	cr_assert_eq(conc_shm_create(&b, name, 1000, CONC_SHM_LIST, CONC_SHM_EXCL),
		     -EEXIST);
	/* Without EXCL the existing segment is opened, checked as by open. */
	cr_assert_eq(conc_shm_create(&b, name, 1000, CONC_SHM_LIST, 0), 0);
	strcpy(conc_shm_data(a), "same");
	cr_assert_str_eq(conc_shm_data(b), "same");
	conc_shm_close(b);
	cr_assert_eq(conc_shm_create(&b, name, 999, CONC_SHM_LIST, 0), -EINVAL);
	cr_assert_eq(conc_shm_create(&b, name, 5000, CONC_SHM_LIST, 0), -EINVAL);
	cr_assert_eq(conc_shm_create(&b, name, 1000, CONC_SHM_MAP, 0), -EPROTO);
	cr_assert_eq(conc_shm_open(&b, name, CONC_SHM_RAW), -EPROTO);
	cr_assert_str_eq(conc_shm_data(a), "same", "refusals changed nothing");
	conc_shm_close(a);
	conc_shm_unlink(name);
}

Test(shm, names_with_slash_dots_empty_or_too_long_are_refused, .timeout = 10)
{
	char longest[NAME_MAX + 1], toolong[NAME_MAX + 2];
	const char *bad[] = { "a/b", "/x", "x/", "", ".", "..", toolong };
	conc_shm *s;

	memset(toolong, 'n', NAME_MAX + 1);
	toolong[NAME_MAX + 1] = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(conc_shm_create(&s, bad[i], 64, CONC_SHM_RAW, 0),
			     -EINVAL, "create \"%.20s\"", bad[i]);
		cr_assert_eq(conc_shm_open(&s, bad[i], CONC_SHM_RAW), -EINVAL);
		cr_assert_eq(conc_shm_unlink(bad[i]), -EINVAL);
	}
	cr_assert_eq(conc_shm_open(&s, NULL, CONC_SHM_RAW), -EINVAL);
	cr_assert_eq(conc_shm_unlink(NULL), -EINVAL);
	/* NAME_MAX bytes is still a name. */
	snprintf(longest, sizeof(longest), "%s", tname("long"));
	memset(longest + strlen(longest), 'L', NAME_MAX - strlen(longest));
	longest[NAME_MAX] = 0;
	cr_assert_eq(conc_shm_create(&s, longest, 64, CONC_SHM_RAW, CONC_SHM_EXCL), 0);
	conc_shm_close(s);
	cr_assert_eq(conc_shm_open(&s, longest, CONC_SHM_RAW), 0);
	conc_shm_close(s);
	cr_assert_eq(conc_shm_unlink(longest), 0);
}

Test(shm, bad_arguments, .timeout = 10)
{
	conc_shm *s;

	cr_assert_eq(conc_shm_create(NULL, NULL, 64, CONC_SHM_RAW, 0), -EINVAL);
	cr_assert_eq(conc_shm_create(&s, NULL, 0, CONC_SHM_RAW, 0), -EINVAL);
	cr_assert_eq(conc_shm_create(&s, NULL, ((size_t)1 << 40) + 1,
				     CONC_SHM_RAW, 0), -EINVAL);
	cr_assert_eq(conc_shm_create(&s, NULL, SIZE_MAX, CONC_SHM_RAW, 0), -EINVAL);
	cr_assert_eq(conc_shm_create(&s, NULL, 64, CONC_SHM_RAW, 0x2), -EINVAL);
	cr_assert_eq(conc_shm_create(&s, NULL, 64, CONC_SHM_RAW, 1u << 30), -EINVAL);
	cr_assert_eq(conc_shm_open(NULL, tname("x"), CONC_SHM_RAW), -EINVAL);
	cr_assert_eq(conc_shm_open(&s, tname("missing"), CONC_SHM_RAW), -ENOENT);
	cr_assert_null(conc_shm_data(NULL));
	cr_assert_eq(conc_shm_size(NULL), 0);
	cr_assert_eq(conc_shm_fd(NULL), -EINVAL);
	cr_assert_eq(conc_shm_close(NULL), -EINVAL);
	cr_assert_null(conc_shm_at(NULL, 0, 1, 1));
}

/* ---- the header: every kind of wrong file is refused, never mapped -------- */

Test(shm, wrong_magic_version_kind_or_layout_is_eproto, .timeout = 20)
{
	const char *name = tname("hdr");

	make_named(name, 500, CONC_SHM_MAP);
	poke32(name, H_MAGIC, 0x12345678);
	assert_refused(name, CONC_SHM_MAP, 500, -EPROTO);

	make_named(name, 500, CONC_SHM_MAP);
	poke32(name, H_VERSION, 2);
	assert_refused(name, CONC_SHM_MAP, 500, -EPROTO);

	make_named(name, 500, CONC_SHM_MAP);
	poke32(name, H_KIND, CONC_SHM_QUEUE);
	assert_refused(name, CONC_SHM_MAP, 500, -EPROTO);

	make_named(name, 500, CONC_SHM_MAP);
	poke32(name, H_DATA_OFF, 128);
	assert_refused(name, CONC_SHM_MAP, 500, -EPROTO);

	/* Untouched, it opens. */
	make_named(name, 500, CONC_SHM_MAP);
	{
		conc_shm *s;

		cr_assert_eq(conc_shm_open(&s, name, CONC_SHM_MAP), 0);
		cr_assert_eq(conc_shm_size(s), 500);
		conc_shm_close(s);
	}
	conc_shm_unlink(name);
}

Test(shm, truncated_grown_or_lying_about_size_is_einval, .timeout = 20)
{
	const char *name = tname("size");

	make_named(name, 10000, CONC_SHM_RAW);
	resize(name, 4096);
	assert_refused(name, CONC_SHM_RAW, 10000, -EINVAL);

	make_named(name, 10000, CONC_SHM_RAW);
	resize(name, 40960);
	assert_refused(name, CONC_SHM_RAW, 10000, -EINVAL);

	make_named(name, 10000, CONC_SHM_RAW);
	resize(name, 10);		/* shorter than the header */
	assert_refused(name, CONC_SHM_RAW, 10000, -EINVAL);

	make_named(name, 10000, CONC_SHM_RAW);
	poke64(name, H_SIZE, 1000000);	/* more data than the file holds */
	assert_refused(name, CONC_SHM_RAW, 10000, -EINVAL);

	make_named(name, 10000, CONC_SHM_RAW);
	poke64(name, H_TOTAL, 8192);
	assert_refused(name, CONC_SHM_RAW, 10000, -EINVAL);
	conc_shm_unlink(name);
}

Test(shm, foreign_files_are_eproto, .timeout = 20)
{
	const char *name = tname("foreign");
	char text[200];
	int fd;

	/* Someone else's file of the right size for a header. */
	fd = open(tpath(name), O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	memset(text, 'a', sizeof(text));
	cr_assert_eq(write(fd, text, sizeof(text)), (ssize_t)sizeof(text));
	close(fd);
	assert_refused(name, CONC_SHM_RAW, 64, -EPROTO);
	/* An empty file: a creator that never got further. */
	resize(name, 0);
	assert_refused(name, CONC_SHM_RAW, 64, -EPROTO);
	/* A zeroed file: a creator that never wrote its header. */
	resize(name, 4096);
	assert_refused(name, CONC_SHM_RAW, 64, -EPROTO);
	conc_shm_unlink(name);
}

/* Someone else's file too short for a header is not a conc segment
 * (-EPROTO), as a longer one is; only a conc segment cut inside its
 * header (its first bytes are the magic's) is a truncated one (-EINVAL). */
Test(shm, foreign_files_shorter_than_a_header_are_eproto, .timeout = 20)
{
	static const size_t lens[] = { 1, 4, 5, HDR - 1 };
	const char *name = tname("short");
	char text[HDR];
	uint32_t magic;
	size_t i;
	int fd;

	memset(text, 't', sizeof(text));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		fd = open(tpath(name), O_RDWR | O_CREAT | O_TRUNC, 0600);
		cr_assert_geq(fd, 0);
		cr_assert_eq(write(fd, text, lens[i]), (ssize_t)lens[i]);
		close(fd);
		assert_refused(name, CONC_SHM_RAW, 64, -EPROTO);
	}
	/* The same lengths cut from a real segment: truncated. */
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		make_named(name, 10000, CONC_SHM_RAW);
		resize(name, (off_t)lens[i]);
		assert_refused(name, CONC_SHM_RAW, 10000, -EINVAL);
	}
	/* A foreign file that begins as the magic does, then differs. */
	make_named(name, 10000, CONC_SHM_RAW);
	fd = open(tpath(name), O_RDONLY);
	cr_assert_eq(pread(fd, &magic, 4, H_MAGIC), 4);
	close(fd);
	fd = open(tpath(name), O_RDWR | O_TRUNC);
	cr_assert_eq(write(fd, &magic, 2), 2);
	cr_assert_eq(write(fd, "xyz", 3), 3);
	close(fd);
	assert_refused(name, CONC_SHM_RAW, 64, -EPROTO);
	conc_shm_unlink(name);
}

/* Shared by the racing tests below. */
struct race {
	uint32_t go;
	uint32_t fail;
};

/* A named segment appears only with its header: openers racing its
 * creator find no name, or a whole segment; never -EPROTO. Each wait has
 * a bound of its own (WAIT_NS), so a round the scheduler makes slow (four
 * openers spin on two CPUs beside the creator) fails nothing; between
 * rounds the openers only yield. */
#define WAIT_NS 30000000000LL

Test(shm, openers_never_see_a_segment_half_made, .timeout = 120)
{
	const char *name = tname("halfmade");
	struct race *r = shared_alloc(sizeof(struct race));
	enum { N = 4, ROUNDS = 50 };
	pid_t pid[N];
	conc_shm *s;

	cr_assert_not_null(r);
	conc_shm_unlink(name);
	for (int i = 0; i < N; i++) {
		pid[i] = test_fork();
		cr_assert_geq(pid[i], 0);
		if (pid[i] == 0) {
			for (uint32_t round = 1; round <= ROUNDS; round++) {
				int64_t dl = now_ns() + WAIT_NS;
				conc_shm *c;
				int e;

				while ((e = conc_shm_open(&c, name, CONC_SHM_RAW)) == -ENOENT &&
				       now_ns() < dl)
					;
				if (e)
					_exit(errcode(e));
				conc_shm_close(c);
				/* fail counts the opens here */
				__atomic_fetch_add(&r->fail, 1, __ATOMIC_RELEASE);
				dl = now_ns() + WAIT_NS;
				while (__atomic_load_n(&r->go, __ATOMIC_ACQUIRE) < round &&
				       now_ns() < dl)
					sched_yield();
			}
			_exit(0);
		}
	}
	for (uint32_t round = 1; round <= ROUNDS; round++) {
		int64_t dl = now_ns() + WAIT_NS;

		cr_assert_eq(conc_shm_create(&s, name, 100000, CONC_SHM_RAW,
					     CONC_SHM_EXCL), 0);
		while (__atomic_load_n(&r->fail, __ATOMIC_ACQUIRE) < round * N &&
		       now_ns() < dl) {
			for (int i = 0; i < N; i++) {
				int st;

				cr_assert_neq(waitpid(pid[i], &st, WNOHANG), pid[i],
					      "round %u: opener %d ended, status %#x "
					      "(an exit code is an errno)", round, i, st);
			}
			sleep_ns(100000);
		}
		cr_assert_eq(r->fail, round * N, "round %u: openers stuck", round);
		conc_shm_unlink(name);
		conc_shm_close(s);
		__atomic_store_n(&r->go, round, __ATOMIC_RELEASE);
	}
	for (int i = 0; i < N; i++)
		cr_assert(exited_with(wait_child(pid[i], 30000), 0), "opener %d", i);
	shared_free(r, sizeof(*r));
}

/* Many processes create the same name at once: one creates, all share. */

Test(shm, racing_creators_all_get_the_same_segment, .timeout = 20)
{
	const char *name = tname("race");
	struct race *r = shared_alloc(sizeof(*r));
	enum { N = 8 };
	pid_t pid[N];
	conc_shm *s;

	cr_assert_not_null(r);
	for (int i = 0; i < N; i++) {
		pid[i] = test_fork();
		cr_assert_geq(pid[i], 0);
		if (pid[i] == 0) {
			conc_shm *c;
			int e;

			wait_flag(&r->go, 5000);
			e = conc_shm_create(&c, name, 100000, CONC_SHM_RAW, 0);
			if (e) {
				__atomic_fetch_add(&r->fail, 1, __ATOMIC_RELAXED);
				_exit(errcode(e));
			}
			__atomic_fetch_add((uint32_t *)conc_shm_data(c), 1,
					   __ATOMIC_RELAXED);
			_exit(conc_shm_close(c) ? 99 : 0);
		}
	}
	set_flag(&r->go, 1);
	for (int i = 0; i < N; i++) {
		int st = wait_child(pid[i], 10000);

		cr_assert(exited_with(st, 0), "creator %d: status %#x", i, st);
	}
	cr_assert_eq(conc_shm_open(&s, name, CONC_SHM_RAW), 0);
	cr_assert_eq(*(uint32_t *)conc_shm_data(s), N);
	conc_shm_close(s);
	conc_shm_unlink(name);
	shared_free(r, sizeof(*r));
}

/* ---- placing objects ----------------------------------------------------- */

Test(shm, at_checks_range_and_alignment, .timeout = 10)
{
	conc_shm *s;
	char *d;

	cr_assert_eq(conc_shm_create(&s, NULL, 4096, CONC_SHM_RAW, 0), 0);
	d = conc_shm_data(s);
	cr_assert_eq(conc_shm_at(s, 0, 4096, 1), d);
	cr_assert_eq(conc_shm_at(s, 4000, 96, 8), d + 4000);
	cr_assert_eq(conc_shm_at(s, 4096, 0, 1), d + 4096);
	cr_assert_null(conc_shm_at(s, 0, 4097, 1));
	cr_assert_null(conc_shm_at(s, 4000, 97, 1));
	cr_assert_null(conc_shm_at(s, 4097, 0, 1));
	cr_assert_null(conc_shm_at(s, SIZE_MAX, 2, 1), "no wrap-around");
	cr_assert_null(conc_shm_at(s, 8, SIZE_MAX, 1), "no wrap-around");
	cr_assert_null(conc_shm_at(s, 2, 4, 4));
	cr_assert_null(conc_shm_at(s, 0, 4, 0));
	cr_assert_null(conc_shm_at(s, 0, 4, 3));
	cr_assert_eq(conc_shm_at(s, 64, 8, 64), d + 64);
	/* The address is what must be aligned: the data area is aligned to
	 * 64, so an offset aligned to 128 need not give an address that is. */
	for (size_t off = 0; off < 512; off += 64) {
		char *p = conc_shm_at(s, off, 8, 128);

		if (((uintptr_t)(d + off)) % 128)
			cr_assert_null(p, "offset %zu", off);
		else
			cr_assert_eq(p, d + off);
	}
	conc_shm_close(s);
}

/* An alignment above the page size depends on where each process mapped
 * the segment (only page alignment is common to all): the answer would
 * differ between processes, so it is always NULL. Two mappings of one
 * segment in this process stand for two processes. */
Test(shm, at_refuses_alignments_above_a_page, .timeout = 10)
{
	conc_shm *s, *t;
	size_t off;

	cr_assert_eq(conc_shm_create(&s, NULL, 64 * 1024, CONC_SHM_RAW, 0), 0);
	cr_assert_eq(conc_shm_open_fd(&t, conc_shm_fd(s), CONC_SHM_RAW), 0);
	for (off = 0; off < 64 * 1024; off += 64) {
		cr_assert_null(conc_shm_at(s, off, 8, 8192), "offset %zu", off);
		cr_assert_null(conc_shm_at(t, off, 8, 1u << 20), "offset %zu", off);
		/* Up to a page, both mappings agree. */
		cr_assert_eq(conc_shm_at(s, off, 8, 4096) != NULL,
			     conc_shm_at(t, off, 8, 4096) != NULL, "offset %zu", off);
	}
	cr_assert_not_null(conc_shm_at(s, 4096 - 64, 8, 4096));
	conc_shm_close(t);
	conc_shm_close(s);
}

/* A mutex, an event and a counter at fixed offsets of one named segment,
 * used by children that open it by name (other addresses, same offsets). */
enum { OFF_MUTEX = 0, OFF_EVENT = 64, OFF_COUNT = 128, OFF_DONE = 192 };

static int place(conc_shm *s, conc_mutex **m, conc_event **e, uint64_t **n,
		 uint32_t **done)
{
	*m = conc_shm_at(s, OFF_MUTEX, sizeof(**m), _Alignof(conc_mutex));
	*e = conc_shm_at(s, OFF_EVENT, sizeof(**e), _Alignof(conc_event));
	*n = conc_shm_at(s, OFF_COUNT, sizeof(**n), 8);
	*done = conc_shm_at(s, OFF_DONE, sizeof(**done), 4);
	return *m && *e && *n && *done ? 0 : -1;
}

Test(shm, objects_at_fixed_offsets_work_between_processes, .timeout = 20)
{
	const char *name = tname("objs");
	enum { N = 4, ROUNDS = 2000 };
	conc_mutex *m;
	conc_event *e;
	uint64_t *n;
	uint32_t *done;
	conc_shm *s;
	pid_t pid[N];

	cr_assert_eq(conc_shm_create(&s, name, 256, CONC_SHM_RAW, CONC_SHM_EXCL), 0);
	cr_assert_eq(place(s, &m, &e, &n, &done), 0);
	/* Zeroed memory is a ready mutex and event. */
	for (int i = 0; i < N; i++) {
		pid[i] = test_fork();
		cr_assert_geq(pid[i], 0);
		if (pid[i] == 0) {
			conc_mutex *cm;
			conc_event *ce;
			uint64_t *cn;
			uint32_t *cd;
			conc_shm *c;

			if (conc_shm_open(&c, name, CONC_SHM_RAW) ||
			    place(c, &cm, &ce, &cn, &cd))
				_exit(1);
			for (int k = 0; k < ROUNDS; k++) {
				if (conc_mutex_lock(cm))
					_exit(2);
				(*cn)++;	/* not atomic: the lock guards it */
				conc_mutex_unlock(cm);
			}
			if (__atomic_add_fetch(cd, 1, __ATOMIC_ACQ_REL) == N)
				conc_event_set(ce);
			_exit(conc_shm_close(c) ? 3 : 0);
		}
	}
	cr_assert_eq(conc_event_wait(e, 10000000000LL), 0);
	for (int i = 0; i < N; i++)
		cr_assert(exited_with(wait_child(pid[i], 10000), 0));
	cr_assert_eq(*n, (uint64_t)N * ROUNDS);
	conc_shm_close(s);
	conc_shm_unlink(name);
}

/* ---- an fd from a peer ---------------------------------------------------- */

/* A copy of s's file in a memfd of the caller's making (sealing allowed or
 * not): a valid segment that nobody sealed against shrinking. */
static int unsealed_copy(conc_shm *s, unsigned mfd_flags)
{
	struct stat st;
	char *b;
	int m;

	cr_assert_eq(fstat(conc_shm_fd(s), &st), 0);
	b = malloc((size_t)st.st_size);
	cr_assert_not_null(b);
	cr_assert_eq(pread(conc_shm_fd(s), b, (size_t)st.st_size, 0), st.st_size);
	m = memfd_create("peer", MFD_CLOEXEC | mfd_flags);
	cr_assert_geq(m, 0);
	cr_assert_eq(pwrite(m, b, (size_t)st.st_size, 0), st.st_size);
	free(b);
	return m;
}

/* "pass an anonymous segment's descriptor instead" (conc_shm_create(3)):
 * the receiver of an fd cannot tell that its sender sealed it, and a sender
 * that did not could cut the file under the receiver's mapping (SIGBUS at
 * its next access). A memfd that can be sealed is sealed by the receiver;
 * an anonymous file that cannot is refused. */
Test(shm, open_fd_seals_or_refuses_an_anonymous_file_a_peer_could_cut, .timeout = 10)
{
	conc_shm *s, *v;
	conc_queue *q;
	conc_queue_attr qa = { .capacity = 2, .max_msg = 8 };
	int m;

	cr_assert_eq(conc_shm_create(&s, NULL, 4096, CONC_SHM_RAW, 0), 0);
	m = unsealed_copy(s, MFD_ALLOW_SEALING);
	cr_assert_eq(conc_shm_open_fd(&v, m, CONC_SHM_RAW), 0);
	cr_assert_eq(ftruncate(m, 0), -1, "the sender could still cut it");
	cr_assert_eq(errno, EPERM);
	((volatile char *)conc_shm_data(v))[4095] = 1;
	cr_assert_eq(conc_shm_close(v), 0);
	close(m);
	m = unsealed_copy(s, 0);
	cr_assert_eq(conc_shm_open_fd(&v, m, CONC_SHM_RAW), -EACCES);
	close(m);
	/* conc's own, sealed at birth, open as before. */
	cr_assert_eq(conc_shm_open_fd(&v, conc_shm_fd(s), CONC_SHM_RAW), 0);
	cr_assert_eq(conc_shm_close(v), 0);
	cr_assert_eq(conc_shm_close(s), 0);
	/* The same through an object's open_fd. */
	cr_assert_eq(conc_queue_create(&q, &qa), 0);
	s = NULL;
	cr_assert_eq(conc_shm_open_fd(&s, conc_queue_fd(q), CONC_SHM_QUEUE), 0);
	m = unsealed_copy(s, 0);
	{
		conc_queue *w;

		cr_assert_eq(conc_queue_open_fd(&w, m), -EACCES);
	}
	close(m);
	conc_shm_close(s);
	conc_queue_destroy(q);
}
