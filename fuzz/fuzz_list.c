/*
 * fuzz_list — libFuzzer target: a list's segment as a peer may have
 * written it (its ring, its elements, a half-done pop's record), then
 * attach (conc_list_open) and a few calls of each kind. No crash, hang or
 * out-of-bounds access; every result one the contract lists.
 */
#include <stddef.h>
#include "ipc/list_impl.h"
#include "image.h"

static struct image im;
static const struct range keep[] = {
	{ offsetof(struct arena, init), sizeof(uint32_t) },
	{ offsetof(struct arena, lock), sizeof(conc_mutex) },
};

static void make(const char *name)
{
	conc_list_attr a = { .size = 16 * 1024, .name = name,
			     .flags = CONC_SHM_EXCL };
	char v[64];
	conc_list *l;

	if (conc_list_create(&l, &a))
		abort();
	for (int i = 0; i < 30; i++) {
		memset(v, 'a' + i % 26, sizeof(v));
		conc_list_append(l, v, (size_t)(i * 5) % sizeof(v));
	}
	for (int i = 0; i < 6; i++)
		conc_list_pop(l, 0, v, sizeof(v));	/* the head moves on */
	conc_list_destroy(l);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	image_init(&im, "list", CONC_SHM_LIST, make);
	return 0;
}

#define ERRS 4, ENOENT, EMSGSIZE, EPROTO, ENOTRECOVERABLE

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
	static const ssize_t at[] = { 0, -1, 2, 7, -3 };
	unsigned flags = image_load(&im, in, n, keep, 2);
	char buf[256];
	conc_list *l;
	long r;

	if (flags & FUZZ_DEAD)
		image_kill_holder(&im, offsetof(struct arena, lock));
	r = conc_list_open(&l, im.name);
	expect(r, "conc_list_open", 1, EPROTO);
	if (r)
		return 0;
	r = conc_list_len(l);
	expect(r, "conc_list_len", 2, EPROTO, ENOTRECOVERABLE);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		r = conc_list_get(l, at[i], buf, sizeof(buf));
		expect(r, "conc_list_get", ERRS);
		if (r > (long)sizeof(buf))
			abort();
	}
	r = conc_list_set(l, 1, buf, (size_t)(flags % 100));
	expect(r, "conc_list_set", 4, ENOENT, ENOSPC, EPROTO, ENOTRECOVERABLE);
	r = conc_list_append(l, buf, 40);
	expect(r, "conc_list_append", 3, ENOSPC, EPROTO, ENOTRECOVERABLE);
	for (int i = 0; i < 3; i++) {
		r = conc_list_pop(l, i == 0 ? 3 : i == 1 ? 0 : -1, buf, sizeof(buf));
		expect(r, "conc_list_pop", ERRS);
	}
	r = conc_list_len(l);
	expect(r, "conc_list_len", 2, EPROTO, ENOTRECOVERABLE);
	conc_list_destroy(l);
	return 0;
}
