/*
 * The map half of a container check (tests only): every chain walked,
 * every entry a block in use reached once, every hash and count right.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ipc/map_impl.h"
#include "check.h"

static int bad(struct __conc_arena_stat *st, const char *why)
{
	st->why = why;
	return -EPROTO;
}

static int check_chains(conc_map *m, struct __conc_arena_stat *st,
			const uint64_t *used, bool *seen, size_t n)
{
	struct map *h = m->h;
	uint64_t i, off, cap;
	struct entry *e;

	for (i = 0; i < h->nbuckets; i++)
		for (off = *(uint64_t *)__conc_check_at(h, m->buckets + 8 * i); off;
		     off = e->next) {
			if (!__conc_arena_claim(used, seen, n, off))
				return bad(st, "entry not a block in use, or reached twice");
			e = __conc_check_at(h, off);
			cap = __conc_check_capacity(h, off) - sizeof(*e);
			if (!e->klen || e->klen > cap || e->vlen > cap - e->klen)
				return bad(st, "entry larger than its block");
			if (__conc_map_hash(e->bytes, e->klen) != e->hash)
				return bad(st, "entry hash does not match its key");
			if ((e->hash & (h->nbuckets - 1)) != i)
				return bad(st, "entry in the wrong bucket");
			st->entries++;
		}
	if (st->entries != h->count)
		return bad(st, "count differs from the entries");
	if (st->entries != n)
		return bad(st, "block in use that no entry reaches (leak)");
	return 0;
}

int __conc_map_check(conc_map *m, struct __conc_arena_stat *st)
{
	uint64_t *used = NULL;
	struct arena_call c;
	bool *seen;
	size_t n;
	int r;

	if (!m || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	c = m->c;
	if ((r = __conc_arena_lock(&c, NULL, -1)))
		return r;
	r = __conc_arena_check(&m->h->a, st, &used, &n);
	if (!r) {
		seen = calloc(n + 1, sizeof(*seen));
		r = seen ? check_chains(m, st, used, seen, n) : -ENOMEM;
		free(seen);
	}
	free(used);
	__conc_arena_unlock(&c);
	return r;
}
