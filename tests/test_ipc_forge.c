/*
 * test_ipc_forge.c — the cases the corruption harness (test_ipc_chaos.c)
 * found, each made deterministic: a peer writes chosen fields of a shared
 * object, and the victim's calls must stay within their contract.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
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

/* The same lie told before the victim takes more: a taker counts its own
 * permits, not the peer's number, so the second permit is there. */
Test(forge, rsem_count_forged_before_a_second_take)
{
	conc_rsem_attr a = { .permits = 2 };
	conc_rsem *s;

	cr_assert_eq(conc_rsem_create(&s, &a), 0);
	cr_assert_eq(conc_rsem_trywait(s), 0);
	__atomic_store_n(&s->sh->slots[0].count, 0x7fffffffu, __ATOMIC_RELAXED);
	cr_assert_eq(conc_rsem_trywait(s), 0);
	cr_assert_eq(conc_rsem_trywait(s), -EAGAIN);
	cr_assert_eq(s->sh->slots[0].count, 2, "the count written from the taker's");
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

/* The same forgery with CONC_RECURSIVE forged into the flags beside it
 * (the library's locks are never recursive): the call went on as if it
 * held the lock (count below its maximum) or said -EAGAIN, which no
 * container call lists (count at its maximum). Found by test_ipc_chaos's
 * queue round (-EAGAIN from a get). Now -EDEADLK, or a wait out. */
static void forge_recursive(conc_mutex *m, uint32_t count, uint32_t saved[2])
{
	saved[0] = forge_owner(m);
	saved[1] = __atomic_fetch_or(&m->flags, CONC_RECURSIVE, __ATOMIC_RELAXED);
	m->count = count;
	m->ctx = 0;
}

static void unforge(conc_mutex *m, const uint32_t saved[2])
{
	__atomic_store_n(&m->flags, saved[1], __ATOMIC_RELAXED);
	m->count = 0;
	__atomic_store_n(&m->word, saved[0], __ATOMIC_RELAXED);
}

#define REFUSED(r) ((r) == -EDEADLK || (r) == -ETIMEDOUT)

Test(forge, locks_naming_the_caller_with_recursion_forged)
{
	static const uint32_t counts[] = { 0, 1, UINT32_MAX };
	uint32_t saved[2];
	conc_queue *q;
	conc_map *m;
	char b[8];
	long r;

	cr_assert_eq(conc_queue_create(&q, &(conc_queue_attr){ .capacity = 4,
			.max_msg = 8 }), 0);
	cr_assert_eq(conc_map_create(&m, &(conc_map_attr){ .size = 8192 }), 0);
	cr_assert_eq(conc_queue_put(q, "m", 1, 0), 0);
	cr_assert_eq(conc_map_put(m, "k", 1, "v", 1), 0);
	conc_map_set_timeout(m, 10 * 1000000);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		forge_recursive(&q->q->p.lock, counts[i], saved);
		r = conc_queue_put(q, "n", 1, 10 * 1000000);
		cr_assert(REFUSED(r), "put, count %u: %ld", counts[i], r);
		r = conc_queue_put(q, "n", 1, 0);
		cr_assert(REFUSED(r), "put 0, count %u: %ld", counts[i], r);
		unforge(&q->q->p.lock, saved);
		forge_recursive(&q->q->c.lock, counts[i], saved);
		r = conc_queue_get(q, b, sizeof(b), 10 * 1000000);
		cr_assert(REFUSED(r), "get, count %u: %ld", counts[i], r);
		r = conc_queue_get_begin(q, b, sizeof(b), 0);
		cr_assert(REFUSED(r), "get_begin 0, count %u: %ld", counts[i], r);
		unforge(&q->q->c.lock, saved);
		forge_recursive(&m->h->a.lock, counts[i], saved);
		r = conc_map_put(m, "k", 1, "w", 1);
		cr_assert(REFUSED(r), "map put, count %u: %ld", counts[i], r);
		r = conc_map_len(m);
		cr_assert(REFUSED(r), "map len, count %u: %ld", counts[i], r);
		unforge(&m->h->a.lock, saved);
	}
	cr_assert_eq(__conc_self_tls.robust_held, 0);
	cr_assert_eq(conc_queue_size(q), 1);
	cr_assert_eq(conc_queue_get(q, b, sizeof(b), 0), 1);
	cr_assert_eq(conc_map_get(m, "k", 1, b, sizeof(b)), 1);
	cr_assert_eq(b[0], 'v', "a put went on under a forged lock");
	conc_map_destroy(m);
	conc_queue_destroy(q);
}

/* Between a two-step get's begin and its commit, a peer writes the
 * consumers' lock word (free, or another owner's): the lock is lost, but
 * it is still linked in the getter's robust list. Commit, abort and
 * destroy must each take it off that list: the destroy unmaps the
 * segment, and the kernel walks the list at the thread's exit (and every
 * later lock writes beside its newest entry). Found by test_ipc_chaos's
 * queue round (robust_held 1 after the destroy, 1 run in 12 under load). */
static void two_step_lock_lost(int how, uint32_t word)
{
	conc_queue *q;
	char b[8];
	long r;

	cr_assert_eq(conc_queue_create(&q, &(conc_queue_attr){ .capacity = 4,
			.max_msg = 8 }), 0);
	cr_assert_eq(conc_queue_put(q, "m", 1, 0), 0);
	cr_assert_eq(conc_queue_get_begin(q, b, sizeof(b), 0), 1);
	cr_assert_eq(__conc_self_tls.robust_held, 1);
	__atomic_store_n(&q->q->c.lock.word, word, __ATOMIC_RELAXED);
	if (how == 0) {
		r = conc_queue_get_commit(q);
		cr_assert(r == 0 || r == -EINVAL, "commit: %ld", r);
	} else if (how == 1) {
		r = conc_queue_get_abort(q);
		cr_assert(r == 0 || r == -EINVAL, "abort: %ld", r);
	}
	if (how != 2) {
		cr_assert_eq(__conc_self_tls.robust_held, 0,
			     "the lost lock is still on the robust list");
		cr_assert_eq(conc_queue_get_commit(q), -EINVAL, "nothing pending");
		if (word == 0) {	/* the peer left the lock free */
			r = conc_queue_get(q, b, sizeof(b), 0);
			cr_assert(r == 1 || r == -ETIMEDOUT, "get: %ld", r);
		}
	}
	conc_queue_destroy(q);
	cr_assert_eq(__conc_self_tls.robust_held, 0,
		     "a robust lock of an unmapped segment is still registered");
}

Test(forge, queue_two_step_lock_freed_by_a_peer)
{
	for (int how = 0; how < 3; how++)
		two_step_lock_lost(how, 0);
}

Test(forge, queue_two_step_lock_given_to_another_by_a_peer)
{
	for (int how = 0; how < 3; how++)
		two_step_lock_lost(how, (uint32_t)getpid() + 1);
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

/*
 * Truncation. A named segment cannot be sealed (a file in /dev/shm is not
 * a memfd): a peer allowed to write it can cut it under the others'
 * mappings, and their next access to the pages cut off raises SIGBUS, as
 * conc_shm_create(3) says; this test shows it, so that a change is
 * noticed. An anonymous segment is sealed: whoever holds its fd, or opens
 * it again through /proc, cannot cut it, and the victim goes on. A
 * segment cut or grown before it is opened is refused.
 */
Test(forge, named_segment_cut_under_a_mapping_raises_sigbus, .timeout = 60)
{
	int ready[2], go[2], st;
	char name[64], path[128], b;
	conc_queue *q;
	pid_t pid;

	snprintf(name, sizeof(name), "conc-forge-cut-%d", (int)getpid());
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	conc_shm_unlink(name);
	cr_assert_eq(conc_queue_create(&q, &(conc_queue_attr){ .capacity = 64,
			.max_msg = 64, .name = name, .flags = CONC_SHM_EXCL }), 0);
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(go), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		conc_queue *v;
		char m[64] = "victim";

		/* The kernel's SIGBUS, not ASan's report of it. */
		signal(SIGBUS, SIG_DFL);
		if (conc_queue_open(&v, name) ||
		    write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1)
			_exit(10);
		/* Every slot, up to the ones past the cut. */
		for (int i = 0; i < 64; i++)
			conc_queue_put(v, m, sizeof(m), 0);
		_exit(0);
	}
	cr_assert_eq(read(ready[0], &b, 1), 1);
	cr_assert_eq(truncate(path, 4096), 0, "the peer cuts the file");
	cr_assert_eq(write(go[1], "g", 1), 1);
	st = wait_child(pid, 30000);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS,
		  "documented: SIGBUS (status %#x)", st);
	/* The creator's mapping is cut too (it only unmaps it now), and
	 * opening the name again is refused. */
	conc_queue_destroy(q);
	cr_assert_eq(conc_queue_open(&q, name), -EINVAL);
	conc_shm_unlink(name);
}

Test(forge, anonymous_segment_cannot_be_cut_through_proc, .timeout = 60)
{
	char path[64], m[16];
	conc_queue *q;
	int fd;

	cr_assert_eq(conc_queue_create(&q, &(conc_queue_attr){ .capacity = 64,
			.max_msg = 64 }), 0);
	cr_assert_eq(ftruncate(conc_queue_fd(q), 0), -1);
	cr_assert_eq(errno, EPERM);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", conc_queue_fd(q));
	fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, 4096), -1, "the seal is the file's");
	cr_assert_eq(errno, EPERM);
	close(fd);
	for (int i = 0; i < 64; i++)
		cr_assert_eq(conc_queue_put(q, "m", 1, 0), 0);
	cr_assert_eq(conc_queue_get(q, m, sizeof(m), 0), 1);
	conc_queue_destroy(q);
}

Test(forge, segment_cut_or_grown_before_open_is_refused, .timeout = 60)
{
	char name[64], path[128];
	struct stat st;
	conc_queue *q;
	conc_map *m;
	conc_list *l;
	conc_rsem *s;

	snprintf(name, sizeof(name), "conc-forge-size-%d", (int)getpid());
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	for (int kind = 0; kind < 4; kind++) {
		for (int grow = 0; grow < 2; grow++) {
			conc_shm_unlink(name);
			switch (kind) {
			case 0: make_queue(name); break;
			case 1: make_map(name); break;
			case 2: make_list(name); break;
			default: make_rsem(name); break;
			}
			cr_assert_eq(stat(path, &st), 0);
			cr_assert_eq(truncate(path, grow ? st.st_size + 4096
							 : st.st_size - 64), 0);
			switch (kind) {
			case 0: cr_assert_eq(conc_queue_open(&q, name), -EINVAL); break;
			case 1: cr_assert_eq(conc_map_open(&m, name), -EINVAL); break;
			case 2: cr_assert_eq(conc_list_open(&l, name), -EINVAL); break;
			default: cr_assert_eq(conc_rsem_open(&s, name), -EINVAL); break;
			}
		}
	}
	conc_shm_unlink(name);
}

/*
 * A peer that marks the slot a taker is claiming as its holder's death
 * (FUTEX_OWNER_DIED), between the taker's set-up of the slot and its lock:
 * the lock then succeeds with -EOWNERDEAD, and the taker held a permit it
 * had not recorded as its own, so its post said -EPERM and its destroy
 * -EBUSY for ever (found by test_ipc_chaos, rsem, seed 20261203 under
 * ASan). The window is a few instructions wide: a thread writes the word
 * without pause while the taker takes and posts; whatever the timing, every
 * permit taken must be given back and the handle must close.
 */
struct hammer {
	uint32_t *word;
	int stop;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;

	/* Free now and then, so that takers pick the slot, and marked
	 * dead the moment after. */
	for (unsigned i = 0; !__atomic_load_n(&h->stop, __ATOMIC_RELAXED); i++)
		__atomic_store_n(h->word, i % 64 ? FUTEX_OWNER_DIED : 0,
				 __ATOMIC_RELAXED);
	return NULL;
}

Test(forge, rsem_slot_marked_dead_while_it_is_claimed, .timeout = 120)
{
	struct hammer h = { 0 };
	int64_t end = now_ns() + 2000 * MS;
	unsigned taken = 0;
	pthread_t t;
	conc_rsem *s;
	int r;

	cr_assert_eq(conc_rsem_create(&s, &(conc_rsem_attr){ .permits = 1 }), 0);
	h.word = &s->sh->slots[0].m.word;
	cr_assert_eq(pthread_create(&t, NULL, hammer, &h), 0);
	for (int i = 0; i < 200000 && now_ns() < end; i++) {
		r = conc_rsem_trywait(s);
		cr_assert(r == 0 || r == -EOWNERDEAD || r == -EAGAIN || r == -EUSERS,
			  "trywait: %d", r);
		if (r == -EAGAIN || r == -EUSERS)
			continue;
		taken++;
		r = conc_rsem_post(s);
		cr_assert(r == 0 || r == -EPERM, "post: %d", r);
		cr_assert_eq(__conc_self_tls.robust_held, 0,
			     "a permit taken (%u) is still on the robust list", taken);
	}
	__atomic_store_n(&h.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	cr_assert_eq(conc_rsem_destroy(s), 0);
}

/*
 * A peer marks the caller's own slot dead, and another one too, so that the
 * caller's next take takes both back (and finds no permit: the peer also
 * forged a holder of the rest); then the peer writes the caller's tid into
 * its old slot again. The caller holds nothing (its robust list says so),
 * yet its destroy said -EBUSY for ever, trusting the word (found by
 * test_ipc_chaos, rsem, seed 20261203 round 1, under ASan).
 */
Test(forge, rsem_own_slot_taken_back_then_forged_as_held)
{
	conc_rsem *s;

	cr_assert_eq(conc_rsem_create(&s, &(conc_rsem_attr){ .permits = 2,
			.holders = 3 }), 0);
	cr_assert_eq(conc_rsem_trywait(s), 0);
	cr_assert_eq(s->own[0].tid, (uint32_t)syscall(SYS_gettid));
	__atomic_store_n(&s->sh->slots[0].m.word, FUTEX_OWNER_DIED, __ATOMIC_RELAXED);
	__atomic_store_n(&s->sh->slots[2].m.word, FUTEX_OWNER_DIED, __ATOMIC_RELAXED);
	/* A live-looking holder of both permits, in a process of no pid. */
	s->sh->slots[1].count = 2;
	s->sh->slots[1].pid = 0;
	__atomic_store_n(&s->sh->slots[1].m.word, 12345, __ATOMIC_RELAXED);
	cr_assert_eq(conc_rsem_trywait(s), -EAGAIN);
	cr_assert_eq(__conc_self_tls.robust_held, 0, "taken back: not held");
	s->sh->slots[0].since = 1;
	__atomic_store_n(&s->sh->slots[0].m.word, (uint32_t)syscall(SYS_gettid),
			 __ATOMIC_RELAXED);
	cr_assert_eq(conc_rsem_post(s), -EPERM);
	cr_assert_eq(conc_rsem_destroy(s), 0);
}

/*
 * A peer rewrites the context of the caller's slot (or its word, or its
 * time): the slot stays the caller's, as its own records say. The caller
 * claimed a second slot instead, and its post gave back only one of them,
 * -EPERM, while destroy said -EBUSY for ever (found by test_ipc_chaos,
 * rsem, seed 20261203 round 18, under ASan).
 */
Test(forge, rsem_own_slot_rewritten_is_still_the_callers)
{
	conc_rsem *s;

	cr_assert_eq(conc_rsem_create(&s, &(conc_rsem_attr){ .permits = 3 }), 0);
	cr_assert_eq(conc_rsem_trywait(s), 0);
	__atomic_store_n(&s->sh->slots[0].m.ctx, 683474944u, __ATOMIC_RELAXED);
	s->sh->slots[0].since = 0;
	cr_assert_eq(conc_rsem_trywait(s), 0);
	cr_assert_eq(__conc_self_tls.robust_held, 1, "one slot, counted twice");
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(conc_rsem_post(s), -EPERM);
	cr_assert_eq(__conc_self_tls.robust_held, 0);
	cr_assert_eq(conc_rsem_destroy(s), 0);
}

/*
 * Another thread of the process holds a permit through the handle; a peer
 * writes its slot's word free. The destroy must still refuse (-EBUSY):
 * that thread's robust list links the slot, and once the segment were
 * unmapped the kernel would write, at the thread's exit, into whatever is
 * mapped there then. Once the thread has ended, the destroy goes through.
 */
struct other_holder {
	conc_rsem *s;
	uint32_t held, go;
};

static void *hold_then_wait(void *arg)
{
	struct other_holder *o = arg;
	int64_t end = now_ns() + 10 * 1000000000LL;

	if (conc_rsem_trywait(o->s))
		return (void *)1;
	__atomic_store_n(&o->held, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&o->go, __ATOMIC_ACQUIRE) && now_ns() < end)
		usleep(1000);
	return NULL;	/* ends holding it: the kernel marks it dead */
}

Test(forge, rsem_slot_of_another_thread_forged_free)
{
	struct other_holder o = { .held = 0 };
	pthread_t th;
	int64_t end = now_ns() + 10 * 1000000000LL;
	void *tr = (void *)-1;
	uint32_t i;

	cr_assert_eq(conc_rsem_create(&o.s, &(conc_rsem_attr){ .permits = 2 }), 0);
	cr_assert_eq(pthread_create(&th, NULL, hold_then_wait, &o), 0);
	while (!__atomic_load_n(&o.held, __ATOMIC_ACQUIRE) && now_ns() < end)
		usleep(1000);
	cr_assert_eq(o.held, 1);
	for (i = 0; i < o.s->nslots; i++)
		__atomic_store_n(&o.s->sh->slots[i].m.word, 0, __ATOMIC_RELAXED);
	cr_expect_eq(conc_rsem_destroy(o.s), -EBUSY);
	__atomic_store_n(&o.go, 1, __ATOMIC_RELEASE);
	cr_assert_eq(pthread_join(th, &tr), 0);
	cr_assert_null(tr);
	cr_expect_eq(conc_rsem_destroy(o.s), 0);
}
