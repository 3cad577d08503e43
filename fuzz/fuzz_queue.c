/*
 * fuzz_queue — libFuzzer target, through the queue's public API only: a
 * queue's segment as a peer may have written it, then attach
 * (conc_queue_open, or _open_fd) and every call with timeout 0: gets of
 * any size, puts, a two-step get committed or aborted, size, close. No
 * crash, hang or out-of-bounds access; every result one the contract
 * lists, every length within the buffer and max_msg, nothing left on the
 * robust registry. Kept: the first word (the creator's init word, whose
 * wait is bounded and tested in test_queue), and unless FUZZ_LOCKS the
 * two sides' lock words (their flags, count and context are the input's).
 * FUZZ_DEAD leaves both locks as a dead holder leaves them.
 */
#include <fcntl.h>
#include <stddef.h>
#include "ipc/queue_impl.h"
#include "image.h"

static struct image im;
static const struct range keep[] = {
	{ 0, sizeof(uint32_t) },
	{ offsetof(struct shared, p.lock.word), sizeof(uint32_t) },
	{ offsetof(struct shared, c.lock.word), sizeof(uint32_t) },
};

static void make(const char *name)
{
	conc_queue_attr a = { .capacity = 16, .max_msg = 64, .name = name,
			      .flags = CONC_SHM_EXCL };
	char v[64] = "message";
	conc_queue *q;

	if (conc_queue_create(&q, &a))
		abort();
	for (int i = 0; i < 10; i++)
		conc_queue_put(q, v, (size_t)(i * 6) % sizeof(v), 0);
	for (int i = 0; i < 4; i++)
		conc_queue_get(q, v, sizeof(v), 0);
	conc_queue_destroy(q);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	image_init(&im, "queue", CONC_SHM_QUEUE, make);
	return 0;
}

#define FUZZ_CLOSE 0x02	/* close the queue among the calls */
#define FUZZ_FD	   0x04	/* open it by a descriptor instead of its name */
#define FUZZ_ABORT 0x08	/* a two-step get is aborted, not committed */
#define FUZZ_LOCKS 0x10	/* the lock words too are the input's (a held
			 * one makes a call with timeout 0 wait a second) */

#define GET_ERRS 7, ETIMEDOUT, EPIPE, EMSGSIZE, EPROTO, ENOTRECOVERABLE, \
	EDEADLK, ENOTSUP

/* A getter's results: within the buffer, and within max_msg. */
static void got(long r, const char *call, size_t cap, uint32_t max)
{
	expect(r, call, GET_ERRS);
	if (r > (long)cap || r > (long)max)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
	unsigned flags = image_load(&im, in, n, keep,
				    n && (in[0] & FUZZ_LOCKS) ? 1 : 3);
	char buf[128], path[96];
	conc_queue *q;
	uint32_t cap, max;
	int fd = -1;
	long r;

	if (flags & FUZZ_DEAD) {
		image_kill_holder(&im, offsetof(struct shared, p.lock));
		image_kill_holder(&im, offsetof(struct shared, c.lock));
	}
	if (flags & FUZZ_FD) {
		snprintf(path, sizeof(path), "/dev/shm/%s", im.name);
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
			abort();
		r = conc_queue_open_fd(&q, fd);
		close(fd);
	} else {
		r = conc_queue_open(&q, im.name);
	}
	expect(r, "conc_queue_open", 2, EPROTO, EINVAL);
	if (r)
		return 0;
	cap = q->cap;
	max = q->max;
	r = conc_queue_size(q);
	if (r < 0 || r > (long)cap)
		abort();
	for (int i = 0; i < 3; i++)
		got(conc_queue_get(q, buf, sizeof(buf), 0), "conc_queue_get",
		    sizeof(buf), max);
	got(conc_queue_get(q, buf, 4, 0), "conc_queue_get", 4, max);
	if (flags & FUZZ_CLOSE)
		expect(conc_queue_close(q), "conc_queue_close", 0);
	r = conc_queue_put(q, buf, 32, 0);
	expect(r, "conc_queue_put", GET_ERRS);
	r = conc_queue_put(q, buf, flags % 80, 0);
	expect(r, "conc_queue_put", GET_ERRS);
	r = conc_queue_get_begin(q, buf, sizeof(buf), 0);
	got(r, "conc_queue_get_begin", sizeof(buf), max);
	if (r >= 0)
		expect(flags & FUZZ_ABORT ? conc_queue_get_abort(q)
					  : conc_queue_get_commit(q),
		       "conc_queue_get_commit/abort", 0);
	/* Nothing begun any more. */
	expect(conc_queue_get_commit(q), "conc_queue_get_commit", 1, EINVAL);
	r = conc_queue_size(q);
	if (r < 0 || r > (long)cap)
		abort();
	conc_queue_destroy(q);
	if (__conc_self_tls.robust_held) {
		fprintf(stderr, "a robust lock is still registered\n");
		abort();
	}
	return 0;
}
