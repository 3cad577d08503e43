/*
 * Making a map and finding one: the bucket table sized from the segment,
 * and the checks an opener makes before it trusts the layout.
 */
#include <errno.h>
#include <stdlib.h>
#include "ipc/map_impl.h"
#include "ipc/shm_impl.h"

#define DEFAULT_SIZE	((size_t)1 << 20)
#define BYTES_PER_BUCKET 128		/* the smallest entry takes 48 */

static uint64_t align16(uint64_t v)
{
	return (v + 15) & ~(uint64_t)15;
}

static uint64_t nbuckets_for(size_t size)
{
	uint64_t n = 16;

	while (n * 2 <= size / BYTES_PER_BUCKET)
		n *= 2;
	return n;
}

/* Where the heap starts: after the header and the bucket table. */
static uint64_t heap_for(size_t size)
{
	return align16(align16(sizeof(struct map)) + nbuckets_for(size) * 8);
}

static void setup(struct map *h, size_t size)
{
	h->nbuckets = nbuckets_for(size);
	h->buckets = align16(sizeof(*h));
	__conc_arena_init(&h->a, size, heap_for(size), MAP_LAYOUT);
}

static int attach(conc_map **out, conc_shm *seg)
{
	struct map *h = conc_shm_data(seg);
	size_t size = conc_shm_size(seg);
	struct arena_call c;
	uint64_t nb, b;
	conc_map *m;
	int r;

	if (size < ARENA_MIN)
		return -EPROTO;
	if ((r = __conc_arena_attach(&c, &h->a, size, MAP_LAYOUT)))
		return r;
	nb = __conc_arena_load(&h->nbuckets);
	b = __conc_arena_load(&h->buckets);
	if (!nb || (nb & (nb - 1)) || b != align16(sizeof(*h)) ||
	    nb > (c.heap - b) / 8)
		return -EPROTO;
	if (!(m = malloc(sizeof(*m))))
		return -ENOMEM;
	m->seg = seg;
	m->h = h;
	m->c = c;
	m->nbuckets = nb;
	m->buckets = b;
	m->timeout_ns = CONC_FOREVER;
	*out = m;
	return 0;
}

int conc_map_create(conc_map **out, const conc_map_attr *attr)
{
	size_t size = attr && attr->size ? attr->size : DEFAULT_SIZE;
	struct shm_range rsv[ARENA_RSV_N];
	struct map *h;
	conc_shm *seg;
	int r;

	if (!out || size < ARENA_MIN)
		return -EINVAL;
	__conc_arena_ranges(rsv, size, sizeof(*h), heap_for(size));
	r = __conc_shm_create_reserving(&seg, attr ? attr->name : NULL, size,
					CONC_SHM_MAP, attr ? attr->flags : 0,
					rsv, ARENA_RSV_N);
	if (r)
		return r;
	h = conc_shm_data(seg);
	/* An existing named map is opened, not set up again; one whose
	 * creator died before setting it up may lack its pages. */
	if (__conc_arena_claim_init(&h->a)) {
		if ((r = __conc_arena_reserve(seg, sizeof(*h), heap_for(size)))) {
			__conc_arena_unclaim(&h->a);
			conc_shm_close(seg);
			return r;
		}
		setup(h, size);
		__conc_arena_publish(&h->a);
	}
	if ((r = attach(out, seg)))
		conc_shm_close(seg);
	return r;
}

/* By name (fd < 0), with the owner and mode checks, or by a descriptor
 * the caller vouches for. */
static int open_seg(conc_map **out, const char *name, int fd)
{
	conc_shm *seg;
	int r;

	if (!out)
		return -EINVAL;
	r = fd < 0 && name ? conc_shm_open(&seg, name, CONC_SHM_MAP)
			   : conc_shm_open_fd(&seg, fd, CONC_SHM_MAP);
	if (r)
		return r;
	if ((r = attach(out, seg)))
		conc_shm_close(seg);
	return r;
}

int conc_map_open(conc_map **out, const char *name)
{
	return name ? open_seg(out, name, -1) : -EINVAL;
}

int conc_map_open_fd(conc_map **out, int fd)
{
	return open_seg(out, NULL, fd);
}

int conc_map_fd(const conc_map *m)
{
	return m ? conc_shm_fd(m->seg) : -EINVAL;
}

int conc_map_destroy(conc_map *m)
{
	if (!m)
		return -EINVAL;
	conc_shm_close(m->seg);
	free(m);
	return 0;
}

int conc_map_set_timeout(conc_map *m, int64_t timeout_ns)
{
	if (!m)
		return -EINVAL;
	m->timeout_ns = timeout_ns;
	return 0;
}
