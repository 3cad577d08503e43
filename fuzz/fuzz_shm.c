/*
 * fuzz_shm — libFuzzer target: a file under /dev/shm as anyone who could
 * write it may have made it (any length, any header, any contents), then
 * everything that opens a named segment: conc_shm_open and _open_fd of
 * each kind, each container's _open and its _create without
 * CONC_SHM_EXCL (which opens an existing one: the tools' way in), and a
 * few calls that must not wait on whatever opens. No crash, hang or
 * out-of-bounds access; every opened segment within its file.
 *
 * The input: a byte of kind (low 3 bits) and flags, two bytes of length,
 * then the file's bytes. With HDR, a sound header for kind and length is
 * written first and the bytes go to the data. The data's first word, the
 * container's set-up word, is always made ready: an opener waits a bounded
 * second for a creator otherwise (tested in each container's tests).
 * Unless LOCKS, the queue's and the robust semaphore's lock words are
 * free: a held one only makes each call wait its bounded while.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include "ipc/queue_impl.h"
#include "ipc/rsem_impl.h"
#include "ipc/shm_impl.h"
#include "image.h"

#define HDR	0x80
#define OFFSETS	0x40	/* length in bytes, not a choice among sizes */
#define LOCKS	0x20	/* lock words as the input has them (a held one
			 * makes a queue's call with timeout 0 wait a
			 * second: fuzz_queue covers them) */

static char name[64], path[96];

static const size_t sizes[] = {
	0, 1, 63, 64, 65, 128, 4095, 4096, 4097, 4160, 8192, 12288, 16384,
	65536, 65600, 1 << 20,
};

static const uint32_t kinds[] = {
	CONC_SHM_RAW, CONC_SHM_QUEUE, CONC_SHM_MAP, CONC_SHM_LIST,
	CONC_SHM_RSEM, CONC_SHM_EVENT, 0, 7,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	snprintf(name, sizeof(name), "conc-fuzz-shm-%d", (int)getpid());
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	memcpy(image_name, name, sizeof(image_name));
	atexit(image_unlink);
	return 0;
}

static void segment(uint32_t kind, size_t len)
{
	conc_shm *s;
	int fd, r;

	r = conc_shm_open(&s, name, kind);
	expect(r, "conc_shm_open", 2, EPROTO, EINVAL);
	if (!r) {
		if (conc_shm_size(s) + SHM_HDR > len)
			abort();
		conc_shm_at(s, 0, conc_shm_size(s), 8);
		conc_shm_close(s);
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		abort();
	r = conc_shm_open_fd(&s, fd, kind);
	expect(r, "conc_shm_open_fd", 2, EPROTO, EINVAL);
	if (!r) {
		if (conc_shm_size(s) + SHM_HDR > len)
			abort();
		conc_shm_close(s);
	}
	close(fd);
}

#define OPEN_ERRS 2, EPROTO, EINVAL

static void queue(void)
{
	conc_queue_attr a = { .capacity = 4, .max_msg = 64, .name = name };
	char buf[128];
	conc_queue *q;
	long r;

	r = conc_queue_create(&q, &a);
	expect(r, "conc_queue_create", OPEN_ERRS);
	if (!r)
		conc_queue_destroy(q);
	r = conc_queue_open(&q, name);
	expect(r, "conc_queue_open", OPEN_ERRS);
	if (r)
		return;
	conc_queue_size(q);
	r = conc_queue_get(q, buf, sizeof(buf), 0);
	if (r > (long)sizeof(buf))
		abort();
	conc_queue_put(q, buf, 8, 0);
	r = conc_queue_get_begin(q, buf, sizeof(buf), 0);
	if (r > (long)sizeof(buf))
		abort();
	if (r >= 0)
		conc_queue_get_commit(q);
	conc_queue_destroy(q);
}

static void map(void)
{
	conc_map_attr a = { .size = 16384, .name = name };
	char buf[64];
	conc_map *m;
	long r;

	r = conc_map_create(&m, &a);
	expect(r, "conc_map_create", OPEN_ERRS);
	if (!r)
		conc_map_destroy(m);
	r = conc_map_open(&m, name);
	expect(r, "conc_map_open", OPEN_ERRS);
	if (r)
		return;
	conc_map_set_timeout(m, 0);
	conc_map_len(m);
	r = conc_map_get(m, "k", 1, buf, sizeof(buf));
	if (r > (long)sizeof(buf))
		abort();
	conc_map_put(m, "k", 1, buf, 16);
	conc_map_delete(m, "k", 1);
	conc_map_destroy(m);
}

static void list(void)
{
	conc_list_attr a = { .size = 16384, .name = name };
	char buf[64];
	conc_list *l;
	long r;

	r = conc_list_create(&l, &a);
	expect(r, "conc_list_create", OPEN_ERRS);
	if (!r)
		conc_list_destroy(l);
	r = conc_list_open(&l, name);
	expect(r, "conc_list_open", OPEN_ERRS);
	if (r)
		return;
	conc_list_set_timeout(l, 0);
	conc_list_len(l);
	r = conc_list_get(l, -1, buf, sizeof(buf));
	if (r > (long)sizeof(buf))
		abort();
	conc_list_append(l, buf, 16);
	r = conc_list_pop(l, 0, buf, sizeof(buf));
	if (r > (long)sizeof(buf))
		abort();
	conc_list_destroy(l);
}

static void rsem(void)
{
	conc_rsem_attr a = { .permits = 2, .name = name };
	conc_rsem_holder h[4];
	conc_rsem *s;
	long r;

	r = conc_rsem_create(&s, &a);
	expect(r, "conc_rsem_create", OPEN_ERRS);
	if (!r && conc_rsem_destroy(s))
		abort();
	r = conc_rsem_open(&s, name);
	expect(r, "conc_rsem_open", OPEN_ERRS);
	if (r)
		return;
	conc_rsem_value(s);
	conc_rsem_holders(s, h, 4);
	r = conc_rsem_trywait(s);
	if (r == 0 || r == -EOWNERDEAD)
		expect(conc_rsem_post(s), "conc_rsem_post", 0);
	expect(conc_rsem_destroy(s), "conc_rsem_destroy", 0);
}

/* conc-event's way: a conc_event at the start of a segment of its kind. */
static void event(void)
{
	conc_event *e;
	conc_shm *s;
	int r;

	r = conc_shm_create(&s, name, 64, CONC_SHM_EVENT, 0);
	expect(r, "conc_shm_create", OPEN_ERRS);
	if (r)
		return;
	e = conc_shm_at(s, 0, sizeof(*e), 4);
	if (e) {
		conc_event_is_set(e);
		expect(conc_event_wait(e, 0), "conc_event_wait", 1, ETIMEDOUT);
		conc_event_set(e);
		conc_event_clear(e);
	}
	conc_shm_close(s);
}

/* Lock words free (their flags and the rest are the input's). */
static void free_locks(int fd, uint32_t kind, size_t len)
{
	static const size_t q[] = { offsetof(struct shared, p.lock.word),
				    offsetof(struct shared, c.lock.word) };
	size_t r = offsetof(struct rsem_shared, lock.word);

	for (size_t i = 0; kind == CONC_SHM_QUEUE && i < 2; i++)
		if (len >= SHM_HDR + q[i] + 4 &&
		    pwrite(fd, &(uint32_t){ 0 }, 4, (off_t)(SHM_HDR + q[i])) != 4)
			abort();
	if (kind == CONC_SHM_RSEM && len >= SHM_HDR + r + 4 &&
	    pwrite(fd, &(uint32_t){ 0 }, 4, (off_t)(SHM_HDR + r)) != 4)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
	unsigned flags = n ? in[0] : 0;
	uint32_t kind = kinds[flags & 7];
	size_t len = 0, at = 0;
	int fd;

	if (n >= 3) {
		len = (size_t)in[1] | (size_t)in[2] << 8;
		len = flags & OFFSETS ? len : sizes[len % (sizeof(sizes) / sizeof(sizes[0]))];
		in += 3, n -= 3;
	} else {
		in += n, n = 0;
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)len))
		abort();
	if ((flags & HDR) && len >= SHM_HDR) {
		struct shm_hdr h = { SHM_MAGIC, SHM_VERSION, kind, SHM_HDR,
				     len - SHM_HDR, len };

		if (pwrite(fd, &h, sizeof(h), 0) != sizeof(h))
			abort();
		at = SHM_HDR;
	}
	if (at < len && n && pwrite(fd, in, n < len - at ? n : len - at,
				    (off_t)at) < 0)
		abort();
	/* The set-up word: ready, whatever the input says. */
	if (len >= SHM_HDR + 4 && pwrite(fd, &(uint32_t){ kind == CONC_SHM_QUEUE ?
					   3 : 2 }, 4, SHM_HDR) != 4)
		abort();
	if (!(flags & LOCKS))
		free_locks(fd, kind, len);
	close(fd);
	segment(kind, len);
	switch (kind) {
	case CONC_SHM_QUEUE:
		queue();
		break;
	case CONC_SHM_MAP:
		map();
		break;
	case CONC_SHM_LIST:
		list();
		break;
	case CONC_SHM_RSEM:
		rsem();
		break;
	case CONC_SHM_EVENT:
		event();
		break;
	}
	return 0;
}
