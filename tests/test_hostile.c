/*
 * test_hostile.c — shared memory is input (issue 9). A peer process that
 * maps a container can write any byte of it; whatever it writes, the
 * victim's calls must return a clear error: never read or write outside
 * the segment, never crash, never spin forever under the lock. And a name
 * under /dev/shm that someone else prepared is not opened silently.
 *
 * Each test lets an attacker (a forked child, sharing the victim's
 * mapping) rewrite one field, then runs the victim's call in a child with
 * a time limit, so that a crash or a hang fails the test instead of
 * killing or stalling the run.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <conc.h>
#include "ipc/map_impl.h"
#include "ipc/list_impl.h"
#include "helpers.h"

#define KiB 1024
#define BIG (64u << 20)		/* a length far past any test segment */
#define LIMIT_MS 5000

/* ---- the attacker and the victim --------------------------------------- */

typedef void (*attack_fn)(void *obj, uint64_t arg);

/* Run fn in a child that shares obj's mapping: another process writing. */
static void attack(attack_fn fn, void *obj, uint64_t arg)
{
	pid_t pid = test_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		fn(obj, arg);
		_exit(0);
	}
	cr_assert(exited_with(wait_child(pid, LIMIT_MS), 0));
}

struct call {
	void *obj;
	int (*fn)(void *obj);
};

static int run_call(void *arg)
{
	struct call *c = arg;

	return errcode(c->fn(c->obj));
}

/* The victim's call in a child: its -errno as a positive code, or -1 if
 * it crashed or did not return within the limit. */
static int victim(int (*fn)(void *obj), void *obj)
{
	struct call c = { obj, fn };

	return run_in_child(run_call, &c, LIMIT_MS);
}

/* ---- the map ------------------------------------------------------------ */

static conc_map *map_with(const char *key, const char *val)
{
	conc_map_attr a = { .size = 64 * KiB };
	conc_map *m;

	cr_assert_eq(conc_map_create(&m, &a), 0);
	if (key)
		cr_assert_eq(conc_map_put(m, key, strlen(key), val, strlen(val)), 0);
	return m;
}

static uint64_t *buckets(struct map *h)
{
	return (uint64_t *)((char *)h + h->buckets);
}

/* The offset of the first entry found in the table. */
static uint64_t first_entry(struct map *h)
{
	for (uint64_t i = 0; i < h->nbuckets; i++)
		if (buckets(h)[i])
			return buckets(h)[i];
	cr_assert_fail("no entry");
	return 0;
}

static struct entry *entry(struct map *h, uint64_t off)
{
	return (struct entry *)((char *)h + off);
}

static void every_bucket(void *obj, uint64_t off)
{
	struct map *h = ((conc_map *)obj)->h;

	for (uint64_t i = 0; i < h->nbuckets; i++)
		buckets(h)[i] = off;
}

static int get_k(void *m)
{
	return (int)conc_map_get(m, "k", 1, NULL, 0);
}

static int put_j(void *m)
{
	return conc_map_put(m, "j", 1, "w", 1);
}

static int delete_k(void *m)
{
	return conc_map_delete(m, "k", 1);
}

static int contains_k(void *m)
{
	return conc_map_contains(m, "k", 1) ? 100 : -EPROTO;
}

static int count_fn(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	(void)k, (void)kl, (void)v, (void)vl, (void)arg;
	return 0;
}

static int iterate(void *m)
{
	return conc_map_iterate(m, count_fn, NULL);
}

Test(hostile, map_bucket_offset_out_of_the_segment, .timeout = 60)
{
	conc_map *m = map_with("k", "v");

	attack(every_bucket, m, 0x7ffffffffff8ull);
	cr_assert_eq(victim(get_k, m), EPROTO);
	cr_assert_eq(victim(put_j, m), EPROTO);
	cr_assert_eq(victim(delete_k, m), EPROTO);
	cr_assert_eq(victim(contains_k, m), EPROTO, "contains: false");
	cr_assert_eq(victim(iterate, m), EPROTO);
	/* A misaligned one, inside the segment. */
	attack(every_bucket, m, 1001);
	cr_assert_eq(victim(get_k, m), EPROTO);
	conc_map_destroy(m);
}

static void set_vlen(void *obj, uint64_t v)
{
	struct map *h = ((conc_map *)obj)->h;

	entry(h, first_entry(h))->vlen = v;
}

static int get_k_big(void *m)
{
	char *buf = malloc(2 * BIG);

	return buf ? (int)conc_map_get(m, "k", 1, buf, 2 * BIG) : -ENOMEM;
}

Test(hostile, map_entry_length_past_the_segment, .timeout = 60)
{
	conc_map *m = map_with("k", "v");

	attack(set_vlen, m, BIG);
	cr_assert_eq(victim(get_k_big, m), EPROTO);
	cr_assert_eq(victim(get_k, m), EPROTO, "not a length it cannot hold");
	cr_assert_eq(victim(iterate, m), EPROTO);
	attack(set_vlen, m, UINT64_MAX - 8);
	cr_assert_eq(victim(get_k_big, m), EPROTO);
	conc_map_destroy(m);
}

static void loop_chain(void *obj, uint64_t unused)
{
	struct map *h = ((conc_map *)obj)->h;
	uint64_t e = first_entry(h);

	(void)unused;
	entry(h, e)->next = e;
	every_bucket(obj, e);
}

static int get_absent(void *m)
{
	return (int)conc_map_get(m, "absent", 6, NULL, 0);
}

Test(hostile, map_chain_that_loops, .timeout = 60)
{
	conc_map *m = map_with("k", "v");

	attack(loop_chain, m, 0);
	cr_assert_eq(victim(get_absent, m), EPROTO, "no endless walk");
	cr_assert_eq(victim(put_j, m), EPROTO);
	cr_assert_eq(victim(iterate, m), EPROTO);
	/* The lock was let go: the next call gets its answer too. */
	cr_assert_eq(conc_map_get(m, "absent", 6, NULL, 0), -EPROTO);
	conc_map_destroy(m);
}

/* A word of the victim's own memory, at the same address in every child. */
static uint64_t private_word = 42;

static uint64_t first_free(struct arena *a)
{
	for (int k = 0; k < ARENA_NCLASS; k++)
		if (a->free[k])
			return a->free[k];
	cr_assert_fail("no free block");
	return 0;
}

/* The free block's back link, aimed so that unlinking it stores into
 * private_word (an unchecked unlink writes at prev + 8). */
static void aim_back_link(void *obj, uint64_t unused)
{
	struct arena *a = &((conc_map *)obj)->h->a;
	uint64_t b = first_free(a);

	(void)unused;
	*(uint64_t *)((char *)a + b + 16) =
		(uint64_t)((char *)&private_word - (char *)a - 8);
}

static int put_then_look(void *m)
{
	int r = conc_map_put(m, "j", 1, "w", 1);

	return private_word != 42 ? 100 : r;
}

Test(hostile, map_forged_free_block_never_writes_outside, .timeout = 60)
{
	conc_map *m = map_with("k", "v");

	attack(aim_back_link, m, 0);
	cr_assert_eq(victim(put_then_look, m), EPROTO,
		     "a put through a forged free block");
	conc_map_destroy(m);
}

/* The free block links to itself; a value too large for it makes the
 * allocator scan that list to its end. */
static void loop_free_list(void *obj, uint64_t unused)
{
	struct arena *a = &((conc_map *)obj)->h->a;
	uint64_t b = first_free(a);

	(void)unused;
	*(uint64_t *)((char *)a + b + 8) = b;
}

static int put_too_big(void *m)
{
	struct arena *a = &((conc_map *)m)->h->a;
	uint64_t size = *(uint64_t *)((char *)a + first_free(a)) & ~15ull;
	char *v = calloc(1, size);

	return v ? conc_map_put(m, "big", 3, v, size) : -ENOMEM;
}

Test(hostile, map_free_list_that_loops, .timeout = 60)
{
	conc_map *m = map_with("k", "v");

	attack(loop_free_list, m, 0);
	cr_assert_eq(victim(put_too_big, m), EPROTO, "no endless scan");
	conc_map_destroy(m);
}

/* The entry with the highest offset: its block has a neighbour below. */
static uint64_t last_entry(struct map *h)
{
	uint64_t best = 0, off;

	for (uint64_t i = 0; i < h->nbuckets; i++)
		for (off = buckets(h)[i]; off; off = entry(h, off)->next)
			if (off > best)
				best = off;
	return best;
}

/* The footer of the block below says "free, size 0" (found by fuzz_map:
 * the merge on free took it for a free neighbour). */
static void zero_lower_footer(void *obj, uint64_t unused)
{
	struct map *h = ((conc_map *)obj)->h;

	(void)unused;
	*(uint64_t *)((char *)h + last_entry(h) - 16) = 0;
}

static int delete_last(void *m)
{
	struct map *h = ((conc_map *)m)->h;
	struct entry *e = entry(h, last_entry(h));

	return conc_map_delete(m, e->bytes, e->klen);
}

Test(hostile, map_free_next_to_a_block_of_size_zero)
{
	conc_map *m = map_with("a", "1");

	cr_assert_eq(conc_map_put(m, "b", 1, "2", 1), 0);
	attack(zero_lower_footer, m, 0);
	cr_assert_eq(victim(delete_last, m), EPROTO);
	conc_map_destroy(m);
}

static void set_count(void *obj, uint64_t v)
{
	((conc_map *)obj)->h->count = v;
}

static int len(void *m)
{
	return (int)conc_map_len(m);
}

Test(hostile, map_count_beyond_what_fits, .timeout = 60)
{
	conc_map *m = map_with("k", "v");

	attack(set_count, m, 1ull << 62);
	cr_assert_eq(victim(len, m), EPROTO);
	conc_map_destroy(m);
}

static int get_huge_klen(void *m)
{
	return (int)conc_map_get(m, "k", SIZE_MAX, NULL, 0);
}

static int delete_huge_klen(void *m)
{
	return conc_map_delete(m, "k", SIZE_MAX);
}

static int contains_huge_klen(void *m)
{
	return conc_map_contains(m, "k", SIZE_MAX) ? 100 : -EINVAL;
}

/* Not a peer, but the same rule: a length is checked before it is used. */
Test(hostile, map_key_length_size_max, .timeout = 60)
{
	conc_map *m = map_with("k", "v");

	cr_assert_eq(victim(get_huge_klen, m), EINVAL);
	cr_assert_eq(victim(delete_huge_klen, m), EINVAL);
	cr_assert_eq(victim(contains_huge_klen, m), EINVAL, "contains: false");
	conc_map_destroy(m);
}

/* ---- the list ----------------------------------------------------------- */

static conc_list *list_of3(void)
{
	conc_list_attr a = { .size = 64 * KiB };
	conc_list *l;

	cr_assert_eq(conc_list_create(&l, &a), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(conc_list_append(l, "abc", 3), 0);
	return l;
}

static void set_list_word(void *obj, uint64_t which_and_value)
{
	struct list *l = ((conc_list *)obj)->l;
	uint64_t v = which_and_value >> 8;

	switch (which_and_value & 0xff) {
	case 0: l->ring = v; break;
	case 1: l->cap = v; break;
	case 2: l->count = v; break;
	case 3: l->head = v; break;
	}
}

#define RING(v)  (((uint64_t)(v) << 8) | 0)
#define CAP(v)   (((uint64_t)(v) << 8) | 1)
#define COUNT(v) (((uint64_t)(v) << 8) | 2)
#define HEAD(v)  (((uint64_t)(v) << 8) | 3)

static int list_get0(void *l)
{
	char buf[8];

	return (int)conc_list_get(l, 0, buf, sizeof(buf));
}

static int list_append(void *l)
{
	return conc_list_append(l, "x", 1);
}

static int list_pop_middle(void *l)
{
	char buf[8];

	return (int)conc_list_pop(l, 1, buf, sizeof(buf));
}

Test(hostile, list_ring_offset_out_of_the_segment, .timeout = 60)
{
	conc_list *l = list_of3();

	attack(set_list_word, l, RING(1ull << 40));
	cr_assert_eq(victim(list_get0, l), EPROTO);
	cr_assert_eq(victim(list_append, l), EPROTO);
	cr_assert_eq(victim(list_pop_middle, l), EPROTO);
	conc_list_destroy(l);
}

Test(hostile, list_capacity_zero, .timeout = 60)
{
	conc_list *l = list_of3();

	attack(set_list_word, l, CAP(0));
	cr_assert_eq(victim(list_get0, l), EPROTO, "no division by zero");
	cr_assert_eq(victim(list_append, l), EPROTO);
	conc_list_destroy(l);
}

Test(hostile, list_count_or_head_beyond_the_ring, .timeout = 60)
{
	conc_list *l = list_of3();

	attack(set_list_word, l, COUNT(1ull << 40));
	cr_assert_eq(victim(list_pop_middle, l), EPROTO, "no endless moves");
	cr_assert_eq(victim(list_get0, l), EPROTO);
	attack(set_list_word, l, COUNT(3));
	attack(set_list_word, l, HEAD(1ull << 40));
	cr_assert_eq(victim(list_get0, l), EPROTO);
	conc_list_destroy(l);
}

static void set_elem_len(void *obj, uint64_t v)
{
	struct list *l = ((conc_list *)obj)->l;
	uint64_t *slots = (uint64_t *)((char *)l + l->ring);

	*(uint64_t *)((char *)l + slots[l->head]) = v;
}

static int list_get0_big(void *l)
{
	char *buf = malloc(2 * BIG);

	return buf ? (int)conc_list_get(l, 0, buf, 2 * BIG) : -ENOMEM;
}

Test(hostile, list_element_length_past_the_segment, .timeout = 60)
{
	conc_list *l = list_of3();

	attack(set_elem_len, l, BIG);
	cr_assert_eq(victim(list_get0_big, l), EPROTO);
	conc_list_destroy(l);
}

/* ---- names under /dev/shm ----------------------------------------------- */

static void name_for(char *buf, size_t n, const char *tag)
{
	snprintf(buf, n, "conc-test-hostile-%d-%s", (int)getpid(), tag);
}

static void path_for(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "/dev/shm/%s", name);
}

/* Someone prepares name as a map anyone may write. */
static void plant_open_map(const char *name)
{
	conc_map_attr a = { .size = 16 * KiB, .name = name,
			    .flags = CONC_SHM_EXCL | CONC_SHM_MODE(0666) };
	char path[128];
	conc_map *m;

	conc_shm_unlink(name);
	cr_assert_eq(conc_map_create(&m, &a), 0);
	conc_map_destroy(m);
	path_for(path, sizeof(path), name);
	cr_assert_eq(chmod(path, 0666), 0);	/* whatever the umask */
}

Test(hostile, name_prepared_writable_by_others_is_refused, .timeout = 60)
{
	conc_map_attr a = { .size = 16 * KiB };
	conc_queue_attr qa = { 0 };
	char name[64], qname[64];
	conc_queue *q;
	conc_shm *s;
	conc_map *m;

	name_for(name, sizeof(name), "planted");
	plant_open_map(name);
	a.name = name;
	cr_assert_eq(conc_map_create(&m, &a), -EACCES, "create, no EXCL");
	cr_assert_eq(conc_map_open(&m, name), -EACCES);
	cr_assert_eq(conc_shm_open(&s, name, CONC_SHM_MAP), -EACCES);
	/* Asked for: a mode that lets others write. */
	a.flags = CONC_SHM_MODE(0666);
	cr_assert_eq(conc_map_create(&m, &a), 0);
	conc_map_destroy(m);
	a.flags = CONC_SHM_MODE(0620);
	cr_assert_eq(conc_map_create(&m, &a), -EACCES, "world-writable too");
	conc_shm_unlink(name);

	/* The queue goes through the same door. */
	name_for(qname, sizeof(qname), "plantedq");
	conc_shm_unlink(qname);
	qa.name = qname;
	qa.flags = CONC_SHM_EXCL | CONC_SHM_MODE(0666);
	cr_assert_eq(conc_queue_create(&q, &qa), 0);
	conc_queue_destroy(q);
	{
		char path[128];

		path_for(path, sizeof(path), qname);
		cr_assert_eq(chmod(path, 0666), 0);
	}
	qa.flags = 0;
	cr_assert_eq(conc_queue_create(&q, &qa), -EACCES);
	conc_shm_unlink(qname);
}

static int plant_as_nobody(void *name)
{
	conc_map_attr a = { .size = 16 * KiB, .name = name,
			    .flags = CONC_SHM_EXCL };
	conc_map *m;
	int r;

	if (setgid(65534) || setuid(65534))
		return 99;
	r = conc_map_create(&m, &a);
	if (!r)
		conc_map_destroy(m);
	return errcode(r);
}

Test(hostile, name_owned_by_another_user_is_refused, .timeout = 60)
{
	conc_map_attr a = { .size = 16 * KiB };
	char name[64];
	conc_map *m;

	if (geteuid() != 0)
		cr_skip_test("needs root to act as another user");
	name_for(name, sizeof(name), "nobody");
	conc_shm_unlink(name);
	cr_assert_eq(run_in_child(plant_as_nobody, name, LIMIT_MS), 0);
	a.name = name;
	cr_assert_eq(conc_map_create(&m, &a), -EACCES);
	cr_assert_eq(conc_map_open(&m, name), -EACCES);
	conc_shm_unlink(name);
}

Test(hostile, anonymous_segment_cannot_be_shrunk, .timeout = 60)
{
	conc_shm *s;

	cr_assert_eq(conc_shm_create(&s, NULL, 64 * KiB, CONC_SHM_RAW, 0), 0);
	cr_assert_eq(ftruncate(conc_shm_fd(s), 0), -1, "a peer with the fd");
	cr_assert_eq(errno, EPERM);
	memset(conc_shm_data(s), 1, 64 * KiB);	/* no SIGBUS */
	conc_shm_close(s);
}
