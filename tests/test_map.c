/*
 * test_map.c — conc_map: every function and error, named and anonymous
 * maps between processes and threads, stress with exact results, -ENOSPC
 * and recovery, and writers SIGKILLed at random points, hundreds of times,
 * each followed by a full check: the heap and the chains walked
 * (__conc_map_check: no leak, no shared block, every hash and count
 * right), every value compared byte for byte, and every operation a
 * writer saw complete found in the map.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
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
	snprintf(buf, n, "conc-test-map-%d-%s", (int)getpid(), tag);
}

static conc_map *new_map(size_t size)
{
	conc_map_attr a = { .size = size };
	conc_map *m = NULL;

	cr_assert_eq(conc_map_create(&m, &a), 0);
	return m;
}

static struct __conc_arena_stat check(conc_map *m)
{
	struct __conc_arena_stat st;
	int r = __conc_map_check(m, &st);

	cr_assert_eq(r, 0, "map check: %s", st.why ? st.why : strerror(-r));
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

/* Whether v (len bytes) is exactly what make_val wrote; its c and n. */
static bool val_ok(const unsigned char *v, size_t len, uint32_t *c, uint32_t *n)
{
	unsigned char want[4096];

	if (len < 8 || len > sizeof(want))
		return false;
	memcpy(c, v, 4);
	memcpy(n, v + 4, 4);
	make_val(want, len, *c, *n);
	return !memcmp(want, v, len);
}

static size_t val_len(uint32_t c, uint32_t n, size_t max)
{
	return 8 + mix64(((uint64_t)n << 20) ^ c ^ 0x55) % (max - 8);
}

static size_t key_of(char *k, uint32_t c, uint32_t j)
{
	/* Keys of several lengths, sharing prefixes. */
	return (size_t)sprintf(k, "k%u:%u%.*s", c, j, (int)(j % 5) * 3,
			       "..............");
}

/* ---- create, open, destroy ------------------------------------------- */

Test(map, create_defaults)
{
	struct __conc_arena_stat st;
	conc_map *m = NULL;

	cr_assert_eq(conc_map_create(&m, NULL), 0);
	cr_assert_eq(conc_map_len(m), 0);
	st = check(m);
	cr_assert_eq(st.size, 1 << 20);
	cr_assert_eq(st.entries, 0);
	cr_assert_eq(st.free_blocks, 1);
	cr_assert_eq(conc_map_destroy(m), 0);

	conc_map_attr zero = { 0 };
	cr_assert_eq(conc_map_create(&m, &zero), 0);
	cr_assert_eq(check(m).size, 1 << 20);
	conc_map_destroy(m);
}

Test(map, create_bad_arguments)
{
	conc_map_attr a = { .size = 64 * KiB };
	conc_map *m = NULL;

	cr_assert_eq(conc_map_create(NULL, &a), -EINVAL);
	a.size = 4095;
	cr_assert_eq(conc_map_create(&m, &a), -EINVAL);
	a.size = 100;
	cr_assert_eq(conc_map_create(&m, &a), -EINVAL);
	a.size = (size_t)1 << 41;
	cr_assert_eq(conc_map_create(&m, &a), -EINVAL);
	a.size = 64 * KiB;
	a.name = "a/b";
	cr_assert_eq(conc_map_create(&m, &a), -EINVAL);
	a.name = "";
	cr_assert_eq(conc_map_create(&m, &a), -EINVAL);
	a.name = NULL;
	a.flags = 0x8;
	cr_assert_eq(conc_map_create(&m, &a), -EINVAL);
	cr_assert_null(m);
	a.flags = 0;
	a.size = 4096;	/* the smallest accepted */
	cr_assert_eq(conc_map_create(&m, &a), 0);
	cr_assert_eq(conc_map_put(m, "k", 1, "v", 1), 0);
	check(m);
	conc_map_destroy(m);

	cr_assert_eq(conc_map_open(NULL, "x"), -EINVAL);
	cr_assert_eq(conc_map_open(&m, NULL), -EINVAL);
	cr_assert_eq(conc_map_open(&m, "a/b"), -EINVAL);
	cr_assert_eq(conc_map_open(&m, "conc-test-map-never-created"), -ENOENT);
	cr_assert_eq(conc_map_destroy(NULL), -EINVAL);
}

Test(map, named_create_open_and_kinds)
{
	char name[64], lname[64];
	conc_map_attr a = { .size = 32 * KiB };
	conc_list_attr la = { .size = 32 * KiB };
	conc_map *m, *m2, *m3;
	conc_list *l;
	char buf[16];

	name_for(name, sizeof(name), "named");
	name_for(lname, sizeof(lname), "alist");
	conc_shm_unlink(name);
	conc_shm_unlink(lname);
	a.name = name;
	cr_assert_eq(conc_map_create(&m, &a), 0);
	cr_assert_eq(conc_map_put(m, "one", 3, "1", 1), 0);

	/* Opened by name: the same map. */
	cr_assert_eq(conc_map_open(&m2, name), 0);
	cr_assert_eq(conc_map_get(m2, "one", 3, buf, sizeof(buf)), 1);
	cr_assert_eq(conc_map_put(m2, "two", 3, "2", 1), 0);
	cr_assert_eq(conc_map_len(m), 2);
	/* create without EXCL on an existing name opens it (same size). */
	cr_assert_eq(conc_map_create(&m3, &a), 0);
	cr_assert_eq(conc_map_len(m3), 2);
	conc_map_destroy(m3);
	a.flags = CONC_SHM_EXCL;
	cr_assert_eq(conc_map_create(&m3, &a), -EEXIST);
	a.flags = 0;
	a.size = 64 * KiB;
	cr_assert_eq(conc_map_create(&m3, &a), -EINVAL, "other size");

	/* Kinds never mix. */
	la.name = lname;
	cr_assert_eq(conc_list_create(&l, &la), 0);
	cr_assert_eq(conc_map_open(&m3, lname), -EPROTO);
	a.name = lname;
	a.size = 32 * KiB;
	cr_assert_eq(conc_map_create(&m3, &a), -EPROTO);
	cr_assert_eq(conc_list_open(&l, name), -EPROTO);

	/* Another process opens it by name and writes. */
	pid_t pid = test_fork();
	if (pid == 0) {
		conc_map *c;
		if (conc_map_open(&c, name))
			_exit(1);
		if (conc_map_put(c, "child", 5, "3", 1))
			_exit(2);
		conc_map_destroy(c);
		_exit(0);
	}
	cr_assert(exited_with(wait_child(pid, 10000), 0));
	cr_assert_eq(conc_map_get(m, "child", 5, buf, sizeof(buf)), 1);
	cr_assert_eq(buf[0], '3');
	check(m);

	conc_map_destroy(m2);
	conc_map_destroy(m);
	conc_list_destroy(l);
	cr_assert_eq(conc_shm_unlink(name), 0);
	cr_assert_eq(conc_shm_unlink(lname), 0);
	cr_assert_eq(conc_map_open(&m, name), -ENOENT);
}

Test(map, open_rejects_bad_segments)
{
	char name[64];
	conc_shm *s;
	conc_map *m;
	uint32_t *w;

	/* A map segment whose creator never set it up: refused in bounded
	 * time, not waited for forever. */
	name_for(name, sizeof(name), "raw");
	conc_shm_unlink(name);
	cr_assert_eq(conc_shm_create(&s, name, 8 * KiB, CONC_SHM_MAP, 0), 0);
	int64_t t0 = own_now_ns();	/* load does not count (own_clock.h) */
	cr_assert_eq(conc_map_open(&m, name), -EPROTO);
	cr_assert_lt(own_now_ns() - t0, 10 * SEC);

	/* "Ready", with a wrong layout word. */
	w = conc_shm_data(s);
	w[1] = 0x12345678;
	__atomic_store_n(&w[0], 2, __ATOMIC_RELEASE);
	cr_assert_eq(conc_map_open(&m, name), -EPROTO);
	conc_shm_close(s);
	conc_shm_unlink(name);

	/* A raw segment is not a map. */
	cr_assert_eq(conc_shm_create(&s, name, 8 * KiB, CONC_SHM_RAW, 0), 0);
	cr_assert_eq(conc_map_open(&m, name), -EPROTO);
	conc_shm_close(s);
	conc_shm_unlink(name);

	/* A real map with its header damaged after the fact. */
	conc_map_attr a = { .size = 8 * KiB, .name = name };
	cr_assert_eq(conc_map_create(&m, &a), 0);
	conc_map_destroy(m);
	cr_assert_eq(conc_shm_open(&s, name, CONC_SHM_MAP), 0);
	uint64_t *q = conc_shm_data(s);
	uint64_t saved = q[1];
	q[1] = 1 << 20;		/* size: not the segment's */
	cr_assert_eq(conc_map_open(&m, name), -EPROTO);
	q[1] = saved;
	cr_assert_eq(conc_map_open(&m, name), 0);
	conc_map_destroy(m);
	conc_shm_close(s);
	conc_shm_unlink(name);
}

/* An opener that finds the creator still setting up sleeps on the init
 * word until the creator publishes (stores 2 and wakes it): it gets the
 * map. It waits a second at most (then -EPROTO, as for a creator that
 * died), from a moment after `began`: a publish that ends less than a
 * second after `began` comes before that deadline, and the open must
 * succeed; one that ends later (this process was held up that long) may
 * come too late, and the round shows nothing. */
struct setup_race {
	int64_t began;		/* the child's clock, before its open */
	uint32_t opening;
	char name[64];
};

static int child_open(void *arg)
{
	struct setup_race *sr = arg;
	conc_map *m;
	int r;

	__atomic_store_n(&sr->began, now_ns(), __ATOMIC_RELAXED);
	set_flag(&sr->opening, 1);
	r = conc_map_open(&m, sr->name);
	if (!r)
		conc_map_destroy(m);
	return errcode(r);
}

/* One round: 1 if the open got the map, 0 if the round shows nothing. */
static int open_while_set_up(struct setup_race *sr)
{
	conc_map_attr a = { .size = 8 * KiB, .name = sr->name };
	int64_t published;
	conc_shm *s;
	conc_map *m;
	struct arena *ar;
	pid_t pid;
	int st;

	conc_shm_unlink(sr->name);
	cr_assert_eq(conc_map_create(&m, &a), 0);
	cr_assert_eq(conc_shm_open(&s, sr->name, CONC_SHM_MAP), 0);
	ar = conc_shm_data(s);
	__atomic_store_n(&ar->init, 1, __ATOMIC_RELAXED);	/* "setting up" */
	sr->opening = 0;
	pid = fork_child(child_open, sr);
	cr_assert_geq(pid, 0);
	cr_assert(wait_flag(&sr->opening, 30000), "the opener never ran");
	/* Sharpens the test (the opener sleeps on the word by now): it
	 * holds either way. */
	wait_thread_sleeping(pid, pid, 2000);
	__conc_arena_publish(ar);
	published = now_ns();
	st = wait_child(pid, 30000);
	conc_shm_close(s);
	conc_map_destroy(m);
	conc_shm_unlink(sr->name);
	if (exited_with(st, 0))
		return 1;
	cr_assert(exited_with(st, EPROTO) && published - sr->began >= SEC,
		  "the opener failed (status %#x), the creator done %lld ms into its open",
		  st, (long long)((published - sr->began) / 1000000));
	return 0;
}

Test(map, open_waits_for_a_creator_setting_up, .timeout = 120)
{
	struct setup_race *sr = shared_alloc(sizeof(*sr));
	int round;

	cr_assert_not_null(sr);
	name_for(sr->name, sizeof(sr->name), "setup");
	for (round = 0; round < 20 && !open_while_set_up(sr); round++)
		cr_log_info("round %d: held up past the opener's second, again", round);
	cr_assert_lt(round, 20, "held up past the opener's second in every round");
	shared_free(sr, sizeof(*sr));
}

/* A task cancelled while its open waits for a creator setting up gets
 * -ECANCELED (the cancellation is not swallowed by the wait). The open
 * waits a second at most, from a moment after `began`: a cancel that
 * ends (`cancelled`) later than that may come after the wait's end, and
 * the round shows nothing (the loop's thread was held up that long). */
struct cancel_open {
	const char *name;
	int first;
	int64_t began, cancelled;
};

static int task_open(void *arg)
{
	struct cancel_open *co = arg;
	conc_map *m;

	co->began = now_ns();
	co->first = conc_map_open(&m, co->name);
	if (!co->first)
		conc_map_destroy(m);
	return 0;
}

static int cancel_open_main(void *arg)
{
	struct cancel_open *co = arg;
	conc_task *t;
	int code = -1;

	if (conc_go(&t, task_open, co, NULL))
		return -1;
	conc_sleep(SEC / 50);
	conc_task_cancel(t);
	co->cancelled = now_ns();
	if (conc_task_join(t, &code, 10 * SEC))
		return -2;
	return code;
}

/* One round: 1 if the open said -ECANCELED, 0 if it shows nothing. */
static int cancel_while_set_up(const char *name)
{
	conc_map_attr a = { .size = 8 * KiB, .name = name };
	struct cancel_open co = { .name = name, .first = 1 };
	conc_shm *s;
	conc_map *m;
	struct arena *ar;
	int code = -1;

	conc_shm_unlink(name);
	cr_assert_eq(conc_map_create(&m, &a), 0);
	cr_assert_eq(conc_shm_open(&s, name, CONC_SHM_MAP), 0);
	ar = conc_shm_data(s);
	__atomic_store_n(&ar->init, 1, __ATOMIC_RELAXED);	/* "setting up" */
	cr_assert_eq(conc_run(cancel_open_main, &co, &code), 0);
	cr_assert_eq(code, 0);
	__conc_arena_publish(ar);
	conc_shm_close(s);
	conc_map_destroy(m);
	conc_shm_unlink(name);
	if (co.first == -ECANCELED)
		return 1;
	cr_assert(co.first == -EPROTO && co.cancelled - co.began >= SEC,
		  "open: %d, cancelled %lld ms into it", co.first,
		  (long long)((co.cancelled - co.began) / 1000000));
	return 0;
}

Test(map, open_in_a_cancelled_task_says_so, .timeout = 120)
{
	char name[64];
	int round;

	if (!(conc_features() & CONC_FEAT_IO_URING))
		cr_skip_test("io_uring is not available in this kernel");
	name_for(name, sizeof(name), "cancel");
	for (round = 0; round < 20 && !cancel_while_set_up(name); round++)
		cr_log_info("round %d: held up past the open's second, again", round);
	cr_assert_lt(round, 20, "held up past the open's second in every round");
}

/* ---- put, get, delete, contains, len ---------------------------------- */

Test(map, put_get_delete)
{
	conc_map *m = new_map(256 * KiB);
	char buf[64], k[64];
	size_t kl;

	cr_assert_eq(conc_map_put(m, "a", 1, "1", 1), 0);
	cr_assert_eq(conc_map_len(m), 1);
	cr_assert(conc_map_contains(m, "a", 1));
	cr_assert_not(conc_map_contains(m, "b", 1));
	cr_assert_eq(conc_map_get(m, "a", 1, buf, sizeof(buf)), 1);
	cr_assert_eq(buf[0], '1');

	/* Replace: one entry, the new value. */
	cr_assert_eq(conc_map_put(m, "a", 1, "twenty-two", 10), 0);
	cr_assert_eq(conc_map_len(m), 1);
	cr_assert_eq(conc_map_get(m, "a", 1, buf, sizeof(buf)), 10);
	cr_assert_arr_eq(buf, "twenty-two", 10);

	/* An empty value; NULL is fine with length 0. */
	cr_assert_eq(conc_map_put(m, "empty", 5, NULL, 0), 0);
	cr_assert_eq(conc_map_get(m, "empty", 5, buf, sizeof(buf)), 0);
	cr_assert(conc_map_contains(m, "empty", 5));

	/* Keys are bytes: NULs inside, prefixes of each other. */
	cr_assert_eq(conc_map_put(m, "x\0y", 3, "nul", 3), 0);
	cr_assert_eq(conc_map_put(m, "x", 1, "x", 1), 0);
	cr_assert_eq(conc_map_put(m, "x\0", 2, "x0", 2), 0);
	cr_assert_eq(conc_map_get(m, "x\0y", 3, buf, sizeof(buf)), 3);
	cr_assert_arr_eq(buf, "nul", 3);
	cr_assert_eq(conc_map_get(m, "x\0", 2, buf, sizeof(buf)), 2);
	cr_assert_eq(conc_map_get(m, "x\0z", 3, buf, sizeof(buf)), -ENOENT);
	cr_assert_eq(conc_map_len(m), 5);

	/* Many keys: more than buckets, so chains form. */
	for (uint32_t i = 0; i < 3000; i++) {
		kl = key_of(k, 7, i);
		cr_assert_eq(conc_map_put(m, k, kl, &i, sizeof(i)), 0);
	}
	cr_assert_eq(conc_map_len(m), 3005);
	for (uint32_t i = 0; i < 3000; i += 2) {
		kl = key_of(k, 7, i);
		cr_assert_eq(conc_map_delete(m, k, kl), 0);
		cr_assert_eq(conc_map_delete(m, k, kl), -ENOENT);
	}
	cr_assert_eq(conc_map_len(m), 1505);
	for (uint32_t i = 0, v; i < 3000; i++) {
		kl = key_of(k, 7, i);
		if (i % 2 == 0) {
			cr_assert_not(conc_map_contains(m, k, kl));
			cr_assert_eq(conc_map_get(m, k, kl, &v, sizeof(v)), -ENOENT);
		} else {
			cr_assert_eq(conc_map_get(m, k, kl, &v, sizeof(v)), 4);
			cr_assert_eq(v, i);
		}
	}
	cr_assert_eq(check(m).entries, 1505);
	cr_assert_eq(conc_map_delete(m, "nope", 4), -ENOENT);
	conc_map_destroy(m);
}

Test(map, get_buffer_rules)
{
	conc_map *m = new_map(16 * KiB);
	char buf[8];

	cr_assert_eq(conc_map_put(m, "k", 1, "0123456789", 10), 0);
	memset(buf, 'z', sizeof(buf));
	cr_assert_eq(conc_map_get(m, "k", 1, buf, 8), -EMSGSIZE);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(buf[i], 'z', "nothing copied on -EMSGSIZE");
	cr_assert_eq(conc_map_get(m, "k", 1, NULL, 0), 10, "length query");
	cr_assert_eq(conc_map_get(m, "k", 1, buf, 0), -EMSGSIZE);
	cr_assert_eq(conc_map_get(m, "k", 1, NULL, 5), -EINVAL);
	cr_assert_eq(conc_map_get(m, "nope", 4, NULL, 0), -ENOENT);
	cr_assert_eq(conc_map_put(m, "k", 1, "01234567", 8), 0);
	cr_assert_eq(conc_map_get(m, "k", 1, buf, 8), 8, "exact fit");
	cr_assert_arr_eq(buf, "01234567", 8);
	cr_assert(conc_map_contains(m, "k", 1));
	conc_map_destroy(m);
}

static int count_fn(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	(void)k, (void)kl, (void)v, (void)vl;
	++*(int *)arg;
	return 0;
}

Test(map, bad_input)
{
	conc_map *m = new_map(16 * KiB);
	char buf[8];
	int n = 0;

	cr_assert_eq(conc_map_put(NULL, "k", 1, "v", 1), -EINVAL);
	cr_assert_eq(conc_map_put(m, NULL, 1, "v", 1), -EINVAL);
	cr_assert_eq(conc_map_put(m, "k", 0, "v", 1), -EINVAL, "empty key");
	cr_assert_eq(conc_map_put(m, "k", 1, NULL, 1), -EINVAL);
	cr_assert_eq(conc_map_get(NULL, "k", 1, buf, 8), -EINVAL);
	cr_assert_eq(conc_map_get(m, NULL, 1, buf, 8), -EINVAL);
	cr_assert_eq(conc_map_get(m, "k", 0, buf, 8), -EINVAL);
	cr_assert_eq(conc_map_delete(NULL, "k", 1), -EINVAL);
	cr_assert_eq(conc_map_delete(m, NULL, 1), -EINVAL);
	cr_assert_eq(conc_map_delete(m, "k", 0), -EINVAL);
	cr_assert_not(conc_map_contains(NULL, "k", 1));
	cr_assert_not(conc_map_contains(m, NULL, 1));
	cr_assert_not(conc_map_contains(m, "k", 0));
	cr_assert_eq(conc_map_len(NULL), -EINVAL);
	cr_assert_eq(conc_map_iterate(NULL, count_fn, &n), -EINVAL);
	cr_assert_eq(conc_map_iterate(m, NULL, &n), -EINVAL);
	/* Nothing changed. */
	cr_assert_eq(conc_map_len(m), 0);
	cr_assert_eq(check(m).entries, 0);
	conc_map_destroy(m);
}

/* ---- iterate ---------------------------------------------------------- */

struct seen {
	unsigned char hit[500];
	int calls, stop_at;
	bool bad;
};

static int seen_fn(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct seen *s = arg;
	uint32_t c, n, j;

	if (sscanf(k, "k%u:%u", &c, &j) != 2 || j >= 500 || s->hit[j]++ ||
	    !val_ok(v, vl, &c, &n) || n != j || kl != key_of((char[64]){ 0 }, 1, j))
		s->bad = true;
	return ++s->calls == s->stop_at ? 7 : 0;
}

Test(map, iterate)
{
	conc_map *m = new_map(256 * KiB);
	unsigned char v[512];
	struct seen s = { .stop_at = -1 };
	char k[64];
	size_t len;

	cr_assert_eq(conc_map_iterate(m, seen_fn, &s), 0);
	cr_assert_eq(s.calls, 0, "empty map: no calls");
	for (uint32_t j = 0; j < 500; j++) {
		len = val_len(1, j, sizeof(v));
		make_val(v, len, 1, j);
		cr_assert_eq(conc_map_put(m, k, key_of(k, 1, j), v, len), 0);
	}
	cr_assert_eq(conc_map_iterate(m, seen_fn, &s), 0);
	cr_assert_eq(s.calls, 500);
	cr_assert_not(s.bad);
	for (int j = 0; j < 500; j++)
		cr_assert_eq(s.hit[j], 1, "key %d seen %d times", j, s.hit[j]);

	/* Stops early, with fn's value. */
	memset(&s, 0, sizeof(s));
	s.stop_at = 10;
	cr_assert_eq(conc_map_iterate(m, seen_fn, &s), 7);
	cr_assert_eq(s.calls, 10);
	conc_map_destroy(m);
}

/* ---- full, and recovery after deletes --------------------------------- */

/* The largest value that fits under key "big" in an empty map. */
static size_t largest_value(conc_map *m, unsigned char *big, size_t max)
{
	size_t lo = 0, hi = max;

	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;
		int r = conc_map_put(m, "big", 3, big, mid);

		cr_assert(r == 0 || r == -ENOSPC, "put: %d", r);
		if (r == 0) {
			cr_assert_eq(conc_map_delete(m, "big", 3), 0);
			lo = mid;
		} else {
			hi = mid - 1;
		}
	}
	return lo;
}

/* Keys of one length, so every entry takes a block of one size. */
static size_t fkey(char *k, uint32_t j)
{
	return (size_t)sprintf(k, "f%07u", j);
}

Test(map, full_then_deletes_make_room)
{
	const size_t size = 64 * KiB;
	conc_map *m = new_map(size);
	struct __conc_arena_stat st0, st;
	unsigned char *big = calloc(1, size), v[100];
	char k[64];
	uint32_t n, j;
	size_t max0;
	int r;

	cr_assert_not_null(big);
	st0 = check(m);
	max0 = largest_value(m, big, size);
	cr_assert_gt(max0, size / 2);
	cr_assert_eq(conc_map_put(m, "big", 3, big, size), -ENOSPC);
	cr_assert_eq(conc_map_put(m, "big", 3, big, (size_t)1 << 50), -ENOSPC);
	cr_assert_eq(conc_map_put(m, big, (size_t)1 << 50, "v", 1), -ENOSPC);

	/* Fill until full. */
	for (n = 0;; n++) {
		make_val(v, sizeof(v), 2, n);
		r = conc_map_put(m, k, fkey(k, n), v, sizeof(v));
		if (r)
			break;
	}
	cr_assert_eq(r, -ENOSPC);
	cr_assert_gt(n, 300);
	st = check(m);
	cr_assert_eq(st.entries, n);
	/* A failed put changes nothing. */
	cr_assert_eq(conc_map_put(m, k, fkey(k, n), v, sizeof(v)), -ENOSPC);
	cr_assert_eq(check(m).used, st.used);
	cr_assert_eq(conc_map_len(m), n);
	cr_assert_not(conc_map_contains(m, k, fkey(k, n)));
	/* Replacing needs room for the new entry beside the old one. */
	cr_assert_eq(conc_map_put(m, k, fkey(k, 0), v, sizeof(v)), -ENOSPC);
	cr_assert_eq(conc_map_get(m, k, fkey(k, 0), v, sizeof(v)), sizeof(v));
	cr_assert(val_ok(v, sizeof(v), &(uint32_t){ 0 }, &j) && j == 0);

	/* Delete every other entry: as many entries of that size fit
	 * again (of mixed sizes, first fit may leave holes unused). */
	for (j = 0; j < n; j += 2)
		cr_assert_eq(conc_map_delete(m, k, fkey(k, j)), 0);
	for (j = 0; j < n; j += 2) {
		make_val(v, sizeof(v), 2, j);
		cr_assert_eq(conc_map_put(m, k, fkey(k, j), v, sizeof(v)), 0,
			     "put %u after deletes", j);
	}
	cr_assert_eq(check(m).entries, n);

	/* Delete all: the heap is one free block again, as at the start. */
	for (j = 0; j < n; j++)
		cr_assert_eq(conc_map_delete(m, k, fkey(k, j)), 0);
	st = check(m);
	cr_assert_eq(st.used, 0);
	cr_assert_eq(st.free_blocks, 1);
	cr_assert_eq(st.largest_free, st0.largest_free);
	cr_assert_eq(largest_value(m, big, size), max0);
	free(big);
	conc_map_destroy(m);
}

Test(map, large_keys_and_values)
{
	conc_map *m = new_map(1 << 20);
	size_t kl = 10000, vl = 300000;
	unsigned char *k = malloc(kl), *v = malloc(vl), *out = malloc(vl);

	for (size_t i = 0; i < kl; i++)
		k[i] = (unsigned char)(i * 7);
	make_val(v, vl, 3, 3);
	cr_assert_eq(conc_map_put(m, k, kl, v, vl), 0);
	cr_assert_eq(conc_map_get(m, k, kl, out, vl), (ssize_t)vl);
	cr_assert_eq(memcmp(out, v, vl), 0);
	k[kl - 1] ^= 1;		/* differs in the last byte only */
	cr_assert_not(conc_map_contains(m, k, kl));
	k[kl - 1] ^= 1;
	cr_assert_eq(conc_map_delete(m, k, kl), 0);
	check(m);
	free(k);
	free(v);
	free(out);
	conc_map_destroy(m);
}

/* ---- between processes and threads ------------------------------------ */

Test(map, anonymous_map_shared_with_children)
{
	conc_map *m = new_map(256 * KiB);
	pid_t pid[4];
	char k[64];
	uint32_t v;

	for (int c = 0; c < 4; c++) {
		pid[c] = test_fork();
		if (pid[c] == 0) {
			for (uint32_t j = 0; j < 200; j++)
				if (conc_map_put(m, k, key_of(k, (uint32_t)c, j), &j, 4))
					_exit(1);
			_exit(0);
		}
	}
	for (int c = 0; c < 4; c++)
		cr_assert(exited_with(wait_child(pid[c], 20000), 0));
	cr_assert_eq(conc_map_len(m), 800);
	for (uint32_t c = 0; c < 4; c++)
		for (uint32_t j = 0; j < 200; j++) {
			cr_assert_eq(conc_map_get(m, k, key_of(k, c, j), &v, 4), 4);
			cr_assert_eq(v, j);
		}
	check(m);
	conc_map_destroy(m);
}

/*
 * Stress with exact results: each worker w runs a fixed sequence of puts,
 * replacements and deletes over its own 300 keys, and also overwrites 16
 * hot keys every worker shares. Afterwards its own keys must be exactly
 * what a replay of its sequence gives, and every hot key must hold a
 * value some worker wrote there, whole.
 */
#define OWN	300
#define HOT	16
#define STEPS	3000

static int hot_key(char *k, uint32_t j)
{
	return sprintf(k, "hot%u", j);
}

static int worker_ops(conc_map *m, uint32_t w)
{
	unsigned char v[600];
	char k[64];
	size_t len;
	int r;

	for (uint32_t i = 0; i < STEPS; i++) {
		uint32_t j = (uint32_t)(mix64(w * 7919u + i) % OWN);

		if (i % 5 == 4) {
			r = conc_map_delete(m, k, key_of(k, w, j));
			if (r && r != -ENOENT)
				return 10;
		} else {
			len = val_len(w, i, sizeof(v));
			make_val(v, len, w, i);
			if (conc_map_put(m, k, key_of(k, w, j), v, len))
				return 11;
		}
		len = val_len(1000 + w, i, 64);
		make_val(v, len, 1000 + w, i);
		if (conc_map_put(m, k, (size_t)hot_key(k, i % HOT), v, len))
			return 12;
		if (i % 50 == 0 && conc_map_len(m) < 0)
			return 13;
	}
	return 0;
}

/* The op that last wrote each own key of worker w, or -1. */
static void replay(uint32_t w, int32_t *last)
{
	for (uint32_t j = 0; j < OWN; j++)
		last[j] = -1;
	for (uint32_t i = 0; i < STEPS; i++) {
		uint32_t j = (uint32_t)(mix64(w * 7919u + i) % OWN);
		last[j] = i % 5 == 4 ? -1 : (int32_t)i;
	}
}

static void verify_stress(conc_map *m, uint32_t nworkers)
{
	unsigned char v[600];
	int32_t last[OWN];
	uint32_t c, n;
	size_t total = HOT;
	ssize_t len;
	char k[64];

	for (uint32_t w = 0; w < nworkers; w++) {
		replay(w, last);
		for (uint32_t j = 0; j < OWN; j++) {
			len = conc_map_get(m, k, key_of(k, w, j), v, sizeof(v));
			if (last[j] < 0) {
				cr_assert_eq(len, -ENOENT, "w%u key %u", w, j);
				continue;
			}
			total++;
			cr_assert_eq(len, (ssize_t)val_len(w, (uint32_t)last[j], sizeof(v)));
			cr_assert(val_ok(v, (size_t)len, &c, &n));
			cr_assert(c == w && n == (uint32_t)last[j], "w%u key %u", w, j);
		}
	}
	for (uint32_t j = 0; j < HOT; j++) {
		len = conc_map_get(m, k, (size_t)hot_key(k, j), v, sizeof(v));
		cr_assert_geq(len, 8);
		cr_assert(val_ok(v, (size_t)len, &c, &n));
		cr_assert(c >= 1000 && c < 1000 + nworkers && n % HOT == j);
	}
	cr_assert_eq(conc_map_len(m), (ssize_t)total);
	cr_assert_eq(check(m).entries, total);
}

Test(map, stress_processes_exact, .timeout = 120)
{
	conc_map *m = new_map(4 << 20);
	pid_t pid[6];

	for (uint32_t w = 0; w < 6; w++) {
		pid[w] = test_fork();
		if (pid[w] == 0)
			_exit(worker_ops(m, w));
	}
	for (int w = 0; w < 6; w++) {
		int st = wait_child(pid[w], 100000);
		cr_assert(exited_with(st, 0), "worker %d: status %d", w, st);
	}
	verify_stress(m, 6);
	conc_map_destroy(m);
}

struct targ {
	conc_map *m;
	uint32_t w;
	int r;
};

static void *thread_ops(void *p)
{
	struct targ *t = p;

	t->r = worker_ops(t->m, t->w);
	return NULL;
}

Test(map, stress_threads_exact, .timeout = 120)
{
	conc_map *m = new_map(4 << 20);
	struct targ t[4];
	pthread_t th[4];

	for (uint32_t w = 0; w < 4; w++) {
		t[w] = (struct targ){ m, w, -1 };
		cr_assert_eq(pthread_create(&th[w], NULL, thread_ops, &t[w]), 0);
	}
	for (int w = 0; w < 4; w++) {
		cr_assert_eq(join_thread(th[w], 100000, NULL), 0);
		cr_assert_eq(t[w].r, 0, "thread %d: %d", w, t[w].r);
	}
	verify_stress(m, 4);
	conc_map_destroy(m);
}

/* Threads of two processes, on a map each process opened by name. */
static int threads_in_child(const char *name, uint32_t base)
{
	struct targ t[3];
	pthread_t th[3];
	conc_map *m;

	if (conc_map_open(&m, name))
		return 20;
	for (uint32_t i = 0; i < 3; i++) {
		t[i] = (struct targ){ m, base + i, -1 };
		if (pthread_create(&th[i], NULL, thread_ops, &t[i]))
			return 21;
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		if (t[i].r)
			return t[i].r;
	}
	conc_map_destroy(m);
	return 0;
}

Test(map, stress_threads_in_processes_exact, .timeout = 120)
{
	conc_map_attr a = { .size = 4 << 20 };
	char name[64];
	conc_map *m;
	pid_t pid[2];

	name_for(name, sizeof(name), "tp");
	conc_shm_unlink(name);
	a.name = name;
	cr_assert_eq(conc_map_create(&m, &a), 0);
	for (uint32_t p = 0; p < 2; p++) {
		pid[p] = test_fork();
		if (pid[p] == 0)
			_exit(threads_in_child(name, 3 * p));
	}
	for (int p = 0; p < 2; p++)
		cr_assert(exited_with(wait_child(pid[p], 100000), 0));
	verify_stress(m, 6);
	conc_map_destroy(m);
	conc_shm_unlink(name);
}

/* ---- repair after a holder's death, by hand ---------------------------- */

/*
 * A child takes the map's lock itself, leaves a journal as a dying call
 * would (an entry, then the word changed), and exits holding the lock:
 * the next call must put the word back. With a journal entry that points
 * outside the words a call may change, the map must be given up
 * (-EPROTO, then -ENOTRECOVERABLE for everyone) rather than trusted.
 */
static void die_holding(struct arena *a, uint64_t off, uint64_t newval,
			uint64_t jstate)
{
	pid_t pid = test_fork();

	if (pid == 0) {
		uint64_t *w = (uint64_t *)((char *)a + off);

		if (conc_mutex_lock(&a->lock))
			_exit(1);
		a->j[0].off = off;
		a->j[0].old = *w;
		a->jstate = jstate;
		*w = newval;
		_exit(0);	/* with the lock held */
	}
	cr_assert(exited_with(wait_child(pid, 10000), 0));
}

static int child_len(void *m)
{
	return errcode((int)conc_map_len(m));
}

static struct arena *raw_view(conc_shm **s, const char *name)
{
	cr_assert_eq(conc_shm_open(s, name, CONC_SHM_MAP), 0);
	return conc_shm_data(*s);
}

Test(map, dead_holder_journal_undone)
{
	conc_map_attr a = { .size = 64 * KiB };
	struct __conc_arena_stat st;
	char name[64];
	conc_shm *s;
	conc_map *m;

	name_for(name, sizeof(name), "undo");
	conc_shm_unlink(name);
	a.name = name;
	cr_assert_eq(conc_map_create(&m, &a), 0);
	cr_assert_eq(conc_map_put(m, "k", 1, "v", 1), 0);
	struct arena *ar = raw_view(&s, name);
	uint64_t used = ar->used;

	die_holding(ar, offsetof(struct arena, used), 12345, 1);
	cr_assert_eq(ar->used, 12345);
	cr_assert_eq(conc_map_len(m), 1, "the next call repairs and goes on");
	cr_assert_eq(ar->used, used, "the journaled word is back");
	st = check(m);
	cr_assert_eq(st.deaths, 1);
	cr_assert_eq(st.recovered, 1);

	/* Died with an empty journal: nothing to undo, still counted. */
	die_holding(ar, offsetof(struct arena, used), used, 0);
	cr_assert(conc_map_contains(m, "k", 1));
	st = check(m);
	cr_assert_eq(st.deaths, 2);
	cr_assert_eq(st.recovered, 1);
	conc_shm_close(s);
	conc_map_destroy(m);
	conc_shm_unlink(name);
}

Test(map, dead_holder_bad_journal_gives_up)
{
	conc_map_attr a = { .size = 64 * KiB };
	char name[64], buf[4];
	conc_shm *s;
	conc_map *m;
	struct arena *ar;

	name_for(name, sizeof(name), "bad");
	a.name = name;
	/* An entry for a header word no call changes; then a roll-forward
	 * record in a map, which never makes one. */
	for (int how = 0; how < 2; how++) {
		conc_shm_unlink(name);
		cr_assert_eq(conc_map_create(&m, &a), 0);
		cr_assert_eq(conc_map_put(m, "k", 1, "v", 1), 0);
		ar = raw_view(&s, name);
		if (how == 0)
			die_holding(ar, offsetof(struct arena, deaths), 0, 1);
		else
			die_holding(ar, offsetof(struct arena, recovered), 0,
				    ARENA_REDO);
		cr_assert_eq(conc_map_len(m), -EPROTO);
		cr_assert_eq(conc_map_len(m), -ENOTRECOVERABLE);
		cr_assert_eq(conc_map_put(m, "k", 1, "w", 1), -ENOTRECOVERABLE);
		cr_assert_eq(conc_map_get(m, "k", 1, buf, 4), -ENOTRECOVERABLE);
		cr_assert_eq(conc_map_delete(m, "k", 1), -ENOTRECOVERABLE);
		cr_assert_not(conc_map_contains(m, "k", 1));
		cr_assert_eq(conc_map_iterate(m, count_fn, &(int){ 0 }), -ENOTRECOVERABLE);
		cr_assert_eq(run_in_child(child_len, m, 10000),
			     ENOTRECOVERABLE, "and in other processes");
		conc_shm_close(s);
		conc_map_destroy(m);
	}
	conc_shm_unlink(name);
}

/* ---- writers SIGKILLed mid-update ------------------------------------- */

/*
 * W writers, each on its own 48 keys, run a fixed sequence of puts
 * (values of 8..900 bytes, so a call spends time inside the lock) and
 * deletes; a reader iterates and gets meanwhile, checking every value it
 * sees. Each writer marks op n started before the call and done after.
 * The parent SIGKILLs every writer at a random moment, then checks the
 * map (the check takes the lock: whoever comes first repairs), and
 * compares every key with its model of each writer: all done ops in, the
 * one in flight either wholly in or wholly out. The next round's writers
 * go on with the sequences where the last ones stopped.
 */
#define KW	3
#define KKEYS	48
#define KVAL	900

struct klog {
	uint32_t started[KW], done[KW];	/* ops begun, ops finished */
	uint32_t stop, reader_bad, reader_reads;
};

struct kop {
	bool del;
	uint32_t j;
	size_t len;
};

static struct kop kop(uint32_t w, uint32_t n)
{
	uint64_t r = mix64(((uint64_t)w << 40) ^ n ^ 0xabcdef);

	return (struct kop){ r % 10 < 3, (uint32_t)(r >> 8) % KKEYS,
			     val_len(w, n, KVAL) };
}

static void kill_writer(conc_map *m, struct klog *lg, uint32_t w)
{
	unsigned char v[KVAL];
	char k[64];
	int r;

	for (uint32_t n = lg->done[w];; n++) {
		struct kop op = kop(w, n);

		__atomic_store_n(&lg->started[w], n + 1, __ATOMIC_SEQ_CST);
		if (op.del) {
			r = conc_map_delete(m, k, key_of(k, w, op.j));
			if (r == -ENOENT)
				r = 0;
		} else {
			make_val(v, op.len, w, n);
			r = conc_map_put(m, k, key_of(k, w, op.j), v, op.len);
		}
		if (r)
			_exit(30);
		__atomic_store_n(&lg->done[w], n + 1, __ATOMIC_SEQ_CST);
	}
}

static int reader_fn(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	uint32_t c, n;

	(void)k, (void)kl;
	if (!val_ok(v, vl, &c, &n))
		++*(uint32_t *)arg;
	return 0;
}

static void kill_reader(conc_map *m, struct klog *lg)
{
	unsigned char v[KVAL];
	uint32_t c, n, i = 0;
	char k[64];
	ssize_t len;

	while (!__atomic_load_n(&lg->stop, __ATOMIC_ACQUIRE)) {
		uint32_t bad = 0;

		if (conc_map_iterate(m, reader_fn, &bad) || bad)
			lg->reader_bad++;
		for (uint32_t j = 0; j < KKEYS; j++, i++) {
			len = conc_map_get(m, k, key_of(k, i % KW, j), v, sizeof(v));
			if (len != -ENOENT &&
			    (len < 0 || !val_ok(v, (size_t)len, &c, &n) || c != i % KW))
				lg->reader_bad++;
		}
		if (conc_map_len(m) < 0)
			lg->reader_bad++;
		lg->reader_reads++;
	}
	_exit(0);
}

/* The model: the op that last wrote each key, or -1. */
static void model_apply(int32_t *last, uint32_t w, uint32_t n)
{
	struct kop op = kop(w, n);

	last[op.j] = op.del ? -1 : (int32_t)n;
}

static bool model_matches(conc_map *m, const int32_t *last, uint32_t w)
{
	unsigned char v[KVAL];
	uint32_t c, n;
	char k[64];
	ssize_t len;

	for (uint32_t j = 0; j < KKEYS; j++) {
		len = conc_map_get(m, k, key_of(k, w, j), v, sizeof(v));
		if (last[j] < 0) {
			if (len != -ENOENT)
				return false;
			continue;
		}
		if (len != (ssize_t)kop(w, (uint32_t)last[j]).len ||
		    !val_ok(v, (size_t)len, &c, &n) || c != w ||
		    n != (uint32_t)last[j])
			return false;
	}
	return true;
}

static void run_kill_rounds(int rounds, bool with_reader)
{
	conc_map *m = new_map(512 * KiB);
	struct klog *lg = shared_alloc(sizeof(*lg));
	int32_t model[KW][KKEYS], with[KKEYS];
	uint32_t mdone[KW] = { 0 };	/* ops folded into model[w] */
	struct __conc_arena_stat st;
	uint64_t rng = 12345;
	size_t total;
	pid_t pid[KW], rd = 0;

	cr_assert_not_null(lg);
	memset(model, 0xff, sizeof(model));
	if (with_reader) {
		rd = test_fork();
		if (rd == 0)
			kill_reader(m, lg);
	}
	for (int round = 0; round < rounds; round++) {
		for (uint32_t w = 0; w < KW; w++) {
			pid[w] = test_fork();
			if (pid[w] == 0)
				kill_writer(m, lg, w);
		}
		rng = mix64(rng);
		sleep_ns((int64_t)(rng % 3000000));
		for (uint32_t w = 0; w < KW; w++) {
			rng = mix64(rng);
			sleep_ns((int64_t)(rng % 300000));
			kill(pid[w], SIGKILL);
		}
		for (uint32_t w = 0; w < KW; w++)
			cr_assert(killed_by(wait_child(pid[w], 10000), SIGKILL));

		st = check(m);
		total = 0;
		for (uint32_t w = 0; w < KW; w++) {
			uint32_t done = lg->done[w], started = lg->started[w];

			cr_assert(started == done || started == done + 1);
			for (; mdone[w] < done; mdone[w]++)
				model_apply(model[w], w, mdone[w]);
			if (started == done + 1) {
				/* Killed in op `done`: wholly in or wholly out. */
				memcpy(with, model[w], sizeof(with));
				model_apply(with, w, done);
				if (model_matches(m, with, w)) {
					memcpy(model[w], with, sizeof(with));
					mdone[w] = ++done;
				} else {
					cr_assert(model_matches(m, model[w], w),
						  "round %d writer %u: op %u neither in nor out",
						  round, w, done);
				}
				lg->started[w] = lg->done[w] = done;
			} else {
				cr_assert(model_matches(m, model[w], w),
					  "round %d writer %u: a finished op is missing",
					  round, w);
			}
			for (uint32_t j = 0; j < KKEYS; j++)
				total += model[w][j] >= 0;
		}
		cr_assert_eq(st.entries, total);
	}
	st = check(m);
	cr_log_info("map kill rounds: %d, holders found dead %lu, calls undone %lu",
		    rounds, (unsigned long)st.deaths, (unsigned long)st.recovered);
	cr_assert_gt(st.deaths, 0, "no writer was ever killed holding the lock");
	cr_assert_gt(st.recovered, 0, "no kill ever landed inside a change");
	if (with_reader) {
		__atomic_store_n(&lg->stop, 1, __ATOMIC_RELEASE);
		cr_assert(exited_with(wait_child(rd, 20000), 0));
		cr_assert_gt(lg->reader_reads, 0);
		cr_assert_eq(lg->reader_bad, 0, "the reader saw a bad state");
	}
	shared_free(lg, sizeof(*lg));
	conc_map_destroy(m);
}

Test(map, writers_killed_mid_update, .timeout = 900)
{
	run_kill_rounds(300, true);
}

/* ---- a peer that holds the lock: the handle's timeout ------------------ */

static int count_entry(const void *k, size_t kl, const void *v, size_t vl,
		       void *arg)
{
	(void)k, (void)kl, (void)v, (void)vl;
	++*(int *)arg;
	return 0;
}

/* Every call that has to wait for the lock gives up; nothing changes. */
static void map_calls_time_out(conc_map *m)
{
	char buf[8];
	int n = 0;

	cr_assert_eq(conc_map_put(m, "x", 1, "1", 1), -ETIMEDOUT);
	cr_assert_eq(conc_map_get(m, "k", 1, buf, sizeof(buf)), -ETIMEDOUT);
	cr_assert_eq(conc_map_delete(m, "k", 1), -ETIMEDOUT);
	cr_assert_not(conc_map_contains(m, "k", 1), "a timeout says false");
	cr_assert_eq(conc_map_len(m), -ETIMEDOUT);
	cr_assert_eq(conc_map_iterate(m, count_entry, &n), -ETIMEDOUT);
	cr_assert_eq(n, 0);
}

Test(map, timeout_against_a_holder_that_never_lets_go, .timeout = 60)
{
	conc_map_attr a = { .size = 64 * KiB };
	struct __conc_arena_stat st;
	struct holder h;
	char name[64];
	conc_shm *s;
	conc_map *m;

	cr_assert_eq(conc_map_set_timeout(NULL, 0), -EINVAL);
	name_for(name, sizeof(name), "timeout");
	conc_shm_unlink(name);
	a.name = name;
	cr_assert_eq(conc_map_create(&m, &a), 0);
	cr_assert_eq(conc_map_put(m, "k", 1, "v", 1), 0);
	struct arena *ar = raw_view(&s, name);

	/* It goes on after a while: calls work again. */
	h = hold_arena(ar);
	cr_assert_eq(conc_map_set_timeout(m, 50 * 1000000), 0);
	map_calls_time_out(m);
	cr_assert_eq(conc_map_set_timeout(m, 0), 0);	/* only try */
	map_calls_time_out(m);
	release_arena(h, false);
	cr_assert_eq(conc_map_len(m), 1);
	cr_assert(conc_map_contains(m, "k", 1));

	/* It dies holding the lock: the next call (still only trying) is
	 * handed the lock by the kernel and repairs. */
	h = hold_arena(ar);
	map_calls_time_out(m);
	release_arena(h, true);
	cr_assert_eq(conc_map_put(m, "x", 1, "1", 1), 0);
	cr_assert_eq(conc_map_len(m), 2);
	st = check(m);
	cr_assert_eq(st.deaths, 1);

	/* Back to the default: for ever. */
	cr_assert_eq(conc_map_set_timeout(m, CONC_FOREVER), 0);
	cr_assert_eq(conc_map_delete(m, "x", 1), 0);
	conc_shm_close(s);
	conc_map_destroy(m);
	conc_shm_unlink(name);
}
