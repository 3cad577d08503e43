/*
 * The list half of a container check (tests only): the ring a block in
 * use, every slot an element reached once, nothing leaked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ipc/list_impl.h"

#include "check.h"

static int bad(struct __conc_arena_stat *st, const char *why)
{
	st->why = why;
	return -EPROTO;
}

static int check_slots(struct list *l, struct __conc_arena_stat *st,
		       const uint64_t *used, bool *seen, size_t n)
{
	uint64_t i, off;

	if (!l->cap) {
		if (l->count || l->ring || l->head)
			return bad(st, "no ring, yet elements or a head");
	} else {
		if (!__conc_arena_claim(used, seen, n, l->ring))
			return bad(st, "ring not a block in use");
		if (__conc_check_capacity(l, l->ring) / 8 < l->cap)
			return bad(st, "ring smaller than its capacity");
		if (l->head >= l->cap || l->count > l->cap)
			return bad(st, "head or count beyond the ring");
	}
	for (i = 0; i < l->count; i++) {
		off = ((uint64_t *)__conc_check_at(l, l->ring))[(l->head + i) % l->cap];
		if (!__conc_arena_claim(used, seen, n, off))
			return bad(st, "element not a block in use, or in two slots");
		if (((struct elem *)__conc_check_at(l, off))->len >
		    __conc_check_capacity(l, off) - sizeof(struct elem))
			return bad(st, "element larger than its block");
		st->entries++;
	}
	if (st->entries + (l->cap != 0) != n)
		return bad(st, "block in use that no slot reaches (leak)");
	return 0;
}

int __conc_list_check(conc_list *lh, struct __conc_arena_stat *st)
{
	uint64_t *used = NULL;
	struct arena_call c;
	struct ring ring;
	bool *seen;
	size_t n;
	int r;

	if (!lh || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	c = lh->c;
	if ((r = __conc_list_lock(&c, &ring, -1)))
		return r;
	r = __conc_arena_check(&lh->l->a, st, &used, &n);
	if (!r) {
		seen = calloc(n + 1, sizeof(*seen));
		r = seen ? check_slots(lh->l, st, used, seen, n) : -ENOMEM;
		free(seen);
	}
	free(used);
	__conc_arena_unlock(&c);
	return r;
}
