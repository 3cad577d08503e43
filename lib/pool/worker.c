/*
 * A worker: a conc_proc_start child (daemon: it dies with the parent) that
 * takes slot indices from the queue and runs their chunks, until the queue
 * is closed or it has run max_tasks_per_worker items.
 *
 * Tasks are user code and may be buggy: a task writes its result into a
 * private buffer that ends at a guard page, so one that overruns it dies
 * there (and fails alone) instead of writing over the next slot; the
 * worker copies what it returned into the slot. The chunk's parameters are
 * read from the slot once, checked, and kept: a task that scribbles on its
 * slot cannot make the worker run off it, and the lengths it reports are
 * written again, from the worker's own copy, before the slot is DONE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include "pool_impl.h"

struct ctx {
	conc_pool *p;
	uint32_t id;
};

/* A chunk as the parent queued it. */
struct chunk {
	conc_task_fn fn;
	uint32_t n;
	size_t in_size, out_size;
	int64_t lens[CHUNK_MAX];
};

/* This worker's pid: a fork child of a task that returns from it finds
 * another in its conc_self. */
static pid_t worker_pid;

/* The worker's copy of the pool's eventfd, and what it is (fstat), taken
 * before any code of the program runs in the worker. */
static int worker_efd = -1;
static dev_t efd_dev;
static ino_t efd_ino;

/* Far above the numbers a task gets back from open() (the lowest free)
 * after closing every fd, when the limit on fds allows. */
#define EFD_HIGH 512

static void own_efd(conc_pool *p)
{
	struct stat st;
	int fd = sys_fcntl(p->efd, 1030 /* F_DUPFD_CLOEXEC */, EFD_HIGH);

	if (fd >= 0)
		sys_close(p->efd);
	worker_efd = fd >= 0 ? fd : p->efd;
	if (sys_fstat(worker_efd, &st) == 0) {
		efd_dev = st.st_dev;
		efd_ino = st.st_ino;
	}
}

/* Tell the supervisor a task ended (or started, for its deadline). false
 * when the eventfd is gone: a task closed it, or closed it and opened
 * another file that took its number (the write would go there and the
 * supervisor never learn). The worker must then exit, so that its pidfd
 * tells instead. */
static bool kick(void)
{
	uint64_t one = 1;
	struct stat st;
	ssize_t r;

	if (sys_fstat(worker_efd, &st) < 0 || st.st_dev != efd_dev ||
	    st.st_ino != efd_ino)
		return false;
	r = sys_write(worker_efd, &one, sizeof(one));
	return r == (ssize_t)sizeof(one) || r == -EAGAIN || r == -EINTR;
}

#ifdef __GLIBC__
/* exit() called by a task: leave at once, as the worker would, before the
 * parent's atexit handlers (registered earlier, so run later) and its
 * destructors; the task's own stdio output is written first. */
static void leave(int status, void *arg)
{
	(void)arg;
	fflush(NULL);
	sys_exit_group(status & 0xff);
}
#endif

/* The end of a private buffer of max_result bytes followed by a guard
 * page, or NULL. The worker's for its life: never unmapped. */
static char *result_buffer(size_t max_result)
{
	size_t page = getauxval(AT_PAGESZ) ? getauxval(AT_PAGESZ) : 4096;
	size_t len = (max_result + 16 + page - 1) / page * page;
	char *m = sys_mmap(NULL, len + page, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (sys_mmap_failed(m))
		return NULL;
	if (sys_mprotect(m + len, page, PROT_NONE) < 0)
		return NULL;
	return m + len;
}

/* Read the chunk of slot s once; false if it does not fit the pool (the
 * parent never queues one that does not: someone wrote over the slot). */
static bool take(const conc_pool *p, const struct slot *s, struct chunk *c)
{
	c->fn = s->fn;
	c->n = __atomic_load_n(&s->nitems, __ATOMIC_RELAXED);
	c->in_size = __atomic_load_n(&s->in_size, __ATOMIC_RELAXED);
	c->out_size = __atomic_load_n(&s->out_size, __ATOMIC_RELAXED);
	return c->fn && c->n <= CHUNK_MAX &&
	       c->in_size <= p->attr.max_arg && c->out_size <= p->attr.max_result &&
	       (!c->in_size || c->n <= p->attr.max_arg / c->in_size) &&
	       (!c->out_size || c->n <= p->attr.max_result / c->out_size);
}

/* Item j: run it with its result in the private buffer, copy it into the
 * slot. Its length, or its status. */
static int64_t item(conc_pool *p, struct slot *s, const struct chunk *c,
		    uint32_t j, char *end)
{
	/* Aligned for any type; the result ends at most 15 bytes before the
	 * guard page. */
	char *res = (char *)((uintptr_t)(end - c->out_size) & ~(uintptr_t)15);
	ssize_t r;

	r = c->fn(__conc_pool_arg(s) + j * c->in_size, c->in_size, res,
		  c->out_size);
	/* A fork child of the task came back here: it is no worker. */
	if (__conc_self()->pid != worker_pid)
		sys_exit_group(0);
	if (r > (ssize_t)c->out_size)
		return -EMSGSIZE;
	if (r < -4095)
		return -EPROTO;
	if (r > 0)
		memcpy(__conc_pool_res(p, s) + j * c->out_size, res, (size_t)r);
	return r;
}

/* Run the chunk of slot s; false when the parent abandoned it (timeout). */
static bool run(conc_pool *p, struct slot *s, uint32_t me, unsigned *count,
		char *end)
{
	int64_t *lens = __conc_pool_lens(s);
	struct chunk c;
	uint32_t j, expect = me;

	if (!take(p, s, &c))
		c.n = 0;	/* done 0: every item fails (-EPROTO) */
	for (j = 0; j < c.n; j++) {
		__atomic_store_n(&s->started, sys_now_ns(), __ATOMIC_RELAXED);
		if (p->attr.task_timeout_ns > 0)
			kick();	/* the supervisor learns the deadline */
		c.lens[j] = item(p, s, &c, j, end);
		__atomic_store_n(&lens[j], c.lens[j], __ATOMIC_RELAXED);
		/* release: lens[j] and the result bytes are seen with done
		 * (should the worker die before the chunk ends). */
		__atomic_store_n(&s->done, j + 1, __ATOMIC_RELEASE);
		++*count;
	}
	/* Once more from our copy: a later item may have written over the
	 * earlier lengths. */
	for (j = 0; j < c.n; j++)
		__atomic_store_n(&lens[j], c.lens[j], __ATOMIC_RELAXED);
	__atomic_store_n(&s->done, c.n, __ATOMIC_RELAXED);
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
	char *end;
	ssize_t r;
	int ir;

	worker_pid = __conc_self()->pid;
	own_efd(p);
#ifdef __GLIBC__
	on_exit(leave, NULL);
#endif
	if (p->attr.initializer && (ir = p->attr.initializer(p->attr.initarg)))
		return ir;
	if (__conc_self()->pid != worker_pid)
		sys_exit_group(0);	/* a fork child of the initializer */
	/* An initializer that changed credentials (a setuid() to drop
	 * privileges) cleared the death signal: set it again, and look
	 * whether the parent left meanwhile. */
	if (sys_prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
	    sys_getppid() != p->pid)
		return 0;
	if (!(end = result_buffer(p->attr.max_result)))
		return 0x7d;
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
		if (!run(p, s, me, &count, end))
			return 0;	/* abandoned: about to be killed */
		if (!kick())
			return 0;	/* its slot is DONE: collected at death */
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
