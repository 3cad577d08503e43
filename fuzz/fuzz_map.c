/*
 * fuzz_map — libFuzzer target: a map's segment as a peer may have
 * written it, then attach (conc_map_open) and a few calls of each kind.
 * No crash, hang or out-of-bounds access; every result one the contract
 * lists; every pointer handed to an iterate callback inside the segment.
 */
#include <stddef.h>
#include "ipc/map_impl.h"
#include "image.h"

static struct image im;
static const struct range keep[] = {
	{ offsetof(struct arena, init), sizeof(uint32_t) },
	{ offsetof(struct arena, lock), sizeof(conc_mutex) },
};

static void make(const char *name)
{
	conc_map_attr a = { .size = 16 * 1024, .name = name,
			    .flags = CONC_SHM_EXCL };
	char k[16], v[64];
	conc_map *m;

	if (conc_map_create(&m, &a))
		abort();
	for (int i = 0; i < 40; i++) {
		memset(v, 'a' + i % 26, sizeof(v));
		snprintf(k, sizeof(k), "k%d", i);
		conc_map_put(m, k, strlen(k), v, (size_t)(i * 7) % sizeof(v));
	}
	for (int i = 0; i < 40; i += 3) {
		snprintf(k, sizeof(k), "k%d", i);
		conc_map_delete(m, k, strlen(k));
	}
	conc_map_destroy(m);
}

struct bounds {
	const char *lo, *hi;
};

static int inside(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct bounds *b = arg;
	const char *kp = k, *vp = v;

	if (kp < b->lo || kl > (size_t)(b->hi - kp) ||
	    vp < b->lo || vl > (size_t)(b->hi - vp))
		abort();
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	image_init(&im, "map", CONC_SHM_MAP, make);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
	unsigned flags = image_load(&im, in, n, keep, 2);
	struct bounds b;
	char buf[256], k[16];
	conc_map *m;
	long r;

	if (flags & FUZZ_DEAD)
		image_kill_holder(&im, offsetof(struct arena, lock));
	r = conc_map_open(&m, im.name);
	expect(r, "conc_map_open", 1, EPROTO);
	if (r)
		return 0;
	b.lo = conc_shm_data(m->seg);
	b.hi = b.lo + conc_shm_size(m->seg);
	r = conc_map_len(m);
	expect(r, "conc_map_len", 2, EPROTO, ENOTRECOVERABLE);
	for (int i = 0; i < 6; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		r = conc_map_get(m, k, strlen(k), buf, sizeof(buf));
		expect(r, "conc_map_get", 4, ENOENT, EMSGSIZE, EPROTO,
		       ENOTRECOVERABLE);
		if (r > (long)sizeof(buf))
			abort();
	}
	conc_map_contains(m, "k4", 2);
	r = conc_map_put(m, "k1", 2, buf, (size_t)(flags % 200));
	expect(r, "conc_map_put", 3, ENOSPC, EPROTO, ENOTRECOVERABLE);
	r = conc_map_put(m, "new", 3, buf, 100);
	expect(r, "conc_map_put", 3, ENOSPC, EPROTO, ENOTRECOVERABLE);
	r = conc_map_delete(m, "k2", 2);
	expect(r, "conc_map_delete", 3, ENOENT, EPROTO, ENOTRECOVERABLE);
	r = conc_map_iterate(m, inside, &b);
	expect(r, "conc_map_iterate", 2, EPROTO, ENOTRECOVERABLE);
	conc_map_destroy(m);
	return 0;
}
