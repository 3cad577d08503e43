/*
 * test_list.c — conc_list: every function and error, Python's indices
 * against a model, growth and shrinking of the ring, -ENOSPC and
 * recovery, processes and threads with exact results, and writers
 * SIGKILLed at random points hundreds of times: after each round the
 * heap and the ring are walked (__conc_list_check: no leak, no element in
 * two slots), every element compared byte for byte, and every operation
 * a writer saw complete found in the list.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <conc.h>
#include "ipc/arena.h"
#include "check/check.h"
#include "helpers.h"
#include "arena_holder.h"

#define KiB 1024
#define SEC 1000000000LL

/* ---- helpers ---------------------------------------------------------- */

static void name_for(char *buf, size_t n, const char *tag)
{
	snprintf(buf, n, "conc-test-list-%d-%s", (int)getpid(), tag);
}

static conc_list *new_list(size_t size)
{
	conc_list_attr a = { .size = size };
	conc_list *l = NULL;

	cr_assert_eq(conc_list_create(&l, &a), 0);
	return l;
}

static struct __conc_arena_stat check(conc_list *l)
{
	struct __conc_arena_stat st;
	int r = __conc_list_check(l, &st);

	cr_assert_eq(r, 0, "list check: %s", st.why ? st.why : strerror(-r));
	return st;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* A value of len bytes (>= 8) that names its writer c and op n. */
static void make_val(unsigned char *v, size_t len, uint32_t c, uint32_t n)
{
	uint64_t s = mix64(((uint64_t)c << 32) | n);

	memcpy(v, &c, 4);
	memcpy(v + 4, &n, 4);
	for (size_t i = 8; i < len; i += 8) {
		s = mix64(s);
		memcpy(v + i, &s, len - i < 8 ? len - i : 8);
	}
}

static size_t val_len(uint32_t c, uint32_t n, size_t max)
{
	return 8 + mix64(((uint64_t)n << 20) ^ c ^ 0x77) % (max - 8);
}

/* The id (c << 32 | n) of a value make_val wrote with val_len's length,
 * or 0 if v is anything else. */
static uint64_t val_id(const unsigned char *v, ssize_t len, size_t max)
{
	unsigned char want[4096];
	uint32_t c, n;

	if (len < 8 || (size_t)len > sizeof(want))
		return 0;
	memcpy(&c, v, 4);
	memcpy(&n, v + 4, 4);
	if ((size_t)len != val_len(c, n, max))
		return 0;
	make_val(want, (size_t)len, c, n);
	return memcmp(want, v, (size_t)len) ? 0 : ((uint64_t)c << 32) | n;
}

/* Append the value (c, n) with its usual length. */
static int append_id(conc_list *l, uint32_t c, uint32_t n, size_t max)
{
	unsigned char v[4096];
	size_t len = val_len(c, n, max);

	make_val(v, len, c, n);
	return conc_list_append(l, v, len);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every element's id, in order; *n of them. Fails the test on a value
 * that is not whole. */
static uint64_t *read_all(conc_list *l, size_t max, size_t *n)
{
	unsigned char v[4096];
	ssize_t len = conc_list_len(l);
	uint64_t *ids;

	cr_assert_geq(len, 0);
	ids = malloc(((size_t)len + 1) * sizeof(*ids));
	for (ssize_t i = 0; i < len; i++) {
		ssize_t vl = conc_list_get(l, i, v, sizeof(v));

		ids[i] = val_id(v, vl, max);
		cr_assert_neq(ids[i], 0, "element %zd is not whole (len %zd)", i, vl);
	}
	*n = (size_t)len;
	return ids;
}

/* ---- create, open, destroy ------------------------------------------- */

Test(list, create_defaults)
{
	struct __conc_arena_stat st;
	conc_list *l = NULL;

	cr_assert_eq(conc_list_create(&l, NULL), 0);
	cr_assert_eq(conc_list_len(l), 0);
	st = check(l);
	cr_assert_eq(st.size, 1 << 20);
	cr_assert_eq(st.free_blocks, 1);
	cr_assert_eq(conc_list_destroy(l), 0);
}

Test(list, create_bad_arguments)
{
	conc_list_attr a = { .size = 64 * KiB };
	conc_list *l = NULL;

	cr_assert_eq(conc_list_create(NULL, &a), -EINVAL);
	a.size = 4095;
	cr_assert_eq(conc_list_create(&l, &a), -EINVAL);
	a.size = (size_t)1 << 41;
	cr_assert_eq(conc_list_create(&l, &a), -EINVAL);
	a.size = 64 * KiB;
	a.name = "a/b";
	cr_assert_eq(conc_list_create(&l, &a), -EINVAL);
	a.name = NULL;
	a.flags = 0x8;
	cr_assert_eq(conc_list_create(&l, &a), -EINVAL);
	cr_assert_null(l);
	cr_assert_eq(conc_list_open(NULL, "x"), -EINVAL);
	cr_assert_eq(conc_list_open(&l, NULL), -EINVAL);
	cr_assert_eq(conc_list_open(&l, ".."), -EINVAL);
	cr_assert_eq(conc_list_open(&l, "conc-test-list-never-created"), -ENOENT);
	cr_assert_eq(conc_list_destroy(NULL), -EINVAL);
}

Test(list, named_create_open_and_kinds)
{
	char name[64], mname[64], v[8];
	conc_list_attr a = { .size = 32 * KiB };
	conc_map_attr ma = { .size = 32 * KiB };
	conc_list *l, *l2;
	conc_map *m;

	name_for(name, sizeof(name), "named");
	name_for(mname, sizeof(mname), "amap");
	conc_shm_unlink(name);
	conc_shm_unlink(mname);
	a.name = name;
	cr_assert_eq(conc_list_create(&l, &a), 0);
	cr_assert_eq(conc_list_append(l, "a", 1), 0);
	cr_assert_eq(conc_list_open(&l2, name), 0);
	cr_assert_eq(conc_list_get(l2, 0, v, sizeof(v)), 1);
	cr_assert_eq(conc_list_append(l2, "b", 1), 0);
	cr_assert_eq(conc_list_len(l), 2);
	conc_list_destroy(l2);
	cr_assert_eq(conc_list_create(&l2, &a), 0, "an existing name is opened");
	cr_assert_eq(conc_list_len(l2), 2);
	conc_list_destroy(l2);
	a.flags = CONC_SHM_EXCL;
	cr_assert_eq(conc_list_create(&l2, &a), -EEXIST);
	a.flags = 0;
	a.size = 16 * KiB;
	cr_assert_eq(conc_list_create(&l2, &a), -EINVAL, "other size");

	ma.name = mname;
	cr_assert_eq(conc_map_create(&m, &ma), 0);
	cr_assert_eq(conc_list_open(&l2, mname), -EPROTO);
	a.name = mname;
	a.size = 32 * KiB;
	cr_assert_eq(conc_list_create(&l2, &a), -EPROTO);
	cr_assert_eq(conc_map_open(&m, name), -EPROTO);

	pid_t pid = test_fork();
	if (pid == 0) {
		conc_list *c;
		char b[8];
		if (conc_list_open(&c, name) || conc_list_pop(c, 0, b, 8) != 1 ||
		    b[0] != 'a')
			_exit(1);
		conc_list_destroy(c);
		_exit(0);
	}
	cr_assert(exited_with(wait_child(pid, 10000), 0));
	cr_assert_eq(conc_list_len(l), 1);
	cr_assert_eq(conc_list_get(l, 0, v, sizeof(v)), 1);
	cr_assert_eq(v[0], 'b');
	check(l);
	conc_list_destroy(l);
	conc_map_destroy(m);
	conc_shm_unlink(name);
	conc_shm_unlink(mname);
}

Test(list, open_rejects_bad_segments)
{
	char name[64];
	conc_shm *s;
	conc_list *l;
	uint32_t *w;

	name_for(name, sizeof(name), "raw");
	conc_shm_unlink(name);
	cr_assert_eq(conc_shm_create(&s, name, 8 * KiB, CONC_SHM_LIST, 0), 0);
	cr_assert_eq(conc_list_open(&l, name), -EPROTO, "never set up");
	w = conc_shm_data(s);
	w[1] = 0x4d415031;	/* a map's layout in a list segment */
	__atomic_store_n(&w[0], 2, __ATOMIC_RELEASE);
	cr_assert_eq(conc_list_open(&l, name), -EPROTO);
	conc_shm_close(s);
	conc_shm_unlink(name);
}

/* ---- append, get, set, pop, len --------------------------------------- */

Test(list, python_indices)
{
	conc_list *l = new_list(64 * KiB);
	char v[16];

	for (int i = 0; i < 5; i++) {
		v[0] = (char)('a' + i);
		cr_assert_eq(conc_list_append(l, v, 1), 0);
	}
	/* a b c d e */
	cr_assert_eq(conc_list_get(l, 0, v, 16), 1);
	cr_assert_eq(v[0], 'a');
	cr_assert_eq(conc_list_get(l, -1, v, 16), 1);
	cr_assert_eq(v[0], 'e');
	cr_assert_eq(conc_list_get(l, -5, v, 16), 1);
	cr_assert_eq(v[0], 'a');
	cr_assert_eq(conc_list_get(l, 5, v, 16), -ENOENT);
	cr_assert_eq(conc_list_get(l, -6, v, 16), -ENOENT);
	cr_assert_eq(conc_list_get(l, SSIZE_MAX, v, 16), -ENOENT);
	cr_assert_eq(conc_list_get(l, -SSIZE_MAX - 1, v, 16), -ENOENT);
	cr_assert_eq(conc_list_set(l, -2, "D", 1), 0);
	cr_assert_eq(conc_list_set(l, 5, "x", 1), -ENOENT);
	cr_assert_eq(conc_list_set(l, -6, "x", 1), -ENOENT);
	cr_assert_eq(conc_list_pop(l, -1, v, 16), 1);	/* Python's pop() */
	cr_assert_eq(v[0], 'e');
	cr_assert_eq(conc_list_pop(l, 0, v, 16), 1);	/* pop(0) */
	cr_assert_eq(v[0], 'a');
	cr_assert_eq(conc_list_pop(l, 1, v, 16), 1);	/* b c D -> b D */
	cr_assert_eq(v[0], 'c');
	cr_assert_eq(conc_list_pop(l, 2, v, 16), -ENOENT);
	cr_assert_eq(conc_list_len(l), 2);
	cr_assert_eq(conc_list_get(l, 1, v, 16), 1);
	cr_assert_eq(v[0], 'D');
	cr_assert_eq(conc_list_pop(l, -2, v, 16), 1);
	cr_assert_eq(v[0], 'b');
	cr_assert_eq(conc_list_pop(l, 0, v, 16), 1);
	cr_assert_eq(conc_list_pop(l, 0, v, 16), -ENOENT, "empty");
	cr_assert_eq(conc_list_pop(l, -1, v, 16), -ENOENT, "empty");
	cr_assert_eq(conc_list_get(l, 0, v, 16), -ENOENT);
	cr_assert_eq(conc_list_set(l, 0, "x", 1), -ENOENT);
	cr_assert_eq(conc_list_len(l), 0);
	check(l);
	conc_list_destroy(l);
}

Test(list, buffer_rules)
{
	conc_list *l = new_list(16 * KiB);
	char b[8];

	cr_assert_eq(conc_list_append(l, "0123456789", 10), 0);
	cr_assert_eq(conc_list_append(l, NULL, 0), 0, "an empty value");
	memset(b, 'z', sizeof(b));
	cr_assert_eq(conc_list_get(l, 0, b, 8), -EMSGSIZE);
	cr_assert_eq(conc_list_pop(l, 0, b, 8), -EMSGSIZE);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(b[i], 'z', "nothing copied on -EMSGSIZE");
	cr_assert_eq(conc_list_len(l), 2, "pop kept the element");
	cr_assert_eq(conc_list_get(l, 0, NULL, 0), 10, "length query");
	cr_assert_eq(conc_list_pop(l, 0, NULL, 0), -EMSGSIZE);
	cr_assert_eq(conc_list_get(l, 0, NULL, 4), -EINVAL);
	cr_assert_eq(conc_list_pop(l, 0, NULL, 4), -EINVAL);
	cr_assert_eq(conc_list_get(l, 1, b, 8), 0);
	cr_assert_eq(conc_list_pop(l, 1, NULL, 0), 0, "pop an empty value");
	cr_assert_eq(conc_list_set(l, 0, "01234567", 8), 0);
	cr_assert_eq(conc_list_pop(l, 0, b, 8), 8, "exact fit");
	cr_assert_arr_eq(b, "01234567", 8);
	cr_assert_eq(conc_list_len(l), 0);
	cr_assert_eq(check(l).used, 0, "empty list: nothing allocated");
	conc_list_destroy(l);
}

Test(list, bad_input)
{
	conc_list *l = new_list(16 * KiB);
	char b[8];

	cr_assert_eq(conc_list_append(NULL, "v", 1), -EINVAL);
	cr_assert_eq(conc_list_append(l, NULL, 1), -EINVAL);
	cr_assert_eq(conc_list_get(NULL, 0, b, 8), -EINVAL);
	cr_assert_eq(conc_list_set(NULL, 0, "v", 1), -EINVAL);
	cr_assert_eq(conc_list_pop(NULL, 0, b, 8), -EINVAL);
	cr_assert_eq(conc_list_len(NULL), -EINVAL);
	cr_assert_eq(conc_list_append(l, "v", 1), 0);
	cr_assert_eq(conc_list_set(l, 0, NULL, 1), -EINVAL);
	cr_assert_eq(conc_list_set(l, 0, NULL, 0), 0, "empty value");
	cr_assert_eq(conc_list_get(l, 0, b, 8), 0);
	cr_assert_eq(conc_list_len(l), 1);
	check(l);
	conc_list_destroy(l);
}

/*
 * Random appends, sets, gets and pops at every kind of index, against a
 * plain array doing the same; a full check every 500 operations. The
 * ring wraps, grows and shrinks many times.
 */
Test(list, model_random_ops, .timeout = 60)
{
	conc_list *l = new_list(1 << 20);
	uint64_t *model = malloc(20000 * sizeof(*model)), r = 1, id;
	unsigned char v[100];
	size_t n = 0, max_n = 0;
	ssize_t len, idx;

	for (uint32_t op = 0; op < 40000; op++) {
		r = mix64(r);
		/* Long runs of growth, then of shrinking. */
		bool grow = (op / 2000) % 2 == 0;
		unsigned p = (unsigned)(r % 100);

		idx = n ? (ssize_t)((r >> 16) % (2 * n)) - (ssize_t)n : 0;
		if (n == 0 || p < (grow ? 55u : 25u)) {
			cr_assert_eq(append_id(l, 1, op, sizeof(v)), 0);
			model[n++] = (1ull << 32) | op;
		} else if (p < 70) {
			size_t i = (size_t)(idx < 0 ? idx + (ssize_t)n : idx);

			len = conc_list_pop(l, idx, v, sizeof(v));
			cr_assert_eq(val_id(v, len, sizeof(v)), model[i], "pop %zd", idx);
			memmove(model + i, model + i + 1, (n - i - 1) * sizeof(*model));
			n--;
		} else if (p < 85) {
			size_t i = (size_t)(idx < 0 ? idx + (ssize_t)n : idx);
			size_t vl = val_len(2, op, sizeof(v));

			make_val(v, vl, 2, op);
			cr_assert_eq(conc_list_set(l, idx, v, vl), 0);
			model[i] = (2ull << 32) | op;
		} else {
			size_t i = (size_t)(idx < 0 ? idx + (ssize_t)n : idx);

			len = conc_list_get(l, idx, v, sizeof(v));
			cr_assert_eq(val_id(v, len, sizeof(v)), model[i], "get %zd", idx);
		}
		if (n > max_n)
			max_n = n;
		if (op % 500 == 0) {
			cr_assert_eq(conc_list_len(l), (ssize_t)n);
			cr_assert_eq(check(l).entries, n);
		}
	}
	cr_assert_gt(max_n, 1000);
	for (size_t i = 0; i < n; i++) {
		len = conc_list_get(l, (ssize_t)i, v, sizeof(v));
		id = val_id(v, len, sizeof(v));
		cr_assert_eq(id, model[i]);
	}
	free(model);
	conc_list_destroy(l);
}

Test(list, ring_grows_and_shrinks)
{
	conc_list *l = new_list(1 << 20);
	struct __conc_arena_stat st0 = check(l), st;
	uint32_t v;

	/* A queue: append at the back, pop the front; the ring wraps. */
	for (uint32_t i = 0; i < 20000; i++) {
		cr_assert_eq(conc_list_append(l, &i, 4), 0);
		if (i % 3 == 2) {
			cr_assert_eq(conc_list_pop(l, 0, &v, 4), 4);
			cr_assert_eq(v, i / 3, "first in, first out");
		}
	}
	cr_assert_eq(conc_list_len(l), 20000 - 20000 / 3);
	/* Order kept: the front is the oldest left. */
	for (uint32_t k = 0, want = 20000 / 3; k < 100; k++, want++) {
		cr_assert_eq(conc_list_get(l, (ssize_t)k, &v, 4), 4);
		cr_assert_eq(v, want);
	}
	check(l);
	while (conc_list_len(l) > 0)
		cr_assert_eq(conc_list_pop(l, -1, &v, 4), 4);
	st = check(l);
	cr_assert_eq(st.used, 0, "an empty list frees its ring");
	cr_assert_eq(st.largest_free, st0.largest_free);
	conc_list_destroy(l);
}

/* ---- full, and recovery after pops ------------------------------------ */

Test(list, full_then_pops_make_room)
{
	const size_t size = 64 * KiB;
	conc_list *l = new_list(size);
	struct __conc_arena_stat st0 = check(l), st;
	unsigned char *big = calloc(1, size), v[100];
	size_t lo = 0, hi = size;
	uint32_t n;
	int r;

	/* The largest single value of an empty list. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;

		if ((r = conc_list_append(l, big, mid)) == 0) {
			cr_assert_eq(conc_list_pop(l, 0, NULL, 0) , -EMSGSIZE);
			cr_assert_eq(conc_list_pop(l, 0, big, size), (ssize_t)mid);
			lo = mid;
		} else {
			cr_assert_eq(r, -ENOSPC);
			hi = mid - 1;
		}
	}
	cr_assert_gt(lo, size / 2);
	cr_assert_eq(conc_list_append(l, big, (size_t)1 << 50), -ENOSPC);

	for (n = 0; (r = conc_list_append(l, v, sizeof(v))) == 0; n++)
		;
	cr_assert_eq(r, -ENOSPC);
	cr_assert_gt(n, 300);
	st = check(l);
	cr_assert_eq(st.entries, n);
	cr_assert_eq(conc_list_append(l, v, sizeof(v)), -ENOSPC);
	cr_assert_eq(check(l).used, st.used, "a failed append changes nothing");
	cr_assert_eq(conc_list_set(l, 0, big, 1000), -ENOSPC);
	cr_assert_eq(conc_list_get(l, 0, big, size), sizeof(v), "set kept the old");

	/* Pops make room, from either end or the middle. */
	for (int i = 0; i < 30; i++)
		cr_assert_eq(conc_list_pop(l, i % 3 == 0 ? 0 : i % 3 == 1 ? -1 : 50,
					   v, sizeof(v)), sizeof(v));
	for (int i = 0; i < 30; i++)
		cr_assert_eq(conc_list_append(l, v, sizeof(v)), 0, "append %d", i);
	cr_assert_eq(check(l).entries, n);
	while (conc_list_len(l) > 0)
		cr_assert_eq(conc_list_pop(l, conc_list_len(l) / 2, v, sizeof(v)),
			     sizeof(v));
	st = check(l);
	cr_assert_eq(st.used, 0);
	cr_assert_eq(st.largest_free, st0.largest_free);
	cr_assert_eq(conc_list_append(l, big, lo), 0, "as large as at the start");
	free(big);
	conc_list_destroy(l);
}

/* ---- between processes and threads ------------------------------------ */

/*
 * Producers append ids in order; consumers pop the front until all are
 * taken. Every id must be popped exactly once, and each consumer must
 * see each producer's ids in increasing order.
 */
#define PRODS	3
#define CONS	3
#define PER	3000

struct pc {
	uint32_t taken[PRODS * PER];
	uint32_t popped, bad;
};

static int producer(conc_list *l, uint32_t p)
{
	for (uint32_t n = 0; n < PER; n++)
		if (append_id(l, p + 1, n, 200))
			return 1;
	return 0;
}

static int consumer(conc_list *l, struct pc *s)
{
	unsigned char v[200];
	uint32_t last[PRODS];
	int64_t dl = now_ns() + 60 * SEC;

	memset(last, 0xff, sizeof(last));
	while (__atomic_load_n(&s->popped, __ATOMIC_SEQ_CST) < PRODS * PER) {
		ssize_t len = conc_list_pop(l, 0, v, sizeof(v));
		uint64_t id;

		if (len == -ENOENT) {
			if (now_ns() > dl)
				return 2;
			sched_yield();
			continue;
		}
		id = val_id(v, len, sizeof(v));
		uint32_t p = (uint32_t)(id >> 32) - 1, n = (uint32_t)id;
		if (!id || p >= PRODS || n >= PER)
			return 3;
		if (last[p] != UINT32_MAX && n <= last[p])
			s->bad++;	/* out of order */
		last[p] = n;
		__atomic_fetch_add(&s->taken[p * PER + n], 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&s->popped, 1, __ATOMIC_SEQ_CST);
	}
	return 0;
}

static void verify_pc(conc_list *l, struct pc *s)
{
	cr_assert_eq(s->popped, PRODS * PER);
	cr_assert_eq(s->bad, 0, "a producer's ids came out of order");
	for (uint32_t i = 0; i < PRODS * PER; i++)
		cr_assert_eq(s->taken[i], 1, "id %u popped %u times", i, s->taken[i]);
	cr_assert_eq(conc_list_len(l), 0);
	cr_assert_eq(check(l).used, 0);
}

Test(list, producers_consumers_processes_exact, .timeout = 120)
{
	conc_list *l = new_list(4 << 20);
	struct pc *s = shared_alloc(sizeof(*s));
	pid_t pid[PRODS + CONS];

	for (uint32_t i = 0; i < PRODS + CONS; i++) {
		pid[i] = test_fork();
		if (pid[i] == 0)
			_exit(i < PRODS ? producer(l, i) : consumer(l, s));
	}
	for (int i = 0; i < PRODS + CONS; i++) {
		int st = wait_child(pid[i], 100000);
		cr_assert(exited_with(st, 0), "child %d: status %d", i, st);
	}
	verify_pc(l, s);
	shared_free(s, sizeof(*s));
	conc_list_destroy(l);
}

struct targ {
	conc_list *l;
	struct pc *s;
	uint32_t i;
	int r;
};

static void *thread_main(void *p)
{
	struct targ *t = p;

	t->r = t->i < PRODS ? producer(t->l, t->i) : consumer(t->l, t->s);
	return NULL;
}

Test(list, producers_consumers_threads_exact, .timeout = 120)
{
	conc_list *l = new_list(4 << 20);
	struct pc *s = calloc(1, sizeof(*s));
	struct targ t[PRODS + CONS];
	pthread_t th[PRODS + CONS];

	for (uint32_t i = 0; i < PRODS + CONS; i++) {
		t[i] = (struct targ){ l, s, i, -1 };
		cr_assert_eq(pthread_create(&th[i], NULL, thread_main, &t[i]), 0);
	}
	for (int i = 0; i < PRODS + CONS; i++) {
		cr_assert_eq(join_thread(th[i], 100000, NULL), 0);
		cr_assert_eq(t[i].r, 0, "thread %d: %d", i, t[i].r);
	}
	verify_pc(l, s);
	free(s);
	conc_list_destroy(l);
}

/* ---- one writer SIGKILLed mid-update, exact model ---------------------- */

/*
 * One writer at a time runs a fixed sequence of appends, pops and sets at
 * random indices (pops in the middle take the roll-forward path) while a
 * reader gets at random; the parent SIGKILLs the writer at a random
 * moment, checks the list, and compares it element by element with a
 * model: every finished op in, the one in flight wholly in or wholly
 * out. The next writer goes on from there.
 */
#define SVAL	700

enum { APPEND, POP, SET };

struct slog {
	uint32_t started, done;
	uint32_t stop, reader_reads, reader_bad;
};

struct sop {
	int kind;
	ssize_t index;
};

static struct sop sop(uint32_t n, size_t len)
{
	uint64_t r = mix64(n ^ 0x5eed);
	unsigned p = (unsigned)(r % 100);
	ssize_t idx = len ? (ssize_t)((r >> 16) % (2 * len)) - (ssize_t)len : 0;

	if (!len || p < (len > 300 ? 30u : 50u))
		return (struct sop){ APPEND, 0 };
	return (struct sop){ p < 88 ? POP : SET, idx };
}

static _Noreturn void single_writer(conc_list *l, struct slog *lg)
{
	unsigned char v[SVAL];

	for (uint32_t n = lg->done;; n++) {
		ssize_t len = conc_list_len(l), r;
		struct sop op = sop(n, (size_t)len);
		size_t vl = val_len(1, n, SVAL);

		__atomic_store_n(&lg->started, n + 1, __ATOMIC_SEQ_CST);
		make_val(v, vl, 1, n);
		if (op.kind == APPEND)
			r = conc_list_append(l, v, vl);
		else if (op.kind == SET)
			r = conc_list_set(l, op.index, v, vl);
		else
			r = val_id(v, conc_list_pop(l, op.index, v, sizeof(v)), SVAL)
				    ? 0 : -1;
		if (r)
			_exit(40);
		__atomic_store_n(&lg->done, n + 1, __ATOMIC_SEQ_CST);
	}
}

static _Noreturn void single_reader(conc_list *l, struct slog *lg)
{
	unsigned char v[SVAL];
	uint64_t r = 99;

	while (!__atomic_load_n(&lg->stop, __ATOMIC_ACQUIRE)) {
		ssize_t n = conc_list_len(l), len;

		r = mix64(r);
		if (n < 0) {
			lg->reader_bad++;
			continue;
		}
		len = conc_list_get(l, n ? (ssize_t)(r % (uint64_t)n) : 0, v, sizeof(v));
		if (len != -ENOENT && !val_id(v, len, SVAL))
			lg->reader_bad++;
		lg->reader_reads++;
	}
	_exit(0);
}

/* Apply op n of the writer to the model (n ids, capacity cap). */
static void smodel_apply(uint64_t *model, size_t *n, uint32_t op)
{
	struct sop o = sop(op, *n);
	size_t i = (size_t)(o.index < 0 ? o.index + (ssize_t)*n : o.index);

	if (o.kind == APPEND) {
		model[(*n)++] = (1ull << 32) | op;
	} else if (o.kind == SET) {
		model[i] = (1ull << 32) | op;
	} else {
		memmove(model + i, model + i + 1, (*n - i - 1) * sizeof(*model));
		(*n)--;
	}
}

static bool smodel_matches(conc_list *l, const uint64_t *model, size_t n)
{
	size_t k;
	uint64_t *ids = read_all(l, SVAL, &k);
	bool ok = k == n;

	for (size_t i = 0; ok && i < n; i++)
		ok = ids[i] == model[i];
	free(ids);
	return ok;
}

Test(list, single_writer_killed_mid_update, .timeout = 900)
{
	conc_list *l = new_list(1 << 20);
	struct slog *lg = shared_alloc(sizeof(*lg));
	uint64_t *model = malloc(8192 * sizeof(*model)), *with, rng = 7;
	size_t n = 0, wn;
	uint32_t mdone = 0;
	struct __conc_arena_stat st;
	pid_t w, rd;

	with = malloc(8192 * sizeof(*with));
	rd = test_fork();
	if (rd == 0)
		single_reader(l, lg);
	for (int round = 0; round < 400; round++) {
		w = test_fork();
		if (w == 0)
			single_writer(l, lg);
		rng = mix64(rng);
		sleep_ns((int64_t)(rng % 2000000));
		kill(w, SIGKILL);
		cr_assert(killed_by(wait_child(w, 10000), SIGKILL), "round %d", round);

		st = check(l);
		cr_assert(lg->started == lg->done || lg->started == lg->done + 1);
		for (; mdone < lg->done; mdone++)
			smodel_apply(model, &n, mdone);
		if (lg->started == lg->done + 1) {
			memcpy(with, model, n * sizeof(*model));
			wn = n;
			smodel_apply(with, &wn, mdone);
			if (smodel_matches(l, with, wn)) {
				memcpy(model, with, wn * sizeof(*model));
				n = wn;
				mdone++;
			} else {
				cr_assert(smodel_matches(l, model, n),
					  "round %d: op %u neither in nor out", round, mdone);
			}
			lg->started = lg->done = mdone;
		} else {
			cr_assert(smodel_matches(l, model, n),
				  "round %d: a finished op is missing", round);
		}
		cr_assert_eq(st.entries, n);
	}
	st = check(l);
	cr_log_info("list kill rounds: 400, ops %u, holders found dead %lu, "
		    "calls undone or finished %lu", mdone,
		    (unsigned long)st.deaths, (unsigned long)st.recovered);
	cr_assert_gt(st.recovered, 0, "no kill ever landed inside a change");
	__atomic_store_n(&lg->stop, 1, __ATOMIC_RELEASE);
	cr_assert(exited_with(wait_child(rd, 20000), 0));
	cr_assert_gt(lg->reader_reads, 0);
	cr_assert_eq(lg->reader_bad, 0, "the reader saw a bad element");
	free(model);
	free(with);
	shared_free(lg, sizeof(*lg));
	conc_list_destroy(l);
}

/* ---- many writers SIGKILLed mid-update, accounting --------------------- */

/*
 * Several writers append unique ids and pop at the front, the back or at
 * random, and log each finished op (with the id a pop returned). After
 * each round of kills, with A every id known to be in the list before the
 * round plus the appends logged since, and P the pops logged: the list
 * must hold no id twice and nothing from nowhere, every id of A not
 * logged as popped must be in it, except at most one per writer killed
 * inside a pop; a writer killed inside an append may have added its id
 * or not. And the list keeps order: each writer's ids increase, and no
 * id of a round precedes one of an earlier round.
 */
#define MW	3
#define MOPS	(1 << 14)
#define MVAL	400

struct mlog {
	struct {
		uint32_t started, done;
		uint8_t kind[MOPS];
		uint64_t popped[MOPS];	/* 0: nothing popped (-ENOENT) */
	} w[MW];
};

static uint32_t mwriter_id(int round, uint32_t w)
{
	return (uint32_t)round * MW + w + 1;
}

static int mop_kind(uint32_t c, uint32_t n)
{
	return mix64(((uint64_t)c << 32) | n) % 100 < 45 ? APPEND : POP;
}

static _Noreturn void many_writer(conc_list *l, struct mlog *lg, uint32_t w,
				  uint32_t c)
{
	unsigned char v[MVAL];
	uint64_t r = c;

	for (uint32_t n = 0; n < MOPS; n++) {
		int kind = mop_kind(c, n);
		ssize_t len, idx;

		lg->w[w].kind[n] = (uint8_t)kind;
		__atomic_store_n(&lg->w[w].started, n + 1, __ATOMIC_SEQ_CST);
		if (kind == APPEND) {
			if (append_id(l, c, n, MVAL))
				_exit(50);
		} else {
			r = mix64(r);
			len = conc_list_len(l);
			idx = r % 3 == 0 ? 0 : r % 3 == 1 ? -1
				: len > 0 ? (ssize_t)((r >> 8) % (uint64_t)len) : 0;
			len = conc_list_pop(l, idx, v, sizeof(v));
			if (len >= 0) {
				lg->w[w].popped[n] = val_id(v, len, MVAL);
				if (!lg->w[w].popped[n])
					_exit(51);
			} else if (len != -ENOENT) {
				_exit(52);
			}
		}
		__atomic_store_n(&lg->w[w].done, n + 1, __ATOMIC_SEQ_CST);
	}
	_exit(0);
}

static bool in_sorted(const uint64_t *a, size_t n, uint64_t x, size_t *at)
{
	const uint64_t *p = bsearch(&x, a, n, sizeof(*a), cmp_u64);

	if (p)
		*at = (size_t)(p - a);
	return p != NULL;
}

Test(list, many_writers_killed_mid_update, .timeout = 900)
{
	conc_list *l = new_list(2 << 20);
	struct mlog *lg = shared_alloc(sizeof(*lg));
	uint64_t *alive = NULL, *known, *seen, *present, rng = 3;
	size_t nalive = 0, nknown, npresent, at;
	bool *gone;
	struct __conc_arena_stat st;
	pid_t pid[MW];

	cr_assert_not_null(lg);
	for (int round = 0; round < 250; round++) {
		uint64_t inflight_app[MW];
		size_t ninflight_app = 0, inflight_pops = 0, missing = 0;

		memset(lg, 0, sizeof(*lg));
		for (uint32_t w = 0; w < MW; w++) {
			pid[w] = test_fork();
			if (pid[w] == 0)
				many_writer(l, lg, w, mwriter_id(round, w));
		}
		rng = mix64(rng);
		sleep_ns((int64_t)(rng % 3000000));
		for (uint32_t w = 0; w < MW; w++) {
			rng = mix64(rng);
			sleep_ns((int64_t)(rng % 200000));
			kill(pid[w], SIGKILL);
		}
		for (uint32_t w = 0; w < MW; w++) {
			int s = wait_child(pid[w], 10000);
			cr_assert(killed_by(s, SIGKILL) || exited_with(s, 0),
				  "writer %u: status %d", w, s);
		}
		st = check(l);

		/* known: alive before the round + appends finished in it. */
		known = malloc((nalive + MW * MOPS) * sizeof(*known));
		if (nalive)
			memcpy(known, alive, nalive * sizeof(*known));
		nknown = nalive;
		for (uint32_t w = 0; w < MW; w++) {
			uint32_t c = mwriter_id(round, w), d = lg->w[w].done;

			for (uint32_t n = 0; n < d; n++)
				if (lg->w[w].kind[n] == APPEND)
					known[nknown++] = ((uint64_t)c << 32) | n;
			if (lg->w[w].started == d + 1) {
				if (lg->w[w].kind[d] == APPEND)
					inflight_app[ninflight_app++] =
						((uint64_t)c << 32) | d;
				else
					inflight_pops++;
			}
		}
		qsort(known, nknown, sizeof(*known), cmp_u64);
		gone = calloc(nknown + 1, sizeof(*gone));
		/* An in-flight append that landed counts as known. */
		present = read_all(l, MVAL, &npresent);
		seen = malloc((npresent + 1) * sizeof(*seen));
		memcpy(seen, present, npresent * sizeof(*seen));
		qsort(seen, npresent, sizeof(*seen), cmp_u64);
		for (size_t i = 0; i + 1 < npresent; i++)
			cr_assert_neq(seen[i], seen[i + 1], "id in the list twice");
		/* Pops logged: each of a known id (or of an in-flight append
		 * that landed), each once. */
		for (uint32_t w = 0; w < MW; w++)
			for (uint32_t n = 0; n < lg->w[w].done; n++) {
				uint64_t p = lg->w[w].popped[n];
				bool found = false;

				if (lg->w[w].kind[n] != POP || !p)
					continue;
				if (in_sorted(known, nknown, p, &at)) {
					cr_assert_not(gone[at], "id popped twice");
					gone[at] = found = true;
				}
				for (size_t i = 0; !found && i < ninflight_app; i++)
					if (inflight_app[i] == p) {
						inflight_app[i] = 0;
						found = true;
					}
				cr_assert(found, "popped an id nobody appended");
				cr_assert_not(in_sorted(seen, npresent, p, &at),
					      "popped id still in the list");
			}
		for (size_t i = 0; i < npresent; i++) {
			bool found = in_sorted(known, nknown, present[i], &at) && !gone[at];

			for (size_t k = 0; !found && k < ninflight_app; k++)
				found = inflight_app[k] == present[i];
			cr_assert(found, "round %d: id %#lx in the list from nowhere",
				  round, (unsigned long)present[i]);
		}
		for (size_t i = 0; i < nknown; i++)
			if (!gone[i] && !in_sorted(seen, npresent, known[i], &at))
				missing++;
		cr_assert_leq(missing, inflight_pops,
			      "round %d: %zu finished appends lost", round, missing);
		/* Order: per writer increasing, rounds never going back. */
		for (size_t i = 0; i + 1 < npresent; i++) {
			uint32_t c0 = (uint32_t)(present[i] >> 32);
			uint32_t c1 = (uint32_t)(present[i + 1] >> 32);

			cr_assert_leq((c0 - 1) / MW, (c1 - 1) / MW, "rounds out of order");
			if (c0 == c1)
				cr_assert_lt((uint32_t)present[i], (uint32_t)present[i + 1]);
		}
		cr_assert_eq(st.entries, npresent);
		free(alive);
		alive = present;
		nalive = npresent;
		free(known);
		free(seen);
		free(gone);
	}
	st = check(l);
	cr_log_info("list many-writer rounds: 250, holders found dead %lu, "
		    "calls undone or finished %lu, %zu left",
		    (unsigned long)st.deaths, (unsigned long)st.recovered, nalive);
	cr_assert_gt(st.recovered, 0, "no kill ever landed inside a change");
	free(alive);
	shared_free(lg, sizeof(*lg));
	conc_list_destroy(l);
}

/* ---- a peer that holds the lock: the handle's timeout ------------------ */

/* Every call that has to wait for the lock gives up; nothing changes. */
static void list_calls_time_out(conc_list *l)
{
	char buf[8];

	cr_assert_eq(conc_list_append(l, "x", 1), -ETIMEDOUT);
	cr_assert_eq(conc_list_get(l, 0, buf, sizeof(buf)), -ETIMEDOUT);
	cr_assert_eq(conc_list_set(l, 0, "y", 1), -ETIMEDOUT);
	cr_assert_eq(conc_list_pop(l, -1, buf, sizeof(buf)), -ETIMEDOUT);
	cr_assert_eq(conc_list_len(l), -ETIMEDOUT);
}

Test(list, timeout_against_a_holder_that_never_lets_go, .timeout = 60)
{
	conc_list_attr a = { .size = 64 * KiB };
	struct __conc_arena_stat st;
	struct holder h;
	char name[64], buf[8];
	conc_shm *s;
	conc_list *l;

	cr_assert_eq(conc_list_set_timeout(NULL, 0), -EINVAL);
	name_for(name, sizeof(name), "timeout");
	conc_shm_unlink(name);
	a.name = name;
	cr_assert_eq(conc_list_create(&l, &a), 0);
	cr_assert_eq(conc_list_append(l, "a", 1), 0);
	cr_assert_eq(conc_shm_open(&s, name, CONC_SHM_LIST), 0);
	struct arena *ar = conc_shm_data(s);

	/* It goes on after a while: calls work again. */
	h = hold_arena(ar);
	cr_assert_eq(conc_list_set_timeout(l, 50 * 1000000), 0);
	list_calls_time_out(l);
	cr_assert_eq(conc_list_set_timeout(l, 0), 0);	/* only try */
	list_calls_time_out(l);
	release_arena(h, false);
	cr_assert_eq(conc_list_len(l), 1);

	/* It dies holding the lock: the next call (still only trying) is
	 * handed the lock by the kernel and repairs. */
	h = hold_arena(ar);
	list_calls_time_out(l);
	release_arena(h, true);
	cr_assert_eq(conc_list_append(l, "b", 1), 0);
	cr_assert_eq(conc_list_len(l), 2);
	st = check(l);
	cr_assert_eq(st.deaths, 1);

	/* Back to the default: for ever. */
	cr_assert_eq(conc_list_set_timeout(l, CONC_FOREVER), 0);
	cr_assert_eq(conc_list_pop(l, 0, buf, sizeof(buf)), 1);
	cr_assert_eq(buf[0], 'a');
	conc_shm_close(s);
	conc_list_destroy(l);
	conc_shm_unlink(name);
}
