/*
 * The list's layout in its arena (arena.h): a ring of slots (the offsets
 * of the elements, {len, bytes}) in one heap block, so that an index is
 * found at once and popping at either end moves nothing.
 */
#ifndef CONC_IPC_LIST_IMPL_H
#define CONC_IPC_LIST_IMPL_H

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
};

/* Slot i (from the head) of the ring. */
static inline uint64_t *__conc_list_slot(struct list *l, uint64_t i)
{
	return (uint64_t *)__conc_arena_at(&l->a, l->ring) + (l->head + i) % l->cap;
}

static inline struct elem *__conc_list_elem(struct list *l, uint64_t off)
{
	return __conc_arena_at(&l->a, off);
}

/* The lock, with the roll-forward of a pop whose caller died. */
int __conc_list_lock(struct list *l) __CONC_HIDDEN;

/* Python's index: < 0 counts from the end; out of range: -ENOENT. */
int __conc_list_locate(struct list *l, ssize_t index, uint64_t *i) __CONC_HIDDEN;

/* Room for one more slot (journaled): 0 or -ENOSPC. */
int __conc_list_grow(struct list *l) __CONC_HIDDEN;

/* After a pop, in a call of its own: a smaller ring if a quarter full. */
void __conc_list_shrink(struct list *l) __CONC_HIDDEN;

/* Move the slots of a pop that has committed its roll-forward record. */
void __conc_list_finish_pop(struct arena *a) __CONC_HIDDEN;

#endif
