/*
 * fuzz_arena — libFuzzer target: the arena under the containers (arena.h)
 * driven directly, below the map's and the list's own checks: a list's
 * segment as a peer may have written it (the allocator's free lists and
 * block tags, the journal and its length, a roll-forward record), then
 * attach, lock (an undo or roll-forward after a dead holder, with
 * FUZZ_DEAD), and a run of allocations and frees the input chooses, of
 * blocks this call got or of any offset, committed or rolled back. No
 * crash, hang or out-of-bounds access; every payload handed out inside
 * the heap.
 *
 * The input: a flags byte, a count k of operation bytes (at most 48),
 * k operation bytes, then image.h's patches.
 */
#include <stddef.h>
#include "ipc/list_impl.h"
#include "image.h"

static struct image im;
static const struct range keep[] = {
	{ offsetof(struct arena, init), sizeof(uint32_t) },
	{ offsetof(struct arena, lock), sizeof(uint32_t) },
};

static void make(const char *name)
{
	conc_list_attr a = { .size = 16 * 1024, .name = name,
			     .flags = CONC_SHM_EXCL };
	char v[200];
	conc_list *l;

	if (conc_list_create(&l, &a))
		abort();
	memset(v, 'v', sizeof(v));
	for (int i = 0; i < 40; i++)
		conc_list_append(l, v, (size_t)(i * 37) % sizeof(v));
	for (int i = 0; i < 12; i++)
		conc_list_pop(l, i % 3 ? 0 : 5, v, sizeof(v));
	conc_list_destroy(l);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	image_init(&im, "arena", CONC_SHM_LIST, make);
	return 0;
}

/* Room in the journal for one more step (alloc 13 entries, free 11). */
#define STEP_MAX 13

static void payload_ok(const struct arena_call *c, uint64_t off, uint64_t n)
{
	if (off < c->heap + 8 || off > c->heap_end || n > c->heap_end - off) {
		fprintf(stderr, "payload %llu+%llu outside the heap [%llu, %llu)\n",
			(unsigned long long)off, (unsigned long long)n,
			(unsigned long long)c->heap, (unsigned long long)c->heap_end);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
	uint64_t got[48], sizes[48], off, len;
	const uint8_t *ops;
	struct arena_call c;
	size_t k, ngot = 0;
	unsigned flags;
	int r;

	if (n < 2)
		return 0;
	k = in[1] % 49;
	if (k > n - 2)
		k = n - 2;
	ops = in + 2;
	/* The patches, behind the same flags byte. */
	{
		uint8_t buf[4096];
		size_t rest = n - 2 - k;

		if (rest > sizeof(buf) - 1)
			rest = sizeof(buf) - 1;
		buf[0] = in[0];
		memcpy(buf + 1, in + 2 + k, rest);
		flags = image_load(&im, buf, rest + 1, keep, 2);
	}
	if (flags & FUZZ_DEAD)
		image_kill_holder(&im, offsetof(struct arena, lock));
	if (__conc_arena_attach(&c, (struct arena *)im.data, im.size,
				LIST_LAYOUT))
		return 0;
	r = __conc_arena_lock(&c, __conc_list_finish_pop, 0);
	expect(r, "__conc_arena_lock", 3, EPROTO, ENOTRECOVERABLE, ETIMEDOUT);
	if (r)
		return 0;
	for (size_t i = 0; i < k; i++) {
		unsigned op = ops[i];

		if (c.jn + STEP_MAX > ARENA_JMAX)
			__conc_arena_commit(&c, 0);
		switch (op >> 6) {
		case 0:		/* an allocation of any size up to 1 KiB */
		case 1:
			len = (uint64_t)(op & 0x7f) * 8 + (op & 1);
			off = __conc_arena_alloc(&c, len);
			if (off) {
				payload_ok(&c, off, len);
				memset((char *)c.a + off, 0xa5, len);
				if (ngot < 48) {
					got[ngot] = off;
					sizes[ngot++] = len;
				}
			}
			break;
		case 2:		/* one this call got, once */
			if (ngot) {
				size_t j = (op & 63) % ngot;

				__conc_arena_free(&c, got[j]);
				got[j] = got[--ngot];
				sizes[j] = sizes[ngot];
			}
			break;
		default:	/* any offset: a peer's word for a block */
			if (op & 0x20)
				off = c.heap + (uint64_t)(op & 0x1f) * 16 + 8;
			else
				off = (uint64_t)(op & 0x1f) * 8;
			__conc_arena_free(&c, off);
			break;
		}
	}
	if (flags & 0x40)
		__conc_arena_rollback(&c);
	else
		r = __conc_arena_commit(&c, 0);
	expect(r, "__conc_arena_commit", 1, EPROTO);
	__conc_arena_unlock(&c);
	(void)sizes;
	return 0;
}
