/*
 * Making a list and finding one.
 */
#include <errno.h>
#include <stdlib.h>
#include "ipc/list_impl.h"
#include "ipc/shm_impl.h"

#define DEFAULT_SIZE	((size_t)1 << 20)
#define HEAP		((sizeof(struct list) + 15) & ~(size_t)15)

static int attach(conc_list **out, conc_shm *seg)
{
	struct list *l = conc_shm_data(seg);
	size_t size = conc_shm_size(seg);
	struct arena_call c;
	conc_list *lh;
	int r;

	if (size < ARENA_MIN)
		return -EPROTO;
	if ((r = __conc_arena_attach(&c, &l->a, size, LIST_LAYOUT)))
		return r;
	if (!(lh = malloc(sizeof(*lh))))
		return -ENOMEM;
	lh->seg = seg;
	lh->l = l;
	lh->c = c;
	lh->timeout_ns = CONC_FOREVER;
	*out = lh;
	return 0;
}

int conc_list_create(conc_list **out, const conc_list_attr *attr)
{
	size_t size = attr && attr->size ? attr->size : DEFAULT_SIZE;
	struct shm_range rsv[ARENA_RSV_N];
	struct list *l;
	conc_shm *seg;
	int r;

	if (!out || size < ARENA_MIN)
		return -EINVAL;
	__conc_arena_ranges(rsv, size, sizeof(*l), HEAP);
	r = __conc_shm_create_reserving(&seg, attr ? attr->name : NULL, size,
					CONC_SHM_LIST, attr ? attr->flags : 0,
					rsv, ARENA_RSV_N);
	if (r)
		return r;
	l = conc_shm_data(seg);
	/* An existing named list is opened, not set up again; one whose
	 * creator died before setting it up may lack its pages. */
	if (__conc_arena_claim_init(&l->a)) {
		if ((r = __conc_arena_reserve(seg, sizeof(*l), HEAP))) {
			__conc_arena_unclaim(&l->a);
			conc_shm_close(seg);
			return r;
		}
		__conc_arena_init(&l->a, size, HEAP, LIST_LAYOUT);
		__conc_arena_publish(&l->a);
	}
	if ((r = attach(out, seg)))
		conc_shm_close(seg);
	return r;
}

/* As the map's (map_open.c): by name, or by a descriptor. */
static int open_seg(conc_list **out, const char *name, int fd)
{
	conc_shm *seg;
	int r;

	if (!out)
		return -EINVAL;
	r = fd < 0 && name ? conc_shm_open(&seg, name, CONC_SHM_LIST)
			   : conc_shm_open_fd(&seg, fd, CONC_SHM_LIST);
	if (r)
		return r;
	if ((r = attach(out, seg)))
		conc_shm_close(seg);
	return r;
}

int conc_list_open(conc_list **out, const char *name)
{
	return name ? open_seg(out, name, -1) : -EINVAL;
}

int conc_list_open_fd(conc_list **out, int fd)
{
	return open_seg(out, NULL, fd);
}

int conc_list_fd(const conc_list *l)
{
	return l ? conc_shm_fd(l->seg) : -EINVAL;
}

int conc_list_destroy(conc_list *lh)
{
	if (!lh)
		return -EINVAL;
	conc_shm_close(lh->seg);
	free(lh);
	return 0;
}

int conc_list_set_timeout(conc_list *lh, int64_t timeout_ns)
{
	if (!lh)
		return -EINVAL;
	lh->timeout_ns = timeout_ns;
	return 0;
}
