/*
 * A worker: a conc_proc_start child (daemon: it dies with the parent) that
 * takes slot indices from the queue and runs their chunks, until the queue
 * is closed or it has run max_tasks_per_worker items.
 */
#include <errno.h>
#include <string.h>
#include "pool_impl.h"

struct ctx {
	conc_pool *p;
	uint32_t id;
};

static void kick(conc_pool *p)
{
	uint64_t one = 1;

	sys_write(p->efd, &one, sizeof(one));
}

/* Run the chunk of slot s; false when the parent abandoned it (timeout). */
static bool run(conc_pool *p, struct slot *s, uint32_t me, unsigned *count)
{
	char *arg = __conc_pool_arg(s), *res = __conc_pool_res(p, s);
	int64_t *lens = __conc_pool_lens(s);
	uint32_t j, expect = me;
	ssize_t r;

	for (j = 0; j < s->nitems; j++) {
		__atomic_store_n(&s->started, sys_now_ns(), __ATOMIC_RELAXED);
		if (p->attr.task_timeout_ns > 0)
			kick(p);	/* the supervisor learns the deadline */
		r = s->fn(arg + j * s->in_size, s->in_size,
			  res + j * s->out_size, s->out_size);
		if (r > (ssize_t)s->out_size)
			r = -EMSGSIZE;
		else if (r < -4095)
			r = -EPROTO;
		lens[j] = r;
		/* release: lens[j] and the result bytes are seen with done. */
		__atomic_store_n(&s->done, j + 1, __ATOMIC_RELEASE);
		++*count;
	}
	/* release: pairs with the parent's acquire load of state. */
	return __atomic_compare_exchange_n(&s->state, &expect, SLOT_DONE, 0,
					   __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

static int worker_main(void *arg)
{
	struct ctx *c = arg;
	conc_pool *p = c->p;
	uint32_t me = SLOT_RUNNING + c->id, idx, expect;
	unsigned count = 0, max = p->attr.max_tasks_per_worker;
	struct slot *s;
	ssize_t r;
	int ir;

	if (p->attr.initializer && (ir = p->attr.initializer(p->attr.initarg)))
		return ir;
	while (!max || count < max) {
		r = conc_queue_get_begin(p->q, &idx, sizeof(idx), CONC_FOREVER);
		if (r == -EPIPE)
			return 0;
		if (r != (ssize_t)sizeof(idx) || idx >= p->nslots) {
			if (r >= 0)
				conc_queue_get_commit(p->q);
			return 0x7e;
		}
		s = __conc_pool_slot(p, idx);
		expect = SLOT_QUEUED;
		/* acquire: the parent's slot contents, stored before QUEUED. */
		if (!__atomic_compare_exchange_n(&s->state, &expect, me, 0,
						 __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED)) {
			conc_queue_get_commit(p->q);	/* a stale copy */
			continue;
		}
		conc_queue_get_commit(p->q);
		if (!run(p, s, me, &count))
			return 0;	/* abandoned: about to be killed */
		kick(p);
	}
	return 0;
}

int __conc_pool_spawn(conc_pool *p, uint32_t i)
{
	conc_proc_attr a = { .name = "conc-pool", .daemon = true };
	struct ctx c = { p, 0 };
	int r;

	c.id = p->next_id++ & 0x0fffffffu;
	/* The child reads c in its copy of our stack: no lifetime issue. */
	r = conc_proc_start(&p->w[i].proc, worker_main, &c, &a);
	if (r < 0) {
		p->w[i].proc = NULL;
		return r;
	}
	p->w[i].id = c.id;
	p->w[i].abandoned = -1;
	return 0;
}
