/*
 * test_fi_map.c — a writer killed at every point of every kind of change
 * to a map or a list, then the next caller killed at every point of its
 * repair: after each, the container must pass a full check and hold
 * exactly what it held before the call or exactly what it holds after.
 *
 * The test build of the library (CONC_FAULT_INJECTION) numbers every
 * journaled store, commit, roll-forward step and undo step; a child sets
 * __conc_fi_arena_kill_at = k and SIGKILLs itself on reaching point k.
 * k runs from 1 until the call finishes without reaching it. With the
 * journal switched off (CONC_FI_ARENA_NO_UNDO), the same test must find
 * a broken state: it can tell.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <criterion/parameterized.h>
#include <errno.h>
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

#define SIZE (64 * 1024)

/* A container of either kind, and what a scenario does with it. */
struct box {
	bool list;
	conc_map *m;
	conc_list *l;
};

struct scenario {
	const char *name;
	bool list;
	void (*setup)(struct box *b);
	int (*op)(struct box *b);
};

/* A byte string naming the whole content, for comparing states. */
struct snap {
	unsigned char *p;
	size_t n, cap;
};

static void snap_add(struct snap *s, const void *p, size_t n)
{
	if (s->n + n + 8 > s->cap) {
		s->cap = (s->n + n + 8) * 2;
		s->p = realloc(s->p, s->cap);
	}
	memcpy(s->p + s->n, &n, 8);
	memcpy(s->p + s->n + 8, p, n);
	s->n += n + 8;
}

struct kv {
	unsigned char *p;
	size_t n;
};

static int collect(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct snap *all = arg;
	struct snap one = { 0 };

	snap_add(&one, k, kl);
	snap_add(&one, v, vl);
	snap_add(all, one.p, one.n);
	free(one.p);
	return 0;
}

static int cmp_kv(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* The state of b, checked; the map's entries in a canonical order. */
static struct snap snapshot(struct box *b)
{
	struct __conc_arena_stat st;
	struct snap s = { 0 }, raw = { 0 };
	unsigned char v[4096];
	int r;

	if (b->list) {
		r = __conc_list_check(b->l, &st);
		cr_assert_eq(r, 0, "list check: %s", st.why ? st.why : strerror(-r));
		for (ssize_t i = 0, n = conc_list_len(b->l); i < n; i++) {
			ssize_t len = conc_list_get(b->l, i, v, sizeof(v));

			cr_assert_geq(len, 0);
			snap_add(&s, v, (size_t)len);
		}
		return s;
	}
	r = __conc_map_check(b->m, &st);
	cr_assert_eq(r, 0, "map check: %s", st.why ? st.why : strerror(-r));
	cr_assert_eq(conc_map_iterate(b->m, collect, &raw), 0);
	/* Sort the records so that equal maps give equal strings. */
	struct kv rec[512];
	size_t n = 0, len;

	for (size_t off = 0; off < raw.n; off += 8 + len) {
		memcpy(&len, raw.p + off, 8);
		cr_assert_lt(n, 512);
		rec[n++] = (struct kv){ raw.p + off, len + 8 };
	}
	qsort(rec, n, sizeof(*rec), cmp_kv);
	for (size_t i = 0; i < n; i++)
		snap_add(&s, rec[i].p, rec[i].n);
	free(raw.p);
	return s;
}

/* ...and with the check's verdict instead of an assertion (NO_UNDO). */
static bool check_ok(struct box *b)
{
	struct __conc_arena_stat st;

	return (b->list ? __conc_list_check(b->l, &st)
			: __conc_map_check(b->m, &st)) == 0;
}

static bool snap_eq(const struct snap *a, const struct snap *b)
{
	return a->n == b->n && !memcmp(a->p, b->p, a->n);
}

static void box_new(struct box *b, const struct scenario *sc)
{
	conc_map_attr a = { .size = SIZE };

	memset(b, 0, sizeof(*b));
	b->list = sc->list;
	if (sc->list)
		cr_assert_eq(conc_list_create(&b->l, &a), 0);
	else
		cr_assert_eq(conc_map_create(&b->m, &a), 0);
	sc->setup(b);
}

static void box_free(struct box *b)
{
	if (b->list)
		conc_list_destroy(b->l);
	else
		conc_map_destroy(b->m);
}

/* Any call, to trigger the repair. */
static ssize_t touch(struct box *b)
{
	return b->list ? conc_list_len(b->l) : conc_map_len(b->m);
}

/* In a child: run fn(b) and die at point k (or exit 0 if never reached). */
static int run_killed(struct box *b, int (*fn)(struct box *), unsigned long k,
		      unsigned flags)
{
	pid_t pid = test_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		__conc_fi_arena_flags = flags;
		__conc_fi_arena_points = 0;
		__conc_fi_arena_kill_at = k;
		_exit(fn(b) < 0 ? 1 : 0);
	}
	int st = wait_child(pid, 10000);
	cr_assert(killed_by(st, SIGKILL) || exited_with(st, 0),
		  "status %d at point %lu", st, k);
	return killed_by(st, SIGKILL);
}

static int touch_fn(struct box *b)
{
	return touch(b) < 0 ? -1 : 0;
}

struct tally {
	unsigned points, before, after, repairs;
};

/* Every kill point of sc's op, each followed by every kill point of the
 * repair; both states checked. */
static struct tally run_scenario(const struct scenario *sc)
{
	struct snap before, after;
	struct tally t = { 0 };
	struct box b;

	box_new(&b, sc);
	before = snapshot(&b);
	cr_assert_geq(sc->op(&b), 0, "%s: the op itself fails", sc->name);
	after = snapshot(&b);
	box_free(&b);
	cr_assert_not(snap_eq(&before, &after), "%s changes nothing", sc->name);

	for (unsigned long k = 1;; k++) {
		box_new(&b, sc);
		if (!run_killed(&b, sc->op, k, 0)) {
			struct snap s = snapshot(&b);

			cr_assert(snap_eq(&s, &after), "%s: finished but wrong", sc->name);
			free(s.p);
			box_free(&b);
			break;
		}
		t.points++;
		/* The repairer dies too, at each of its points in turn. */
		for (unsigned long m = 1;; m++) {
			if (m > 1) {
				box_free(&b);
				box_new(&b, sc);
				cr_assert(run_killed(&b, sc->op, k, 0));
			}
			if (!run_killed(&b, touch_fn, m, 0))
				break;
			t.repairs++;
			struct snap s = snapshot(&b);
			cr_assert(snap_eq(&s, &before) || snap_eq(&s, &after),
				  "%s: killed at %lu, repairer at %lu: neither before nor after",
				  sc->name, k, m);
			free(s.p);
		}
		struct snap s = snapshot(&b);
		bool is_before = snap_eq(&s, &before), is_after = snap_eq(&s, &after);

		cr_assert(is_before || is_after,
			  "%s: killed at point %lu: neither before nor after", sc->name, k);
		t.before += is_before;
		t.after += is_after;
		free(s.p);
		/* Undone, the call can be made again, with the same result. */
		if (is_before) {
			cr_assert_geq(sc->op(&b), 0);
			s = snapshot(&b);
			cr_assert(snap_eq(&s, &after), "%s: redone after an undo, "
				  "not the same", sc->name);
			free(s.p);
		}
		box_free(&b);
	}
	cr_log_info("%-26s %3u kill points (%u left it as before, %u as after), "
		    "%u repairs killed", sc->name, t.points, t.before, t.after,
		    t.repairs);
	cr_assert_gt(t.points, 0);
	cr_assert_gt(t.before, 0);
	cr_assert_gt(t.after, 0);
	free(before.p);
	free(after.p);
	return t;
}

/* ---- scenarios -------------------------------------------------------- */

static void kv(char *k, char *v, int i, size_t vlen)
{
	sprintf(k, "key-%03d", i);
	memset(v, 'a' + i % 26, vlen);
}

/* 40 entries of mixed sizes, every third deleted again: free blocks next
 * to blocks in use, so frees merge on either side. */
static void map_setup(struct box *b)
{
	char k[16], v[300];

	for (int i = 0; i < 40; i++) {
		kv(k, v, i, 20 + (size_t)i * 7);
		cr_assert_eq(conc_map_put(b->m, k, 7, v, 20 + (size_t)i * 7), 0);
	}
	for (int i = 0; i < 40; i += 3) {
		kv(k, v, i, 0);
		cr_assert_eq(conc_map_delete(b->m, k, 7), 0);
	}
}

static int map_put_new(struct box *b)
{
	return conc_map_put(b->m, "new-key", 7, "a fresh value", 13);
}

static int map_put_replace(struct box *b)
{
	char v[100];

	memset(v, 'R', sizeof(v));
	return conc_map_put(b->m, "key-010", 7, v, sizeof(v));
}

static int map_delete_merge(struct box *b)
{
	/* 13's neighbours 12 and 15 were deleted: merges both ways. */
	return conc_map_delete(b->m, "key-013", 7);
}

static int map_delete_last(struct box *b)
{
	return conc_map_delete(b->m, "key-038", 7);
}

static void list_fill(struct box *b, int n)
{
	char v[200];

	for (int i = 0; i < n; i++) {
		memset(v, 'a' + i % 26, sizeof(v));
		snprintf(v, sizeof(v), "element %d", i);
		cr_assert_eq(conc_list_append(b->l, v, 20 + (size_t)(i % 9) * 15), 0);
	}
}

/* 20 elements after some pops from the front: the ring wraps. */
static void list_setup(struct box *b)
{
	char v[200];

	list_fill(b, 26);
	for (int i = 0; i < 6; i++)
		cr_assert_geq(conc_list_pop(b->l, 0, v, sizeof(v)), 0);
}

/* Exactly a full ring of 16: the next append must grow it. */
static void list_setup_full(struct box *b)
{
	list_fill(b, 16);
}

/* 9 elements in a ring of 32 or so: the next pop shrinks it. */
static void list_setup_sparse(struct box *b)
{
	char v[200];

	list_fill(b, 33);
	while (conc_list_len(b->l) > 9)
		cr_assert_geq(conc_list_pop(b->l, -1, v, sizeof(v)), 0);
}

static void list_setup_one(struct box *b)
{
	list_fill(b, 1);
}

static int list_append(struct box *b)
{
	return conc_list_append(b->l, "appended", 8);
}

static int list_set_mid(struct box *b)
{
	return conc_list_set(b->l, 7, "a new seventh element", 21);
}

static int pop_at(struct box *b, ssize_t i)
{
	char v[200];

	return (int)conc_list_pop(b->l, i, v, sizeof(v));
}

static int list_pop_front(struct box *b) { return pop_at(b, 0); }
static int list_pop_back(struct box *b) { return pop_at(b, -1); }
static int list_pop_near_front(struct box *b) { return pop_at(b, 6); }
static int list_pop_near_back(struct box *b) { return pop_at(b, -8); }
static int list_pop_shrink(struct box *b) { return pop_at(b, 4); }

static const struct scenario scenarios[] = {
	{ "map put, new key", false, map_setup, map_put_new },
	{ "map put, replace", false, map_setup, map_put_replace },
	{ "map delete, merging", false, map_setup, map_delete_merge },
	{ "map delete, at the end", false, map_setup, map_delete_last },
	{ "list append", true, list_setup, list_append },
	{ "list append, ring grows", true, list_setup_full, list_append },
	{ "list set", true, list_setup, list_set_mid },
	{ "list pop front", true, list_setup, list_pop_front },
	{ "list pop back", true, list_setup, list_pop_back },
	{ "list pop, shift front", true, list_setup, list_pop_near_front },
	{ "list pop, shift back", true, list_setup, list_pop_near_back },
	{ "list pop, ring shrinks", true, list_setup_sparse, list_pop_shrink },
	{ "list pop, last element", true, list_setup_one, list_pop_front },
};

#define NSC (sizeof(scenarios) / sizeof(scenarios[0]))

ParameterizedTestParameters(fi_map, killed_at_every_point)
{
	static size_t idx[NSC];

	for (size_t i = 0; i < NSC; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, NSC);
}

ParameterizedTest(size_t *i, fi_map, killed_at_every_point, .timeout = 300)
{
	run_scenario(&scenarios[*i]);
}

/* Without the journal, some kill point leaves a broken or half-done
 * state: the test above would see it. */
static bool broken_without_journal(const struct scenario *sc)
{
	struct snap before, after;
	bool found = false;
	struct box b;

	box_new(&b, sc);
	before = snapshot(&b);
	sc->op(&b);
	after = snapshot(&b);
	box_free(&b);
	for (unsigned long k = 1; !found; k++) {
		box_new(&b, sc);
		if (!run_killed(&b, sc->op, k, CONC_FI_ARENA_NO_UNDO)) {
			box_free(&b);
			break;
		}
		if (!check_ok(&b)) {
			found = true;
		} else {
			struct snap s = snapshot(&b);

			found = !snap_eq(&s, &before) && !snap_eq(&s, &after);
			free(s.p);
		}
		box_free(&b);
	}
	free(before.p);
	free(after.p);
	return found;
}

Test(fi_map, the_test_sees_a_missing_journal, .timeout = 300)
{
	cr_assert(broken_without_journal(&scenarios[1]), "map put, replace");
	cr_assert(broken_without_journal(&scenarios[2]), "map delete");
	cr_assert(broken_without_journal(&scenarios[5]), "list append, grows");
	cr_assert(broken_without_journal(&scenarios[6]), "list set");
}
