/*
 * The list's layout in its arena (arena.h): a ring of slots (the offsets
 * of the elements, {len, bytes}) in one heap block, so that an index is
 * found at once and popping at either end moves nothing.
 */
#ifndef CONC_IPC_LIST_IMPL_H
#define CONC_IPC_LIST_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <conc/list.h>
#include <conc/shm.h>
#include "ipc/arena.h"

#define LIST_LAYOUT	0x4c535431u	/* "LST1" */

struct list {
	struct arena a;
	uint64_t count, cap, head;
	uint64_t ring;		/* offset of cap slots, 0 while cap is 0 */
	/* The pop being finished (ARENA_REDO): slot[pos] = slot[pos + dir]
	 * until pos reaches end, then head and count take their new values. */
	int64_t pos, end, dir;
	uint64_t new_head, new_count;
};

struct elem {
	uint64_t len;
	unsigned char bytes[];
};

struct conc_list {
	conc_shm *seg;
	struct list *l;
	struct arena_call c;	/* each call starts from a copy */
	int64_t timeout_ns;	/* for the lock; this process's alone */
};

#define LIST_OFF(field) offsetof(struct list, field)

/* The ring as one call sees it: its words read once and checked. */
struct ring {
	uint64_t count, cap, head;
	uint64_t ring;		/* offset of the slots */
	uint64_t *slots;	/* cap of them, inside the heap; NULL if cap 0 */
};

/* Read and check the ring: 0, or -EPROTO (and the call marked bad). */
int __conc_list_ring(struct arena_call *c, struct ring *r) __CONC_HIDDEN;

/* Slot i from the head: its offset, and the element offset it holds. */
static inline uint64_t __conc_list_slot_off(const struct ring *r, uint64_t i)
{
	return r->ring + 8 * ((r->head + i) % r->cap);
}

static inline uint64_t __conc_list_slot(const struct ring *r, uint64_t i)
{
	return __conc_arena_load(&r->slots[(r->head + i) % r->cap]);
}

/* The element at off: its bytes (*len of them, inside the heap), or NULL
 * and the call marked bad. */
const unsigned char *__conc_list_elem(struct arena_call *c, uint64_t off,
				      uint64_t *len) __CONC_HIDDEN;

/* Take the lock by dl (finishing a pop whose caller died) and read the
 * ring: 0, or an error with the lock not held. */
int __conc_list_lock(struct arena_call *c, struct ring *r, conc_deadline dl)
	__CONC_HIDDEN;

/* Python's index: < 0 counts from the end; out of range: -ENOENT. */
int __conc_list_locate(const struct ring *r, ssize_t index, uint64_t *i)
	__CONC_HIDDEN;

/* Room for one more slot (journaled; r read again): 0, -ENOSPC, -EPROTO. */
int __conc_list_grow(struct arena_call *c, struct ring *r) __CONC_HIDDEN;

/* After a pop, in a call of its own: a smaller ring if a quarter full. */
void __conc_list_shrink(struct arena_call *c, struct ring *r) __CONC_HIDDEN;

/* Move the slots of a pop that has committed its roll-forward record:
 * 0, or -EPROTO for a record that does not fit the ring. */
int __conc_list_finish_pop(struct arena_call *c) __CONC_HIDDEN;

#endif
