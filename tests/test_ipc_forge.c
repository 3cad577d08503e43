/*
 * test_ipc_forge.c — the cases the corruption harness (test_ipc_chaos.c)
 * found, each made deterministic: a peer writes chosen fields of a shared
 * object, and the victim's calls must stay within their contract.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <conc.h>
#include <sys/syscall.h>
#include "ipc/list_impl.h"
#include "ipc/map_impl.h"
#include "ipc/queue_impl.h"
#include "ipc/rsem_impl.h"
#include "chaos.h"

/* A peer rewrites the count of the victim's own slot (4 billion permits
 * held): the victim's post must still give back the one permit it took,
 * not count the peer's number down, and its handle must close. */
Test(forge, rsem_count_of_the_holders_slot)
{
	conc_rsem_attr a = { .permits = 2 };
	conc_rsem *s;

	cr_assert_eq(conc_rsem_create(&s, &a), 0);
	cr_assert_eq(conc_rsem_trywait(s), 0);
	cr_assert_eq(conc_rsem_trywait(s), 0);	/* the same slot, count 2 */
	__atomic_store_n(&s->sh->slots[0].count, 4000000000u, __ATOMIC_RELAXED);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_post(s), -EPERM, "nothing more is held");
	cr_assert_eq(conc_rsem_value(s), 2);
	cr_assert_eq(conc_rsem_destroy(s), 0);
}

/* The same lie told while the victim takes more: a taker counts its own
 * permits, not the peer's number. */
Test(forge, rsem_count_forged_before_a_second_take)
{
	conc_rsem_attr a = { .permits = 3 };
	conc_rsem *s;

	cr_assert_eq(conc_rsem_create(&s, &a), 0);
	cr_assert_eq(conc_rsem_trywait(s), 0);
	__atomic_store_n(&s->sh->slots[0].count, 0x7fffffffu, __ATOMIC_RELAXED);
	/* The table now says every permit is held: no second one. */
	cr_assert_eq(conc_rsem_trywait(s), -EAGAIN);
	__atomic_store_n(&s->sh->slots[0].count, 0, __ATOMIC_RELAXED);
	cr_assert_eq(conc_rsem_trywait(s), 0);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_post(s), -EPERM);
	cr_assert_eq(conc_rsem_destroy(s), 0);
}

/* The victim's own tid forged into a lock word (with its context, 0): the
 * call fails at once with -EDEADLK, as the contract now lists, or waits
 * out its timeout; it never proceeds as if it held the lock, and the
 * object works again once the word is put back. */
static uint32_t forge_owner(conc_mutex *m)
{
	uint32_t was = __atomic_load_n(&m->word, __ATOMIC_RELAXED);

	__atomic_store_n(&m->word, (uint32_t)syscall(SYS_gettid), __ATOMIC_RELAXED);
	return was;
}

Test(forge, map_lock_naming_the_caller)
{
	conc_map *m;
	uint32_t was;
	long r;

	cr_assert_eq(conc_map_create(&m, &(conc_map_attr){ .size = 8192 }), 0);
	cr_assert_eq(conc_map_put(m, "k", 1, "v", 1), 0);
	conc_map_set_timeout(m, 10 * 1000000);
	was = forge_owner(&m->h->a.lock);
	r = conc_map_put(m, "k", 1, "w", 1);
	cr_assert(r == -EDEADLK || r == -ETIMEDOUT, "put: %ld", r);
	r = conc_map_len(m);
	cr_assert(r == -EDEADLK || r == -ETIMEDOUT, "len: %ld", r);
	__atomic_store_n(&m->h->a.lock.word, was, __ATOMIC_RELAXED);
	cr_assert_eq(conc_map_get(m, "k", 1, NULL, 0), 1);
	cr_assert_eq(conc_map_len(m), 1);
	conc_map_destroy(m);
}

/* A second handle of the same map, called from an iterate callback
 * (which the contract forbids): -EDEADLK, not a wait for ever. */
static int call_other(const void *k, size_t kl, const void *v, size_t vl,
		      void *arg)
{
	(void)k, (void)kl, (void)v, (void)vl;
	return (int)conc_map_len(arg);
}

Test(forge, map_second_handle_inside_iterate, .timeout = 30)
{
	char name[64];
	conc_map *a, *b;

	snprintf(name, sizeof(name), "conc-forge-map-%d", (int)getpid());
	conc_shm_unlink(name);
	cr_assert_eq(conc_map_create(&a, &(conc_map_attr){ .size = 8192,
			.name = name, .flags = CONC_SHM_EXCL }), 0);
	cr_assert_eq(conc_map_open(&b, name), 0);
	conc_shm_unlink(name);
	cr_assert_eq(conc_map_put(a, "k", 1, "v", 1), 0);
	cr_assert_eq(conc_map_iterate(a, call_other, b), -EDEADLK);
	cr_assert_eq(conc_map_len(b), 1);
	conc_map_destroy(b);
	conc_map_destroy(a);
}

Test(forge, list_lock_naming_the_caller)
{
	conc_list *l;
	uint32_t was;
	long r;

	cr_assert_eq(conc_list_create(&l, &(conc_list_attr){ .size = 8192 }), 0);
	cr_assert_eq(conc_list_append(l, "v", 1), 0);
	conc_list_set_timeout(l, 10 * 1000000);
	was = forge_owner(&l->l->a.lock);
	r = conc_list_append(l, "w", 1);
	cr_assert(r == -EDEADLK || r == -ETIMEDOUT, "append: %ld", r);
	__atomic_store_n(&l->l->a.lock.word, was, __ATOMIC_RELAXED);
	cr_assert_eq(conc_list_len(l), 1);
	conc_list_destroy(l);
}

Test(forge, queue_side_lock_naming_the_caller)
{
	conc_queue *q;
	uint32_t was;
	char b[8];
	long r;

	cr_assert_eq(conc_queue_create(&q, &(conc_queue_attr){ .capacity = 4,
			.max_msg = 8 }), 0);
	cr_assert_eq(conc_queue_put(q, "m", 1, 0), 0);
	was = forge_owner(&q->q->p.lock);
	r = conc_queue_put(q, "n", 1, 10 * 1000000);
	cr_assert(r == -EDEADLK || r == -ETIMEDOUT, "put: %ld", r);
	__atomic_store_n(&q->q->p.lock.word, was, __ATOMIC_RELAXED);
	was = forge_owner(&q->q->c.lock);
	r = conc_queue_get(q, b, sizeof(b), 10 * 1000000);
	cr_assert(r == -EDEADLK || r == -ETIMEDOUT, "get: %ld", r);
	__atomic_store_n(&q->q->c.lock.word, was, __ATOMIC_RELAXED);
	cr_assert_eq(conc_queue_get(q, b, sizeof(b), 0), 1);
	conc_queue_destroy(q);
}

Test(forge, rsem_table_lock_naming_the_caller)
{
	conc_rsem *s;
	uint32_t was;
	int r;

	cr_assert_eq(conc_rsem_create(&s, &(conc_rsem_attr){ .permits = 1 }), 0);
	was = forge_owner(&s->sh->lock);
	r = conc_rsem_trywait(s);
	cr_assert(r == -EDEADLK || r == -EAGAIN, "trywait: %d", r);
	r = conc_rsem_timedwait(s, 10 * 1000000);
	cr_assert(r == -EDEADLK || r == -ETIMEDOUT, "timedwait: %d", r);
	__atomic_store_n(&s->sh->lock.word, was, __ATOMIC_RELAXED);
	cr_assert_eq(conc_rsem_trywait(s), 0);
	cr_assert_eq(conc_rsem_post(s), 0);
	conc_rsem_destroy(s);
}

/*
 * Forged headers and geometry, field by field: every 4-byte word of the
 * segment's header and of the object's first 256 bytes, the map's and the
 * list's own fields, each set to values a forger would pick. Opening must
 * fail with -EPROTO or -EINVAL, or succeed and leave every call bounded
 * and within its contract. The words that make an opener wait for its
 * creator (its bounded second is tested with each object) are left out.
 */
#define SHM_HDR_BYTES 64

struct forged {
	const char *what;
	size_t skip[3];				/* the creator's word, and
						 * lock words whose holder is
						 * waited for (a second) */
	size_t extra[4];			/* fields past the first 256 */
	void (*make)(const char *name);
	int (*probe)(struct chaos *c, const char *name);
};

static void make_queue(const char *name)
{
	conc_queue *q;

	cr_assert_eq(conc_queue_create(&q, &(conc_queue_attr){ .capacity = 4,
			.max_msg = 40, .name = name, .flags = CONC_SHM_EXCL }), 0);
	conc_queue_put(q, "forged", 6, 0);
	conc_queue_destroy(q);
}

static int probe_queue(struct chaos *c, const char *name)
{
	conc_queue *q;
	char b[64];
	long r;

	r = CHAOS(c, 1000 * MS, conc_queue_open(&q, name), EPROTO, EINVAL);
	if (r)
		return 0;
	CHAOS(c, 0, conc_queue_put(q, "x", 1, 0), ETIMEDOUT, EPIPE, EPROTO, EMSGSIZE,
	      ENOTRECOVERABLE, EDEADLK);
	r = CHAOS(c, 0, conc_queue_get(q, b, sizeof(b), 0), ETIMEDOUT, EPIPE,
		  EMSGSIZE, EPROTO, ENOTRECOVERABLE, EDEADLK);
	cr_assert(r <= (long)sizeof(b));
	r = CHAOS(c, -1, conc_queue_size(q), EINVAL);
	cr_assert(r <= 4, "size %ld beyond the capacity", r);
	conc_queue_destroy(q);
	return 1;
}

static void make_map(const char *name)
{
	conc_map *m;

	cr_assert_eq(conc_map_create(&m, &(conc_map_attr){ .size = 8192,
			.name = name, .flags = CONC_SHM_EXCL }), 0);
	conc_map_put(m, "k", 1, "forged", 6);
	conc_map_destroy(m);
}

static int probe_map(struct chaos *c, const char *name)
{
	conc_map *m;
	char b[64];
	long r;

	r = CHAOS(c, 1000 * MS, conc_map_open(&m, name), EPROTO, EINVAL);
	if (r)
		return 0;
	conc_map_set_timeout(m, 1 * MS);
	r = CHAOS(c, 1 * MS, conc_map_get(m, "k", 1, b, sizeof(b)), ENOENT,
		  EPROTO, ENOTRECOVERABLE, ETIMEDOUT, EDEADLK);
	cr_assert(r <= (long)sizeof(b));
	CHAOS(c, 1 * MS, conc_map_put(m, "j", 1, "v", 1), ENOSPC, EPROTO,
	      ENOTRECOVERABLE, ETIMEDOUT, EDEADLK);
	CHAOS(c, 1 * MS, conc_map_len(m), EPROTO, ENOTRECOVERABLE, ETIMEDOUT,
	      EDEADLK);
	conc_map_destroy(m);
	return 1;
}

static void make_list(const char *name)
{
	conc_list *l;

	cr_assert_eq(conc_list_create(&l, &(conc_list_attr){ .size = 8192,
			.name = name, .flags = CONC_SHM_EXCL }), 0);
	conc_list_append(l, "forged", 6);
	conc_list_append(l, "again", 5);
	conc_list_destroy(l);
}

static int probe_list(struct chaos *c, const char *name)
{
	conc_list *l;
	char b[64];
	long r;

	r = CHAOS(c, 1000 * MS, conc_list_open(&l, name), EPROTO, EINVAL);
	if (r)
		return 0;
	conc_list_set_timeout(l, 1 * MS);
	r = CHAOS(c, 1 * MS, conc_list_get(l, -1, b, sizeof(b)), ENOENT,
		  EPROTO, ENOTRECOVERABLE, ETIMEDOUT, EDEADLK);
	cr_assert(r <= (long)sizeof(b));
	CHAOS(c, 1 * MS, conc_list_append(l, "v", 1), ENOSPC, EPROTO,
	      ENOTRECOVERABLE, ETIMEDOUT, EDEADLK);
	r = CHAOS(c, 1 * MS, conc_list_pop(l, 0, b, sizeof(b)), ENOENT,
		  EPROTO, ENOTRECOVERABLE, ETIMEDOUT, EDEADLK);
	cr_assert(r <= (long)sizeof(b));
	conc_list_destroy(l);
	return 1;
}

static void make_rsem(const char *name)
{
	conc_rsem *s;

	cr_assert_eq(conc_rsem_create(&s, &(conc_rsem_attr){ .permits = 2,
			.name = name, .flags = CONC_SHM_EXCL }), 0);
	conc_rsem_destroy(s);
}

static int probe_rsem(struct chaos *c, const char *name)
{
	conc_rsem_holder h[2];
	conc_rsem *s;
	long r;

	r = CHAOS(c, 1000 * MS, conc_rsem_open(&s, name), EPROTO, EINVAL);
	if (r)
		return 0;
	r = CHAOS(c, 0, conc_rsem_trywait(s), EAGAIN, EUSERS, EOWNERDEAD,
		  ENOTRECOVERABLE, EDEADLK);
	if (r >= 0 || r == -EOWNERDEAD)
		CHAOS(c, -1, conc_rsem_post(s), EPERM);
	CHAOS(c, -1, conc_rsem_value(s), EINVAL);
	CHAOS(c, -1, conc_rsem_holders(s, h, 2), EINVAL);
	CHAOS(c, -1, conc_rsem_destroy(s), 0);
	return 1;
}

static void forge_all(const struct forged *f)
{
	uint32_t vals[] = { 0, 1, 2, 63, 64, 0x7fffffff, 0x80000000u,
			    0xffffffffu, 0, 0, 0 };
	size_t nv = sizeof(vals) / sizeof(vals[0]), off, i;
	unsigned opened = 0, tried = 0;
	struct chaos c;
	char name[64];
	uint32_t was;

	chaos_init(&c, 0);
	snprintf(name, sizeof(name), "conc-forge-%s-%d", f->what, (int)getpid());
	conc_shm_unlink(name);
	f->make(name);
	chaos_map(&c, name);
	/* Lengths at the file's edges too. */
	vals[nv - 3] = (uint32_t)c.rawlen;
	vals[nv - 2] = (uint32_t)c.rawlen - SHM_HDR_BYTES;
	vals[nv - 1] = (uint32_t)c.rawlen + 64;
	for (off = 0; off < SHM_HDR_BYTES + 256 + 4 * sizeof(f->extra[0]); off += 4) {
		size_t at = off;

		if (off >= SHM_HDR_BYTES + 256) {
			size_t e = f->extra[(off - SHM_HDR_BYTES - 256) / sizeof(size_t)];

			if (!e || (off - SHM_HDR_BYTES - 256) % sizeof(size_t))
				continue;
			at = SHM_HDR_BYTES + e;
		}
		if (at == SHM_HDR_BYTES + f->skip[0] || at + 4 > c.rawlen ||
		    (f->skip[1] && at == SHM_HDR_BYTES + f->skip[1]) ||
		    (f->skip[2] && at == SHM_HDR_BYTES + f->skip[2]))
			continue;
		memcpy(&was, c.raw + at, 4);
		for (i = 0; i < nv; i++) {
			memcpy(c.raw + at, &vals[i], 4);
			c.round = (unsigned)(at << 8 | i);
			tried++;
			opened += (unsigned)f->probe(&c, name);
			/* The probe may have changed the object: start from
			 * the original each time. */
			memcpy(c.raw + at, &was, 4);
		}
	}
	chaos_unmap(&c);
	conc_shm_unlink(name);
	cr_log_info("forged %s: %u opens, %u accepted", f->what, tried, opened);
}

Test(forge, queue_header_and_geometry, .timeout = 120)
{
	forge_all(&(struct forged){ "queue",
		{ 0, offsetof(struct shared, p.lock.word),
		  offsetof(struct shared, c.lock.word) }, { 0 }, make_queue, probe_queue });
}

Test(forge, map_header_and_geometry, .timeout = 120)
{
	forge_all(&(struct forged){ "map", { 0 },
		{ offsetof(struct map, count), offsetof(struct map, nbuckets),
		  offsetof(struct map, buckets), offsetof(struct arena, jstate) },
		make_map, probe_map });
}

Test(forge, list_header_and_geometry, .timeout = 120)
{
	forge_all(&(struct forged){ "list", { 0 },
		{ offsetof(struct list, count), offsetof(struct list, cap),
		  offsetof(struct list, head), offsetof(struct list, ring) },
		make_list, probe_list });
}

Test(forge, rsem_header_and_table, .timeout = 120)
{
	forge_all(&(struct forged){ "rsem", { 0 }, { 0 }, make_rsem, probe_rsem });
}
