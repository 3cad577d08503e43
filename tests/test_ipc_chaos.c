/*
 * test_ipc_chaos.c — randomized corruption of every object that lives in
 * shared memory (queue, map, list, rsem, and the words of sync/'s
 * primitives): create it, use it, then let a
 * hostile peer write bytes into its segment, either before the calls or
 * from a second process while they run, and call every public operation
 * with short timeouts. The threat model (conc(7)): the peer may deny
 * service, but no call may crash, touch memory outside the segment (ASan),
 * wait past its timeout (plus the documented internal bounds), or return
 * a result its contract does not list. The channel, which shares no
 * memory, gets the same treatment from a peer process that writes what it
 * likes into the pipe (frames cut short or stalled, any header, noise).
 *
 * Each round picks a mode: 0 garbage first, then calls on the open
 * handle; 1 garbage written concurrently during the calls; 2 a forged
 * segment (its header included) opened by name, then calls; 3 the same
 * with the forger still writing. Seeded: see tests/chaos.h. The CI run is
 * a smoke run of about a second per object; `make chaos` runs longer.
 */
#include <criterion/criterion.h>
#include <conc.h>
#include "ipc/map_impl.h"
#include "chaos.h"

#define NAME(buf, what) snprintf(buf, sizeof(buf), "conc-chaos-%s-%d", what, (int)getpid())

/* Start a round's garbage according to its mode; returns whether the
 * handle must be opened again by name (the forged modes). */
static int chaos_mode(struct chaos *c, unsigned mode)
{
	unsigned i, n = 1 + (unsigned)chaos_below(c, 24);

	switch (mode) {
	case 0:
		for (i = 0; i < n; i++)
			chaos_poke(c, 0);
		return 0;
	case 1:
		chaos_writer_start(c, 0);
		return 0;
	case 2:
		for (i = 0; i < n; i++)
			chaos_poke(c, 1);
		return 1;
	default:
		chaos_writer_start(c, 1);
		return 1;
	}
}

/* Bytes of a random length up to max, in a buffer of exactly that size,
 * so that ASan sees a copy that overruns it. */
static void *chaos_buf(struct chaos *c, size_t max, size_t *len)
{
	*len = (size_t)chaos_below(c, max + 1);
	return malloc(*len ? *len : 1);
}

/* Every handle is gone and its segment unmapped: no robust lock of it may
 * stay in the thread's registry, or the kernel's walk of the robust list
 * at exit (and the next robust lock) would write where it was mapped. */
static void chaos_no_lock_left(void)
{
	cr_assert_eq(__conc_self_tls.robust_held, 0,
		     "a robust lock of an unmapped segment is still registered");
}

/* ---- queue ---- */

static void queue_calls(struct chaos *c, conc_queue *q, uint32_t cap, uint32_t max)
{
	unsigned i, n = 10 + (unsigned)chaos_below(c, 30);
	char msg[300] = "chaos";
	size_t len;
	int64_t t;
	long r;
	void *b;

	for (i = 0; i < n; i++) {
		t = chaos_timeout(c);
		switch (chaos_below(c, 8)) {
		case 0: case 1:
			CHAOS(c, t, conc_queue_put(q, msg, chaos_below(c, max + 2), t),
			      EMSGSIZE, EPIPE, ETIMEDOUT, EPROTO, ENOTRECOVERABLE,
			      EDEADLK);
			break;
		case 2: case 3:
			b = chaos_buf(c, max + 8, &len);
			r = CHAOS(c, t, conc_queue_get(q, b, len, t), ETIMEDOUT,
				  EPIPE, EMSGSIZE, EPROTO, ENOTRECOVERABLE, EDEADLK);
			cr_assert(r <= (long)len && r <= (long)max, "get %ld > %zu",
				  r, len);
			free(b);
			break;
		case 4:
			b = chaos_buf(c, max + 8, &len);
			r = CHAOS(c, t, conc_queue_get_begin(q, b, len, t), ETIMEDOUT,
				  EPIPE, EMSGSIZE, EPROTO, ENOTRECOVERABLE, EDEADLK);
			cr_assert(r <= (long)len, "get_begin %ld > %zu", r, len);
			free(b);
			if (r < 0)
				break;
			if (chaos_below(c, 2))
				CHAOS(c, -1, conc_queue_get_commit(q), EINVAL);
			else
				CHAOS(c, -1, conc_queue_get_abort(q), EINVAL);
			break;
		case 5:
			r = CHAOS(c, -1, conc_queue_size(q), EINVAL);
			cr_assert(r <= (long)cap, "size %ld > capacity %u", r, cap);
			break;
		case 6:
			if (!chaos_below(c, 8))
				CHAOS(c, -1, conc_queue_close(q), EINVAL);
			break;
		default:
			/* A commit or abort with nothing begun. */
			CHAOS(c, -1, conc_queue_get_abort(q), EINVAL);
			break;
		}
	}
}

static void queue_round(struct chaos *c, const char *name)
{
	conc_queue_attr a = { .capacity = 1 + (uint32_t)chaos_below(c, 8),
			      .max_msg = 1 + (uint32_t)chaos_below(c, 256),
			      .name = name, .flags = CONC_SHM_EXCL };
	conc_queue *q, *q2 = NULL;
	unsigned mode = (unsigned)chaos_below(c, 4);
	char m[8] = "warm";

	cr_assert_eq(conc_queue_create(&q, &a), 0);
	for (unsigned i = 0; i < a.capacity; i++)
		conc_queue_put(q, m, sizeof(m) > a.max_msg ? a.max_msg : sizeof(m), 0);
	conc_queue_get(q, m, sizeof(m), 0);
	chaos_map(c, name);
	if (chaos_mode(c, mode)) {
		if (!CHAOS(c, 1000 * MS, conc_queue_open(&q2, name), EPROTO, EINVAL))
			queue_calls(c, q2, q2 ? a.capacity : 0, a.max_msg);
	} else {
		queue_calls(c, q, a.capacity, a.max_msg);
	}
	chaos_writer_stop(c);
	if (q2)
		cr_assert_eq(conc_queue_destroy(q2), 0);
	cr_assert_eq(conc_queue_destroy(q), 0);
	chaos_unmap(c);
	conc_shm_unlink(name);
	chaos_no_lock_left();
}

/* ---- map ---- */

struct span {
	const char *lo, *hi;
};

static int inside(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	const struct span *s = arg;
	const char *kp = k, *vp = v;

	cr_assert(kp >= s->lo && kl <= (size_t)(s->hi - kp) &&
		  vp >= s->lo && vl <= (size_t)(s->hi - vp),
		  "iterate hands out bytes outside the segment");
	return 0;
}

static void map_calls(struct chaos *c, conc_map *m)
{
	unsigned i, n = 10 + (unsigned)chaos_below(c, 30);
	struct span s = { conc_shm_data(m->seg),
			  (char *)conc_shm_data(m->seg) + conc_shm_size(m->seg) };
	char k[16], v[300] = "value";
	int64_t t = chaos_timeout(c);
	size_t kl, len;
	long r;
	void *b;

	conc_map_set_timeout(m, t);
	for (i = 0; i < n; i++) {
		kl = (size_t)snprintf(k, sizeof(k), "k%u", (unsigned)chaos_below(c, 24));
		switch (chaos_below(c, 6)) {
		case 0: case 1:
			CHAOS(c, t, conc_map_put(m, k, kl, v, chaos_below(c, sizeof(v))),
			      ENOSPC, EPROTO, ENOTRECOVERABLE, ETIMEDOUT, EDEADLK);
			break;
		case 2:
			b = chaos_buf(c, 320, &len);
			r = CHAOS(c, t, conc_map_get(m, k, kl, b, len), ENOENT,
				  EMSGSIZE, EPROTO, ENOTRECOVERABLE, ETIMEDOUT, EDEADLK);
			cr_assert(r <= (long)len, "get %ld > %zu", r, len);
			free(b);
			break;
		case 3:
			CHAOS(c, t, conc_map_delete(m, k, kl), ENOENT, EPROTO,
			      ENOTRECOVERABLE, ETIMEDOUT, EDEADLK);
			CHAOS(c, t, conc_map_contains(m, k, kl), 0);
			break;
		case 4:
			CHAOS(c, t, conc_map_len(m), EPROTO, ENOTRECOVERABLE,
			      ETIMEDOUT, EDEADLK);
			break;
		default:
			CHAOS(c, t, conc_map_iterate(m, inside, &s), EPROTO,
			      ENOTRECOVERABLE, ETIMEDOUT, EDEADLK);
			break;
		}
	}
}

static void map_round(struct chaos *c, const char *name)
{
	conc_map_attr a = { .size = 4096 + chaos_below(c, 3) * 4096,
			    .name = name, .flags = CONC_SHM_EXCL };
	conc_map *m, *m2 = NULL;
	unsigned mode = (unsigned)chaos_below(c, 4);
	char k[16], v[64] = "warm";

	cr_assert_eq(conc_map_create(&m, &a), 0);
	for (unsigned i = 0; i < 24; i++) {
		snprintf(k, sizeof(k), "k%u", i);
		conc_map_put(m, k, strlen(k), v, chaos_below(c, sizeof(v)));
		if (!chaos_below(c, 3))
			conc_map_delete(m, k, strlen(k));
	}
	chaos_map(c, name);
	if (chaos_mode(c, mode)) {
		if (!CHAOS(c, 1000 * MS, conc_map_open(&m2, name), EPROTO, EINVAL))
			map_calls(c, m2);
	} else {
		map_calls(c, m);
	}
	chaos_writer_stop(c);
	if (m2)
		cr_assert_eq(conc_map_destroy(m2), 0);
	cr_assert_eq(conc_map_destroy(m), 0);
	chaos_unmap(c);
	conc_shm_unlink(name);
	chaos_no_lock_left();
}

/* ---- list ---- */

static void list_calls(struct chaos *c, conc_list *l)
{
	unsigned i, n = 10 + (unsigned)chaos_below(c, 30);
	int64_t t = chaos_timeout(c);
	char v[300] = "value";
	ssize_t ix;
	size_t len;
	long r;
	void *b;

	conc_list_set_timeout(l, t);
	for (i = 0; i < n; i++) {
		ix = (ssize_t)chaos_below(c, 40) - 20;
		if (!chaos_below(c, 16))
			ix = chaos_below(c, 2) ? SSIZE_MAX : -SSIZE_MAX - 1;
		switch (chaos_below(c, 6)) {
		case 0: case 1:
			CHAOS(c, t, conc_list_append(l, v, chaos_below(c, sizeof(v))),
			      ENOSPC, EPROTO, ENOTRECOVERABLE, ETIMEDOUT, EDEADLK);
			break;
		case 2:
			b = chaos_buf(c, 320, &len);
			r = CHAOS(c, t, conc_list_get(l, ix, b, len), ENOENT,
				  EMSGSIZE, EPROTO, ENOTRECOVERABLE, ETIMEDOUT, EDEADLK);
			cr_assert(r <= (long)len, "get %ld > %zu", r, len);
			free(b);
			break;
		case 3:
			CHAOS(c, t, conc_list_set(l, ix, v, chaos_below(c, sizeof(v))),
			      ENOENT, ENOSPC, EPROTO, ENOTRECOVERABLE, ETIMEDOUT,
			      EDEADLK);
			break;
		case 4:
			b = chaos_buf(c, 320, &len);
			r = CHAOS(c, t, conc_list_pop(l, ix, b, len), ENOENT,
				  EMSGSIZE, EPROTO, ENOTRECOVERABLE, ETIMEDOUT, EDEADLK);
			cr_assert(r <= (long)len, "pop %ld > %zu", r, len);
			free(b);
			break;
		default:
			CHAOS(c, t, conc_list_len(l), EPROTO, ENOTRECOVERABLE,
			      ETIMEDOUT, EDEADLK);
			break;
		}
	}
}

static void list_round(struct chaos *c, const char *name)
{
	conc_list_attr a = { .size = 4096 + chaos_below(c, 3) * 4096,
			     .name = name, .flags = CONC_SHM_EXCL };
	conc_list *l, *l2 = NULL;
	unsigned mode = (unsigned)chaos_below(c, 4);
	char v[64] = "warm";

	cr_assert_eq(conc_list_create(&l, &a), 0);
	for (unsigned i = 0; i < 24; i++) {
		conc_list_append(l, v, chaos_below(c, sizeof(v)));
		if (!chaos_below(c, 4))
			conc_list_pop(l, (ssize_t)chaos_below(c, 4), v, sizeof(v));
	}
	chaos_map(c, name);
	if (chaos_mode(c, mode)) {
		if (!CHAOS(c, 1000 * MS, conc_list_open(&l2, name), EPROTO, EINVAL))
			list_calls(c, l2);
	} else {
		list_calls(c, l);
	}
	chaos_writer_stop(c);
	if (l2)
		cr_assert_eq(conc_list_destroy(l2), 0);
	cr_assert_eq(conc_list_destroy(l), 0);
	chaos_unmap(c);
	conc_shm_unlink(name);
	chaos_no_lock_left();
}

/* ---- robust semaphore ---- */

static void rsem_calls(struct chaos *c, conc_rsem *s)
{
	unsigned i, n = 10 + (unsigned)chaos_below(c, 30);
	conc_rsem_holder h[4];
	int64_t t;
	long r;

	for (i = 0; i < n; i++) {
		t = chaos_timeout(c);
		switch (chaos_below(c, 6)) {
		case 0:
			r = CHAOS(c, t, conc_rsem_timedwait(s, t), ETIMEDOUT, EUSERS,
			      EOWNERDEAD, ENOTRECOVERABLE, EDEADLK);
			break;
		case 1:
			r = CHAOS(c, 0, conc_rsem_trywait(s), EAGAIN, EUSERS,
			      EOWNERDEAD, ENOTRECOVERABLE, EDEADLK);
			break;
		case 2:
			r = CHAOS(c, -1, conc_rsem_post(s), EPERM);
			break;
		case 3:
			r = CHAOS(c, -1, conc_rsem_value(s), EINVAL);
			cr_assert(r <= (long)CONC_RSEM_PERMITS_MAX);
			break;
		case 4:
			CHAOS(c, -1, conc_rsem_permits(s), EINVAL);
			break;
		default:
			CHAOS(c, -1, conc_rsem_holders(s, h, chaos_below(c, 5)),
			      EINVAL);
			break;
		}
	}
	/* Give back what this round still holds. */
	for (i = 0; i < 64 && conc_rsem_post(s) == 0; i++)
		;
}

static void rsem_round(struct chaos *c, const char *name)
{
	conc_rsem_attr a = { .permits = 1 + (uint32_t)chaos_below(c, 4),
			     .name = name, .flags = CONC_SHM_EXCL };
	conc_rsem *s, *s2 = NULL;
	unsigned mode = (unsigned)chaos_below(c, 4);

	if (chaos_below(c, 2))
		a.holders = a.permits + (uint32_t)chaos_below(c, 4);
	cr_assert_eq(conc_rsem_create(&s, &a), 0);
	conc_rsem_trywait(s);
	chaos_map(c, name);
	if (chaos_mode(c, mode)) {
		if (!CHAOS(c, 1000 * MS, conc_rsem_open(&s2, name), EPROTO, EINVAL))
			rsem_calls(c, s2);
	} else {
		rsem_calls(c, s);
	}
	chaos_writer_stop(c);
	/* The warm-up's permit, if a peer's garbage left it ours. */
	for (unsigned i = 0; i < 8 && conc_rsem_post(s) == 0; i++)
		;
	if (s2)
		CHAOS(c, -1, conc_rsem_destroy(s2), 0);
	CHAOS(c, -1, conc_rsem_destroy(s), 0);
	chaos_unmap(c);
	conc_shm_unlink(name);
	chaos_no_lock_left();
}

/* ---- channel ---- */

/* The peer end, in a process of its own that ignores the library and
 * writes what it likes: frames whole, cut short or stalled in the middle,
 * headers with any length and flags, bytes that are no frame at all; it
 * reads what it is sent only now and then, so sends find the pipe full. */
static void chan_peer(struct chaos *c, int wfd, int rfd)
{
	unsigned char b[9000];
	uint32_t len;
	size_t n;

	for (;;) {
		n = 0;
		switch (chaos_below(c, 6)) {
		case 0: case 1:	/* a frame, perhaps cut short */
			len = (uint32_t)chaos_below(c, 6000);
			if (!chaos_below(c, 8))
				len = (uint32_t)chaos_value(c);
			b[0] = 'C', b[1] = 'c', b[2] = 1;
			b[3] = chaos_below(c, 4) ? 0 : (unsigned char)chaos_next(c);
			memcpy(b + 4, &len, 4);
			n = 8 + (len < sizeof(b) - 8 ? len : sizeof(b) - 8);
			if (!chaos_below(c, 3))
				n = chaos_below(c, n + 1);
			memset(b + 8, 'x', n > 8 ? n - 8 : 0);
			break;
		case 2:		/* noise */
			n = chaos_below(c, 64);
			for (size_t i = 0; i < n; i++)
				b[i] = (unsigned char)chaos_next(c);
			break;
		case 3:		/* take in some of what was sent */
			(void)!read(rfd, b, chaos_below(c, sizeof(b)));
			break;
		default:	/* a stall, in a frame or between two */
			sleep_ns((int64_t)chaos_below(c, 30 * MS));
			break;
		}
		if (n)
			(void)!write(wfd, b, n);
	}
}

static void chan_round(struct chaos *c, const char *name)
{
	unsigned i, n = 10 + (unsigned)chaos_below(c, 30);
	uint64_t seed = chaos_next(c);
	conc_chan *a, *b;
	size_t len;
	int64_t t;
	pid_t pid;
	long r;
	void *buf;

	(void)name;
	cr_assert_eq(conc_chan_pair(&a, &b, 0), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		conc_chan_close(a);
		c->s = seed;
		chan_peer(c, conc_chan_wfd(b), conc_chan_rfd(b));
	}
	conc_chan_close(b);
	c->writer = pid;
	for (i = 0; i < n; i++) {
		t = chaos_timeout(c);
		if (chaos_below(c, 3)) {
			buf = chaos_buf(c, 7000, &len);
			r = CHAOS(c, t, conc_chan_recv(a, buf, len, t), EPIPE,
				  ETIMEDOUT, EMSGSIZE, EPROTO, ENOMEM);
			cr_assert(r <= (long)len, "recv %ld > %zu", r, len);
			free(buf);
		} else {
			buf = chaos_buf(c, 20000, &len);
			memset(buf, 's', len);
			CHAOS(c, t, conc_chan_send(a, buf, len, t), EPIPE, ETIMEDOUT);
			free(buf);
		}
	}
	chaos_writer_stop(c);
	/* The peer is gone: what it left is taken in, then -EPIPE, or the
	 * end stays at -EPROTO; never a wait past the timeout. */
	for (i = 0; i < 8; i++) {
		buf = chaos_buf(c, 7000, &len);
		r = CHAOS(c, 5 * MS, conc_chan_recv(a, buf, len, 5 * MS), EPIPE,
			  ETIMEDOUT, EMSGSIZE, EPROTO, ENOMEM);
		free(buf);
		if (r == -EPIPE || r == -EPROTO)
			break;
	}
	CHAOS(c, -1, conc_chan_close(a), 0);
}

/* ---- sync words ---- */

/* Every primitive of sync/, in a segment of its own (a raw one: nothing
 * to forge in its header, so modes 0 and 1 only). */
struct sync_objs {
	conc_mutex m[3];	/* plain, recursive, robust */
	conc_rwlock rw;
	conc_sem s;
	conc_event e;
	conc_cond c;
	conc_barrier b;
	conc_once_t o;
};

/* The condition's mutex, ours alone: the timeout of a wait bounds the
 * wait for a notify, not the lock again (conc_cond_wait(3)). */
static conc_mutex sync_private = CONC_MUTEX_INIT;

static void sync_once_fn(void)
{
}

/* A lock a call reported taken goes back; a peer may have written its
 * word meanwhile (-EPERM: not ours any more). */
static void sync_release(struct chaos *c, conc_mutex *m, long r)
{
	if (r == -EOWNERDEAD)
		CHAOS(c, -1, conc_mutex_consistent(m), EINVAL, EPERM);
	if (r == 0 || r == -EOWNERDEAD)
		CHAOS(c, -1, conc_mutex_unlock(m), EPERM);
}

static void sync_calls(struct chaos *c, struct sync_objs *o)
{
	unsigned i, k, n = 10 + (unsigned)chaos_below(c, 30);
	int64_t t;
	long r;

	for (i = 0; i < n; i++) {
		t = chaos_timeout(c);
		switch (k = (unsigned)chaos_below(c, 10)) {
		case 0: case 1: case 2:
			r = CHAOS(c, t, conc_mutex_timedlock(&o->m[k], t), ETIMEDOUT,
				  EDEADLK, EAGAIN, ENOTRECOVERABLE, EOWNERDEAD);
			sync_release(c, &o->m[k], r);
			break;
		case 3:
			r = CHAOS(c, t, conc_rwlock_timedrdlock(&o->rw, t), ETIMEDOUT,
				  EAGAIN, EDEADLK);
			if (!r)
				CHAOS(c, -1, conc_rwlock_unlock(&o->rw), EPERM);
			break;
		case 4:
			r = CHAOS(c, t, conc_rwlock_timedwrlock(&o->rw, t), ETIMEDOUT,
				  EAGAIN, EDEADLK);
			if (!r)
				CHAOS(c, -1, conc_rwlock_unlock(&o->rw), EPERM);
			break;
		case 5:
			r = CHAOS(c, t, conc_sem_timedwait(&o->s, t), ETIMEDOUT);
			if (!r || chaos_below(c, 2))
				CHAOS(c, -1, conc_sem_post(&o->s), EOVERFLOW);
			CHAOS(c, -1, conc_sem_value(&o->s), EINVAL);
			break;
		case 6:
			if (chaos_below(c, 3))
				CHAOS(c, t, conc_event_wait(&o->e, t), ETIMEDOUT);
			else if (chaos_below(c, 2))
				CHAOS(c, -1, conc_event_set(&o->e), EINVAL);
			else
				CHAOS(c, -1, conc_event_clear(&o->e), EINVAL);
			break;
		case 7:
			if (chaos_below(c, 2)) {
				CHAOS(c, -1, conc_cond_signal(&o->c), EINVAL);
				CHAOS(c, -1, conc_cond_broadcast(&o->c), EINVAL);
				break;
			}
			cr_assert_eq(conc_mutex_lock(&sync_private), 0);
			CHAOS(c, t, conc_cond_wait(&o->c, &sync_private, t), ETIMEDOUT);
			cr_assert_eq(conc_mutex_unlock(&sync_private), 0);
			break;
		case 8:
			CHAOS(c, t, conc_barrier_wait_timed(&o->b, t), ETIMEDOUT, EPIPE,
			      EINVAL);
			break;
		default:
			CHAOS(c, t, conc_once_timed(&o->o, sync_once_fn, t), ETIMEDOUT,
			      EINVAL);
			break;
		}
	}
}

static void sync_round(struct chaos *c, const char *name)
{
	unsigned mode = (unsigned)chaos_below(c, 2);
	struct sync_objs *o;
	conc_shm *seg;

	cr_assert_eq(conc_shm_create(&seg, name, 4096, CONC_SHM_RAW,
				     CONC_SHM_EXCL), 0);
	o = conc_shm_data(seg);
	cr_assert_eq(conc_mutex_init(&o->m[0], 0), 0);
	cr_assert_eq(conc_mutex_init(&o->m[1], CONC_RECURSIVE), 0);
	cr_assert_eq(conc_mutex_init(&o->m[2], CONC_ROBUST), 0);
	cr_assert_eq(conc_sem_init(&o->s, 1, 0), 0);
	cr_assert_eq(conc_barrier_init(&o->b, 1 + (unsigned)chaos_below(c, 3), 0), 0);
	chaos_map(c, name);
	chaos_mode(c, mode);
	sync_calls(c, o);
	chaos_writer_stop(c);
	conc_shm_close(seg);
	chaos_unmap(c);
	conc_shm_unlink(name);
	chaos_no_lock_left();
}

/* ---- the runs ---- */

static void run(const char *what, uint64_t salt,
		void (*round)(struct chaos *, const char *))
{
	int64_t end = now_ns() + chaos_budget();
	struct chaos c;
	char name[64];

	chaos_init(&c, salt);
	NAME(name, what);
	conc_shm_unlink(name);
	do {
		c.round++;
		round(&c, name);
	} while (now_ns() < end);
	cr_log_info("chaos %s: seed %llu, %u rounds, %lu calls, %lu errors; "
		    "longest past its timeout %.1f ms (%s, timeout %.1f ms)", what,
		    (unsigned long long)c.seed, c.round, c.calls, c.errs,
		    (double)c.worst / MS, c.worst_op ? c.worst_op : "-",
		    (double)c.worst_timeout / MS);
}

Test(chaos, queue, .timeout = 600) { run("queue", 1, queue_round); }
Test(chaos, map, .timeout = 600) { run("map", 2, map_round); }
Test(chaos, list, .timeout = 600) { run("list", 3, list_round); }
Test(chaos, rsem, .timeout = 600) { run("rsem", 4, rsem_round); }
Test(chaos, chan, .timeout = 600) { run("chan", 5, chan_round); }
Test(chaos, sync, .timeout = 600) { run("sync", 6, sync_round); }
